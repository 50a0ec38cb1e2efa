//! The regtest harness's JSON-RPC request handling (`qtum_regtest::rpc::handle_body`) on any
//! body: every answer is JSON, a batch gets one reply per call in order, each reply carries the
//! request's id and either a result or a well-formed error object.
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use qtum_regtest::rpc::{handle_body, NodeState};
use serde_json::Value;

/// Mining is real work (up to the harness's 100,000 blocks per call): requests asking for more
/// than a few blocks are skipped so each input stays fast. The limit itself is the harness's.
fn mines_too_much(request: &Value) -> bool {
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    if !method.starts_with("generate") {
        return false;
    }
    let count = match request.get("params") {
        Some(Value::Array(args)) => args.first(),
        Some(Value::Object(named)) => named.get("nblocks"),
        _ => None,
    };
    match count {
        Some(Value::Number(n)) => n.as_f64().is_none_or(|n| n > 8.0),
        _ => false,
    }
}

fn check_reply(request: &Value, reply: &Value) {
    let Value::Object(reply) = reply else {
        panic!("a reply that is not an object: {reply}");
    };
    let expected_id = request.get("id").cloned().unwrap_or(Value::Null);
    assert_eq!(reply.get("id"), Some(&expected_id), "reply id");
    match reply.get("error") {
        Some(Value::Null) => assert!(reply.contains_key("result")),
        Some(Value::Object(e)) => {
            assert!(
                e.get("code").is_some_and(Value::is_i64),
                "error code: {reply:?}"
            );
            assert!(e.get("message").is_some_and(Value::is_string));
            assert_eq!(reply.get("result"), Some(&Value::Null));
        }
        other => panic!("error field {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = serde_json::from_slice::<Value>(data).ok();
    match &parsed {
        Some(Value::Array(items)) if items.iter().any(mines_too_much) => return,
        Some(v) if mines_too_much(v) => return,
        _ => {}
    }
    let state = Mutex::new(NodeState::new());
    let (status, text) = handle_body(&state, data);
    let reply: Value = serde_json::from_str(&text).expect("every answer is JSON");
    match parsed {
        Some(Value::Array(items)) => {
            assert_eq!(status, 200);
            let Value::Array(replies) = &reply else {
                panic!("a batch answered by {reply}");
            };
            assert_eq!(replies.len(), items.len());
            for (item, r) in items.iter().zip(replies) {
                check_reply(item, r);
            }
        }
        Some(request @ Value::Object(_)) => {
            assert!([200, 400, 404, 500].contains(&status), "status {status}");
            check_reply(&request, &reply);
            assert_eq!(status == 200, reply["error"].is_null());
        }
        _ => {
            assert_eq!(status, 500);
            assert_eq!(reply["error"]["code"], Value::from(-32700));
        }
    }
});
