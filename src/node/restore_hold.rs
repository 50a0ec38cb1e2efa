//! After a restore, no commitment of ours reaches the chain until the peer has confirmed that our
//! state is current.
//!
//! A restored backup may be stale, and a stale commitment is revoked: broadcasting it gives the
//! peer the whole channel. Our LDK patch covers the peer proving it on reconnection, but the
//! channel monitors can decide to broadcast before that (an HTLC of the old state timing out on
//! the first chain sync, which runs before peers are let in; a peer's error arriving before its
//! `channel_reestablish`). So every channel that comes back from a backup is *held*: the
//! broadcaster the monitors use drops any transaction spending a held funding output, until the
//! channel has been re-established with its peer and is usable again (which proves our state
//! current). A channel whose peer proves it stale stays held for good: the peer's commitment
//! pays us. The held set is kept in the node's store, so a crash does not forget it.
//!
//! The price: a restored channel whose peer never comes back cannot be force-closed by us (its
//! state may be revoked; we cannot know). `Node::force_close_channel` says so. And the proof is
//! the peer's word: a peer holding newer revocation secrets could answer our stale numbers as if
//! they were current and wait for us to broadcast. An honest peer (the normal case, and the
//! one the protocol's own data-loss protection also relies on) cannot be fooled this way.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use bitcoin::{OutPoint, Transaction};
use lightning::chain::chaininterface::BroadcasterInterface;
use lightning::util::persist::KVStoreSync;

use crate::io::sqlite_store::SqliteStore;
use crate::node::types::{ChannelManager, DynBroadcaster};

const NAMESPACE: &str = "qtumln_backup";
const HELD_KEY: &str = "held_funding";

/// The funding outputs of restored channels whose peer has not confirmed our state yet.
pub(crate) struct RestoreHold {
    held: Mutex<BTreeSet<OutPoint>>,
    store: Arc<SqliteStore>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn encode(set: &BTreeSet<OutPoint>) -> Vec<u8> {
    let mut out = Vec::with_capacity(set.len() * 36);
    for o in set {
        out.extend_from_slice(&bitcoin::consensus::serialize(o));
    }
    out
}

fn decode(bytes: &[u8]) -> BTreeSet<OutPoint> {
    bytes
        .chunks_exact(36)
        .filter_map(|c| bitcoin::consensus::deserialize(c).ok())
        .collect()
}

impl RestoreHold {
    /// The held set recorded in `store` (empty for a node never restored).
    pub(crate) fn load(store: Arc<SqliteStore>) -> RestoreHold {
        let held = store
            .read(NAMESPACE, "", HELD_KEY)
            .map(|b| decode(&b))
            .unwrap_or_default();
        RestoreHold {
            held: Mutex::new(held),
            store,
        }
    }

    fn save(&self, set: &BTreeSet<OutPoint>) -> Result<(), String> {
        self.store
            .write(NAMESPACE, "", HELD_KEY, encode(set))
            .map_err(|e| format!("cannot record the restored channels: {e}"))
    }

    /// Hold every one of `funding` (a restore), recorded before returning.
    pub(crate) fn hold(&self, funding: impl IntoIterator<Item = OutPoint>) -> Result<(), String> {
        let mut set = lock(&self.held);
        set.extend(funding);
        self.save(&set)
    }

    /// Whether `funding` is held.
    pub(crate) fn is_held(&self, funding: &OutPoint) -> bool {
        lock(&self.held).contains(funding)
    }

    /// How many open channels are held (a closed one stays held, but waits for nothing).
    pub(crate) fn open_held(&self, manager: &ChannelManager) -> usize {
        if lock(&self.held).is_empty() {
            return 0;
        }
        // LDK's channel locks are taken before ours, never inside it: LDK broadcasts (and so
        // asks `spends_held`) while holding them.
        let open: Vec<OutPoint> = manager
            .list_channels()
            .iter()
            .filter_map(|c| c.funding_txo.map(|o| o.into_bitcoin_outpoint()))
            .collect();
        let set = lock(&self.held);
        open.iter().filter(|o| set.contains(o)).count()
    }

    /// Release the channels that are usable again (re-established with their peer).
    pub(crate) fn release_confirmed(&self, manager: &ChannelManager) {
        if lock(&self.held).is_empty() {
            return;
        }
        // Outside our lock (see `open_held`).
        let usable: Vec<OutPoint> = manager
            .list_channels()
            .iter()
            .filter(|c| c.is_usable)
            .filter_map(|c| c.funding_txo.map(|o| o.into_bitcoin_outpoint()))
            .collect();
        let mut set = lock(&self.held);
        let confirmed: Vec<OutPoint> = usable.into_iter().filter(|o| set.contains(o)).collect();
        if confirmed.is_empty() {
            return;
        }
        for o in &confirmed {
            set.remove(o);
            log::info!("restored channel with funding {o} confirmed current by its peer");
        }
        if let Err(e) = self.save(&set) {
            // Kept held in the store: a restart holds them again until the next confirmation.
            log::warn!("{e}");
        }
    }

    fn spends_held(&self, tx: &Transaction) -> bool {
        // Only commitment transactions are held: BOLT 3 marks them with 0x80 in the top byte of
        // the input's sequence and 0x20 in the top byte of the lock time (the obscured
        // commitment number). A cooperative close (which the peer co-signed, so it proves
        // nothing stale) goes through.
        let commitment_shaped = tx.input.len() == 1
            && tx.input[0].sequence.0 >> 24 == 0x80
            && tx.lock_time.to_consensus_u32() >> 24 == 0x20;
        if !commitment_shaped {
            return false;
        }
        let set = lock(&self.held);
        set.contains(&tx.input[0].previous_output)
    }
}

/// The node's broadcaster, minus commitments of held channels.
pub(crate) struct HoldingBroadcaster {
    inner: Arc<DynBroadcaster>,
    hold: Arc<RestoreHold>,
}

impl HoldingBroadcaster {
    pub(crate) fn new(inner: Arc<DynBroadcaster>, hold: Arc<RestoreHold>) -> HoldingBroadcaster {
        HoldingBroadcaster { inner, hold }
    }
}

impl BroadcasterInterface for HoldingBroadcaster {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        let allowed: Vec<&Transaction> = txs
            .iter()
            .copied()
            .filter(|tx| {
                let held = self.hold.spends_held(tx);
                if held {
                    log::warn!(
                        "not broadcasting {}: it spends the funding of a channel restored from a \
                         backup whose peer has not confirmed our state (it may be revoked)",
                        tx.compute_txid()
                    );
                }
                !held
            })
            .collect();
        if !allowed.is_empty() {
            self.inner.broadcast_transactions(&allowed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    #[test]
    fn outpoints_round_trip() {
        let set: BTreeSet<OutPoint> = (0..3u8)
            .map(|i| OutPoint::new(bitcoin::Txid::from_byte_array([i; 32]), i as u32 * 7))
            .collect();
        assert_eq!(decode(&encode(&set)), set);
        assert!(decode(&[1, 2, 3]).is_empty());
    }
}

#[cfg(test)]
mod shape_tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{absolute::LockTime, transaction::Version, Sequence, TxIn, TxOut};

    fn tx(sequence: u32, lock_time: u32, funding: OutPoint) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(lock_time),
            input: vec![TxIn {
                previous_output: funding,
                sequence: Sequence(sequence),
                ..Default::default()
            }],
            output: vec![TxOut::NULL],
        }
    }

    #[test]
    fn only_commitments_of_held_channels_are_held() {
        let dir = std::env::temp_dir().join(format!("qtum-ln-hold-{}", std::process::id()));
        let db = crate::io::db::Db::open(&dir).expect("db");
        let journal = crate::io::journal::Journal::new(db.shared());
        let store = Arc::new(SqliteStore::new(db.shared(), journal, db.path()));
        let hold = RestoreHold::load(store.clone());
        let held = OutPoint::new(bitcoin::Txid::from_byte_array([1; 32]), 0);
        let other = OutPoint::new(bitcoin::Txid::from_byte_array([2; 32]), 0);
        hold.hold([held]).expect("hold");
        assert!(hold.spends_held(&tx(0x8000_1234, 0x2000_5678, held)));
        assert!(!hold.spends_held(&tx(0x8000_1234, 0x2000_5678, other)));
        // A cooperative close of the held channel goes through.
        assert!(!hold.spends_held(&tx(0xffff_ffff, 0, held)));
        // The set survives a reload.
        assert!(RestoreHold::load(store).is_held(&held));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
