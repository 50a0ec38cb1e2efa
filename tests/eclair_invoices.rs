//! Invoices made by Qtum's 2019 Eclair fork decode through the patched lightning-invoice exactly
//! as listed, with their signatures verified; paying one is a typed error (no payment secret).

use qtum_lightning::qtum::invoice::{DecodedInvoice, InvoiceDescription, InvoiceError};
use qtum_lightning::qtum::network::Network;
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/qtum-eclair-bolt11.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let json: Value = serde_json::from_str(&text).expect("json");
    json["vectors"].as_array().expect("vectors").clone()
}

#[test]
fn every_vector_decodes_as_listed() {
    let vectors = vectors();
    assert!(vectors.len() >= 9);
    for v in vectors {
        let title = v["title"].as_str().unwrap_or_default();
        let decoded = DecodedInvoice::decode(v["invoice"].as_str().expect("text")).expect(title);
        let network: Network = v["network"]
            .as_str()
            .expect("network")
            .parse()
            .expect("network");
        assert_eq!(decoded.network, network, "{title}");
        assert_eq!(decoded.amount_msat, v["amount_msat"].as_u64(), "{title}");
        assert_eq!(
            decoded.payment_hash.to_string(),
            v["payment_hash"],
            "{title}"
        );
        assert_eq!(
            decoded.payee_pubkey.to_string(),
            v["payee_pubkey"],
            "{title}"
        );
        assert_eq!(
            decoded.timestamp_secs,
            v["timestamp"].as_u64().expect("ts"),
            "{title}"
        );
        assert!(decoded.signature_valid, "{title}");
        assert!(!decoded.payment_secret_present, "{title}");
        match (&decoded.description, v.get("description")) {
            (InvoiceDescription::Direct(d), Some(want)) => assert_eq!(d, want, "{title}"),
            (InvoiceDescription::Hash(h), None) => {
                assert_eq!(h.to_string(), v["description_hash"], "{title}")
            }
            other => panic!("{title}: description mismatch {other:?}"),
        }
        let fallback = decoded.fallback_addresses.first().map(|a| a.to_string());
        assert_eq!(
            fallback.as_deref(),
            v["fallback_address"].as_str(),
            "{title}"
        );
        if let Some(delta) = v.get("min_final_cltv_expiry_delta") {
            assert_eq!(
                decoded.min_final_cltv_expiry_delta,
                delta.as_u64().expect("u64")
            );
        }
        let hints = v
            .get("route_hints")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert_eq!(decoded.route_hints.len(), hints.len(), "{title}");
        for (hops, want) in decoded.route_hints.iter().zip(hints) {
            let want = want.as_array().expect("hops");
            assert_eq!(hops.len(), want.len());
            for (hop, w) in hops.iter().zip(want) {
                assert_eq!(hop.src_node_id.to_string(), w["pubkey"]);
                assert_eq!(
                    hop.short_channel_id,
                    w["short_channel_id"].as_u64().expect("scid")
                );
                assert_eq!(
                    u64::from(hop.fees.base_msat),
                    w["fee_base_msat"].as_u64().expect("fee")
                );
                assert_eq!(
                    u64::from(hop.fees.proportional_millionths),
                    w["fee_proportional_millionths"].as_u64().expect("ppm")
                );
                assert_eq!(
                    u64::from(hop.cltv_expiry_delta),
                    w["cltv_expiry_delta"].as_u64().expect("cltv")
                );
            }
        }

        // Decoding is fine; paying is refused with the reason, on the right network…
        assert_eq!(
            decoded.payable_on(network).expect_err(title),
            InvoiceError::MissingPaymentSecret,
            "{title}"
        );
        // …and on the wrong one, the network is what we complain about first.
        let other = if network == Network::Mainnet {
            Network::Testnet
        } else {
            Network::Mainnet
        };
        assert!(matches!(
            decoded.payable_on(other),
            Err(InvoiceError::WrongNetwork { .. })
        ));
    }
}

#[test]
fn a_mainnet_node_refuses_a_testnet_invoice() {
    let testnet = vectors()
        .into_iter()
        .find(|v| v["network"] == "testnet")
        .expect("a testnet vector");
    let err =
        DecodedInvoice::decode_for(testnet["invoice"].as_str().expect("text"), Network::Mainnet)
            .expect_err("wrong network");
    assert_eq!(
        err,
        InvoiceError::WrongNetwork {
            expected: Network::Mainnet,
            found: Network::Testnet
        }
    );
    assert_eq!(
        err.to_string(),
        "this invoice is for Qtum testnet, but this node runs on Qtum mainnet"
    );
}
