//! A second look at scripts that already passed libbitcoinconsensus, for the rules of Bitcoin
//! Core's `STANDARD_SCRIPT_VERIFY_FLAGS` that libbitcoinconsensus cannot be asked to enforce:
//! MINIMALDATA, STRICTENC, LOW_S, NULLFAIL, MINIMALIF, CLEANSTACK, WITNESS_PUBKEYTYPE,
//! CONST_SCRIPTCODE, DISCOURAGE_UPGRADABLE_NOPS / _WITNESS_PROGRAM / _TAPROOT_VERSION /
//! _PUBKEYTYPE and DISCOURAGE_OP_SUCCESS.
//!
//! The evaluator walks the same path as Core's `VerifyScript` (scriptSig, scriptPubKey, P2SH
//! redeem script, witness program, tapscript) and stops at the first error in Core's order.
//! It is written for scripts the consensus interpreter accepted: when it meets anything it
//! does not model, or reaches a result that contradicts that verdict (a consensus-level error),
//! it returns no verdict rather than guess. Only policy-level errors refuse a transaction.
//! In tapscript a non-empty signature is valid (consensus already verified it), so no Schnorr
//! sighash is computed; ECDSA signatures are checked with the BIP 143 or legacy sighash.

use bitcoin::hashes::{hash160, ripemd160, sha1, sha256, sha256d, Hash};
use bitcoin::secp256k1::{ecdsa, Message, PublicKey, Secp256k1, VerifyOnly};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, Script, Transaction};

use crate::validation::Coin;

/// Why the evaluator stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule modelled here holds.
    Ok,
    /// A policy-only rule is broken; Core's error text.
    Policy(&'static str),
    /// A consensus rule is broken; Core's error text. (After libbitcoinconsensus accepted the
    /// input this means the evaluator disagrees with it, and the caller must ignore it.)
    Consensus(&'static str),
    /// The evaluator does not model something in this spend (why).
    Unsupported(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    Policy(&'static str),
    Consensus(&'static str),
    Unsupported(&'static str),
}

type R<T> = Result<T, Fail>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SigVersion {
    Base,
    WitnessV0,
    Tapscript,
}

/// Core's script error texts used here.
pub mod err {
    /// SCRIPT_ERR_MINIMALDATA.
    pub const MINIMALDATA: &str = "Data push larger than necessary";
    /// SCRIPT_ERR_SIG_DER.
    pub const SIG_DER: &str = "Non-canonical DER signature";
    /// SCRIPT_ERR_SIG_HIGH_S.
    pub const SIG_HIGH_S: &str = "Non-canonical signature: S value is unnecessarily high";
    /// SCRIPT_ERR_SIG_HASHTYPE.
    pub const SIG_HASHTYPE: &str = "Signature hash type missing or not understood";
    /// SCRIPT_ERR_PUBKEYTYPE.
    pub const PUBKEYTYPE: &str = "Public key is neither compressed or uncompressed";
    /// SCRIPT_ERR_WITNESS_PUBKEYTYPE.
    pub const WITNESS_PUBKEYTYPE: &str = "Using non-compressed keys in segwit";
    /// SCRIPT_ERR_MINIMALIF.
    pub const MINIMALIF: &str = "OP_IF/NOTIF argument must be minimal";
    /// SCRIPT_ERR_SIG_NULLFAIL.
    pub const NULLFAIL: &str = "Signature must be zero for failed CHECK(MULTI)SIG operation";
    /// SCRIPT_ERR_SIG_NULLDUMMY.
    pub const NULLDUMMY: &str = "Dummy CHECKMULTISIG argument must be zero";
    /// SCRIPT_ERR_DISCOURAGE_UPGRADABLE_NOPS.
    pub const NOPS: &str = "NOPx reserved for soft-fork upgrades";
    /// SCRIPT_ERR_DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM.
    pub const WITNESS_PROGRAM: &str = "Witness version reserved for soft-fork upgrades";
    /// SCRIPT_ERR_DISCOURAGE_UPGRADABLE_TAPROOT_VERSION.
    pub const TAPROOT_VERSION: &str = "Taproot version reserved for soft-fork upgrades";
    /// SCRIPT_ERR_DISCOURAGE_OP_SUCCESS.
    pub const OP_SUCCESS: &str = "OP_SUCCESSx reserved for soft-fork upgrades";
    /// SCRIPT_ERR_DISCOURAGE_UPGRADABLE_PUBKEYTYPE.
    pub const UPGRADABLE_PUBKEYTYPE: &str = "Public key version reserved for soft-fork upgrades";
    /// SCRIPT_ERR_CLEANSTACK.
    pub const CLEANSTACK: &str = "Stack size must be exactly one after execution";
    /// SCRIPT_ERR_OP_CODESEPARATOR.
    pub const OP_CODESEPARATOR: &str = "Using OP_CODESEPARATOR in non-witness script";
    /// SCRIPT_ERR_SIG_FINDANDDELETE.
    pub const SIG_FINDANDDELETE: &str = "Signature is found in scriptCode";
    /// SCRIPT_ERR_UNKNOWN_ERROR (a script number that is not minimally encoded).
    pub const UNKNOWN: &str = "unknown error";
    /// SCRIPT_ERR_EVAL_FALSE.
    pub const EVAL_FALSE: &str =
        "Script evaluated without error but finished with a false/empty top stack element";
    /// SCRIPT_ERR_VERIFY.
    pub const VERIFY: &str = "Script failed an OP_VERIFY operation";
    /// SCRIPT_ERR_EQUALVERIFY.
    pub const EQUALVERIFY: &str = "Script failed an OP_EQUALVERIFY operation";
    /// SCRIPT_ERR_CHECKSIGVERIFY.
    pub const CHECKSIGVERIFY: &str = "Script failed an OP_CHECKSIGVERIFY operation";
    /// SCRIPT_ERR_CHECKMULTISIGVERIFY.
    pub const CHECKMULTISIGVERIFY: &str = "Script failed an OP_CHECKMULTISIGVERIFY operation";
    /// SCRIPT_ERR_NUMEQUALVERIFY.
    pub const NUMEQUALVERIFY: &str = "Script failed an OP_NUMEQUALVERIFY operation";
    /// SCRIPT_ERR_INVALID_STACK_OPERATION.
    pub const STACK: &str = "Operation not valid with the current stack size";
    /// SCRIPT_ERR_INVALID_ALTSTACK_OPERATION.
    pub const ALTSTACK: &str = "Operation not valid with the current altstack size";
    /// SCRIPT_ERR_UNBALANCED_CONDITIONAL.
    pub const UNBALANCED: &str = "Invalid OP_IF construction";
    /// SCRIPT_ERR_OP_RETURN.
    pub const OP_RETURN: &str = "OP_RETURN was encountered";
    /// SCRIPT_ERR_BAD_OPCODE.
    pub const BAD_OPCODE: &str = "Opcode missing or not understood";
    /// SCRIPT_ERR_DISABLED_OPCODE.
    pub const DISABLED: &str = "Attempted to use a disabled opcode";
    /// SCRIPT_ERR_PUSH_SIZE.
    pub const PUSH_SIZE: &str = "Push value size limit exceeded";
    /// SCRIPT_ERR_SIG_COUNT.
    pub const SIG_COUNT: &str = "Signature count negative or greater than pubkey count";
    /// SCRIPT_ERR_PUBKEY_COUNT.
    pub const PUBKEY_COUNT: &str = "Pubkey count negative or limit exceeded";
    /// SCRIPT_ERR_NEGATIVE_LOCKTIME.
    pub const NEGATIVE_LOCKTIME: &str = "Negative locktime";
    /// SCRIPT_ERR_WITNESS_PROGRAM_WRONG_LENGTH.
    pub const WRONG_LENGTH: &str = "Witness program has incorrect length";
    /// SCRIPT_ERR_WITNESS_PROGRAM_WITNESS_EMPTY.
    pub const WITNESS_EMPTY: &str = "Witness program was passed an empty witness";
    /// SCRIPT_ERR_WITNESS_PROGRAM_MISMATCH.
    pub const WITNESS_MISMATCH: &str = "Witness program hash mismatch";
    /// SCRIPT_ERR_TAPSCRIPT_MINIMALIF.
    pub const TAPSCRIPT_MINIMALIF: &str = "OP_IF/NOTIF argument must be minimal in tapscript";
    /// SCRIPT_ERR_TAPSCRIPT_CHECKMULTISIG.
    pub const TAPSCRIPT_CHECKMULTISIG: &str =
        "OP_CHECKMULTISIG(VERIFY) is not available in tapscript";
}

fn consensus<T>(e: &'static str) -> R<T> {
    Err(Fail::Consensus(e))
}

struct Ctx<'a, 'b> {
    cache: &'a mut SighashCache<&'b Transaction>,
    index: usize,
    amount: u64,
    /// Enforce the policy-only rules (Core's standard flags) or only consensus.
    policy: bool,
    secp: Secp256k1<VerifyOnly>,
}

impl Ctx<'_, '_> {
    fn policy_err(&self, e: &'static str) -> R<()> {
        if self.policy {
            Err(Fail::Policy(e))
        } else {
            Ok(())
        }
    }
}

/// Evaluate input `index` of `tx` (spending `coins[index]`) under Core's standard flags
/// (`policy = true`) or its consensus flags only.
pub fn check_input(
    tx: &Transaction,
    coins: &[Coin],
    index: usize,
    cache: &mut SighashCache<&Transaction>,
    policy: bool,
) -> Verdict {
    let (Some(input), Some(coin)) = (tx.input.get(index), coins.get(index)) else {
        return Verdict::Unsupported("no such input");
    };
    let mut ctx = Ctx {
        cache,
        index,
        amount: coin.output.value.to_sat(),
        policy,
        secp: Secp256k1::verification_only(),
    };
    match verify_script(
        input.script_sig.as_bytes(),
        coin.output.script_pubkey.as_bytes(),
        &input.witness.to_vec(),
        &mut ctx,
    ) {
        Ok(()) => Verdict::Ok,
        Err(Fail::Policy(e)) => Verdict::Policy(e),
        Err(Fail::Consensus(e)) => Verdict::Consensus(e),
        Err(Fail::Unsupported(e)) => Verdict::Unsupported(e),
    }
}

fn cast_to_bool(v: &[u8]) -> bool {
    for (i, b) in v.iter().enumerate() {
        if *b != 0 {
            return !(i == v.len() - 1 && *b == 0x80);
        }
    }
    false
}

fn is_minimal_number(v: &[u8]) -> bool {
    match v.last() {
        None => true,
        Some(last) => last & 0x7f != 0 || (v.len() > 1 && v[v.len() - 2] & 0x80 != 0),
    }
}

/// Core's `CScriptNum` decoding: at most `max_len` bytes, minimal when `minimal`.
fn script_num(v: &[u8], minimal: bool, max_len: usize) -> R<i64> {
    if v.len() > max_len {
        return consensus(err::UNKNOWN);
    }
    if minimal && !is_minimal_number(v) {
        return Err(Fail::Policy(err::UNKNOWN));
    }
    if v.is_empty() {
        return Ok(0);
    }
    let mut r: i64 = 0;
    for (i, b) in v.iter().enumerate() {
        r |= i64::from(*b) << (8 * i);
    }
    let last = v[v.len() - 1];
    if last & 0x80 != 0 {
        Ok(-(r & !(0x80i64 << (8 * (v.len() - 1)))))
    } else {
        Ok(r)
    }
}

fn encode_num(n: i64) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    let neg = n < 0;
    let mut abs = n.unsigned_abs();
    let mut out = Vec::new();
    while abs > 0 {
        out.push((abs & 0xff) as u8);
        abs >>= 8;
    }
    if out.last().is_some_and(|l| l & 0x80 != 0) {
        out.push(if neg { 0x80 } else { 0 });
    } else if neg {
        if let Some(l) = out.last_mut() {
            *l |= 0x80;
        }
    }
    out
}

/// Core's `CheckMinimalPush`.
fn is_minimal_push(data: &[u8], opcode: u8) -> bool {
    match data.len() {
        0 => opcode == 0x00,
        1 if (1..=16).contains(&data[0]) => false,
        1 if data[0] == 0x81 => false,
        n if n <= 75 => opcode as usize == n,
        n if n <= 255 => opcode == 0x4c,
        n if n <= 65535 => opcode == 0x4d,
        _ => true,
    }
}

/// One parsed opcode: (opcode, pushed data, offset after it).
fn next_op(script: &[u8], pc: usize) -> R<(u8, &[u8], usize)> {
    let op = script[pc];
    let mut at = pc + 1;
    let len = match op {
        0x01..=0x4b => op as usize,
        0x4c..=0x4e => {
            let w = match op {
                0x4c => 1,
                0x4d => 2,
                _ => 4,
            };
            let Some(b) = script.get(at..at + w) else {
                return consensus(err::BAD_OPCODE);
            };
            at += w;
            b.iter().rev().fold(0usize, |a, x| {
                a.saturating_mul(256).saturating_add(*x as usize)
            })
        }
        _ => 0,
    };
    let Some(data) = at.checked_add(len).and_then(|end| script.get(at..end)) else {
        return consensus(err::BAD_OPCODE);
    };
    Ok((op, data, at + len))
}

/// Tapscript's OP_SUCCESSx opcodes (BIP 342).
fn is_op_success(op: u8) -> bool {
    matches!(op, 80 | 98 | 126..=129 | 131..=134 | 137..=138 | 141..=142 | 149..=153 | 187..=254)
}

fn is_compressed_or_uncompressed(key: &[u8]) -> bool {
    match key.first() {
        Some(0x04) => key.len() == 65,
        Some(0x02) | Some(0x03) => key.len() == 33,
        _ => false,
    }
}

fn is_low_s(sig: &[u8]) -> bool {
    let der = &sig[..sig.len() - 1];
    match ecdsa::Signature::from_der_lax(der) {
        Ok(s) => {
            let mut n = s;
            n.normalize_s();
            n == s
        }
        Err(_) => false,
    }
}

/// Core's `CheckSignatureEncoding` (DERSIG is consensus, the rest is policy).
fn check_sig_encoding(sig: &[u8], ctx: &Ctx) -> R<()> {
    if sig.is_empty() {
        return Ok(());
    }
    if !crate::script::is_valid_signature_encoding(sig) {
        return consensus(err::SIG_DER);
    }
    if !is_low_s(sig) {
        ctx.policy_err(err::SIG_HIGH_S)?;
    }
    let t = sig[sig.len() - 1] & !0x80;
    if !(1..=3).contains(&t) {
        ctx.policy_err(err::SIG_HASHTYPE)?;
    }
    Ok(())
}

fn check_pubkey_encoding(key: &[u8], sv: SigVersion, ctx: &Ctx) -> R<()> {
    if !is_compressed_or_uncompressed(key) {
        ctx.policy_err(err::PUBKEYTYPE)?;
    }
    if sv == SigVersion::WitnessV0 && !(key.len() == 33 && matches!(key[0], 2 | 3)) {
        ctx.policy_err(err::WITNESS_PUBKEYTYPE)?;
    }
    Ok(())
}

/// Core's `CheckECDSASignature` with the sighash of this input.
fn check_ecdsa(
    sig: &[u8],
    key: &[u8],
    script_code: &[u8],
    sv: SigVersion,
    ctx: &mut Ctx,
) -> R<bool> {
    let Some((&hash_type, der)) = sig.split_last() else {
        return Ok(false);
    };
    let Ok(pk) = PublicKey::from_slice(key) else {
        return Ok(false);
    };
    let Ok(mut s) = ecdsa::Signature::from_der_lax(der) else {
        return Ok(false);
    };
    s.normalize_s();
    let code = Script::from_bytes(script_code);
    let digest: [u8; 32] = match sv {
        SigVersion::Base => ctx
            .cache
            .legacy_signature_hash(ctx.index, code, u32::from(hash_type))
            .map_err(|_| Fail::Unsupported("legacy sighash"))?
            .to_byte_array(),
        SigVersion::WitnessV0 => {
            let Ok(t) = EcdsaSighashType::from_standard(u32::from(hash_type)) else {
                return Err(Fail::Unsupported("undefined sighash type in segwit v0"));
            };
            ctx.cache
                .p2wsh_signature_hash(ctx.index, code, Amount::from_sat(ctx.amount), t)
                .map_err(|_| Fail::Unsupported("segwit v0 sighash"))?
                .to_byte_array()
        }
        SigVersion::Tapscript => return Err(Fail::Unsupported("ecdsa in tapscript")),
    };
    Ok(ctx
        .secp
        .verify_ecdsa(&Message::from_digest(digest), &s, &pk)
        .is_ok())
}

/// Core's `FindAndDelete(scriptCode, CScript() << sig) > 0`.
fn sig_in_script_code(script_code: &[u8], sig: &[u8]) -> bool {
    let mut pattern = Vec::with_capacity(sig.len() + 5);
    match sig.len() {
        n if n < 0x4c => pattern.push(n as u8),
        n if n <= 0xff => pattern.extend_from_slice(&[0x4c, n as u8]),
        n => {
            pattern.push(0x4d);
            pattern.extend_from_slice(&(n as u16).to_le_bytes());
        }
    }
    pattern.extend_from_slice(sig);
    let mut pc = 0;
    while pc < script_code.len() {
        if script_code[pc..].starts_with(&pattern) {
            return true;
        }
        match next_op(script_code, pc) {
            Ok((_, _, next)) => pc = next,
            Err(_) => return false,
        }
    }
    false
}

fn pop(stack: &mut Vec<Vec<u8>>) -> R<Vec<u8>> {
    stack.pop().ok_or(Fail::Consensus(err::STACK))
}

fn top(stack: &[Vec<u8>], depth: usize) -> R<&Vec<u8>> {
    if depth == 0 || depth > stack.len() {
        return consensus(err::STACK);
    }
    Ok(&stack[stack.len() - depth])
}

/// Core's `EvalScript` for the opcodes it defines; stops at the first error.
fn eval(script: &[u8], stack: &mut Vec<Vec<u8>>, sv: SigVersion, ctx: &mut Ctx) -> R<()> {
    let minimal = ctx.policy;
    let mut alt: Vec<Vec<u8>> = Vec::new();
    let mut exec: Vec<bool> = Vec::new();
    let mut code_start = 0usize;
    let mut pc = 0usize;
    while pc < script.len() {
        let executing = exec.iter().all(|e| *e);
        let (op, data, next) = next_op(script, pc)?;
        pc = next;
        if data.len() > 520 {
            return consensus(err::PUSH_SIZE);
        }
        if sv != SigVersion::Tapscript
            && matches!(
                op,
                0x7e..=0x81 | 0x83..=0x86 | 0x8d | 0x8e | 0x95..=0x99
            )
        {
            return consensus(err::DISABLED);
        }
        if op == 0xab && sv == SigVersion::Base {
            if ctx.policy {
                return Err(Fail::Policy(err::OP_CODESEPARATOR));
            }
            return Err(Fail::Unsupported("OP_CODESEPARATOR in legacy script"));
        }
        if op <= 0x4e {
            if executing {
                if minimal && !is_minimal_push(data, op) {
                    return Err(Fail::Policy(err::MINIMALDATA));
                }
                stack.push(data.to_vec());
            }
            continue;
        }
        if !executing && !(0x63..=0x68).contains(&op) {
            continue;
        }
        match op {
            0x4f => stack.push(vec![0x81]),
            0x51..=0x60 => stack.push(vec![op - 0x50]),
            0x61 => {}
            0x63 | 0x64 => {
                let mut value = false;
                if executing {
                    let v = top(stack, 1).map_err(|_| Fail::Consensus(err::UNBALANCED))?;
                    let non_minimal = v.len() > 1 || (v.len() == 1 && v[0] != 1);
                    if non_minimal {
                        match sv {
                            SigVersion::Tapscript => return consensus(err::TAPSCRIPT_MINIMALIF),
                            SigVersion::WitnessV0 => ctx.policy_err(err::MINIMALIF)?,
                            SigVersion::Base => {}
                        }
                    }
                    value = cast_to_bool(v) != (op == 0x64);
                    stack.pop();
                }
                exec.push(value);
            }
            0x67 => match exec.last_mut() {
                Some(e) => *e = !*e,
                None => return consensus(err::UNBALANCED),
            },
            0x68 => {
                if exec.pop().is_none() {
                    return consensus(err::UNBALANCED);
                }
            }
            0x65 | 0x66 => return consensus(err::BAD_OPCODE),
            0x69 => {
                if !cast_to_bool(&pop(stack)?) {
                    return consensus(err::VERIFY);
                }
            }
            0x6a => return consensus(err::OP_RETURN),
            0x6b => {
                let v = pop(stack)?;
                alt.push(v);
            }
            0x6c => {
                let v = alt.pop().ok_or(Fail::Consensus(err::ALTSTACK))?;
                stack.push(v);
            }
            0x6d => {
                pop(stack)?;
                pop(stack)?;
            }
            0x6e => {
                let a = top(stack, 2)?.clone();
                let b = top(stack, 1)?.clone();
                stack.push(a);
                stack.push(b);
            }
            0x6f => {
                let a = top(stack, 3)?.clone();
                let b = top(stack, 2)?.clone();
                let c = top(stack, 1)?.clone();
                stack.extend([a, b, c]);
            }
            0x70 => {
                let a = top(stack, 4)?.clone();
                let b = top(stack, 3)?.clone();
                stack.extend([a, b]);
            }
            0x71 => {
                top(stack, 6)?;
                let n = stack.len();
                let a = stack.remove(n - 6);
                let b = stack.remove(n - 6);
                stack.extend([a, b]);
            }
            0x72 => {
                top(stack, 4)?;
                let n = stack.len();
                stack.swap(n - 4, n - 2);
                stack.swap(n - 3, n - 1);
            }
            0x73 => {
                let v = top(stack, 1)?.clone();
                if cast_to_bool(&v) {
                    stack.push(v);
                }
            }
            0x74 => stack.push(encode_num(stack.len() as i64)),
            0x75 => {
                pop(stack)?;
            }
            0x76 => {
                let v = top(stack, 1)?.clone();
                stack.push(v);
            }
            0x77 => {
                top(stack, 2)?;
                let n = stack.len();
                stack.remove(n - 2);
            }
            0x78 => {
                let v = top(stack, 2)?.clone();
                stack.push(v);
            }
            0x79 | 0x7a => {
                let n = script_num(top(stack, 1)?, minimal, 4)?;
                stack.pop();
                if n < 0 || n as usize >= stack.len() {
                    return consensus(err::STACK);
                }
                let at = stack.len() - 1 - n as usize;
                let v = if op == 0x79 {
                    stack[at].clone()
                } else {
                    stack.remove(at)
                };
                stack.push(v);
            }
            0x7b => {
                top(stack, 3)?;
                let n = stack.len();
                let v = stack.remove(n - 3);
                stack.push(v);
            }
            0x7c => {
                top(stack, 2)?;
                let n = stack.len();
                stack.swap(n - 2, n - 1);
            }
            0x7d => {
                let v = top(stack, 1)?.clone();
                top(stack, 2)?;
                let n = stack.len();
                stack.insert(n - 2, v);
            }
            0x82 => {
                let n = top(stack, 1)?.len() as i64;
                stack.push(encode_num(n));
            }
            0x87 | 0x88 => {
                let b = pop(stack)?;
                let a = pop(stack)?;
                let eq = a == b;
                if op == 0x88 {
                    if !eq {
                        return consensus(err::EQUALVERIFY);
                    }
                } else {
                    stack.push(if eq { vec![1] } else { Vec::new() });
                }
            }
            0x8b | 0x8c | 0x8f..=0x92 => {
                let a = script_num(top(stack, 1)?, minimal, 4)?;
                stack.pop();
                let r = match op {
                    0x8b => a + 1,
                    0x8c => a - 1,
                    0x8f => -a,
                    0x90 => a.abs(),
                    0x91 => i64::from(a == 0),
                    _ => i64::from(a != 0),
                };
                stack.push(encode_num(r));
            }
            0x93 | 0x94 | 0x9a..=0xa4 => {
                let b = script_num(top(stack, 1)?, minimal, 4)?;
                let a = script_num(top(stack, 2)?, minimal, 4)?;
                stack.pop();
                stack.pop();
                let r = match op {
                    0x93 => a + b,
                    0x94 => a - b,
                    0x9a => i64::from(a != 0 && b != 0),
                    0x9b => i64::from(a != 0 || b != 0),
                    0x9c | 0x9d => i64::from(a == b),
                    0x9e => i64::from(a != b),
                    0x9f => i64::from(a < b),
                    0xa0 => i64::from(a > b),
                    0xa1 => i64::from(a <= b),
                    0xa2 => i64::from(a >= b),
                    0xa3 => a.min(b),
                    _ => a.max(b),
                };
                if op == 0x9d {
                    if r == 0 {
                        return consensus(err::NUMEQUALVERIFY);
                    }
                } else {
                    stack.push(encode_num(r));
                }
            }
            0xa5 => {
                let max = script_num(top(stack, 1)?, minimal, 4)?;
                let min = script_num(top(stack, 2)?, minimal, 4)?;
                let x = script_num(top(stack, 3)?, minimal, 4)?;
                stack.truncate(stack.len() - 3);
                stack.push(encode_num(i64::from(min <= x && x < max)));
            }
            0xa6..=0xaa => {
                let v = pop(stack)?;
                let h = match op {
                    0xa6 => ripemd160::Hash::hash(&v).to_byte_array().to_vec(),
                    0xa7 => sha1::Hash::hash(&v).to_byte_array().to_vec(),
                    0xa8 => sha256::Hash::hash(&v).to_byte_array().to_vec(),
                    0xa9 => hash160::Hash::hash(&v).to_byte_array().to_vec(),
                    _ => sha256d::Hash::hash(&v).to_byte_array().to_vec(),
                };
                stack.push(h);
            }
            0xab => code_start = pc,
            0xac | 0xad => {
                let key = top(stack, 1)?.clone();
                let sig = top(stack, 2)?.clone();
                let ok = if sv == SigVersion::Tapscript {
                    checksig_tapscript(&sig, &key, ctx)?
                } else {
                    checksig_ecdsa(&sig, &key, &script[code_start..], sv, ctx)?
                };
                stack.truncate(stack.len() - 2);
                if op == 0xad {
                    if !ok {
                        return consensus(err::CHECKSIGVERIFY);
                    }
                } else {
                    stack.push(if ok { vec![1] } else { Vec::new() });
                }
            }
            0xae | 0xaf => {
                if sv == SigVersion::Tapscript {
                    return consensus(err::TAPSCRIPT_CHECKMULTISIG);
                }
                let ok = checkmultisig(stack, &script[code_start..], sv, ctx)?;
                if op == 0xaf {
                    if !ok {
                        return consensus(err::CHECKMULTISIGVERIFY);
                    }
                } else {
                    stack.push(if ok { vec![1] } else { Vec::new() });
                }
            }
            0xb1 | 0xb2 => {
                // The lock itself was checked by consensus; only the argument's encoding is
                // policy (a non-minimal number).
                let n = script_num(top(stack, 1)?, minimal, 5)?;
                if n < 0 {
                    return consensus(err::NEGATIVE_LOCKTIME);
                }
            }
            0xb0 | 0xb3..=0xb9 => ctx.policy_err(err::NOPS)?,
            0xba if sv == SigVersion::Tapscript => {
                let key = top(stack, 1)?.clone();
                let n = script_num(top(stack, 2)?, minimal, 4)?;
                let sig = top(stack, 3)?.clone();
                let ok = checksig_tapscript(&sig, &key, ctx)?;
                stack.truncate(stack.len() - 3);
                stack.push(encode_num(n + i64::from(ok)));
            }
            0x50 | 0x62 | 0x89 | 0x8a | 0xba => return consensus(err::BAD_OPCODE),
            _ => return Err(Fail::Unsupported("opcode outside Bitcoin's set")),
        }
        if stack.len() + alt.len() > 1000 {
            return consensus("Stack size limit exceeded");
        }
    }
    if !exec.is_empty() {
        return consensus(err::UNBALANCED);
    }
    Ok(())
}

fn checksig_tapscript(sig: &[u8], key: &[u8], ctx: &Ctx) -> R<bool> {
    if key.is_empty() {
        return consensus(err::PUBKEYTYPE);
    }
    if key.len() != 32 {
        ctx.policy_err(err::UPGRADABLE_PUBKEYTYPE)?;
    }
    // A non-empty signature under a 32-byte key was verified by consensus.
    Ok(!sig.is_empty())
}

fn checksig_ecdsa(
    sig: &[u8],
    key: &[u8],
    script_code: &[u8],
    sv: SigVersion,
    ctx: &mut Ctx,
) -> R<bool> {
    if sv == SigVersion::Base && sig_in_script_code(script_code, sig) {
        if ctx.policy {
            return Err(Fail::Policy(err::SIG_FINDANDDELETE));
        }
        return Err(Fail::Unsupported("signature in scriptCode"));
    }
    check_sig_encoding(sig, ctx)?;
    check_pubkey_encoding(key, sv, ctx)?;
    let ok = !sig.is_empty() && check_ecdsa(sig, key, script_code, sv, ctx)?;
    if !ok && !sig.is_empty() {
        ctx.policy_err(err::NULLFAIL)?;
    }
    Ok(ok)
}

fn checkmultisig(
    stack: &mut Vec<Vec<u8>>,
    script_code: &[u8],
    sv: SigVersion,
    ctx: &mut Ctx,
) -> R<bool> {
    let minimal = ctx.policy;
    let mut i = 1usize;
    let keys = script_num(top(stack, i)?, minimal, 4)?;
    if !(0..=20).contains(&keys) {
        return consensus(err::PUBKEY_COUNT);
    }
    let mut keys = keys as usize;
    i += 1;
    let mut ikey = i;
    let mut ikey2 = keys + 2;
    i += keys;
    let sigs = script_num(top(stack, i)?, minimal, 4)?;
    if sigs < 0 || sigs as usize > keys {
        return consensus(err::SIG_COUNT);
    }
    let mut sigs = sigs as usize;
    i += 1;
    let mut isig = i;
    i += sigs;
    top(stack, i)?;
    if sv == SigVersion::Base {
        for k in 0..sigs {
            if sig_in_script_code(script_code, top(stack, isig + k)?) {
                if ctx.policy {
                    return Err(Fail::Policy(err::SIG_FINDANDDELETE));
                }
                return Err(Fail::Unsupported("signature in scriptCode"));
            }
        }
    }
    let mut success = true;
    while success && sigs > 0 {
        let sig = top(stack, isig)?.clone();
        let key = top(stack, ikey)?.clone();
        check_sig_encoding(&sig, ctx)?;
        check_pubkey_encoding(&key, sv, ctx)?;
        let ok = !sig.is_empty() && check_ecdsa(&sig, &key, script_code, sv, ctx)?;
        if ok {
            isig += 1;
            sigs -= 1;
        }
        ikey += 1;
        keys -= 1;
        if sigs > keys {
            success = false;
        }
    }
    while i > 1 {
        i -= 1;
        if !success && ctx.policy && ikey2 == 0 && !top(stack, 1)?.is_empty() {
            return Err(Fail::Policy(err::NULLFAIL));
        }
        ikey2 = ikey2.saturating_sub(1);
        stack.pop();
    }
    // The dummy element (NULLDUMMY is consensus since segwit).
    if !pop(stack)?.is_empty() {
        return consensus(err::NULLDUMMY);
    }
    Ok(success)
}

/// Core's `VerifyScript` with P2SH, WITNESS, TAPROOT and (for policy) CLEANSTACK.
fn verify_script(
    script_sig: &[u8],
    script_pubkey: &[u8],
    witness: &[Vec<u8>],
    ctx: &mut Ctx,
) -> R<()> {
    let mut stack: Vec<Vec<u8>> = Vec::new();
    eval(script_sig, &mut stack, SigVersion::Base, ctx)?;
    let stack_copy = stack.clone();
    eval(script_pubkey, &mut stack, SigVersion::Base, ctx)?;
    if !stack.last().is_some_and(|v| cast_to_bool(v)) {
        return consensus(err::EVAL_FALSE);
    }
    if let Some((version, program)) =
        crate::script::witness_program(Script::from_bytes(script_pubkey))
    {
        verify_witness_program(witness, version, program, false, ctx)?;
        stack.truncate(1);
    }
    if Script::from_bytes(script_pubkey).is_p2sh() {
        stack = stack_copy;
        let redeem = pop(&mut stack)?;
        eval(&redeem, &mut stack, SigVersion::Base, ctx)?;
        if !stack.last().is_some_and(|v| cast_to_bool(v)) {
            return consensus(err::EVAL_FALSE);
        }
        if let Some((version, program)) =
            crate::script::witness_program(Script::from_bytes(&redeem))
        {
            verify_witness_program(witness, version, program, true, ctx)?;
            stack.truncate(1);
        }
    }
    if ctx.policy && stack.len() != 1 {
        return Err(Fail::Policy(err::CLEANSTACK));
    }
    Ok(())
}

fn verify_witness_program(
    witness: &[Vec<u8>],
    version: u8,
    program: &[u8],
    p2sh: bool,
    ctx: &mut Ctx,
) -> R<()> {
    match (version, program.len()) {
        (0, 32) => {
            let Some((script, items)) = witness.split_last() else {
                return consensus(err::WITNESS_EMPTY);
            };
            if sha256::Hash::hash(script).to_byte_array() != program {
                return consensus(err::WITNESS_MISMATCH);
            }
            execute_witness_script(script, items.to_vec(), SigVersion::WitnessV0, ctx)
        }
        (0, 20) => {
            if witness.len() != 2 {
                return consensus(err::WITNESS_MISMATCH);
            }
            let mut script = vec![0x76, 0xa9, 0x14];
            script.extend_from_slice(program);
            script.extend_from_slice(&[0x88, 0xac]);
            execute_witness_script(&script, witness.to_vec(), SigVersion::WitnessV0, ctx)
        }
        (0, _) => consensus(err::WRONG_LENGTH),
        (1, 32) if !p2sh => {
            let mut items = witness.to_vec();
            if items.is_empty() {
                return consensus(err::WITNESS_EMPTY);
            }
            if items.len() >= 2 && items.last().and_then(|a| a.first()) == Some(&0x50) {
                items.pop();
            }
            if items.len() == 1 {
                // Key path: the signature was verified by consensus.
                return Ok(());
            }
            let control = pop(&mut items)?;
            let script = pop(&mut items)?;
            let leaf_version = control.first().map_or(0, |c| c & 0xfe);
            if leaf_version != 0xc0 {
                return ctx.policy_err(err::TAPROOT_VERSION);
            }
            // BIP 342: any OP_SUCCESSx anywhere makes the script succeed (policy: refuse).
            let mut pc = 0;
            while pc < script.len() {
                let (op, _, next) = next_op(&script, pc)?;
                if is_op_success(op) {
                    ctx.policy_err(err::OP_SUCCESS)?;
                    return Ok(());
                }
                pc = next;
            }
            execute_witness_script(&script, items, SigVersion::Tapscript, ctx)
        }
        _ => ctx.policy_err(err::WITNESS_PROGRAM),
    }
}

fn execute_witness_script(
    script: &[u8],
    mut stack: Vec<Vec<u8>>,
    sv: SigVersion,
    ctx: &mut Ctx,
) -> R<()> {
    if stack.iter().any(|i| i.len() > 520) {
        return consensus(err::PUSH_SIZE);
    }
    eval(script, &mut stack, sv, ctx)?;
    if stack.len() != 1 {
        return consensus(err::CLEANSTACK);
    }
    if !cast_to_bool(&stack[0]) {
        return consensus(err::EVAL_FALSE);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for n in [
            -70000i64, -256, -255, -128, -127, -1, 0, 1, 16, 127, 128, 255, 256, 70000,
        ] {
            let e = encode_num(n);
            assert!(is_minimal_number(&e));
            assert_eq!(script_num(&e, true, 4), Ok(n));
        }
        assert_eq!(
            script_num(&[1, 0], true, 4),
            Err(Fail::Policy(err::UNKNOWN))
        );
        assert_eq!(script_num(&[1, 0], false, 4), Ok(1));
        assert!(!cast_to_bool(&[0, 0x80]));
        assert!(cast_to_bool(&[0x80, 0]));
    }

    #[test]
    fn minimal_pushes() {
        assert!(is_minimal_push(&[], 0));
        assert!(!is_minimal_push(&[5], 1));
        assert!(!is_minimal_push(&[0x81], 1));
        assert!(is_minimal_push(&[0x17], 1));
        assert!(!is_minimal_push(&[1, 2, 3], 0x4c));
        assert!(is_minimal_push(&[7; 80], 0x4c));
    }
}
