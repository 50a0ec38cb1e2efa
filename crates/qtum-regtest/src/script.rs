//! Script helpers with qtumd's spellings: asm text, output types, regtest addresses and
//! output descriptors (with their BIP 380 checksum), as `decodescript`/`getblock` print them.

use bitcoin::hashes::Hash;
use bitcoin::script::{Instruction, Script, ScriptBuf};
use bitcoin::{WPubkeyHash, WScriptHash};
use qtum_primitives::{Network, QtumAddress};
use serde_json::{json, Value};

/// Output script classes, named as Bitcoin Core's `Solver` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptType {
    /// Anything unrecognised.
    Nonstandard,
    /// `<pubkey> OP_CHECKSIG`.
    PubKey,
    /// P2PKH.
    PubKeyHash,
    /// P2SH.
    ScriptHash,
    /// Bare `m <keys> n OP_CHECKMULTISIG`.
    Multisig {
        /// Required signatures.
        required: u8,
        /// Keys.
        keys: u8,
    },
    /// `OP_RETURN <pushes>`.
    NullData,
    /// P2WPKH.
    WitnessV0KeyHash,
    /// P2WSH.
    WitnessV0ScriptHash,
    /// P2TR.
    WitnessV1Taproot,
    /// Any other witness program.
    WitnessUnknown,
}

impl ScriptType {
    /// The `type` string of qtumd's JSON.
    pub fn name(self) -> &'static str {
        match self {
            ScriptType::Nonstandard => "nonstandard",
            ScriptType::PubKey => "pubkey",
            ScriptType::PubKeyHash => "pubkeyhash",
            ScriptType::ScriptHash => "scripthash",
            ScriptType::Multisig { .. } => "multisig",
            ScriptType::NullData => "nulldata",
            ScriptType::WitnessV0KeyHash => "witness_v0_keyhash",
            ScriptType::WitnessV0ScriptHash => "witness_v0_scripthash",
            ScriptType::WitnessV1Taproot => "witness_v1_taproot",
            ScriptType::WitnessUnknown => "witness_unknown",
        }
    }
}

fn is_pubkey_bytes(b: &[u8]) -> bool {
    match b.len() {
        33 => b[0] == 2 || b[0] == 3,
        65 => b[0] == 4 || b[0] == 6 || b[0] == 7,
        _ => false,
    }
}

/// The witness version and program of a witness output script.
pub fn witness_program(s: &Script) -> Option<(u8, &[u8])> {
    let b = s.as_bytes();
    if b.len() < 4 || b.len() > 42 {
        return None;
    }
    let version = match b[0] {
        0 => 0,
        0x51..=0x60 => b[0] - 0x50,
        _ => return None,
    };
    if b[1] as usize + 2 != b.len() {
        return None;
    }
    Some((version, &b[2..]))
}

/// Small-integer opcode value (OP_1..OP_16) or None.
fn small_int(op: u8) -> Option<u8> {
    (0x51..=0x60).contains(&op).then(|| op - 0x50)
}

/// Classify an output script the way Bitcoin Core's `Solver` does.
pub fn classify(s: &Script) -> ScriptType {
    let b = s.as_bytes();
    if s.is_p2sh() {
        return ScriptType::ScriptHash;
    }
    if let Some((v, prog)) = witness_program(s) {
        return match (v, prog.len()) {
            (0, 20) => ScriptType::WitnessV0KeyHash,
            (0, 32) => ScriptType::WitnessV0ScriptHash,
            (0, _) => ScriptType::Nonstandard,
            (1, 32) => ScriptType::WitnessV1Taproot,
            _ => ScriptType::WitnessUnknown,
        };
    }
    if !b.is_empty() && b[0] == 0x6a && is_push_only(&b[1..]) {
        return ScriptType::NullData;
    }
    if (b.len() == 35 && b[0] == 33 || b.len() == 67 && b[0] == 65)
        && b[b.len() - 1] == 0xac
        && is_pubkey_bytes(&b[1..b.len() - 1])
    {
        return ScriptType::PubKey;
    }
    if s.is_p2pkh() {
        return ScriptType::PubKeyHash;
    }
    if let Some(t) = classify_multisig(s) {
        return t;
    }
    ScriptType::Nonstandard
}

fn classify_multisig(s: &Script) -> Option<ScriptType> {
    let b = s.as_bytes();
    if b.len() < 3 || *b.last()? != 0xae {
        return None;
    }
    let required = small_int(b[0])?;
    let mut keys = 0u8;
    let mut ins = s.instructions();
    ins.next();
    let mut last_op = None;
    for i in ins {
        match i.ok()? {
            Instruction::PushBytes(p) => {
                if last_op.is_some() || !is_pubkey_bytes(p.as_bytes()) {
                    return None;
                }
                keys = keys.checked_add(1)?;
            }
            Instruction::Op(op) => {
                if last_op.is_some() {
                    if op.to_u8() != 0xae {
                        return None;
                    }
                } else {
                    last_op = Some(small_int(op.to_u8())?);
                }
            }
        }
    }
    let n = last_op?;
    (n == keys && required >= 1 && required <= n).then_some(ScriptType::Multisig { required, keys })
}

/// True when the bytes are a sequence of pushes (OP_1..OP_16 and OP_1NEGATE count as pushes).
pub fn is_push_only(b: &[u8]) -> bool {
    for i in Script::from_bytes(b).instructions() {
        match i {
            Ok(Instruction::PushBytes(_)) => {}
            Ok(Instruction::Op(op)) => {
                let v = op.to_u8();
                if v > 0x60 {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// The regtest address of an output script, if it has one.
pub fn address_of(s: &Script) -> Option<String> {
    match classify(s) {
        ScriptType::PubKeyHash
        | ScriptType::ScriptHash
        | ScriptType::WitnessV0KeyHash
        | ScriptType::WitnessV0ScriptHash
        | ScriptType::WitnessV1Taproot
        | ScriptType::WitnessUnknown => QtumAddress::from_script(s, Network::Regtest)
            .ok()
            .map(|a| a.to_string()),
        _ => None,
    }
}

/// Parse a regtest address into its output script; `None` for anything else (other
/// networks' addresses included).
pub fn parse_address(s: &str) -> Option<ScriptBuf> {
    QtumAddress::from_str_for(s, Network::Regtest)
        .ok()
        .map(|a| a.script_pubkey())
}

/// A P2WPKH script for a key hash (helper for the wallet and tests).
pub fn p2wpkh(hash: &WPubkeyHash) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(hash)
}

/// A P2WSH script for a witness script.
pub fn p2wsh(witness_script: &Script) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&WScriptHash::hash(witness_script.as_bytes()))
}

const INPUT_CHARSET: &str =
    "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
const CHECKSUM_CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn poly_mod(c: u64, val: u64) -> u64 {
    let c0 = c >> 35;
    let mut c = ((c & 0x7_ffff_ffff) << 5) ^ val;
    const GEN: [u64; 5] = [
        0xf5dee51989,
        0xa9fdca3312,
        0x1bab10e32d,
        0x3706b1677a,
        0x644d626ffd,
    ];
    for (i, g) in GEN.iter().enumerate() {
        if (c0 >> i) & 1 == 1 {
            c ^= g;
        }
    }
    c
}

/// The BIP 380 descriptor checksum (8 characters), `None` for characters outside the set.
pub fn descriptor_checksum(desc: &str) -> Option<String> {
    let mut c = 1u64;
    let mut cls = 0u64;
    let mut count = 0;
    for ch in desc.chars() {
        let pos = INPUT_CHARSET.find(ch)? as u64;
        c = poly_mod(c, pos & 31);
        cls = cls * 3 + (pos >> 5);
        count += 1;
        if count == 3 {
            c = poly_mod(c, cls);
            cls = 0;
            count = 0;
        }
    }
    if count > 0 {
        c = poly_mod(c, cls);
    }
    for _ in 0..8 {
        c = poly_mod(c, 0);
    }
    c ^= 1;
    Some(
        (0..8)
            .map(|j| CHECKSUM_CHARSET[((c >> (5 * (7 - j))) & 31) as usize] as char)
            .collect(),
    )
}

/// The inferred descriptor of an output script, with checksum, as qtumd prints it.
pub fn descriptor(s: &Script) -> String {
    let body = match classify(s) {
        ScriptType::PubKey => {
            let b = s.as_bytes();
            format!("pk({})", hex(&b[1..b.len() - 1]))
        }
        ScriptType::Multisig { required, .. } => {
            let keys: Vec<String> = s
                .instructions()
                .filter_map(|i| match i {
                    Ok(Instruction::PushBytes(p)) => Some(hex(p.as_bytes())),
                    _ => None,
                })
                .collect();
            format!("multi({},{})", required, keys.join(","))
        }
        _ => match address_of(s) {
            Some(a) => format!("addr({a})"),
            None => format!("raw({})", hex(s.as_bytes())),
        },
    };
    match descriptor_checksum(&body) {
        Some(c) => format!("{body}#{c}"),
        None => body,
    }
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Decode lower- or upper-case hex; `None` on odd length or a non-hex character.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let b = s.as_bytes();
    let val = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    (0..b.len() / 2)
        .map(|i| Some(val(b[2 * i])? << 4 | val(b[2 * i + 1])?))
        .collect()
}

fn op_name(op: u8) -> &'static str {
    const NAMES: [&str; 90] = [
        "OP_NOP",
        "OP_VER",
        "OP_IF",
        "OP_NOTIF",
        "OP_VERIF",
        "OP_VERNOTIF",
        "OP_ELSE",
        "OP_ENDIF",
        "OP_VERIFY",
        "OP_RETURN",
        "OP_TOALTSTACK",
        "OP_FROMALTSTACK",
        "OP_2DROP",
        "OP_2DUP",
        "OP_3DUP",
        "OP_2OVER",
        "OP_2ROT",
        "OP_2SWAP",
        "OP_IFDUP",
        "OP_DEPTH",
        "OP_DROP",
        "OP_DUP",
        "OP_NIP",
        "OP_OVER",
        "OP_PICK",
        "OP_ROLL",
        "OP_ROT",
        "OP_SWAP",
        "OP_TUCK",
        "OP_CAT",
        "OP_SUBSTR",
        "OP_LEFT",
        "OP_RIGHT",
        "OP_SIZE",
        "OP_INVERT",
        "OP_AND",
        "OP_OR",
        "OP_XOR",
        "OP_EQUAL",
        "OP_EQUALVERIFY",
        "OP_RESERVED1",
        "OP_RESERVED2",
        "OP_1ADD",
        "OP_1SUB",
        "OP_2MUL",
        "OP_2DIV",
        "OP_NEGATE",
        "OP_ABS",
        "OP_NOT",
        "OP_0NOTEQUAL",
        "OP_ADD",
        "OP_SUB",
        "OP_MUL",
        "OP_DIV",
        "OP_MOD",
        "OP_LSHIFT",
        "OP_RSHIFT",
        "OP_BOOLAND",
        "OP_BOOLOR",
        "OP_NUMEQUAL",
        "OP_NUMEQUALVERIFY",
        "OP_NUMNOTEQUAL",
        "OP_LESSTHAN",
        "OP_GREATERTHAN",
        "OP_LESSTHANOREQUAL",
        "OP_GREATERTHANOREQUAL",
        "OP_MIN",
        "OP_MAX",
        "OP_WITHIN",
        "OP_RIPEMD160",
        "OP_SHA1",
        "OP_SHA256",
        "OP_HASH160",
        "OP_HASH256",
        "OP_CODESEPARATOR",
        "OP_CHECKSIG",
        "OP_CHECKSIGVERIFY",
        "OP_CHECKMULTISIG",
        "OP_CHECKMULTISIGVERIFY",
        "OP_NOP1",
        "OP_CHECKLOCKTIMEVERIFY",
        "OP_CHECKSEQUENCEVERIFY",
        "OP_NOP4",
        "OP_NOP5",
        "OP_NOP6",
        "OP_NOP7",
        "OP_NOP8",
        "OP_NOP9",
        "OP_NOP10",
        "OP_CHECKSIGADD",
    ];
    match op {
        0x4f => "-1",
        0x50 => "OP_RESERVED",
        0x51..=0x60 => {
            const N: [&str; 16] = [
                "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
                "16",
            ];
            N[(op - 0x51) as usize]
        }
        0x61..=0xba => NAMES[(op - 0x61) as usize],
        0xc1 => "OP_CREATE",
        0xc2 => "OP_CALL",
        0xc3 => "OP_SPEND",
        0xc4 => "OP_SENDER",
        _ => "OP_UNKNOWN",
    }
}

/// Bitcoin Core's `IsValidSignatureEncoding` (strict DER plus a trailing hash type byte).
pub fn is_valid_signature_encoding(sig: &[u8]) -> bool {
    let n = sig.len();
    if !(9..=73).contains(&n) || sig[0] != 0x30 || sig[1] as usize != n - 3 {
        return false;
    }
    let len_r = sig[3] as usize;
    if 5 + len_r >= n {
        return false;
    }
    let len_s = sig[5 + len_r] as usize;
    if len_r + len_s + 7 != n {
        return false;
    }
    if sig[2] != 0x02 || len_r == 0 || sig[4] & 0x80 != 0 {
        return false;
    }
    if len_r > 1 && sig[4] == 0 && sig[5] & 0x80 == 0 {
        return false;
    }
    if sig[len_r + 4] != 0x02 || len_s == 0 || sig[len_r + 6] & 0x80 != 0 {
        return false;
    }
    if len_s > 1 && sig[len_r + 6] == 0 && sig[len_r + 7] & 0x80 == 0 {
        return false;
    }
    true
}

fn sighash_suffix(t: u8) -> Option<&'static str> {
    match t {
        0x01 => Some("[ALL]"),
        0x02 => Some("[NONE]"),
        0x03 => Some("[SINGLE]"),
        0x81 => Some("[ALL|ANYONECANPAY]"),
        0x82 => Some("[NONE|ANYONECANPAY]"),
        0x83 => Some("[SINGLE|ANYONECANPAY]"),
        _ => None,
    }
}

fn script_num(b: &[u8]) -> i64 {
    if b.is_empty() {
        return 0;
    }
    let mut v: i64 = 0;
    for (i, x) in b.iter().enumerate() {
        v |= (*x as i64) << (8 * i);
    }
    let last = b[b.len() - 1];
    if last & 0x80 != 0 {
        -(v & !(0x80i64 << (8 * (b.len() - 1))))
    } else {
        v
    }
}

/// Bitcoin Core's `ScriptToAsmStr`; `sighash_decode` is set for input scripts.
pub fn asm(s: &Script, sighash_decode: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    let unspendable = s.as_bytes().first() == Some(&0x6a);
    for i in s.instructions() {
        match i {
            Ok(Instruction::PushBytes(p)) => {
                let b = p.as_bytes();
                if b.len() <= 4 {
                    out.push(script_num(b).to_string());
                } else if sighash_decode && !unspendable && is_valid_signature_encoding(b) {
                    let t = b[b.len() - 1];
                    match sighash_suffix(t) {
                        Some(sfx) => out.push(format!("{}{}", hex(&b[..b.len() - 1]), sfx)),
                        None => out.push(hex(b)),
                    }
                } else {
                    out.push(hex(b));
                }
            }
            Ok(Instruction::Op(op)) => out.push(op_name(op.to_u8()).to_string()),
            Err(_) => {
                out.push("[error]".to_string());
                break;
            }
        }
    }
    out.join(" ")
}

/// The `scriptPubKey` object of qtumd's JSON.
pub fn script_pubkey_json(s: &Script) -> Value {
    let mut v = json!({
        "asm": asm(s, false),
        "desc": descriptor(s),
        "hex": hex(s.as_bytes()),
    });
    if let Some(a) = address_of(s) {
        v["address"] = Value::String(a);
    }
    v["type"] = Value::String(classify(s).name().to_string());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_matches_qtumd() {
        let s = ScriptBuf::from_bytes(
            unhex("001488cfa5f69d3158078db7549e093da4b672fa6b81").unwrap_or_default(),
        );
        assert_eq!(
            descriptor(&s),
            "addr(qcrt1q3r86ta5ax9vq0rdh2j0qj0dykee056upj799v2)#nss44pmu"
        );
        let p2pkh = ScriptBuf::from_bytes(
            unhex("76a9148da1f038cfa4a59edcef7088f693299c47a4337288ac").unwrap_or_default(),
        );
        assert_eq!(
            address_of(&p2pkh).as_deref(),
            Some("qWUGRkhzgGmiFVhZDH9LfMWQSfiE7QiPUb")
        );
        assert_eq!(
            asm(&p2pkh, false),
            "OP_DUP OP_HASH160 8da1f038cfa4a59edcef7088f693299c47a43372 OP_EQUALVERIFY OP_CHECKSIG"
        );
        assert_eq!(
            parse_address("qWUGRkhzgGmiFVhZDH9LfMWQSfiE7QiPUb"),
            Some(p2pkh)
        );
        assert_eq!(
            parse_address("qcrt1q3r86ta5ax9vq0rdh2j0qj0dykee056upj799v2"),
            Some(s)
        );
    }
}
