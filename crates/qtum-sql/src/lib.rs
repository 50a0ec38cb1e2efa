//! One connection API over two databases: SQLite (always) and PostgreSQL (feature `postgres`).
//!
//! The SDK keeps all of a node's state behind one connection (see the SDK's `io::db`). Its
//! stores were written against rusqlite; this crate keeps that shape (`execute`, `query_row`,
//! `prepare(..).query_map(..)`, `params!`, transactions that roll back when dropped) so each
//! store's SQL is written once and runs on either database.
//!
//! # The SQL both databases accept
//!
//! Statements are written in the subset SQLite and PostgreSQL share, with these rules:
//!
//! - placeholders are `?1`, `?2`, … (or bare `?`); on PostgreSQL they become `$1`, `$2`, …;
//! - upserts use `INSERT … ON CONFLICT (key) DO UPDATE SET c = excluded.c`, which both accept;
//!   `INSERT OR IGNORE INTO` is rewritten to `INSERT INTO … ON CONFLICT DO NOTHING`;
//!   `INSERT OR REPLACE` is refused on PostgreSQL (it has no equivalent without the key);
//! - `BEGIN IMMEDIATE` (SQLite's "take the write lock now") is plain `BEGIN` on PostgreSQL, whose
//!   row locks and single-writer use give the same guarantee here;
//! - values are NULL, 64-bit integers, text or bytes ([`Value`]). PostgreSQL tables use `BIGINT`
//!   and `BYTEA` where SQLite has `INTEGER` and `BLOB`; an integer bound to a narrower column is
//!   range-checked, never truncated. Aggregates that PostgreSQL widens (`SUM` of `BIGINT` is
//!   `NUMERIC`) are cast back (`CAST(SUM(x) AS BIGINT)`).
//!
//! Schemas (DDL) differ between the two and are kept per backend by their owners.
//!
//! # Transactions
//!
//! [`Connection::transaction_with_behavior`] begins one and hands out a [`Transaction`] that
//! derefs to the connection; it rolls back when dropped without [`Transaction::commit`]. A
//! transaction inside a transaction is refused ([`Error::NestedTransaction`]): SQLite refuses it
//! too, while PostgreSQL would only warn and let the inner `COMMIT` end the outer one.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

#[cfg(feature = "postgres")]
mod pg;

/// A value bound to a statement or read from a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer (booleans are 0 and 1).
    Integer(i64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "integer",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// Which database a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (or memory).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// What a failed call means, for callers that act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No space left for the write.
    DiskFull,
    /// The stored data is damaged or not a database.
    Corrupt,
    /// Another connection holds a lock the call needed.
    Busy,
    /// A constraint (unique, check, not null, foreign key) refused the write.
    Constraint,
    /// The connection to the server is gone.
    ConnectionLost,
    /// Anything else.
    Other,
}

/// A failed database call.
#[derive(Debug)]
pub enum Error {
    /// `query_row` found no row.
    QueryReturnedNoRows,
    /// SQLite's own error.
    Sqlite(rusqlite::Error),
    /// A PostgreSQL error: its SQLSTATE (when the server sent one) and message.
    Postgres {
        /// The five-character SQLSTATE, e.g. `53100` (disk full).
        sqlstate: Option<String>,
        /// What the server or the driver said.
        message: String,
        /// True when the connection is gone.
        closed: bool,
    },
    /// A value could not be converted (to or from SQL).
    Conversion(String),
    /// A column index or name that the row does not have.
    InvalidColumn(String),
    /// A transaction begun inside another one.
    NestedTransaction,
    /// SQL this layer cannot carry to the connection's database.
    Unsupported(String),
}

impl Error {
    /// What the error means for the caller.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Sqlite(e) => Some(match e.sqlite_error_code()? {
                rusqlite::ErrorCode::DiskFull => ErrorCode::DiskFull,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
                    ErrorCode::Corrupt
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    ErrorCode::Busy
                }
                rusqlite::ErrorCode::ConstraintViolation => ErrorCode::Constraint,
                _ => ErrorCode::Other,
            }),
            Error::Postgres {
                sqlstate, closed, ..
            } => {
                if *closed {
                    return Some(ErrorCode::ConnectionLost);
                }
                let s = sqlstate.as_deref()?;
                Some(match s {
                    "53100" => ErrorCode::DiskFull,
                    "XX001" | "XX002" => ErrorCode::Corrupt,
                    "55P03" | "40P01" | "40001" => ErrorCode::Busy,
                    _ if s.starts_with("23") => ErrorCode::Constraint,
                    _ if s.starts_with("08") || s.starts_with("57P") => ErrorCode::ConnectionLost,
                    _ => ErrorCode::Other,
                })
            }
            _ => None,
        }
    }

    /// A conversion error with a message.
    pub fn conversion(what: impl fmt::Display) -> Error {
        Error::Conversion(what.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::QueryReturnedNoRows => write!(f, "query returned no rows"),
            Error::Sqlite(e) => write!(f, "{e}"),
            Error::Postgres {
                sqlstate, message, ..
            } => match sqlstate {
                Some(s) => write!(f, "postgresql: {message} (SQLSTATE {s})"),
                None => write!(f, "postgresql: {message}"),
            },
            Error::Conversion(w) => write!(f, "conversion failed: {w}"),
            Error::InvalidColumn(w) => write!(f, "no column {w}"),
            Error::NestedTransaction => {
                write!(f, "cannot begin a transaction within a transaction")
            }
            Error::Unsupported(w) => write!(f, "unsupported SQL: {w}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::QueryReturnedNoRows,
            other => Error::Sqlite(other),
        }
    }
}

/// The result of a database call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Ok(None)` for [`Error::QueryReturnedNoRows`] (as rusqlite's trait of the same name).
pub trait OptionalExtension<T> {
    /// The row, or `None` when there was none.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Something that can be bound to a placeholder.
pub trait ToSql {
    /// The value to bind.
    fn to_sql(&self) -> Result<Value>;
}

macro_rules! to_sql_int {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<Value> {
                i64::try_from(*self)
                    .map(Value::Integer)
                    .map_err(|_| Error::conversion(format!("{} does not fit a 64-bit integer", self)))
            }
        }
    )*};
}
to_sql_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl ToSql for bool {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Integer(i64::from(*self)))
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Text(self.to_owned()))
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Text(self.clone()))
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Blob(self.to_vec()))
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Blob(self.clone()))
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_sql(&self) -> Result<Value> {
        Ok(Value::Blob(self.to_vec()))
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Result<Value> {
        Ok(self.clone())
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<Value> {
        match self {
            Some(v) => v.to_sql(),
            None => Ok(Value::Null),
        }
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<Value> {
        (**self).to_sql()
    }
}

/// Something a column can be read as.
pub trait FromSql: Sized {
    /// Convert the column's value.
    fn from_sql(value: &Value) -> Result<Self>;
}

fn wrong_type<T>(value: &Value, wanted: &str) -> Result<T> {
    Err(Error::conversion(format!(
        "a {} column read as {wanted}",
        value.type_name()
    )))
}

macro_rules! from_sql_int {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sql(value: &Value) -> Result<Self> {
                match value {
                    Value::Integer(i) => <$t>::try_from(*i).map_err(|_| {
                        Error::conversion(format!("{i} is out of range for {}", stringify!($t)))
                    }),
                    other => wrong_type(other, stringify!($t)),
                }
            }
        }
    )*};
}
from_sql_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl FromSql for bool {
    fn from_sql(value: &Value) -> Result<Self> {
        match value {
            Value::Integer(i) => Ok(*i != 0),
            other => wrong_type(other, "bool"),
        }
    }
}

impl FromSql for String {
    fn from_sql(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => wrong_type(other, "text"),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(value: &Value) -> Result<Self> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            other => wrong_type(other, "bytes"),
        }
    }
}

impl FromSql for Value {
    fn from_sql(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

/// The parameters of one statement.
pub trait Params {
    /// The values, in placeholder order.
    fn values(&self) -> Result<Vec<Value>>;
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Result<Vec<Value>> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

impl<const N: usize> Params for [&dyn ToSql; N] {
    fn values(&self) -> Result<Vec<Value>> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

impl<const N: usize> Params for &[&dyn ToSql; N] {
    fn values(&self) -> Result<Vec<Value>> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

/// Parameters from a list of expressions: `params![a, b]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::ToSql]
    };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::ToSql),+] as &[&dyn $crate::ToSql]
    };
}

/// A column of a row: by index or by name.
pub trait RowIndex {
    /// The column's position.
    fn index(&self, row: &Row) -> Result<usize>;
}

impl RowIndex for usize {
    fn index(&self, row: &Row) -> Result<usize> {
        if *self < row.values.len() {
            Ok(*self)
        } else {
            Err(Error::InvalidColumn(self.to_string()))
        }
    }
}

impl RowIndex for &str {
    fn index(&self, row: &Row) -> Result<usize> {
        row.names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(self))
            .ok_or_else(|| Error::InvalidColumn((*self).to_string()))
    }
}

/// One row of a result.
#[derive(Debug, Clone)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// The column at `idx` (a position or a name) as `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let i = idx.index(self)?;
        T::from_sql(&self.values[i]).map_err(|e| match e {
            Error::Conversion(w) => Error::Conversion(format!("column {}: {w}", self.names[i])),
            other => other,
        })
    }
}

/// How [`Connection::transaction_with_behavior`] begins (SQLite's three; all are `BEGIN` on
/// PostgreSQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionBehavior {
    /// Locks are taken by the first read or write.
    Deferred,
    /// The write lock is taken at once (a writer never fails later for another's lock).
    Immediate,
    /// Readers are locked out too.
    Exclusive,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    #[cfg(feature = "postgres")]
    Postgres(pg::Client),
}

/// One connection to the node's database.
pub struct Connection {
    inner: Inner,
    /// A transaction begun through this layer is open (PostgreSQL; SQLite reports its own).
    in_tx: Cell<bool>,
    /// A statement failed inside the open transaction (PostgreSQL then aborts the transaction
    /// and answers its COMMIT with a rollback, not an error: see [`Transaction::commit`]).
    tx_failed: Cell<bool>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("backend", &self.backend())
            .finish()
    }
}

impl From<rusqlite::Connection> for Connection {
    fn from(conn: rusqlite::Connection) -> Connection {
        Connection {
            inner: Inner::Sqlite(conn),
            in_tx: Cell::new(false),
            tx_failed: Cell::new(false),
        }
    }
}

impl Connection {
    /// A private SQLite database in memory (tests).
    pub fn open_in_memory() -> Result<Connection> {
        Ok(rusqlite::Connection::open_in_memory()?.into())
    }

    /// Connect to PostgreSQL (`postgresql://user@host:port/dbname` or key=value form).
    ///
    /// The client runs on a thread of its own, so calls work from any thread, inside a tokio
    /// runtime or not. TLS follows the URL's `sslmode` (`require` to insist on it); when used,
    /// the server's certificate must chain to `ca_file` (PEM) or, without one, to the webpki
    /// roots, and name the URL's host.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, ca_file: Option<&std::path::Path>) -> Result<Connection> {
        Ok(Connection {
            inner: Inner::Postgres(pg::Client::connect(url, ca_file)?),
            in_tx: Cell::new(false),
            tx_failed: Cell::new(false),
        })
    }

    /// The database behind this connection.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, checks of the file).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => None,
        }
    }

    /// Run one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.run(sql, params.values()?, false)
    }

    fn run(&self, sql: &str, values: Vec<Value>, cached: bool) -> Result<usize> {
        match &self.inner {
            Inner::Sqlite(c) if cached => Ok(c
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(to_sqlite(values)))?),
            Inner::Sqlite(c) => Ok(c.execute(sql, rusqlite::params_from_iter(to_sqlite(values)))?),
            #[cfg(feature = "postgres")]
            Inner::Postgres(c) => self.noted(c.execute(translate(sql)?, values)),
        }
    }

    /// Remembers a failure inside an open transaction.
    #[cfg(feature = "postgres")]
    fn noted<T>(&self, r: Result<T>) -> Result<T> {
        if r.is_err() && self.in_tx.get() {
            self.tx_failed.set(true);
        }
        r
    }

    /// Run statements separated by `;`, without parameters (schema changes).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            #[cfg(feature = "postgres")]
            Inner::Postgres(c) => self.noted(c.batch(translate_batch(sql))),
        }
    }

    /// The rows of a query, each converted by `f`.
    pub fn query_map<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<Vec<T>>
    where
        P: Params,
        F: FnMut(&Row) -> Result<T>,
    {
        self.rows(sql, params.values()?)?.iter().map(f).collect()
    }

    /// The first row of a query, converted by `f`; [`Error::QueryReturnedNoRows`] without one.
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row) -> Result<T>,
    {
        let rows = self.rows(sql, params.values()?)?;
        match rows.first() {
            Some(row) => f(row),
            None => Err(Error::QueryReturnedNoRows),
        }
    }

    /// A statement to run (possibly several times).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
            cached: false,
        })
    }

    /// A statement SQLite keeps prepared for the next call with the same SQL (PostgreSQL
    /// keeps every statement prepared).
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
            cached: true,
        })
    }

    fn rows(&self, sql: &str, values: Vec<Value>) -> Result<Vec<Row>> {
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare(sql)?;
                let names: Arc<[String]> =
                    stmt.column_names().into_iter().map(str::to_owned).collect();
                let n = names.len();
                let mut rows = stmt.query(rusqlite::params_from_iter(to_sqlite(values)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut vals = Vec::with_capacity(n);
                    for i in 0..n {
                        vals.push(from_sqlite(r.get::<_, rusqlite::types::Value>(i)?)?);
                    }
                    out.push(Row {
                        names: Arc::clone(&names),
                        values: vals,
                    });
                }
                Ok(out)
            }
            #[cfg(feature = "postgres")]
            Inner::Postgres(c) => {
                let (names, rows) = self.noted(c.query(translate(sql)?, values))?;
                Ok(rows
                    .into_iter()
                    .map(|values| Row {
                        names: Arc::clone(&names),
                        values,
                    })
                    .collect())
            }
        }
    }

    /// True when the connection can no longer be used: the PostgreSQL server closed it or went
    /// away (this layer does not reconnect: a node halts and is started again). Never for
    /// SQLite.
    pub fn is_broken(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            Inner::Postgres(c) => c.is_closed(),
        }
    }

    /// True when no transaction is open.
    pub fn is_autocommit(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(c) => c.is_autocommit(),
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => !self.in_tx.get(),
        }
    }

    /// Begin a transaction (deferred).
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        self.transaction_with_behavior(TransactionBehavior::Deferred)
    }

    /// Begin a transaction.
    pub fn transaction_with_behavior(
        &self,
        behavior: TransactionBehavior,
    ) -> Result<Transaction<'_>> {
        if !self.is_autocommit() {
            return Err(Error::NestedTransaction);
        }
        let begin = match (self.backend(), behavior) {
            (Backend::Postgres, _) => "BEGIN",
            (Backend::Sqlite, TransactionBehavior::Deferred) => "BEGIN DEFERRED",
            (Backend::Sqlite, TransactionBehavior::Immediate) => "BEGIN IMMEDIATE",
            (Backend::Sqlite, TransactionBehavior::Exclusive) => "BEGIN EXCLUSIVE",
        };
        self.execute_batch(begin)?;
        self.in_tx.set(true);
        self.tx_failed.set(false);
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }

    fn end(&self, sql: &str) -> Result<()> {
        let r = self.execute_batch(sql);
        // PostgreSQL ends the transaction on a failed COMMIT (it rolls back); SQLite may keep
        // it open, which `is_autocommit` then reports.
        self.in_tx.set(false);
        r
    }
}

/// A statement from [`Connection::prepare`].
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
    cached: bool,
}

impl Statement<'_> {
    /// The rows, each converted by `f` (collect into a `Result<Vec<_>>`).
    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<std::vec::IntoIter<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row) -> Result<T>,
    {
        let rows = self.conn.rows(&self.sql, params.values()?)?;
        Ok(rows.iter().map(f).collect::<Vec<_>>().into_iter())
    }

    /// Run the statement; the number of rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.run(&self.sql, params.values()?, self.cached)
    }
}

/// An open transaction; rolled back when dropped without [`Transaction::commit`].
pub struct Transaction<'c> {
    conn: &'c Connection,
    done: bool,
}

impl Transaction<'_> {
    /// Commit what the transaction did. On PostgreSQL, a transaction in which a statement
    /// failed is rolled back and the commit is an error (the server itself would answer the
    /// COMMIT with a rollback and no error).
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        if self.conn.tx_failed.get() && self.conn.backend() == Backend::Postgres {
            let _ = self.conn.end("ROLLBACK");
            return Err(Error::Postgres {
                sqlstate: Some("25P02".into()),
                message: "a statement of the transaction failed: it was rolled back, not committed"
                    .into(),
                closed: false,
            });
        }
        let r = self.conn.end("COMMIT");
        if r.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.end("ROLLBACK");
        }
        r
    }

    /// Undo what the transaction did.
    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.end("ROLLBACK")
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.conn.end("ROLLBACK") {
                log::warn!("rolling back a dropped transaction failed: {e}");
            }
        }
    }
}

fn to_sqlite(values: Vec<Value>) -> impl Iterator<Item = rusqlite::types::Value> {
    values.into_iter().map(|v| match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Integer(i) => rusqlite::types::Value::Integer(i),
        Value::Text(s) => rusqlite::types::Value::Text(s),
        Value::Blob(b) => rusqlite::types::Value::Blob(b),
    })
}

fn from_sqlite(v: rusqlite::types::Value) -> Result<Value> {
    Ok(match v {
        rusqlite::types::Value::Null => Value::Null,
        rusqlite::types::Value::Integer(i) => Value::Integer(i),
        rusqlite::types::Value::Text(s) => Value::Text(s),
        rusqlite::types::Value::Blob(b) => Value::Blob(b),
        rusqlite::types::Value::Real(r) => {
            return Err(Error::conversion(format!(
                "a real number ({r}) in a column"
            )))
        }
    })
}

/// One statement in PostgreSQL's dialect (see the crate's documentation for the rules).
pub fn translate(sql: &str) -> Result<String> {
    if sql.contains("INSERT OR REPLACE") {
        return Err(Error::Unsupported(
            "INSERT OR REPLACE (write INSERT … ON CONFLICT (key) DO UPDATE)".into(),
        ));
    }
    let mut out = String::with_capacity(sql.len() + 32);
    let mut next = 1u32;
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
        } else if c == '?' && !quoted {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                digits = next.to_string();
                next += 1;
            }
            out.push('$');
            out.push_str(&digits);
        } else {
            out.push(c);
        }
    }
    let mut out = translate_batch(&out);
    if let Some(i) = out.find("INSERT OR IGNORE INTO") {
        out.replace_range(i..i + "INSERT OR IGNORE INTO".len(), "INSERT INTO");
        let end = out.trim_end().trim_end_matches(';').len();
        out.truncate(end);
        out.push_str(" ON CONFLICT DO NOTHING");
    }
    Ok(out)
}

fn translate_batch(sql: &str) -> String {
    let t = sql.trim();
    if t.eq_ignore_ascii_case("BEGIN IMMEDIATE")
        || t.eq_ignore_ascii_case("BEGIN DEFERRED")
        || t.eq_ignore_ascii_case("BEGIN EXCLUSIVE")
    {
        return "BEGIN".into();
    }
    sql.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_inserts_become_postgresql() {
        assert_eq!(
            translate("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?2").unwrap(),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $2"
        );
        assert_eq!(
            translate("UPDATE t SET a = ? WHERE b = ?").unwrap(),
            "UPDATE t SET a = $1 WHERE b = $2"
        );
        assert_eq!(
            translate("INSERT OR IGNORE INTO k (key) VALUES (?1)").unwrap(),
            "INSERT INTO k (key) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert!(matches!(
            translate("INSERT OR REPLACE INTO k (key) VALUES (?1)"),
            Err(Error::Unsupported(_))
        ));
        assert_eq!(translate_batch("BEGIN IMMEDIATE"), "BEGIN");
    }

    #[test]
    fn values_round_trip_and_out_of_range_is_refused() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .unwrap();
        c.execute(
            "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)",
            params![u32::MAX, "x", vec![1u8, 2]],
        )
        .unwrap();
        let (a, b, blob): (u32, String, Vec<u8>) = c
            .query_row("SELECT a, b, c FROM t", [], |r| {
                Ok((r.get(0)?, r.get("b")?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((a, b.as_str(), blob), (u32::MAX, "x", vec![1, 2]));
        assert!(c
            .query_row("SELECT a FROM t", [], |r| r.get::<_, u16>(0))
            .is_err());
        assert!(params![u64::MAX].values().is_err());
        let none = c
            .query_row("SELECT a FROM t WHERE a = 0", [], |r| r.get::<_, i64>(0))
            .optional()
            .unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn a_dropped_transaction_rolls_back_and_nesting_is_refused() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER)").unwrap();
        {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            tx.execute("INSERT INTO t (a) VALUES (1)", []).unwrap();
            assert!(matches!(tx.transaction(), Err(Error::NestedTransaction)));
        }
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let tx = c.transaction().unwrap();
        tx.execute("INSERT INTO t (a) VALUES (2)", []).unwrap();
        tx.commit().unwrap();
        assert!(c.is_autocommit());
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
