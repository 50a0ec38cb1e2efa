//! Shared decoding plumbing.
//!
//! Headers and blocks arrive from RPC, REST, ZMQ and peers as bytes or hex. Every public
//! `from_slice`/`from_hex` goes through here so truncation, trailing bytes and bad hex are told
//! apart the same way everywhere, and so no caller ever sees `bitcoin`'s catch-all error type.

use bitcoin::consensus::encode::{self, Decodable};
use bitcoin::hex::FromHex;
use bitcoin::io;

/// Why bytes could not be decoded, independent of what was being decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Input text is not hex (odd length or a non-hex character).
    InvalidHex,
    /// Input ended before the structure was complete.
    Truncated,
    /// The structure was complete but `extra` bytes followed it.
    TrailingBytes(usize),
    /// A CompactSize length prefix used more bytes than needed (consensus rejects this).
    NonMinimalCompactSize,
    /// A length prefix announced more data than any valid message holds.
    Oversized,
    /// Anything else the transaction/header grammar rejects, with `bitcoin`'s reason.
    Malformed(String),
}

impl From<encode::Error> for Failure {
    fn from(e: encode::Error) -> Self {
        match e {
            // Reading from a slice only fails when the slice runs out.
            encode::Error::Io(ref io_err) if io_err.kind() == io::ErrorKind::UnexpectedEof => {
                Failure::Truncated
            }
            encode::Error::NonMinimalVarInt => Failure::NonMinimalCompactSize,
            encode::Error::OversizedVectorAllocation { .. } => Failure::Oversized,
            other => Failure::Malformed(other.to_string()),
        }
    }
}

/// Decodes exactly one `T` from `bytes`, rejecting leftovers.
///
/// Uses the finite-reader entry point: the slice already bounds every allocation, and the default
/// entry point would cap input at 4 MB, which is a policy choice we do not want here.
pub(crate) fn decode_exact<T: Decodable>(bytes: &[u8]) -> Result<T, Failure> {
    let mut reader: &[u8] = bytes;
    let value = T::consensus_decode_from_finite_reader(&mut reader)?;
    if !reader.is_empty() {
        return Err(Failure::TrailingBytes(reader.len()));
    }
    Ok(value)
}

/// Decodes hex text into bytes. Surrounding whitespace is ignored because RPC output and files
/// nearly always end in a newline; whitespace inside the hex is an error.
pub(crate) fn hex_to_bytes(s: &str) -> Result<Vec<u8>, Failure> {
    Vec::<u8>::from_hex(s.trim()).map_err(|_| Failure::InvalidHex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_trims_outer_whitespace_only() {
        assert_eq!(hex_to_bytes(" 00ff\n"), Ok(vec![0x00, 0xff]));
        assert_eq!(hex_to_bytes("00 ff"), Err(Failure::InvalidHex));
        assert_eq!(hex_to_bytes("0"), Err(Failure::InvalidHex));
        assert_eq!(hex_to_bytes("zz"), Err(Failure::InvalidHex));
    }

    #[test]
    fn exact_decoding_reports_truncation_and_leftovers() {
        assert_eq!(decode_exact::<u32>(&[1, 2, 3]), Err(Failure::Truncated));
        assert_eq!(
            decode_exact::<u32>(&[1, 2, 3, 4, 5]),
            Err(Failure::TrailingBytes(1))
        );
        assert_eq!(decode_exact::<u32>(&[1, 0, 0, 0]), Ok(1));
        // 0xfd prefix announcing a length below 253 is non-minimal.
        assert_eq!(
            decode_exact::<Vec<u8>>(&[0xfd, 0x01, 0x00, 0xaa]),
            Err(Failure::NonMinimalCompactSize)
        );
    }
}
