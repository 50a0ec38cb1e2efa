//! The on-disk mode (`--datadir`): an append-only event log of the chain and a snapshot of the
//! mempool. Everything else (active chain, UTXO set, undo data, indexes, the wallet's coins) is
//! rebuilt on start by replaying the log through the same validation code.
//!
//! `chain.dat`: the magic `QTUMRTC1`, the regtest genesis hash (32 bytes), then records
//! `len: u32 LE | kind: u8 | payload (len bytes) | first 4 bytes of sha256d(kind || payload)`.
//! Kinds: 1 a block the chain connected (serialized block), 2 `invalidateblock` (hash),
//! 3 `reconsiderblock` (hash). Records are only appended; a record cut short by a crash at the
//! end of the file is dropped on start, any other damage is refused.
//!
//! `mempool.dat`: the magic `QTUMRTM1`, a count (u32 LE), then `time: u64 LE | len: u32 LE |
//! transaction` per entry in arrival order, then a 4-byte sha256d checksum of all that; it is
//! replaced atomically (written to `mempool.dat.tmp`, fsynced, renamed).
//!
//! `.lock` is held (an OS file lock) while a node uses the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bitcoin::consensus::encode;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{BlockHash, Transaction};
use qtum_primitives::QtumBlock;

const CHAIN_MAGIC: &[u8; 8] = b"QTUMRTC1";
const MEMPOOL_MAGIC: &[u8; 8] = b"QTUMRTM1";
const CHAIN_FILE: &str = "chain.dat";
const MEMPOOL_FILE: &str = "mempool.dat";
const LOCK_FILE: &str = ".lock";
/// Largest record accepted on reading (a block is at most 8 MB serialized with witness).
const MAX_RECORD: u32 = 64 * 1024 * 1024;

/// One change of the chain, as logged.
#[derive(Clone, Debug)]
pub enum Event {
    /// A block that was connected on top of the tip of the time.
    Block(QtumBlock),
    /// `invalidateblock`.
    Invalidate(BlockHash),
    /// `reconsiderblock`.
    Reconsider(BlockHash),
}

/// Why a data directory cannot be used.
#[derive(Debug)]
pub enum StoreError {
    /// An I/O error, with the path.
    Io(PathBuf, io::Error),
    /// Not a qtum-regtest data directory, or one for another chain.
    Foreign(String),
    /// The files are damaged.
    Corrupt(String),
    /// Another process holds the directory.
    Locked(PathBuf),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            StoreError::Foreign(s) => write!(f, "not a qtum-regtest data directory: {s}"),
            StoreError::Corrupt(s) => write!(f, "corrupt data directory: {s}"),
            StoreError::Locked(p) => write!(
                f,
                "{} is in use by another qtum-regtest process",
                p.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

fn checksum(parts: &[&[u8]]) -> [u8; 4] {
    let mut e = sha256d::Hash::engine();
    for p in parts {
        e.write_all(p).ok();
    }
    let h = sha256d::Hash::from_engine(e).to_byte_array();
    [h[0], h[1], h[2], h[3]]
}

/// An open data directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    chain: File,
    _lock: File,
    /// Records were written since the last fsync.
    dirty: bool,
    /// Mempool change counter last written to `mempool.dat`.
    pub mempool_written: u64,
}

/// What a data directory held.
pub struct Loaded {
    /// The open store.
    pub store: Store,
    /// The chain's events, oldest first.
    pub events: Vec<Event>,
    /// The mempool snapshot: (entry time, transaction), in arrival order.
    pub mempool: Vec<(u64, Transaction)>,
}

impl Store {
    /// Open (creating if needed) the data directory `dir` of the chain whose genesis is
    /// `genesis`.
    pub fn open(dir: &Path, genesis: BlockHash) -> Result<Loaded, StoreError> {
        let io_err = |p: &Path| {
            let p = p.to_path_buf();
            move |e| StoreError::Io(p, e)
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let chain_path = dir.join(CHAIN_FILE);
        if !chain_path.exists() {
            for qtumd in ["blocks", "chainstate", "regtest", "wallet.dat"] {
                if dir.join(qtumd).exists() {
                    return Err(StoreError::Foreign(format!(
                        "{} looks like a qtumd data directory ({qtumd} exists)",
                        dir.display()
                    )));
                }
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::Io(lock_path, e)),
        }
        let mut chain = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&chain_path)
            .map_err(io_err(&chain_path))?;
        let mut bytes = Vec::new();
        chain.read_to_end(&mut bytes).map_err(io_err(&chain_path))?;
        let name = chain_path.display().to_string();
        if bytes.is_empty() {
            let mut head = CHAIN_MAGIC.to_vec();
            head.extend_from_slice(genesis.as_byte_array());
            chain.write_all(&head).map_err(io_err(&chain_path))?;
            chain.sync_all().map_err(io_err(&chain_path))?;
            sync_dir(dir);
            bytes = head;
        }
        if bytes.len() < 8 || &bytes[..8] != CHAIN_MAGIC {
            return Err(StoreError::Foreign(format!("{name} has an unknown format")));
        }
        if bytes.len() < 40 {
            return Err(StoreError::Corrupt(format!("{name}: truncated header")));
        }
        if bytes[8..40] != genesis.as_byte_array()[..] {
            return Err(StoreError::Foreign(format!(
                "{name} belongs to a chain with another genesis block"
            )));
        }
        let (events, good_len) = parse_records(&bytes, &name)?;
        if good_len < bytes.len() {
            log::warn!(
                "{name}: dropping {} bytes of a record cut short at the end",
                bytes.len() - good_len
            );
            chain
                .set_len(good_len as u64)
                .map_err(io_err(&chain_path))?;
            chain.sync_all().map_err(io_err(&chain_path))?;
        }
        chain.seek(SeekFrom::End(0)).map_err(io_err(&chain_path))?;
        let mempool = read_mempool(&dir.join(MEMPOOL_FILE))?;
        Ok(Loaded {
            store: Store {
                dir: dir.to_path_buf(),
                chain,
                _lock: lock,
                dirty: false,
                mempool_written: 0,
            },
            events,
            mempool,
        })
    }

    /// Append an event (written now, fsynced by [`Store::sync`]).
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        let (kind, payload): (u8, Vec<u8>) = match event {
            Event::Block(b) => (1, encode::serialize(b)),
            Event::Invalidate(h) => (2, h.as_byte_array().to_vec()),
            Event::Reconsider(h) => (3, h.as_byte_array().to_vec()),
        };
        let len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
        let mut rec = Vec::with_capacity(payload.len() + 9);
        rec.extend_from_slice(&len.to_le_bytes());
        rec.push(kind);
        rec.extend_from_slice(&payload);
        rec.extend_from_slice(&checksum(&[&[kind], &payload]));
        self.dirty = true;
        self.chain.write_all(&rec)
    }

    /// Make the appended records durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            self.chain.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Replace the mempool snapshot atomically.
    pub fn write_mempool(&mut self, entries: &[(u64, &Transaction)]) -> io::Result<()> {
        let mut out = MEMPOOL_MAGIC.to_vec();
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (time, tx) in entries {
            let raw = encode::serialize(*tx);
            out.extend_from_slice(&time.to_le_bytes());
            out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            out.extend_from_slice(&raw);
        }
        let sum = checksum(&[&out]);
        out.extend_from_slice(&sum);
        let tmp = self.dir.join(format!("{MEMPOOL_FILE}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(MEMPOOL_FILE))?;
        sync_dir(&self.dir);
        Ok(())
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parse_records(bytes: &[u8], name: &str) -> Result<(Vec<Event>, usize), StoreError> {
    let mut events = Vec::new();
    let mut at = 40usize;
    loop {
        let rest = &bytes[at..];
        if rest.len() < 5 {
            // Nothing left, or a length cut short.
            return Ok((events, at));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if len > MAX_RECORD {
            return Err(StoreError::Corrupt(format!(
                "{name}: record {} at offset {at} claims {len} bytes",
                events.len()
            )));
        }
        let total = 5 + len as usize + 4;
        if rest.len() < total {
            return Ok((events, at));
        }
        let kind = rest[4];
        let payload = &rest[5..5 + len as usize];
        let sum = &rest[5 + len as usize..total];
        if checksum(&[&[kind], payload])[..] != sum[..] {
            return Err(StoreError::Corrupt(format!(
                "{name}: record {} at offset {at} fails its checksum",
                events.len()
            )));
        }
        let bad = |what: &str| {
            StoreError::Corrupt(format!(
                "{name}: record {} at offset {at}: {what}",
                events.len()
            ))
        };
        let event = match kind {
            1 => Event::Block(
                encode::deserialize::<QtumBlock>(payload).map_err(|_| bad("undecodable block"))?,
            ),
            2 | 3 => {
                let h: [u8; 32] = payload.try_into().map_err(|_| bad("bad block hash"))?;
                let h = BlockHash::from_byte_array(h);
                if kind == 2 {
                    Event::Invalidate(h)
                } else {
                    Event::Reconsider(h)
                }
            }
            k => return Err(bad(&format!("unknown record kind {k}"))),
        };
        events.push(event);
        at += total;
    }
}

fn read_mempool(path: &Path) -> Result<Vec<(u64, Transaction)>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Io(path.to_path_buf(), e)),
    };
    let name = path.display().to_string();
    let bad = |what: &str| StoreError::Corrupt(format!("{name}: {what}"));
    if bytes.len() < 16 || &bytes[..8] != MEMPOOL_MAGIC {
        return Err(bad("unknown format"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 4);
    if checksum(&[body])[..] != sum[..] {
        return Err(bad("checksum mismatch"));
    }
    let count = u32::from_le_bytes([body[8], body[9], body[10], body[11]]);
    let mut at = 12usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let head = body
            .get(at..at + 12)
            .ok_or_else(|| bad("truncated entry"))?;
        let mut t = [0u8; 8];
        t.copy_from_slice(&head[..8]);
        let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
        at += 12;
        let raw = at
            .checked_add(len)
            .and_then(|end| body.get(at..end))
            .ok_or_else(|| bad("truncated entry"))?;
        let tx = encode::deserialize::<Transaction>(raw).map_err(|_| bad("undecodable tx"))?;
        out.push((u64::from_le_bytes(t), tx));
        at += len;
    }
    Ok(out)
}
