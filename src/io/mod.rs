//! Persistence: the node's SQLite database.

pub mod sqlite_store;
