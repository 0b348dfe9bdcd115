-- Reproducible decisions and the week's theatre lists.
--
-- decision_snapshots holds the whole input of a solver or forecaster step, keyed by the
-- sha256 of its JSON text (content-addressed: a step that saw the same input points at
-- the same row). decision_steps says, per workflow step, which snapshot it used, which
-- models (name, version, sha256), which solver and version, which careflow version,
-- seed, time limit and threads, and the digest of what it produced: enough to run the
-- step again and compare.
CREATE TABLE decision_snapshots (
    sha256      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    json        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE decision_steps (
    workflow_id       TEXT NOT NULL,
    step              TEXT NOT NULL,
    snapshot_sha256   TEXT NOT NULL REFERENCES decision_snapshots(sha256),
    models_json       TEXT NOT NULL,
    solver            TEXT,
    solver_version    TEXT,
    careflow_version  TEXT NOT NULL,
    seed              BIGINT,
    time_limit_s      DOUBLE PRECISION,
    threads           BIGINT,
    result_digest     TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (workflow_id, step)
);
-- One row per revision of a week's lists: revision 0 is the week's first plan, each
-- day-of re-plan adds one. A row is written once when proposed; only its status and the
-- decision fields change afterwards. proposal_json is what the approver saw (case ids
-- and pseudonymous patient keys, never MRNs); its bookings are the warm start of the
-- next re-plan.
CREATE TABLE theatre_lists (
    list_id          TEXT NOT NULL,
    revision         BIGINT NOT NULL,
    workflow_id      TEXT NOT NULL,
    week_start       TEXT NOT NULL,
    days             BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('proposed','published','rejected','superseded','infeasible','cancelled')),
    requested_by     TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    decision_step    TEXT NOT NULL,
    snapshot_sha256  TEXT NOT NULL REFERENCES decision_snapshots(sha256),
    solver_status    TEXT NOT NULL,
    objective        DOUBLE PRECISION NOT NULL,
    proposal_json    TEXT NOT NULL,
    decided_by       TEXT,
    decided_role     TEXT,
    decided_at       TEXT,
    decision_reason  TEXT,
    PRIMARY KEY (list_id, revision)
);
-- One list in force per week, even when two approvals race.
CREATE UNIQUE INDEX theatre_lists_one_published ON theatre_lists (week_start) WHERE status = 'published';
CREATE INDEX theatre_lists_by_workflow ON theatre_lists (workflow_id);
