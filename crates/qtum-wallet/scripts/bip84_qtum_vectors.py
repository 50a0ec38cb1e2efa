# Independent (pure Python, standard library only) BIP39/BIP32/BIP84 computation of the
# coin-type-88 vectors asserted in src/keys.rs. Run: python3 scripts/bip84_qtum_vectors.py
import hashlib, hmac, unicodedata
P=2**256-2**32-977; N=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G=(0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
def add(a,b):
    if a is None: return b
    if b is None: return a
    if a[0]==b[0] and (a[1]+b[1])%P==0: return None
    if a==b: l=3*a[0]*a[0]*pow(2*a[1],-1,P)%P
    else: l=(b[1]-a[1])*pow(b[0]-a[0],-1,P)%P
    x=(l*l-a[0]-b[0])%P; return (x,(l*(a[0]-x)-a[1])%P)
def mul(k,p=G):
    r=None
    while k:
        if k&1: r=add(r,p)
        p=add(p,p); k>>=1
    return r
def ser(p): return bytes([2+(p[1]&1)])+p[0].to_bytes(32,'big')
def h160(b): return hashlib.new('ripemd160',hashlib.sha256(b).digest()).digest()
def ckd_priv(k,c,i):
    if i>=2**31: d=b'\0'+k.to_bytes(32,'big')+i.to_bytes(4,'big')
    else: d=ser(mul(k))+i.to_bytes(4,'big')
    I=hmac.new(c,d,hashlib.sha512).digest()
    return (int.from_bytes(I[:32],'big')+k)%N, I[32:]
mn="abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
seed=hashlib.pbkdf2_hmac('sha512',unicodedata.normalize('NFKD',mn).encode(),b'mnemonic',2048)
I=hmac.new(b'Bitcoin seed',seed,hashlib.sha512).digest()
mk,mc=int.from_bytes(I[:32],'big'),I[32:]
print("fingerprint", h160(ser(mul(mk)))[:4].hex())
H=2**31
def path(ps):
    k,c=mk,mc; depth=0; parent=None
    for i in ps:
        parent=h160(ser(mul(k)))[:4]; k,c=ckd_priv(k,c,i); depth+=1
    return k,c,depth,parent,ps[-1] if ps else 0
# xpub
def b58(b):
    a="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    b=b+hashlib.sha256(hashlib.sha256(b).digest()).digest()[:4]
    n=int.from_bytes(b,'big'); s=''
    while n: n,r=divmod(n,58); s=a[r]+s
    return '1'*(len(b)-len(b.lstrip(b'\0')))+s
k,c,d,par,idx=path([84+H,88+H,0+H])
print("xpub", b58(bytes.fromhex('0488b21e')+bytes([d])+par+idx.to_bytes(4,'big')+c+ser(mul(k))))
# bech32
CH="qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(v):
    g=[0x3b6a57b2,0x26508e6d,0x1ea119fa,0x3d4233dd,0x2a1462b3]; c=1
    for x in v:
        b=c>>25; c=(c&0x1ffffff)<<5^x
        for i in range(5): c^=g[i] if (b>>i)&1 else 0
    return c
def hx(h): return [ord(x)>>5 for x in h]+[0]+[ord(x)&31 for x in h]
def conv(data):
    acc=0;bits=0;r=[]
    for v in data:
        acc=(acc<<8)|v; bits+=8
        while bits>=5: bits-=5; r.append((acc>>bits)&31)
    if bits: r.append((acc<<(5-bits))&31)
    return r
def addr(hrp,prog):
    d=[0]+conv(prog); pm=polymod(hx(hrp)+d+[0]*6)^1
    return hrp+'1'+''.join(CH[x] for x in d+[(pm>>5*(5-i))&31 for i in range(6)])
def a(chain,i,hrp):
    k,_,_,_,_=path([84+H,88+H,0+H,chain,i]); return addr(hrp,h160(ser(mul(k))))
print("recv0 mainnet", a(0,0,'qc'))
print("recv0 regtest", a(0,0,'qcrt'))
print("recv1 testnet", a(0,1,'tq'))
print("change0 regtest", a(1,0,'qcrt'))
print("bip84 check coin0", addr('bc',h160(ser(mul(path([84+H,0+H,0+H,0,0])[0])))))
k,_,_,_,_=path([535+H]); print("ldk", k.to_bytes(32,'big').hex())
