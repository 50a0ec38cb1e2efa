//! Backup files, which an app keeps wherever it likes (a cloud folder that others may be able to
//! write to): any bytes read as a backup give a typed error, never a panic, and never a
//! database; what the header reader accepts agrees with the bytes; a file sealed with our key
//! opens to exactly what was sealed, and another key, network or node, or one changed byte, is
//! refused.
#![no_main]

use bitcoin::hex::DisplayHex;
use libfuzzer_sys::fuzz_target;
use qtum_lightning::io::backup::{open, read_header, seal, BackupHeader, BackupKey};
use qtum_lightning::qtum::network::Network;

/// A node id (any 33 bytes pass as one in the file format).
const NODE: &str = "021111111111111111111111111111111111111111111111111111111111111111";

fuzz_target!(|data: &[u8]| {
    let key = BackupKey::derive(&[7u8; 32]);

    // 1. The bytes as a file someone handed us.
    match read_header(data) {
        Ok(header) => {
            assert_eq!(&data[..8], b"QTUMLNBK");
            assert_eq!(header.node_id, data[10..43].to_lower_hex_string());
            // Nobody without the key makes a file that opens: the tag covers everything.
            assert!(open(&key, data, header.network, &header.node_id).is_err());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    // 2. The bytes as a database we seal ourselves.
    let Some((&flip, rest)) = data.split_first() else {
        return;
    };
    let mut database = b"SQLite format 3\0".to_vec();
    database.extend_from_slice(rest);
    let header = BackupHeader {
        network: Network::Regtest,
        node_id: NODE.into(),
        created_at: u64::from(flip) << 20,
        schema_version: 7,
    };
    let file = seal(&key, &header, [flip; 12], &database).expect("sealing never fails");
    let (read, opened) = open(&key, &file, Network::Regtest, NODE).expect("our own file opens");
    assert_eq!(read, header);
    assert_eq!(&opened[..], &database[..]);
    assert!(open(&BackupKey::derive(&[8u8; 32]), &file, Network::Regtest, NODE).is_err());
    assert!(open(&key, &file, Network::Mainnet, NODE).is_err());
    let other = NODE.replace("0211", "0311");
    assert!(open(&key, &file, Network::Regtest, &other).is_err());
    for cut in [file.len() - 1, file.len() / 2, 40] {
        assert!(open(&key, &file[..cut], Network::Regtest, NODE).is_err());
    }
    let mut damaged = file.clone();
    let at = (usize::from(flip) * 7919 + rest.len()) % damaged.len();
    damaged[at] ^= 1 << (flip % 8);
    assert!(
        open(&key, &damaged, Network::Regtest, NODE).is_err(),
        "a change at byte {at} went unnoticed"
    );
});
