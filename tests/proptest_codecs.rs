//! Property tests of the SDK's own codecs: node URIs, BOLT 11 invoices on the three Qtum
//! networks (signed with `create_signed`, then decoded), the persisted event records (JSON rows
//! of the event queue) and payment records (rows of the payment store). Fast enough for
//! `cargo test` (64 cases each, one database for all the payment cases).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use proptest::option;
use proptest::prelude::*;
use qtum_lightning::event::{CloseKind, Event, PaymentFailureKind};
use qtum_lightning::io::db::Db;
use qtum_lightning::payment::store::{
    CustomRecord, PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus, PaymentStore,
};
use qtum_lightning::peer::NodeUri;
use qtum_lightning::qtum::invoice::{
    create_signed, parse_payable, DecodedInvoice, InvoiceDescription, InvoiceError, InvoiceRequest,
};
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{ChannelId, OutPoint, PaymentHash, PaymentId, PaymentPreimage, UserChannelId};

fn network() -> impl Strategy<Value = Network> {
    prop::sample::select(Network::ALL.to_vec())
}

fn secret_key() -> impl Strategy<Value = SecretKey> {
    any::<[u8; 32]>().prop_filter_map("not a secret key", |b| SecretKey::from_slice(&b).ok())
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    secret_key().prop_map(|k| k.public_key(&Secp256k1::signing_only()))
}

/// Host names as the parser accepts them: dot-separated labels of letters, digits and inner
/// hyphens, at most 63 characters each.
fn hostname() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?", 1..5)
        .prop_map(|labels| labels.join("."))
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        any::<[u8; 16]>().prop_map(|o| Ipv6Addr::from(o).to_string()),
        hostname(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.chars().take(40).collect())
}

fn close_kind() -> impl Strategy<Value = CloseKind> {
    use CloseKind::*;
    proptest::sample::select(vec![
        CooperativeByUs,
        CooperativeByPeer,
        ForceClosedByUs,
        ForceClosedByPeer,
        CommitmentConfirmed,
        HtlcsTimedOut,
        PeerFeeRateTooLow,
        FundingTimedOut,
        OpenAborted,
        StaleState,
        ProcessingError,
        Unknown,
    ])
}

fn failure_kind() -> impl Strategy<Value = PaymentFailureKind> {
    use PaymentFailureKind::*;
    proptest::sample::select(vec![
        RecipientRejected,
        Abandoned,
        RetriesExhausted,
        Expired,
        RouteNotFound,
        UnknownRequiredFeatures,
        UnexpectedError,
        Unknown,
    ])
}

fn channel_id() -> impl Strategy<Value = ChannelId> {
    any::<[u8; 32]>().prop_map(ChannelId)
}

fn payment_id() -> impl Strategy<Value = PaymentId> {
    any::<[u8; 32]>().prop_map(PaymentId)
}

fn payment_hash() -> impl Strategy<Value = PaymentHash> {
    any::<[u8; 32]>().prop_map(PaymentHash)
}

fn user_channel_id() -> impl Strategy<Value = UserChannelId> {
    any::<u128>().prop_map(UserChannelId)
}

fn node_id() -> impl Strategy<Value = PublicKey> {
    (1u8..=255, any::<[u8; 31]>()).prop_map(|(first, rest)| {
        let mut bytes = [first; 32];
        bytes[1..].copy_from_slice(&rest);
        let key = SecretKey::from_slice(&bytes)
            .unwrap_or_else(|_| SecretKey::from_slice(&[1; 32]).expect("key"));
        PublicKey::from_secret_key(&Secp256k1::signing_only(), &key)
    })
}

fn outpoint() -> impl Strategy<Value = OutPoint> {
    (any::<[u8; 32]>(), any::<u32>()).prop_map(|(txid, vout)| OutPoint {
        txid: bitcoin::Txid::from_byte_array(txid),
        vout,
    })
}

fn event() -> impl Strategy<Value = Event> {
    let n = || option::of(any::<u64>());
    prop_oneof![
        (channel_id(), user_channel_id(), node_id(), outpoint()).prop_map(|(a, b, c, d)| {
            Event::ChannelPending {
                channel_id: a,
                user_channel_id: b,
                counterparty_node_id: c,
                funding_txo: d,
            }
        }),
        (channel_id(), user_channel_id(), node_id()).prop_map(|(a, b, c)| Event::ChannelReady {
            channel_id: a,
            user_channel_id: b,
            counterparty_node_id: c,
        }),
        (
            channel_id(),
            user_channel_id(),
            option::of(node_id()),
            text(),
            close_kind()
        )
            .prop_map(|(a, b, c, d, kind)| Event::ChannelClosed {
                channel_id: a,
                user_channel_id: b,
                counterparty_node_id: c,
                reason: d,
                kind,
            }),
        (payment_id(), payment_hash(), any::<u64>(), records()).prop_map(|(a, b, c, d)| {
            Event::PaymentReceived {
                payment_id: a,
                payment_hash: b,
                amount_msat: c,
                custom_records: d,
            }
        }),
        (
            payment_id(),
            payment_hash(),
            any::<u64>(),
            option::of(any::<u32>()),
            records()
        )
            .prop_map(|(a, b, c, d, e)| Event::PaymentClaimable {
                payment_id: a,
                payment_hash: b,
                amount_msat: c,
                claim_deadline_height: d,
                custom_records: e,
            }),
        (payment_id(), payment_hash(), n()).prop_map(|(a, b, c)| Event::PaymentSuccessful {
            payment_id: a,
            payment_hash: b,
            fee_paid_msat: c,
        }),
        (
            payment_id(),
            option::of(payment_hash()),
            text(),
            failure_kind()
        )
            .prop_map(|(a, b, c, kind)| Event::PaymentFailed {
                payment_id: a,
                payment_hash: b,
                reason: c,
                kind,
            }),
        (option::of(channel_id()), option::of(channel_id()), n(), n()).prop_map(|(a, b, c, d)| {
            Event::PaymentForwarded {
                prev_channel_id: a,
                next_channel_id: b,
                fee_earned_msat: c,
                outbound_amount_msat: d,
            }
        }),
    ]
}

fn records() -> impl Strategy<Value = Vec<CustomRecord>> {
    let record = (65_536u64.., proptest::collection::vec(any::<u8>(), 0..40))
        .prop_map(|(type_num, value)| CustomRecord { type_num, value });
    proptest::collection::vec(record, 0..4)
}

fn payment() -> impl Strategy<Value = PaymentDetails> {
    let direction = prop_oneof![
        Just(PaymentDirection::Inbound),
        Just(PaymentDirection::Outbound)
    ];
    let kind = prop_oneof![
        Just(PaymentKind::Bolt11),
        Just(PaymentKind::Spontaneous),
        Just(PaymentKind::Bolt11Hold)
    ];
    let status = prop_oneof![
        Just(PaymentStatus::Pending),
        Just(PaymentStatus::Succeeded),
        Just(PaymentStatus::Failed)
    ];
    (
        (
            direction,
            kind,
            status,
            option::of(any::<u64>()),
            option::of(any::<u64>()),
        ),
        (
            payment_hash(),
            option::of(any::<[u8; 32]>().prop_map(PaymentPreimage)),
            option::of(text()),
            option::of(text()),
        ),
        (
            option::of(text()),
            option::of(node_id()),
            any::<u64>(),
            any::<u64>(),
        ),
        (option::of(any::<u32>()), records()),
    )
        .prop_map(
            |(
                (direction, kind, status, amount_msat, fee_paid_msat),
                (payment_hash, preimage, description, invoice),
                (failure_reason, counterparty_node_id, created_at, updated_at),
                (claim_deadline_height, custom_records),
            )| PaymentDetails {
                id: PaymentId([0; 32]),
                direction,
                kind,
                status,
                amount_msat,
                fee_paid_msat,
                payment_hash,
                preimage,
                description,
                invoice,
                failure_reason,
                counterparty_node_id,
                created_at,
                updated_at,
                claim_deadline_height,
                custom_records,
            },
        )
}

/// One payment database for every case (opening one is the slow part).
fn store() -> &'static PaymentStore {
    static STORE: OnceLock<(PaymentStore, Db)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("proptest-payments-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let db = Db::open(&dir).expect("open the database");
            (PaymentStore::open(db.shared()).expect("payment store"), db)
        })
        .0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn node_uri_round_trips(node_id in public_key(), host in host(), port in 1u16..) {
        let uri = NodeUri { node_id, host, port };
        let printed = uri.to_string();
        prop_assert_eq!(printed.parse::<NodeUri>(), Ok(uri.clone()));
        prop_assert_eq!(format!("  {printed}\n").parse::<NodeUri>(), Ok(uri.clone()));
        prop_assert!(uri.socket_address().is_some());
        // Without a port, the default one.
        if !uri.host.contains(':') {
            let bare = format!("{}@{}", uri.node_id, uri.host);
            prop_assert_eq!(bare.parse::<NodeUri>().map(|u| u.port), Ok(9735));
        }
    }

    #[test]
    fn invoice_round_trips(
        network in network(),
        key in secret_key(),
        // Up to what BOLT 11 can carry in u64 pico-units (about 18.4M QTUM).
        amount_msat in option::of(1u64..=u64::MAX / 10),
        description in any::<String>().prop_map(|s| s.chars().take(100).collect::<String>()),
        preimage in any::<[u8; 32]>(),
        payment_secret in any::<[u8; 32]>(),
        expiry_secs in 1u64..=31_536_000,
        min_final_cltv_expiry_delta in 0u64..=20_160,
        timestamp_secs in 0u64..=(1 << 35) - 1,
    ) {
        let request = InvoiceRequest {
            network,
            amount_msat,
            description: description.clone(),
            payment_hash: sha256::Hash::hash(&preimage),
            payment_secret,
            expiry_secs,
            min_final_cltv_expiry_delta,
            timestamp_secs,
        };
        let invoice = create_signed(&request, &key).expect("signs");
        let text = invoice.to_string();
        prop_assert!(text.starts_with(network.bolt11_prefix()), "{}", text);
        let decoded = DecodedInvoice::decode(&text).expect("decodes");
        prop_assert_eq!(decoded.network, network);
        prop_assert_eq!(decoded.amount_msat, amount_msat);
        prop_assert_eq!(decoded.payment_hash, request.payment_hash);
        prop_assert_eq!(decoded.payee_pubkey, key.public_key(&Secp256k1::signing_only()));
        prop_assert_eq!(&decoded.description, &InvoiceDescription::Direct(description));
        prop_assert_eq!(decoded.timestamp_secs, timestamp_secs);
        prop_assert_eq!(decoded.expiry_secs, expiry_secs);
        prop_assert_eq!(decoded.expires_at_secs(), timestamp_secs + expiry_secs);
        prop_assert_eq!(decoded.min_final_cltv_expiry_delta, min_final_cltv_expiry_delta);
        prop_assert!(decoded.signature_valid && decoded.payment_secret_present);
        prop_assert!(decoded.fallback_addresses.is_empty() && decoded.route_hints.is_empty());
        prop_assert_eq!(decoded.to_text(), text.clone());
        // A QR code's upper case and a `lightning:` URI are the same invoice.
        let shouted = DecodedInvoice::decode(&format!("lightning:{}", text.to_uppercase()))
            .expect("upper case decodes");
        prop_assert_eq!(shouted.to_text(), text.clone());
        // Payable exactly on its own network, to LDK's same invoice.
        prop_assert_eq!(parse_payable(&text, network), Ok(invoice.clone()));
        for other in Network::ALL.into_iter().filter(|n| *n != network) {
            prop_assert_eq!(
                DecodedInvoice::decode_for(&text, other).map(|d| d.network),
                Err(InvoiceError::WrongNetwork { expected: other, found: network })
            );
            let wrong = matches!(
                parse_payable(&text, other),
                Err(InvoiceError::WrongNetwork { .. })
            );
            prop_assert!(wrong);
        }
    }

    #[test]
    fn event_records_round_trip(e in event()) {
        // What EventQueue stores in its rows: JSON with a `type` tag.
        let row = serde_json::to_string(&e).expect("serializes");
        prop_assert_eq!(serde_json::from_str::<Event>(&row).expect("parses"), e);
    }

    #[test]
    fn event_rows_without_a_kind_still_read(id in any::<[u8; 32]>(), reason in text()) {
        // Rows stored before close and failure kinds were recorded (ids were always hex).
        let id = bitcoin::hex::DisplayHex::to_lower_hex_string(&id[..]);
        let closed = serde_json::json!({
            "type": "channel_closed", "channel_id": id, "user_channel_id": "1",
            "counterparty_node_id": null, "reason": reason,
        });
        let failed = serde_json::json!({
            "type": "payment_failed", "payment_id": id, "payment_hash": null, "reason": reason,
        });
        let closed: Event = serde_json::from_value(closed).expect("parses");
        let failed: Event = serde_json::from_value(failed).expect("parses");
        let kinds_unknown = matches!(closed, Event::ChannelClosed { kind: CloseKind::Unknown, .. })
            && matches!(failed, Event::PaymentFailed { kind: PaymentFailureKind::Unknown, .. });
        prop_assert!(kinds_unknown);
    }

    #[test]
    fn payment_records_round_trip(mut p in payment()) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut id = [0u8; 32];
        id[24..].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        p.id = PaymentId(id);
        let store = store();
        store.insert(&p).expect("insert");
        prop_assert_eq!(store.get(&p.id).expect("get"), Some(p.clone()));
        let same_hash = store.by_hash(&p.payment_hash, p.direction).expect("by hash");
        prop_assert!(same_hash.contains(&p));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The regtest harness answers with the request's id, whatever number it is (the
    /// `regtest_rpc_request` fuzz target found a 59-digit id coming back 1 ULP off).
    #[test]
    fn regtest_rpc_echoes_any_id(digits in "[1-9][0-9]{0,80}", fraction in option::of("[0-9]{1,20}")) {
        let id = match fraction {
            Some(f) => format!("{digits}.{f}"),
            None => digits,
        };
        let body = format!(r#"{{"id": {id}, "method": "getblockcount", "params": []}}"#);
        let request: serde_json::Value = serde_json::from_str(&body).expect("request");
        let state = std::sync::Mutex::new(qtum_regtest::rpc::NodeState::new());
        let (status, reply) = qtum_regtest::rpc::handle_body(&state, body.as_bytes());
        prop_assert_eq!(status, 200);
        let reply: serde_json::Value = serde_json::from_str(&reply).expect("reply");
        prop_assert_eq!(&reply["id"], &request["id"]);
    }
}

/// Payable invoices of each network for the bolt11 fuzz target's seeds (fuzz/seed-invoices.txt,
/// read by fuzz/seeds.py): `cargo test --test proptest_codecs -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_seed_invoices() {
    let key = SecretKey::from_slice(&[0x11; 32]).expect("key");
    for (i, network) in Network::ALL.into_iter().enumerate() {
        let request = InvoiceRequest {
            network,
            amount_msat: [Some(1_000), None, Some(100_000_000_000)][i],
            description: ["coffee", "", "1 QTUM ☕"][i].to_string(),
            payment_hash: sha256::Hash::hash(&[i as u8; 32]),
            payment_secret: [0x42; 32],
            expiry_secs: 3600,
            min_final_cltv_expiry_delta: 144,
            timestamp_secs: 1_800_000_000,
        };
        println!("{}", create_signed(&request, &key).expect("signs"));
    }
}
