//! BOLT 11 decoding of Qtum invoices: whatever decodes prints back to a text that decodes to the
//! same invoice, the network checks agree with each other, and the payability checks never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qtum_lightning::qtum::invoice::{parse_payable, DecodedInvoice, InvoiceError};
use qtum_lightning::qtum::network::Network;

fn same(a: &DecodedInvoice, b: &DecodedInvoice) {
    assert_eq!(a.network, b.network);
    assert_eq!(a.amount_msat, b.amount_msat);
    assert_eq!(a.payment_hash, b.payment_hash);
    assert_eq!(a.payee_pubkey, b.payee_pubkey);
    assert_eq!(a.description, b.description);
    assert_eq!(a.timestamp_secs, b.timestamp_secs);
    assert_eq!(a.expiry_secs, b.expiry_secs);
    assert_eq!(a.min_final_cltv_expiry_delta, b.min_final_cltv_expiry_delta);
    assert_eq!(a.fallback_addresses, b.fallback_addresses);
    assert_eq!(a.route_hints, b.route_hints);
    assert_eq!(a.payment_secret_present, b.payment_secret_present);
    assert_eq!(a.signature_valid, b.signature_valid);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = match DecodedInvoice::decode(text) {
        Ok(d) => d,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let canonical = decoded.to_text();
    let again = DecodedInvoice::decode(&canonical).expect("the canonical text decodes");
    same(&decoded, &again);
    assert_eq!(again.to_text(), canonical);
    assert!(decoded.expires_at_secs() >= decoded.timestamp_secs);
    assert!(decoded.is_expired_at(u64::MAX));
    // Letter case and a `lightning:` scheme do not matter (QR codes carry upper case).
    let shouted = format!("LIGHTNING:{}", canonical.to_ascii_uppercase());
    same(
        &DecodedInvoice::decode(&shouted).expect("upper case decodes"),
        &decoded,
    );
    for network in Network::ALL {
        match DecodedInvoice::decode_for(text, network) {
            Ok(d) => {
                assert_eq!(network, decoded.network);
                same(&d, &decoded);
            }
            Err(InvoiceError::WrongNetwork { expected, found }) => {
                assert_eq!((expected, found), (network, decoded.network));
            }
            Err(e) => panic!("decode_for failed where decode did not: {e}"),
        }
        match decoded.payable_on(network) {
            Ok(invoice) => {
                assert_eq!(network, decoded.network);
                assert!(decoded.signature_valid && decoded.payment_secret_present);
                assert_eq!(invoice.amount_milli_satoshis(), decoded.amount_msat);
                assert!(parse_payable(text, network).is_ok());
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
});
