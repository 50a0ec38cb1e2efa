//! The tutorial's server journey, driven only through `qtum-ln` against two `qtum-lnd`
//! processes on the regtest harness, with an SDK node paying through them; and the API's
//! refusals (wrong password, malformed JSON, unknown channel, oversize request), each leaving
//! the node as it was.

mod common;

use std::time::Duration;

use common::*;
use qtum_lightning::qtum::network::Network;
use qtum_lightning::{Builder, ChainSourceConfig, Config, Node, PaymentStatus, RpcAuth};
use qtum_regtest::node::RegtestNode;
use serde_json::Value;

fn channels(d: &Daemon) -> Vec<Value> {
    d.ok(&["channels"]).as_array().cloned().unwrap_or_default()
}

fn payments(d: &Daemon) -> Vec<Value> {
    d.ok(&["payments"])["payments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Neither daemon reported a closed channel (not one force close, on either side).
fn assert_no_channel_closed(daemons: &[&Daemon]) {
    for d in daemons {
        let events = d.ok(&["events", "--after", "0"]);
        assert!(
            events["events"]
                .as_array()
                .expect("events")
                .iter()
                .all(|e| e["event"]["type"] != "channel_closed"),
            "{}: {events}",
            d.name
        );
    }
}

/// What the daemon's succeeded payments amount to.
fn succeeded_msat(d: &Daemon) -> u64 {
    payments(d)
        .iter()
        .filter(|p| p["status"] == "succeeded")
        .filter_map(|p| p["amount_msat"].as_u64())
        .sum()
}

/// What the daemon received in succeeded inbound payments.
fn received_msat(d: &Daemon) -> u64 {
    payments(d)
        .iter()
        .filter(|p| p["direction"] == "inbound" && p["status"] == "succeeded")
        .filter_map(|p| p["amount_msat"].as_u64())
        .sum()
}

fn confirmed_sat(d: &Daemon) -> u64 {
    d.ok(&["balance"])["confirmed_sat"].as_u64().unwrap_or(0)
}

fn fund(harness: &RegtestNode, d: &Daemon, amount_sat: u64) {
    harness
        .fund_address(&new_address_script(d), amount_sat)
        .expect("funded");
    mine(harness, 1);
    wait_until("funds seen by the daemon", || {
        confirmed_sat(d) >= amount_sat
    });
}

/// Waits until the daemon's channel with `peer` is usable, mining while the funding waits.
fn wait_usable(harness: &RegtestNode, d: &Daemon, peer: &str) -> String {
    wait_until("funding broadcast", || {
        channels(d)
            .iter()
            .any(|c| c["counterparty_node_id"] == peer && !c["funding_txo"].is_null())
    });
    let mut id = String::new();
    wait_until("channel usable", || {
        mine(harness, 1);
        std::thread::sleep(Duration::from_millis(300));
        match channels(d)
            .into_iter()
            .find(|c| c["counterparty_node_id"] == peer && c["is_usable"] == true)
        {
            Some(c) => {
                id = c["channel_id"].as_str().unwrap_or_default().to_string();
                true
            }
            None => false,
        }
    });
    id
}

fn sdk_node(harness: &RegtestNode) -> Node {
    let mut config = Config::new(
        Network::Regtest,
        temp_dir("sdk"),
        ChainSourceConfig::rpc(
            harness.url().to_string(),
            RpcAuth::UserPass {
                user: harness.rpc_user().to_string(),
                password: harness.rpc_password().to_string(),
            },
        ),
    );
    config.sync_interval_secs = 1;
    config.our_to_self_delay_blocks = 5_400;
    let mut builder = Builder::new(config);
    builder.set_entropy_seed_bytes(&[42; 32]);
    let node = builder.build().expect("sdk node builds");
    node.start().expect("sdk node starts");
    node
}

/// Where the test daemons keep their state.
enum Storage {
    /// `node.sqlite` in each daemon's data directory (the default).
    Sqlite,
    /// One database per daemon on a throwaway PostgreSQL server.
    Postgres(qtum_pgtest::PgServer),
}

impl Storage {
    fn postgres() -> Storage {
        Storage::Postgres(qtum_pgtest::PgServer::start().expect("a PostgreSQL server"))
    }

    /// The config sections for daemon `name` (a new database on PostgreSQL).
    fn section(&self, name: &str) -> String {
        match self {
            Storage::Sqlite => String::new(),
            Storage::Postgres(server) => {
                let url = server.create_database(name).expect("database");
                format!("[storage]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n")
            }
        }
    }

    fn daemon(&self, harness: &RegtestNode, name: &str) -> Daemon {
        Daemon::start_with(harness, name, &self.section(name))
    }
}

#[test]
fn tutorial_journey_through_the_cli() {
    journey(&Storage::Sqlite);
}

#[test]
fn tutorial_journey_on_postgresql() {
    journey(&Storage::postgres());
}

fn journey(storage: &Storage) {
    let harness = harness();
    let mut a = storage.daemon(&harness, "alice");
    let mut b = storage.daemon(&harness, "bob");
    let b_id = b.node_id();

    // Fund Alice, then open to Bob by his URI and wait for the confirmations.
    fund(&harness, &a, 5_000_000);
    let opened = a.ok(&["open", &b.uri(), "2000000"]);
    assert!(opened["user_channel_id"].is_string(), "{opened}");
    let channel_id = wait_usable(&harness, &a, &b_id);
    wait_until("Bob sees the channel usable", || {
        channels(&b).iter().any(|c| c["is_usable"] == true)
    });

    // The tutorial's 1-satoshi invoice, paid.
    let invoice = b.ok(&["invoice", "--amount-msat", "1000", "--description", "1 sat"]);
    let invoice_text = invoice["invoice"].as_str().expect("invoice").to_string();
    let decoded = a.ok(&["decodeinvoice", &invoice_text]);
    assert_eq!(decoded["amount_msat"], 1000);
    assert_eq!(decoded["payee_node_id"], b_id.as_str());
    let paid = a.ok(&["pay", &invoice_text]);
    let payment_id = paid["payment_id"].as_str().expect("id").to_string();
    wait_until("Alice's payment succeeded", || {
        a.ok(&["payment", &payment_id])["status"] == "succeeded"
    });
    let sent = a.ok(&["payment", &payment_id]);
    assert_eq!(sent["amount_msat"], 1000);
    assert!(sent["preimage"].is_string());
    wait_until("Bob received it", || {
        payments(&b).iter().any(|p| {
            p["direction"] == "inbound" && p["status"] == "succeeded" && p["amount_msat"] == 1000
        })
    });
    // Bob's event stream tells it too.
    let events = b.ok(&["events", "--after", "0", "--wait", "5"]);
    assert!(
        events["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["event"]["type"] == "payment_received"),
        "{events}"
    );

    // An SDK node (a phone) opens to Alice and pays Bob through her.
    let phone = sdk_node(&harness);
    let address = phone.new_address().expect("address");
    let script =
        qtum_lightning::qtum::address::QtumAddress::from_str_for(&address, Network::Regtest)
            .expect("address")
            .script_pubkey();
    harness.fund_address(&script, 3_000_000).expect("funded");
    mine(&harness, 1);
    wait_until("phone funded", || {
        let _ = phone.sync();
        phone.onchain_balance().confirmed_sat >= 3_000_000
    });
    let a_id = a.node_id();
    phone
        .open_channel(&a.uri(), 1_500_000, None, false)
        .expect("phone opens to Alice");
    wait_until("phone's channel usable", || {
        mine(&harness, 1);
        std::thread::sleep(Duration::from_millis(300));
        let _ = phone.sync();
        phone
            .list_channels()
            .iter()
            .any(|c| c.counterparty_node_id.to_string() == a_id && c.is_usable)
    });
    let invoice = b.ok(&[
        "invoice",
        "--amount-msat",
        "5000000",
        "--description",
        "from a phone",
    ]);
    let id = phone
        .send(invoice["invoice"].as_str().expect("invoice"), None)
        .expect("phone pays");
    wait_until("phone's payment through Alice settled", || {
        phone
            .payment(&id)
            .ok()
            .flatten()
            .is_some_and(|p| p.status != PaymentStatus::Pending)
    });
    let details = phone.payment(&id).expect("read").expect("row");
    assert_eq!(details.status, PaymentStatus::Succeeded, "{details:?}");
    wait_until("Alice earned a forwarding fee", || {
        a.ok(&["events", "--after", "0"])["events"]
            .as_array()
            .is_some_and(|list| {
                list.iter()
                    .any(|e| e["event"]["type"] == "payment_forwarded")
            })
    });

    // Close Alice–Bob cooperatively; Alice's share comes back on chain.
    let before_close = confirmed_sat(&a);
    let channel_balance = channels(&a)
        .iter()
        .find(|c| c["channel_id"] == channel_id.as_str())
        .and_then(|c| c["balance_sat"].as_u64())
        .expect("balance");
    a.ok(&["close", &channel_id]);
    wait_until("funds back on chain", || {
        mine(&harness, 1);
        std::thread::sleep(Duration::from_millis(300));
        confirmed_sat(&a) > before_close + channel_balance - 100_000
    });
    assert!(channels(&a)
        .iter()
        .all(|c| c["channel_id"] != channel_id.as_str()));

    phone.stop().expect("phone stops");
    // SIGTERM: a graceful stop, status 0.
    assert!(a.terminate().success(), "alice: {}", a.log());
    assert!(b.terminate().success(), "bob: {}", b.log());
}

#[test]
fn refusals_change_nothing() {
    refusals(&Storage::Sqlite);
}

#[test]
fn refusals_change_nothing_on_postgresql() {
    refusals(&Storage::postgres());
}

fn refusals(storage: &Storage) {
    let harness = harness();
    let a = storage.daemon(&harness, "refusals");
    fund(&harness, &a, 2_000_000);
    let before = (channels(&a), payments(&a), confirmed_sat(&a));

    // Wrong password, through the CLI and raw: 401, typed.
    let wrong = run_cli(
        &["--api", &a.api, "--password", "not-the-password", "getinfo"],
        &[],
    );
    assert_eq!(wrong.status, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains("401 Unauthorized"),
        "{}",
        wrong.stderr
    );
    let (status, body) = raw_request(&a.api, "GET /v1/info HTTP/1.1", b"");
    assert_eq!(status, 401);
    assert_eq!(body["error"]["kind"], "Unauthorized");
    // The password from the environment works; a wrong one there too is refused.
    let env_ok = run_cli(
        &["--api", &a.api, "getinfo"],
        &[("QTUM_LN_PASSWORD", &a.password)],
    );
    assert_eq!(env_ok.status, 0, "{}", env_ok.stderr);
    let auth = format!("Authorization: Bearer {}", a.password);

    // Malformed JSON: 400 MalformedJson; a field the API does not know: 400 InvalidRequest.
    let (status, body) = raw_request(
        &a.api,
        &format!("POST /v1/onchain/send HTTP/1.1\r\n{auth}"),
        b"{\"address\": ",
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "ApiError");
    assert_eq!(body["error"]["kind"], "MalformedJson");
    let (status, body) = raw_request(
        &a.api,
        &format!("POST /v1/onchain/send HTTP/1.1\r\n{auth}"),
        b"{\"address\": \"x\", \"amount_sats\": 5}",
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["kind"], "InvalidRequest");

    // An unknown channel: 404 with the SDK's typed error.
    let unknown = a.cli(&["close", &"ab".repeat(32)]);
    assert_eq!(unknown.status, 2);
    assert!(
        unknown.stderr.contains("404 UnknownChannel"),
        "{}",
        unknown.stderr
    );
    let (status, body) = raw_request(
        &a.api,
        &format!("POST /v1/channels/force-close HTTP/1.1\r\n{auth}"),
        format!("{{\"channel_id\": \"{}\"}}", "cd".repeat(32)).as_bytes(),
    );
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "NodeError");
    assert_eq!(body["error"]["kind"], "UnknownChannel");

    // Oversize: 413 before the body is read, in the API's error form.
    let big = vec![b' '; 200 * 1024];
    let (status, body) = raw_request(
        &a.api,
        &format!("POST /v1/invoices HTTP/1.1\r\n{auth}"),
        &big,
    );
    assert_eq!(status, 413);
    assert_eq!(body["error"]["kind"], "RequestTooLarge");

    // A send the wallet cannot make: 409 InsufficientFunds, no transaction.
    let address = a.ok(&["newaddress"])["address"]
        .as_str()
        .expect("address")
        .to_string();
    let broke = a.cli(&["sendtoaddress", &address, "900000000"]);
    assert_eq!(broke.status, 2);
    assert!(
        broke.stderr.contains("InsufficientFunds"),
        "{}",
        broke.stderr
    );
    // Unknown routes and methods.
    let (status, body) = raw_request(&a.api, &format!("GET /v1/nothing HTTP/1.1\r\n{auth}"), b"");
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (404, Some("UnknownRoute"))
    );
    let (status, body) = raw_request(&a.api, &format!("POST /v1/info HTTP/1.1\r\n{auth}"), b"{}");
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (405, Some("MethodNotAllowed"))
    );

    // Recovery without a backup: off, on with what it can bring back, off again; a body or an
    // action it does not take is refused.
    assert_eq!(a.ok(&["recovery"])["active"], false);
    let on = a.ok(&["recovery", "start"]);
    assert_eq!(on["active"], true, "{on}");
    assert_eq!(on["found"], serde_json::json!([]), "{on}");
    assert!(
        on["notice"]
            .as_str()
            .is_some_and(|n| n.contains("force-closes")),
        "{on}"
    );
    assert_eq!(a.ok(&["recovery"])["active"], true);
    let (status, body) = raw_request(
        &a.api,
        &format!("POST /v1/recovery/stop HTTP/1.1\r\n{auth}"),
        b"{\"now\": true}",
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        a.ok(&["recovery"])["active"],
        true,
        "a refused stop stops nothing"
    );
    assert_eq!(a.ok(&["recovery", "stop"])["active"], false);
    assert_eq!(a.ok(&["recovery"])["active"], false);
    assert_eq!(a.cli(&["recovery", "later"]).status, 2);

    mine(&harness, 1);
    std::thread::sleep(Duration::from_millis(1500));
    let after = (channels(&a), payments(&a), confirmed_sat(&a));
    assert_eq!(before, after, "a refused request changed the node");
    // The password never reached the log.
    assert!(!a.log().contains(&a.password));
    assert!(a.log().contains("API listening"), "the log is written");
}

/// A server is killed too (OOM killer, power loss): the payee daemon is SIGKILLed at moments
/// spread over each payment (from before it reaches the payee to after it settles), and
/// restarted. Every payment ends (no HTLC stuck pending), the channel
/// is never force-closed, and the events of the payee's new run still report what it received.
#[test]
fn a_killed_daemon_keeps_its_channel() {
    let harness = harness();
    let a = Daemon::start(&harness, "payer");
    let mut b = Daemon::start(&harness, "payee");
    let b_id = b.node_id();
    fund(&harness, &a, 5_000_000);
    a.ok(&["open", &b.uri(), "2000000"]);
    let channel_id = wait_usable(&harness, &a, &b_id);

    for (round, delay_ms) in [0u64, 2, 5, 10, 20, 40].into_iter().enumerate() {
        let amount = (10_000 + round as u64 * 1_000).to_string();
        let invoice = b.ok(&["invoice", "--amount-msat", &amount]);
        let invoice = invoice["invoice"].as_str().expect("invoice").to_string();
        let killer = b.kill_after(Duration::from_millis(delay_ms));
        let paid = a.cli(&["pay", &invoice]);
        killer.join().expect("killer");
        b.reap();
        b.spawn();
        if paid.status != 0 {
            // The payee was already gone (or going): refused before anything started, with a
            // typed error that says so: no capacity to it, or no route with what is left.
            assert!(
                paid.stderr.contains("409 InsufficientCapacity")
                    || paid.stderr.contains("409 PaymentFailed"),
                "{}",
                paid.stderr
            );
        } else {
            let id = paid.json["payment_id"].as_str().expect("id").to_string();
            wait_until("the payment ended", || {
                a.ok(&["payment", &id])["status"] != "pending"
            });
        }
        wait_until("the channel usable again", || {
            channels(&a)
                .iter()
                .any(|c| c["channel_id"] == channel_id.as_str() && c["is_usable"] == true)
        });
    }
    // Not one force close, on either side.
    assert_no_channel_closed(&[&a, &b]);
    let open = channels(&b);
    assert!(
        open.iter()
            .any(|c| c["channel_id"] == channel_id.as_str() && c["is_usable"] == true),
        "{open:?}"
    );
    // A second payment of the same round never arrived twice: what the payee holds equals
    // what the payer sent successfully.
    let sent = succeeded_msat(&a);
    let received = received_msat(&b);
    assert_eq!(sent, received);
    let outcomes: Vec<String> = payments(&a)
        .iter()
        .map(|p| p["status"].as_str().unwrap_or("?").to_string())
        .collect();
    eprintln!("payer's outcomes: {outcomes:?}");
    assert!(sent > 0, "no payment got through: {outcomes:?}");
}

/// Starts a daemon on `config` that must stop at start (within a minute); what it said, on
/// stderr and in its log in `dir`.
fn refused_start(dir: &std::path::Path, config: &std::path::Path) -> String {
    let mut daemon = std::process::Command::new(daemon_bin())
        .arg("--config")
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while daemon.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = daemon.kill();
            panic!("the daemon of {} is running", config.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = daemon.wait_with_output().expect("output");
    assert!(!out.status.success(), "the daemon exited 0");
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    format!("{}{log}", String::from_utf8_lossy(&out.stderr))
}

/// One node per PostgreSQL database: a second daemon of the same node (its mnemonic copied)
/// given the same database stops at start with a message that says so, and the first keeps
/// running untouched.
#[test]
fn a_second_daemon_on_the_same_database_is_refused() {
    let harness = harness();
    let storage = Storage::postgres();
    let section = storage.section("shared");
    let first = Daemon::start_with(&harness, "first", &section);
    let before = first.ok(&["getinfo"]);

    let dir = temp_dir("second");
    std::fs::create_dir_all(&dir).expect("dir");
    // The same node twice (its mnemonic copied): only the database's lock can stop it.
    std::fs::copy(first.dir.join("mnemonic"), dir.join("mnemonic")).expect("mnemonic");
    let config = dir.join("qtum-lnd.toml");
    std::fs::write(
        &config,
        config_text(
            &harness,
            &dir,
            free_port(),
            free_port(),
            "second-daemon-password",
            &section,
        ),
    )
    .expect("config");
    let said = refused_start(&dir, &config);
    assert!(
        said.contains("another node uses this PostgreSQL database"),
        "{said}"
    );
    assert!(
        !said.contains("postgresql://"),
        "the URL is not printed: {said}"
    );
    assert_eq!(first.ok(&["getinfo"])["node_id"], before["node_id"]);
}

/// The PostgreSQL server of a paying daemon is killed (SIGKILL, all its processes) while
/// payments are under way: the daemon halts and exits (status 3), the server is started again,
/// and so is the daemon. Nothing is lost:
/// no channel closes on either side, every payment ends, and what the payer counts as sent
/// is what the payee received.
#[test]
fn a_killed_postgresql_server_loses_nothing() {
    let harness = harness();
    let Storage::Postgres(mut server) = Storage::postgres() else {
        unreachable!()
    };
    let url = server.create_database("payer").expect("database");
    let section = format!("[storage]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n");
    let mut a = Daemon::start_with(&harness, "pg-payer", &section);
    let b = Daemon::start(&harness, "pg-payee");
    let b_id = b.node_id();
    fund(&harness, &a, 5_000_000);
    a.ok(&["open", &b.uri(), "2000000"]);
    let channel_id = wait_usable(&harness, &a, &b_id);

    for round in 0..3u64 {
        let amount = (20_000 + round * 1_000).to_string();
        let invoice = b.ok(&["invoice", "--amount-msat", &amount]);
        let invoice = invoice["invoice"].as_str().expect("invoice").to_string();
        // The server dies while the payment's state is being written (or just before).
        let killer = std::thread::spawn({
            let delay = Duration::from_millis(round * 15);
            move || {
                std::thread::sleep(delay);
                server.kill();
                server
            }
        });
        let paid = a.cli(&["pay", &invoice]);
        server = killer.join().expect("killer");
        eprintln!(
            "round {round}: pay answered {}: {}",
            paid.status,
            paid.stderr.trim()
        );
        // Whatever the daemon answered, it cannot write any more: it refuses or halts.
        if paid.status != 0 {
            assert!(
                paid.stderr.contains("Persistence")
                    || paid.stderr.contains("PaymentFailed")
                    || paid.stderr.contains("InsufficientCapacity")
                    || paid.stderr.contains("NotRunning"),
                "{}",
                paid.stderr
            );
        }
        // The node sees its database gone and halts; the daemon exits (status 3) so that a
        // supervisor starts it again once the database is back.
        let status = a
            .wait_exit(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("the daemon runs on without its database: {}", a.log()));
        assert_eq!(status.code(), Some(3), "{status}");
        assert!(
            a.log()
                .contains("the connection to the database server is lost")
                || a.log().contains("writing the node's state failed"),
            "why it halted is logged"
        );
        server.restart().expect("PostgreSQL back");
        a.spawn();
        wait_until("the payer's payments ended", || {
            payments(&a).iter().all(|p| p["status"] != "pending")
        });
        wait_until("the channel usable again", || {
            channels(&a)
                .iter()
                .any(|c| c["channel_id"] == channel_id.as_str() && c["is_usable"] == true)
        });
    }
    // After the restarts, a payment goes through as before.
    let invoice = b.ok(&["invoice", "--amount-msat", "30000"]);
    let paid = a.ok(&["pay", invoice["invoice"].as_str().expect("invoice")]);
    let id = paid["payment_id"].as_str().expect("id").to_string();
    wait_until("the last payment succeeded", || {
        a.ok(&["payment", &id])["status"] == "succeeded"
    });

    assert_no_channel_closed(&[&a, &b]);
    let sent = succeeded_msat(&a);
    wait_until("the payee's count matches", || received_msat(&b) == sent);
}

/// The daemon reaches PostgreSQL over TLS (`sslmode=require`) trusting a private CA, and the
/// server sees an encrypted session; given another CA, it refuses to start.
#[test]
fn postgresql_over_tls_with_a_private_ca() {
    let harness = harness();
    let Storage::Postgres(mut server) = Storage::postgres() else {
        unreachable!()
    };
    let self_signed = || {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    };
    let (cert, key) = self_signed();
    server.enable_tls(&cert, &key).expect("TLS on");
    let url = server.create_database("tls").expect("database");
    let dir = temp_dir("pg-tls-cas");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), &cert).expect("ca");
    std::fs::write(dir.join("other.pem"), self_signed().0).expect("other ca");
    let section = |ca: &str| {
        format!(
            "[storage]\nbackend = \"postgres\"\npostgres_url = \"{url}?sslmode=require\"\n\
             postgres_ca_file = \"{}\"\n",
            dir.join(ca).display()
        )
    };

    // Another CA: the certificate is refused and the node never starts.
    let wrong = temp_dir("pg-tls-wrong");
    std::fs::create_dir_all(&wrong).expect("dir");
    let config = wrong.join("qtum-lnd.toml");
    std::fs::write(
        &config,
        config_text(
            &harness,
            &wrong,
            free_port(),
            free_port(),
            "tls-wrong-ca-password",
            &section("other.pem"),
        ),
    )
    .expect("config");
    let said = refused_start(&wrong, &config);
    assert!(said.to_lowercase().contains("certificate"), "{said}");

    // The right CA: the daemon runs, writes, and its session is encrypted.
    let d = Daemon::start_with(&harness, "pg-tls", &section("ca.pem"));
    new_address_script(&d);
    let psql = std::process::Command::new(server.program("psql"))
        // psql itself in plain text: only the daemon's session counts.
        .args(["-X", "-At", &format!("{url}?sslmode=disable"), "-c"])
        .arg(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE s.ssl AND a.datname = 'tls'",
        )
        .output()
        .expect("psql");
    let encrypted = String::from_utf8_lossy(&psql.stdout).trim().to_string();
    assert_eq!(encrypted, "1", "{psql:?}");
}
