-- Orders placed through the FHIR API (ServiceRequest): imaging requests for the
-- scanner process and surgical waiting-list entries for the theatre process.
--
-- One row per order, by careflow's id. entry_json is the order as the process takes it
-- (a waiting-list case or a scan request, patients by pseudonymous key only); earliest
-- and latest bound when it may be done (YYYY-MM-DD). A week's run takes the open
-- orders of its week (taken_by: the theatre list or scanner booking run). The placer's
-- order number (identifier_system, identifier_value) is unique: a resent order is
-- recognised, never stored twice.
CREATE TABLE service_requests (
    request_id         TEXT PRIMARY KEY,
    process            TEXT NOT NULL CHECK (process IN ('theatre','scanner')),
    patient_key        TEXT NOT NULL REFERENCES patients(patient_key),
    status             TEXT NOT NULL CHECK (status IN ('active','completed','revoked')),
    priority           TEXT NOT NULL,
    code               TEXT NOT NULL,
    earliest           TEXT NOT NULL,
    latest             TEXT NOT NULL,
    identifier_system  TEXT NOT NULL,
    identifier_value   TEXT NOT NULL,
    entry_json         TEXT NOT NULL,
    requested_by       TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    taken_by           TEXT,
    taken_at           TEXT
);
CREATE UNIQUE INDEX service_requests_by_identifier ON service_requests (identifier_system, identifier_value);
CREATE INDEX service_requests_open ON service_requests (process, taken_by, earliest);
