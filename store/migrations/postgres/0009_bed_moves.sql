-- Decision results, and the moves of published bed plans.
--
-- decision_results keeps what a solver step produced (its plan as JSON, the objective
-- and the MIP gap HiGHS reported) beside the step's input snapshot, so a replay can say
-- whether it reproduced the result or stayed within the recorded gap, and an
-- explanation (cost by term, binding constraints, changes) can be read years later
-- without re-running anything. Written once per workflow step.
CREATE TABLE decision_results (
    workflow_id    TEXT NOT NULL,
    step           TEXT NOT NULL,
    solver_status  TEXT NOT NULL,
    objective      DOUBLE PRECISION,
    mip_gap        DOUBLE PRECISION,
    result_json    TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (workflow_id, step)
);
-- A published bed plan's moves, one row per patient to move: ordered when the plan is
-- published (a task for the ward), done when the ward moves the patient (the bed
-- assignment changes in the same transaction), or void when the patient left first or
-- a later plan superseded it. Patients by admission id only.
CREATE TABLE bed_moves (
    plan_id       TEXT NOT NULL,
    admission_id  TEXT NOT NULL,
    ward_id       TEXT NOT NULL,
    from_room     TEXT NOT NULL,
    to_room       TEXT NOT NULL,
    why           TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('ordered','done','void')),
    ordered_at    TEXT NOT NULL,
    done_by       TEXT,
    done_at       TEXT,
    to_bed        TEXT,
    note          TEXT,
    PRIMARY KEY (plan_id, admission_id)
);
CREATE INDEX bed_moves_open ON bed_moves (status, ward_id);
