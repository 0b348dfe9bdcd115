//! What the theatre-week, scanner-booking and nurse-roster processes share in the
//! store: one table each of revisions, each revision proposed (with the decision step
//! and input snapshot that made it), then concluded (published or booked, or
//! rejected), the revision in force for its period that a re-plan starts from, and the
//! withdrawal of a cancelled workflow's open proposal.
//!
//! Each process names its table with a [`Kind`]; the modules `theatre`, `scanner` and
//! `rosters` keep their own typed public functions and say only what differs (their
//! audit wording, the scanner's booked scans), so a fourth process is a new `Kind`
//! rather than a fourth copy of the SQL.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use crate::audit::{self, system_entry};
use crate::db::{now, Db};
use crate::decisions::{self, NewDecisionStep};
use crate::error::{Error, Result};

/// One process's table of proposal revisions. Every field is one of the store's own
/// names, never caller input: they are put into SQL text.
pub(crate) struct Kind {
    /// The table, e.g. `theatre_lists`.
    pub table: &'static str,
    /// The column naming the list/booking/roster, e.g. `list_id`.
    pub id_column: &'static str,
    /// The thing in words, for errors: `theatre list`.
    pub noun: &'static str,
    /// The audit actions' prefix: `theatre_list` (`theatre_list.proposed`, ...).
    pub action: &'static str,
    /// The columns naming the period a concluded revision is in force for (stored
    /// with every revision): `week_start`, or `ward` and `start_date`.
    pub period: &'static [&'static str],
    /// The status of a revision that was approved: `published`, `booked`.
    pub concluded: &'static str,
    /// Whether concluding a revision supersedes the one in force for its period (one
    /// in force per period, by a unique index).
    pub supersedes: bool,
}

/// A revision to store, in the columns every kind has.
pub(crate) struct Proposed<'a> {
    pub workflow_id: &'a str,
    pub requested_by: &'a str,
    pub id: &'a str,
    pub revision: u32,
    /// Values of [`Kind::period`], in its order.
    pub period: &'a [&'a str],
    pub days: u32,
    pub infeasible: bool,
    pub solver_status: &'a str,
    pub objective: f64,
    /// The audit entry's reason: the conflicts, or what the revision does.
    pub summary: String,
}

/// How a revision is concluded, as the audit trail records it.
pub(crate) struct Conclusion<'a> {
    /// Approved (published or booked) or rejected.
    pub approve: bool,
    pub actor: &'a str,
    pub role: &'a str,
    /// Stored as the revision's decision reason.
    pub reason: &'a str,
    /// The audit entry's reason.
    pub audit_reason: String,
    /// The audit entry's meaning, where it is not the default.
    pub meaning: Option<String>,
}

/// A stored revision, in the columns every kind has, with its proposal parsed.
pub(crate) struct Stored<T> {
    pub id: String,
    pub revision: u32,
    pub workflow_id: String,
    /// Values of [`Kind::period`], in its order.
    pub period: Vec<String>,
    pub status: String,
    pub requested_by: String,
    pub created_at: String,
    pub proposal: T,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_reason: Option<String>,
}

impl Kind {
    fn parse<T: DeserializeOwned>(&self, id: &str, revision: u32, json: &str) -> Result<T> {
        serde_json::from_str(json)
            .map_err(|e| Error::Corrupt(format!("{} {id} revision {revision}: {e}", self.noun)))
    }

    /// `ward = $1 AND start_date = $2`, numbered from `first`.
    fn period_match(&self, first: usize) -> String {
        self.period
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", first + i))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn select(&self) -> String {
        format!(
            "SELECT {id} AS id, revision, workflow_id, {period}, status, requested_by, created_at, \
             proposal_json, decided_by, decided_at, decision_reason FROM {table}",
            id = self.id_column,
            period = self.period.join(", "),
            table = self.table
        )
    }

    fn stored_of<T: DeserializeOwned>(&self, row: &sqlx::any::AnyRow) -> Result<Stored<T>> {
        let id: String = row.try_get("id")?;
        let revision = row.try_get::<i64, _>("revision")? as u32;
        let proposal = self.parse(&id, revision, &row.try_get::<String, _>("proposal_json")?)?;
        Ok(Stored {
            workflow_id: row.try_get("workflow_id")?,
            period: self
                .period
                .iter()
                .map(|c| row.try_get::<String, _>(*c))
                .collect::<std::result::Result<_, _>>()?,
            status: row.try_get("status")?,
            requested_by: row.try_get("requested_by")?,
            created_at: row.try_get("created_at")?,
            proposal,
            decided_by: row.try_get("decided_by")?,
            decided_at: row.try_get("decided_at")?,
            decision_reason: row.try_get("decision_reason")?,
            id,
            revision,
        })
    }
}

/// The proposal stored for `id` at `revision`, if a step stored one.
pub(crate) async fn stored<T: DeserializeOwned>(
    db: &Db,
    kind: &Kind,
    id: &str,
    revision: u32,
) -> Result<Option<T>> {
    let row = sqlx::query(&format!(
        "SELECT proposal_json FROM {} WHERE {} = $1 AND revision = $2",
        kind.table, kind.id_column
    ))
    .bind(id)
    .bind(i64::from(revision))
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| kind.parse(id, revision, &r.try_get::<String, _>("proposal_json")?))
        .transpose()
}

/// Stores a proposed revision (or an infeasible one) together with the decision step
/// that made it and its input snapshot, audited, in one transaction. The first
/// proposal stored for a revision is the answer: a second attempt's is dropped and the
/// stored one returned.
pub(crate) async fn store<T: Serialize + DeserializeOwned + Clone>(
    db: &Db,
    kind: &Kind,
    row: Proposed<'_>,
    proposal: &T,
    step: &NewDecisionStep,
) -> Result<T> {
    debug_assert_eq!(row.period.len(), kind.period.len());
    let mut tx = db.begin_write().await?;
    if kind.supersedes {
        // One live process per period: a second list or roster for a period that
        // another one still proposes for, or has in force, would supersede its plan
        // behind its back (and its re-plans would start from the other's plan).
        let sql = format!(
            "SELECT {id} AS id, status FROM {table} WHERE {period} AND {id} <> $1 \
             AND status IN ('proposed', '{concluded}') ORDER BY created_at LIMIT 1",
            id = kind.id_column,
            table = kind.table,
            period = kind.period_match(2),
            concluded = kind.concluded,
        );
        let mut q = sqlx::query(&sql).bind(row.id);
        for v in row.period {
            q = q.bind(*v);
        }
        if let Some(other) = q.fetch_optional(&mut *tx).await? {
            let other_id: String = other.try_get("id")?;
            let other_status: String = other.try_get("status")?;
            let period: Vec<String> = kind
                .period
                .iter()
                .zip(row.period)
                .map(|(c, v)| format!("{c} {v}"))
                .collect();
            return Err(Error::Conflict(format!(
                "{noun} {other_id} is already {other_status} for {period}: one {noun} per \
                 period; report changes to it (an event or a re-plan), or cancel it first",
                noun = kind.noun,
                period = period.join(", "),
            )));
        }
    }
    let recorded = decisions::record_in(&mut tx, step).await?;
    let period_values: Vec<String> = (0..kind.period.len())
        .map(|i| format!("${}", 4 + i))
        .collect();
    let n = 4 + kind.period.len();
    let sql = format!(
        "INSERT INTO {table} ({id}, revision, workflow_id, {period}, days, status, requested_by, \
         created_at, decision_step, snapshot_sha256, solver_status, objective, proposal_json) \
         VALUES ($1,$2,$3,{values},{rest}) ON CONFLICT ({id}, revision) DO NOTHING",
        table = kind.table,
        id = kind.id_column,
        period = kind.period.join(", "),
        values = period_values.join(","),
        rest = (n..n + 9)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    let mut q = sqlx::query(&sql)
        .bind(row.id)
        .bind(i64::from(row.revision))
        .bind(row.workflow_id);
    for v in row.period {
        q = q.bind(*v);
    }
    q.bind(i64::from(row.days))
        .bind(if row.infeasible {
            "infeasible"
        } else {
            "proposed"
        })
        .bind(row.requested_by)
        .bind(now())
        .bind(&recorded.step)
        .bind(&recorded.snapshot_sha256)
        .bind(row.solver_status)
        .bind(row.objective)
        .bind(serde_json::to_string(proposal).expect("proposal serialises"))
        .execute(&mut *tx)
        .await?;
    let action = format!(
        "{}.{}",
        kind.action,
        if row.infeasible {
            "infeasible"
        } else {
            "proposed"
        }
    );
    let mut entry = system_entry(
        row.workflow_id,
        &format!("propose/r{}", row.revision),
        &action,
    );
    entry.reason = Some(row.summary);
    entry.input_digest = Some(recorded.snapshot_sha256.clone());
    entry.output_digest = Some(db.digest(proposal));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(stored(db, kind, row.id, row.revision)
        .await?
        .unwrap_or_else(|| proposal.clone()))
}

/// Concludes a proposed revision in `tx` (the caller's transaction, so that what a kind
/// adds, e.g. the booked scans, is written with it): approved, it takes
/// [`Kind::concluded`] and supersedes the revision in force for its period where the
/// kind says so; rejected, it is `rejected`; audited with the proposal's digest. Returns
/// the proposal's JSON, or `None` where the revision was already concluded (an earlier
/// attempt of the same step), which is left as it is.
pub(crate) async fn conclude_in(
    tx: &mut Transaction<'static, Any>,
    digests: &audit::DigestKey,
    kind: &Kind,
    workflow_id: &str,
    id: &str,
    revision: u32,
    c: Conclusion<'_>,
) -> Result<Option<String>> {
    let row = sqlx::query(&format!(
        "SELECT status, {period}, proposal_json FROM {table} WHERE {id_col} = $1 AND revision = $2",
        period = kind.period.join(", "),
        table = kind.table,
        id_col = kind.id_column
    ))
    .bind(id)
    .bind(i64::from(revision))
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("{} {id} revision {revision}", kind.noun)))?;
    let status: String = row.try_get("status")?;
    if status != "proposed" {
        return Ok(None);
    }
    let proposal_json: String = row.try_get("proposal_json")?;
    if c.approve && kind.supersedes {
        let sql = format!(
            "UPDATE {} SET status = 'superseded' WHERE {} AND status = $1",
            kind.table,
            kind.period_match(2)
        );
        let mut q = sqlx::query(&sql).bind(kind.concluded);
        for col in kind.period {
            q = q.bind(row.try_get::<String, _>(*col)?);
        }
        q.execute(&mut **tx).await?;
    }
    sqlx::query(&format!(
        "UPDATE {} SET status = $1, decided_by = $2, decided_role = $3, decided_at = $4, \
         decision_reason = $5 WHERE {} = $6 AND revision = $7",
        kind.table, kind.id_column
    ))
    .bind(if c.approve {
        kind.concluded
    } else {
        "rejected"
    })
    .bind(c.actor)
    .bind(c.role)
    .bind(now())
    .bind(c.reason)
    .bind(id)
    .bind(i64::from(revision))
    .execute(&mut **tx)
    .await?;
    let action = format!(
        "{}.{}",
        kind.action,
        if c.approve {
            kind.concluded
        } else {
            "rejected"
        }
    );
    let mut entry = system_entry(workflow_id, &format!("conclude/r{revision}"), &action);
    entry.reason = Some(c.audit_reason);
    if c.meaning.is_some() {
        entry.meaning = c.meaning;
    }
    entry.output_digest = Some(digests.digest_bytes(proposal_json.as_bytes()));
    audit::append(tx, entry).await?;
    Ok(Some(proposal_json))
}

/// [`conclude_in`] in a transaction of its own.
pub(crate) async fn conclude(
    db: &Db,
    kind: &Kind,
    workflow_id: &str,
    id: &str,
    revision: u32,
    c: Conclusion<'_>,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    conclude_in(&mut tx, db.digest_key(), kind, workflow_id, id, revision, c).await?;
    tx.commit().await?;
    Ok(())
}

/// The revision in force for the period `period` (values of [`Kind::period`]): what a
/// re-plan warm-starts from and counts its changes against.
pub(crate) async fn in_force<T: DeserializeOwned>(
    db: &Db,
    kind: &Kind,
    period: &[&str],
) -> Result<Option<T>> {
    let sql = format!(
        "SELECT {} AS id, revision, proposal_json FROM {} WHERE {} AND status = '{}'",
        kind.id_column,
        kind.table,
        kind.period_match(1),
        kind.concluded
    );
    let mut q = sqlx::query(&sql);
    for v in period {
        q = q.bind(*v);
    }
    let Some(row) = q.fetch_optional(db.pool()).await? else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    let revision = row.try_get::<i64, _>("revision")? as u32;
    kind.parse(&id, revision, &row.try_get::<String, _>("proposal_json")?)
        .map(Some)
}

/// Every revision of `id`, oldest first.
pub(crate) async fn revisions<T: DeserializeOwned>(
    db: &Db,
    kind: &Kind,
    id: &str,
) -> Result<Vec<Stored<T>>> {
    let rows = sqlx::query(&format!(
        "{} WHERE {} = $1 ORDER BY revision",
        kind.select(),
        kind.id_column
    ))
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| kind.stored_of(r)).collect()
}

/// Every concluded revision in force (published, booked) of every id, oldest period
/// first: what the interfaces (FHIR, exports) show as the plan.
pub(crate) async fn concluded<T: DeserializeOwned>(db: &Db, kind: &Kind) -> Result<Vec<Stored<T>>> {
    let rows = sqlx::query(&format!(
        "{} WHERE status = $1 ORDER BY {}, {}, revision",
        kind.select(),
        kind.period.join(", "),
        kind.id_column
    ))
    .bind(kind.concluded)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| kind.stored_of(r)).collect()
}

/// The most recently proposed revisions of every id, newest first.
pub(crate) async fn latest<T: DeserializeOwned>(
    db: &Db,
    kind: &Kind,
    limit: i64,
) -> Result<Vec<Stored<T>>> {
    let rows = sqlx::query(&format!(
        "{} ORDER BY created_at DESC, {} , revision DESC LIMIT $1",
        kind.select(),
        kind.id_column
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| kind.stored_of(r)).collect()
}

/// The workflow was cancelled: its open proposal is withdrawn (`cancelled`) and its
/// open approval tasks closed, audited once as `{action}.withdrawn`. A revision already
/// in force stays.
pub(crate) async fn withdraw(db: &Db, kind: &Kind, workflow_id: &str, reason: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let withdrawn = sqlx::query(&format!(
        "UPDATE {} SET status = 'cancelled', decision_reason = $1 \
         WHERE workflow_id = $2 AND status = 'proposed'",
        kind.table
    ))
    .bind(reason)
    .bind(workflow_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let tasks = sqlx::query(
        "UPDATE tasks SET status = 'cancelled' WHERE workflow_id = $1 AND status IN ('open','claimed')",
    )
    .bind(workflow_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let action = format!("{}.withdrawn", kind.action);
    let mut entry = system_entry(workflow_id, "withdraw", &action);
    entry.reason = Some(format!(
        "{reason}: {withdrawn} open proposal(s) withdrawn, {tasks} open task(s) closed"
    ));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}
