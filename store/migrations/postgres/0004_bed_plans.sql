-- Bed plans proposed by the bed-plan workflow, and every forecast a workflow used.
-- A plan row is written once when proposed; only its status and the decision fields
-- change afterwards. proposal_json holds the pseudonymous proposal the approver saw
-- (admission ids, never MRNs); assignments_json the solver's room per admission, the
-- warm start of the next plan.
CREATE TABLE bed_plans (
    plan_id             TEXT PRIMARY KEY,
    plan_date           TEXT NOT NULL,
    horizon_days        INTEGER NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('proposed','published','rejected','superseded','infeasible')),
    requested_by        TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    model_name          TEXT NOT NULL,
    model_version       TEXT NOT NULL,
    model_sha256        TEXT NOT NULL,
    solver_status       TEXT NOT NULL,
    cost_total          DOUBLE PRECISION NOT NULL,
    proposal_json       TEXT NOT NULL,
    assignments_json    TEXT NOT NULL,
    decided_by          TEXT,
    decided_role        TEXT,
    decided_at          TEXT,
    decision_reason     TEXT
);
-- One plan in force at a time, even when two approvals race.
CREATE UNIQUE INDEX bed_plans_one_published ON bed_plans (status) WHERE status = 'published';
-- Which model (name, version, sha256 of the file that ran, execution provider) made each
-- forecast a workflow step used, so the decision built on it can be reproduced.
CREATE TABLE forecast_runs (
    workflow_id         TEXT NOT NULL,
    step                TEXT NOT NULL,
    model_name          TEXT NOT NULL,
    model_version       TEXT NOT NULL,
    model_sha256        TEXT NOT NULL,
    execution_provider  TEXT NOT NULL,
    origin              TEXT NOT NULL,
    horizon_hours       INTEGER NOT NULL,
    output_digest       TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    PRIMARY KEY (workflow_id, step)
);
