//! [`SqliteStore`]: the embedded default audit store (SQLite through sqlx).
//!
//! WAL journal with `synchronous = FULL`: a committed batch is on disk.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlStr, Sqlite, SqlitePool};

/// Records per INSERT statement.
const INSERT_CHUNK: usize = 256;

use crate::{Actor, AuditError, AuditRecord, AuditStore};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "audit records",
        include_str!("../migrations/sqlite/0001_audit_records.sql"),
    ),
    (
        2,
        "shadow verdict",
        include_str!("../migrations/sqlite/0002_shadow_verdict.sql"),
    ),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
}

/// The SQLite audit store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`
    /// (`sqlite://path/to/file.db`) and brings its schema up to date.
    /// `lock_timeout` bounds how long a write waits for a locked database.
    pub async fn open(url: &str, lock_timeout: Duration) -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(lock_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(lock_timeout.max(Duration::from_secs(1)))
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// Every record, oldest first (for tests and export).
    pub async fn records(&self) -> Result<Vec<AuditRecord>, AuditError> {
        let rows = sqlx::query(
            "SELECT request_id, recorded_at, profile, endpoint, action, verdict, rule, \
             actor_kind, actor FROM audit_records ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("actor_kind")?;
                let id: Option<String> = row.try_get("actor")?;
                let actor = match (kind.as_str(), id) {
                    ("user", Some(id)) => Actor::User(id),
                    ("server", Some(id)) => Actor::Server(id),
                    ("appservice", Some(id)) => Actor::Appservice(id),
                    _ => Actor::Anonymous,
                };
                Ok(AuditRecord {
                    request_id: row.try_get("request_id")?,
                    recorded_at_ms: row.try_get("recorded_at")?,
                    profile: row.try_get("profile")?,
                    endpoint: row.try_get("endpoint")?,
                    action: row.try_get("action")?,
                    verdict: row.try_get("verdict")?,
                    rule: row.try_get("rule")?,
                    actor,
                })
            })
            .collect()
    }
}

/// One multi-row INSERT of `records` (at most [`INSERT_CHUNK`]: 9 parameters
/// a row stays far below SQLite's limit of 32766 per statement).
fn insert(records: &[AuditRecord]) -> QueryBuilder<Sqlite> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO audit_records (request_id, recorded_at, profile, endpoint, action, \
         verdict, rule, actor_kind, actor) ",
    );
    insert.push_values(records, |mut row, record| {
        row.push_bind(&record.request_id)
            .push_bind(record.recorded_at_ms)
            .push_bind(&record.profile)
            .push_bind(&record.endpoint)
            .push_bind(&record.action)
            .push_bind(&record.verdict)
            .push_bind(&record.rule)
            .push_bind(record.actor.kind())
            .push_bind(record.actor.id());
    });
    insert
}

impl AuditStore for SqliteStore {
    async fn append_batch(&self, records: &[AuditRecord]) -> Result<(), AuditError> {
        // One statement is one transaction of its own in SQLite: a batch
        // that fits one INSERT needs a single round trip to SQLite's thread.
        if records.len() <= INSERT_CHUNK {
            insert(records).build().execute(&self.pool).await?;
            return Ok(());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in records.chunks(INSERT_CHUNK) {
            insert(chunk).build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn check_writable(&self) -> Result<(), AuditError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        tx.rollback().await?;
        Ok(())
    }
}

#[cfg(test)]
impl SqliteStore {
    pub(crate) fn pool_for_tests(&self) -> &SqlitePool {
        &self.pool
    }
}
