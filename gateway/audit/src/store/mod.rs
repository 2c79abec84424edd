//! Where the log lives: [`Store`], SQLite (embedded, the default) or
//! PostgreSQL (several gateway instances, one database), through sqlx, or
//! the append-only [`journal`] files.
//!
//! The databases run the same SQL; the schema comes from each backend's
//! sqlx migrations. Records are stored by commit, one row (a [`bundle`]) each. A commit is durable when it returns: SQLite in WAL mode with
//! `synchronous = FULL`, PostgreSQL with `synchronous_commit = on`.

pub mod bundle;
mod claim;
mod head;
pub mod journal;
mod migrations;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};

use crate::AuditError;
pub use bundle::Bundle;
pub(crate) use claim::CLAIM_SESSION_DROPPED_WITHIN_S;
pub use claim::Claim;
pub use head::StoredHead;

const INSERT_BUNDLE: &str = "INSERT INTO audit_bundles \
     (origin, first_seq, count, recorded_at, records, hashes) VALUES ($1, $2, $3, $4, $5, $6)";

/// How often a claim held elsewhere is tried again.
const CLAIM_RETRY: Duration = Duration::from_millis(100);
/// How long a readiness probe waits for the lock appends take, at most.
const PROBE_LOCK_WAIT: Duration = Duration::from_secs(1);

/// Bundles read at a time.
const BUNDLE_PAGE: i64 = 64;

/// Records whose bundles one step of a prune empties at most (in the
/// crate's tests, few: their logs then take several steps).
const PRUNE_RANGE: u64 = if cfg!(test) { 7 } else { 50_000 };

/// One record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRow {
    /// Its sequence number (leaf index), from 0, contiguous.
    pub seq: u64,
    /// When it was made, in milliseconds since the Unix epoch (when read
    /// back: when the first record of its bundle was made).
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
    /// The journal: append-only files in a directory.
    Journal(Arc<journal::JournalStore>, Duration),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Store::Sqlite",
            Self::Postgres(_) => "Store::Postgres",
            Self::Journal(..) => "Store::Journal",
        })
    }
}

/// SQLite's pool, the writer's own connection, and how to open them again.
pub struct SqliteState {
    /// `None` after a failure: the next operation opens a fresh pool.
    pool: ArcSwapOption<SqlitePool>,
    /// The connection appends go through, kept open between commits: no
    /// pool hand-out and return per commit, and a page cache that stays
    /// warm. `None` until first used, and again after a failure.
    writer: tokio::sync::Mutex<Option<SqliteConnection>>,
    options: SqliteConnectOptions,
    lock_timeout: Duration,
    /// The database lives only as long as the process (see [`is_volatile`]).
    volatile: bool,
}

impl SqliteState {
    /// The writer's connection, opened if it is not.
    async fn writer(
        &self,
    ) -> Result<tokio::sync::MappedMutexGuard<'_, SqliteConnection>, AuditError> {
        let mut guard = self.writer.lock().await;
        if guard.is_none() {
            *guard = Some(self.options.connect().await?);
        }
        tokio::sync::MutexGuard::try_map(guard, Option::as_mut).map_err(|_| AuditError::Closed)
    }

    async fn pool(&self) -> Result<Arc<SqlitePool>, AuditError> {
        if let Some(pool) = self.pool.load_full() {
            return Ok(pool);
        }
        let pool = Arc::new(sqlite_pool(&self.options, self.lock_timeout).await?);
        self.pool.store(Some(Arc::clone(&pool)));
        Ok(pool)
    }
}

/// Runs the same code on the writer's connection (SQLite) or the pool
/// (PostgreSQL), given up after [`Store::stall_after`] (see [`bounded`]).
macro_rules! on_writer {
    ($store:expr, |$conn:ident| $body:expr) => {
        bounded($store.stall_after(), async {
            match $store {
                Store::Sqlite(state) => {
                    let mut connection = state.writer().await?;
                    let $conn = &mut *connection;
                    $body
                }
                Store::Postgres(pool) => {
                    let $conn = pool;
                    $body
                }
                Store::Journal(..) => Err(AuditError::Unsupported("SQL on a journal")),
            }
        })
        .await
    };
}

/// Runs the same code on whichever pool the store has, given up after
/// [`Store::stall_after`]: a reader (`audit verify`, `export`, readiness)
/// gets [`AuditError::Stalled`] from a database that stops answering, not
/// a wait without end.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        bounded($store.stall_after(), async {
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
                Store::Journal(..) => Err(AuditError::Unsupported("SQL on a journal")),
            }
        })
        .await
    };
}

/// Runs a store operation, given up after `limit`: a database that stops
/// answering (a network partition, a hung disk) yields
/// [`AuditError::Stalled`] instead of a wait without end.
pub(crate) async fn bounded<T>(
    limit: Duration,
    operation: impl Future<Output = Result<T, AuditError>>,
) -> Result<T, AuditError> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or(Err(AuditError::Stalled(limit)))
}

/// The kind of database a URL names, by its scheme: the one place a
/// database URL is read before it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:…`: embedded, one file.
    Sqlite,
    /// `postgres:…` or `postgresql:…`.
    Postgres,
    /// `journal:<directory>`: append-only files.
    Journal,
}

impl Backend {
    /// The backend `url` names, if it names one.
    pub fn of(url: &str) -> Option<Self> {
        let (scheme, _) = url.split_once(':')?;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "journal" => Some(Self::Journal),
            _ => None,
        }
    }
}

/// Whether `url` names a SQLite database that ends with the process: one
/// in memory (`sqlite::memory:`, `mode=memory`) or SQLite's private
/// temporary file (an empty name). No other process can reach it, and it
/// keeps nothing across a restart.
pub fn is_volatile(url: &str) -> bool {
    let (Some(Backend::Sqlite), Some(rest)) = (Backend::of(url), url.strip_prefix("sqlite:"))
    else {
        return false;
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database.is_empty()
        || database == ":memory:"
        || params.split('&').any(|param| param == "mode=memory")
}

fn u64_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn i64_of(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens the store at `url` (`sqlite://file.db`, `postgres://…` or
    /// `journal:<directory>`) and brings a database's schema up to date.
    /// `lock_timeout` bounds how long a write waits for a lock or a
    /// connection.
    pub async fn open(url: &str, lock_timeout: Duration) -> Result<Self, AuditError> {
        match Backend::of(url) {
            Some(Backend::Sqlite) => Self::open_sqlite(url, lock_timeout).await,
            Some(Backend::Postgres) => Self::open_postgres(url, lock_timeout).await,
            Some(Backend::Journal) => {
                let (dir, segments) =
                    journal::directory(url).ok_or_else(|| AuditError::Url(url.to_owned()))?;
                let store = journal::JournalStore::open(&dir, segments)?;
                Ok(Self::Journal(Arc::new(store), lock_timeout))
            }
            None => Err(AuditError::Url(url.to_owned())),
        }
    }

    /// SQLite, in WAL mode, every commit synced.
    async fn open_sqlite(url: &str, lock_timeout: Duration) -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(lock_timeout);
        let pool = sqlite_pool(&options, lock_timeout).await?;
        migrations::sqlite().run(&pool).await?;
        Ok(Self::Sqlite(Arc::new(SqliteState {
            pool: ArcSwapOption::from_pointee(pool),
            writer: tokio::sync::Mutex::new(None),
            options,
            lock_timeout,
            volatile: is_volatile(url),
        })))
    }

    /// PostgreSQL, every commit synchronous.
    async fn open_postgres(url: &str, lock_timeout: Duration) -> Result<Self, AuditError> {
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
    }

    /// After a failed write: close the connections so that the next
    /// operation opens fresh ones (SQLite keeps a connection it opened
    /// read-only read-only until it is closed, even once the file is
    /// writable again). PostgreSQL's pool reconnects by itself.
    /// The journal has nothing to reopen: after a failed write to a
    /// segment it takes none until the gateway is restarted (see
    /// [`journal`]).
    pub async fn recover(&self) {
        if let Self::Sqlite(state) = self {
            // A connection stuck in a hung disk's fsync is left behind.
            let grace = self.stall_after();
            if let Some(old) = state.writer.lock().await.take() {
                let _ = tokio::time::timeout(grace, old.close()).await;
            }
            if let Some(old) = state.pool.swap(None) {
                let _ = tokio::time::timeout(grace, old.close()).await;
            }
            repair_companions(state.options.get_filename());
        }
    }

    /// How long the writer lets one operation run before it gives it up
    /// ([`AuditError::Stalled`]): twice the lock timeout the store was
    /// opened with, so a write that waited its whole lock timeout still
    /// has as long again to finish.
    pub fn stall_after(&self) -> Duration {
        let lock_timeout = match self {
            Self::Sqlite(state) => state.lock_timeout,
            Self::Postgres(pool) => pool.options().get_acquire_timeout(),
            Self::Journal(_, lock_timeout) => *lock_timeout,
        };
        lock_timeout.saturating_mul(2).max(Duration::from_secs(1))
    }

    /// Writes `bundle` (if it holds records) and the checkpoint in one
    /// durable transaction.
    pub async fn append(
        &self,
        origin: &str,
        bundle: Bundle,
        checkpoint: Option<&CheckpointRow>,
    ) -> Result<(), AuditError> {
        if let Self::Journal(journal, _) = self {
            if bundle.is_empty() && checkpoint.is_none() {
                return Ok(());
            }
            return bounded(
                self.stall_after(),
                journal.append(origin, bundle, checkpoint),
            )
            .await;
        }
        on_writer!(self, |pool| {
            let insert = (!bundle.is_empty()).then(|| {
                sqlx::query(INSERT_BUNDLE)
                    .bind(origin)
                    .bind(i64_of(bundle.first_seq))
                    .bind(i64_of(bundle.count))
                    .bind(bundle.recorded_at)
                    .bind(bundle.records.as_slice())
                    .bind(bundle.hashes.as_slice())
            });
            // One statement is a transaction of its own: most commits need
            // a single round trip to the database.
            if checkpoint.is_none() {
                if let Some(insert) = insert {
                    insert.execute(pool).await?;
                }
                return Ok(());
            }
            let mut tx = pool.begin().await?;
            if let Some(insert) = insert {
                insert.execute(&mut *tx).await?;
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

    /// Claims `origin` for this process's writer (see [`Claim`]), waiting
    /// up to `wait` for another instance to let it go (one that has just
    /// ended does within moments); then fails with [`AuditError::Claimed`].
    pub async fn claim(&self, origin: &str, wait: Duration) -> Result<Claim, AuditError> {
        let deadline = Instant::now() + wait;
        loop {
            let claimed = match self {
                Self::Journal(journal, _) => journal.claim(origin),
                Self::Sqlite(state) => {
                    Claim::sqlite(state.options.get_filename(), state.volatile, origin)
                }
                Self::Postgres(pool) => Claim::postgres(&pool.connect_options(), origin).await,
            };
            match claimed {
                Err(AuditError::Claimed(_)) if Instant::now() < deadline => {
                    tracing::warn!(%origin, "the audit log is claimed by another instance; waiting");
                    tokio::time::sleep(CLAIM_RETRY).await;
                }
                claimed => return claimed,
            }
        }
    }

    /// A real, durable write (for readiness): the log's health row. On
    /// PostgreSQL it first takes the lock an append takes on the log's
    /// table, waiting at most [`PROBE_LOCK_WAIT`], so a lock held elsewhere
    /// that stops appends fails the probe too.
    pub async fn probe(&self, origin: &str, now_ms: i64) -> Result<(), AuditError> {
        const UPSERT: &str = "INSERT INTO audit_health (origin, written_at) VALUES ($1, $2) \
             ON CONFLICT (origin) DO UPDATE SET written_at = excluded.written_at";
        match self {
            Self::Journal(journal, _) => bounded(self.stall_after(), journal.probe(origin)).await,
            Self::Sqlite(_) => on_pool!(self, |pool| {
                sqlx::query(UPSERT)
                    .bind(origin)
                    .bind(now_ms)
                    .execute(pool)
                    .await?;
                Ok(())
            }),
            Self::Postgres(pool) => {
                let wait = pool
                    .options()
                    .get_acquire_timeout()
                    .min(PROBE_LOCK_WAIT)
                    .as_millis();
                bounded(self.stall_after(), async {
                    let mut tx = pool.begin().await?;
                    let wait = format!("SET LOCAL lock_timeout = {wait}");
                    sqlx::query(sqlx::AssertSqlSafe(wait))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("LOCK TABLE audit_bundles IN ROW EXCLUSIVE MODE")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(UPSERT)
                        .bind(origin)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                })
                .await
            }
        }
    }

    /// Records in the log (one more than the last sequence number).
    pub async fn size(&self, origin: &str) -> Result<u64, AuditError> {
        if let Self::Journal(journal, _) = self {
            return bounded(self.stall_after(), journal.size(origin)).await;
        }
        on_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT first_seq, count FROM audit_bundles WHERE origin = $1 \
                 ORDER BY first_seq DESC LIMIT 1",
            )
            .bind(origin)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => {
                    let first: i64 = row.try_get("first_seq")?;
                    let count: i64 = row.try_get("count")?;
                    Ok(u64_of(first) + u64_of(count))
                }
                None => Ok(0),
            }
        })
    }

    /// The bundles holding records from `from` on (the first may start
    /// before it), at most `limit` of them, as rows.
    async fn bundles(
        &self,
        origin: &str,
        from: u64,
        limit: i64,
    ) -> Result<Vec<LeafRow>, AuditError> {
        on_pool!(self, |pool| {
            let start: Option<i64> = sqlx::query(
                "SELECT first_seq FROM audit_bundles WHERE origin = $1 AND first_seq <= $2 \
                 ORDER BY first_seq DESC LIMIT 1",
            )
            .bind(origin)
            .bind(i64_of(from))
            .fetch_optional(pool)
            .await?
            .map(|row| row.try_get("first_seq"))
            .transpose()?;
            let rows = sqlx::query(
                "SELECT first_seq, count, recorded_at, records, hashes FROM audit_bundles \
                 WHERE origin = $1 AND first_seq >= $2 ORDER BY first_seq LIMIT $3",
            )
            .bind(origin)
            .bind(start.unwrap_or(i64_of(from)))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut leaves = Vec::new();
            for row in &rows {
                let first = u64_of(row.try_get("first_seq")?);
                let count = u64_of(row.try_get("count")?);
                let records: Option<Vec<u8>> = row.try_get("records")?;
                let hashes: Vec<u8> = row.try_get("hashes")?;
                let decoded = bundle::decode(
                    first,
                    count,
                    row.try_get("recorded_at")?,
                    records.as_deref(),
                    &hashes,
                )
                .ok_or_else(|| {
                    AuditError::Corrupt(format!("the bundle of records from {first} is malformed"))
                })?;
                leaves.extend(decoded);
            }
            Ok(leaves)
        })
    }

    /// The stored hash blobs of records `seqs`, by sequence number.
    pub async fn hashes(
        &self,
        origin: &str,
        seqs: &[u64],
    ) -> Result<Vec<(u64, Vec<u8>)>, AuditError> {
        if let Self::Journal(journal, _) = self {
            return bounded(self.stall_after(), journal.hashes(origin, seqs)).await;
        }
        let mut found = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            if let Some(row) = self
                .bundles(origin, seq, 1)
                .await?
                .into_iter()
                .find(|row| row.seq == seq)
            {
                found.push((seq, row.hashes));
            }
        }
        Ok(found)
    }

    /// Up to `limit` records from `from` on, in order. A gap shows as a
    /// jump in sequence numbers; a malformed bundle is an error.
    pub async fn leaves(
        &self,
        origin: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<LeafRow>, AuditError> {
        if let Self::Journal(journal, _) = self {
            return bounded(self.stall_after(), journal.leaves(origin, from, limit)).await;
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut leaves = Vec::new();
        let mut next = from;
        while leaves.len() < limit {
            let page = self.bundles(origin, next, BUNDLE_PAGE).await?;
            let Some(last) = page.last().filter(|last| last.seq >= next) else {
                break;
            };
            // A page starts with the bundle holding `next`, which holds
            // records already taken when a bundle was added meanwhile.
            let wanted = next;
            next = last.seq + 1;
            leaves.extend(page.into_iter().filter(|row| row.seq >= wanted));
        }
        leaves.truncate(limit);
        Ok(leaves)
    }

    /// A record at or before the first one made at or after `since_ms`: the
    /// start of the bundle before the first bundle begun at or after it.
    pub async fn first_since(&self, origin: &str, since_ms: i64) -> Result<u64, AuditError> {
        if let Self::Journal(journal, _) = self {
            return bounded(self.stall_after(), journal.first_since(origin, since_ms)).await;
        }
        on_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT MAX(first_seq) AS start FROM audit_bundles WHERE origin = $1 AND recorded_at < $2",
            )
            .bind(origin)
            .bind(since_ms)
            .fetch_one(pool)
            .await?;
            let start: Option<i64> = row.try_get("start")?;
            Ok(start.map_or(0, u64_of))
        })
    }

    /// The log's checkpoints, in the order they were made.
    pub async fn checkpoints(&self, origin: &str) -> Result<Vec<CheckpointRow>, AuditError> {
        if let Self::Journal(journal, _) = self {
            return bounded(self.stall_after(), journal.checkpoints(origin)).await;
        }
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
        if let Self::Journal(journal, _) = self {
            return bounded(self.stall_after(), journal.last_checkpoint(origin)).await;
        }
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
        if let Self::Journal(journal, _) = self {
            return journal.origins();
        }
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT origin FROM audit_bundles GROUP BY origin \
                 UNION SELECT origin FROM audit_checkpoints GROUP BY origin ORDER BY origin",
            )
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(row.try_get("origin")?)).collect()
        })
    }

    /// Removes the content of the bundles wholly below `below` (their
    /// hashes stay). Returns how many bundles it emptied.
    ///
    /// The prune is noted first, then the bundles are emptied a range of
    /// records at a time, each in a short transaction of its own (each
    /// bounded like any operation, and none holding the table long while
    /// the gateway writes). A prune cut short leaves a log that verifies,
    /// with some records it would have removed still there; running it
    /// again removes them.
    pub async fn prune(&self, origin: &str, below: u64, now_ms: i64) -> Result<u64, AuditError> {
        if let Self::Journal(journal, _) = self {
            return journal.prune(origin, below).await;
        }
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO audit_prunes (origin, below, pruned_at) VALUES ($1, $2, $3)")
                .bind(origin)
                .bind(i64_of(below))
                .bind(now_ms)
                .execute(pool)
                .await?;
            Ok(())
        })?;
        let mut emptied = 0;
        let mut from = 0;
        while from < below {
            let to = from.saturating_add(PRUNE_RANGE);
            emptied += on_pool!(self, |pool| {
                Ok(sqlx::query(
                    "UPDATE audit_bundles SET records = NULL \
                     WHERE origin = $1 AND first_seq >= $2 AND first_seq < $3 \
                     AND first_seq + count <= $4 AND records IS NOT NULL",
                )
                .bind(origin)
                .bind(i64_of(from))
                .bind(i64_of(to))
                .bind(i64_of(below))
                .execute(pool)
                .await?
                .rows_affected())
            })?;
            from = to;
        }
        Ok(emptied)
    }

    /// Records below this were pruned (0 if none were).
    pub async fn pruned_below(&self, origin: &str) -> Result<u64, AuditError> {
        if let Self::Journal(journal, _) = self {
            return journal.pruned_below(origin).await;
        }
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
        // Reads and probes only: appends have their own connection.
        .max_connections(1)
        // A local file's connection does not go stale; a ping per commit
        // would cost a round trip to SQLite's thread.
        .test_before_acquire(false)
        .acquire_timeout(lock_timeout.max(Duration::from_secs(1)))
        .connect_with(options.clone())
        .await
}
