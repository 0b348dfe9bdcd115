-- Ethics committee review of AI projects (store/src/ethics.rs).
--
-- Committee membership, one row per member, scientific or lay (quorum needs a lay
-- member present).
CREATE TABLE ethics_members (
    user_name    TEXT PRIMARY KEY,
    member_kind  TEXT NOT NULL CHECK (member_kind IN ('scientific','lay')),
    added_at     TEXT NOT NULL,
    added_by     TEXT NOT NULL
);
-- A submission: an initial project, or an amendment / incident report that refers to
-- the approved project (project_id; for an initial submission, itself). content_json is
-- the current version's fields, content_sha256 its digest; state is where the review
-- stands, due_at when the next step is due.
CREATE TABLE ethics_submissions (
    submission_id   TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('initial','amendment','incident')),
    project_id      TEXT NOT NULL,
    applicant       TEXT NOT NULL,
    title           TEXT NOT NULL,
    version         INTEGER NOT NULL,
    state           TEXT NOT NULL,
    route           TEXT,
    route_reason    TEXT,
    content_json    TEXT NOT NULL,
    content_sha256  TEXT NOT NULL,
    submitted_at    TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    approved_until  TEXT,
    decision        TEXT,
    decision_letter TEXT,
    comments        TEXT
);
CREATE INDEX ethics_submissions_by_project ON ethics_submissions(project_id);
-- Documents of each version, with the SHA-256 of their content.
CREATE TABLE ethics_documents (
    submission_id  TEXT NOT NULL,
    version        INTEGER NOT NULL,
    name           TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    content        TEXT NOT NULL,
    PRIMARY KEY (submission_id, version, name)
);
-- Declared conflicts of interest, per project (they hold for its amendments too).
CREATE TABLE ethics_conflicts (
    project_id   TEXT NOT NULL,
    member       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    declared_at  TEXT NOT NULL,
    PRIMARY KEY (project_id, member)
);
CREATE TABLE ethics_assignments (
    submission_id  TEXT NOT NULL,
    reviewer       TEXT NOT NULL,
    assigned_by    TEXT NOT NULL,
    assigned_at    TEXT NOT NULL,
    PRIMARY KEY (submission_id, reviewer)
);
-- Signed review comments (signature meaning `reviewed`), one per reviewer and version.
CREATE TABLE ethics_reviews (
    submission_id   TEXT NOT NULL,
    version         INTEGER NOT NULL,
    reviewer        TEXT NOT NULL,
    recommendation  TEXT NOT NULL,
    comments        TEXT NOT NULL,
    signature_id    TEXT NOT NULL UNIQUE,
    reviewed_at     TEXT NOT NULL,
    PRIMARY KEY (submission_id, version, reviewer)
);
-- A meeting's attendance for one submission and whether it was quorate.
CREATE TABLE ethics_meetings (
    meeting_id     TEXT PRIMARY KEY,
    submission_id  TEXT NOT NULL,
    held_at        TEXT NOT NULL,
    present_json   TEXT NOT NULL,
    quorate        INTEGER NOT NULL,
    quorum_note    TEXT NOT NULL
);
CREATE TABLE ethics_votes (
    meeting_id    TEXT NOT NULL,
    member        TEXT NOT NULL,
    vote          TEXT NOT NULL,
    signature_id  TEXT NOT NULL UNIQUE,
    voted_at      TEXT NOT NULL,
    PRIMARY KEY (meeting_id, member)
);
