//! [`AuditError`]: why a record could not be made durable.

/// Why the audit log could not take a record. Any of these means the request
/// is answered 503 and not forwarded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database refused or failed the write.
    #[error("audit database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database schema could not be brought up to date.
    #[error("audit database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The writer task is gone (shutting down or crashed).
    #[error("the audit writer is not running")]
    Closed,
    /// The pseudonym key could not be read or created.
    #[error("pseudonym key {path}: {source}")]
    Key {
        /// The key file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}
