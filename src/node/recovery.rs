//! Getting channel funds back without any backup: the seed, the peers' force closes, and a scan
//! of the chain.
//!
//! A node restored from its mnemonic alone has its on-chain wallet (the wallet scans its
//! scripts from the birthday) but no channel state. What the protocol still allows:
//!
//! 1. *The peer closes.* When a peer that still has a channel with us connects, it sends
//!    `channel_reestablish` for a channel we do not know; LDK answers with the data-loss
//!    `channel_reestablish` (commitment numbers 0), and the peer force-closes with its latest
//!    commitment. Nothing of ours is involved: connecting to the peer is enough.
//! 2. *We recognise our output in it.* Our node derives the key of every channel's `to_remote`
//!    output (`option_static_remotekey`: the peer's commitment pays it directly, no delay) from
//!    one of 1,000 keys of the seed (`KeysManager` built with LDK's v2 remote-key derivation,
//!    which this SDK always uses). While recovery is on, the node looks for outputs paying any
//!    of these 1,000 P2WPKH scripts from the wallet's birthday on, and hands each unspent one to
//!    the sweeper, which brings it to the wallet like any output of a closed channel.
//!
//! What cannot come back this way: amounts in HTLCs of the peer's commitment (pending
//! payments: only the lost state could claim them), a balance too small to appear in the
//! commitment (below the channel's dust limit), channels whose peer never comes back or never
//! closes, and channels opened by software that pays `to_remote` to a per-channel key.
//!
//! The scan asks the chain source for 1,000 scripts: an index (Esplora, `-addrindex`) answers
//! with one request per script, so the background scan runs at most every
//! [`BACKGROUND_SCAN_INTERVAL`]; [`crate::Node::sync`] scans at once. A block-scanning RPC source
//! scans from a cursor that moves forward and stays [`SCAN_SAFETY_MARGIN`] blocks behind the tip.
//! Recovery stays on (across restarts) until the app turns it off.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::{OutPoint, ScriptBuf, WPubkeyHash};
use lightning::sign::{
    ChannelSigner, KeysManager, SignerProvider, SpendableOutputDescriptor,
    StaticPaymentOutputDescriptor,
};
use lightning::util::persist::KVStoreSync;
use qtum_chain::rpc::SCAN_SAFETY_MARGIN;
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::event::Event;
use crate::io::sqlite_store::SqliteStore;
use crate::node::sweep::outpoint_of;
use crate::node::NodeInner;

const NAMESPACE: &str = "qtumln_recovery";
const STATE_KEY: &str = "state";
/// How often the background sync repeats the scan (an indexed source answers 1,000 requests).
pub(crate) const BACKGROUND_SCAN_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// How many channel-key identifiers are tried to find the one whose `to_remote` key is a given
/// one of the 1,000 (each try hits a given key with probability 1/1,000: the chance of missing
/// it is about e^-60).
const MAX_KEY_SEARCH: u64 = 60_000;
/// Marks the channel-key identifiers the recovery makes up (they never name a real channel).
const KEYS_ID_TAG: &[u8; 16] = b"qtum-ln recovery";

/// Where a recovery without backup stands. See `docs/backup.md`, "Recovery without a backup".
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ChannelRecovery {
    /// The height the scan started from (the wallet's birthday, or 0).
    pub from_height: u32,
    /// Every block up to this height has been scanned (`None`: not yet).
    pub scanned_to_height: Option<u32>,
    /// Outputs of peers' force closes that pay this node, found so far. Each is handed to the
    /// sweeper: `Node::pending_sweeps` shows it until it is in the wallet.
    pub found: Vec<RecoveredOutput>,
    /// Their total, in satoshi (before the sweep's fee).
    pub found_sat: u64,
    /// What this recovery can and cannot bring back, in words for the app to show.
    pub notice: String,
}

/// An output of a peer's force close paying this node, found by a recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RecoveredOutput {
    /// The output (its transaction is the peer's commitment).
    pub outpoint: OutPoint,
    /// Its value, in satoshi.
    pub amount_sat: u64,
    /// The height of the block that confirmed the commitment.
    pub height: u32,
}

/// What the app is told, whatever has been found.
pub(crate) const NOTICE: &str = "Restored without a channel backup. The on-chain wallet comes \
back from the seed. Channel balances come back only when a peer force-closes: connect to every \
node this wallet had channels with (its LSP, its peers); each answers by closing, and this \
node's share of the peer's latest state reaches the wallet once the close confirms. Not \
recoverable this way: payments that were pending in a channel, a balance below the channel's \
dust limit, and channels whose peer never returns.";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    from_height: u32,
    /// Next height a block scan starts from.
    cursor: u32,
    scanned_to: Option<u32>,
    /// Found outputs: `txid:vout` → (value, height).
    found: BTreeMap<String, (u64, u32)>,
}

pub(crate) struct Recovery {
    store: Arc<SqliteStore>,
    keys: Arc<KeysManager>,
    state: Mutex<Option<State>>,
    /// The 1,000 `to_remote` scripts (derived on first use).
    scripts: OnceLock<Vec<ScriptBuf>>,
    last_scan: Mutex<Option<Instant>>,
    /// Why the last scan failed, if it did (for the node's status).
    last_error: Mutex<Option<String>>,
    /// One scan at a time.
    scanning: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recovery {
    /// The recovery recorded in `store`, if one is on.
    pub(crate) fn load(store: Arc<SqliteStore>, keys: Arc<KeysManager>) -> Recovery {
        let state = store
            .read(NAMESPACE, "", STATE_KEY)
            .ok()
            .and_then(|b| serde_json::from_slice::<State>(&b).ok());
        Recovery {
            store,
            keys,
            state: Mutex::new(state),
            scripts: OnceLock::new(),
            last_scan: Mutex::new(None),
            last_error: Mutex::new(None),
            scanning: Mutex::new(()),
        }
    }

    fn save(&self, state: Option<&State>) -> Result<(), NodeError> {
        let result = match state {
            Some(s) => {
                let bytes = serde_json::to_vec(s)
                    .map_err(|e| NodeError::Persistence(format!("recovery state: {e}")))?;
                self.store.write(NAMESPACE, "", STATE_KEY, bytes)
            }
            None => self.store.remove(NAMESPACE, "", STATE_KEY, false),
        };
        result.map_err(|e| NodeError::Persistence(format!("cannot record the recovery: {e}")))
    }

    pub(crate) fn is_on(&self) -> bool {
        lock(&self.state).is_some()
    }

    /// Turn recovery on from `from_height` (kept if it is on already).
    pub(crate) fn start(&self, from_height: u32) -> Result<(), NodeError> {
        let mut state = lock(&self.state);
        if state.is_some() {
            return Ok(());
        }
        let fresh = State {
            from_height,
            cursor: from_height,
            ..State::default()
        };
        self.save(Some(&fresh))?;
        *state = Some(fresh);
        *lock(&self.last_scan) = None;
        Ok(())
    }

    /// Turn recovery off. Outputs already found stay with the sweeper.
    pub(crate) fn stop(&self) -> Result<(), NodeError> {
        let _scan = lock(&self.scanning);
        let mut state = lock(&self.state);
        self.save(None)?;
        *state = None;
        Ok(())
    }

    pub(crate) fn report(&self) -> Option<ChannelRecovery> {
        let state = lock(&self.state);
        let s = state.as_ref()?;
        let found: Vec<RecoveredOutput> = s
            .found
            .iter()
            .filter_map(|(outpoint, (amount_sat, height))| {
                Some(RecoveredOutput {
                    outpoint: outpoint.parse().ok()?,
                    amount_sat: *amount_sat,
                    height: *height,
                })
            })
            .collect();
        Some(ChannelRecovery {
            from_height: s.from_height,
            scanned_to_height: s.scanned_to,
            found_sat: found.iter().map(|f| f.amount_sat).sum(),
            found,
            notice: NOTICE.to_owned(),
        })
    }

    fn scripts(&self) -> &[ScriptBuf] {
        self.scripts.get_or_init(|| {
            let secp = Secp256k1::new();
            // LDK lists the `to_remote` scripts of its 1,000 keys, each twice: even entries
            // are the `option_static_remotekey` P2WPKH scripts, odd ones those of anchor
            // channels, which Qtum's channels do not use.
            self.keys
                .possible_v2_counterparty_closed_balance_spks(&secp)
                .into_iter()
                .step_by(2)
                .filter(|script| script.is_p2wpkh())
                .collect()
        })
    }

    /// Why the last scan failed, while recovery is on and it has not succeeded since.
    pub(crate) fn degraded_reason(&self) -> Option<String> {
        if !self.is_on() {
            return None;
        }
        lock(&self.last_error)
            .as_ref()
            .map(|e| format!("recovery scan: {e}"))
    }

    /// Look for new outputs paying this node's `to_remote` keys and hand them to the sweeper.
    /// Without `force`, at most every [`BACKGROUND_SCAN_INTERVAL`]. A failure is kept for the
    /// node's status until a scan succeeds.
    pub(crate) fn scan(&self, inner: &NodeInner, force: bool) -> Result<(), NodeError> {
        if !self.is_on() {
            return Ok(());
        }
        {
            let last = lock(&self.last_scan);
            if !force && last.is_some_and(|t| t.elapsed() < BACKGROUND_SCAN_INTERVAL) {
                return Ok(());
            }
        }
        let result = self.scan_once(inner);
        // A failed scan waits for the next interval too (a source failing half-way through
        // 1,000 requests is not asked again at every sync).
        *lock(&self.last_scan) = Some(Instant::now());
        *lock(&self.last_error) = result.as_ref().err().map(|e| e.to_string());
        result
    }

    fn scan_once(&self, inner: &NodeInner) -> Result<(), NodeError> {
        let _scan = lock(&self.scanning);
        let Some(mut state) = lock(&self.state).clone() else {
            return Ok(());
        };
        let chain = inner.onchain.chain_source();
        let tip = chain.tip().map_err(chain_error)?;
        let scripts = self.scripts();
        let ours: HashSet<&ScriptBuf> = scripts.iter().collect();
        let answer = chain
            .scripts_history_from(scripts, state.cursor)
            .map_err(chain_error)?;
        let mut candidates: Vec<(bitcoin::Txid, u32)> = answer
            .histories
            .iter()
            .flatten()
            // Only confirmed closes: an unconfirmed commitment may still lose to another.
            .filter_map(|e| e.height.map(|h| (e.txid, h)))
            .collect();
        candidates.sort();
        candidates.dedup();
        // Closes of channels this node still has a monitor for are the monitor's to claim (with
        // the channel's real key identifier); outputs the sweeper has already are left alone. A
        // second descriptor for the same output would put it twice into one sweep, which no
        // node accepts.
        let monitored: HashSet<OutPoint> = inner
            .chain_monitor
            .list_monitors()
            .into_iter()
            .filter_map(|id| inner.chain_monitor.get_monitor(id).ok())
            .map(|m| m.get_funding_txo().into_bitcoin_outpoint())
            .collect();
        // Each tracked output, and whether a recovery gave it to the sweeper (a scan that
        // stopped half-way: it is recorded again, not tracked again).
        let tracked: HashMap<OutPoint, bool> = inner
            .sweeper
            .tracked_spendable_outputs()
            .iter()
            .map(|o| (outpoint_of(&o.descriptor), is_ours(&o.descriptor)))
            .collect();
        log::debug!(
            "recovery: {} confirmed transaction(s) pay our keys from height {} (tip {})",
            candidates.len(),
            state.cursor,
            tip.height
        );
        for (txid, height) in candidates {
            let Some(tx) = chain.transaction(&txid).map_err(chain_error)? else {
                continue;
            };
            if tx
                .input
                .iter()
                .any(|i| monitored.contains(&i.previous_output))
            {
                continue;
            }
            for (vout, output) in tx.output.iter().enumerate() {
                if !ours.contains(&output.script_pubkey) {
                    continue;
                }
                let outpoint = OutPoint::new(txid, vout as u32);
                if state.found.contains_key(&outpoint.to_string()) {
                    continue;
                }
                match tracked.get(&outpoint) {
                    // The monitor's (a channel this node knows).
                    Some(false) => continue,
                    // Ours, from a scan that did not finish.
                    Some(true) => {}
                    None => {
                        if let Some(spend) = chain.outspend(&outpoint).map_err(chain_error)? {
                            log::info!(
                                "recovery: {outpoint} pays one of our keys but is spent by {}",
                                spend.txid
                            );
                            continue;
                        }
                        let Some(keys_id) = keys_id_for(&self.keys, &output.script_pubkey) else {
                            log::warn!("recovery: no channel key found for {outpoint}");
                            continue;
                        };
                        let descriptor = SpendableOutputDescriptor::StaticPaymentOutput(
                            StaticPaymentOutputDescriptor {
                                outpoint: lightning::chain::transaction::OutPoint {
                                    txid,
                                    index: vout as u16,
                                },
                                output: output.clone(),
                                channel_keys_id: keys_id,
                                channel_value_satoshis: output.value.to_sat(),
                                channel_transaction_parameters: None,
                            },
                        );
                        // The sweeper records it before we do: a crash in between finds it
                        // again, tracked already.
                        inner
                            .sweeper
                            .track_spendable_outputs(vec![descriptor], None, false, None)
                            .map_err(|()| {
                                NodeError::Persistence(
                                    "the sweeper could not record a found output".into(),
                                )
                            })?;
                    }
                }
                log::info!(
                    "recovery: found {} sat of a peer's force close at {outpoint}",
                    output.value.to_sat()
                );
                // The event too is queued before the state records the output: a crash in
                // between finds the output again, and the queue drops a repeated event.
                inner
                    .events
                    .push(Event::ChannelFundsRecovered {
                        outpoint,
                        amount_sat: output.value.to_sat(),
                    })
                    .map_err(|e| {
                        NodeError::Persistence(format!("cannot record the recovery event: {e}"))
                    })?;
                state
                    .found
                    .insert(outpoint.to_string(), (output.value.to_sat(), height));
            }
        }
        let covered = match answer.scanned_to {
            // An index answered the whole history.
            None => tip.height,
            Some(h) => h.min(tip.height),
        };
        state.scanned_to = Some(covered);
        // The last blocks may still be reorganised: scanned again next time.
        state.cursor = covered
            .saturating_add(1)
            .min(
                tip.height
                    .saturating_add(1)
                    .saturating_sub(SCAN_SAFETY_MARGIN),
            )
            .max(state.from_height);
        // `stop` waits for the scan (`scanning`), so recovery is still on here.
        self.save(Some(&state))?;
        *lock(&self.state) = Some(state);
        Ok(())
    }
}

/// A channel-key identifier whose signer's `to_remote` key pays `script`: LDK picks the key
/// from the identifier, so one is searched for (deterministically: the same output always gets
/// the same identifier).
fn keys_id_for(keys: &KeysManager, script: &ScriptBuf) -> Option<[u8; 32]> {
    let secp = Secp256k1::new();
    for n in 0..MAX_KEY_SEARCH {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&n.to_be_bytes());
        id[8..24].copy_from_slice(KEYS_ID_TAG);
        let signer = keys.derive_channel_signer(id);
        let point = signer.pubkeys(&secp).payment_point;
        if p2wpkh(&point) == *script {
            return Some(id);
        }
    }
    None
}

/// Whether a recovery made `descriptor` (its key identifier carries [`KEYS_ID_TAG`]).
fn is_ours(descriptor: &SpendableOutputDescriptor) -> bool {
    matches!(descriptor, SpendableOutputDescriptor::StaticPaymentOutput(d)
        if d.channel_keys_id[8..24] == KEYS_ID_TAG[..])
}

fn chain_error(e: qtum_chain::ChainError) -> NodeError {
    NodeError::ChainSource(format!("recovery scan: {e}"))
}

fn p2wpkh(key: &PublicKey) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(&key.serialize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::sighash::{EcdsaSighashType, SighashCache};
    use bitcoin::{Amount, TxOut, Txid};
    use lightning::sign::OutputSpender;

    /// Keys found for the first, a middle and the last of LDK's 1,000 scripts sign a spend of
    /// an output paying that script, and the same search gives the same identifier again.
    #[test]
    fn the_key_of_any_listed_script_is_found_and_spends_it() {
        let keys = KeysManager::new(&[9u8; 32], 1, 2, true);
        let secp = Secp256k1::new();
        let scripts: Vec<ScriptBuf> = keys
            .possible_v2_counterparty_closed_balance_spks(&secp)
            .into_iter()
            .step_by(2)
            .collect();
        assert_eq!(scripts.len(), 1000);
        assert!(scripts.iter().all(|s| s.is_p2wpkh()));
        for (i, script) in [(0, &scripts[0]), (499, &scripts[499]), (999, &scripts[999])] {
            let id = keys_id_for(&keys, script).expect("a key identifier");
            assert_eq!(keys_id_for(&keys, script), Some(id), "script {i}");
            let output = TxOut {
                value: Amount::from_sat(500_000),
                script_pubkey: script.clone(),
            };
            let descriptor =
                SpendableOutputDescriptor::StaticPaymentOutput(StaticPaymentOutputDescriptor {
                    outpoint: lightning::chain::transaction::OutPoint {
                        txid: Txid::from_byte_array([i as u8; 32]),
                        index: 1,
                    },
                    output: output.clone(),
                    channel_keys_id: id,
                    channel_value_satoshis: 500_000,
                    channel_transaction_parameters: None,
                });
            assert!(is_ours(&descriptor));
            let change = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([1; 20]));
            let tx = keys
                .spend_spendable_outputs(&[&descriptor], Vec::new(), change, 100_000, None, &secp)
                .expect("the found key signs");
            let witness = &tx.input[0].witness;
            let key = PublicKey::from_slice(witness.nth(1).expect("a key")).expect("a key");
            assert_eq!(p2wpkh(&key), *script, "script {i}");
            let sig = witness.nth(0).expect("a signature");
            let (der, hash_type) = sig.split_at(sig.len() - 1);
            assert_eq!(hash_type, [EcdsaSighashType::All as u8]);
            let sighash = SighashCache::new(&tx)
                .p2wpkh_signature_hash(0, script, output.value, EcdsaSighashType::All)
                .expect("sighash");
            let message = bitcoin::secp256k1::Message::from_digest(sighash.to_byte_array());
            let signature =
                bitcoin::secp256k1::ecdsa::Signature::from_der(der).expect("a DER signature");
            secp.verify_ecdsa(&message, &signature, &key)
                .expect("the signature verifies");
        }
    }
}
