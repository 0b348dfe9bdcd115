-- The HL7 v2 ADT feed (hl7/ crate, store/src/adt.rs).
--
-- adt_messages: every applied message once, by sender, MSH-10 and the SHA-256 of its
-- content (the message itself is never kept), so a resend changes nothing and is
-- acknowledged again. adt_events: what each applied message said, de-identified
-- (patients by pseudonym, places by careflow's ids or the sender's point of care), so
-- that a patient's stays can be replayed in event-time order when messages arrive out
-- of order. adt_patients: where the feed last put each patient (a careflow bed, or
-- elsewhere in the hospital). adt_refusals: messages refused with AE (a bed held for
-- someone else, a discharge of a patient never admitted), by position and reason.
-- ed_arrivals_hourly: emergency department registrations per hour (counts only).
CREATE TABLE adt_messages (
    sender          TEXT NOT NULL,
    control_id      TEXT NOT NULL,
    content_sha256  TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (sender, control_id, content_sha256)
);
CREATE TABLE adt_events (
    event_id            TEXT PRIMARY KEY,
    patient_key         TEXT NOT NULL REFERENCES patients(patient_key),
    event_type          TEXT NOT NULL,
    event_time          TEXT NOT NULL,
    received_at         TEXT NOT NULL,
    patient_class       TEXT NOT NULL,
    ward_id             TEXT,
    bed_id              TEXT,
    elsewhere           TEXT,
    expected_discharge  TEXT
);
CREATE INDEX adt_events_by_patient ON adt_events(patient_key, event_time);
CREATE TABLE adt_patients (
    patient_key         TEXT PRIMARY KEY REFERENCES patients(patient_key),
    admission_id        TEXT,
    status              TEXT NOT NULL CHECK (status IN ('admitted','discharged','cancelled')),
    ward_id             TEXT,
    bed_id              TEXT,
    elsewhere           TEXT,
    expected_discharge  TEXT,
    last_event_time     TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE TABLE adt_refusals (
    refused_at      TEXT NOT NULL,
    sender          TEXT NOT NULL,
    control_id      TEXT NOT NULL,
    content_sha256  TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    segment         TEXT NOT NULL,
    field           INTEGER NOT NULL,
    component       INTEGER,
    reason          TEXT NOT NULL
);
CREATE TABLE ed_arrivals_hourly (
    hour      TEXT PRIMARY KEY,
    arrivals  INTEGER NOT NULL
);
