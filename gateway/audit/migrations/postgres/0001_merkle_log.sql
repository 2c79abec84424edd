-- The tamper-evident log. One row per record: its canonical bytes (NULL
-- once pruned) and the Merkle hashes stored with it (the leaf hash, then
-- each subtree it completes). Each gateway instance writes its own log,
-- named by its origin line, so instances sharing one database never
-- contend for one sequence.
CREATE TABLE audit_leaves (
    origin      TEXT    NOT NULL,
    seq         BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL, -- milliseconds since the Unix epoch
    record      BYTEA,
    hashes      BYTEA    NOT NULL,
    PRIMARY KEY (origin, seq)
);

CREATE INDEX audit_leaves_recorded_at ON audit_leaves (origin, recorded_at);

-- Signed checkpoints (C2SP signed notes) of each log.
CREATE TABLE audit_checkpoints (
    origin     TEXT    NOT NULL,
    size       BIGINT NOT NULL,
    root       BYTEA    NOT NULL,
    note       TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (origin, size)
);

-- Readiness probes write here: a real write, not an empty transaction.
CREATE TABLE audit_health (
    origin     TEXT    PRIMARY KEY,
    written_at BIGINT NOT NULL
);

-- Each prune: records below `below` had their content removed.
CREATE TABLE audit_prunes (
    origin    TEXT    NOT NULL,
    below     BIGINT NOT NULL,
    pruned_at BIGINT NOT NULL
);
