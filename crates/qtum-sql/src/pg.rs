//! The PostgreSQL side: one `postgres::Client` on a thread of its own.
//!
//! The synchronous client drives a tokio runtime of its own and panics when called from inside
//! another runtime's thread; the node calls its database from tokio tasks too. Running the
//! client on a dedicated thread and passing it jobs makes every call an ordinary blocking call,
//! like an SQLite call behind the same mutex.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::types::{FromSql, IsNull, ToSql, Type};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::{Error, Result, Value};

/// How often [`Client::is_closed`] asks the server at most.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long such a question may take before the server counts as gone.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

struct State {
    client: postgres::Client,
    /// When [`Client::is_closed`] last asked the server.
    last_probe: Option<Instant>,
    /// Prepared statements by their SQL (PostgreSQL plans each once per connection).
    cache: HashMap<String, postgres::Statement>,
}

type Job = Box<dyn FnOnce(&mut State) + Send>;

/// A query's column names and rows of values.
pub(crate) type Rows = (Arc<[String]>, Vec<Vec<Value>>);

/// A PostgreSQL connection served by its own thread.
pub(crate) struct Client {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

fn pg_error(e: postgres::Error) -> Error {
    let sqlstate = e.code().map(|c| c.code().to_string());
    let message = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut m = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                m.push_str(": ");
                m.push_str(&s.to_string());
                source = s.source();
            }
            m
        }
    };
    Error::Postgres {
        closed: e.is_closed() || (sqlstate.is_none() && e.as_db_error().is_none()),
        sqlstate,
        message,
    }
}

fn gone() -> Error {
    Error::Postgres {
        sqlstate: None,
        message: "the connection's thread is gone".into(),
        closed: true,
    }
}

/// The TLS settings for a connection: the webpki roots, or the certificates in `ca_file`.
///
/// Whether TLS is used is the URL's `sslmode`: `require` refuses a server without TLS,
/// `prefer` (the default) uses it when the server offers it, `disable` never does. When TLS is
/// used, the server's certificate and name are always checked.
fn tls(ca_file: Option<&std::path::Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let bad = |what: String| Error::Postgres {
        sqlstate: None,
        message: what,
        closed: true,
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| bad(format!("cannot read the CA file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(bad(format!(
                    "the CA file {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    bad(format!(
                        "a certificate in {} is refused: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl Client {
    pub(crate) fn connect(url: &str, ca_file: Option<&std::path::Path>) -> Result<Client> {
        let tls = tls(ca_file)?;
        // Never print the URL (it may carry a password): the parser's errors name keys only.
        let mut config: postgres::Config =
            url.parse().map_err(|e: postgres::Error| Error::Postgres {
                sqlstate: None,
                message: format!("bad PostgreSQL URL: {e}"),
                closed: true,
            })?;
        // A server that stops answering must not hang the node: bounded connects, and TCP
        // keepalives and a user timeout so a dead peer or a silent network partition fails the
        // call within about a minute instead of the system's two hours. A connect timeout in
        // the URL wins.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(60));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("qtum-sql-pg".into())
            .spawn(move || {
                let client = match config.connect(tls) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(pg_error(e)));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let mut state = State {
                    client,
                    last_probe: None,
                    cache: HashMap::new(),
                };
                while let Ok(job) = jobs_rx.recv() {
                    job(&mut state);
                }
            })
            .map_err(|e| Error::Postgres {
                sqlstate: None,
                message: format!("cannot start the connection's thread: {e}"),
                closed: true,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Client {
                jobs: Some(jobs_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(gone())
            }
        }
    }

    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |state| {
            let _ = tx.send(f(state));
        });
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    pub(crate) fn execute(&self, sql: String, values: Vec<Value>) -> Result<usize> {
        self.run(move |s| {
            let stmt = s.prepared(&sql)?;
            let params: Vec<&(dyn ToSql + Sync)> =
                values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            let n = s.client.execute(&stmt, &params).map_err(pg_error)?;
            Ok(n as usize)
        })
    }

    pub(crate) fn query(&self, sql: String, values: Vec<Value>) -> Result<Rows> {
        self.run(move |s| {
            let stmt = s.prepared(&sql)?;
            let names: Arc<[String]> = stmt
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            let params: Vec<&(dyn ToSql + Sync)> =
                values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            let rows = s.client.query(&stmt, &params).map_err(pg_error)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut vals = Vec::with_capacity(names.len());
                for i in 0..names.len() {
                    vals.push(row.try_get::<_, Value>(i).map_err(pg_error)?);
                }
                out.push(vals);
            }
            Ok((names, out))
        })
    }

    /// Whether the connection is gone (the server closed it, or its thread ended). The driver
    /// notices a dead server only when it talks to it, so this asks the server (at most every
    /// [`PROBE_EVERY`], waiting [`PROBE_TIMEOUT`] at most) when it has not done so lately.
    pub(crate) fn is_closed(&self) -> bool {
        self.run(|s| {
            if s.client.is_closed() {
                return Ok(true);
            }
            if s.last_probe.is_none_or(|t| t.elapsed() >= PROBE_EVERY) {
                s.last_probe = Some(Instant::now());
                if s.client.is_valid(PROBE_TIMEOUT).is_err() {
                    return Ok(true);
                }
            }
            Ok(s.client.is_closed())
        })
        .unwrap_or(true)
    }

    pub(crate) fn batch(&self, sql: String) -> Result<()> {
        self.run(move |s| {
            // Schema changes can invalidate plans of cached statements.
            let is_tx_control = matches!(sql.trim(), "BEGIN" | "COMMIT" | "ROLLBACK");
            if !is_tx_control {
                s.cache.clear();
            }
            s.client.batch_execute(&sql).map_err(pg_error)
        })
    }
}

impl State {
    fn prepared(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.prepare(sql).map_err(pg_error)?;
        self.cache.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Closing the job queue ends the thread, which drops (and closes) the connection.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(format!("an integer bound to a {ty} parameter").into()),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Integer(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(<Vec<u8>>::from_sql(ty, raw)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Value::Text(String::from_sql(ty, raw)?)
            }
            _ => return Err(format!("a {ty} column (cast it to BIGINT, TEXT or BYTEA)").into()),
        })
    }

    fn from_sql_null(_ty: &Type) -> Result<Value, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}
