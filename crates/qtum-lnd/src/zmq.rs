//! qtumd's ZMQ feed as a wake-up: each `rawblock` or `rawtx` notification asks for a chain sync
//! at once instead of at the next poll. The notification's content is not used: the sync reads
//! the chain from the configured source as always (and keeps polling every
//! `chain.poll_interval_secs`), so a publisher that lies, floods or goes away can only cause
//! extra or fewer early syncs, never a wrong view of the chain. Notifications arriving while a
//! sync runs are folded into one more sync.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use qtum_lightning::Node;

use crate::config::ZmqConfig;

/// A subscription made again after this long without a message (a publisher that died without
/// closing looks like a quiet one): 20 blocks' time.
const MAX_SILENCE: Duration = Duration::from_secs(640);

/// The feed's threads; they end when `stop` is set.
pub struct Feed {
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    /// Subscribes as configured (one connection per distinct endpoint) and starts the syncer.
    pub fn start(config: &ZmqConfig, node: Arc<Node>) -> std::io::Result<Option<Feed>> {
        let mut endpoints: Vec<(String, Vec<&'static str>)> = Vec::new();
        for (endpoint, topic) in [(&config.block, "rawblock"), (&config.tx, "rawtx")] {
            let Some(endpoint) = endpoint else { continue };
            match endpoints.iter_mut().find(|(e, _)| e == endpoint) {
                Some((_, topics)) => topics.push(topic),
                None => endpoints.push((endpoint.clone(), vec![topic])),
            }
        }
        if endpoints.is_empty() {
            return Ok(None);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let mut threads = Vec::new();
        {
            let stop = Arc::clone(&stop);
            threads.push(
                std::thread::Builder::new()
                    .name("qtum-lnd-zmq-sync".into())
                    .spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            match woken.recv_timeout(Duration::from_millis(250)) {
                                Ok(()) => {
                                    if let Err(e) = node.sync() {
                                        log::debug!("sync on a ZMQ notification: {e}");
                                    }
                                }
                                Err(mpsc::RecvTimeoutError::Timeout) => {}
                                Err(mpsc::RecvTimeoutError::Disconnected) => return,
                            }
                        }
                    })?,
            );
        }
        for (endpoint, topics) in endpoints {
            let (stop, wake) = (Arc::clone(&stop), wake.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("qtum-lnd-zmq".into())
                    .spawn(move || {
                        qtum_zmq::run_subscription(&endpoint, &topics, &stop, MAX_SILENCE, |m| {
                            log::trace!("ZMQ {} notification", m.topic_text());
                            match wake.try_send(()) {
                                Ok(()) | Err(TrySendError::Full(())) => {}
                                Err(TrySendError::Disconnected(())) => {}
                            }
                        })
                    })?,
            );
        }
        Ok(Some(Feed { threads, stop }))
    }

    /// Ends the subscriptions and the syncer.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
