-- One row per decision. No message content, no raw identifiers of people:
-- actors are pseudonyms (see pseudonym.rs).
CREATE TABLE audit_records (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL, -- milliseconds since the Unix epoch
    profile     TEXT    NOT NULL,
    endpoint    TEXT,             -- e.g. client.send_message_event; NULL if unrecognised
    action      TEXT    NOT NULL, -- the action kind, e.g. send_message_event
    verdict     TEXT    NOT NULL CHECK (verdict IN ('allow', 'deny')),
    rule        TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL, -- user, server or anonymous
    actor       TEXT              -- pseudonym or server name
);

CREATE INDEX audit_records_request_id ON audit_records (request_id);
