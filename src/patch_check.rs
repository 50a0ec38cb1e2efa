//! Refuse to build against unpatched LDK, lightning-invoice or bitcoin.
//!
//! Unpatched, LDK would announce Bitcoin's chain hash, make `lnbc` invoices and put outputs in
//! commitment transactions that every Qtum node rejects as dust, so a channel could never be
//! closed. Each patch exports a `QTUM_PATCH_LEVEL` marker; naming them here makes a build against
//! crates.io's copies fail to compile (see patches/README.md).

/// The patch level this SDK is written against.
const EXPECTED: u32 = 1;
/// LDK's patch level: 2 adds the funding deadline and HTLC expiry cap in 32-second blocks; 3
/// closes a channel whose peer proves our state stale without broadcasting it (no panic).
const EXPECTED_LDK: u32 = 3;

const _: () = assert!(
    lightning::QTUM_PATCH_LEVEL == EXPECTED_LDK
        && lightning_invoice::QTUM_PATCH_LEVEL == EXPECTED
        && bitcoin::constants::QTUM_PATCH_LEVEL == EXPECTED,
    "LDK, lightning-invoice and bitcoin must carry this SDK's Qtum patches (run `make deps`)"
);
