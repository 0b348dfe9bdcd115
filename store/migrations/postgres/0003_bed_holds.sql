-- A bed chosen for an admission is held for it until the bed is assigned or the
-- admission ends, so concurrent admissions do not chase the same bed and an approved
-- exception is not lost to another patient while a person decides.
CREATE TABLE bed_holds (
    bed_id       TEXT PRIMARY KEY REFERENCES beds(bed_id),
    workflow_id  TEXT NOT NULL,
    sex          TEXT NOT NULL,
    isolation    INTEGER NOT NULL,
    held_at      TEXT NOT NULL
);
CREATE INDEX bed_holds_by_workflow ON bed_holds(workflow_id);
