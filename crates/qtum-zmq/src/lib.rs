//! ZeroMQ publish/subscribe over TCP for qtumd's notification feed (`-zmqpubrawblock`,
//! `-zmqpubrawtx`), written against the ZMTP 3.0 wire protocol (NULL security) so no C library
//! (libzmq) has to be built for a server or a phone.
//!
//! qtumd publishes each notification as a three-part message: the topic (`rawblock`, `rawtx`),
//! the serialized block or transaction, and a 4-byte little-endian sequence number per topic.
//! [`Subscriber`] reads such a feed; [`Publisher`] writes one (the regtest harness publishes with
//! it, so the daemon's use of the feed is tested end to end). Both are checked against libzmq
//! itself in this crate's tests.
//!
//! A feed is a hint, never evidence: a subscriber is told that something new exists and reads
//! the chain from its chain source as usual, so a lying or flooding publisher can at most cause
//! extra reads. Frames are capped at [`MAX_FRAME`]; a bigger one ends the connection.

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod wire;

use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wire::{Frame, SocketType};

/// The largest frame read: a block of qtumd's largest size, serialized, with room to spare.
pub const MAX_FRAME: u64 = 32 * 1024 * 1024;
/// How long the greeting and handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong with a feed.
#[derive(Debug)]
pub enum ZmqError {
    /// The endpoint is not `tcp://host:port` or does not resolve.
    Endpoint(String),
    /// The connection failed or closed.
    Io(std::io::Error),
    /// The peer broke the protocol (or is not a ZeroMQ publisher).
    Protocol(String),
}

impl std::fmt::Display for ZmqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZmqError::Endpoint(e) => write!(f, "bad endpoint: {e}"),
            ZmqError::Io(e) => write!(f, "connection: {e}"),
            ZmqError::Protocol(e) => write!(f, "protocol: {e}"),
        }
    }
}

impl std::error::Error for ZmqError {}

impl From<std::io::Error> for ZmqError {
    fn from(e: std::io::Error) -> Self {
        ZmqError::Io(e)
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The first part: `rawblock`, `rawtx`, ...
    pub topic: Vec<u8>,
    /// The parts after the topic (qtumd: the body, then the sequence number).
    pub parts: Vec<Vec<u8>>,
}

impl Message {
    /// The topic as text (lossy).
    pub fn topic_text(&self) -> String {
        String::from_utf8_lossy(&self.topic).into_owned()
    }

    /// qtumd's per-topic sequence number (the last part, 4 bytes little-endian), if present.
    pub fn sequence(&self) -> Option<u32> {
        let last = self.parts.last()?;
        let bytes: [u8; 4] = last.as_slice().try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    }
}

/// `tcp://host:port` to socket addresses.
pub fn resolve(endpoint: &str) -> Result<Vec<SocketAddr>, ZmqError> {
    let rest = endpoint
        .strip_prefix("tcp://")
        .ok_or_else(|| ZmqError::Endpoint(format!("{endpoint}: only tcp:// is supported")))?;
    let addrs: Vec<SocketAddr> = rest
        .to_socket_addrs()
        .map_err(|e| ZmqError::Endpoint(format!("{endpoint}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(ZmqError::Endpoint(format!("{endpoint}: no address")));
    }
    Ok(addrs)
}

/// A connected subscription.
pub struct Subscriber {
    stream: TcpStream,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Connects to `endpoint` and subscribes to `topics` (a topic matches messages whose first
    /// part starts with it; an empty topic matches all).
    pub fn connect(endpoint: &str, topics: &[&str]) -> Result<Subscriber, ZmqError> {
        let mut last = None;
        for addr in resolve(endpoint)? {
            match TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT) {
                Ok(stream) => {
                    let mut stream = stream;
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
                    stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
                    wire::handshake(&mut stream, SocketType::Sub, false)?;
                    for topic in topics {
                        wire::write_subscription(&mut stream, true, topic.as_bytes())?;
                    }
                    stream.set_read_timeout(None)?;
                    return Ok(Subscriber { stream });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(ZmqError::Io(
            last.unwrap_or_else(|| ErrorKind::NotFound.into()),
        ))
    }

    /// The next message, waiting at most `timeout` (`Ok(None)` when none came). A timeout in
    /// the middle of a message's parts waits on for the rest.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Message>, ZmqError> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut first = [0u8; 1];
        match self.stream.read(&mut first) {
            Ok(0) => return Err(ZmqError::Io(ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        }
        // The rest of a message comes without delay from a live publisher.
        self.stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let mut flags = Some(first[0]);
        let mut parts: Vec<Vec<u8>> = Vec::new();
        loop {
            let frame = wire::read_frame(&mut self.stream, flags.take(), MAX_FRAME)?;
            match frame {
                Frame::Command { name, body } => {
                    if name == b"PING" {
                        wire::write_pong(&mut self.stream, &body)?;
                    }
                    if parts.is_empty() {
                        // A command between messages: wait for the next message as asked.
                        return self.next(timeout);
                    }
                }
                Frame::Message { more, body } => {
                    parts.push(body);
                    if !more {
                        break;
                    }
                }
            }
        }
        let topic = parts.remove(0);
        Ok(Some(Message { topic, parts }))
    }
}

/// Runs a subscription until `stop`: connects (again after a failure, waiting 1 s doubling to
/// 30 s), and calls `on_message` for each message. A connection silent for `max_silence` is
/// made again (a publisher that died without closing looks exactly like a quiet one).
pub fn run_subscription(
    endpoint: &str,
    topics: &[&str],
    stop: &AtomicBool,
    max_silence: Duration,
    mut on_message: impl FnMut(Message),
) {
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::SeqCst) {
        match Subscriber::connect(endpoint, topics) {
            Ok(mut sub) => {
                log::info!("ZMQ: subscribed to {topics:?} at {endpoint}");
                backoff = Duration::from_secs(1);
                let mut last = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    match sub.next(Duration::from_millis(250)) {
                        Ok(Some(m)) => {
                            last = Instant::now();
                            on_message(m);
                        }
                        Ok(None) if last.elapsed() > max_silence => {
                            log::debug!("ZMQ: {endpoint} silent, reconnecting");
                            break;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            log::warn!("ZMQ: {endpoint}: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => log::warn!("ZMQ: cannot subscribe at {endpoint}: {e}"),
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

struct Peer {
    stream: TcpStream,
    topics: Arc<Mutex<Vec<Vec<u8>>>>,
    alive: Arc<AtomicBool>,
}

struct PubState {
    peers: Vec<Peer>,
    sequences: HashMap<Vec<u8>, u32>,
}

/// A publisher: accepts subscribers on a TCP port and sends them the messages they subscribed
/// to (a subscriber too slow to take a message within 5 s is dropped, as a PUB socket drops
/// messages for a full peer).
pub struct Publisher {
    addr: SocketAddr,
    state: Arc<Mutex<PubState>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("addr", &self.addr)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads a subscriber's subscriptions until it closes.
fn read_subscriptions(
    mut stream: TcpStream,
    topics: Arc<Mutex<Vec<Vec<u8>>>>,
    alive: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    while !stop.load(Ordering::SeqCst) && alive.load(Ordering::SeqCst) {
        let mut first = [0u8; 1];
        match stream.read(&mut first) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        }
        let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        // Subscriptions are short; a subscriber sending more than 64 KiB in a frame is cut off.
        let frame = match wire::read_frame(&mut stream, Some(first[0]), 64 * 1024) {
            Ok(f) => f,
            Err(_) => break,
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let (subscribe, topic) = match frame {
            // ZMTP 3.0: a message whose first byte says subscribe (1) or cancel (0).
            Frame::Message { body, .. } => match body.split_first() {
                Some((1, topic)) => (true, topic.to_vec()),
                Some((0, topic)) => (false, topic.to_vec()),
                _ => continue,
            },
            // ZMTP 3.1: SUBSCRIBE and CANCEL commands.
            Frame::Command { name, body } if name == b"SUBSCRIBE" => (true, body),
            Frame::Command { name, body } if name == b"CANCEL" => (false, body),
            Frame::Command { .. } => continue,
        };
        let mut list = lock(&topics);
        if subscribe {
            list.push(topic);
        } else if let Some(i) = list.iter().position(|t| *t == topic) {
            list.remove(i);
        }
    }
    alive.store(false, Ordering::SeqCst);
}

impl Publisher {
    /// Listens on `addr` (port 0: any free port).
    pub fn bind(addr: SocketAddr) -> Result<Publisher, ZmqError> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let state = Arc::new(Mutex::new(PubState {
            peers: Vec::new(),
            sequences: HashMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("zmq-pub-accept".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let mut stream = match listener.accept() {
                            Ok((s, _)) => s,
                            Err(_) => {
                                std::thread::sleep(Duration::from_millis(20));
                                continue;
                            }
                        };
                        let setup = stream
                            .set_nonblocking(false)
                            .and_then(|()| stream.set_nodelay(true))
                            .and_then(|()| stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)))
                            .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(5))));
                        if setup.is_err()
                            || wire::handshake(&mut stream, SocketType::Pub, true).is_err()
                        {
                            continue;
                        }
                        let Ok(reader) = stream.try_clone() else {
                            continue;
                        };
                        let topics = Arc::new(Mutex::new(Vec::new()));
                        let alive = Arc::new(AtomicBool::new(true));
                        let (t, a, s) =
                            (Arc::clone(&topics), Arc::clone(&alive), Arc::clone(&stop));
                        if std::thread::Builder::new()
                            .name("zmq-pub-peer".into())
                            .spawn(move || read_subscriptions(reader, t, a, s))
                            .is_err()
                        {
                            continue;
                        }
                        lock(&state).peers.push(Peer {
                            stream,
                            topics,
                            alive,
                        });
                    }
                })
                .map_err(ZmqError::Io)?
        };
        Ok(Publisher {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// Where subscribers connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp://addr`, for a subscriber's configuration.
    pub fn endpoint(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Subscribers connected (handshake done).
    pub fn subscribers(&self) -> usize {
        let mut state = lock(&self.state);
        state.peers.retain(|p| p.alive.load(Ordering::SeqCst));
        state.peers.len()
    }

    /// Sends `[topic, body, sequence]` as qtumd does to every subscriber of `topic`.
    pub fn publish(&self, topic: &str, body: &[u8]) {
        let mut state = lock(&self.state);
        let seq = state
            .sequences
            .entry(topic.as_bytes().to_vec())
            .or_insert(0);
        let sequence = *seq;
        *seq = seq.wrapping_add(1);
        state.peers.retain(|p| p.alive.load(Ordering::SeqCst));
        for peer in &mut state.peers {
            let wanted = lock(&peer.topics)
                .iter()
                .any(|t| topic.as_bytes().starts_with(t));
            if !wanted {
                continue;
            }
            let sent = wire::write_message(
                &mut peer.stream,
                &[topic.as_bytes(), body, &sequence.to_le_bytes()],
            );
            if sent.is_err() {
                peer.alive.store(false, Ordering::SeqCst);
            }
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for peer in &lock(&self.state).peers {
            peer.alive.store(false, Ordering::SeqCst);
            let _ = peer.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}
