//! What an auditor asks the query index: records by time, by who, by rule,
//! by verdict, by request. Every field given must match; an outcome
//! matches by its decision's fields and its own time.

use sqlx::{QueryBuilder, Sqlite};

/// A question to the index. `None` fields match every record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Records made at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Records made before this time (ms since the epoch).
    pub until_ms: Option<i64>,
    /// The peer's public name or pseudonym (`<key id>:<hex>`).
    pub peer: Option<String>,
    /// The id of the rule that decided.
    pub rule: Option<String>,
    /// `allow`, `deny` or `shadow`.
    pub verdict: Option<String>,
    /// The action kind, e.g. `send_message_event`.
    pub action: Option<String>,
    /// The endpoint, e.g. `client.send_message_event`.
    pub endpoint: Option<String>,
    /// The request id the client was given (`X-Request-Id`).
    pub request_id: Option<String>,
    /// A decision id: that decision and its outcome.
    pub decision: Option<String>,
    /// `decision` or `outcome` records only.
    pub kind: Option<String>,
    /// At most this many records (the first, in log order).
    pub limit: Option<u64>,
}

impl Query {
    /// The statement selecting the sequence numbers of the matching
    /// records, in log order.
    pub(super) fn select(&self) -> QueryBuilder<Sqlite> {
        let mut sql = QueryBuilder::new("SELECT seq FROM entries WHERE 1 = 1");
        if let Some(since) = self.since_ms {
            sql.push(" AND ts >= ").push_bind(since);
        }
        if let Some(until) = self.until_ms {
            sql.push(" AND ts < ").push_bind(until);
        }
        for (column, value) in [
            ("peer", &self.peer),
            ("rule", &self.rule),
            ("verdict", &self.verdict),
            ("action", &self.action),
            ("endpoint", &self.endpoint),
            ("request_id", &self.request_id),
            ("decision", &self.decision),
            ("kind", &self.kind),
        ] {
            if let Some(value) = value {
                // The column names are this list's own, never input.
                sql.push(format_args!(" AND {column} = "))
                    .push_bind(value.clone());
            }
        }
        sql.push(" ORDER BY seq");
        if let Some(limit) = self.limit {
            sql.push(" LIMIT ")
                .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        sql
    }
}
