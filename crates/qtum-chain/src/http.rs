//! What both sources share: the HTTP transport ([`HttpAgent`]), endpoint failover with back-off,
//! request counting, small encoders.
//!
//! Both sources speak HTTP through `ureq` (synchronous, no runtime, keep-alive). With the crate's
//! `https` feature it carries rustls (the `ring` provider): an endpoint trusts the webpki roots
//! (Mozilla's list, compiled in, so Android and iOS need no platform store) or, when its config
//! names a CA file, exactly the certificates in that PEM file (a private RPC proxy's CA).
//!
//! Why not `esplora-client`'s own blocking client: it runs on `minreq` 2, whose rustls config is
//! one process-wide static built from fixed roots, so no base URL could trust a private CA. The
//! Esplora source keeps `esplora-client`'s JSON types and sends its requests through here.

use std::path::Path;
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

/// `url` fit for logs, errors and `Debug`: credentials in the authority (`user:password@`, the
/// password may itself contain `@`) are dropped, and every query value and the fragment are
/// replaced by `***` (an API key often travels as `?key=...`). The scheme, host, port, path
/// and query keys stay, so a log still says which endpoint it is.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    // The authority ends at the first '/', '?' or '#'; its userinfo ends at its last '@'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (path_and_query, fragment) = match tail.find('#') {
        Some(i) => (&tail[..i], Some(())),
        None => (tail, None),
    };
    let mut out = format!("{scheme}{host}");
    match path_and_query.find('?') {
        Some(q) => {
            out.push_str(&path_and_query[..q]);
            out.push('?');
            let pairs: Vec<String> = path_and_query[q + 1..]
                .split('&')
                .map(|pair| match pair.find('=') {
                    Some(eq) => format!("{}=***", &pair[..eq]),
                    None if pair.is_empty() => String::new(),
                    None => "***".to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(path_and_query),
    }
    if fragment.is_some() {
        out.push_str("#***");
    }
    out
}

/// The largest response body read (a raw block, a page of script history): far above anything a
/// Qtum source sends, low enough that a broken server cannot exhaust memory.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// A status and a body.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body (at most 64 MiB read).
    pub body: Vec<u8>,
    /// The header fields (names in lowercase), for the few callers that read one.
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    /// The value of header `name` (any case), if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The HTTP client of one endpoint (or of one source's base URLs): timeouts, the TLS trust it was
/// configured with, and pooled keep-alive connections.
///
/// A configuration error (an unreadable or empty CA file, an `https://` URL without the `https`
/// feature) does not panic: it is kept and every request answers it, and the sources'
/// constructors report it up front through [`HttpAgent::config_error`].
pub struct HttpAgent {
    agent: ureq::Agent,
    config_error: Option<ChainError>,
}

impl core::fmt::Debug for HttpAgent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpAgent")
            .field("config_error", &self.config_error)
            .finish_non_exhaustive()
    }
}

impl HttpAgent {
    /// A client with `timeout` per request (connect, send and receive together) that trusts the
    /// certificates in `ca_file` (PEM) for `https://` URLs, or the webpki roots without one.
    pub fn new(timeout: Duration, ca_file: Option<&Path>) -> HttpAgent {
        let builder = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Statuses are answers the sources interpret (404 = unknown, 5xx = endpoint fault).
            .http_status_as_error(false)
            // No redirects: an RPC POST or a broadcast must reach the endpoint configured.
            .max_redirects(0)
            // Only the endpoints configured: no proxy picked up from the environment.
            .proxy(None)
            .user_agent(concat!("qtum-chain/", env!("CARGO_PKG_VERSION")));
        let (builder, config_error) = match tls(ca_file) {
            #[cfg(feature = "https")]
            Ok(config) => (builder.tls_config(config), None),
            #[cfg(not(feature = "https"))]
            Ok(()) => (builder, None),
            Err(e) => (builder, Some(e)),
        };
        HttpAgent {
            agent: builder.build().new_agent(),
            config_error,
        }
    }

    /// The configuration error every request would answer, if any.
    pub fn config_error(&self) -> Option<&ChainError> {
        self.config_error.as_ref()
    }

    /// Fails early, with a clear message, for a URL this build cannot reach.
    pub(crate) fn check_url(url: &str) -> Result<(), ChainError> {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("https://") {
            if cfg!(feature = "https") {
                Ok(())
            } else {
                Err(ChainError::Unsupported(format!(
                    "{} is https:// but qtum-chain was built without its `https` feature",
                    redact_url(url)
                )))
            }
        } else if lower.starts_with("http://") {
            Ok(())
        } else {
            Err(ChainError::Unsupported(format!(
                "{} is neither http:// nor https://",
                redact_url(url)
            )))
        }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<HttpResponse, ChainError> {
        self.get_with(url, &[])
    }

    /// `GET url` with `headers`.
    pub fn get_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, ChainError> {
        self.ready(url)?;
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.call().map_err(|e| transport_error(e, url))?;
        read(response, url)
    }

    /// `POST url` with `headers` and `body`.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse, ChainError> {
        self.ready(url)?;
        let mut request = self.agent.post(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send(body).map_err(|e| transport_error(e, url))?;
        read(response, url)
    }

    fn ready(&self, url: &str) -> Result<(), ChainError> {
        if let Some(e) = &self.config_error {
            return Err(e.clone());
        }
        // An https:// URL in a build without TLS is a fault of this endpoint's configuration:
        // failover moves on to the next endpoint.
        HttpAgent::check_url(url).map_err(|e| ChainError::Unreachable(e.to_string()))
    }
}

fn read(
    mut response: ureq::http::Response<ureq::Body>,
    url: &str,
) -> Result<HttpResponse, ChainError> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| transport_error(e, url))?;
    Ok(HttpResponse {
        status,
        body,
        headers,
    })
}

/// The TLS config for `ca_file`, or the default (webpki roots).
#[cfg(feature = "https")]
fn tls(ca_file: Option<&Path>) -> Result<ureq::tls::TlsConfig, ChainError> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};
    let builder = TlsConfig::builder().provider(TlsProvider::Rustls);
    let Some(path) = ca_file else {
        return Ok(builder.root_certs(RootCerts::WebPki).build());
    };
    let bad = |why: String| ChainError::Unsupported(format!("CA file {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(format!("not PEM: {e}")))? {
            PemItem::Certificate(cert) => certs.push(cert),
            _ => return Err(bad("holds something other than certificates".into())),
        }
    }
    if certs.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    Ok(builder
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

#[cfg(not(feature = "https"))]
fn tls(ca_file: Option<&Path>) -> Result<(), ChainError> {
    match ca_file {
        None => Ok(()),
        Some(path) => Err(ChainError::Unsupported(format!(
            "CA file {} given but qtum-chain was built without its `https` feature",
            path.display()
        ))),
    }
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
/// `ureq`'s errors name neither the URL nor the headers. A refused certificate (unknown issuer,
/// a name that does not match, expired) says "TLS" so an operator sees it is not a dead server.
fn transport_error(e: ureq::Error, url: &str) -> ChainError {
    let https = url
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("https://");
    let message = match &e {
        // rustls reports handshake failures as `InvalidData` I/O errors wrapping its own error
        // ("invalid peer certificate: UnknownIssuer", "... NotValidForName ...").
        ureq::Error::Io(io)
            if https && io.kind() == std::io::ErrorKind::InvalidData && io.get_ref().is_some() =>
        {
            let hint = if io.to_string().contains("UnknownIssuer") {
                " (the certificate's issuer is not trusted: give the endpoint the CA's PEM file)"
            } else {
                ""
            };
            format!("TLS handshake with {} failed: {io}{hint}", redact_url(url))
        }
        ureq::Error::Tls(why) => format!("TLS: {why}"),
        #[cfg(feature = "https")]
        ureq::Error::Rustls(why) => format!("TLS: {why}"),
        other => other.to_string(),
    };
    ChainError::Unreachable(message)
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
        // A password containing '@' (and '/' would end the authority, so it must be encoded).
        assert_eq!(
            redact_url("https://user:p@ss@w0rd@node.example:443/api"),
            "https://node.example:443/api"
        );
        assert_eq!(redact_url("http://u:pw@h"), "http://h");
        // '@' in the path or the query is not userinfo.
        assert_eq!(redact_url("http://h:1/a@b?x=1"), "http://h:1/a@b?x=***");
    }

    #[test]
    fn redacts_query_values_and_fragments() {
        assert_eq!(
            redact_url("https://esplora.example/api?key=SECRETKEY&v=2"),
            "https://esplora.example/api?key=***&v=***"
        );
        assert_eq!(
            redact_url("https://h/api?SECRETTOKEN#frag"),
            "https://h/api?***#***"
        );
        for url in [
            "https://a:SECRET@h/p?k=SECRET#SECRET",
            "http://SECRET@h?SECRET",
            "SECRET@h/x?t=SECRET",
        ] {
            assert!(!redact_url(url).contains("SECRET"), "{url}");
        }
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
    fn urls_are_checked_against_the_build() {
        assert!(HttpAgent::check_url("http://127.0.0.1:1").is_ok());
        assert!(matches!(
            HttpAgent::check_url("ftp://127.0.0.1:1"),
            Err(ChainError::Unsupported(_))
        ));
        let https = HttpAgent::check_url("https://u:secret@example.org/api");
        if cfg!(feature = "https") {
            assert!(https.is_ok());
        } else {
            match https {
                Err(ChainError::Unsupported(m)) => {
                    assert!(
                        m.contains("`https` feature") && !m.contains("secret"),
                        "{m}"
                    )
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[cfg(not(feature = "https"))]
    #[test]
    fn a_ca_file_without_the_https_feature_is_a_config_error() {
        let agent = HttpAgent::new(Duration::from_secs(1), Some(Path::new("/ca.pem")));
        assert!(matches!(
            agent.config_error(),
            Some(ChainError::Unsupported(m)) if m.contains("`https` feature")
        ));
        assert!(agent.get("http://127.0.0.1:1/").is_err());
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
