//! Starts a real PostgreSQL server, talks to it with `psql`, crashes it, restarts it and drops
//! it. Fails (does not skip) when PostgreSQL is not installed.

use std::process::Command;

use qtum_pgtest::PgServer;

/// Runs one SQL command with `psql` against `url` and returns its unaligned, tuples-only output.
fn psql(server: &PgServer, url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new(server.program("psql"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg(url)
        .args(["-c", sql])
        .output()
        .map_err(|e| format!("could not run psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(format!(
            "psql {url} -c {sql:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[test]
fn start_create_kill_restart_drop() {
    let mut server = PgServer::start().unwrap_or_else(|e| panic!("{e}"));
    assert!(server.is_running());
    assert_eq!(
        server.url(),
        format!("postgresql://qtum@127.0.0.1:{}/postgres", server.port())
    );
    assert_eq!(psql(&server, &server.url(), "SELECT 1").unwrap(), "1");

    let db = server.create_database("pgtest_db").unwrap();
    assert_eq!(
        db,
        format!("postgresql://qtum@127.0.0.1:{}/pgtest_db", server.port())
    );
    assert_eq!(psql(&server, &db, "SELECT 1").unwrap(), "1");
    assert_eq!(
        psql(&server, &db, "SELECT current_user").unwrap(),
        "qtum",
        "the URL's user is the cluster's superuser"
    );
    psql(
        &server,
        &db,
        "CREATE TABLE t (v integer); INSERT INTO t VALUES (42)",
    )
    .unwrap();

    // A crash: the server stops answering, and what committed before survives.
    let port = server.port();
    server.kill();
    assert!(!server.is_running());
    assert!(
        psql(&server, &db, "SELECT 1").is_err(),
        "the killed server still answers"
    );
    server.restart().unwrap();
    assert!(server.is_running());
    assert_eq!(server.port(), port, "restart keeps the port");
    assert_eq!(psql(&server, &db, "SELECT 1").unwrap(), "1");
    assert_eq!(psql(&server, &db, "SELECT v FROM t").unwrap(), "42");

    // A clean stop and start.
    server.stop();
    assert!(!server.is_running());
    assert!(psql(&server, &db, "SELECT 1").is_err());
    server.restart().unwrap();
    assert_eq!(psql(&server, &db, "SELECT v FROM t").unwrap(), "42");

    // Dropping stops the server and removes the temporary directory.
    let dir = server.dir().to_path_buf();
    let data = server.data_dir().to_path_buf();
    assert!(data.join("PG_VERSION").is_file());
    let url = server.url();
    let psql_path = server.program("psql");
    drop(server);
    assert!(!data.exists(), "{} still exists", data.display());
    assert!(!dir.exists(), "{} still exists", dir.display());
    let after = Command::new(psql_path)
        .args(["-X", "-A", "-t"])
        .arg(&url)
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!after.status.success(), "the dropped server still answers");
}

#[test]
fn servers_are_independent() {
    let a = PgServer::start().unwrap_or_else(|e| panic!("{e}"));
    let b = PgServer::start().unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    assert_eq!(psql(&a, &a.url(), "SELECT 1").unwrap(), "1");
    assert_eq!(psql(&b, &b.url(), "SELECT 1").unwrap(), "1");
}
