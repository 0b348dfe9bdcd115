-- Model releases: a candidate model version goes through offline validation against
-- the production version, a gate, the ethics committee's sign-off, a shadow period and
-- a signed promotion by the model's owner; rollback returns the previous version.
--
-- model_releases: one row per release; stage is where it stands. author registered it,
-- owner (someone else: separation of duties) may promote it. validation_json is the
-- report (overall and per subgroup, candidate beside production), gate_json the
-- failures of the gate (empty list: passed). The signature columns link the signed
-- steps (promotion, rollback) to their signatures.
CREATE TABLE model_releases (
    release_id               TEXT PRIMARY KEY,
    model_name               TEXT NOT NULL,
    version                  TEXT NOT NULL,
    sha256                   TEXT NOT NULL,
    production_version       TEXT,
    author                   TEXT NOT NULL,
    owner                    TEXT NOT NULL,
    stage                    TEXT NOT NULL CHECK (stage IN ('registered','validated','gate_failed','signed_off','shadow','production','rolled_back','withdrawn')),
    validation_json          TEXT,
    gate_json                TEXT,
    signoff_task_id          TEXT,
    promotion_signature_id   TEXT,
    rollback_signature_id    TEXT,
    rollback_reason          TEXT,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL
);
CREATE INDEX model_releases_by_model ON model_releases(model_name, stage);
-- Shadow forecasts: on a live call the candidate in shadow forecasts beside
-- production; both are kept per target (an hour, a case) and compared once the truth
-- for that target is recorded.
CREATE TABLE shadow_forecasts (
    release_id      TEXT NOT NULL,
    call_id         TEXT NOT NULL,
    target_key      TEXT NOT NULL,
    production_p10  REAL NOT NULL,
    production_p50  REAL NOT NULL,
    production_p90  REAL NOT NULL,
    candidate_p10   REAL NOT NULL,
    candidate_p50   REAL NOT NULL,
    candidate_p90   REAL NOT NULL,
    truth           REAL,
    recorded_at     TEXT NOT NULL,
    PRIMARY KEY (release_id, call_id, target_key)
);
CREATE INDEX shadow_forecasts_by_target ON shadow_forecasts(target_key);
