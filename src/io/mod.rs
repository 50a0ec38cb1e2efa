//! Persistence: the node's SQLite database, its single writer of channel state, and LDK's
//! key-value store on top of both.

pub mod backup;
pub mod db;
pub(crate) mod journal;
pub mod sqlite_store;

pub use journal::JournalStats;
