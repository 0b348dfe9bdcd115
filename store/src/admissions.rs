//! Admissions: the request as registered, the bed search and hold, the assignment,
//! and the end of an admission that gets no bed.
//!
//! Each function is one transaction with its audit entry, keyed by workflow id and
//! step, so that an activity retried after a crash finds its work done and returns the
//! same answer instead of doing it twice.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use careflow_types::{AdmissionInput, AdmissionStage, BedSearch, NewAuditEntry, Role};

use crate::audit::{self, system_entry};
use crate::bed_plans;
use crate::db::{now, Db};
use crate::error::{Error, Result};
use crate::hospital;

/// Stores the patient and the admission request (idempotent), audited as the
/// requesting clerk's action. An invalid request is refused with every problem named.
pub async fn register(db: &Db, workflow_id: &str, input: &AdmissionInput) -> Result<()> {
    let req = &input.request;
    if let Err(errors) = req.validate() {
        let msg: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(Error::Invalid(format!(
            "invalid admission request: {}",
            msg.join("; ")
        )));
    }
    let ts = now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO patients (patient_key, sex, age_group, created_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (patient_key) DO NOTHING",
    )
    .bind(&req.patient_ref)
    .bind(req.sex.as_str())
    .bind(req.age_group.as_str())
    .bind(&ts)
    .execute(&mut *tx)
    .await?;
    let kind = serde_json::to_value(req.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO admissions (admission_id, workflow_id, patient_key, kind, sex, age_group, specialty, \
         isolation, expected_los_days, requested_by, status, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'requested',$11,$11) ON CONFLICT (admission_id) DO NOTHING",
    )
    .bind(&input.admission_id)
    .bind(workflow_id)
    .bind(&req.patient_ref)
    .bind(kind)
    .bind(req.sex.as_str())
    .bind(req.age_group.as_str())
    .bind(&req.specialty)
    .bind(req.isolation as i64)
    .bind(req.expected_los_days as i64)
    .bind(&req.requested_by)
    .bind(&ts)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: req.requested_by.clone(),
            role: Role::AdmissionsClerk.as_str().into(),
            action: "admission.requested".into(),
            meaning: Some("requested admission".into()),
            input_digest: Some(db.digest(input)),
            ..system_entry(workflow_id, "register", "")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks bed availability, proposes a bed by the allocation rule and holds it for
/// this admission until it is assigned or the admission ends, so that neither a
/// concurrent admission nor the wait for a person's approval loses it.
pub async fn find_bed(
    db: &Db,
    workflow_id: &str,
    admission: &AdmissionInput,
    attempt: u32,
) -> Result<BedSearch> {
    let mut tx = db.begin_write().await?;
    let beds = hospital::bed_states(&mut *tx, Some(workflow_id)).await?;
    let (beds, held_back) = keep_emergency_reserve(&mut tx, &admission.request, beds).await?;
    let mut search = hospital::choose_bed(&admission.request, &beds);
    if let Some(note) = held_back {
        search.summary.push_str(&note);
    }
    hospital::hold_bed(
        &mut tx,
        workflow_id,
        search.proposal.as_ref().map(|p| p.bed_id.as_str()),
        &admission.request,
    )
    .await?;
    let step = format!("find-bed/{attempt}");
    let mut entry = system_entry(workflow_id, &step, "admission.bed_search");
    entry.input_digest = Some(db.digest(admission));
    entry.output_digest = Some(db.digest(&search));
    // A retried search may see other beds; the audit keeps the first answer's digest
    // and the workflow's history keeps whichever answer it used.
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(search)
}

/// For an elective admission, takes out of the search the free beds of every ward whose
/// free beds do not exceed the published bed plan's emergency reserve for today (taking
/// one would leave fewer than the plan holds back for emergencies), and says which.
/// Emergency admissions see every bed.
async fn keep_emergency_reserve(
    conn: &mut sqlx::AnyConnection,
    request: &careflow_types::AdmissionRequest,
    beds: Vec<hospital::BedState>,
) -> Result<(Vec<hospital::BedState>, Option<String>)> {
    if request.kind != careflow_types::AdmissionKind::Elective {
        return Ok((beds, None));
    }
    let today = chrono::Utc::now().date_naive();
    let Some((plan_id, reserve)) = bed_plans::emergency_reserve(conn, today).await? else {
        return Ok((beds, None));
    };
    let mut held_back = Vec::new();
    for (ward, kept) in &reserve {
        let free = beds
            .iter()
            .filter(|b| &b.ward_id == ward && b.occupant_sex.is_none())
            .count() as u32;
        if *kept > 0 && free <= *kept {
            held_back.push((ward.clone(), free, *kept));
        }
    }
    if held_back.is_empty() {
        return Ok((beds, None));
    }
    let note = format!(
        "; held back for emergencies by bed plan {plan_id}: {}",
        held_back
            .iter()
            .map(|(w, free, kept)| format!("{free} free bed(s) on {w} (reserve {kept})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let beds = beds
        .into_iter()
        .filter(|b| b.occupant_sex.is_some() || !held_back.iter().any(|(w, _, _)| *w == b.ward_id))
        .collect();
    Ok((beds, Some(note)))
}

/// What the admission workflow asks [`assign_bed`] to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignBed {
    /// Workflow.
    pub workflow_id: String,
    /// Admission.
    pub admission: AdmissionInput,
    /// Bed chosen.
    pub bed_id: String,
    /// Attempt number (a taken bed makes the workflow search again).
    pub attempt: u32,
    /// Who approved an exception, if a person did.
    pub approved_by: Option<String>,
}

/// Result of [`assign_bed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignOutcome {
    /// The bed is the patient's.
    Assigned {
        /// Bed.
        bed_id: String,
    },
    /// Someone else got the bed first, or it no longer fits; search again.
    Unavailable {
        /// Why, in words.
        reason: String,
    },
}

/// Assigns the bed. The same key always yields the same answer: a retry finds the
/// assignment it made; a bed taken by another admission yields `Unavailable`.
pub async fn assign_bed(db: &Db, input: &AssignBed) -> Result<AssignOutcome> {
    let key = format!("{}/assign-bed/{}", input.workflow_id, input.attempt);
    let mut tx = db.begin_write().await?;
    if let Some(row) = sqlx::query("SELECT bed_id FROM bed_assignments WHERE assignment_id = $1")
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?
    {
        return Ok(AssignOutcome::Assigned {
            bed_id: row.try_get("bed_id")?,
        });
    }
    let beds = hospital::bed_states(&mut *tx, Some(&input.workflow_id)).await?;
    let req = &input.admission.request;
    // The HL7 feed may have ended the stay, named its bed or handed it to another
    // workflow (a transfer) since this workflow began: its bed is not this one's to give.
    let row = sqlx::query("SELECT status, workflow_id FROM admissions WHERE admission_id = $1")
        .bind(&input.admission.admission_id)
        .fetch_optional(&mut *tx)
        .await?;
    let has_bed = sqlx::query(
        "SELECT 1 AS one FROM bed_assignments WHERE admission_id = $1 AND released_at IS NULL",
    )
    .bind(&input.admission.admission_id)
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    let not_ours = match &row {
        Some(r) => {
            let status: String = r.try_get("status")?;
            let workflow_id: String = r.try_get("workflow_id")?;
            ["discharged", "cancelled", "declined"].contains(&status.as_str())
                || workflow_id != input.workflow_id
                || has_bed
        }
        None => false,
    };
    let outcome = match beds.iter().find(|b| b.bed_id == input.bed_id) {
        _ if not_ours => AssignOutcome::Unavailable {
            reason: format!(
                "admission {} has ended, has a bed or is another workflow's to place",
                input.admission.admission_id
            ),
        },
        None => AssignOutcome::Unavailable {
            reason: format!("bed {} does not exist or is out of service", input.bed_id),
        },
        Some(bed) => {
            let room: Vec<&hospital::BedState> =
                beds.iter().filter(|b| b.room_id == bed.room_id).collect();
            match hospital::hard_rule_violation(req, bed, &room) {
                Some(reason) => AssignOutcome::Unavailable { reason },
                None => AssignOutcome::Assigned {
                    bed_id: bed.bed_id.clone(),
                },
            }
        }
    };
    let ts = now();
    let step = format!("assign-bed/{}", input.attempt);
    let mut entry = system_entry(&input.workflow_id, &step, "admission.bed_unavailable");
    entry.input_digest = Some(db.digest(input));
    entry.output_digest = Some(db.digest(&outcome));
    if let AssignOutcome::Assigned { bed_id } = &outcome {
        sqlx::query(
            "INSERT INTO bed_assignments (assignment_id, admission_id, bed_id, sex, isolation, assigned_at) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(&key)
        .bind(&input.admission.admission_id)
        .bind(bed_id)
        .bind(req.sex.as_str())
        .bind(req.isolation as i64)
        .bind(&ts)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE admissions SET status = 'admitted', updated_at = $1 WHERE admission_id = $2",
        )
        .bind(&ts)
        .bind(&input.admission.admission_id)
        .execute(&mut *tx)
        .await?;
        hospital::release_holds(&mut tx, &input.workflow_id).await?;
        entry.action = "admission.bed_assigned".into();
        entry.reason = input
            .approved_by
            .as_ref()
            .map(|who| format!("exception approved by {who}"));
    }
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Ends an admission without a bed (declined or cancelled): closes its open tasks and
/// frees a bed it may hold. `actor` is the person who declined, or `careflow` for a
/// cancellation it was told of.
pub async fn close(
    db: &Db,
    workflow_id: &str,
    admission_id: &str,
    stage: AdmissionStage,
    reason: Option<&str>,
    actor: &str,
) -> Result<()> {
    let status = match stage {
        AdmissionStage::Declined => "declined",
        AdmissionStage::Cancelled => "cancelled",
        other => {
            return Err(Error::Invalid(format!(
                "an admission cannot be closed as {other:?}"
            )))
        }
    };
    let ts = now();
    let mut tx = db.begin_write().await?;
    // A stay of the HL7 feed is the feed's: its status (discharged, cancelled, or still
    // admitted after a transfer handed it to another workflow) and its bed stay as the
    // feed wrote them; only a bed this workflow gave a stay that is no longer its own
    // goes back.
    let fed = sqlx::query("SELECT status, workflow_id FROM admissions WHERE admission_id = $1 AND requested_by LIKE 'hl7:%'")
        .bind(admission_id)
        .fetch_optional(&mut *tx)
        .await?;
    match fed {
        None => {
            sqlx::query(
                "UPDATE admissions SET status = $1, updated_at = $2 WHERE admission_id = $3",
            )
            .bind(status)
            .bind(&ts)
            .bind(admission_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE bed_assignments SET released_at = $1 WHERE admission_id = $2 AND released_at IS NULL",
            )
            .bind(&ts)
            .bind(admission_id)
            .execute(&mut *tx)
            .await?;
        }
        Some(r) => {
            let still_ours = r.try_get::<String, _>("status")? == "admitted"
                && r.try_get::<String, _>("workflow_id")? == workflow_id;
            if !still_ours {
                sqlx::query(
                    "UPDATE bed_assignments SET released_at = $1 WHERE admission_id = $2 AND released_at IS NULL \
                     AND assignment_id LIKE $3",
                )
                .bind(&ts)
                .bind(admission_id)
                .bind(format!("{workflow_id}/%"))
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    sqlx::query(
        "UPDATE tasks SET status = 'cancelled' WHERE workflow_id = $1 AND status IN ('open','claimed')",
    )
    .bind(workflow_id)
    .execute(&mut *tx)
    .await?;
    hospital::release_holds(&mut tx, workflow_id).await?;
    let mut entry = system_entry(workflow_id, "close", &format!("admission.{status}"));
    entry.actor = actor.to_owned();
    entry.reason = reason.map(str::to_owned);
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}
