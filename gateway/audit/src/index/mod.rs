//! The query index: a SQLite file of the records' searchable fields (who,
//! which rule, which verdict, when, which request), derived from the log
//! off the hot path. Requests never wait for it: the gateway brings it up
//! to the log every second (`[audit] index`), `audit query` once more
//! before it asks. It holds no record, only sequence numbers to read the
//! records by from the log, which stays the one source of truth: a lost or
//! damaged index is deleted and built again.
//!
//! Each step commits its rows and how far it got in one transaction, so
//! the index is always of a prefix of the log. Records the log has pruned
//! leave it too, with SQLite's `secure_delete`, which overwrites what they
//! held.

mod query;
mod row;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row as _, Sqlite, Transaction};

pub use query::Query;
use row::{Decided, Row};

use crate::store::Store;
use crate::{AuditError, Entry};

/// Records read from the log and indexed in one transaction.
const STEP: u32 = 4096;
/// The index's layout; an index of another is built again.
const FORMAT: i64 = 1;
/// How long a step waits for another writer of the same file (the
/// gateway's task and an `audit query`).
const BUSY_WAIT: Duration = Duration::from_secs(30);

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS state (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        origin TEXT NOT NULL,
        format INTEGER NOT NULL,
        indexed_to INTEGER NOT NULL,
        pruned_below INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        kind TEXT NOT NULL,
        decision TEXT NOT NULL,
        status INTEGER,
        request_id TEXT,
        peer TEXT,
        peer_kind TEXT,
        destination TEXT,
        direction TEXT,
        endpoint TEXT,
        action TEXT,
        rule TEXT,
        verdict TEXT,
        profile TEXT)",
    "CREATE INDEX IF NOT EXISTS entries_ts ON entries (ts)",
    "CREATE INDEX IF NOT EXISTS entries_peer ON entries (peer, ts)",
    "CREATE INDEX IF NOT EXISTS entries_rule ON entries (rule, ts)",
    "CREATE INDEX IF NOT EXISTS entries_request ON entries (request_id)",
    "CREATE INDEX IF NOT EXISTS entries_decision ON entries (decision)",
];

/// What one catch-up did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Indexed {
    /// The index now covers the log's records below this.
    pub size: u64,
    /// Records added now.
    pub added: u64,
    /// Rows removed now, of records the log has pruned.
    pub forgotten: u64,
}

/// The query index of one log, in a file or (for one query) in memory.
#[derive(Debug)]
pub struct QueryIndex {
    pool: SqlitePool,
    /// The file, for messages (`memory` for an index in memory).
    name: String,
}

impl QueryIndex {
    /// The index in `file`, made if missing.
    pub async fn open(file: &Path) -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true)
            // A rollback journal: no `-wal` file keeps pages of forgotten rows.
            .journal_mode(SqliteJournalMode::Delete)
            // The index is built again from the log if a crash damages it.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .pragma("secure_delete", "ON")
            .busy_timeout(BUSY_WAIT);
        Self::connect(options, file.display().to_string()).await
    }

    /// An index in memory, gone when dropped: for a single query where no
    /// index file is kept.
    pub async fn in_memory() -> Result<Self, AuditError> {
        let options = SqliteConnectOptions::new().in_memory(true);
        Self::connect(options, "memory".to_owned()).await
    }

    async fn connect(options: SqliteConnectOptions, name: String) -> Result<Self, AuditError> {
        // One connection, kept: an index in memory lives as long as it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(BUSY_WAIT)
            .connect_with(options)
            .await
            .map_err(|error| Self::failure(&name, &error))?;
        let index = Self { pool, name };
        for statement in SCHEMA {
            sqlx::query(*statement)
                .execute(&index.pool)
                .await
                .map_err(|error| index.fail(&error))?;
        }
        Ok(index)
    }

    /// Brings the index up to every durable record of `origin` in `store`,
    /// and removes the rows of records the log has pruned. Refuses an
    /// index of another log, or of more records than the log holds.
    pub async fn catch_up(&self, store: &Store, origin: &str) -> Result<Indexed, AuditError> {
        let mut done = Indexed::default();
        let pruned = store.pruned_below(origin).await?;
        let size = store.size(origin).await?;
        let state = self.state(origin, size).await?;
        if pruned > state.pruned_below {
            done.forgotten = self.forget(origin, pruned).await?;
        }
        let mut next = state.indexed_to.max(pruned);
        while next < size {
            let page = store.leaves(origin, next, STEP).await?;
            let Some(last) = page.last().map(|row| row.seq) else {
                break;
            };
            let mut rows = Vec::with_capacity(page.len());
            for leaf in page {
                let Some(bytes) = leaf.record else {
                    continue;
                };
                let entry = Entry::decode_leaf(&bytes)
                    .map_err(|e| AuditError::Corrupt(format!("record {}: {e}", leaf.seq)))?;
                rows.push(Row::new(leaf.seq, &entry));
            }
            done.added += self.add(origin, rows, last + 1).await?;
            next = last + 1;
        }
        done.size = next;
        Ok(done)
    }

    /// The sequence numbers of the records that match `query`, in log order.
    pub async fn find(&self, query: &Query) -> Result<Vec<u64>, AuditError> {
        let rows = query
            .select()
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|error| self.fail(&error))?;
        rows.iter()
            .map(|row| row.try_get::<i64, _>("seq").map(seq_of))
            .collect::<Result<_, _>>()
            .map_err(|error| self.fail(&error))
    }

    /// The index's state for `origin`: made for an empty index; refused
    /// for another log's, or one ahead of a log of `size` records.
    async fn state(&self, origin: &str, size: u64) -> Result<State, AuditError> {
        let mut tx = self.begin().await?;
        let state = self.state_in(&mut tx, origin).await?;
        tx.commit().await.map_err(|error| self.fail(&error))?;
        if state.indexed_to > size {
            return Err(self.refuse(format!(
                "it covers {} records, but the log {origin} holds {size}: it is of another \
                 log; delete it and it is built again",
                state.indexed_to
            )));
        }
        Ok(state)
    }

    async fn state_in(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        origin: &str,
    ) -> Result<State, AuditError> {
        let found =
            sqlx::query("SELECT origin, format, indexed_to, pruned_below FROM state WHERE id = 0")
                .fetch_optional(&mut **tx)
                .await
                .map_err(|error| self.fail(&error))?;
        let Some(found) = found else {
            sqlx::query(
                "INSERT INTO state (id, origin, format, indexed_to, pruned_below) \
                 VALUES (0, $1, $2, 0, 0)",
            )
            .bind(origin)
            .bind(FORMAT)
            .execute(&mut **tx)
            .await
            .map_err(|error| self.fail(&error))?;
            return Ok(State::default());
        };
        let (of, format, state) = state_of(&found).map_err(|error| self.fail(&error))?;
        if of != origin {
            return Err(self.refuse(format!("it is the index of the log {of}, not of {origin}")));
        }
        if format != FORMAT {
            return Err(self.refuse(format!(
                "it has layout {format}, this build reads {FORMAT}: delete it and it is built again"
            )));
        }
        Ok(state)
    }

    /// Adds `rows` (records from the index's end up to `to`) and moves its
    /// end to `to`, in one transaction; how many rows were added. Rows
    /// another writer of the file added meanwhile are skipped.
    async fn add(&self, origin: &str, mut rows: Vec<Row>, to: u64) -> Result<u64, AuditError> {
        let mut tx = self.begin().await?;
        let state = self.state_in(&mut tx, origin).await?;
        rows.retain(|row| row.seq >= state.indexed_to && row.seq >= state.pruned_below);
        let mut decisions: HashMap<String, Decided> = HashMap::new();
        let mut added = 0;
        for mut row in rows {
            if row.is_outcome() {
                row.of = match decisions.get(&row.decision) {
                    Some(decided) => decided.clone(),
                    None => self.decided(&mut tx, &row.decision).await?,
                };
            } else {
                decisions.insert(row.decision.clone(), row.of.clone());
            }
            added += self.insert(&mut tx, &row).await?;
        }
        sqlx::query("UPDATE state SET indexed_to = MAX(indexed_to, $1) WHERE id = 0")
            .bind(seq_i64(to))
            .execute(&mut *tx)
            .await
            .map_err(|error| self.fail(&error))?;
        tx.commit().await.map_err(|error| self.fail(&error))?;
        Ok(added)
    }

    /// The fields of the decision `id` as indexed earlier (none if it is
    /// not: pruned before its outcome).
    async fn decided(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        id: &str,
    ) -> Result<Decided, AuditError> {
        let found = sqlx::query(
            "SELECT request_id, peer, peer_kind, destination, direction, endpoint, action, \
             rule, verdict, profile FROM entries WHERE decision = $1 AND kind = 'decision' \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| self.fail(&error))?;
        match found {
            Some(found) => decided_of(&found).map_err(|error| self.fail(&error)),
            None => Ok(Decided::default()),
        }
    }

    async fn insert(&self, tx: &mut Transaction<'_, Sqlite>, row: &Row) -> Result<u64, AuditError> {
        let of = &row.of;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO entries (seq, ts, kind, decision, status, request_id, peer, \
             peer_kind, destination, direction, endpoint, action, rule, verdict, profile) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(seq_i64(row.seq))
        .bind(row.ts)
        .bind(row.kind)
        .bind(&row.decision)
        .bind(row.status.map(i64::from))
        .bind(&of.request_id)
        .bind(&of.peer)
        .bind(&of.peer_kind)
        .bind(&of.destination)
        .bind(&of.direction)
        .bind(&of.endpoint)
        .bind(&of.action)
        .bind(&of.rule)
        .bind(&of.verdict)
        .bind(&of.profile)
        .execute(&mut **tx)
        .await
        .map_err(|error| self.fail(&error))?;
        Ok(done.rows_affected())
    }

    /// Removes the rows of records below `below` (pruned from the log);
    /// how many.
    pub async fn forget(&self, origin: &str, below: u64) -> Result<u64, AuditError> {
        let mut tx = self.begin().await?;
        let state = self.state_in(&mut tx, origin).await?;
        if below <= state.pruned_below {
            return Ok(0);
        }
        let removed = sqlx::query("DELETE FROM entries WHERE seq < $1")
            .bind(seq_i64(below))
            .execute(&mut *tx)
            .await
            .map_err(|error| self.fail(&error))?
            .rows_affected();
        sqlx::query("UPDATE state SET pruned_below = $1 WHERE id = 0")
            .bind(seq_i64(below))
            .execute(&mut *tx)
            .await
            .map_err(|error| self.fail(&error))?;
        tx.commit().await.map_err(|error| self.fail(&error))?;
        Ok(removed)
    }

    /// A write transaction: taken at once, so that two writers of one file
    /// wait for each other instead of failing at their first write.
    async fn begin(&self) -> Result<Transaction<'_, Sqlite>, AuditError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|error| self.fail(&error))
    }

    fn fail(&self, error: &sqlx::Error) -> AuditError {
        Self::failure(&self.name, error)
    }

    fn failure(name: &str, error: &sqlx::Error) -> AuditError {
        AuditError::Index {
            file: name.to_owned(),
            reason: error.to_string(),
        }
    }

    fn refuse(&self, reason: String) -> AuditError {
        AuditError::Index {
            file: self.name.clone(),
            reason,
        }
    }
}

/// How far the index got.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    indexed_to: u64,
    pruned_below: u64,
}

/// The state row's log, layout and progress.
fn state_of(row: &SqliteRow) -> Result<(String, i64, State), sqlx::Error> {
    let state = State {
        indexed_to: seq_of(row.try_get("indexed_to")?),
        pruned_below: seq_of(row.try_get("pruned_below")?),
    };
    Ok((row.try_get("origin")?, row.try_get("format")?, state))
}

/// A decision's fields as its row holds them.
fn decided_of(row: &SqliteRow) -> Result<Decided, sqlx::Error> {
    let text = |column: &str| row.try_get::<Option<String>, _>(column);
    Ok(Decided {
        request_id: text("request_id")?,
        peer: text("peer")?,
        peer_kind: text("peer_kind")?,
        destination: text("destination")?,
        direction: text("direction")?,
        endpoint: text("endpoint")?,
        action: text("action")?,
        rule: text("rule")?,
        verdict: text("verdict")?,
        profile: text("profile")?,
    })
}

fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn seq_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
