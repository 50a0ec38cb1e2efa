//! Compile-time hex literals.
//!
//! Chain constants are written in the same hex the Qtum sources and RPCs print, so a reviewer can
//! compare them with Qtum Core's sources character by character. Decoding happens in `const` context: a typo
//! is a compile error, never a runtime panic.

/// Decodes `s` (exactly `2 * N` hex digits) into bytes in the order written.
pub(crate) const fn bytes<const N: usize>(s: &str) -> [u8; N] {
    let s = s.as_bytes();
    assert!(s.len() == 2 * N, "hex literal has the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// Decodes a hash written in RPC "display" order (byte-reversed) into internal byte order.
pub(crate) const fn display_hash(s: &str) -> [u8; 32] {
    let forward: [u8; 32] = bytes(s);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = forward[31 - i];
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forward_and_reversed() {
        const FWD: [u8; 3] = bytes("00aBff");
        assert_eq!(FWD, [0x00, 0xab, 0xff]);
        const REV: [u8; 32] =
            display_hash("0100000000000000000000000000000000000000000000000000000000000002");
        assert_eq!(REV[0], 0x02);
        assert_eq!(REV[31], 0x01);
    }
}
