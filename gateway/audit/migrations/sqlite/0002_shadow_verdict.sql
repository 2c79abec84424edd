-- Shadow mode: `shadow` records a denial by a rule in shadow mode, whose
-- request was forwarded all the same. SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt with its rows.
CREATE TABLE audit_records_v2 (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL, -- milliseconds since the Unix epoch
    profile     TEXT    NOT NULL,
    endpoint    TEXT,             -- e.g. client.send_message_event; NULL if unrecognised
    action      TEXT    NOT NULL, -- the action kind, e.g. send_message_event
    verdict     TEXT    NOT NULL CHECK (verdict IN ('allow', 'deny', 'shadow')),
    rule        TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL, -- user, server or anonymous
    actor       TEXT              -- pseudonym or server name
);

INSERT INTO audit_records_v2 SELECT * FROM audit_records;
DROP TABLE audit_records;
ALTER TABLE audit_records_v2 RENAME TO audit_records;
CREATE INDEX audit_records_request_id ON audit_records (request_id);
