//! Audit records, pseudonymisation and the durable audit store.
//!
//! This is the *record* step of the pipeline (accept → classify → decide →
//! **record** → forward). The pipeline talks to an [`AuditLog`], which
//! group-commits records into any [`AuditStore`]; a request is forwarded only
//! once its record is durable. The store is a seam: the SQLite store here can
//! be replaced (by the tamper-evident log, by PostgreSQL) without touching the
//! pipeline.

mod error;
mod log;
mod pseudonym;
mod record;
mod sqlite;
mod store;

pub use error::AuditError;
pub use log::AuditLog;
pub use pseudonym::Pseudonymiser;
pub use record::{Actor, AuditRecord};
pub use sqlite::SqliteStore;
pub use store::AuditStore;

#[cfg(test)]
mod tests;
