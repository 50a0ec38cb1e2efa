//! Sweeping channel outputs into the wallet on Qtum: LDK's sweeper, with a spender that never
//! builds a transaction Qtum would refuse, and the view of what is still to be swept.
//!
//! LDK's `KeysManager` spends what it is given: when the outputs cannot pay for a change
//! output above dust (39,200 sat for P2WPKH at Qtum's 400 sat/vB) it returns a transaction with
//! no outputs at all, which every node refuses (`bad-txns-vout-empty`), and the sweeper records
//! it as broadcast and tries again each block. On Qtum that is any lone `to_local` output below
//! about 88,000 sat, or `to_remote` below about 83,500, both above the 72,800-sat dust limit of
//! a commitment. [`QtumOutputSpender`] refuses such a spend instead: the outputs stay tracked
//! (LDK retries them at every sweep and batches everything pending into one transaction, so
//! they leave with the next output that becomes spendable), and [`PendingSweep`] reports their
//! value and what a sweep would need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use lightning::ln::types::ChannelId;
use lightning::sign::{KeysManager, OutputSpender, SpendableOutputDescriptor};
use lightning::util::sweep::{OutputSpendStatus, TrackedSpendableOutput};

/// Weight of a P2WPKH change output (8-byte value, 1-byte length, 22-byte script), in WU.
const CHANGE_OUTPUT_WEIGHT: u64 = 31 * 4;

/// Why a set of outputs was not swept at the last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shortfall {
    /// What the whole batch was worth.
    batch_sat: u64,
    /// What a valid sweep of that batch needs: its fee with a change output, plus the change
    /// output's dust threshold.
    needed_sat: u64,
    fee_rate_sat_per_kw: u32,
}

/// LDK's output spender (the keys manager) behind a check that the transaction is valid on
/// Qtum: at least one output, none below its dust threshold.
pub(crate) struct QtumOutputSpender {
    keys: Arc<KeysManager>,
    /// Outputs refused at the last attempt that included them.
    waiting: Mutex<HashMap<OutPoint, Shortfall>>,
}

impl QtumOutputSpender {
    pub(crate) fn new(keys: Arc<KeysManager>) -> QtumOutputSpender {
        QtumOutputSpender {
            keys,
            waiting: Mutex::new(HashMap::new()),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<OutPoint, Shortfall>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a sweep of `descriptors` alone needs at `feerate`: its fee with a change output to
    /// `change` and that output's dust threshold. `None` if LDK cannot build it at all.
    fn needed_sat(
        descriptors: &[&SpendableOutputDescriptor],
        change: &ScriptBuf,
        feerate: u32,
        secp: &Secp256k1<All>,
    ) -> Option<u64> {
        // At a zero rate every satoshi is change, so LDK's weight estimate includes the change
        // output whenever the batch is above dust; add it when it did not.
        let (psbt, weight) = SpendableOutputDescriptor::create_spendable_outputs_psbt(
            secp,
            descriptors,
            Vec::new(),
            change.clone(),
            0,
            None,
        )
        .ok()?;
        let weight = if psbt.unsigned_tx.output.is_empty() {
            weight + CHANGE_OUTPUT_WEIGHT
        } else {
            weight
        };
        let fee = (weight * u64::from(feerate)).div_ceil(1000);
        Some(fee + change.minimal_non_dust().to_sat())
    }

    /// The shortfall recorded for `outpoint` at the last attempt, if it was refused.
    fn shortfall(&self, outpoint: &OutPoint) -> Option<Shortfall> {
        self.waiting().get(outpoint).copied()
    }
}

fn value_of(descriptor: &SpendableOutputDescriptor) -> u64 {
    match descriptor {
        SpendableOutputDescriptor::StaticOutput { output, .. } => output.value.to_sat(),
        SpendableOutputDescriptor::DelayedPaymentOutput(d) => d.output.value.to_sat(),
        SpendableOutputDescriptor::StaticPaymentOutput(d) => d.output.value.to_sat(),
    }
}

pub(crate) fn outpoint_of(descriptor: &SpendableOutputDescriptor) -> OutPoint {
    match descriptor {
        SpendableOutputDescriptor::StaticOutput { outpoint, .. } => {
            outpoint.into_bitcoin_outpoint()
        }
        SpendableOutputDescriptor::DelayedPaymentOutput(d) => d.outpoint.into_bitcoin_outpoint(),
        SpendableOutputDescriptor::StaticPaymentOutput(d) => d.outpoint.into_bitcoin_outpoint(),
    }
}

/// Whether Qtum's relay policy takes a transaction with these outputs: at least one, and none
/// below its dust threshold (an `OP_RETURN` output is never dust).
fn outputs_are_standard(outputs: &[TxOut]) -> bool {
    !outputs.is_empty()
        && outputs.iter().all(|o| {
            o.script_pubkey.is_op_return() || o.value >= o.script_pubkey.minimal_non_dust()
        })
}

impl OutputSpender for QtumOutputSpender {
    fn spend_spendable_outputs(
        &self,
        descriptors: &[&SpendableOutputDescriptor],
        outputs: Vec<TxOut>,
        change_destination_script: ScriptBuf,
        feerate_sat_per_1000_weight: u32,
        locktime: Option<LockTime>,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Transaction, ()> {
        let feerate = feerate_sat_per_1000_weight.max(qtum_chain::fees::FEERATE_FLOOR_SAT_PER_KW);
        let built = SpendableOutputDescriptor::create_spendable_outputs_psbt(
            secp_ctx,
            descriptors,
            outputs,
            change_destination_script.clone(),
            feerate,
            locktime,
        );
        let psbt = match built {
            Ok((psbt, _)) if outputs_are_standard(&psbt.unsigned_tx.output) => psbt,
            _ => {
                let batch_sat: u64 = descriptors.iter().map(|d| value_of(d)).sum();
                let needed_sat =
                    Self::needed_sat(descriptors, &change_destination_script, feerate, secp_ctx)
                        .unwrap_or(u64::MAX);
                let shortfall = Shortfall {
                    batch_sat,
                    needed_sat,
                    fee_rate_sat_per_kw: feerate,
                };
                let mut waiting = self.waiting();
                let first_time = descriptors
                    .iter()
                    .any(|d| waiting.get(&outpoint_of(d)) != Some(&shortfall));
                for d in descriptors {
                    waiting.insert(outpoint_of(d), shortfall);
                }
                drop(waiting);
                if first_time {
                    log::warn!(
                        "not sweeping {} output(s) worth {batch_sat} sat: a sweep at {feerate} \
                         sat/kW needs {needed_sat} sat (fee plus a change output above dust); \
                         they wait for another output to be swept with",
                        descriptors.len()
                    );
                }
                return Err(());
            }
        };
        let psbt = self
            .keys
            .sign_spendable_outputs_psbt(descriptors, psbt, secp_ctx)?;
        let mut waiting = self.waiting();
        for d in descriptors {
            waiting.remove(&outpoint_of(d));
        }
        Ok(psbt.extract_tx_unchecked_fee_rate())
    }
}

/// An output of a closed channel on its way to the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PendingSweep {
    /// The channel it came from, when known.
    pub channel_id: Option<ChannelId>,
    /// The output.
    pub outpoint: OutPoint,
    /// Its value, in satoshi.
    pub value_sat: u64,
    /// Where it stands.
    pub status: SweepStatus,
}

/// Where a [`PendingSweep`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SweepStatus {
    /// Spendable and not swept yet: the next sweep (every 30 seconds) takes it.
    Pending,
    /// Too small to pay for a sweep. It stays here, counted in no balance, and leaves with the
    /// next output of a closed channel that becomes spendable.
    WaitingForFees {
        /// What it and the other outputs waiting with it are worth together, in satoshi.
        batch_sat: u64,
        /// What a valid sweep of them needs: its fee plus a change output above Qtum's dust
        /// threshold, in satoshi.
        needed_sat: u64,
        /// The rate the sweep was built at (Qtum's relay floor or the chain's estimate).
        fee_rate_sat_per_kw: u32,
    },
    /// Spent, not confirmed yet.
    Broadcast {
        /// The spending transaction.
        txid: Txid,
    },
    /// The spend confirmed (the wallet has the funds). It stays listed for LDK's 4,038-block
    /// prune delay (about 36 hours), so that a replayed channel event is recognised.
    Confirmed {
        /// The spending transaction.
        txid: Txid,
        /// Its block height.
        height: u32,
    },
}

impl QtumOutputSpender {
    /// The sweeper's tracked outputs, with why the unswept ones wait.
    pub(crate) fn describe(&self, tracked: Vec<TrackedSpendableOutput>) -> Vec<PendingSweep> {
        tracked
            .into_iter()
            .map(|t| {
                let outpoint = outpoint_of(&t.descriptor);
                let status = match &t.status {
                    OutputSpendStatus::PendingInitialBroadcast { .. } => {
                        match self.shortfall(&outpoint) {
                            Some(s) => SweepStatus::WaitingForFees {
                                batch_sat: s.batch_sat,
                                needed_sat: s.needed_sat,
                                fee_rate_sat_per_kw: s.fee_rate_sat_per_kw,
                            },
                            None => SweepStatus::Pending,
                        }
                    }
                    OutputSpendStatus::PendingFirstConfirmation {
                        latest_spending_tx, ..
                    } => SweepStatus::Broadcast {
                        txid: latest_spending_tx.compute_txid(),
                    },
                    OutputSpendStatus::PendingThresholdConfirmations {
                        latest_spending_tx,
                        confirmation_height,
                        ..
                    } => SweepStatus::Confirmed {
                        txid: latest_spending_tx.compute_txid(),
                        height: *confirmation_height,
                    },
                };
                PendingSweep {
                    channel_id: t.channel_id,
                    outpoint,
                    value_sat: value_of(&t.descriptor),
                    status,
                }
            })
            .collect()
    }
}

impl super::Node {
    /// Outputs of closed channels on their way to the on-chain wallet (our side of a force
    /// close once its delay has passed, HTLCs claimed on chain), with where each stands. An
    /// output too small to pay for its own sweep on Qtum stays here as
    /// [`SweepStatus::WaitingForFees`] until it can leave with another one; it is in no
    /// balance until then.
    pub fn pending_sweeps(&self) -> Vec<PendingSweep> {
        let inner = self.inner();
        inner
            .spender
            .describe(inner.sweeper.tracked_spendable_outputs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{Amount, Txid};
    use lightning::chain::transaction::OutPoint as LdkOutPoint;
    use lightning::sign::{
        ChannelSigner, NodeSigner, SignerProvider, StaticPaymentOutputDescriptor,
    };

    fn keys() -> Arc<KeysManager> {
        Arc::new(KeysManager::new(&[7u8; 32], 1, 2, true))
    }

    /// A `to_remote` output of `value` sat paying the keys manager's channel key.
    fn to_remote(keys: &KeysManager, value: u64, vout: u16) -> SpendableOutputDescriptor {
        let channel_keys_id = keys.generate_channel_keys_id(false, 42);
        let signer = keys.derive_channel_signer(channel_keys_id);
        let secp = Secp256k1::new();
        let pubkeys = signer.pubkeys(&secp);
        let script = bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::hash(
            &pubkeys.payment_point.serialize(),
        ));
        let _ = keys.get_node_id(lightning::sign::Recipient::Node);
        SpendableOutputDescriptor::StaticPaymentOutput(StaticPaymentOutputDescriptor {
            outpoint: LdkOutPoint {
                txid: Txid::from_byte_array([9u8; 32]),
                index: vout,
            },
            output: TxOut {
                value: Amount::from_sat(value),
                script_pubkey: script,
            },
            channel_keys_id,
            channel_value_satoshis: 10_000_000,
            channel_transaction_parameters: None,
        })
    }

    fn change() -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::hash(&[1u8; 33]))
    }

    #[test]
    fn an_output_too_small_for_its_sweep_is_kept_not_emptied() {
        let keys = keys();
        let secp = Secp256k1::new();
        let spender = QtumOutputSpender::new(keys.clone());
        // Just above a commitment's 72,800-sat dust limit: at the floor LDK alone would build
        // a transaction with no output.
        let small = to_remote(&keys, 80_000, 0);
        let floor = qtum_chain::fees::FEERATE_FLOOR_SAT_PER_KW;
        let unchecked = keys
            .spend_spendable_outputs(&[&small], Vec::new(), change(), floor, None, &secp)
            .expect("LDK builds it");
        assert!(unchecked.output.is_empty(), "LDK's own answer is empty");

        assert!(spender
            .spend_spendable_outputs(&[&small], Vec::new(), change(), floor, None, &secp)
            .is_err());
        let shortfall = spender.shortfall(&outpoint_of(&small)).expect("recorded");
        assert_eq!(shortfall.batch_sat, 80_000);
        assert!(shortfall.needed_sat > 80_000, "{shortfall:?}");
        assert_eq!(shortfall.fee_rate_sat_per_kw, floor);

        // With a second output the batch pays for itself, and the record is cleared.
        let other = to_remote(&keys, 200_000, 1);
        let tx = spender
            .spend_spendable_outputs(&[&small, &other], Vec::new(), change(), floor, None, &secp)
            .expect("batch swept");
        assert_eq!(tx.input.len(), 2);
        assert_eq!(tx.output.len(), 1);
        assert!(tx.output[0].value >= change().minimal_non_dust());
        let fee = 280_000 - tx.output[0].value.to_sat();
        assert!(
            fee * 1000 >= u64::from(floor) * tx.weight().to_wu(),
            "fee {fee}"
        );
        assert!(spender.shortfall(&outpoint_of(&small)).is_none());
    }

    #[test]
    fn the_needed_amount_is_the_threshold_of_a_valid_sweep() {
        let keys = keys();
        let secp = Secp256k1::new();
        let spender = QtumOutputSpender::new(keys.clone());
        let floor = qtum_chain::fees::FEERATE_FLOOR_SAT_PER_KW;
        let probe = to_remote(&keys, 80_000, 0);
        let needed =
            QtumOutputSpender::needed_sat(&[&probe], &change(), floor, &secp).expect("estimate");
        // One satoshi short is refused, the amount itself is swept with change above dust.
        let short = to_remote(&keys, needed - 1, 1);
        assert!(spender
            .spend_spendable_outputs(&[&short], Vec::new(), change(), floor, None, &secp)
            .is_err());
        let enough = to_remote(&keys, needed, 2);
        let tx = spender
            .spend_spendable_outputs(&[&enough], Vec::new(), change(), floor, None, &secp)
            .expect("swept");
        assert_eq!(tx.output.len(), 1);
        assert!(outputs_are_standard(&tx.output));
    }
}
