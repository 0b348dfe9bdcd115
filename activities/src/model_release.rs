//! Activities of the model-release workflow: register the candidate from its files,
//! validate it against production on the same held-out data (overall and per
//! subgroup) and gate it, file its ethics amendment and read the committee's decision,
//! run the shadow period, promote, roll back. Each is one call into
//! `careflow_store::releases` (or `ethics`), which audits the step in the transaction
//! that makes it.
//!
//! Also [`shadow_ed_arrivals`] (bed plans), [`shadow_surgery_durations`] (theatre
//! lists) and [`shadow_no_shows`] (scanner bookings): each live forecasting step calls
//! one after forecasting with production, so that a candidate in shadow forecasts the
//! same request beside it.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, Duration as Days, NaiveDate, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_forecasters::bundle::{open_verified, sha256_file, ModelBundle};
use careflow_forecasters::calendar::holiday_flags;
use careflow_forecasters::ed_arrivals::{EdArrivals, EdArrivalsRequest, HOUR_FORMAT};
use careflow_forecasters::scanner_no_show::{Appointment, Modality, ScannerNoShow};
use careflow_forecasters::surgery_duration::{SurgeryDuration, SurgicalCase};
use careflow_forecasters::{Forecast, Forecaster};
use careflow_store::ethics::{self, Document, SubmissionContent};
use careflow_store::registry::{self, ModelFacts};
use careflow_store::releases::{
    self, Margins, NewRelease, Release, Scores, ShadowPair, SubgroupScores, ValidationReport,
};
use careflow_store::Db;

use crate::{non_retryable, store_failure};

/// The model-release workflow's activities.
pub struct ReleaseActivities {
    db: Db,
    models_dir: PathBuf,
}

impl ReleaseActivities {
    /// Activities reading candidates from `models_dir/<name>/<version>/` and writing to
    /// `db`.
    pub fn new(db: Db, models_dir: PathBuf) -> Self {
        Self { db, models_dir }
    }
}

/// Input of [`ReleaseActivities::register_candidate`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterInput {
    pub release_id: String,
    pub model_name: String,
    pub version: String,
    pub author: String,
    pub owner: String,
}

/// Input of [`ReleaseActivities::validate_candidate`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidateInput {
    pub release_id: String,
    pub overall_margin: f64,
    pub subgroup_margin: f64,
}

/// Input of [`ReleaseActivities::file_amendment`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AmendmentInput {
    pub release_id: String,
    pub project_id: String,
}

/// Input of the steps that name the release and its amendment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignoffInput {
    pub release_id: String,
    pub submission_id: String,
}

/// Input of [`ReleaseActivities::withdraw_release`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WithdrawInput {
    pub release_id: String,
    pub by: String,
    pub why: String,
}

/// Input of [`ReleaseActivities::promote_release`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromoteInput {
    pub release_id: String,
    pub task_id: String,
}

/// Input of [`ReleaseActivities::roll_back_release`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollbackInput {
    pub release_id: String,
    pub by: String,
    pub reason: String,
    pub signature_id: Option<String>,
}

/// What the ethics committee has made of the amendment so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EthicsAnswer {
    /// Still under review (its state).
    Pending(String),
    /// Approved, or routed exempt.
    Approved,
    /// Not approved (the decision letter, or the state).
    Refused(String),
}

#[activities]
impl ReleaseActivities {
    /// Registers the candidate from `models_dir/<name>/<version>/`: its card must name
    /// that model and version, and the sha256 of its .onnx is computed from the file.
    /// Returns the production version it will be compared with.
    #[activity]
    pub async fn register_candidate(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RegisterInput,
    ) -> Result<Option<String>, ActivityError> {
        let dir = self.models_dir.join(&input.model_name).join(&input.version);
        let bundle = ModelBundle::open(&dir)
            .map_err(|e| non_retryable(format!("candidate {}: {e}", dir.display())))?;
        if bundle.header.name != input.model_name || bundle.header.version != input.version {
            return Err(non_retryable(format!(
                "candidate {}: its card names {} {}, not {} {}",
                dir.display(),
                bundle.header.name,
                bundle.header.version,
                input.model_name,
                input.version
            )));
        }
        let sha256 = sha256_file(&bundle.onnx_path)
            .map_err(|e| non_retryable(format!("candidate {}: {e}", dir.display())))?;
        let r = releases::register(
            &self.db,
            &NewRelease {
                release_id: input.release_id,
                facts: ModelFacts {
                    name: input.model_name,
                    version: input.version,
                    sha256,
                    card_json: bundle.card_json,
                },
                author: input.author,
                owner: input.owner,
            },
        )
        .await
        .map_err(store_failure)?;
        Ok(r.production_version)
    }

    /// Runs the candidate and the production version on the same held-out data
    /// (overall and per subgroup), records the report and the gate's verdict; returns
    /// the gate's failures in words, each naming its metric and subgroup (empty:
    /// passed).
    #[activity]
    pub async fn validate_candidate(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ValidateInput,
    ) -> Result<Vec<String>, ActivityError> {
        let r = releases::get(&self.db, &input.release_id)
            .await
            .map_err(store_failure)?;
        let Some(production_version) = r.production_version.clone() else {
            return Err(non_retryable(format!(
                "{} has no production version to validate {} against",
                r.model_name, r.version
            )));
        };
        let production = registry::list(&self.db, Some(&r.model_name))
            .await
            .map_err(store_failure)?
            .into_iter()
            .find(|e| e.version == production_version)
            .ok_or_else(|| {
                non_retryable(format!(
                    "{} {production_version} is not in the registry",
                    r.model_name
                ))
            })?;
        let open = |version: &str, sha: &str| {
            let dir = self.models_dir.join(&r.model_name).join(version);
            open_verified(&dir, &r.model_name, version, sha)
                .map_err(|e| non_retryable(format!("validation: {e}")))
        };
        let production_bundle = open(&production_version, &production.sha256)?;
        let candidate_bundle = open(&r.version, &r.sha256)?;
        let name = r.model_name.clone();
        let report = tokio::task::spawn_blocking(move || {
            validate(&name, &production_bundle, &candidate_bundle)
        })
        .await
        .map_err(|e| non_retryable(format!("validation panicked: {e}")))?
        .map_err(non_retryable)?;
        let failures = releases::record_validation(
            &self.db,
            &input.release_id,
            &report,
            &Margins {
                overall: input.overall_margin,
                subgroup: input.subgroup_margin,
            },
        )
        .await
        .map_err(store_failure)?;
        Ok(failures.iter().map(ToString::to_string).collect())
    }

    /// Files the release's amendment to the ethics project that owns the model, by the
    /// release's author (its project lead), with the validation report as a document;
    /// returns the amendment's id. A retry finds the amendment already noted.
    #[activity]
    pub async fn file_amendment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AmendmentInput,
    ) -> Result<String, ActivityError> {
        let r = releases::get(&self.db, &input.release_id)
            .await
            .map_err(store_failure)?;
        if let Some(filed) = r.signoff_submission_id {
            return Ok(filed);
        }
        let content = amendment_content(&r, &input.project_id);
        // Filing and noting are two transactions: a worker lost between them files a
        // second amendment on retry, which the secretary sees beside the first.
        let s = ethics::file_amendment(&self.db, &input.project_id, &r.author, &content)
            .await
            .map_err(store_failure)?;
        releases::note_amendment(&self.db, &input.release_id, &s.submission_id)
            .await
            .map_err(store_failure)?;
        Ok(s.submission_id)
    }

    /// Where the committee's review of the amendment stands.
    #[activity]
    pub async fn ethics_answer(
        self: Arc<Self>,
        _ctx: ActivityContext,
        submission_id: String,
    ) -> Result<EthicsAnswer, ActivityError> {
        let s = ethics::get(&self.db, &submission_id)
            .await
            .map_err(store_failure)?;
        Ok(match s.state.as_str() {
            "approved" | "exempt" => EthicsAnswer::Approved,
            "not_approved" => EthicsAnswer::Refused(
                s.decision_letter
                    .unwrap_or_else(|| "not approved by the ethics committee".into()),
            ),
            other => EthicsAnswer::Pending(other.to_owned()),
        })
    }

    /// Records the committee's sign-off of the approved amendment.
    #[activity]
    pub async fn record_signoff(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: SignoffInput,
    ) -> Result<(), ActivityError> {
        releases::record_signoff(&self.db, &input.release_id, &input.submission_id)
            .await
            .map(|_| ())
            .map_err(store_failure)
    }

    /// Starts the shadow period: live forecasting steps run the candidate beside
    /// production.
    #[activity]
    pub async fn start_shadow(
        self: Arc<Self>,
        _ctx: ActivityContext,
        release_id: String,
    ) -> Result<(), ActivityError> {
        releases::start_shadow(&self.db, &release_id)
            .await
            .map(|_| ())
            .map_err(store_failure)
    }

    /// Compares candidate and production on the shadow targets whose truth arrived,
    /// audited; returns the comparison in words. ED arrival counts that the HL7 ADT
    /// feed recorded are taken as the truth of their hours first.
    #[activity]
    pub async fn compare_shadow(
        self: Arc<Self>,
        _ctx: ActivityContext,
        release_id: String,
    ) -> Result<String, ActivityError> {
        releases::record_truth_from_ed_feed(&self.db)
            .await
            .map_err(store_failure)?;
        releases::record_shadow_comparison(&self.db, &release_id)
            .await
            .map(|c| c.summary())
            .map_err(store_failure)
    }

    /// Promotes the candidate after its owner approved the promotion task (signed).
    #[activity]
    pub async fn promote_release(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PromoteInput,
    ) -> Result<(), ActivityError> {
        releases::promote(&self.db, &input.release_id, &input.task_id)
            .await
            .map(|_| ())
            .map_err(store_failure)
    }

    /// Ends the release before production, with why.
    #[activity]
    pub async fn withdraw_release(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: WithdrawInput,
    ) -> Result<(), ActivityError> {
        releases::withdraw(&self.db, &input.release_id, &input.by, &input.why)
            .await
            .map(|_| ())
            .map_err(store_failure)
    }

    /// Rolls the release back to the version it replaced. Returns `None` when done, or
    /// why the store refused it (not an admin, no valid signature of this rollback):
    /// the workflow then keeps waiting for a valid one.
    #[activity]
    pub async fn roll_back_release(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RollbackInput,
    ) -> Result<Option<String>, ActivityError> {
        use careflow_store::Error as E;
        match releases::rollback(
            &self.db,
            &input.release_id,
            &input.by,
            &input.reason,
            input.signature_id.as_deref(),
        )
        .await
        {
            Ok(_) => Ok(None),
            Err(e @ (E::Forbidden(_) | E::Invalid(_) | E::BadCredentials(_))) => {
                let why = e.to_string();
                releases::record_refusal(&self.db, &input.release_id, "rollback", &input.by, &why)
                    .await
                    .map_err(store_failure)?;
                Ok(Some(why))
            }
            Err(e) => Err(store_failure(e)),
        }
    }
}

fn amendment_content(r: &Release, project_id: &str) -> SubmissionContent {
    let report = r.validation.as_ref();
    let scores = |s: &Scores| s.to_string();
    let production = r.production_version.as_deref().unwrap_or("(none)");
    SubmissionContent {
        title: format!(
            "Model release {}: {} {}",
            r.release_id, r.model_name, r.version
        ),
        technical_plan: format!(
            "Replace {} {production} by {} (sha256 {}) after offline validation, a shadow \
             period beside production on live calls and the owner's signed promotion; \
             rollback returns {production}.",
            r.model_name, r.version, r.sha256
        ),
        use_case: format!("unchanged: the use approved for project {project_id}"),
        expected_benefit: report
            .map(|v| {
                format!(
                    "held-out error: candidate {} vs production {}",
                    scores(&v.candidate),
                    scores(&v.production)
                )
            })
            .unwrap_or_else(|| "see the validation report".into()),
        risks: "forecast error in some subgroups; the gate stopped any subgroup worse than \
                production beyond its margin, and the shadow period compares on live calls"
            .into(),
        data_used: report
            .map(|v| format!("validation: {}", v.data))
            .unwrap_or_default(),
        legal_basis: format!("unchanged from project {project_id}"),
        consent_plan: format!("unchanged from project {project_id}"),
        bias_assessment: report
            .map(|v| {
                v.subgroups
                    .iter()
                    .map(|g| {
                        format!(
                            "{}: candidate {} vs production {}",
                            g.subgroup,
                            scores(&g.candidate),
                            scores(&g.production)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
        documents: report
            .map(|v| Document {
                name: "validation.json".into(),
                content: serde_json::to_string_pretty(v).expect("report serialises"),
            })
            .into_iter()
            .collect(),
    }
}

/// Offline validation of `production` and `candidate` of model `name` on the same
/// held-out data, overall and per subgroup.
pub fn validate(
    name: &str,
    production: &ModelBundle,
    candidate: &ModelBundle,
) -> Result<ValidationReport, String> {
    let runtime = crate::forecast_runtime();
    match name {
        careflow_forecasters::ed_arrivals::MODEL_NAME => {
            let data = HeldOutArrivals::generate();
            both_versions(
                HeldOutArrivals::DESCRIPTION,
                production,
                candidate,
                |b| EdArrivals::from_bundle(b, &runtime),
                |m| data.forecast(m),
            )
        }
        careflow_forecasters::surgery_duration::MODEL_NAME => {
            let cases = HeldOutCases::generate();
            both_versions(
                HeldOutCases::DESCRIPTION,
                production,
                candidate,
                |b| SurgeryDuration::from_bundle(b, &runtime),
                |m| cases.forecast(m),
            )
        }
        careflow_forecasters::scanner_no_show::MODEL_NAME => {
            let appointments = HeldOutAppointments::generate();
            both_versions(
                HeldOutAppointments::DESCRIPTION,
                production,
                candidate,
                |b| ScannerNoShow::from_bundle(b, &runtime),
                |m| appointments.forecast(m),
            )
        }
        other => Err(format!(
            "offline validation of {other} has no held-out data in careflow yet: only \
             {}, {} and {} can be released",
            careflow_forecasters::ed_arrivals::MODEL_NAME,
            careflow_forecasters::surgery_duration::MODEL_NAME,
            careflow_forecasters::scanner_no_show::MODEL_NAME
        )),
    }
}

/// Loads each version with `load`, forecasts the same held-out data (`description`)
/// with `forecast`, and reports both side by side.
fn both_versions<M, E: std::fmt::Display>(
    description: &str,
    production: &ModelBundle,
    candidate: &ModelBundle,
    load: impl Fn(&ModelBundle) -> Result<M, E>,
    forecast: impl Fn(&M) -> Result<Vec<Target>, String>,
) -> Result<ValidationReport, String> {
    let run = |b: &ModelBundle| {
        let model = load(b).map_err(|e| format!("{} {}: {e}", b.header.name, b.header.version))?;
        forecast(&model)
    };
    let (p, c) = (run(production)?, run(candidate)?);
    Ok(report(description, &production.header.version, &p, &c))
}

/// One held-out target: its subgroups, the truth and the forecast.
struct Target {
    subgroups: Vec<String>,
    truth: f64,
    forecast: Predicted,
}

/// What a model forecast for one target.
#[derive(Clone, Copy)]
enum Predicted {
    /// p10, p50, p90 of a quantity (arrivals, minutes).
    Quantiles([f64; 3]),
    /// The probability of an event; its truth is 1 (it happened) or 0.
    Probability(f64),
}

#[derive(Default, Clone, Copy)]
struct Acc {
    quantiles: usize,
    abs: f64,
    pin: f64,
    probabilities: usize,
    squared: f64,
}

impl Acc {
    fn add(&mut self, y: f64, forecast: Predicted) {
        match forecast {
            Predicted::Quantiles(q) => {
                self.quantiles += 1;
                self.abs += (y - q[1]).abs();
                self.pin += [0.1, 0.5, 0.9]
                    .iter()
                    .zip(q)
                    .map(|(&l, v)| careflow_forecasters::quantile::pinball(y, v, l))
                    .sum::<f64>()
                    / 3.0;
            }
            Predicted::Probability(p) => {
                self.probabilities += 1;
                self.squared += (y - p).powi(2);
            }
        }
    }

    fn scores(&self) -> Scores {
        let mean = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        Scores {
            n: self.quantiles + self.probabilities,
            mae: mean(self.abs, self.quantiles),
            pinball: mean(self.pin, self.quantiles),
            brier: mean(self.squared, self.probabilities),
        }
    }
}

/// Both versions' targets (same order, same truths) into the report.
fn report(data: &str, production_version: &str, p: &[Target], c: &[Target]) -> ValidationReport {
    use std::collections::BTreeMap;
    let mut overall = (Acc::default(), Acc::default());
    let mut groups: BTreeMap<&str, (Acc, Acc)> = BTreeMap::new();
    for (tp, tc) in p.iter().zip(c) {
        overall.0.add(tp.truth, tp.forecast);
        overall.1.add(tc.truth, tc.forecast);
        for g in &tp.subgroups {
            let e = groups.entry(g.as_str()).or_default();
            e.0.add(tp.truth, tp.forecast);
            e.1.add(tc.truth, tc.forecast);
        }
    }
    ValidationReport {
        data: data.into(),
        production_version: production_version.into(),
        production: overall.0.scores(),
        candidate: overall.1.scores(),
        subgroups: groups
            .into_iter()
            .map(|(g, (pa, ca))| SubgroupScores {
                subgroup: g.into(),
                production: pa.scores(),
                candidate: ca.scores(),
            })
            .collect(),
    }
}

/// Held-out ED arrivals that careflow generates: 14 weeks of hourly counts from
/// 2017-04-03 (after every committed model's training period, and spanning the 4 July
/// holiday), with 35 days before for the models that read recent history. Counts are
/// Poisson draws (seeded, so every run scores the same data) around a rate with a
/// night trough and a late-morning to evening plateau, Mondays busiest, weekends and
/// holidays quieter in the day. A site with its own held-out arrivals replaces this.
struct HeldOutArrivals {
    start: NaiveDateTime,
    counts: Vec<f64>,
}

impl HeldOutArrivals {
    const DESCRIPTION: &'static str = "careflow's generated held-out ED arrivals, hourly, \
        2017-04-03T00 .. 2017-07-09T23 (seeded Poisson, documented profile); weekly \
        origins, 168 h ahead";
    const HISTORY_DAYS: i64 = 35;
    const WEEKS: i64 = 14;

    fn first_origin() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2017, 4, 3)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("valid date")
    }

    fn rate(ts: NaiveDateTime) -> f64 {
        let h = f64::from(ts.hour());
        // Trough near 05:00, peak near 13:00-19:00.
        let diurnal = 6.0 + 4.5 * (-(((h - 15.0) / 5.5).powi(2))).exp()
            - 2.5 * (-(((h - 5.0) / 2.5).powi(2))).exp();
        let weekday =
            [1.12, 1.04, 1.0, 0.99, 1.0, 0.92, 0.9][ts.weekday().num_days_from_monday() as usize];
        let holiday =
            if holiday_flags(ts.date()).iter().any(|&f| f) && (10..22).contains(&ts.hour()) {
                0.85
            } else {
                1.0
            };
        diurnal * weekday * holiday
    }

    fn generate() -> Self {
        let start = Self::first_origin() - Days::days(Self::HISTORY_DAYS);
        let hours = ((Self::HISTORY_DAYS + 7 * Self::WEEKS) * 24) as usize;
        let mut rng = SplitMix64(0x5eed_ca2e_f10e_2017);
        let counts = (0..hours)
            .map(|i| rng.poisson(Self::rate(start + Days::hours(i as i64))))
            .collect();
        Self { start, counts }
    }

    fn forecast(&self, model: &EdArrivals) -> Result<Vec<Target>, String> {
        let mut targets = Vec::new();
        for week in 0..Self::WEEKS {
            let origin = Self::first_origin() + Days::days(7 * week);
            let before = (origin - self.start).num_hours() as usize;
            let request = EdArrivalsRequest {
                origin,
                horizon: 168,
            };
            let f = if model.needs_history() {
                model.forecast_with_history(&request, &self.counts[..before])
            } else {
                model.forecast(&request)
            }
            .map_err(|e| format!("forecast from {}: {e}", origin.format(HOUR_FORMAT)))?;
            for (i, row) in f.rows.iter().enumerate() {
                let ts = origin + Days::hours(i as i64);
                let q = quantiles(&f, row)
                    .ok_or_else(|| format!("{}: the forecast has no p10/p50/p90", row.key))?;
                let block = ts.hour() / 6 * 6;
                let holiday = holiday_flags(ts.date()).iter().any(|&f| f);
                targets.push(Target {
                    subgroups: vec![
                        format!("hour_block={block:02}-{:02}", block + 5),
                        format!("weekday={}", ts.weekday()),
                        format!("holiday={}", if holiday { "yes" } else { "no" }),
                    ],
                    truth: self.counts[before + i],
                    forecast: Predicted::Quantiles(q),
                });
            }
        }
        Ok(targets)
    }
}

/// Held-out surgical cases that careflow generates: 400 per procedure the committed
/// model knows, by surgeons it has not seen, with durations drawn (seeded) from the
/// log-normal process documented in `forecasters/training/surgery_duration.py`
/// (procedure medians and log-SDs, ASA, BMI and teaching effects), so the draws are
/// new cases of that process, not its training rows. Each procedure belongs to a
/// specialty, the subgroup of the bias report.
struct HeldOutCases {
    cases: Vec<(SurgicalCase, &'static str, f64)>,
}

impl HeldOutCases {
    const DESCRIPTION: &'static str = "careflow's generated held-out surgical cases: 400 \
        per procedure, unseen surgeons, log-normal durations from the documented generator \
        (seeded)";
    /// Procedure: (specialty, median minutes, log-SD), as documented in the training
    /// script.
    const PROCEDURES: [(&'static str, &'static str, f64, f64); 8] = [
        ("lap_cholecystectomy", "general_surgery", 80.0, 0.32),
        ("inguinal_hernia_repair", "general_surgery", 65.0, 0.33),
        ("lap_appendectomy", "general_surgery", 60.0, 0.35),
        ("total_knee_arthroplasty", "orthopaedics", 115.0, 0.24),
        ("total_hip_arthroplasty", "orthopaedics", 110.0, 0.25),
        ("colectomy", "colorectal_surgery", 190.0, 0.34),
        ("cabg", "cardiac_surgery", 260.0, 0.20),
        ("cystoscopy_turbt", "urology", 45.0, 0.45),
    ];
    const PER_PROCEDURE: usize = 400;

    fn generate() -> Self {
        let mut rng = SplitMix64(0x5eed_5a26_e2d0_2026);
        let mut cases = Vec::new();
        for (procedure, specialty, median, log_sd) in Self::PROCEDURES {
            for _ in 0..Self::PER_PROCEDURE {
                let asa = match rng.next_f64() {
                    u if u < 0.15 => 1,
                    u if u < 0.60 => 2,
                    u if u < 0.93 => 3,
                    _ => 4,
                };
                let bmi_ge_35 = rng.next_f64() < 0.18;
                let teaching_case = rng.next_f64() < 0.4;
                let mu = median.ln()
                    + 0.05 * f64::from(asa - 1)
                    + 0.08 * f64::from(u8::from(bmi_ge_35))
                    + 0.10 * f64::from(u8::from(teaching_case));
                let minutes = (mu + log_sd * rng.standard_normal()).exp();
                cases.push((
                    SurgicalCase {
                        procedure: procedure.into(),
                        surgeon: "held-out".into(),
                        asa_class: asa,
                        bmi_ge_35,
                        teaching_case,
                    },
                    specialty,
                    minutes,
                ));
            }
        }
        Self { cases }
    }

    fn forecast(&self, model: &SurgeryDuration) -> Result<Vec<Target>, String> {
        let requests: Vec<SurgicalCase> = self.cases.iter().map(|c| c.0.clone()).collect();
        let forecasts = model
            .forecast_batch(&requests)
            .map_err(|e| format!("surgical cases: {e}"))?;
        self.cases
            .iter()
            .zip(&forecasts)
            .map(|((case, specialty, minutes), f)| {
                let row = f.rows.first().ok_or("a case without a forecast row")?;
                Ok(Target {
                    subgroups: vec![format!("specialty={specialty}")],
                    truth: *minutes,
                    forecast: Predicted::Quantiles(
                        quantiles(f, row)
                            .ok_or_else(|| format!("{}: no p10/p50/p90", case.procedure))?,
                    ),
                })
            })
            .collect()
    }
}

/// Held-out imaging appointments that careflow generates: 20,000 outpatient bookings
/// drawn (seeded) from the process documented in
/// `forecasters/training/scanner_no_show.py` (modality base rates, lead time, age band,
/// weekday, neighbourhood income, commute, prior no-shows, reminders), each with its
/// attended / missed outcome drawn from that process's probability, so they are new
/// appointments of it, not its training rows. The bias report groups them by age band
/// and sex (which the process gives no effect: a model that scores worse for one sex
/// learned something that is not there) and by modality.
struct HeldOutAppointments {
    appointments: Vec<(Appointment, &'static str, f64)>,
}

impl HeldOutAppointments {
    const DESCRIPTION: &'static str = "careflow's generated held-out imaging appointments: \
        20,000 bookings from the documented no-show process (seeded), outcomes drawn from \
        its probabilities";
    const N: usize = 20_000;
    /// Modality, its share of bookings and base no-show probability, as in the training
    /// script.
    const MODALITIES: [(Modality, f64, f64); 6] = [
        (Modality::Ct, 0.25, 0.030),
        (Modality::Mri, 0.20, 0.035),
        (Modality::Us, 0.20, 0.035),
        (Modality::Xr, 0.20, 0.0125),
        (Modality::Mg, 0.10, 0.0699),
        (Modality::Nm, 0.05, 0.030),
    ];
    /// Weekday shares of bookings, Monday first.
    const WEEKDAYS: [f64; 7] = [0.18, 0.18, 0.18, 0.18, 0.18, 0.07, 0.03];

    fn generate() -> Self {
        let mut rng = SplitMix64(0x5eed_0a55_1ca7_2026);
        let mut appointments = Vec::with_capacity(Self::N);
        for _ in 0..Self::N {
            let m = pick(Self::MODALITIES.iter().map(|m| m.1), rng.next_f64());
            let (modality, _, base) = Self::MODALITIES[m];
            let lead = if rng.next_f64() < 0.85 {
                (-14.0 * (1.0 - rng.next_f64()).ln()).round()
            } else {
                (60.0 + 305.0 * rng.next_f64()).round()
            };
            let age = 18 + (rng.next_f64() * 77.0) as u32;
            let weekday = pick(Self::WEEKDAYS.iter().copied(), rng.next_f64());
            let income = (65_000f64.ln() + 0.4 * rng.standard_normal())
                .exp()
                .clamp(15_000.0, 250_000.0);
            // Gamma(2, 8): the sum of two exponential draws of mean 8.
            let commute =
                (-8.0 * ((1.0 - rng.next_f64()) * (1.0 - rng.next_f64())).ln()).clamp(0.5, 200.0);
            let prior = rng.poisson(0.25).min(5.0) as u32;
            let reminder = rng.next_f64() < 0.7;
            let female = rng.next_f64() < 0.5;
            let mut eta = (base / (1.0 - base)).ln();
            eta += 0.35 * (lead / 7.0).ln_1p() - 0.35 * 2f64.ln_1p();
            eta += if age < 40 {
                0.25
            } else if age < 60 {
                0.05
            } else {
                -0.25
            };
            if weekday == 0 || weekday == 5 {
                eta += 0.15;
            }
            eta += (1.0f64 - 0.107).ln() * (income - 65_000.0) / 10_000.0;
            eta += 1.014f64.ln() * commute / 10.0;
            eta += 0.7 * f64::from(prior.min(2));
            if reminder {
                eta += 0.7f64.ln();
            }
            let p = 1.0 / (1.0 + (-eta).exp());
            let missed = if rng.next_f64() < p { 1.0 } else { 0.0 };
            appointments.push((
                Appointment {
                    modality,
                    lead_time_days: lead as u32,
                    age_years: age,
                    weekday: chrono::Weekday::try_from(weekday as u8).expect("0..7"),
                    median_income_usd: income,
                    commute_miles: commute,
                    prior_no_shows: prior,
                    reminder_sent: reminder,
                },
                if female { "female" } else { "male" },
                missed,
            ));
        }
        Self { appointments }
    }

    fn forecast(&self, model: &ScannerNoShow) -> Result<Vec<Target>, String> {
        let requests: Vec<Appointment> = self.appointments.iter().map(|a| a.0.clone()).collect();
        let forecasts = model
            .forecast_batch(&requests)
            .map_err(|e| format!("imaging appointments: {e}"))?;
        self.appointments
            .iter()
            .zip(&forecasts)
            .map(|((a, sex, missed), f)| {
                let row = f
                    .rows
                    .first()
                    .ok_or("an appointment without a forecast row")?;
                let band = match a.age_years {
                    0..=39 => "<40",
                    40..=59 => "40-59",
                    _ => ">=60",
                };
                Ok(Target {
                    subgroups: vec![
                        format!("age_band={band}"),
                        format!("sex={sex}"),
                        format!("modality={}", modality_code(a.modality)),
                    ],
                    truth: *missed,
                    forecast: Predicted::Probability(row.mean),
                })
            })
            .collect()
    }
}

/// The index whose cumulative share first exceeds `u` (in [0, 1)); the last one if
/// rounding leaves `u` above the total.
fn pick(shares: impl Iterator<Item = f64>, u: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (i, share) in shares.enumerate() {
        acc += share;
        last = i;
        if u < acc {
            return i;
        }
    }
    last
}

fn modality_code(m: Modality) -> &'static str {
    match m {
        Modality::Ct => "CT",
        Modality::Mri => "MRI",
        Modality::Us => "US",
        Modality::Xr => "XR",
        Modality::Mg => "MG",
        Modality::Nm => "NM",
    }
}

fn quantiles(f: &Forecast, row: &careflow_forecasters::ForecastRow) -> Option<[f64; 3]> {
    let at = |level: f64| {
        f.levels
            .iter()
            .position(|&l| (l - level).abs() < 1e-9)
            .and_then(|i| row.quantiles.get(i).copied())
    };
    Some([at(0.1)?, at(0.5)?, at(0.9)?])
}

/// A small seeded generator (SplitMix64): the held-out data must be the same on every
/// run and machine.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    fn standard_normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// A Poisson draw (Knuth's method: the rates here are small).
    fn poisson(&mut self, rate: f64) -> f64 {
        let limit = (-rate).exp();
        let mut k = 0.0;
        let mut p = self.next_f64();
        while p > limit {
            k += 1.0;
            p *= self.next_f64();
        }
        k
    }
}

/// The release of `name` in its shadow period, if there is one, and what `forecast`
/// made of its candidate's bundle (file checked against the release's sha256); a
/// problem is logged and is `None`: a live step never fails because of its shadow.
async fn shadow_forecast<T>(
    db: &Db,
    models_dir: &Path,
    name: &str,
    forecast: impl FnOnce(&ModelBundle) -> Result<T, String>,
) -> Option<(Release, T)> {
    let release = match releases::shadow_release(db, name).await {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "shadow release of {name} not read");
            return None;
        }
    };
    match open_verified(
        &models_dir.join(name).join(&release.version),
        name,
        &release.version,
        &release.sha256,
    )
    .map_err(|e| e.to_string())
    .and_then(|bundle| forecast(&bundle))
    {
        Ok(f) => Some((release, f)),
        Err(e) => {
            tracing::warn!(release = %release.release_id, error = %e, "shadow forecast skipped");
            None
        }
    }
}

/// Records the shadow pairs of one live call, or logs why not.
async fn record_shadow_pairs(db: &Db, release: &Release, call_id: &str, pairs: &[ShadowPair<'_>]) {
    if let Err(e) = releases::record_shadow(db, &release.release_id, call_id, pairs).await {
        tracing::warn!(release = %release.release_id, error = %e, "shadow forecasts not recorded");
    }
}

/// After a live forecasting step forecast `request` with production (`production`),
/// the `ed-arrivals` candidate in shadow, if any, forecasts the same request and both
/// are recorded per hour for the release (`call_id`: the live step's workflow). The
/// ED registrations the ADT feed counts are their truth.
pub(crate) async fn shadow_ed_arrivals(
    db: &Db,
    models_dir: &Path,
    call_id: &str,
    request: &EdArrivalsRequest,
    production: &Forecast,
) {
    let name = careflow_forecasters::ed_arrivals::MODEL_NAME;
    let shadow = shadow_forecast(db, models_dir, name, |bundle| {
        let m = EdArrivals::from_bundle(bundle, &crate::forecast_runtime())
            .map_err(|e| e.to_string())?;
        if m.needs_history() {
            return Err(
                "the candidate needs the arrivals history, which this step does not have".into(),
            );
        }
        m.forecast(request).map_err(|e| e.to_string())
    });
    let Some((release, candidate)) = shadow.await else {
        return;
    };
    let pairs: Vec<ShadowPair<'_>> = production
        .rows
        .iter()
        .zip(&candidate.rows)
        .filter_map(|(p, c)| {
            Some(ShadowPair {
                target_key: p.key.as_str(),
                production: quantiles(production, p)?,
                candidate: quantiles(&candidate, c)?,
            })
        })
        .collect();
    record_shadow_pairs(db, &release, call_id, &pairs).await;
}

/// After a theatre step forecast its cases' durations with production (`production`,
/// in the order of `cases`), the `surgery-duration` candidate in shadow, if any,
/// forecasts the same cases and both are recorded per case id; the minutes a case
/// actually took, recorded through the release truth route, are their truth.
pub(crate) async fn shadow_surgery_durations(
    db: &Db,
    models_dir: &Path,
    call_id: &str,
    cases: &[(String, SurgicalCase)],
    production: &[Forecast],
) {
    let name = careflow_forecasters::surgery_duration::MODEL_NAME;
    if cases.is_empty() {
        return;
    }
    let shadow = shadow_forecast(db, models_dir, name, |bundle| {
        let batch: Vec<SurgicalCase> = cases.iter().map(|(_, x)| x.clone()).collect();
        SurgeryDuration::from_bundle(bundle, &crate::forecast_runtime())
            .map_err(|e| e.to_string())?
            .forecast_batch(&batch)
            .map_err(|e| e.to_string())
    });
    let Some((release, candidate)) = shadow.await else {
        return;
    };
    let pairs: Vec<ShadowPair<'_>> = cases
        .iter()
        .zip(production)
        .zip(&candidate)
        .filter_map(|(((id, _), p), c)| {
            Some(ShadowPair {
                target_key: id.as_str(),
                production: quantiles(p, p.rows.first()?)?,
                candidate: quantiles(c, c.rows.first()?)?,
            })
        })
        .collect();
    record_shadow_pairs(db, &release, call_id, &pairs).await;
}

/// After a booking step forecast its outpatients' no-shows with production
/// (`production`: request id -> probability), the `scanner-no-show` candidate in
/// shadow, if any, forecasts the same appointments and both are recorded per request
/// (target `workflow/request`); the attendance recorded later is their truth.
pub(crate) async fn shadow_no_shows(
    db: &Db,
    models_dir: &Path,
    workflow_id: &str,
    appointments: &[(String, Appointment)],
    production: &std::collections::HashMap<&str, f64>,
) {
    let name = careflow_forecasters::scanner_no_show::MODEL_NAME;
    if appointments.is_empty() {
        return;
    }
    let shadow = shadow_forecast(db, models_dir, name, |bundle| {
        let batch: Vec<Appointment> = appointments.iter().map(|(_, x)| x.clone()).collect();
        ScannerNoShow::from_bundle(bundle, &crate::forecast_runtime())
            .map_err(|e| e.to_string())?
            .forecast_batch(&batch)
            .map_err(|e| e.to_string())
    });
    let Some((release, candidate)) = shadow.await else {
        return;
    };
    let keys: Vec<String> = appointments
        .iter()
        .map(|(id, _)| careflow_store::scanner::no_show_shadow_key(workflow_id, id))
        .collect();
    let pairs: Vec<ShadowPair<'_>> = appointments
        .iter()
        .zip(&candidate)
        .zip(&keys)
        .filter_map(|(((id, _), c), key)| {
            Some(ShadowPair::probability(
                key,
                *production.get(id.as_str())?,
                c.rows.first()?.mean,
            ))
        })
        .collect();
    record_shadow_pairs(db, &release, workflow_id, &pairs).await;
}
