-- The tamper-evident log. Records are stored by commit: one row (a bundle)
-- holds the records of one commit, each with its length (0 once pruned),
-- and the Merkle hashes stored with each (its leaf hash, then each subtree
-- it completes). The Merkle tree is over the records. Each gateway instance
-- writes its own log, named by its origin line, so instances sharing one
-- database never contend for one sequence. The spine's audit_records
-- table is left as it was; it is not part of the log.
CREATE TABLE audit_bundles (
    origin      TEXT    NOT NULL,
    first_seq   INTEGER NOT NULL, -- the sequence number of its first record
    count       INTEGER NOT NULL, -- records in it
    recorded_at INTEGER NOT NULL, -- when its first record was made, ms since the epoch
    records     BLOB,             -- NULL once the whole bundle is pruned
    hashes      BLOB    NOT NULL,
    PRIMARY KEY (origin, first_seq)
);

CREATE INDEX audit_bundles_recorded_at ON audit_bundles (origin, recorded_at);

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
