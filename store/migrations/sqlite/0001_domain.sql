-- Hospital structure, admissions, bed assignments, approval tasks, users.
-- Timestamps are RFC 3339 UTC text; flags are 0/1 integers (same code on SQLite and PostgreSQL).
CREATE TABLE wards (
    ward_id     TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    specialty   TEXT NOT NULL,
    paediatric  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE rooms (
    room_id   TEXT PRIMARY KEY,
    ward_id   TEXT NOT NULL REFERENCES wards(ward_id),
    capacity  INTEGER NOT NULL CHECK (capacity > 0)
);
CREATE TABLE beds (
    bed_id      TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(room_id),
    equipment   TEXT NOT NULL DEFAULT '',
    in_service  INTEGER NOT NULL DEFAULT 1
);
-- patient_key is a random pseudonym: workflows, Temporal's history, tasks and the audit
-- trail only ever see it. patient_ref (the MRN) stays in this table.
CREATE TABLE patients (
    patient_key TEXT PRIMARY KEY,
    patient_ref TEXT UNIQUE,
    sex         TEXT NOT NULL,
    age_group   TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE admissions (
    admission_id       TEXT PRIMARY KEY,
    workflow_id        TEXT NOT NULL UNIQUE,
    patient_key        TEXT NOT NULL REFERENCES patients(patient_key),
    kind               TEXT NOT NULL,
    sex                TEXT NOT NULL,
    age_group          TEXT NOT NULL,
    specialty          TEXT NOT NULL,
    isolation          INTEGER NOT NULL,
    expected_los_days  INTEGER NOT NULL,
    requested_by       TEXT NOT NULL,
    status             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
-- assignment_id is the idempotency key (workflow id + step): a retried activity finds its row.
CREATE TABLE bed_assignments (
    assignment_id  TEXT PRIMARY KEY,
    admission_id   TEXT NOT NULL REFERENCES admissions(admission_id),
    bed_id         TEXT NOT NULL REFERENCES beds(bed_id),
    sex            TEXT NOT NULL,
    isolation      INTEGER NOT NULL,
    assigned_at    TEXT NOT NULL,
    released_at    TEXT
);
-- The database itself refuses a second patient in an occupied bed, or two beds for one admission.
CREATE UNIQUE INDEX bed_assignments_one_patient_per_bed ON bed_assignments(bed_id) WHERE released_at IS NULL;
CREATE UNIQUE INDEX bed_assignments_one_bed_per_admission ON bed_assignments(admission_id) WHERE released_at IS NULL;
CREATE TABLE tasks (
    task_id          TEXT PRIMARY KEY,
    workflow_id      TEXT NOT NULL,
    kind             TEXT NOT NULL,
    role             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open','claimed','approved','rejected','cancelled')),
    summary          TEXT NOT NULL,
    proposed_bed     TEXT,
    claimed_by       TEXT,
    claimed_at       TEXT,
    due_at           TEXT NOT NULL,
    escalations      INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    decided_by       TEXT,
    decided_role     TEXT,
    decided_at       TEXT,
    decision_reason  TEXT
);
CREATE INDEX tasks_by_role_status ON tasks(role, status);
CREATE TABLE users (
    user_name     TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    token_sha256  TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL
);
CREATE TABLE model_registry (
    name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, card_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('candidate','shadow','production','retired')),
    registered_at TEXT NOT NULL, promoted_by TEXT, promoted_at TEXT, promotion_reason TEXT,
    PRIMARY KEY (name, version)
);
-- At most one production version per model, even under concurrent promotions.
CREATE UNIQUE INDEX model_registry_one_production ON model_registry (name) WHERE status = 'production';
