//! Transaction validation as qtumd does it: context-free checks, finality (nLockTime, BIP 68),
//! input checks (existence, maturity, amounts), sigop counting and script verification by
//! Bitcoin Core's own interpreter (`libbitcoinconsensus`).

use std::collections::HashSet;
use std::fmt;

use bitcoin::consensus::encode;
use bitcoin::script::{Instruction, Script};
use bitcoin::{OutPoint, Transaction, TxOut};

use crate::params::{COINBASE_MATURITY, MAX_BLOCK_WEIGHT, MAX_MONEY};

/// An unspent output with the facts validation needs about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coin {
    /// The output.
    pub output: TxOut,
    /// Height of the block that created it (tip + 1 for a mempool output).
    pub height: u32,
    /// Created by a coinbase.
    pub is_coinbase: bool,
}

/// What kind of refusal this is; decides the RPC error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectKind {
    /// Breaks a consensus rule.
    Consensus,
    /// Breaks relay policy only.
    Policy,
    /// Spends an output that does not exist (or is spent).
    MissingInputs,
    /// Conflicts with the mempool or is already there.
    Conflict,
}

/// A refused transaction: qtumd's reject reason and optional debug text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxReject {
    /// The class of refusal.
    pub kind: RejectKind,
    /// qtumd's `reject-reason` string.
    pub reason: String,
    /// Extra text qtumd appends after a comma in `sendrawtransaction` errors.
    pub debug: Option<String>,
}

impl TxReject {
    /// A refusal with no debug text.
    pub fn new(kind: RejectKind, reason: &str) -> Self {
        TxReject {
            kind,
            reason: reason.to_string(),
            debug: None,
        }
    }

    /// A refusal with debug text.
    pub fn with_debug(kind: RejectKind, reason: &str, debug: String) -> Self {
        TxReject {
            kind,
            reason: reason.to_string(),
            debug: Some(debug),
        }
    }
}

impl fmt::Display for TxReject {
    /// Bitcoin Core's `ValidationState::ToString`: `reason` or `reason, debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.debug {
            Some(d) => write!(f, "{}, {}", self.reason, d),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for TxReject {}

fn consensus(reason: &str) -> TxReject {
    TxReject::new(RejectKind::Consensus, reason)
}

/// Size of the transaction without witness data.
pub fn stripped_size(tx: &Transaction) -> usize {
    tx.base_size()
}

/// Qtum contract opcodes (OP_CREATE, OP_CALL, OP_SPEND, OP_SENDER).
fn has_contract_opcode(s: &Script) -> bool {
    s.instructions()
        .any(|i| matches!(i, Ok(Instruction::Op(op)) if (0xc1..=0xc4).contains(&op.to_u8())))
}

/// Bitcoin Core's `CheckTransaction` plus Qtum's two output rules.
pub fn check_transaction(tx: &Transaction) -> Result<(), TxReject> {
    if tx.input.is_empty() {
        return Err(consensus("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(consensus("bad-txns-vout-empty"));
    }
    if stripped_size(tx) as u64 * 4 > MAX_BLOCK_WEIGHT {
        return Err(consensus("bad-txns-oversize"));
    }
    let mut total: u64 = 0;
    for out in &tx.output {
        let v = out.value.to_sat();
        if v > i64::MAX as u64 {
            return Err(consensus("bad-txns-vout-negative"));
        }
        if v > MAX_MONEY {
            return Err(consensus("bad-txns-vout-toolarge"));
        }
        total = total.saturating_add(v);
        if total > MAX_MONEY {
            return Err(consensus("bad-txns-txouttotal-toolarge"));
        }
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    for i in &tx.input {
        if !seen.insert(i.previous_output) {
            return Err(consensus("bad-txns-inputs-duplicate"));
        }
    }
    if tx.is_coinbase() {
        let n = tx.input[0].script_sig.len();
        if !(2..=100).contains(&n) {
            return Err(consensus("bad-cb-length"));
        }
    } else {
        if tx.input.iter().any(|i| i.previous_output.is_null()) {
            return Err(consensus("bad-txns-prevout-null"));
        }
        // Qtum: an empty output (value 0 and empty script) is reserved for coinbase/coinstake.
        if tx
            .output
            .iter()
            .any(|o| o.value.to_sat() == 0 && o.script_pubkey.is_empty())
        {
            return Err(consensus("bad-txns-vout-empty"));
        }
    }
    // Qtum: an output that uses the contract opcodes must be a contract template. The harness runs
    // no EVM, so it cannot accept a contract output at all; it refuses every one (qtumd would
    // refuse the malformed ones with this reason and execute the well-formed ones).
    if tx
        .output
        .iter()
        .any(|o| has_contract_opcode(&o.script_pubkey))
    {
        return Err(consensus("bad-txns-contract-nonstandard"));
    }
    Ok(())
}

/// Bitcoin Core's `IsFinalTx`.
pub fn is_final_tx(tx: &Transaction, block_height: u32, block_time: u32) -> bool {
    let lt = tx.lock_time.to_consensus_u32();
    if lt == 0 {
        return true;
    }
    let limit = if lt < 500_000_000 {
        block_height
    } else {
        block_time
    };
    if lt < limit {
        return true;
    }
    tx.input.iter().all(|i| i.sequence.0 == 0xffff_ffff)
}

/// BIP 68 lock of one transaction: the last invalid height and time (Core's `-1` is `None`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SequenceLock {
    /// Highest height at which the transaction is still locked.
    pub min_height: Option<u32>,
    /// Highest median-time-past at which the transaction is still locked.
    pub min_time: Option<u64>,
}

impl SequenceLock {
    /// Core's `EvaluateSequenceLocks` for a block at `height` whose parent has `prev_mtp`.
    pub fn satisfied(&self, height: u32, prev_mtp: u32) -> bool {
        self.min_height.is_none_or(|h| h < height)
            && self.min_time.is_none_or(|t| t < u64::from(prev_mtp))
    }
}

/// Core's `CalculateSequenceLocks`. `coin_heights[i]` is the height of the coin input `i`
/// spends; `mtp_at(h)` is the median-time-past of the active block at height `h`.
pub fn sequence_locks(
    tx: &Transaction,
    coin_heights: &[u32],
    mtp_at: impl Fn(u32) -> u32,
) -> SequenceLock {
    let mut lock = SequenceLock::default();
    if tx.version.0 < 2 {
        return lock;
    }
    for (i, input) in tx.input.iter().enumerate() {
        let seq = input.sequence.0;
        if seq & (1 << 31) != 0 {
            continue;
        }
        let coin_height = coin_heights.get(i).copied().unwrap_or(0);
        if seq & (1 << 22) != 0 {
            let base = u64::from(mtp_at(coin_height.saturating_sub(1)));
            let t = base + (u64::from(seq & 0xffff) << 9);
            if t >= 1 {
                let t = t - 1;
                lock.min_time = Some(lock.min_time.map_or(t, |m| m.max(t)));
            }
        } else {
            let h = coin_height + (seq & 0xffff);
            if h >= 1 {
                let h = h - 1;
                lock.min_height = Some(lock.min_height.map_or(h, |m| m.max(h)));
            }
        }
    }
    lock
}

/// Core's `Consensus::CheckTxInputs`: maturity and amounts. Returns the fee.
pub fn check_tx_inputs(
    tx: &Transaction,
    coins: &[Coin],
    spend_height: u32,
) -> Result<u64, TxReject> {
    let mut value_in: u64 = 0;
    for coin in coins {
        if coin.is_coinbase && spend_height.saturating_sub(coin.height) < COINBASE_MATURITY {
            return Err(TxReject::with_debug(
                RejectKind::Consensus,
                "bad-txns-premature-spend-of-coinbase",
                format!(
                    "tried to spend coinbase at depth {}",
                    spend_height.saturating_sub(coin.height)
                ),
            ));
        }
        value_in = value_in.saturating_add(coin.output.value.to_sat());
        if coin.output.value.to_sat() > MAX_MONEY || value_in > MAX_MONEY {
            return Err(consensus("bad-txns-inputvalues-outofrange"));
        }
    }
    let value_out = tx
        .output
        .iter()
        .fold(0u64, |a, o| a.saturating_add(o.value.to_sat()));
    if value_in < value_out {
        return Err(TxReject::with_debug(
            RejectKind::Consensus,
            "bad-txns-in-belowout",
            format!(
                "value in ({}) < value out ({})",
                fmt_amount(value_in),
                fmt_amount(value_out)
            ),
        ));
    }
    let fee = value_in - value_out;
    if fee > MAX_MONEY {
        return Err(consensus("bad-txns-fee-outofrange"));
    }
    Ok(fee)
}

/// Core's `FormatMoney`: at least two decimals, trailing zeros past them removed.
pub fn fmt_amount(sat: u64) -> String {
    let s = format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000);
    let trimmed = s.trim_end_matches('0');
    let dot = trimmed.find('.').unwrap_or(trimmed.len());
    if trimmed.len() - dot < 3 {
        format!("{}{}", trimmed, "0".repeat(3 - (trimmed.len() - dot)))
    } else {
        trimmed.to_string()
    }
}

/// Core's `GetSigOpCount(fAccurate)`.
pub fn count_sigops(s: &Script, accurate: bool) -> u64 {
    let mut n = 0u64;
    let mut last: Option<u8> = None;
    for i in s.instructions() {
        let Ok(i) = i else { break };
        match i {
            Instruction::Op(op) => {
                let v = op.to_u8();
                match v {
                    0xac | 0xad => n += 1,
                    0xae | 0xaf => match last {
                        Some(l @ 0x51..=0x60) if accurate => n += u64::from(l - 0x50),
                        _ => n += 20,
                    },
                    _ => {}
                }
                last = Some(v);
            }
            Instruction::PushBytes(p) => {
                last = if p.is_empty() { Some(0) } else { None };
            }
        }
    }
    n
}

fn last_push(s: &Script) -> Option<Vec<u8>> {
    let mut last = None;
    for i in s.instructions() {
        match i.ok()? {
            Instruction::PushBytes(p) => last = Some(p.as_bytes().to_vec()),
            Instruction::Op(op) if op.to_u8() <= 0x60 => {
                last = Some(match op.to_u8() {
                    0x4f => vec![0x81],
                    v @ 0x51..=0x60 => vec![v - 0x50],
                    _ => vec![],
                })
            }
            Instruction::Op(_) => return None,
        }
    }
    last
}

/// The redeem script of a P2SH spend (last push of a push-only scriptSig).
pub fn p2sh_redeem_script(script_sig: &Script) -> Option<Vec<u8>> {
    last_push(script_sig)
}

fn witness_sigops(prevout: &Script, script_sig: &Script, witness: &bitcoin::Witness) -> u64 {
    let program_script;
    let spk: &Script = if prevout.is_p2sh() {
        match p2sh_redeem_script(script_sig) {
            Some(r) => {
                program_script = bitcoin::ScriptBuf::from_bytes(r);
                &program_script
            }
            None => return 0,
        }
    } else {
        prevout
    };
    match crate::script::witness_program(spk) {
        Some((0, p)) if p.len() == 20 => 1,
        Some((0, p)) if p.len() == 32 => witness
            .last()
            .map(|ws| count_sigops(Script::from_bytes(ws), true))
            .unwrap_or(0),
        _ => 0,
    }
}

/// Core's `GetTransactionSigOpCost`.
pub fn sigop_cost(tx: &Transaction, coins: &[Coin]) -> u64 {
    let mut legacy = 0;
    for i in &tx.input {
        legacy += count_sigops(&i.script_sig, false);
    }
    for o in &tx.output {
        legacy += count_sigops(&o.script_pubkey, false);
    }
    let mut cost = legacy * 4;
    if tx.is_coinbase() {
        return cost;
    }
    for (input, coin) in tx.input.iter().zip(coins) {
        let spk = &coin.output.script_pubkey;
        if spk.is_p2sh() {
            if let Some(r) = p2sh_redeem_script(&input.script_sig) {
                cost += count_sigops(Script::from_bytes(&r), true) * 4;
            }
        }
        cost += witness_sigops(spk, &input.script_sig, &input.witness);
    }
    cost
}

/// Virtual size with Core's sigop adjustment.
pub fn virtual_size(weight: u64, sigop_cost: u64) -> u64 {
    weight
        .max(sigop_cost * crate::params::BYTES_PER_SIGOP)
        .div_ceil(4)
}

/// Script verification flags of a block (all of Qtum regtest's soft forks are active).
pub const CONSENSUS_FLAGS: u32 =
    bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
/// Script verification flags of the mempool. libbitcoinconsensus only exposes the consensus
/// flags; the policy-only ones the harness enforces itself (see `policy`).
pub const STANDARD_FLAGS: u32 = CONSENSUS_FLAGS;

/// Verify every input's scripts with Bitcoin Core's interpreter.
pub fn verify_scripts(tx: &Transaction, coins: &[Coin], flags: u32) -> Result<(), TxReject> {
    let bytes = encode::serialize(tx);
    let scripts: Vec<Vec<u8>> = coins
        .iter()
        .map(|c| c.output.script_pubkey.to_bytes())
        .collect();
    let utxos: Vec<bitcoinconsensus::Utxo> = coins
        .iter()
        .zip(&scripts)
        .map(|(c, s)| bitcoinconsensus::Utxo {
            script_pubkey: s.as_ptr(),
            script_pubkey_len: s.len() as u32,
            value: c.output.value.to_sat() as i64,
        })
        .collect();
    for (i, coin) in coins.iter().enumerate() {
        let r = bitcoinconsensus::verify_with_flags(
            &scripts[i],
            coin.output.value.to_sat(),
            &bytes,
            Some(&utxos),
            i,
            flags,
        );
        if let Err(e) = r {
            let what = match e {
                bitcoinconsensus::Error::ERR_SCRIPT => {
                    // libbitcoinconsensus does not say which rule failed: ask the policy
                    // evaluator (consensus flags only) for Core's error text.
                    let mut cache = bitcoin::sighash::SighashCache::new(tx);
                    match crate::interp::check_input(tx, coins, i, &mut cache, false) {
                        crate::interp::Verdict::Consensus(e) => e.to_string(),
                        _ => "Script failed an evaluation check".to_string(),
                    }
                }
                other => other.to_string(),
            };
            return Err(TxReject::new(
                RejectKind::Consensus,
                &format!("mandatory-script-verify-flag-failed ({what})"),
            ));
        }
    }
    Ok(())
}

/// Outpoints a transaction spends.
pub fn prevouts(tx: &Transaction) -> impl Iterator<Item = &OutPoint> {
    tx.input.iter().map(|i| &i.previous_output)
}
