-- The tamper-evident log. One row per record: its canonical bytes (NULL
-- once pruned) and the Merkle hashes stored with it (the leaf hash, then
-- each subtree it completes). Each gateway instance writes its own log,
-- named by its origin line. The spine's audit_records table is left as it
-- was; it is not part of the log.
CREATE TABLE audit_leaves (
    origin      TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL, -- milliseconds since the Unix epoch
    record      BLOB,
    hashes      BLOB    NOT NULL,
    PRIMARY KEY (origin, seq)
) WITHOUT ROWID;

CREATE INDEX audit_leaves_recorded_at ON audit_leaves (origin, recorded_at);

-- Signed checkpoints (C2SP signed notes) of each log.
CREATE TABLE audit_checkpoints (
    origin     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    root       BLOB    NOT NULL,
    note       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (origin, size)
) WITHOUT ROWID;

-- Readiness probes write here: a real write, not an empty transaction.
CREATE TABLE audit_health (
    origin     TEXT    PRIMARY KEY,
    written_at INTEGER NOT NULL
);

-- Each prune: records below `below` had their content removed.
CREATE TABLE audit_prunes (
    origin    TEXT    NOT NULL,
    below     INTEGER NOT NULL,
    pruned_at INTEGER NOT NULL
);
