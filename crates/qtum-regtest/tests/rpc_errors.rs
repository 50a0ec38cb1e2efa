//! Bad input on the RPC gets qtumd's error objects and never hurts the node; batches work;
//! the binary serves the same RPC.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use qtum_regtest::{NodeConfig, RegtestNode};
use serde_json::{json, Value};

#[test]
fn bad_requests_get_qtumds_errors_and_the_node_survives() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let port = node.port();
    let body = br#"{"method":"getblockcount","params":[],"id":1}"#;

    // Authentication.
    assert_eq!(http(port, "POST", None, body).status, 401);
    assert_eq!(
        http(port, "POST", Some((node.rpc_user(), "wrong")), body).status,
        401
    );
    assert_eq!(
        http(port, "POST", Some(("nobody", node.rpc_password())), body).status,
        401
    );
    assert_eq!(
        http(
            port,
            "GET",
            Some((node.rpc_user(), node.rpc_password())),
            b""
        )
        .status,
        405
    );

    // Malformed JSON, wrong top-level types, bad request objects.
    for bad in ["{", "not json", "\u{0}\u{1}", "{\"method\":"] {
        let r = rpc.raw(bad);
        assert_eq!(r.status, 500, "{bad}");
        assert_eq!(
            r.json()["error"],
            json!({"code": -32700, "message": "Parse error"})
        );
    }
    let r = rpc.raw("42");
    assert_eq!(r.json()["error"]["code"], json!(-32700));
    let r = rpc.raw(r#"{"method":42,"id":7}"#);
    assert_eq!(
        (
            r.status,
            r.json()["error"]["code"].clone(),
            r.json()["id"].clone()
        ),
        (400, json!(-32600), json!(7))
    );
    let r = rpc.raw(r#"{"method":"getblockcount","params":"x"}"#);
    assert_eq!(
        r.json()["error"],
        json!({"code": -32600, "message": "Params must be an array or object"})
    );

    // Unknown method.
    let r = rpc.raw(r#"{"method":"nosuchmethod","params":[],"id":"x"}"#);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["error"],
        json!({"code": -32601, "message": "Method not found"})
    );

    // Wrong params.
    assert_eq!(rpc.err("getblockhash", json!([])).0, -1);
    assert_eq!(rpc.err("getblockhash", json!([1, 2])).0, -1);
    assert_eq!(
        rpc.err("getblockhash", json!(["abc"])),
        (
            -3,
            "JSON value of type string is not of expected type number".into()
        )
    );
    assert_eq!(
        rpc.err("getblockhash", json!([1])),
        (-8, "Block height out of range".into())
    );
    assert_eq!(
        rpc.err("getblockhash", json!([-1])),
        (-8, "Block height out of range".into())
    );
    assert_eq!(rpc.err("getblock", json!([12])).0, -3);
    assert_eq!(
        rpc.err("getblock", json!(["abc"])),
        (
            -8,
            "blockhash must be of length 64 (not 3, for 'abc')".into()
        )
    );
    let zz = "z".repeat(64);
    assert_eq!(
        rpc.err("getblock", json!([zz])),
        (
            -8,
            format!("blockhash must be hexadecimal string (not '{zz}')")
        )
    );
    assert_eq!(
        rpc.err("getblockheader", json!(["00".repeat(32)])),
        (-5, "Block not found".into())
    );
    assert_eq!(
        rpc.err("getblock", json!(["00".repeat(32)])),
        (-5, "Block not found".into())
    );
    assert_eq!(
        rpc.err("invalidateblock", json!(["00".repeat(32)])),
        (-5, "Block not found".into())
    );
    assert_eq!(
        rpc.err("getmempoolentry", json!(["11".repeat(32)])),
        (-5, "Transaction not in mempool".into())
    );
    assert_eq!(
        rpc.err("getrawtransaction", json!(["11".repeat(32)])),
        (-5, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.".into())
    );
    assert_eq!(
        rpc.call("gettxout", json!(["11".repeat(32), 0])),
        Value::Null
    );
    assert_eq!(
        rpc.err("generatetoaddress", json!([1, "QjunkAddress"])),
        (-5, "Error: Invalid address".into())
    );
    // A mainnet address is not a regtest address.
    assert_eq!(
        rpc.err(
            "generatetoaddress",
            json!([1, "QjWnDZxwLhrJDcp4Hisse6RqFVBtQZbD8J"])
        )
        .0,
        -5
    );

    // Garbage hex.
    for h in ["zz", "deadbeef", "", "0"] {
        let (code, msg) = rpc.err("sendrawtransaction", json!([h]));
        assert_eq!(
            (code, msg.as_str()),
            (
                -22,
                "TX decode failed. Make sure the tx has at least one input."
            ),
            "{h}"
        );
        assert_eq!(rpc.err("testmempoolaccept", json!([[h]])).0, -22);
    }
    assert_eq!(rpc.err("testmempoolaccept", json!(["notarray"])).0, -3);
    assert_eq!(
        rpc.err("testmempoolaccept", json!([[]])),
        (
            -8,
            "Array must contain between 1 and 25 transactions.".into()
        )
    );
    assert_eq!(rpc.err("generateblock", json!(["garbage", []])).0, -5);

    // Named parameters.
    assert_eq!(
        rpc.call("getblockhash", json!({"height": 0})),
        rpc.call("getbestblockhash", json!([]))
    );
    assert_eq!(rpc.err("getblockhash", json!({"heigth": 0})).0, -8);

    // A batch: replies in order with their ids, errors included, HTTP 200.
    let r = rpc.raw(
        r#"[{"method":"getblockcount","id":1},{"method":"nosuch","id":2},3,{"method":"getblockhash","params":[0],"id":4}]"#,
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v[0], json!({"result": 0, "error": null, "id": 1}));
    assert_eq!(v[1]["error"]["code"], json!(-32601));
    assert_eq!(v[2]["error"]["code"], json!(-32600));
    assert_eq!(v[3]["id"], json!(4));
    assert_eq!(rpc.raw("[]").json(), json!([]));

    // The node is intact.
    assert_eq!(rpc.call("getblockcount", json!([])), json!(0));
    rpc.call("generatetoaddress", json!([3, Key::new("m").address()]));
    assert_eq!(rpc.call("getblockcount", json!([])), json!(3));
}

#[test]
fn fixed_credentials_and_stop() {
    let node = RegtestNode::start_with(NodeConfig {
        port: 0,
        user: Some("u".into()),
        password: Some("p".into()),
        ..Default::default()
    })
    .expect("start");
    let r = http(
        node.port(),
        "POST",
        Some(("u", "p")),
        br#"{"method":"stop","id":1}"#,
    );
    assert_eq!(r.json()["result"], json!("Qtum Core stopping"));
    // The server has shut down after answering.
    let mut stopped = false;
    for _ in 0..200 {
        if node.is_stopped() {
            stopped = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(stopped);
}

#[test]
fn the_binary_serves_rpc_and_stops() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_qtum-regtest"))
        .args([
            "--rpcport",
            &port.to_string(),
            "--rpcuser",
            "u",
            "-rpcpassword=p",
            "--datadir",
            "/tmp/unused",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    let r = http(
        port,
        "POST",
        Some(("u", "p")),
        br#"{"method":"getblockchaininfo","id":1}"#,
    );
    assert_eq!(r.json()["result"]["chain"], json!("regtest"));
    let r = http(
        port,
        "POST",
        Some(("u", "p")),
        br#"{"method":"stop","id":1}"#,
    );
    assert_eq!(r.json()["result"], json!("Qtum Core stopping"));
    let status = child.wait().expect("wait");
    assert!(status.success());
}

#[test]
fn hostile_transactions_in_generateblock_and_maxfeerate_do_not_panic() {
    let node = RegtestNode::start().expect("start");
    let rpc = Rpc::new(&node);
    let k = Key::new("k");
    rpc.call("generatetoaddress", json!([2001, k.address()]));
    let (cb, v) = coinbase_of(&rpc, 1);
    // Outputs whose values overflow any sum.
    let mut tx = unsigned(
        &[cb],
        vec![(k.p2wpkh(), u64::MAX), (k.p2wpkh(), u64::MAX)],
        0xffff_fffd,
        0,
    );
    sign_p2wpkh(&mut tx, 0, &k, v);
    let tip = node.tip_hash();
    let (code, msg) = rpc.err("generateblock", json!([k.address(), [to_hex(&tx)]]));
    assert_eq!(code, -25);
    assert!(
        msg.starts_with("TestBlockValidity failed: bad-txns-vout-"),
        "{msg}"
    );
    assert_eq!(node.tip_hash(), tip);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&tx)]]));
    assert_eq!(r[0]["allowed"], json!(false));
    // A huge maxfeerate is accepted as a number; a negative one is refused.
    let mut ok = unsigned(&[cb], vec![(k.p2wpkh(), v - 100_000)], 0xffff_fffd, 0);
    sign_p2wpkh(&mut ok, 0, &k, v);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&ok)], 100_000_000]));
    assert_eq!(r[0]["allowed"], json!(true), "{r}");
    assert_eq!(
        rpc.err("testmempoolaccept", json!([[to_hex(&ok)], -1])).0,
        -3
    );
    // A fee above maxfeerate.
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&ok)], 0.0001]));
    assert_eq!(r[0]["reject-reason"], json!("max-fee-exceeded"));
    let (code, _) = rpc.err("sendrawtransaction", json!([to_hex(&ok), 0.0001]));
    assert_eq!(code, -25);
    // Coinbase-looking and empty transactions.
    let mut cbish = unsigned(
        &[bitcoin::OutPoint::null()],
        vec![(k.p2wpkh(), 1_000_000)],
        0xffff_ffff,
        0,
    );
    cbish.input[0].script_sig = bitcoin::ScriptBuf::from_bytes(vec![1, 2, 3]);
    let r = rpc.call("testmempoolaccept", json!([[to_hex(&cbish)]]));
    assert_eq!(r[0]["reject-reason"], json!("coinbase"));
    assert_eq!(rpc.call("getblockcount", json!([])), json!(2001));
}

/// Without `-addrindex` the index calls answer as qtumd's do then: -5 for the address calls,
/// and -5 "Unable to get spent info" for a spent output as for an unspent one. Calls are counted.
#[test]
fn without_addrindex_the_index_calls_answer_as_qtumd() {
    let node = RegtestNode::start_with(NodeConfig {
        without_addrindex: true,
        ..Default::default()
    })
    .expect("start");
    let script = node.wallet_script();
    node.mine_blocks(101, &script).expect("mine");
    let rpc = Rpc::new(&node);
    let address = qtum_primitives::address::QtumAddress::from_script(
        &script,
        qtum_primitives::network::Network::Regtest,
    )
    .expect("address")
    .to_string();
    for method in ["getaddresstxids", "getaddressutxos", "getaddressbalance"] {
        assert_eq!(
            rpc.err(method, json!([{"addresses": [address]}])),
            (-5, "No information available for address".to_string()),
            "{method}"
        );
    }
    // A spent output (the first coinbase's, spent by funding) and an unspent one.
    let funded = node.fund_address(&script, 100_000_000).expect("fund");
    node.mine_blocks(1, &script).expect("mine");
    let tx = rpc.call("getrawtransaction", json!([funded.txid.to_string(), true]));
    let spent = &tx["vin"][0];
    for (txid, index) in [
        (spent["txid"].clone(), spent["vout"].clone()),
        (json!(funded.txid.to_string()), json!(funded.vout)),
    ] {
        assert_eq!(
            rpc.err("getspentinfo", json!([{"txid": txid, "index": index}])),
            (-5, "Unable to get spent info".to_string())
        );
    }
    assert_eq!(node.calls("getspentinfo"), 2);
    assert_eq!(node.calls("getaddresstxids"), 1);
}
