//! Where the log lives: [`Store`], SQLite (embedded, the default) or
//! PostgreSQL (several gateway instances, one database), through sqlx.
//!
//! Both run the same SQL; the schema comes from each backend's sqlx
//! migrations. A commit is durable when it returns: SQLite in WAL mode with
//! `synchronous = FULL`, PostgreSQL with `synchronous_commit = on`.

mod migrations;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};

use crate::AuditError;

/// Rows per INSERT statement (5 parameters a row, far below both limits).
const INSERT_CHUNK: usize = 512;

/// One record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRow {
    /// Its sequence number (leaf index), from 0, contiguous.
    pub seq: u64,
    /// When it was made, in milliseconds since the Unix epoch.
    pub recorded_at: i64,
    /// Its canonical bytes; `None` once pruned.
    pub record: Option<Vec<u8>>,
    /// The Merkle hashes stored with it (see `merkle`).
    pub hashes: Vec<u8>,
}

/// One signed checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Records covered.
    pub size: u64,
    /// The root hash.
    pub root: Vec<u8>,
    /// The signed note.
    pub note: String,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// An audit database.
#[derive(Clone)]
pub enum Store {
    /// SQLite; the pool is replaced when a write fails (see [`Store::recover`]).
    Sqlite(Arc<SqliteState>),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Store::Sqlite",
            Self::Postgres(_) => "Store::Postgres",
        })
    }
}

/// SQLite's pool and how to open it again.
pub struct SqliteState {
    /// `None` after a failure: the next operation opens a fresh pool.
    pool: ArcSwapOption<SqlitePool>,
    options: SqliteConnectOptions,
    lock_timeout: Duration,
}

impl SqliteState {
    async fn pool(&self) -> Result<Arc<SqlitePool>, AuditError> {
        if let Some(pool) = self.pool.load_full() {
            return Ok(pool);
        }
        let pool = Arc::new(sqlite_pool(&self.options, self.lock_timeout).await?);
        self.pool.store(Some(Arc::clone(&pool)));
        Ok(pool)
    }
}

/// Runs the same code on whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite(state) => {
                let pool = state.pool().await?;
                let $pool = &*pool;
                $body
            }
            Store::Postgres(pool) => {
                let $pool = pool;
                $body
            }
        }
    };
}

fn u64_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn i64_of(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens the database at `url` (`sqlite://file.db` or
    /// `postgres://…`) and brings its schema up to date. `lock_timeout`
    /// bounds how long a write waits for a lock or a connection.
    pub async fn open(url: &str, lock_timeout: Duration) -> Result<Self, AuditError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(lock_timeout);
            let pool = sqlite_pool(&options, lock_timeout).await?;
            migrations::sqlite().run(&pool).await?;
            Ok(Self::Sqlite(Arc::new(SqliteState {
                pool: ArcSwapOption::from_pointee(pool),
                options,
                lock_timeout,
            })))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?
                .options([("synchronous_commit", "on")])
                .application_name("sectorgate");
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(lock_timeout.max(Duration::from_secs(1)))
                .connect_with(options)
                .await?;
            migrations::postgres().run(&pool).await?;
            Ok(Self::Postgres(pool))
        } else {
            Err(AuditError::Url(url.to_owned()))
        }
    }

    /// After a failed write: close the connections so that the next
    /// operation opens fresh ones (SQLite keeps a connection it opened
    /// read-only read-only until it is closed, even once the file is
    /// writable again). PostgreSQL's pool reconnects by itself.
    pub async fn recover(&self) {
        if let Self::Sqlite(state) = self {
            if let Some(old) = state.pool.swap(None) {
                old.close().await;
            }
            repair_companions(state.options.get_filename());
        }
    }

    /// Writes `leaves` and the checkpoint in one durable transaction.
    pub async fn append(
        &self,
        origin: &str,
        leaves: &[LeafRow],
        checkpoint: Option<&CheckpointRow>,
    ) -> Result<(), AuditError> {
        on_pool!(self, |pool| {
            // One statement is a transaction of its own: most batches need
            // a single round trip to the database.
            if checkpoint.is_none() && leaves.len() <= INSERT_CHUNK {
                if !leaves.is_empty() {
                    insert_leaves(origin, leaves).build().execute(pool).await?;
                }
                return Ok(());
            }
            let mut tx = pool.begin().await?;
            for chunk in leaves.chunks(INSERT_CHUNK) {
                insert_leaves(origin, chunk)
                    .build()
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(checkpoint) = checkpoint {
                sqlx::query(
                    "INSERT INTO audit_checkpoints (origin, size, root, note, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(origin)
                .bind(i64_of(checkpoint.size))
                .bind(checkpoint.root.as_slice())
                .bind(checkpoint.note.as_str())
                .bind(checkpoint.created_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// A real, durable write (for readiness): the log's health row.
    pub async fn probe(&self, origin: &str, now_ms: i64) -> Result<(), AuditError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO audit_health (origin, written_at) VALUES ($1, $2) \
                 ON CONFLICT (origin) DO UPDATE SET written_at = excluded.written_at",
            )
            .bind(origin)
            .bind(now_ms)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records in the log (one more than the last sequence number).
    pub async fn size(&self, origin: &str) -> Result<u64, AuditError> {
        on_pool!(self, |pool| {
            let row = sqlx::query("SELECT MAX(seq) AS last FROM audit_leaves WHERE origin = $1")
                .bind(origin)
                .fetch_one(pool)
                .await?;
            let last: Option<i64> = row.try_get("last")?;
            Ok(last.map_or(0, |last| u64_of(last) + 1))
        })
    }

    /// The stored hash blobs of records `seqs`, by sequence number.
    pub async fn hashes(
        &self,
        origin: &str,
        seqs: &[u64],
    ) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        let mut found = Vec::with_capacity(seqs.len());
        on_pool!(self, |pool| {
            for &seq in seqs {
                let row =
                    sqlx::query("SELECT hashes FROM audit_leaves WHERE origin = $1 AND seq = $2")
                        .bind(origin)
                        .bind(i64_of(seq))
                        .fetch_optional(pool)
                        .await?;
                if let Some(row) = row {
                    found.push((seq, row.try_get("hashes")?));
                }
            }
            Ok(found)
        })
    }

    /// Up to `limit` records from `from` on, in order.
    pub async fn leaves(
        &self,
        origin: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<LeafRow>, AuditError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT seq, recorded_at, record, hashes FROM audit_leaves \
                 WHERE origin = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
            )
            .bind(origin)
            .bind(i64_of(from))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(LeafRow {
                        seq: u64_of(row.try_get("seq")?),
                        recorded_at: row.try_get("recorded_at")?,
                        record: row.try_get("record")?,
                        hashes: row.try_get("hashes")?,
                    })
                })
                .collect()
        })
    }

    /// The first record made at or after `since_ms`.
    pub async fn first_since(&self, origin: &str, since_ms: i64) -> Result<u64, AuditError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT MIN(seq) AS first FROM audit_leaves WHERE origin = $1 AND recorded_at >= $2",
            )
            .bind(origin)
            .bind(since_ms)
            .fetch_one(pool)
            .await?;
            let first: Option<i64> = row.try_get("first")?;
            match first {
                Some(first) => Ok(u64_of(first)),
                None => self.size(origin).await,
            }
        })
    }

    /// The log's checkpoints, in the order they were made.
    pub async fn checkpoints(&self, origin: &str) -> Result<Vec<CheckpointRow>, AuditError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT size, root, note, created_at FROM audit_checkpoints \
                 WHERE origin = $1 ORDER BY created_at, size",
            )
            .bind(origin)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(CheckpointRow {
                        size: u64_of(row.try_get("size")?),
                        root: row.try_get("root")?,
                        note: row.try_get("note")?,
                        created_at: row.try_get("created_at")?,
                    })
                })
                .collect()
        })
    }

    /// The latest checkpoint, if any.
    pub async fn last_checkpoint(&self, origin: &str) -> Result<Option<CheckpointRow>, AuditError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT size, root, note, created_at FROM audit_checkpoints \
                 WHERE origin = $1 ORDER BY size DESC LIMIT 1",
            )
            .bind(origin)
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                Ok(CheckpointRow {
                    size: u64_of(row.try_get("size")?),
                    root: row.try_get("root")?,
                    note: row.try_get("note")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .transpose()
        })
    }

    /// The logs (origins) in this database.
    pub async fn origins(&self) -> Result<Vec<String>, AuditError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT origin FROM audit_leaves GROUP BY origin \
                 UNION SELECT origin FROM audit_checkpoints GROUP BY origin ORDER BY origin",
            )
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(row.try_get("origin")?)).collect()
        })
    }

    /// Removes the content of records below `below` (their hashes stay).
    /// Returns how many records it emptied.
    pub async fn prune(&self, origin: &str, below: u64, now_ms: i64) -> Result<u64, AuditError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE audit_leaves SET record = NULL \
                 WHERE origin = $1 AND seq < $2 AND record IS NOT NULL",
            )
            .bind(origin)
            .bind(i64_of(below))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("INSERT INTO audit_prunes (origin, below, pruned_at) VALUES ($1, $2, $3)")
                .bind(origin)
                .bind(i64_of(below))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done)
        })
    }

    /// Records below this were pruned (0 if none were).
    pub async fn pruned_below(&self, origin: &str) -> Result<u64, AuditError> {
        on_pool!(self, |pool| {
            let row = sqlx::query("SELECT MAX(below) AS below FROM audit_prunes WHERE origin = $1")
                .bind(origin)
                .fetch_one(pool)
                .await?;
            let below: Option<i64> = row.try_get("below")?;
            Ok(below.map_or(0, u64_of))
        })
    }

    /// Runs a statement on the database (tests: tampering, faults).
    #[doc(hidden)]
    pub async fn execute_for_tests(&self, sql: &str) -> Result<u64, AuditError> {
        on_pool!(self, |pool| Ok(sqlx::query(sqlx::AssertSqlSafe(
            sql.to_owned()
        ))
        .execute(pool)
        .await?
        .rows_affected()))
    }
}

/// One multi-row INSERT of `leaves` (at most [`INSERT_CHUNK`]).
fn insert_leaves<'a, DB: sqlx::Database>(origin: &'a str, leaves: &'a [LeafRow]) -> QueryBuilder<DB>
where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a [u8]>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut insert =
        QueryBuilder::new("INSERT INTO audit_leaves (origin, seq, recorded_at, record, hashes) ");
    insert.push_values(leaves, |mut row, leaf| {
        row.push_bind(origin)
            .push_bind(i64_of(leaf.seq))
            .push_bind(leaf.recorded_at)
            .push_bind(leaf.record.as_deref())
            .push_bind(leaf.hashes.as_slice());
    });
    insert
}

/// SQLite creates the `-wal` and `-shm` files with the database file's
/// mode: made while the database was read-only, they stay read-only after
/// it is writable again, and every connection stays read-only with them.
/// Gives them the database file's mode back (where this process may).
fn repair_companions(database: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(mode) = std::fs::metadata(database).map(|m| m.permissions().mode()) else {
            return;
        };
        for suffix in ["-wal", "-shm"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            let companion = std::path::PathBuf::from(name);
            if let Ok(metadata) = std::fs::metadata(&companion)
                && metadata.permissions().mode() & 0o777 != mode & 0o777
            {
                let restored = std::fs::set_permissions(
                    &companion,
                    std::fs::Permissions::from_mode(mode & 0o777),
                );
                tracing::info!(
                    file = %companion.display(),
                    ok = restored.is_ok(),
                    "audit store: giving the SQLite companion file the database's mode"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = database;
}

async fn sqlite_pool(
    options: &SqliteConnectOptions,
    lock_timeout: Duration,
) -> Result<SqlitePool, sqlx::Error> {
    SqlitePoolOptions::new()
        .max_connections(2)
        .acquire_timeout(lock_timeout.max(Duration::from_secs(1)))
        .connect_with(options.clone())
        .await
}
