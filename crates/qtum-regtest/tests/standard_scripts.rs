//! Core's standard script flags beyond consensus: for each rule, a spend that breaks only that
//! rule is refused with qtumd's `non-mandatory-script-verify-flag (…)` reason, and its
//! compliant twin is accepted. Plus the input-standardness limits and named consensus errors.

mod common;

use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::*;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{ecdsa, Secp256k1};
use bitcoin::sighash::SighashCache;
use bitcoin::taproot::{LeafVersion, TaprootBuilder};
use bitcoin::{OutPoint, ScriptBuf, Transaction, Witness, XOnlyPublicKey};
use common::*;
use qtum_regtest::{NodeError, RegtestNode};
use serde_json::json;

const VALUE: u64 = 10_000_000;

struct Env {
    node: RegtestNode,
    dest: Key,
}

impl Env {
    fn new() -> Self {
        Env {
            node: RegtestNode::start().expect("start"),
            dest: Key::new("standard-dest"),
        }
    }

    /// A confirmed output of VALUE paying `spk`.
    fn fund(&self, spk: &ScriptBuf) -> OutPoint {
        let op = self.node.fund_address(spk, VALUE).expect("fund");
        self.node.mine_blocks(1, &self.dest.p2wpkh()).expect("mine");
        op
    }

    fn spend(&self, op: OutPoint, script_sig: ScriptBuf, witness: Vec<Vec<u8>>) -> Transaction {
        let mut tx = unsigned(
            &[op],
            vec![(self.dest.p2wpkh(), VALUE - 1_000_000)],
            0xffff_fffd,
            0,
        );
        tx.input[0].script_sig = script_sig;
        tx.input[0].witness = Witness::from_slice(&witness);
        tx
    }

    fn refused(&self, tx: &Transaction, what: &str) {
        match self.node.test_transaction(tx) {
            Err(NodeError::Rejected(r)) => assert_eq!(
                r.reason,
                format!("non-mandatory-script-verify-flag ({what})"),
                "{r}"
            ),
            other => panic!("expected refusal ({what}), got {other:?}"),
        }
    }

    fn refused_consensus(&self, tx: &Transaction, what: &str) {
        match self.node.test_transaction(tx) {
            Err(NodeError::Rejected(r)) => assert_eq!(
                r.reason,
                format!("mandatory-script-verify-flag-failed ({what})"),
                "{r}"
            ),
            other => panic!("expected refusal ({what}), got {other:?}"),
        }
    }

    fn refused_plain(&self, tx: &Transaction, reason: &str) {
        match self.node.test_transaction(tx) {
            Err(NodeError::Rejected(r)) => assert_eq!(r.reason, reason, "{r}"),
            other => panic!("expected refusal ({reason}), got {other:?}"),
        }
    }

    fn accepted(&self, tx: &Transaction) {
        if let Err(e) = self.node.test_transaction(tx) {
            panic!("compliant twin refused: {e}");
        }
    }
}

fn p2sh(redeem: &ScriptBuf) -> ScriptBuf {
    ScriptBuf::new_p2sh(&redeem.script_hash())
}

fn push(data: &[u8]) -> PushBytesBuf {
    PushBytesBuf::try_from(data.to_vec()).expect("push")
}

/// scriptSig pushing each item minimally, then the redeem script.
fn script_sig(items: &[&[u8]], redeem: &ScriptBuf) -> ScriptBuf {
    let mut b = Builder::new();
    for i in items {
        b = b.push_slice(push(i));
    }
    b.push_slice(push(redeem.as_bytes())).into_script()
}

fn legacy_sig(key: &Key, tx: &Transaction, redeem: &ScriptBuf, hash_type: u8) -> Vec<u8> {
    let digest = SighashCache::new(tx)
        .legacy_signature_hash(0, redeem, u32::from(hash_type))
        .expect("sighash")
        .to_byte_array();
    let mut s = key.sign(digest);
    *s.last_mut().expect("sig") = hash_type;
    s
}

/// The same signature with S replaced by n - S.
fn high_s(sig: &[u8]) -> Vec<u8> {
    let (der, t) = sig.split_at(sig.len() - 1);
    let s = ecdsa::Signature::from_der(der).expect("der");
    let mut c = s.serialize_compact();
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(c[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        c[32 + i] = (d + 256 * borrow) as u8;
    }
    let h = ecdsa::Signature::from_compact(&c).expect("compact");
    let mut out = h.serialize_der().to_vec();
    out.extend_from_slice(t);
    out
}

fn wsh_sig(key: &Key, tx: &Transaction, ws: &ScriptBuf) -> Vec<u8> {
    key.sign(p2wsh_digest(tx, 0, ws, VALUE))
}

#[test]
fn minimaldata_in_executed_pushes_only() {
    let env = Env::new();
    // OP_IF <5 pushed with PUSHDATA1> OP_DROP OP_ENDIF OP_1
    let ws = ScriptBuf::from_bytes(vec![0x63, 0x4c, 0x01, 0x05, 0x75, 0x68, 0x51]);
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    env.refused(
        &env.spend(op, ScriptBuf::new(), vec![vec![1], ws.to_bytes()]),
        "Data push larger than necessary",
    );
    // The same non-minimal push in the branch not taken is not executed.
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![vec![], ws.to_bytes()]));

    // In a scriptSig: 5 pushed as one data byte instead of OP_5.
    let redeem = Builder::new()
        .push_opcode(OP_DROP)
        .push_opcode(OP_PUSHNUM_1)
        .into_script();
    let op = env.fund(&p2sh(&redeem));
    let mut bad = vec![0x01, 0x05];
    bad.extend_from_slice(script_sig(&[], &redeem).as_bytes());
    env.refused(
        &env.spend(op, ScriptBuf::from_bytes(bad), vec![]),
        "Data push larger than necessary",
    );
    let mut good = vec![0x55];
    good.extend_from_slice(script_sig(&[], &redeem).as_bytes());
    env.accepted(&env.spend(op, ScriptBuf::from_bytes(good), vec![]));
}

#[test]
fn minimalif_in_witness_v0() {
    let env = Env::new();
    let ws = Builder::new()
        .push_opcode(OP_IF)
        .push_opcode(OP_PUSHNUM_1)
        .push_opcode(OP_ELSE)
        .push_opcode(OP_PUSHNUM_1)
        .push_opcode(OP_ENDIF)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    for arg in [vec![2u8], vec![1, 0], vec![0]] {
        env.refused(
            &env.spend(op, ScriptBuf::new(), vec![arg, ws.to_bytes()]),
            "OP_IF/NOTIF argument must be minimal",
        );
    }
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![vec![1], ws.to_bytes()]));
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![vec![], ws.to_bytes()]));
}

#[test]
fn nullfail_checksig_and_checkmultisig() {
    let env = Env::new();
    let key = Key::new("nullfail");
    let other = Key::new("someone else");
    let ws = Builder::new()
        .push_slice(key.public.serialize())
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_NOT)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    let tx = env.spend(op, ScriptBuf::new(), vec![]);
    let wrong = wsh_sig(&other, &tx, &ws);
    env.refused(
        &env.spend(op, ScriptBuf::new(), vec![wrong.clone(), ws.to_bytes()]),
        "Signature must be zero for failed CHECK(MULTI)SIG operation",
    );
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![vec![], ws.to_bytes()]));

    let ws = Builder::new()
        .push_opcode(OP_PUSHNUM_1)
        .push_slice(key.public.serialize())
        .push_opcode(OP_PUSHNUM_1)
        .push_opcode(OP_CHECKMULTISIG)
        .push_opcode(OP_NOT)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    let tx = env.spend(op, ScriptBuf::new(), vec![]);
    let wrong = wsh_sig(&other, &tx, &ws);
    env.refused(
        &env.spend(op, ScriptBuf::new(), vec![vec![], wrong, ws.to_bytes()]),
        "Signature must be zero for failed CHECK(MULTI)SIG operation",
    );
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![vec![], vec![], ws.to_bytes()]));
}

#[test]
fn strictenc_low_s_and_pubkey_types() {
    let env = Env::new();
    let key = Key::new("strictenc");
    let secp = Secp256k1::new();
    let _ = &secp;

    // High S in a P2WSH CHECKSIG.
    let ws = Builder::new()
        .push_slice(key.public.serialize())
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    let tx = env.spend(op, ScriptBuf::new(), vec![]);
    let sig = wsh_sig(&key, &tx, &ws);
    env.refused(
        &env.spend(op, ScriptBuf::new(), vec![high_s(&sig), ws.to_bytes()]),
        "Non-canonical signature: S value is unnecessarily high",
    );
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![sig, ws.to_bytes()]));

    // Undefined hash type (legacy P2SH, where consensus accepts any hash type).
    let redeem = Builder::new()
        .push_slice(key.public.serialize())
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let op = env.fund(&p2sh(&redeem));
    let tx = env.spend(op, ScriptBuf::new(), vec![]);
    let odd = legacy_sig(&key, &tx, &redeem, 0x04);
    env.refused(
        &env.spend(op, script_sig(&[&odd], &redeem), vec![]),
        "Signature hash type missing or not understood",
    );
    let all = legacy_sig(&key, &tx, &redeem, 0x01);
    env.accepted(&env.spend(op, script_sig(&[&all], &redeem), vec![]));

    // A hybrid public key (0x06/0x07 prefix) in legacy script; uncompressed is fine there.
    let unc = key.public.serialize_uncompressed();
    let mut hybrid = unc;
    hybrid[0] = 0x06 | (unc[64] & 1);
    for (k, ok) in [(hybrid, false), (unc, true)] {
        let redeem = Builder::new()
            .push_slice(k)
            .push_opcode(OP_CHECKSIG)
            .into_script();
        let op = env.fund(&p2sh(&redeem));
        let tx = env.spend(op, ScriptBuf::new(), vec![]);
        let sig = legacy_sig(&key, &tx, &redeem, 0x01);
        let spend = env.spend(op, script_sig(&[&sig], &redeem), vec![]);
        if ok {
            env.accepted(&spend);
        } else {
            env.refused(&spend, "Public key is neither compressed or uncompressed");
        }
    }

    // An uncompressed key in a P2WSH script.
    let ws = Builder::new()
        .push_slice(unc)
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    let tx = env.spend(op, ScriptBuf::new(), vec![]);
    let sig = wsh_sig(&key, &tx, &ws);
    env.refused(
        &env.spend(op, ScriptBuf::new(), vec![sig, ws.to_bytes()]),
        "Using non-compressed keys in segwit",
    );
}

#[test]
fn upgradable_nops_cleanstack_and_const_scriptcode() {
    let env = Env::new();
    // An executed OP_NOP4 is refused; in the branch not taken it is fine.
    let ws = Builder::new()
        .push_opcode(OP_IF)
        .push_opcode(OP_NOP4)
        .push_opcode(OP_ENDIF)
        .push_opcode(OP_PUSHNUM_1)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    env.refused(
        &env.spend(op, ScriptBuf::new(), vec![vec![1], ws.to_bytes()]),
        "NOPx reserved for soft-fork upgrades",
    );
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![vec![], ws.to_bytes()]));

    // CLEANSTACK: an extra element left by a P2SH scriptSig.
    let redeem = Builder::new().push_opcode(OP_PUSHNUM_1).into_script();
    let op = env.fund(&p2sh(&redeem));
    env.refused(
        &env.spend(op, script_sig(&[&[0x42]], &redeem), vec![]),
        "Stack size must be exactly one after execution",
    );
    env.accepted(&env.spend(op, script_sig(&[], &redeem), vec![]));

    // CONST_SCRIPTCODE: OP_CODESEPARATOR in a legacy script (even unexecuted) …
    let redeem = Builder::new()
        .push_opcode(OP_PUSHNUM_1)
        .push_opcode(OP_CODESEPARATOR)
        .into_script();
    let op = env.fund(&p2sh(&redeem));
    env.refused(
        &env.spend(op, script_sig(&[], &redeem), vec![]),
        "Using OP_CODESEPARATOR in non-witness script",
    );
    // … is fine in a witness script.
    let op = env.fund(&qtum_regtest::script::p2wsh(&redeem));
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![redeem.to_bytes()]));

    // … and a signature found in the scriptCode (an empty one matches an OP_0).
    let key = Key::new("findanddelete");
    let with_zero = Builder::new()
        .push_opcode(OP_PUSHBYTES_0)
        .push_opcode(OP_DROP)
        .push_slice(key.public.serialize())
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_NOT)
        .into_script();
    let without = Builder::new()
        .push_slice(key.public.serialize())
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_NOT)
        .into_script();
    let op = env.fund(&p2sh(&with_zero));
    env.refused(
        &env.spend(op, script_sig(&[&[]], &with_zero), vec![]),
        "Signature is found in scriptCode",
    );
    let op = env.fund(&p2sh(&without));
    env.accepted(&env.spend(op, script_sig(&[&[]], &without), vec![]));
}

#[test]
fn upgradable_witness_program_taproot_version_and_op_success() {
    let env = Env::new();
    // P2SH-wrapped witness v2: reserved for upgrades.
    let v2 = Builder::new()
        .push_opcode(OP_PUSHNUM_2)
        .push_slice([7u8; 32])
        .into_script();
    let op = env.fund(&p2sh(&v2));
    env.refused(
        &env.spend(op, script_sig(&[], &v2), vec![]),
        "Witness version reserved for soft-fork upgrades",
    );
    // Its twin: P2SH-wrapped P2WSH of OP_1.
    let one = Builder::new().push_opcode(OP_PUSHNUM_1).into_script();
    let v0 = qtum_regtest::script::p2wsh(&one);
    let op = env.fund(&p2sh(&v0));
    env.accepted(&env.spend(op, script_sig(&[], &v0), vec![one.to_bytes()]));

    // One taproot output, five leaves.
    let secp = Secp256k1::new();
    let internal = XOnlyPublicKey::from(Key::new("internal").public);
    let success = ScriptBuf::from_bytes(vec![0x50]);
    let future = LeafVersion::from_consensus(0xc2).expect("leaf version");
    let unknown_key = Builder::new()
        .push_slice([2u8; 33])
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_NOT)
        .into_script();
    let known_key = Builder::new()
        .push_slice([2u8; 32])
        .push_opcode(OP_CHECKSIG)
        .push_opcode(OP_NOT)
        .into_script();
    let info = TaprootBuilder::new()
        .add_leaf(2, success.clone())
        .expect("leaf")
        .add_leaf(2, one.clone())
        .expect("leaf")
        .add_leaf_with_ver(2, one.clone(), future)
        .expect("leaf")
        .add_leaf(3, unknown_key.clone())
        .expect("leaf")
        .add_leaf(3, known_key.clone())
        .expect("leaf")
        .finalize(&secp, internal)
        .expect("tree");
    let op = env.fund(&ScriptBuf::new_p2tr_tweaked(info.output_key()));
    let leaf = |s: &ScriptBuf, v: LeafVersion, stack: Vec<Vec<u8>>| {
        let cb = info
            .control_block(&(s.clone(), v))
            .expect("control block")
            .serialize();
        let mut w = stack;
        w.push(s.to_bytes());
        w.push(cb);
        env.spend(op, ScriptBuf::new(), w)
    };
    env.refused(
        &leaf(&success, LeafVersion::TapScript, vec![]),
        "OP_SUCCESSx reserved for soft-fork upgrades",
    );
    env.refused(
        &leaf(&one, future, vec![]),
        "Taproot version reserved for soft-fork upgrades",
    );
    env.refused(
        &leaf(&unknown_key, LeafVersion::TapScript, vec![vec![]]),
        "Public key version reserved for soft-fork upgrades",
    );
    env.accepted(&leaf(&one, LeafVersion::TapScript, vec![]));
    env.accepted(&leaf(&known_key, LeafVersion::TapScript, vec![vec![]]));
}

#[test]
fn input_standardness_limits() {
    let env = Env::new();
    // P2WSH: at most 100 stack items (besides the script), each at most 80 bytes, script at
    // most 3600 bytes.
    let drop_all = |n: usize| {
        let mut b = Builder::new();
        for _ in 0..n / 2 {
            b = b.push_opcode(OP_2DROP);
        }
        b.push_opcode(OP_PUSHNUM_1).into_script()
    };
    let ws = drop_all(100);
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    let items = |n: usize, size: usize| {
        let mut w = vec![vec![1u8; size]; n];
        w.push(ws.to_bytes());
        w
    };
    env.accepted(&env.spend(op, ScriptBuf::new(), items(100, 80)));
    env.refused_plain(
        &env.spend(op, ScriptBuf::new(), {
            let mut w = items(100, 80);
            w[0] = vec![1u8; 81];
            w
        }),
        "bad-witness-nonstandard",
    );
    let ws102 = drop_all(102);
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws102));
    let mut w = vec![vec![1u8]; 102];
    w.push(ws102.to_bytes());
    env.refused_plain(
        &env.spend(op, ScriptBuf::new(), w),
        "bad-witness-nonstandard",
    );
    let big = {
        let mut b = Builder::new();
        for _ in 0..1801 {
            b = b.push_opcode(OP_PUSHNUM_1).push_opcode(OP_DROP);
        }
        b.push_opcode(OP_PUSHNUM_1).into_script()
    };
    assert!(big.len() > 3600);
    let op = env.fund(&qtum_regtest::script::p2wsh(&big));
    env.refused_plain(
        &env.spend(op, ScriptBuf::new(), vec![big.to_bytes()]),
        "bad-witness-nonstandard",
    );

    // P2SH redeem script with more than 15 sigops.
    let key = Key::new("sigops");
    let mut b = Builder::new();
    for _ in 0..16 {
        b = b
            .push_slice(key.public.serialize())
            .push_opcode(OP_CHECKSIG)
            .push_opcode(OP_DROP);
    }
    let redeem = b.push_opcode(OP_PUSHNUM_1).into_script();
    let op = env.fund(&p2sh(&redeem));
    env.refused_plain(
        &env.spend(op, script_sig(&[], &redeem), vec![]),
        "bad-txns-nonstandard-inputs",
    );

    // A scriptSig that is not push-only.
    let one = Builder::new().push_opcode(OP_PUSHNUM_1).into_script();
    let op = env.fund(&p2sh(&one));
    let mut s = vec![0x61]; // OP_NOP
    s.extend_from_slice(script_sig(&[], &one).as_bytes());
    env.refused_plain(
        &env.spend(op, ScriptBuf::from_bytes(s), vec![]),
        "scriptsig-not-pushonly",
    );
}

#[test]
fn consensus_failures_are_named_and_policy_refusals_use_code_26() {
    let env = Env::new();
    let rpc = Rpc::new(&env.node);
    let key = Key::new("named");
    let ws = Builder::new()
        .push_opcode(OP_PUSHNUM_1)
        .push_slice(key.public.serialize())
        .push_opcode(OP_PUSHNUM_1)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    let tx = env.spend(op, ScriptBuf::new(), vec![]);
    let sig = wsh_sig(&key, &tx, &ws);
    env.refused_consensus(
        &env.spend(
            op,
            ScriptBuf::new(),
            vec![vec![1], sig.clone(), ws.to_bytes()],
        ),
        "Dummy CHECKMULTISIG argument must be zero",
    );
    env.refused_consensus(
        &env.spend(op, ScriptBuf::new(), vec![vec![], vec![], ws.to_bytes()]),
        "Script evaluated without error but finished with a false/empty top stack element",
    );
    env.accepted(&env.spend(op, ScriptBuf::new(), vec![vec![], sig, ws.to_bytes()]));

    let ws = Builder::new()
        .push_opcode(OP_IF)
        .push_opcode(OP_PUSHNUM_1)
        .push_opcode(OP_ENDIF)
        .into_script();
    let op = env.fund(&qtum_regtest::script::p2wsh(&ws));
    let bad = env.spend(op, ScriptBuf::new(), vec![vec![2], ws.to_bytes()]);
    let (code, msg) = rpc.err("sendrawtransaction", json!([to_hex(&bad)]));
    assert_eq!(code, -26);
    assert_eq!(
        msg,
        "non-mandatory-script-verify-flag (OP_IF/NOTIF argument must be minimal)"
    );
    let good = env.spend(op, ScriptBuf::new(), vec![vec![1], ws.to_bytes()]);
    rpc.call("sendrawtransaction", json!([to_hex(&good)]));
}
