//! [`AuditStore`]: the seam between the pipeline's audit log and a database.

use std::future::Future;

use crate::{AuditError, AuditRecord};

/// A durable home for audit records.
pub trait AuditStore: Send + Sync + 'static {
    /// Appends records in one durable write: when this returns `Ok`, every
    /// record survives a crash. On `Err`, none of them may be assumed written.
    fn append_batch(
        &self,
        records: &[AuditRecord],
    ) -> impl Future<Output = Result<(), AuditError>> + Send;

    /// Checks that the store can take a write right now (for readiness).
    fn check_writable(&self) -> impl Future<Output = Result<(), AuditError>> + Send;
}
