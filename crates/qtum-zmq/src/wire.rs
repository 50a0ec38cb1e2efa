//! ZMTP 3.0 on the wire: the greeting, the NULL mechanism's READY command, frames.
//!
//! Greeting (64 bytes): `FF 00×8 7F`, version `03 00`, the mechanism name `NULL` padded to 20
//! bytes, the as-server flag, 31 bytes of filler. Then each side sends `READY` with its
//! `Socket-Type`. A frame is a flags byte (bit 0: more parts follow; bit 1: an 8-byte length
//! instead of 1 byte; bit 2: a command), the length (big-endian) and the body. A command's body
//! is a one-byte name length, the name, then the command's data.
//!
//! We greet as version 3.0: a 3.1 peer then takes our subscriptions in 3.0's form (a message
//! whose first byte is 1 to subscribe, 0 to cancel), and a publisher here accepts both forms.

use std::io::{Read, Write};

use crate::ZmqError;

const FLAG_MORE: u8 = 0x01;
const FLAG_LONG: u8 = 0x02;
const FLAG_COMMAND: u8 = 0x04;

/// The two socket types this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketType {
    Pub,
    Sub,
}

impl SocketType {
    fn name(self) -> &'static [u8] {
        match self {
            SocketType::Pub => b"PUB",
            SocketType::Sub => b"SUB",
        }
    }

    /// The peer types a socket of this type may talk to.
    fn accepts(self, peer: &[u8]) -> bool {
        match self {
            SocketType::Pub => peer == b"SUB" || peer == b"XSUB",
            SocketType::Sub => peer == b"PUB" || peer == b"XPUB",
        }
    }
}

/// One frame read.
#[derive(Debug)]
pub(crate) enum Frame {
    Message { more: bool, body: Vec<u8> },
    Command { name: Vec<u8>, body: Vec<u8> },
}

fn protocol(message: impl Into<String>) -> ZmqError {
    ZmqError::Protocol(message.into())
}

fn greeting(as_server: bool) -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 0;
    g[12..16].copy_from_slice(b"NULL");
    g[32] = u8::from(as_server);
    g
}

/// Both greetings and both READY commands; refuses a peer that is not ZMTP 3 with NULL security
/// or whose socket type cannot talk to ours.
pub(crate) fn handshake(
    stream: &mut (impl Read + Write),
    ours: SocketType,
    as_server: bool,
) -> Result<(), ZmqError> {
    stream.write_all(&greeting(as_server))?;
    let mut theirs = [0u8; 64];
    stream.read_exact(&mut theirs)?;
    if theirs[0] != 0xFF || theirs[9] & 1 != 1 {
        return Err(protocol("not a ZMTP peer"));
    }
    if theirs[10] < 3 {
        return Err(protocol(format!("ZMTP {}.x is too old", theirs[10])));
    }
    let mechanism = &theirs[12..32];
    let end = mechanism.iter().position(|&b| b == 0).unwrap_or(20);
    if &mechanism[..end] != b"NULL" {
        return Err(protocol(format!(
            "security mechanism {} (only NULL is spoken)",
            String::from_utf8_lossy(&mechanism[..end])
        )));
    }
    let mut ready = Vec::new();
    push_property(&mut ready, b"Socket-Type", ours.name());
    write_command(stream, b"READY", &ready)?;
    match read_frame(stream, None, 64 * 1024)? {
        Frame::Command { name, body } if name == b"READY" => {
            let peer = property(&body, b"Socket-Type")
                .ok_or_else(|| protocol("READY without a Socket-Type"))?;
            if !ours.accepts(&peer) {
                return Err(protocol(format!(
                    "a {} socket cannot talk to a {}",
                    String::from_utf8_lossy(ours.name()),
                    String::from_utf8_lossy(&peer)
                )));
            }
            Ok(())
        }
        Frame::Command { name, body } if name == b"ERROR" => Err(protocol(format!(
            "the peer refused: {}",
            String::from_utf8_lossy(body.get(1..).unwrap_or_default())
        ))),
        _ => Err(protocol("expected READY")),
    }
}

fn push_property(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// The value of property `wanted` in a READY body (names compare without case).
fn property(mut body: &[u8], wanted: &[u8]) -> Option<Vec<u8>> {
    while let Some((&len, rest)) = body.split_first() {
        let len = len as usize;
        if rest.len() < len + 4 {
            return None;
        }
        let (name, rest) = rest.split_at(len);
        let value_len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let rest = &rest[4..];
        if rest.len() < value_len {
            return None;
        }
        let (value, rest) = rest.split_at(value_len);
        if name.eq_ignore_ascii_case(wanted) {
            return Some(value.to_vec());
        }
        body = rest;
    }
    None
}

fn write_frame(stream: &mut impl Write, flags: u8, body: &[u8]) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(9);
    if body.len() > 255 {
        head.push(flags | FLAG_LONG);
        head.extend_from_slice(&(body.len() as u64).to_be_bytes());
    } else {
        head.push(flags);
        head.push(body.len() as u8);
    }
    stream.write_all(&head)?;
    stream.write_all(body)
}

pub(crate) fn write_command(
    stream: &mut impl Write,
    name: &[u8],
    data: &[u8],
) -> std::io::Result<()> {
    let mut body = Vec::with_capacity(1 + name.len() + data.len());
    body.push(name.len() as u8);
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    write_frame(stream, FLAG_COMMAND, &body)
}

/// A multi-part message.
pub(crate) fn write_message(stream: &mut impl Write, parts: &[&[u8]]) -> std::io::Result<()> {
    for (i, part) in parts.iter().enumerate() {
        let flags = if i + 1 < parts.len() { FLAG_MORE } else { 0 };
        write_frame(stream, flags, part)?;
    }
    stream.flush()
}

/// A subscription (or its cancellation) in ZMTP 3.0's form.
pub(crate) fn write_subscription(
    stream: &mut impl Write,
    subscribe: bool,
    topic: &[u8],
) -> std::io::Result<()> {
    let mut body = Vec::with_capacity(1 + topic.len());
    body.push(u8::from(subscribe));
    body.extend_from_slice(topic);
    write_frame(stream, 0, &body)?;
    stream.flush()
}

/// Answers a `PING` (its body after the 2-byte TTL is the context to echo).
pub(crate) fn write_pong(stream: &mut impl Write, ping: &[u8]) -> std::io::Result<()> {
    let context = ping.get(2..).unwrap_or_default();
    write_command(stream, b"PONG", &context[..context.len().min(16)])
}

/// Reads one frame; `flags` is its first byte when the caller has read it already. A frame
/// larger than `max` is refused before its body is read.
pub(crate) fn read_frame(
    stream: &mut impl Read,
    flags: Option<u8>,
    max: u64,
) -> Result<Frame, ZmqError> {
    let flags = match flags {
        Some(f) => f,
        None => {
            let mut b = [0u8; 1];
            stream.read_exact(&mut b)?;
            b[0]
        }
    };
    if flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) != 0 {
        return Err(protocol(format!("bad frame flags {flags:#04x}")));
    }
    let len = if flags & FLAG_LONG != 0 {
        let mut b = [0u8; 8];
        stream.read_exact(&mut b)?;
        u64::from_be_bytes(b)
    } else {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b)?;
        u64::from(b[0])
    };
    if len > max {
        return Err(protocol(format!("a frame of {len} bytes (at most {max})")));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body)?;
    if flags & FLAG_COMMAND != 0 {
        if flags & FLAG_MORE != 0 {
            return Err(protocol("a command frame with more parts"));
        }
        let (&name_len, rest) = body
            .split_first()
            .ok_or_else(|| protocol("an empty command"))?;
        let name_len = name_len as usize;
        if rest.len() < name_len {
            return Err(protocol("a command shorter than its name"));
        }
        let (name, data) = rest.split_at(name_len);
        return Ok(Frame::Command {
            name: name.to_vec(),
            body: data.to_vec(),
        });
    }
    Ok(Frame::Message {
        more: flags & FLAG_MORE != 0,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_short_and_long() {
        let mut out = Vec::new();
        write_message(&mut out, &[b"rawtx", &[7u8; 300], &5u32.to_le_bytes()]).unwrap();
        let mut r = &out[..];
        let parts: Vec<(bool, usize)> = (0..3)
            .map(|_| match read_frame(&mut r, None, MAX).unwrap() {
                Frame::Message { more, body } => (more, body.len()),
                Frame::Command { .. } => panic!("a command"),
            })
            .collect();
        assert_eq!(parts, vec![(true, 5), (true, 300), (false, 4)]);
        assert!(r.is_empty());
    }

    const MAX: u64 = 1 << 20;

    #[test]
    fn oversize_and_malformed_frames_are_refused() {
        // A long frame announcing 2^40 bytes is refused before any allocation.
        let mut huge = vec![FLAG_LONG];
        huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert!(matches!(
            read_frame(&mut &huge[..], None, MAX),
            Err(ZmqError::Protocol(_))
        ));
        assert!(read_frame(&mut &[0x80u8, 0][..], None, MAX).is_err());
        assert!(read_frame(&mut &[FLAG_COMMAND, 0][..], None, MAX).is_err());
        assert!(read_frame(&mut &[FLAG_COMMAND, 2, 5, b'R'][..], None, MAX).is_err());
        // Truncated: an I/O error, not a panic.
        assert!(read_frame(&mut &[0u8, 5, 1][..], None, MAX).is_err());
    }

    #[test]
    fn ready_properties() {
        let mut body = Vec::new();
        push_property(&mut body, b"Identity", b"");
        push_property(&mut body, b"Socket-Type", b"PUB");
        assert_eq!(
            property(&body, b"socket-type").as_deref(),
            Some(&b"PUB"[..])
        );
        assert_eq!(property(&body, b"Other"), None);
        assert_eq!(property(&body[..body.len() - 1], b"Socket-Type"), None);
    }
}
