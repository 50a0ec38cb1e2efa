//! The encrypted backup file: one consistent copy of the node's database, sealed with a key
//! derived from the seed.
//!
//! Layout (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `QTUMLNBK` |
//! | 1 | format version (1) |
//! | 1 | network (0 mainnet, 1 testnet, 2 regtest) |
//! | 33 | node id (compressed public key) |
//! | 8 | creation time (Unix seconds) |
//! | 4 | schema version of the node's tables in the copy |
//! | 12 | nonce (random) |
//! | n + 16 | the SQLite database, ChaCha20-Poly1305 with the 67 bytes above as associated data |
//!
//! The header is in clear so that a wrong file is refused with a precise reason (another
//! network, another node, a newer format) before any decryption; the AEAD tag covers it, so a
//! changed header is refused as damaged. The key is HMAC-SHA256 over the node's LDK seed with a
//! fixed label: the mnemonic alone opens the file, and no other key of the node is reused for it.

use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use bitcoin::hex::{DisplayHex, FromHex};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroizing;

use crate::qtum::network::Network;

/// First bytes of every backup file.
pub const MAGIC: &[u8; 8] = b"QTUMLNBK";
/// The format this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 1 + 33 + 8 + 4 + 12;
const TAG_LEN: usize = 16;
/// What every SQLite database file starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const KEY_LABEL: &[u8] = b"qtum-lightning backup encryption key v1";

/// Why a backup file cannot be used. None of these changes anything on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupFileError {
    /// Not a backup of this SDK (wrong magic, too short).
    NotABackup(String),
    /// A backup format newer than this build reads.
    UnsupportedFormat(u8),
    /// Made for another network.
    WrongNetwork {
        /// The file's network.
        file: String,
        /// This node's network.
        ours: String,
    },
    /// Made by another node (another seed or passphrase).
    WrongNode {
        /// The file's node id.
        file: String,
        /// This seed's node id.
        ours: String,
    },
    /// The header names this node but the contents do not decrypt: the file was changed or
    /// damaged (or the passphrase differs in a way the node id does not show).
    Damaged(String),
}

impl std::fmt::Display for BackupFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupFileError::NotABackup(w) => write!(f, "not a Qtum Lightning backup: {w}"),
            BackupFileError::UnsupportedFormat(v) => write!(
                f,
                "backup format {v} is newer than this SDK reads (up to {FORMAT_VERSION})"
            ),
            BackupFileError::WrongNetwork { file, ours } => {
                write!(f, "the backup is of a {file} node; this node is on {ours}")
            }
            BackupFileError::WrongNode { file, ours } => write!(
                f,
                "the backup is of node {file}; this seed is node {ours} (another mnemonic or \
                 passphrase)"
            ),
            BackupFileError::Damaged(w) => write!(f, "the backup is damaged: {w}"),
        }
    }
}

impl std::error::Error for BackupFileError {}

/// What the clear header of a backup says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupHeader {
    /// The network of the node.
    pub network: Network,
    /// Hex of the node's public key.
    pub node_id: String,
    /// When the copy was taken (Unix seconds).
    pub created_at: u64,
    /// Schema version of the node's tables in the copy.
    pub schema_version: u32,
}

/// The key that seals a node's backups. Wiped from memory when dropped; never printed.
#[derive(Clone)]
pub struct BackupKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey(..)")
    }
}

impl BackupKey {
    /// The backup key of the node whose LDK seed is `ldk_seed`.
    pub fn derive(ldk_seed: &[u8; 32]) -> BackupKey {
        let mut engine = hmac::HmacEngine::<sha256::Hash>::new(KEY_LABEL);
        engine.input(ldk_seed);
        let mac = hmac::Hmac::<sha256::Hash>::from_engine(engine);
        BackupKey(Zeroizing::new(mac.to_byte_array()))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0[..]))
    }
}

fn network_code(n: Network) -> u8 {
    match n {
        Network::Mainnet => 0,
        Network::Testnet => 1,
        Network::Regtest => 2,
    }
}

fn network_of(code: u8) -> Option<Network> {
    match code {
        0 => Some(Network::Mainnet),
        1 => Some(Network::Testnet),
        2 => Some(Network::Regtest),
        _ => None,
    }
}

/// Seal `database` (the bytes of an SQLite file) into a backup file's bytes.
pub fn seal(
    key: &BackupKey,
    header: &BackupHeader,
    nonce: [u8; 12],
    database: &[u8],
) -> Result<Vec<u8>, BackupFileError> {
    let node_id = Vec::<u8>::from_hex(&header.node_id)
        .ok()
        .filter(|b| b.len() == 33)
        .ok_or_else(|| BackupFileError::NotABackup("the node id is not a public key".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + database.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.push(network_code(header.network));
    out.extend_from_slice(&node_id);
    out.extend_from_slice(&header.created_at.to_be_bytes());
    out.extend_from_slice(&header.schema_version.to_be_bytes());
    out.extend_from_slice(&nonce);
    debug_assert_eq!(out.len(), HEADER_LEN);
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: database,
                aad: &out,
            },
        )
        .map_err(|_| BackupFileError::Damaged("cannot encrypt".into()))?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Read the clear header of a backup file.
pub fn read_header(file: &[u8]) -> Result<BackupHeader, BackupFileError> {
    if file.len() < MAGIC.len() || &file[..MAGIC.len()] != MAGIC {
        return Err(BackupFileError::NotABackup(
            "it does not start with the backup marker".into(),
        ));
    }
    if file.len() < 9 {
        return Err(BackupFileError::NotABackup("the file is truncated".into()));
    }
    if file[8] != FORMAT_VERSION {
        return Err(BackupFileError::UnsupportedFormat(file[8]));
    }
    if file.len() < HEADER_LEN + TAG_LEN {
        return Err(BackupFileError::NotABackup("the file is truncated".into()));
    }
    let network = network_of(file[9])
        .ok_or_else(|| BackupFileError::Damaged(format!("unknown network code {}", file[9])))?;
    let node_id = file[10..43].to_lower_hex_string();
    let created_at = u64::from_be_bytes(file[43..51].try_into().unwrap_or([0; 8]));
    let schema_version = u32::from_be_bytes(file[51..55].try_into().unwrap_or([0; 4]));
    Ok(BackupHeader {
        network,
        node_id,
        created_at,
        schema_version,
    })
}

/// Check that `file` is a backup of node `node_id` on `network` and return its database bytes.
pub fn open(
    key: &BackupKey,
    file: &[u8],
    network: Network,
    node_id: &str,
) -> Result<(BackupHeader, Zeroizing<Vec<u8>>), BackupFileError> {
    let header = read_header(file)?;
    if header.network != network {
        return Err(BackupFileError::WrongNetwork {
            file: header.network.as_str().into(),
            ours: network.as_str().into(),
        });
    }
    if header.node_id != node_id {
        return Err(BackupFileError::WrongNode {
            file: header.node_id,
            ours: node_id.into(),
        });
    }
    let nonce = &file[HEADER_LEN - 12..HEADER_LEN];
    let database = key
        .cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &file[HEADER_LEN..],
                aad: &file[..HEADER_LEN],
            },
        )
        .map_err(|_| {
            BackupFileError::Damaged("its contents do not match its authentication tag".into())
        })?;
    let database = Zeroizing::new(database);
    if database.len() < SQLITE_MAGIC.len() || &database[..SQLITE_MAGIC.len()] != SQLITE_MAGIC {
        return Err(BackupFileError::Damaged(
            "the contents are not a node database".into(),
        ));
    }
    Ok((header, database))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn database() -> Vec<u8> {
        let mut db = SQLITE_MAGIC.to_vec();
        db.extend((0..5000u32).map(|i| (i % 251) as u8));
        db
    }

    fn header() -> BackupHeader {
        BackupHeader {
            network: Network::Regtest,
            node_id: NODE.into(),
            created_at: 1_800_000_000,
            schema_version: 4,
        }
    }

    #[test]
    fn a_sealed_database_opens_with_the_same_seed_only() {
        let key = BackupKey::derive(&[7; 32]);
        let file = seal(&key, &header(), [1; 12], &database()).expect("seal");
        let (h, db) = open(&key, &file, Network::Regtest, NODE).expect("open");
        assert_eq!(h, header());
        assert_eq!(&db[..], &database()[..]);
        // The clear text of the database is not in the file.
        assert!(!file.windows(16).any(|w| w == SQLITE_MAGIC));

        let other = BackupKey::derive(&[8; 32]);
        let err = open(&other, &file, Network::Regtest, NODE).expect_err("other seed");
        assert!(matches!(err, BackupFileError::Damaged(_)), "{err}");
    }

    #[test]
    fn every_changed_byte_is_refused() {
        let key = BackupKey::derive(&[7; 32]);
        let file = seal(&key, &header(), [1; 12], &database()).expect("seal");
        for i in (0..file.len())
            .step_by(97)
            .chain([0, 8, 9, 10, 50, 54, 60, file.len() - 1])
        {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(
                open(&key, &bad, Network::Regtest, NODE).is_err(),
                "byte {i} changed and still opened"
            );
        }
        for len in [0, 7, 8, 9, 60, HEADER_LEN + TAG_LEN - 1, file.len() - 1] {
            assert!(
                open(&key, &file[..len], Network::Regtest, NODE).is_err(),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn the_header_says_why_a_file_does_not_fit() {
        let key = BackupKey::derive(&[7; 32]);
        let file = seal(&key, &header(), [1; 12], &database()).expect("seal");
        assert!(matches!(
            open(&key, &file, Network::Mainnet, NODE),
            Err(BackupFileError::WrongNetwork { .. })
        ));
        let other = format!("03{}", &NODE[2..]);
        assert!(matches!(
            open(&key, &file, Network::Regtest, &other),
            Err(BackupFileError::WrongNode { .. })
        ));
        let mut newer = file.clone();
        newer[8] = FORMAT_VERSION + 1;
        assert_eq!(
            open(&key, &newer, Network::Regtest, NODE),
            Err(BackupFileError::UnsupportedFormat(FORMAT_VERSION + 1))
        );
        assert!(matches!(
            open(&key, b"SQLite format 3\0 plain", Network::Regtest, NODE),
            Err(BackupFileError::NotABackup(_))
        ));
    }

    #[test]
    fn contents_that_are_not_a_database_are_refused() {
        let key = BackupKey::derive(&[7; 32]);
        let file = seal(&key, &header(), [1; 12], b"not a database at all").expect("seal");
        assert!(matches!(
            open(&key, &file, Network::Regtest, NODE),
            Err(BackupFileError::Damaged(_))
        ));
    }

    #[test]
    fn the_key_is_not_printed() {
        let key = BackupKey::derive(&[7; 32]);
        assert_eq!(format!("{key:?}"), "BackupKey(..)");
    }
}
