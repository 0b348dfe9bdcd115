-- Append-only, hash-chained audit trail (see migrations/sqlite/0002_audit.sql).
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
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
