-- Append-only, hash-chained audit trail. seq is assigned by careflow under a write lock
-- (1, 2, 3... without gaps) so that a deleted entry shows as a gap.
CREATE TABLE audit_log (
    seq              BIGINT PRIMARY KEY,
    recorded_at      TEXT NOT NULL,
    actor            TEXT NOT NULL,
    role             TEXT NOT NULL,
    action           TEXT NOT NULL,
    meaning          TEXT,
    reason           TEXT,
    workflow_id      TEXT,
    step             TEXT,
    input_digest     TEXT,
    output_digest    TEXT,
    idempotency_key  TEXT NOT NULL UNIQUE,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);
-- The chain's head, written in the same transaction as each entry: a verifier compares it
-- with the last entry to see entries cut off the end or appended outside careflow.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
