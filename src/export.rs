//! `careflow export deid --out DIR`: a de-identified copy of careflow's patient data for
//! research, as FHIR Bulk Data NDJSON files (`Patient.ndjson`, `Encounter.ndjson`,
//! `ServiceRequest.ndjson`, `Appointment.ndjson` and a `manifest.json` shaped as a
//! Bulk Data export manifest) and an aggregate table with small cells suppressed.
//!
//! - Identifiers are replaced by keyed pseudonyms: HMAC-SHA256 with a secret kept
//!   outside the database (`DATA_DIR/deid.key`, 32 random bytes as hex, mode 0600,
//!   created at the first export, or `CAREFLOW_DEID_KEY`), so the same patient has the
//!   same research pseudonym in every export with that key and nobody holding only the
//!   database or an export can go back to careflow's keys or hospital numbers.
//! - Every date of a patient is shifted by a secret per-patient offset (1 to 365 days
//!   back, from the same key), so intervals within a patient's record are kept.
//! - Ages are exported as bands; any age over 89 is the one band `90+`.
//! - Free text is dropped: no narrative, reasons, notes, user names or displays.
//! - In the aggregate table a cell counting fewer than `--min-cell` patients (default
//!   5) is written as suppressed.
//!
//! Only [`EXPORT_ROLES`] may export, checked against the token's user in the database;
//! every export is audited (who, counts, the manifest's digest) before the files are
//! written.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use ring::hmac;
use serde_json::{json, Value};

use careflow_store::service_requests::{self, Entry};
use careflow_store::views::{self, plan_instant, DAY_OPENS_MINUTE, SCAN_SLOT_MINUTES};
use careflow_store::{audit, users, Db};
use careflow_types::{NewAuditEntry, Role};

/// Who may export de-identified data: the administrator, who answers for what leaves
/// the hospital.
pub const EXPORT_ROLES: &[Role] = careflow_dashboards::EXPORT_ROLES;
/// Environment variable holding the de-identification key (64 hex digits); wins over
/// the file.
pub const KEY_ENV: &str = "CAREFLOW_DEID_KEY";
/// Name of the key file in the data directory.
pub const KEY_FILE: &str = "deid.key";
/// Smallest count an aggregate cell shows by default.
pub const DEFAULT_MIN_CELL: u64 = 5;

/// The secret behind pseudonyms and date shifts.
pub struct DeidKey(hmac::Key);

impl DeidKey {
    /// The key from `CAREFLOW_DEID_KEY`, else `DATA_DIR/deid.key`, created (0600) on
    /// first use.
    pub fn load_or_create(data_dir: &Path) -> Result<DeidKey> {
        let from_hex = |text: &str, source: &str| -> Result<DeidKey> {
            let bytes = hex::decode(text.trim())
                .with_context(|| format!("de-identification key in {source}: not hex"))?;
            if bytes.len() != 32 {
                bail!(
                    "de-identification key in {source}: {} bytes, expected 32 (64 hex digits)",
                    bytes.len()
                );
            }
            Ok(DeidKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
        };
        if let Ok(text) = std::env::var(KEY_ENV) {
            return from_hex(&text, KEY_ENV);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => return from_hex(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        let mut key = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
            .map_err(|_| anyhow::anyhow!("the OS gave no randomness"))?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let mut opts = std::fs::OpenOptions::new();
        // create_new: two first exports at once must not overwrite each other's key.
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(mut f) => {
                f.write_all(hex::encode(key).as_bytes())
                    .and_then(|_| f.sync_all())
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(DeidKey(hmac::Key::new(hmac::HMAC_SHA256, &key)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => from_hex(
                &std::fs::read_to_string(&path)?,
                &path.display().to_string(),
            ),
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }

    fn mac(&self, purpose: &str, value: &str) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"careflow-deid-v1\0");
        ctx.update(purpose.as_bytes());
        ctx.update(b"\0");
        ctx.update(value.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    /// The research pseudonym of `value` (a patient key, an admission id...), distinct
    /// per `purpose`.
    pub fn pseudonym(&self, purpose: &str, value: &str) -> String {
        hex::encode(&self.mac(purpose, value)[..16])
    }

    /// The patient's secret date shift: 1 to 365 days back.
    pub fn shift_days(&self, patient_key: &str) -> i64 {
        let m = self.mac("date-shift", patient_key);
        let n = u16::from_be_bytes([m[0], m[1]]);
        -(i64::from(n % 365) + 1)
    }
}

/// The band an age in years is exported as: five-year bands, and `90+` for any age
/// over 89.
pub fn age_band(years: u32) -> String {
    if years > 89 {
        "90+".to_owned()
    } else {
        let lo = years / 5 * 5;
        format!("{lo}-{}", lo + 4)
    }
}

/// Shifts an RFC 3339 timestamp or a `YYYY-MM-DD` date by `days`; anything else is
/// dropped (never exported unshifted).
fn shift(value: &str, days: i64) -> Option<String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        let t = t.with_timezone(&Utc) + Duration::days(days);
        return Some(t.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .map(|d| (d + Duration::days(days)).to_string())
}

fn shift_instant(t: DateTime<Utc>, days: i64) -> String {
    (t + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What one export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    /// Resources per type.
    pub counts: BTreeMap<String, usize>,
    /// Aggregate cells suppressed as too small.
    pub suppressed_cells: usize,
    /// The directory written.
    pub out: PathBuf,
}

/// The FHIR gender of careflow's sex.
fn gender(sex: &str) -> &'static str {
    match sex {
        "female" => "female",
        "male" => "male",
        _ => "unknown",
    }
}

/// Writes the de-identified export of `db` to `out` for `user`, who must hold one of
/// [`EXPORT_ROLES`]; audited before any file is written.
pub async fn deid(
    db: &Db,
    key: &DeidKey,
    user: &users::User,
    out: &Path,
    min_cell: u64,
) -> Result<ExportSummary> {
    let export = deid_files(db, key, user, min_cell).await?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, text) in &export.files {
        std::fs::write(out.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    Ok(ExportSummary {
        counts: export.counts,
        suppressed_cells: export.suppressed_cells,
        out: out.to_owned(),
    })
}

/// One export in memory: file name -> content, with its counts.
pub struct DeidFiles {
    /// `Patient.ndjson`, `Encounter.ndjson`, `ServiceRequest.ndjson`,
    /// `Appointment.ndjson`, `stays_by_ward_sex_age_group.csv`, `manifest.json`.
    pub files: BTreeMap<String, String>,
    /// Resources per type.
    pub counts: BTreeMap<String, usize>,
    /// Aggregate cells suppressed as too small.
    pub suppressed_cells: usize,
}

/// The de-identified export of `db` for `user` (one of [`EXPORT_ROLES`]), audited
/// before it is returned (`careflow export deid` writes it to a directory, the API's
/// `POST /api/exports/deid` answers with it).
pub async fn deid_files(
    db: &Db,
    key: &DeidKey,
    user: &users::User,
    min_cell: u64,
) -> Result<DeidFiles> {
    if !EXPORT_ROLES.contains(&user.role) {
        bail!(
            "role {} may not export patient data (allowed: {})",
            user.role,
            EXPORT_ROLES
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let patients = views::patients(db).await?;
    let stays = views::stays(db).await?;
    let orders = service_requests::all(db).await?;
    let lists = views::published_theatre_lists(db).await?;
    let scans = views::booked_scans(db).await?;

    let pid = |k: &str| key.pseudonym("patient", k);
    let shift_of: HashMap<&str, i64> = patients
        .iter()
        .map(|p| (p.patient_key.as_str(), key.shift_days(&p.patient_key)))
        .collect();
    let days_of = |k: &str| {
        shift_of
            .get(k)
            .copied()
            .unwrap_or_else(|| key.shift_days(k))
    };

    // Ages careflow knows in years (imaging orders carry one for the no-show model).
    let mut ages: HashMap<&str, u32> = HashMap::new();
    for o in &orders {
        if let Entry::Scanner(r) = &o.entry {
            ages.insert(o.patient_key.as_str(), r.age_years);
        }
    }
    let mut patient_lines = Vec::new();
    for p in &patients {
        let mut ext = vec![json!({"url": "urn:careflow:age-group", "valueString": p.age_group})];
        if let Some(years) = ages.get(p.patient_key.as_str()) {
            ext.push(json!({"url": "urn:careflow:age-band", "valueString": age_band(*years)}));
        }
        patient_lines.push(json!({
            "resourceType": "Patient",
            "id": pid(&p.patient_key),
            "extension": ext,
            "gender": gender(&p.sex),
        }));
    }

    let mut encounter_lines = Vec::new();
    let mut cells: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for s in &stays {
        let d = days_of(&s.patient_key);
        let mut period = json!({});
        if let Some(start) = shift(&s.created_at, d) {
            period["start"] = json!(start);
        }
        if matches!(s.status.as_str(), "discharged" | "cancelled" | "declined") {
            if let Some(end) = shift(&s.updated_at, d) {
                period["end"] = json!(end);
            }
        }
        let mut locations = Vec::new();
        for b in &s.beds {
            let mut p = json!({});
            if let Some(f) = shift(&b.from, d) {
                p["start"] = json!(f);
            }
            if let Some(t) = b.to.as_deref().and_then(|t| shift(t, d)) {
                p["end"] = json!(t);
            }
            locations.push(json!({
                "location": {"reference": format!("Location/{}", b.ward_id)},
                "status": if b.to.is_some() { "completed" } else { "active" },
                "period": p,
            }));
        }
        let ward = s
            .beds
            .first()
            .map(|b| b.ward_id.clone())
            .unwrap_or_else(|| "none".into());
        *cells
            .entry((ward, s.sex.clone(), s.age_group.clone()))
            .or_default() += 1;
        let mut enc = json!({
            "resourceType": "Encounter",
            "id": key.pseudonym("encounter", &s.admission_id),
            "status": match s.status.as_str() {
                "admitted" => "in-progress",
                "discharged" => "finished",
                "cancelled" | "declined" => "cancelled",
                _ => "planned",
            },
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "serviceType": {"coding": [{"system": "urn:careflow:specialty", "code": s.specialty}]},
            "subject": {"reference": format!("Patient/{}", pid(&s.patient_key))},
            "period": period,
        });
        if !locations.is_empty() {
            enc["location"] = Value::Array(locations);
        }
        encounter_lines.push(enc);
    }

    let mut request_lines = Vec::new();
    for o in &orders {
        let d = days_of(&o.patient_key);
        let (category, code) = match &o.entry {
            Entry::Scanner(r) => (
                json!({"system": "http://snomed.info/sct", "code": "363679005"}),
                json!({"system": "http://dicom.nema.org/resources/ontology/DCM",
                       "code": if r.modality.as_str() == "mri" { "MR" } else { "CT" }}),
            ),
            Entry::Theatre(c) => (
                json!({"system": "http://snomed.info/sct", "code": "387713003"}),
                json!({"system": "urn:careflow:procedure", "code": c.procedure}),
            ),
        };
        let mut sr = json!({
            "resourceType": "ServiceRequest",
            "id": key.pseudonym("service-request", &o.request_id),
            "status": o.status,
            "intent": "order",
            "category": [{"coding": [category]}],
            "priority": o.priority,
            "code": {"coding": [code]},
            "subject": {"reference": format!("Patient/{}", pid(&o.patient_key))},
        });
        if let (Some(s), Some(e)) = (shift(&o.earliest, d), shift(&o.latest, d)) {
            sr["occurrencePeriod"] = json!({"start": s, "end": e});
        }
        if let Some(a) = shift(&o.created_at, d) {
            sr["authoredOn"] = json!(a);
        }
        request_lines.push(sr);
    }

    let mut appointment_lines = Vec::new();
    for l in &lists {
        let w = &l.proposal.week_start;
        for b in &l.proposal.booked {
            let d = days_of(&b.patient_key);
            let start = plan_instant(w, b.day, DAY_OPENS_MINUTE + b.start_minute);
            let end = plan_instant(
                w,
                b.day,
                DAY_OPENS_MINUTE + b.start_minute + b.planned_minutes,
            );
            let (Some(start), Some(end)) = (start, end) else {
                continue;
            };
            appointment_lines.push(json!({
                "resourceType": "Appointment",
                "id": key.pseudonym("appointment", &format!("{}/{}", l.id, b.case_id)),
                "status": "booked",
                "serviceType": [{"coding": [{"system": "urn:careflow:procedure", "code": b.procedure}]}],
                "start": shift_instant(start, d),
                "end": shift_instant(end, d),
                "participant": [
                    {"actor": {"reference": format!("Patient/{}", pid(&b.patient_key))}, "status": "accepted"},
                    {"actor": {"reference": format!("Location/theatre-{}", b.theatre_id)}, "status": "accepted"},
                ],
            }));
        }
    }
    for s in &scans {
        let d = days_of(&s.patient_key);
        let minute = DAY_OPENS_MINUTE + s.start_slot * SCAN_SLOT_MINUTES;
        let (Some(start), Some(end)) = (
            plan_instant(&s.week_start, s.day, minute),
            plan_instant(&s.week_start, s.day, minute + SCAN_SLOT_MINUTES),
        ) else {
            continue;
        };
        appointment_lines.push(json!({
            "resourceType": "Appointment",
            "id": key.pseudonym("appointment", &format!("{}/{}", s.booking_id, s.request_id)),
            "status": match s.attendance.as_deref() {
                Some("attended") => "fulfilled",
                Some("no_show") => "noshow",
                _ => "booked",
            },
            "start": shift_instant(start, d),
            "end": shift_instant(end, d),
            "participant": [
                {"actor": {"reference": format!("Patient/{}", pid(&s.patient_key))}, "status": "accepted"},
                {"actor": {"reference": format!("Location/scanner-{}", s.scanner_id)}, "status": "accepted"},
            ],
        }));
    }

    let files: [(&str, &Vec<Value>); 4] = [
        ("Patient", &patient_lines),
        ("Encounter", &encounter_lines),
        ("ServiceRequest", &request_lines),
        ("Appointment", &appointment_lines),
    ];
    let mut table = String::from("ward,sex,age_group,stays\n");
    let mut suppressed = 0;
    for ((ward, sex, age), n) in &cells {
        let shown = if *n < min_cell {
            suppressed += 1;
            format!("<{min_cell}")
        } else {
            n.to_string()
        };
        table.push_str(&format!("{ward},{sex},{age},{shown}\n"));
    }
    let transaction_time = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let manifest = json!({
        "transactionTime": transaction_time,
        "request": "careflow export deid",
        "requiresAccessToken": false,
        "output": files.iter().map(|(t, lines)| json!({
            "type": t, "url": format!("{t}.ndjson"), "count": lines.len(),
        })).collect::<Vec<_>>(),
        "error": [],
    });
    let counts: BTreeMap<String, usize> = files
        .iter()
        .map(|(t, lines)| ((*t).to_owned(), lines.len()))
        .collect();

    // Audited before anything leaves: an export that cannot be audited is not written.
    let mut tx = db.begin_write().await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: user.name.clone(),
            role: user.role.as_str().into(),
            action: "export.deid".into(),
            meaning: Some("exported de-identified patient data".into()),
            reason: Some(format!(
                "{} patients, {} encounters, {} service requests, {} appointments; {} aggregate cell(s) suppressed below {min_cell}",
                patient_lines.len(),
                encounter_lines.len(),
                request_lines.len(),
                appointment_lines.len(),
                suppressed
            )),
            workflow_id: None,
            step: None,
            input_digest: None,
            output_digest: Some(db.digest(&manifest)),
            idempotency_key: format!("export/deid/{}", uuid::Uuid::new_v4().simple()),
        },
    )
    .await?;
    tx.commit().await?;

    let mut out = BTreeMap::new();
    for (t, lines) in files {
        let mut text = String::new();
        for l in lines {
            text.push_str(&serde_json::to_string(l)?);
            text.push('\n');
        }
        out.insert(format!("{t}.ndjson"), text);
    }
    out.insert("stays_by_ward_sex_age_group.csv".into(), table);
    out.insert(
        "manifest.json".into(),
        serde_json::to_string_pretty(&manifest)?,
    );
    Ok(DeidFiles {
        files: out,
        counts,
        suppressed_cells: suppressed,
    })
}

/// The API's export service: the key from `data_dir` (or `CAREFLOW_DEID_KEY`).
pub struct ApiExports {
    /// Domain database.
    pub db: Db,
    /// Where the key lives.
    pub data_dir: PathBuf,
}

impl careflow_dashboards::ExportService for ApiExports {
    fn deid<'a>(
        &'a self,
        user: &'a users::User,
        min_cell: u64,
    ) -> careflow_dashboards::ServiceFuture<'a, careflow_dashboards::DeidExport> {
        Box::pin(async move {
            if !EXPORT_ROLES.contains(&user.role) {
                return Err(careflow_store::Error::Forbidden(format!(
                    "role {} may not export patient data",
                    user.role
                )));
            }
            let key = DeidKey::load_or_create(&self.data_dir)
                .map_err(|e| careflow_store::Error::Corrupt(format!("{e:#}")))?;
            let export = deid_files(&self.db, &key, user, min_cell)
                .await
                .map_err(|e| match e.downcast::<careflow_store::Error>() {
                    Ok(e) => e,
                    Err(e) => careflow_store::Error::Corrupt(format!("{e:#}")),
                })?;
            Ok(careflow_dashboards::DeidExport {
                files: export.files,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_over_89_are_one_band() {
        assert_eq!(age_band(89), "85-89");
        assert_eq!(age_band(90), "90+");
        assert_eq!(age_band(104), "90+");
        assert_eq!(age_band(7), "5-9");
    }

    #[test]
    fn shifts_keep_intervals_and_differ_by_key() {
        let key = DeidKey(hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]));
        let d = key.shift_days("PK-a");
        assert!((-365..=-1).contains(&d));
        let a = shift("2026-12-01T10:00:00Z", d).unwrap();
        let b = shift("2026-12-03T10:00:00Z", d).unwrap();
        let (a, b) = (
            DateTime::parse_from_rfc3339(&a).unwrap(),
            DateTime::parse_from_rfc3339(&b).unwrap(),
        );
        assert_eq!((b - a).num_days(), 2);
        assert_ne!(
            key.pseudonym("patient", "PK-a"),
            key.pseudonym("patient", "PK-b")
        );
        let other = DeidKey(hmac::Key::new(hmac::HMAC_SHA256, &[8u8; 32]));
        assert_ne!(
            key.pseudonym("patient", "PK-a"),
            other.pseudonym("patient", "PK-a")
        );
        assert_eq!(shift("not a date", d), None);
    }
}
