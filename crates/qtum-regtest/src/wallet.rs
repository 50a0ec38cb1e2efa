//! The harness's own coinbase wallet: one deterministic P2WPKH key that receives the coinbases
//! the harness mines for itself and pays `fund_address` requests.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};

use crate::chain::{AcceptOptions, ChainState};
use crate::params::{COINBASE_MATURITY, MAX_MONEY};
use crate::validation::TxReject;

/// Fee rate of wallet payments: 1,000 sat/vB (2.5× the relay minimum, so they confirm first).
pub const WALLET_FEE_SAT_PER_VB: u64 = 1_000;

/// Why a payment from the harness wallet failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FundError {
    /// Amount is zero, dust or above MAX_MONEY.
    InvalidAmount,
    /// The wallet has no mature coin large enough.
    InsufficientFunds,
    /// The payment was refused by the mempool (e.g. a dust output or a non-standard script).
    Rejected(TxReject),
}

impl std::fmt::Display for FundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FundError::InvalidAmount => f.write_str("invalid amount"),
            FundError::InsufficientFunds => f.write_str("insufficient funds"),
            FundError::Rejected(r) => write!(f, "rejected: {r}"),
        }
    }
}

impl std::error::Error for FundError {}

/// The wallet key pair and script.
#[derive(Debug, Clone)]
pub struct Wallet {
    secret: SecretKey,
    public: CompressedPublicKey,
    script: ScriptBuf,
}

impl Default for Wallet {
    fn default() -> Self {
        Self::new()
    }
}

impl Wallet {
    /// The fixed wallet (its key is sha256("qtum-regtest harness wallet")).
    pub fn new() -> Self {
        let seed = sha256::Hash::hash(b"qtum-regtest harness wallet").to_byte_array();
        let secret = SecretKey::from_slice(&seed)
            .expect("a sha256 output is a valid key with overwhelming probability");
        let secp = Secp256k1::signing_only();
        let public = CompressedPublicKey(secret.public_key(&secp));
        let script = ScriptBuf::new_p2wpkh(&public.wpubkey_hash());
        Wallet {
            secret,
            public,
            script,
        }
    }

    /// The P2WPKH script the wallet's coinbases pay to.
    pub fn script_pubkey(&self) -> &ScriptBuf {
        &self.script
    }

    /// Spendable wallet coins: mature confirmed ones (oldest first, so that a payment stays
    /// valid across a shallow reorg), then the wallet's own unconfirmed change (so that several
    /// payments can be made between two blocks).
    fn spendable(&self, chain: &ChainState) -> Vec<(OutPoint, u64)> {
        let mut confirmed: Vec<(u32, OutPoint, u64)> = chain
            .address_utxos(&self.script)
            .into_iter()
            .filter(|(op, c)| {
                (!c.is_coinbase || chain.is_mature(c.height)) && chain.mempool.spender(op).is_none()
            })
            .map(|(op, c)| (c.height, op, c.output.value.to_sat()))
            .collect();
        confirmed.sort_by_key(|c| (c.0, c.1));
        let mut coins: Vec<(OutPoint, u64)> = confirmed.into_iter().map(|c| (c.1, c.2)).collect();
        for e in chain.mempool.entries() {
            for (n, out) in e.tx.output.iter().enumerate() {
                let op = OutPoint {
                    txid: e.txid,
                    vout: n as u32,
                };
                if out.script_pubkey == self.script && chain.mempool.spender(&op).is_none() {
                    coins.push((op, out.value.to_sat()));
                }
            }
        }
        coins
    }

    /// Mine to the wallet until one of its coinbases is spendable, if none is yet.
    pub fn ensure_mature_coin(
        &self,
        chain: &mut ChainState,
    ) -> Result<(), crate::chain::BlockReject> {
        if !self.spendable(chain).is_empty() {
            return Ok(());
        }
        for _ in 0..=COINBASE_MATURITY {
            chain.mine_block(&self.script, None)?;
        }
        Ok(())
    }

    /// Pay `amount_sat` to `script` from the wallet into the mempool. Returns the outpoint.
    pub fn pay(
        &self,
        chain: &mut ChainState,
        script: &ScriptBuf,
        amount_sat: u64,
    ) -> Result<OutPoint, FundError> {
        if amount_sat == 0 || amount_sat > MAX_MONEY {
            return Err(FundError::InvalidAmount);
        }
        let coins = self.spendable(chain);
        // One coinbase (20,000 QTUM) usually pays; add more coins only if needed.
        let mut selected = Vec::new();
        let mut total = 0u64;
        for c in coins {
            selected.push(c);
            total += c.1;
            if total > amount_sat + 1_000_000 {
                break;
            }
        }
        if total <= amount_sat {
            return Err(FundError::InsufficientFunds);
        }
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: selected
                .iter()
                .map(|(op, _)| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: vec![
                TxOut {
                    value: Amount::from_sat(amount_sat),
                    script_pubkey: script.clone(),
                },
                TxOut {
                    value: Amount::ZERO,
                    script_pubkey: self.script.clone(),
                },
            ],
        };
        // Sign once to learn the size, then set the change and sign again.
        self.sign(&mut tx, &selected);
        let fee = (tx.weight().to_wu().div_ceil(4) + 1) * WALLET_FEE_SAT_PER_VB;
        let change = total
            .checked_sub(amount_sat + fee)
            .ok_or(FundError::InsufficientFunds)?;
        if change < 100_000 {
            // Too small to be worth keeping (and maybe dust): leave it to the fee.
            tx.output.pop();
        } else {
            tx.output[1].value = Amount::from_sat(change);
        }
        self.sign(&mut tx, &selected);
        let txid = tx.compute_txid();
        chain
            .submit_to_mempool(&tx, AcceptOptions::default())
            .map_err(FundError::Rejected)?;
        Ok(OutPoint { txid, vout: 0 })
    }

    fn sign(&self, tx: &mut Transaction, inputs: &[(OutPoint, u64)]) {
        let secp = Secp256k1::signing_only();
        let mut sigs = Vec::with_capacity(inputs.len());
        {
            let mut cache = SighashCache::new(&*tx);
            for (i, (_, value)) in inputs.iter().enumerate() {
                let Ok(h) = cache.p2wpkh_signature_hash(
                    i,
                    &self.script,
                    Amount::from_sat(*value),
                    EcdsaSighashType::All,
                ) else {
                    continue;
                };
                let msg = Message::from_digest(h.to_byte_array());
                sigs.push(secp.sign_ecdsa(&msg, &self.secret));
            }
        }
        for (input, sig) in tx.input.iter_mut().zip(sigs) {
            let sig = bitcoin::ecdsa::Signature {
                signature: sig,
                sighash_type: EcdsaSighashType::All,
            };
            input.witness = Witness::p2wpkh(&sig, &self.public.0);
        }
    }
}
