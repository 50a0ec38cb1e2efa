//! A served connection: plain TCP, or TLS (feature `tls`) over TCP.
//!
//! The TLS side is driven by hand rather than through `rustls::StreamOwned` so that every
//! socket read and write keeps the worker's short timeouts: the handshake, a read and the
//! final flush of an answer all end at the connection's deadline or when the server stops.

#[cfg(feature = "tls")]
use std::io::ErrorKind;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::AtomicBool;
#[cfg(feature = "tls")]
use std::sync::atomic::Ordering;
use std::time::Instant;

#[cfg(feature = "tls")]
use std::time::Duration;

/// One accepted connection.
pub(crate) enum Conn {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsConn>),
}

#[cfg(feature = "tls")]
pub(crate) struct TlsConn {
    tls: rustls::ServerConnection,
    tcp: TcpStream,
}

#[cfg(feature = "tls")]
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

#[cfg(feature = "tls")]
impl TlsConn {
    pub(crate) fn new(tls: rustls::ServerConnection, tcp: TcpStream) -> TlsConn {
        TlsConn { tls, tcp }
    }

    /// Writes what rustls has queued until it is all out, the deadline passes or the server
    /// stops.
    fn flush_tls(&mut self, deadline: Instant, stop: &AtomicBool) -> io::Result<()> {
        while self.tls.wants_write() {
            if stop.load(Ordering::SeqCst) {
                return Err(ErrorKind::Interrupted.into());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ErrorKind::TimedOut.into());
            }
            let wait = (deadline - now).clamp(Duration::from_millis(1), Duration::from_millis(100));
            self.tcp.set_write_timeout(Some(wait))?;
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads TLS records from the socket and decrypts them; `Ok(false)` at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        match self.tls.read_tls(&mut self.tcp)? {
            0 => Ok(false),
            _ => {
                self.tls
                    .process_new_packets()
                    .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
                Ok(true)
            }
        }
    }
}

impl Conn {
    /// The TCP socket under the connection (for timeouts and shutdown).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            #[cfg(feature = "tls")]
            Conn::Tls(t) => &t.tcp,
        }
    }

    /// Completes the TLS handshake before `deadline` (nothing to do for plain TCP).
    pub(crate) fn handshake(&mut self, deadline: Instant, stop: &AtomicBool) -> io::Result<()> {
        let _ = (deadline, stop);
        #[cfg(feature = "tls")]
        if let Conn::Tls(t) = self {
            while t.tls.is_handshaking() {
                if t.tls.wants_write() {
                    t.flush_tls(deadline, stop)?;
                    continue;
                }
                if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                    return Err(ErrorKind::TimedOut.into());
                }
                let wait = (deadline - Instant::now())
                    .clamp(Duration::from_millis(1), Duration::from_millis(100));
                t.tcp.set_read_timeout(Some(wait))?;
                match t.fill() {
                    Ok(true) => {}
                    Ok(false) => return Err(ErrorKind::UnexpectedEof.into()),
                    Err(e) if is_timeout(&e) => {}
                    Err(e) => {
                        // Send the alert that says why, as far as the deadline allows.
                        let _ = t.flush_tls(deadline, stop);
                        return Err(e);
                    }
                }
            }
            t.flush_tls(deadline, stop)?;
        }
        Ok(())
    }

    /// Sends whatever is still queued before `deadline` (TLS records; nothing for plain TCP).
    pub(crate) fn flush_before(&mut self, deadline: Instant, stop: &AtomicBool) -> Result<(), ()> {
        let _ = (deadline, stop);
        #[cfg(feature = "tls")]
        if let Conn::Tls(t) = self {
            return t.flush_tls(deadline, stop).map_err(|_| ());
        }
        Ok(())
    }

    /// Tells a TLS client the connection ends (a `close_notify` alert).
    pub(crate) fn close_notify(&mut self, deadline: Instant, stop: &AtomicBool) {
        let _ = (deadline, stop);
        #[cfg(feature = "tls")]
        if let Conn::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.flush_tls(deadline, stop);
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(t) => loop {
                match t.tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        // Nothing decrypted yet: read more records (the socket's timeout
                        // applies), answering what the peer asked for (key updates).
                        if !t.fill()? {
                            return Ok(0);
                        }
                        if t.tls.wants_write() {
                            let _ = t.tls.write_tls(&mut t.tcp);
                        }
                    }
                    Err(e) => return Err(e),
                }
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(t) => {
                // rustls queues at most its buffer limit; the caller's loop sends the rest.
                let n = t.tls.writer().write(buf)?;
                while t.tls.wants_write() {
                    match t.tls.write_tls(&mut t.tcp) {
                        Ok(0) => return Err(ErrorKind::WriteZero.into()),
                        Ok(_) => {}
                        Err(e) if n > 0 && is_timeout(&e) => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Conn::Tls(_) => Ok(()),
        }
    }
}
