//! `QtumHeader` from bytes: whatever decodes re-encodes to the same bytes, and the derived
//! values (hashes, target, PoS signature recovery) never panic.
#![no_main]

use bitcoin::hashes::{sha256d, Hash};
use libfuzzer_sys::fuzz_target;
use qtum_primitives::header::{QtumHeader, COMPACT_SIGNATURE_SIZE, FIXED_HEADER_SIZE};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = QtumHeader::from_slice(data) else {
        return;
    };
    // The encoding is canonical: decode then encode gives the input back, byte for byte.
    let bytes = header.to_bytes();
    assert_eq!(bytes, data, "re-encoding changed the header");
    assert_eq!(header.serialized_size(), data.len());
    assert!(data.len() > FIXED_HEADER_SIZE);
    assert_eq!(QtumHeader::from_hex(&header.to_hex()).as_ref(), Ok(&header));
    // Exactly one header: a trailing byte is refused, a missing one too.
    let mut longer = data.to_vec();
    longer.push(0);
    assert!(QtumHeader::from_slice(&longer).is_err());
    assert!(QtumHeader::from_slice(&data[..data.len() - 1]).is_err());
    // The block hash covers all the bytes, signature included; the synthetic hash only the
    // first 80, the signed hash the fixed 180.
    assert_eq!(
        header.block_hash().to_byte_array(),
        sha256d::Hash::hash(data).to_byte_array()
    );
    assert_eq!(
        header.signed_hash(),
        sha256d::Hash::hash(&data[..FIXED_HEADER_SIZE])
    );
    assert_eq!(
        bitcoin::consensus::encode::serialize(&header.synthetic_header()),
        data[..80]
    );
    assert_eq!(header.is_proof_of_stake(), !header.prevout_stake.is_null());
    // The signature and the proof of delegation split vchBlockSig without losing a byte.
    let delegation = header.proof_of_delegation().map_or(&[][..], |p| p);
    assert_eq!(
        [header.signature(), delegation].concat(),
        header.block_sig,
        "signature + delegation != vchBlockSig"
    );
    assert!(delegation.is_empty() || delegation.len() == COMPACT_SIGNATURE_SIZE);
    let _ = header.target();
    let _ = header.check_pow();
    let _ = header.signed_hash();
    if header.recover_staker_pubkey().is_ok() {
        assert!(header.is_proof_of_stake());
        assert_eq!(header.signature().len(), COMPACT_SIGNATURE_SIZE);
    }
    let _ = format!("{header:?}");
});
