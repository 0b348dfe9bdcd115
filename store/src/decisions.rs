//! Reproducible decisions: what each solver or forecaster step of a workflow used.
//!
//! The step's whole input is stored once as a content-addressed snapshot (the key is the
//! sha256 of the JSON text, so the key proves the content), and the step row names that
//! snapshot with the models (name, version, sha256), the solver and its version, the
//! careflow version, the seed, time limit and threads, and the digest of the result. A
//! step is recorded once per workflow and step: recorded again (a retried activity), the
//! first record stands and is returned. Reading a snapshot back checks its hash, so a
//! snapshot edited in the database is refused rather than replayed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, system_entry};
use crate::db::{now, Db};
use crate::error::{Error, Result};

/// A model a step ran, by the hash of the file that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUse {
    /// Registry name.
    pub name: String,
    /// Registry version.
    pub version: String,
    /// sha256 of the model file.
    pub sha256: String,
}

/// A step to record, with the whole input it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDecisionStep {
    /// Workflow.
    pub workflow_id: String,
    /// Step within it (`forecast/r0`, `solve/r0`...).
    pub step: String,
    /// What the snapshot is (`theatre_booking.input`, `surgery_duration.request`).
    pub kind: String,
    /// The step's whole input, as JSON text; its sha256 is the snapshot's key.
    pub snapshot_json: String,
    /// Models that ran.
    pub models: Vec<ModelUse>,
    /// Solver that ran (`HiGHS`), if any.
    pub solver: Option<String>,
    /// Its version.
    pub solver_version: Option<String>,
    /// careflow's version.
    pub careflow_version: String,
    /// Seed of the step's random choices.
    pub seed: Option<u64>,
    /// Time limit, seconds.
    pub time_limit_s: Option<f64>,
    /// Threads the solver could use.
    pub threads: Option<u32>,
    /// Digest of what the step produced.
    pub result_digest: String,
}

/// A recorded step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionStep {
    /// Workflow.
    pub workflow_id: String,
    /// Step.
    pub step: String,
    /// Key of the input snapshot.
    pub snapshot_sha256: String,
    /// Models that ran.
    pub models: Vec<ModelUse>,
    /// Solver, if any.
    pub solver: Option<String>,
    /// Its version.
    pub solver_version: Option<String>,
    /// careflow's version.
    pub careflow_version: String,
    /// Seed.
    pub seed: Option<u64>,
    /// Time limit, seconds.
    pub time_limit_s: Option<f64>,
    /// Threads.
    pub threads: Option<u32>,
    /// Digest of the result.
    pub result_digest: String,
    /// When recorded (RFC 3339).
    pub created_at: String,
}

/// A stored input snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// sha256 of `json`.
    pub sha256: String,
    /// What it is.
    pub kind: String,
    /// The input as JSON text.
    pub json: String,
    /// When first stored.
    pub created_at: String,
}

/// sha256 of a text, hex: a snapshot's key.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Records a step in a transaction of its own (see [`record_in`]).
pub async fn record(db: &Db, new: &NewDecisionStep) -> Result<DecisionStep> {
    let mut tx = db.begin_write().await?;
    let step = record_in(&mut tx, new).await?;
    tx.commit().await?;
    Ok(step)
}

/// Records a step inside a write transaction from [`Db::begin_write`]: the snapshot
/// (once per content), the step row and its audit entry `decision.recorded`. A step
/// recorded before is returned as it was, and nothing is written.
pub async fn record_in(conn: &mut AnyConnection, new: &NewDecisionStep) -> Result<DecisionStep> {
    if let Some(done) = step_in(conn, &new.workflow_id, &new.step).await? {
        return Ok(done);
    }
    let sha = sha256_hex(&new.snapshot_json);
    let ts = now();
    sqlx::query(
        "INSERT INTO decision_snapshots (sha256, kind, json, created_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&sha)
    .bind(&new.kind)
    .bind(&new.snapshot_json)
    .bind(&ts)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO decision_steps (workflow_id, step, snapshot_sha256, models_json, solver, \
         solver_version, careflow_version, seed, time_limit_s, threads, result_digest, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(&new.workflow_id)
    .bind(&new.step)
    .bind(&sha)
    .bind(serde_json::to_string(&new.models).expect("models serialise"))
    .bind(&new.solver)
    .bind(&new.solver_version)
    .bind(&new.careflow_version)
    // Stored as the same 64 bits: BIGINT is signed on both backends.
    .bind(new.seed.map(|s| s as i64))
    .bind(new.time_limit_s)
    .bind(new.threads.map(i64::from))
    .bind(&new.result_digest)
    .bind(&ts)
    .execute(&mut *conn)
    .await?;
    let mut entry = system_entry(
        &new.workflow_id,
        &format!("decision/{}", new.step),
        "decision.recorded",
    );
    let models: Vec<String> = new
        .models
        .iter()
        .map(|m| format!("{} {} (sha256 {})", m.name, m.version, m.sha256))
        .collect();
    let solver = match (&new.solver, &new.solver_version) {
        (Some(s), Some(v)) => format!(
            "; {s} {v}, seed {}, {} s, {} thread(s)",
            new.seed.unwrap_or(0),
            new.time_limit_s.unwrap_or(0.0),
            new.threads.unwrap_or(1)
        ),
        _ => String::new(),
    };
    entry.reason = Some(format!(
        "{} snapshot {sha}; models [{}]{solver}; careflow {}",
        new.kind,
        models.join(", "),
        new.careflow_version
    ));
    entry.input_digest = Some(sha);
    entry.output_digest = Some(new.result_digest.clone());
    audit::append(conn, entry).await?;
    step_in(conn, &new.workflow_id, &new.step)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("decision step {} vanished", new.step)))
}

const STEP_COLUMNS: &str = "workflow_id, step, snapshot_sha256, models_json, solver, solver_version, \
                            careflow_version, seed, time_limit_s, threads, result_digest, created_at";

fn step_row(row: &sqlx::any::AnyRow) -> Result<DecisionStep> {
    let step: String = row.try_get("step")?;
    let models_json: String = row.try_get("models_json")?;
    Ok(DecisionStep {
        workflow_id: row.try_get("workflow_id")?,
        snapshot_sha256: row.try_get("snapshot_sha256")?,
        models: serde_json::from_str(&models_json)
            .map_err(|e| Error::Corrupt(format!("decision step {step} models: {e}")))?,
        solver: row.try_get("solver")?,
        solver_version: row.try_get("solver_version")?,
        careflow_version: row.try_get("careflow_version")?,
        seed: row.try_get::<Option<i64>, _>("seed")?.map(|s| s as u64),
        time_limit_s: row.try_get("time_limit_s")?,
        threads: row.try_get::<Option<i64>, _>("threads")?.map(|t| t as u32),
        result_digest: row.try_get("result_digest")?,
        created_at: row.try_get("created_at")?,
        step,
    })
}

async fn step_in(
    conn: &mut AnyConnection,
    workflow_id: &str,
    step: &str,
) -> Result<Option<DecisionStep>> {
    let row = sqlx::query(&format!(
        "SELECT {STEP_COLUMNS} FROM decision_steps WHERE workflow_id = $1 AND step = $2"
    ))
    .bind(workflow_id)
    .bind(step)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(step_row).transpose()
}

/// One recorded step, or `None`.
pub async fn step(db: &Db, workflow_id: &str, step: &str) -> Result<Option<DecisionStep>> {
    let mut conn = db.pool().acquire().await?;
    step_in(&mut conn, workflow_id, step).await
}

/// Every recorded step of a workflow, in the order recorded.
pub async fn steps(db: &Db, workflow_id: &str) -> Result<Vec<DecisionStep>> {
    let rows = sqlx::query(&format!(
        "SELECT {STEP_COLUMNS} FROM decision_steps WHERE workflow_id = $1 ORDER BY created_at, step"
    ))
    .bind(workflow_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(step_row).collect()
}

/// The snapshot stored under `sha256`, after checking that its content still hashes to
/// its key; `None` when there is none.
pub async fn snapshot(db: &Db, sha256: &str) -> Result<Option<Snapshot>> {
    let row = sqlx::query(
        "SELECT sha256, kind, json, created_at FROM decision_snapshots WHERE sha256 = $1",
    )
    .bind(sha256)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let s = Snapshot {
        sha256: row.try_get("sha256")?,
        kind: row.try_get("kind")?,
        json: row.try_get("json")?,
        created_at: row.try_get("created_at")?,
    };
    let actual = sha256_hex(&s.json);
    if actual != s.sha256 {
        return Err(Error::Corrupt(format!(
            "decision snapshot {} was altered: its content hashes to {actual}",
            s.sha256
        )));
    }
    Ok(Some(s))
}

/// What a solver step produced, kept beside its input snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionResult {
    /// Workflow.
    pub workflow_id: String,
    /// Step.
    pub step: String,
    /// `optimal`, `time_limit` or `infeasible`.
    pub solver_status: String,
    /// Weighted objective, when a plan was found.
    pub objective: Option<f64>,
    /// Relative MIP gap HiGHS reported, where it knows it.
    pub mip_gap: Option<f64>,
    /// The step's result as JSON (the plan, or the conflicts of an infeasible input).
    pub result_json: String,
}

/// Records what a step produced inside a write transaction. A step's first result
/// stands: a retried activity's result is dropped.
pub async fn record_result_in(conn: &mut AnyConnection, result: &DecisionResult) -> Result<()> {
    sqlx::query(
        "INSERT INTO decision_results (workflow_id, step, solver_status, objective, mip_gap, \
         result_json, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7) \
         ON CONFLICT (workflow_id, step) DO NOTHING",
    )
    .bind(&result.workflow_id)
    .bind(&result.step)
    .bind(&result.solver_status)
    .bind(result.objective)
    .bind(result.mip_gap)
    .bind(&result.result_json)
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records what a step produced in a transaction of its own (see [`record_result_in`]).
pub async fn record_result(db: &Db, result: &DecisionResult) -> Result<()> {
    let mut tx = db.begin_write().await?;
    record_result_in(&mut tx, result).await?;
    tx.commit().await?;
    Ok(())
}

/// What a step produced, if its result was kept.
pub async fn result(db: &Db, workflow_id: &str, step: &str) -> Result<Option<DecisionResult>> {
    let row = sqlx::query(
        "SELECT workflow_id, step, solver_status, objective, mip_gap, result_json \
         FROM decision_results WHERE workflow_id = $1 AND step = $2",
    )
    .bind(workflow_id)
    .bind(step)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(DecisionResult {
            workflow_id: r.try_get("workflow_id")?,
            step: r.try_get("step")?,
            solver_status: r.try_get("solver_status")?,
            objective: r.try_get("objective")?,
            mip_gap: r.try_get("mip_gap")?,
            result_json: r.try_get("result_json")?,
        })
    })
    .transpose()
}

/// A stored step with the input it used (hash checked) and what it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    /// The step row.
    pub step: DecisionStep,
    /// Its input snapshot.
    pub snapshot: Snapshot,
    /// Its result, when kept.
    pub result: Option<DecisionResult>,
}

/// Loads a workflow's step with its snapshot and result: the named step, or, without
/// one, the workflow's last recorded solver step (else its last step). A snapshot whose
/// content no longer hashes to its key is refused ([`Error::Corrupt`]).
pub async fn load(db: &Db, workflow_id: &str, step_name: Option<&str>) -> Result<StoredDecision> {
    let all = steps(db, workflow_id).await?;
    let chosen = match step_name {
        Some(name) => all
            .iter()
            .find(|s| s.step == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|s| s.step.as_str()).collect();
                Error::NotFound(format!(
                    "decision step {name} of workflow {workflow_id} (recorded steps: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })?,
        None => all
            .iter()
            .rev()
            .find(|s| s.solver.is_some())
            .or_else(|| all.last())
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("decision steps of workflow {workflow_id}")))?,
    };
    let snap = snapshot(db, &chosen.snapshot_sha256)
        .await?
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "decision step {} of workflow {workflow_id} names snapshot {}, which is not stored",
                chosen.step, chosen.snapshot_sha256
            ))
        })?;
    let result = result(db, workflow_id, &chosen.step).await?;
    Ok(StoredDecision {
        step: chosen,
        snapshot: snap,
        result,
    })
}

/// The role of a user named on the command line, or `NotFound`.
pub async fn role_of(db: &Db, user: &str) -> Result<careflow_types::Role> {
    let row = sqlx::query("SELECT role FROM users WHERE user_name = $1")
        .bind(user)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("user {user}")))?;
    let role: String = row.try_get("role")?;
    role.parse()
        .map_err(|_| Error::Corrupt(format!("user {user} has unknown role {role}")))
}

/// Checks that `role` may read a decision of a process whose approver is `approver`:
/// auditors, administrators and that approver.
pub fn check_may_read(
    user: &str,
    role: careflow_types::Role,
    approver: careflow_types::Role,
) -> Result<()> {
    use careflow_types::Role;
    if matches!(role, Role::Auditor | Role::Admin) || role == approver {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "{user} ({role}) may not read this decision (allowed: auditor, admin, {approver})"
        )))
    }
}

/// Audits a replay: who ran which step again, when, and with what verdict
/// (`decision.replayed`, the step's snapshot as input, the replay's result as output).
/// Each replay is its own entry.
pub async fn record_replay(
    db: &Db,
    user: &str,
    role: careflow_types::Role,
    step: &DecisionStep,
    verdict: &str,
    replayed_digest: &str,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let ts = now();
    audit::append(
        &mut tx,
        careflow_types::NewAuditEntry {
            actor: user.to_owned(),
            role: role.as_str().to_owned(),
            action: "decision.replayed".into(),
            meaning: None,
            reason: Some(verdict.to_owned()),
            workflow_id: Some(step.workflow_id.clone()),
            step: Some(format!("decision/{}", step.step)),
            input_digest: Some(step.snapshot_sha256.clone()),
            output_digest: Some(replayed_digest.to_owned()),
            // A replay is an event of its own each time it is run.
            idempotency_key: format!(
                "{}/decision/{}/replay/{user}/{ts}/{}",
                step.workflow_id,
                step.step,
                replay_nonce()
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// 16 random bytes, hex: keeps two replays in the same instant apart.
fn replay_nonce() -> String {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).expect("the OS provides randomness");
    hex::encode(buf)
}
