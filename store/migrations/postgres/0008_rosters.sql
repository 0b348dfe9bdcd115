-- Same schema as migrations/sqlite/0008_rosters.sql, for PostgreSQL. A ward's nurse
-- rosters, one row per revision: revision 0 is the period's first
-- roster, each re-plan (after a rejection) or re-roster (after a sick call or a surge)
-- adds one. A row is written once when proposed; only its status and the decision
-- fields change afterwards. proposal_json is what the approver saw (staff numbers, never
-- names); its assignments are the warm start of the next re-roster.
CREATE TABLE rosters (
    roster_id        TEXT NOT NULL,
    revision         BIGINT NOT NULL,
    workflow_id      TEXT NOT NULL,
    ward             TEXT NOT NULL,
    start_date       TEXT NOT NULL,
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
    PRIMARY KEY (roster_id, revision)
);
-- One roster in force per ward and period, even when two approvals race.
CREATE UNIQUE INDEX rosters_one_published ON rosters (ward, start_date) WHERE status = 'published';
CREATE INDEX rosters_by_workflow ON rosters (workflow_id);
