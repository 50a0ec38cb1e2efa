//! The daemon refuses a bad config file at start, naming the key; a good one passes
//! `--check-config`; with TLS configured the API is HTTPS only and the CLI trusts the
//! configured certificate.

mod common;

use std::process::Command;

use common::*;

const GOOD: &str = r#"network = "regtest"

[api]
password = "a-long-enough-password"

[chain]
rpc_url = "http://127.0.0.1:13889"
rpc_user = "u"
rpc_password = "p"
"#;

fn check(text: &str) -> (i32, String) {
    let dir = temp_dir("config");
    let path = dir.join("qtum-lnd.toml");
    std::fs::write(&path, text).expect("written");
    let out = Command::new(daemon_bin())
        .args(["--check-config", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_good_file_passes() {
    let (status, stderr) = check(GOOD);
    assert_eq!(status, 0, "{stderr}");
    // A liquidity provider with some of its terms set.
    let (status, stderr) = check(&merge(
        GOOD,
        "[lsp]\nenabled = true\nopening_fee_ppm = 5000\nmax_payment_msat = 200000000000\n",
    ));
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn bad_files_are_refused_with_the_key_named() {
    let cases: &[(&str, &str)] = &[
        // A misspelt key in a section, and at the top.
        ("[api]\npasword = \"x\"\n", "api.pasword"),
        ("netwrk = \"regtest\"\n", "netwrk"),
        // Bad values.
        ("[api]\nlisten = \"localhost\"\n", "api.listen"),
        ("[node]\ncolor = \"blue\"\n", "node.color"),
        (
            "[channels]\nmin_funding_sat = \"lots\"\n",
            "channels.min_funding_sat",
        ),
        (
            "[channels]\nto_self_delay_blocks = 10\n",
            "channels.to_self_delay_blocks",
        ),
        ("[log]\nlevel = \"loud\"\n", "log.level"),
        (
            "[chain]\nzmq_block = \"127.0.0.1:28332\"\n",
            "chain.zmq_block",
        ),
        ("[storage]\nbackend = \"mysql\"\n", "storage.backend"),
        (
            "[storage]\nbackend = \"postgres\"\n",
            "storage.postgres_url",
        ),
        (
            "[storage]\npostgres_url = \"postgresql://qtum@127.0.0.1/ln\"\n",
            "storage.postgres_url",
        ),
        (
            "[storage]\nbackend = \"postgres\"\npostgres_url = \"mysql://qtum@h/ln\"\n",
            "storage.postgres_url",
        ),
        (
            "[storage]\nbackend = \"postgres\"\npostgres_url_file = \"nothing-here\"\n",
            "storage.postgres_url_file",
        ),
        (
            "[storage]\npostgres_ca_file = \"ca.pem\"\n",
            "storage.postgres_ca_file",
        ),
        (
            "[storage]\nbackend = \"postgres\"\npostgres_url = \"postgresql://q@h/ln\"\npostgres_ca_file = \"nothing-here.pem\"\n",
            "storage.postgres_ca_file",
        ),
        (
            "[chain]\nrpc_password_file = \"nothing-here\"\n",
            "chain.rpc_password_file",
        ),
        (
            "[chain]\nesplora_ca_file = \"ca.pem\"\n",
            "chain.esplora_ca_file",
        ),
        ("[api]\nthreads = 0\n", "api.threads"),
        ("[node]\nannounce = [\"0.0.0.0:9735\"]\n", "node.announce"),
        ("[lsp]\nenabld = true\n", "lsp.enabld"),
        (
            "[lsp]\nenabled = true\nmin_payment_msat = 0\n",
            "lsp",
        ),
        (
            "[lsp]\nenabled = true\nmin_opening_fee_msat = 5000000000\n",
            "lsp",
        ),
        (
            "[lsp]\nenabled = true\ntoken_file = \"nothing-here\"\n",
            "lsp.token_file",
        ),
        (
            "[lsp]\nenabled = true\nwebhook_ca_file = \"nothing-here.pem\"\n",
            "lsp.webhook_ca_file",
        ),
    ];
    for (extra, key) in cases {
        // The extra lines override or add to the good file (TOML allows a table once: the
        // sections of the good file are merged by hand).
        let text = merge(GOOD, extra);
        let (status, stderr) = check(&text);
        assert_eq!(status, 2, "{key}: {stderr}");
        assert!(stderr.contains(key), "{key} not named: {stderr}");
    }
    // A short password, and none at all.
    let (status, stderr) = check(&GOOD.replace("a-long-enough-password", "short"));
    assert_eq!(status, 2);
    assert!(stderr.contains("api.password"), "{stderr}");
    let (status, stderr) = check(&GOOD.replace("password = \"a-long-enough-password\"", ""));
    assert_eq!(status, 2);
    assert!(stderr.contains("api.password"), "{stderr}");
    // The password is never echoed.
    let (_, stderr) = check(&merge(GOOD, "[api]\nlisten = \"nowhere\"\n"));
    assert!(!stderr.contains("a-long-enough-password"), "{stderr}");
    // Nor is a database URL's password, when another key is wrong.
    let (status, stderr) = check(&merge(
        GOOD,
        "[storage]\nbackend = \"postgres\"\npostgres_url = \"postgresql://u:db-secret-pw@h/ln\"\n[log]\nlevel = \"loud\"\n",
    ));
    assert_eq!(status, 2, "{stderr}");
    assert!(!stderr.contains("db-secret-pw"), "{stderr}");
    // Secrets from files: the first line only; an empty or missing file is refused by key.
    let dir = temp_dir("secrets");
    std::fs::write(dir.join("api"), "a-long-enough-password\nsecond line\n").expect("written");
    std::fs::write(dir.join("rpc"), "rpc-secret\n").expect("written");
    std::fs::write(dir.join("empty"), "\n").expect("written");
    let from_files = GOOD
        .replace(
            "password = \"a-long-enough-password\"",
            &format!("password_file = \"{}\"", dir.join("api").display()),
        )
        .replace(
            "rpc_password = \"p\"",
            &format!("rpc_password_file = \"{}\"", dir.join("rpc").display()),
        );
    let (status, stderr) = check(&from_files);
    assert_eq!(status, 0, "{stderr}");
    let (status, stderr) = check(&from_files.replace("/rpc\"", "/empty\""));
    assert_eq!(status, 2);
    assert!(stderr.contains("chain.rpc_password_file"), "{stderr}");
    // Mainnet over plain HTTP to another machine is refused.
    let (status, stderr) = check(
        &GOOD
            .replace("regtest", "mainnet")
            .replace("127.0.0.1:13889", "203.0.113.9:3889"),
    );
    assert_eq!(status, 2);
    assert!(stderr.contains("chain"), "{stderr}");
}

/// `extra` ("[section]\nkey = value\n" or a top-level "key = value\n") added to `base`: into
/// the existing section when there is one.
fn merge(base: &str, extra: &str) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
    let mut section: Option<String> = None;
    for line in extra.lines() {
        if line.starts_with('[') {
            section = Some(line.to_string());
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_string());
            }
            continue;
        }
        match &section {
            None => lines.insert(0, line.to_string()),
            Some(s) => {
                let at = lines.iter().position(|l| l == s).expect("section") + 1;
                lines.insert(at, line.to_string());
            }
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn tls_api_with_a_private_certificate() {
    let harness = harness();
    let dir = temp_dir("tls");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::write(dir.join("api.crt"), cert.pem()).expect("cert written");
    std::fs::write(dir.join("api.key"), key.serialize_pem()).expect("key written");
    let api_port = free_port();
    let config = dir.join("qtum-lnd.toml");
    let text = config_text(
        &harness,
        &dir,
        api_port,
        free_port(),
        "tls-test-password",
        "",
    )
    .replace(
        "password = \"tls-test-password\"",
        "password = \"tls-test-password\"\ntls_cert = \"api.crt\"\ntls_key = \"api.key\"",
    );
    std::fs::write(&config, text).expect("config");
    let mut child = Command::new(daemon_bin())
        .arg("--config")
        .arg(&config)
        .spawn()
        .expect("spawns");
    let cfg = config.to_str().expect("utf-8").to_string();
    wait_until("TLS API up", || {
        run_cli(&["--config", &cfg, "getinfo"], &[]).status == 0
    });
    // Without trusting the certificate, the CLI cannot connect; plain HTTP gets no answer.
    let untrusted = run_cli(
        &[
            "--api",
            &format!("https://127.0.0.1:{api_port}"),
            "--password",
            "tls-test-password",
            "getinfo",
        ],
        &[],
    );
    assert_eq!(untrusted.status, 1, "{untrusted:?}");
    let (status, _) = raw_request(
        &format!("http://127.0.0.1:{api_port}"),
        "GET /v1/info HTTP/1.1",
        b"",
    );
    assert_ne!(status, 200);
    let trusted = run_cli(
        &[
            "--api",
            &format!("https://127.0.0.1:{api_port}"),
            "--password",
            "tls-test-password",
            "--cacert",
            dir.join("api.crt").to_str().expect("utf-8"),
            "getinfo",
        ],
        &[],
    );
    assert_eq!(trusted.status, 0, "{}", trusted.stderr);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("exits").success());
}
