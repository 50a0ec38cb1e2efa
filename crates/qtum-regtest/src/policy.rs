//! Qtum relay policy (Qtum Core 27.1 defaults): standard transactions and scripts, dust at
//! 400 sat/vB, input and witness standardness, and the policy-only script rules that
//! libbitcoinconsensus does not expose (see [`crate::interp`]).

use bitcoin::script::{Instruction, Script};
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::sighash::SighashCache;
use bitcoin::{Transaction, TxIn};

use crate::interp::{self, Verdict};

use crate::params::{MAX_OP_RETURN_RELAY, MAX_STANDARD_TX_WEIGHT, MAX_STANDARD_VERSION};
use crate::script::{
    classify, is_push_only, is_valid_signature_encoding, witness_program, ScriptType,
};
use crate::validation::{count_sigops, p2sh_redeem_script, Coin, RejectKind, TxReject};

fn policy(reason: &str) -> TxReject {
    TxReject::new(RejectKind::Policy, reason)
}

/// Bitcoin Core's `GetDustThreshold` at the dust relay fee (400 sat/vB), from the workspace's
/// Qtum policy module.
pub fn dust_threshold(script: &Script) -> u64 {
    qtum_primitives::policy::dust_threshold(script)
}

/// True when an output of this value and script is dust.
pub fn is_dust(value_sat: u64, script: &Script) -> bool {
    qtum_primitives::policy::is_dust(value_sat, script)
}

/// Core's `IsStandard` for an output script.
fn is_standard_output(script: &Script) -> Option<ScriptType> {
    let t = classify(script);
    match t {
        ScriptType::Nonstandard => None,
        ScriptType::Multisig { required, keys } => {
            (keys <= 3 && required >= 1 && required <= keys).then_some(t)
        }
        ScriptType::NullData => (script.len() <= MAX_OP_RETURN_RELAY).then_some(t),
        _ => Some(t),
    }
}

/// Core's `IsStandardTx`.
pub fn is_standard_tx(tx: &Transaction) -> Result<(), TxReject> {
    if tx.version.0 > MAX_STANDARD_VERSION || tx.version.0 < 1 {
        return Err(policy("version"));
    }
    if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
        return Err(policy("tx-size"));
    }
    for input in &tx.input {
        if input.script_sig.len() > 1650 {
            return Err(policy("scriptsig-size"));
        }
        if !is_push_only(input.script_sig.as_bytes()) {
            return Err(policy("scriptsig-not-pushonly"));
        }
    }
    let mut data_outputs = 0;
    let mut dust = 0;
    for out in &tx.output {
        match is_standard_output(&out.script_pubkey) {
            None => return Err(policy("scriptpubkey")),
            Some(ScriptType::NullData) => data_outputs += 1,
            Some(ScriptType::Multisig { .. }) => {}
            Some(_) => {}
        }
        if is_dust(out.value.to_sat(), &out.script_pubkey) {
            dust += 1;
        }
    }
    if data_outputs > 1 {
        return Err(policy("multi-op-return"));
    }
    if dust > 0 {
        return Err(policy("dust"));
    }
    Ok(())
}

/// Core's `AreInputsStandard`.
pub fn are_inputs_standard(tx: &Transaction, coins: &[Coin]) -> bool {
    for (input, coin) in tx.input.iter().zip(coins) {
        match classify(&coin.output.script_pubkey) {
            ScriptType::Nonstandard | ScriptType::WitnessUnknown => return false,
            ScriptType::ScriptHash => {
                let Some(redeem) = p2sh_redeem_script(&input.script_sig) else {
                    return false;
                };
                if count_sigops(Script::from_bytes(&redeem), true) > 15 {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// Core's `IsWitnessStandard`.
pub fn is_witness_standard(tx: &Transaction, coins: &[Coin]) -> bool {
    for (input, coin) in tx.input.iter().zip(coins) {
        if input.witness.is_empty() {
            continue;
        }
        let mut spk = coin.output.script_pubkey.clone();
        let mut p2sh = false;
        if spk.is_p2sh() {
            let Some(redeem) = p2sh_redeem_script(&input.script_sig) else {
                return false;
            };
            spk = bitcoin::ScriptBuf::from_bytes(redeem);
            p2sh = true;
        }
        let Some((version, program)) = witness_program(&spk) else {
            return false;
        };
        let items: Vec<&[u8]> = input.witness.iter().collect();
        match (version, program.len()) {
            (0, 32) => {
                let Some((script, stack)) = items.split_last() else {
                    return false;
                };
                if script.len() > 3600 || stack.len() > 100 || stack.iter().any(|i| i.len() > 80) {
                    return false;
                }
            }
            (1, 32) if !p2sh => {
                let mut stack = &items[..];
                if stack.len() >= 2 && stack.last().and_then(|l| l.first()) == Some(&0x50) {
                    return false; // annex is non-standard
                }
                if stack.len() >= 2 {
                    let control = stack[stack.len() - 1];
                    stack = &stack[..stack.len() - 2];
                    if control.first().map(|c| c & 0xfe) == Some(0xc0)
                        && stack.iter().any(|i| i.len() > 80)
                    {
                        return false;
                    }
                }
            }
            _ => {}
        }
    }
    true
}

fn is_low_der_signature(sig_with_type: &[u8]) -> bool {
    let der = &sig_with_type[..sig_with_type.len() - 1];
    match Signature::from_der_lax(der) {
        Ok(sig) => {
            let mut norm = sig;
            norm.normalize_s();
            norm == sig
        }
        Err(_) => true,
    }
}

fn non_mandatory(what: &str) -> TxReject {
    TxReject::new(
        RejectKind::Policy,
        &format!("non-mandatory-script-verify-flag ({what})"),
    )
}

/// The policy-only script rules (Core's STANDARD_SCRIPT_VERIFY_FLAGS beyond consensus), run
/// after the consensus script check passed: each input is evaluated again by [`crate::interp`]
/// with the standard flags. Where that evaluator has no verdict (an opcode or construction it
/// does not model), the input still gets the static checks: LOW_S on every signature-shaped
/// push and WITNESS_PUBKEYTYPE on P2WPKH spends.
pub fn check_policy_scripts(tx: &Transaction, coins: &[Coin]) -> Result<(), TxReject> {
    let mut cache = SighashCache::new(tx);
    for (index, (input, coin)) in tx.input.iter().zip(coins).enumerate() {
        match interp::check_input(tx, coins, index, &mut cache, true) {
            Verdict::Ok => {}
            Verdict::Policy(e) => return Err(non_mandatory(e)),
            Verdict::Consensus(e) | Verdict::Unsupported(e) => {
                log::debug!("policy evaluator has no verdict on input {index}: {e}");
                static_policy_checks(input, coin)?;
            }
        }
    }
    Ok(())
}

fn static_policy_checks(input: &TxIn, coin: &Coin) -> Result<(), TxReject> {
    let mut pushes: Vec<Vec<u8>> = input.witness.iter().map(|w| w.to_vec()).collect();
    for i in input.script_sig.instructions().flatten() {
        if let Instruction::PushBytes(p) = i {
            pushes.push(p.as_bytes().to_vec());
        }
    }
    for p in &pushes {
        if is_valid_signature_encoding(p) && !is_low_der_signature(p) {
            return Err(non_mandatory(interp::err::SIG_HIGH_S));
        }
    }
    let spk = &coin.output.script_pubkey;
    let is_p2wpkh = matches!(witness_program(spk), Some((0, p)) if p.len() == 20);
    if is_p2wpkh {
        if let Some(key) = input.witness.nth(1) {
            if key.len() != 33 {
                return Err(non_mandatory(interp::err::WITNESS_PUBKEYTYPE));
            }
        }
    }
    Ok(())
}
