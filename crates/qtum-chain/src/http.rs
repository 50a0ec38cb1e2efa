//! What both sources share: endpoint failover with back-off, request counting, small encoders.
//!
//! Both sources speak HTTP through `minreq` (the client `esplora-client`'s blocking feature
//! already brings in), so the tree carries one small synchronous HTTP stack and no runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ChainError;

/// A request counter shared by a source and its per-endpoint clients.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter(Arc<AtomicU64>);

impl Counter {
    pub(crate) fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct Health {
    failures: u32,
    down_until: Option<Instant>,
}

#[derive(Debug)]
struct Slot<E> {
    endpoint: E,
    health: Mutex<Health>,
}

/// Several endpoints of one kind. A call goes to the first healthy endpoint; an endpoint fault
/// ([`ChainError::is_endpoint_fault`]) marks that endpoint down for a back-off that doubles with
/// each consecutive fault (capped at 32× the base) and the call moves on to the next one. When
/// every endpoint is marked down they are all tried anyway, soonest-to-recover first, so a
/// source never refuses to work just because of stale marks.
#[derive(Debug)]
pub(crate) struct Failover<E> {
    slots: Vec<Slot<E>>,
    retry_after: Duration,
}

/// The health of one endpoint, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    /// The endpoint, without credentials.
    pub endpoint: String,
    /// False while the endpoint sits out a back-off after a fault.
    pub healthy: bool,
    /// Consecutive faults so far.
    pub failures: u32,
}

impl<E> Failover<E> {
    pub(crate) fn new(endpoints: Vec<E>, retry_after: Duration) -> Failover<E> {
        let slots = endpoints
            .into_iter()
            .map(|endpoint| Slot {
                endpoint,
                health: Mutex::new(Health::default()),
            })
            .collect();
        Failover { slots, retry_after }
    }

    pub(crate) fn first(&self) -> Option<&E> {
        self.slots.first().map(|s| &s.endpoint)
    }

    pub(crate) fn health(&self, describe: impl Fn(&E) -> String) -> Vec<EndpointHealth> {
        let now = Instant::now();
        self.slots
            .iter()
            .map(|slot| {
                let health = lock(&slot.health);
                EndpointHealth {
                    endpoint: describe(&slot.endpoint),
                    healthy: health.down_until.is_none_or(|t| t <= now),
                    failures: health.failures,
                }
            })
            .collect()
    }

    /// Runs `call` against endpoints until one answers (an `Ok` or an error that is not an
    /// endpoint fault); returns the last fault when none does.
    pub(crate) fn run<T>(
        &self,
        describe: impl Fn(&E) -> String,
        mut call: impl FnMut(&E) -> Result<T, ChainError>,
    ) -> Result<T, ChainError> {
        let now = Instant::now();
        let mut healthy = Vec::new();
        let mut down = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            match lock(&slot.health).down_until {
                Some(until) if until > now => down.push((until, i)),
                _ => healthy.push(i),
            }
        }
        let order: Vec<usize> = if healthy.is_empty() {
            down.sort();
            down.into_iter().map(|(_, i)| i).collect()
        } else {
            healthy
        };
        let mut last = None;
        for i in order {
            let slot = &self.slots[i];
            match call(&slot.endpoint) {
                Err(e) if e.is_endpoint_fault() => {
                    let mut health = lock(&slot.health);
                    health.failures = health.failures.saturating_add(1);
                    let factor = 1u32 << health.failures.saturating_sub(1).min(5);
                    health.down_until = Some(Instant::now() + self.retry_after * factor);
                    log::warn!("chain endpoint {} failed: {e}", describe(&slot.endpoint));
                    last = Some(e);
                }
                answer => {
                    let mut health = lock(&slot.health);
                    if health.failures > 0 {
                        log::info!("chain endpoint {} is back", describe(&slot.endpoint));
                    }
                    *health = Health::default();
                    return answer;
                }
            }
        }
        Err(last.unwrap_or_else(|| ChainError::Unreachable("no endpoint configured".into())))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain health data behind: still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A URL without any `user:password@` part, for logs and `describe()`.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// `minreq` takes whole seconds; round up so a 500 ms timeout does not become "none".
pub(crate) fn timeout_secs(timeout: Duration) -> u64 {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    secs.max(1)
}

/// Standard base64 (RFC 4648, padded) for the HTTP basic-auth header: eleven lines instead of a
/// dependency.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Maps a transport error. The message never holds credentials: they travel in a header, and
/// `minreq`'s errors name neither the URL nor the headers.
pub(crate) fn transport_error(e: minreq::Error) -> ChainError {
    ChainError::Unreachable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact_url("http://u:secret@127.0.0.1:1/"),
            "http://127.0.0.1:1/"
        );
        assert_eq!(redact_url("http://127.0.0.1:1/"), "http://127.0.0.1:1/");
    }

    #[test]
    fn failover_skips_a_failed_endpoint_until_its_backoff_ends() {
        let f = Failover::new(vec!["a", "b"], Duration::from_secs(3600));
        let mut seen = Vec::new();
        let r = f.run(
            |e| e.to_string(),
            |e| {
                seen.push(*e);
                if *e == "a" {
                    Err(ChainError::Unreachable("down".into()))
                } else {
                    Ok(7)
                }
            },
        );
        assert_eq!(r, Ok(7));
        assert_eq!(seen, ["a", "b"]);
        seen.clear();
        let r = f.run(
            |e| e.to_string(),
            |e| {
                seen.push(*e);
                Ok(8)
            },
        );
        assert_eq!(r, Ok(8));
        assert_eq!(seen, ["b"], "a sits out its back-off");
        // A request error is an answer: no failover.
        let r: Result<(), _> = f.run(
            |e| e.to_string(),
            |_| {
                Err(ChainError::Source {
                    code: -5,
                    message: "No such transaction".into(),
                })
            },
        );
        assert!(matches!(r, Err(ChainError::Source { code: -5, .. })));
    }

    #[test]
    fn all_down_still_tries_everyone() {
        let f = Failover::new(vec!["a", "b"], Duration::from_secs(3600));
        let r: Result<(), _> = f.run(
            |e| e.to_string(),
            |_| Err(ChainError::Unreachable("down".into())),
        );
        assert!(r.is_err());
        let mut seen = Vec::new();
        let _: Result<(), _> = f.run(
            |e| e.to_string(),
            |e| {
                seen.push(*e);
                Err(ChainError::Unreachable("down".into()))
            },
        );
        assert_eq!(seen.len(), 2);
        assert!(f.health(|e| e.to_string()).iter().all(|h| !h.healthy));
    }
}
