-- CT/MRI scanner bookings.
--
-- One row per revision of a booking run: revision 0 is the first proposal, revision 1
-- the re-plan held to policy after a rejection. A row is written once when proposed;
-- only its status and the decision fields change afterwards. proposal_json is what the
-- imaging manager saw (request ids and pseudonymous patient keys, never MRNs).
CREATE TABLE scanner_bookings (
    booking_id       TEXT NOT NULL,
    revision         BIGINT NOT NULL,
    workflow_id      TEXT NOT NULL,
    week_start       TEXT NOT NULL,
    days             BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('proposed','booked','rejected','infeasible','cancelled')),
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
    PRIMARY KEY (booking_id, revision)
);
CREATE INDEX scanner_bookings_by_workflow ON scanner_bookings (workflow_id);
-- One row per booked scan of a booked revision, with the no-show probability the
-- model gave it (model version and hash) and, once known, whether the patient came:
-- the rows the no-show model is validated on.
CREATE TABLE scan_appointments (
    booking_id              TEXT NOT NULL,
    request_id              TEXT NOT NULL,
    revision                BIGINT NOT NULL,
    workflow_id             TEXT NOT NULL,
    patient_key             TEXT NOT NULL,
    modality                TEXT NOT NULL,
    urgency                 TEXT NOT NULL,
    scanner_id              TEXT NOT NULL,
    day                     BIGINT NOT NULL,
    start_slot              BIGINT NOT NULL,
    overbooked              BIGINT NOT NULL,
    no_show_probability     DOUBLE PRECISION NOT NULL,
    model_name              TEXT NOT NULL,
    model_version           TEXT NOT NULL,
    model_sha256            TEXT NOT NULL,
    attendance              TEXT CHECK (attendance IN ('attended','no_show')),
    attendance_recorded_by  TEXT,
    attendance_recorded_at  TEXT,
    PRIMARY KEY (booking_id, request_id),
    FOREIGN KEY (booking_id, revision) REFERENCES scanner_bookings(booking_id, revision)
);
CREATE INDEX scan_appointments_by_model ON scan_appointments (model_name, model_version);
