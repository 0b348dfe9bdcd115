//! `careflow demo`: a realistic small hospital and a day of admissions.
//!
//! Seeds ~200 beds on nine wards (same-sex bays and side rooms), users for each role,
//! an overnight census of about 80% occupancy, then a day of admissions with the case
//! mix of a UK acute trust (about two thirds emergencies; general medicine, elderly
//! care and cardiology the largest streams), discharges through the day, and a bed
//! manager who works the approval queue. Everything goes through the real API,
//! workflows and audit trail.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use careflow_store::users::{self, NewUser, Provisioner};
use careflow_store::{audit, hospital, Db};
use careflow_types::{
    AdmissionKind, AdmissionRequest, AgeGroup, BedPlanRequest, BedPlanView, DecisionRequest, Role,
    Sex,
};

use crate::cli::Global;
use crate::client::ApiClient;
use crate::serve::{ensure_admin, serve, Driver, BOOTSTRAP_ADMIN};

mod adt;
mod ethics;
mod fhir;
mod release;
mod roster;
mod scanner;
mod theatre;

/// How the demo's day runs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Return when the day is done instead of serving on.
    pub exit: bool,
    /// Admissions during the day.
    pub admissions: u32,
    /// Seed of the demo's random choices.
    pub seed: u64,
    /// Where the demo's HL7 ADT listener takes its PAS's feed (MLLP).
    pub hl7_listen: String,
}

/// The password of every demo user, documented in the README. Fixed on purpose: the
/// demo's people and patients are synthetic, a restarted demo must still be able to
/// sign as its bed manager, and the operator logs in as any of them from the README
/// (`careflow login --as beds.ben`) without copying a generated secret from a terminal
/// whose output `scripts/demo` may keep. Only its argon2id hash is stored, like any
/// password; the site's own `admin` gets a generated one.
pub const DEMO_PASSWORD: &str = "careflow-demo-2026";

const USERS: [(&str, Role); 9] = [
    ("clerk.ana", Role::AdmissionsClerk),
    ("beds.ben", Role::BedManager),
    ("site.sam", Role::SiteManager),
    ("audit.ada", Role::Auditor),
    ("model.owner", Role::Admin),
    theatre::REQUESTER,
    theatre::APPROVER,
    (scanner::REQUESTER, Role::ImagingManager),
    (scanner::APPROVER, Role::ImagingManager),
];

/// Seeds the hospital and users, then serves the API on `listen` while the day runs.
pub async fn run(g: &Global, listen: &str, args: DemoOptions) -> Result<()> {
    let db = g.open_db().await?;
    let beds = hospital::seed_layout(&db, &hospital::demo_layout()).await?;
    // The PAS's location codes, for the listener its feed reaches.
    let locations = g.data_dir.join("demo-hl7-locations.json");
    adt::write_location_map(&db, &locations).await?;
    let hl7 = crate::serve::Hl7Listen {
        addr: args.hl7_listen.clone(),
        locations,
        location_system: None,
        tls: None,
    };
    // The demo staff are provisioned as any site's would be: by its admin, whom the
    // first start creates.
    ensure_admin(&db).await?;
    for (name, role) in USERS
        .into_iter()
        .chain(roster::USERS)
        .chain(release::USERS)
        .chain(ethics::USERS)
    {
        match users::account(&db, name).await {
            Ok(_) => {}
            Err(careflow_store::Error::NotFound(_)) => {
                let user = NewUser {
                    name,
                    role,
                    printed_name: None,
                    password: DEMO_PASSWORD,
                };
                let by = Provisioner::Admin(BOOTSTRAP_ADMIN);
                users::provision(&db, user, by, Some("demo site staff"))
                    .await
                    .with_context(|| format!("provisioning demo user {name}"))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // After the users: the model owner (an admin) registers and promotes the model.
    // Each process's model, at the version the demo site serves.
    for (name, served) in [
        (
            careflow_forecasters::ed_arrivals::MODEL_NAME,
            SERVED_ED_ARRIVALS,
        ),
        (
            careflow_forecasters::surgery_duration::MODEL_NAME,
            theatre::SERVED_SURGERY_DURATION,
        ),
        (
            careflow_forecasters::bed_demand::MODEL_NAME,
            roster::SERVED_BED_DEMAND,
        ),
        (
            careflow_forecasters::scanner_no_show::MODEL_NAME,
            scanner::SERVED_NO_SHOW,
        ),
    ] {
        ensure_production_forecaster(&db, g, name, served).await?;
    }
    eprintln!(
        "demo: hospital with {beds} beds on {} wards; users: {}",
        hospital::demo_layout().len(),
        USERS
            .iter()
            .chain(&roster::USERS)
            .chain(&release::USERS)
            .chain(&ethics::USERS)
            .map(|(n, r)| format!("{n} ({r})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let exit = args.exit;
    let driver_db = db.clone();
    let theatre_db = db.clone();
    let scanner_db = db.clone();
    let release_db = db.clone();
    let data_dir = g.data_dir.clone();
    let driver = Driver {
        start: Box::new(move |base| {
            Box::pin(async move {
                // The demo's people log in as anyone would, with their passwords.
                let mut tokens = BTreeMap::new();
                for (name, _) in USERS
                    .iter()
                    .chain(&roster::USERS)
                    .chain(&release::USERS)
                    .chain(&ethics::USERS)
                {
                    let login = ApiClient::login(&base, name, DEMO_PASSWORD)
                        .await
                        .with_context(|| format!("logging in demo user {name}"))?;
                    tokens.insert(*name, login.token);
                }
                let day = Day {
                    clerk: ApiClient::new(base.clone(), tokens["clerk.ana"].clone()),
                    bed_manager: ApiClient::new(base.clone(), tokens["beds.ben"].clone()),
                    site_manager: ApiClient::new(base.clone(), tokens["site.sam"].clone()),
                    db: driver_db,
                    rng: StdRng::seed_from_u64(args.seed),
                    census_target: beds as usize * 8 / 10,
                    admissions: args.admissions,
                    leave_open: !exit,
                    hl7_addr: args.hl7_listen.clone(),
                };
                day.run().await?;
                roster::run(|name| ApiClient::new(base.clone(), tokens[name].clone())).await?;
                theatre::run(&theatre_db, &base, &tokens, args.seed, exit).await?;
                scanner::run(
                    &scanner_db,
                    &ApiClient::new(base.clone(), tokens[scanner::REQUESTER].clone()),
                    &ApiClient::new(base.clone(), tokens[scanner::APPROVER].clone()),
                )
                .await?;
                fhir::show(&ApiClient::new(base.clone(), tokens["site.sam"].clone())).await?;
                ethics::run(|name| ApiClient::new(base.clone(), tokens[name].clone())).await?;
                let client = |name: &str| ApiClient::new(base.clone(), tokens[name].clone());
                release::run(
                    &release_db,
                    &client(release::AUTHOR),
                    &client(release::OWNER),
                    &client("site.sam"),
                    &client("beds.ben"),
                    args.seed,
                )
                .await?;
                eprintln!(
                    "demo: day done. Look around: `careflow login --as beds.ben` (demo password \
                     {DEMO_PASSWORD}), then `careflow tasks --as beds.ben`; `careflow audit verify`; \
                     API {base}, Temporal UI http://127.0.0.1:8233 (data in {})",
                    data_dir.display()
                );
                Ok(())
            })
        }),
        exit_when_done: exit,
    };
    serve(g, listen, Some(driver), Some(hl7)).await
}

/// The `ed-arrivals` version the demo site is installed with; the demo then releases
/// 1.1.0 through validation, the ethics sign-off and a shadow period to production
/// (`release.rs`). 1.2.0 corrects the forecast by the last 28 days of arrivals, which
/// the bed plan cannot pass until an ED arrivals history is kept; until then it is
/// registered as a candidate beside these.
const SERVED_ED_ARRIVALS: &str = "1.0.0";

/// The bed plan needs a production `ed-arrivals` model, the theatre week a production
/// `surgery-duration` model. A new demo site registers every committed version of the
/// model `name` as a candidate and installs `served` (for `ed-arrivals`,
/// [`SERVED_ED_ARRIVALS`]) as its first production version, as the site's admin would
/// after reading its card; each change is audited like any other. Later versions go
/// through a model release.
async fn ensure_production_forecaster(db: &Db, g: &Global, name: &str, served: &str) -> Result<()> {
    use careflow_store::registry;
    const OWNER: &str = "model.owner";
    if registry::production(db, name).await.is_ok() {
        return Ok(());
    }
    let dir = g.models_dir()?.join(name);
    let mut versions: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("card.json").is_file())
        .collect();
    versions.sort();
    for version_dir in versions {
        let facts = crate::cli::forecast::model_facts(&version_dir)?;
        match registry::register(db, &facts, OWNER).await {
            // Registered by an earlier run that stopped before promoting.
            Ok(_) | Err(careflow_store::Error::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let entry = registry::list(db, Some(name))
        .await?
        .into_iter()
        .find(|e| e.version == served)
        .with_context(|| format!("{name} {served} is not among the committed models"))?;
    let reason = "demo site: committed model, validation metrics in its card reviewed";
    registry::install(db, name, &entry.version, OWNER, reason).await?;
    eprintln!(
        "demo: {name} {} (sha256 {}…) installed as the production version",
        entry.version,
        &entry.sha256[..12]
    );
    Ok(())
}

struct Day {
    clerk: ApiClient,
    bed_manager: ApiClient,
    site_manager: ApiClient,
    db: Db,
    rng: StdRng,
    census_target: usize,
    admissions: u32,
    leave_open: bool,
    /// The demo's HL7 ADT listener, which the PAS feeds.
    hl7_addr: String,
}

impl Day {
    async fn run(mut self) -> Result<()> {
        // Overnight census: patients already in beds when the day starts.
        let mut occupied: Vec<(String, String)> = Vec::new(); // (workflow id, admission id)
        let mut n = 0;
        let already = self
            .bed_manager
            .beds()
            .await?
            .iter()
            .map(|w| w.occupied)
            .sum::<i64>() as usize;
        let mut census = Vec::new();
        while already + census.len() < self.census_target {
            n += 1;
            let req = self.patient(n, AdmissionKind::Elective);
            census.push(self.admit(&req).await?);
        }
        let settled = self.settle(&census).await?;
        occupied.extend(settled.admitted);
        eprintln!(
            "demo: overnight census of {} patients in beds",
            occupied.len()
        );

        let mut day = Vec::new();
        let mut totals = Totals::default();
        for i in 0..self.admissions {
            n += 1;
            let kind = if self.rng.random_bool(0.65) {
                AdmissionKind::Emergency
            } else {
                AdmissionKind::Elective
            };
            let req = self.patient(n, kind);
            day.push(self.admit(&req).await?);
            // Discharges through the day keep the hospital near its usual occupancy.
            if i % 2 == 1 && !occupied.is_empty() {
                let idx = self.rng.random_range(0..occupied.len());
                let (workflow_id, _) = occupied.swap_remove(idx);
                self.bed_manager.discharge(&workflow_id).await?;
                totals.discharged += 1;
            }
            if i % 10 == 9 {
                totals.decided += self.work_queue(false).await?;
            }
        }
        let settled = self.settle(&day).await?;
        totals.decided += settled.decided;
        totals.admitted = settled.admitted.len();
        totals.declined = settled.declined;
        if self.leave_open {
            // A few late arrivals wait in the queue for a person to look at.
            for _ in 0..3 {
                n += 1;
                let mut req = self.patient(n, AdmissionKind::Emergency);
                req.specialty = "cardiology".into();
                req.age_group = AgeGroup::Adult;
                req.isolation = true;
                self.admit(&req).await?;
            }
        }
        let v = audit::verify(&self.db).await?;
        eprintln!(
            "demo: day of {} admissions: {} admitted, {} declined, {} discharged, {} decisions by people; \
             audit trail {} ({} entries)",
            self.admissions,
            totals.admitted,
            totals.declined,
            totals.discharged,
            totals.decided,
            if v.first_break.is_none() { "intact" } else { "BROKEN" },
            v.entries
        );
        self.adt_feed().await?;
        for w in self.bed_manager.beds().await? {
            eprintln!(
                "  {:<8} {:<18} {:>3}/{:<3} beds occupied",
                w.ward_id, w.specialty, w.occupied, w.beds
            );
        }
        self.bed_plan().await?;
        Ok(())
    }

    /// Part of the day as the hospital's PAS announces it over HL7 v2 ADT (see `adt`).
    async fn adt_feed(&mut self) -> Result<()> {
        let r = adt::feed_day(&self.db, &self.hl7_addr, &mut self.rng).await?;
        let acks: Vec<String> = r.acks.iter().map(|(c, n)| format!("{n} {c}")).collect();
        eprintln!(
            "demo: HL7 ADT feed from the PAS over MLLP to {}: {} messages, {} (each ACK after commit)",
            self.hl7_addr,
            r.acks.values().sum::<u32>(),
            acks.join(", ")
        );
        let hours = careflow_store::adt::ed_arrivals_hourly(&self.db).await?;
        eprintln!(
            "  ED: {} registrations (A04) and {} departures (A03) over the last 24 h; careflow keeps \
             {} hours of ED arrival counts (no identifiers) for the forecasters",
            r.ed_registrations,
            r.ed_departures,
            hours.len()
        );
        eprintln!(
            "  wards: {} elective admissions into beds the PAS named, {} transfer, {} update of the \
             expected discharge, {} discharge, 1 resend acknowledged without a change",
            r.into_beds, r.transfers, r.updates, r.discharges
        );
        for f in &r.faults {
            eprintln!("  refused on purpose, with where: {f}");
        }
        let handed: Vec<(String, String)> = r
            .handed_over
            .iter()
            .map(|w| (w.clone(), w.trim_start_matches("admission-").to_owned()))
            .collect();
        let settled = self.settle(&handed).await?;
        eprintln!(
            "  ED to a ward without a bed (A01): {} handed to careflow's admission workflow: {} in \
             beds, {} declined, {} decisions by people",
            handed.len(),
            settled.admitted.len(),
            settled.declined,
            settled.decided
        );
        Ok(())
    }

    /// Tomorrow's bed plan: the site manager asks for it at the morning capacity
    /// meeting, the production ED forecaster and the MILP propose it, the bed manager
    /// approves it (whoever asks for the work does not approve it).
    async fn bed_plan(&self) -> Result<()> {
        let request = BedPlanRequest {
            plan_date: chrono::Utc::now()
                .date_naive()
                .format("%Y-%m-%d")
                .to_string(),
            horizon_days: 3,
            solve_seconds: 20,
            requested_by: String::new(),
        };
        let plan_id = self
            .site_manager
            .create_bed_plan(&request, None)
            .await?
            .plan_id;
        let started = std::time::Instant::now();
        let record = loop {
            let got = self.bed_manager.bed_plan(&plan_id).await?;
            if let BedPlanView::Record(record) = &got {
                if record.status != "proposed" {
                    break record.clone();
                }
                self.work_queue(true).await?;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(180),
                "bed plan {plan_id} was not concluded within 3 minutes: {}",
                serde_json::to_string(&got)?
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let p = &record.proposal;
        let f = &p.demand.provenance;
        eprintln!(
            "demo: bed plan {} for {} ({} days) {} by {}: {} patients placed, {} moves, {} outlier \
             patient-days, {:.0} bed-days short of the emergency reserve (solver {}); emergency \
             demand {:.0} ED arrivals/day forecast by {} {} (sha256 {}…, {})",
            record.plan_id,
            record.plan_date,
            record.horizon_days,
            record.status,
            record.decided_by.as_deref().unwrap_or("nobody"),
            p.patients,
            p.transfers,
            p.outlier_days,
            p.reserve_shortfall,
            p.solver_status,
            p.demand.ed_arrivals_per_day.iter().sum::<f64>()
                / p.demand.ed_arrivals_per_day.len().max(1) as f64,
            f.model_name,
            f.model_version,
            &f.model_sha256[..12.min(f.model_sha256.len())],
            f.execution_provider,
        );
        for m in p.moves.iter().take(5) {
            eprintln!(
                "  move {}: {} -> {} ({})",
                m.admission_id, m.from_room, m.to_room, m.why
            );
        }
        Ok(())
    }

    fn patient(&mut self, n: u32, kind: AdmissionKind) -> AdmissionRequest {
        const MIX: [(&str, u32); 7] = [
            ("general_medicine", 30),
            ("elderly_care", 15),
            ("cardiology", 15),
            ("respiratory", 12),
            ("general_surgery", 12),
            ("orthopaedics", 8),
            ("paediatrics", 8),
        ];
        let total: u32 = MIX.iter().map(|m| m.1).sum();
        let mut pick = self.rng.random_range(0..total);
        let specialty = MIX
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map(|m| m.0)
            .unwrap_or("general_medicine");
        let age_group = match specialty {
            "paediatrics" => AgeGroup::Child,
            "elderly_care" => AgeGroup::Elderly,
            _ if self.rng.random_bool(0.3) => AgeGroup::Elderly,
            _ => AgeGroup::Adult,
        };
        // Length of stay: right-skewed, mean about 5 days (NHS acute average 4-6).
        let los = 1 + (-(1.0 - self.rng.random::<f64>()).ln() * 4.0) as u32;
        AdmissionRequest {
            patient_ref: format!("DEMO-{:06}", 100_000 + n),
            kind,
            sex: if self.rng.random_bool(0.5) {
                Sex::Female
            } else {
                Sex::Male
            },
            age_group,
            specialty: specialty.into(),
            isolation: self.rng.random_bool(0.06),
            expected_los_days: los.min(60),
            requested_by: "clerk.ana".into(),
        }
    }

    async fn admit(&self, req: &AdmissionRequest) -> Result<(String, String)> {
        let started = self.clerk.create_admission(req, None).await?;
        Ok((started.workflow_id, started.admission_id))
    }

    /// Decides open tasks as the bed and site managers would: outliers accepted with
    /// the home team reviewing, no-bed cases diverted. Returns decisions made.
    async fn work_queue(&self, _final: bool) -> Result<usize> {
        let mut decided = 0;
        for api in [&self.bed_manager, &self.site_manager] {
            for t in api.tasks().await? {
                let (approve, reason) = if t.kind == "bed_plan" {
                    (
                        true,
                        "Reviewed moves and emergency reserve against today's site report: publish",
                    )
                } else if t.kind == "outlier_bed" {
                    (true, "Outlier accepted: home specialty team to review daily and repatriate when a bed frees")
                } else {
                    (false, "No suitable bed: divert to partner hospital under the regional escalation plan")
                };
                // Each decision is signed with the manager's password.
                let decision = DecisionRequest {
                    approve,
                    reason: reason.into(),
                    bed_id: None,
                    password: DEMO_PASSWORD.into(),
                };
                // Another manager may have decided it meanwhile.
                if api.decide(&t.task_id, &decision).await.is_ok() {
                    decided += 1;
                }
            }
        }
        Ok(decided)
    }

    /// Waits until every admission of `batch` has ended, working the queue meanwhile.
    async fn settle(&self, batch: &[(String, String)]) -> Result<Settled> {
        let mut out = Settled::default();
        let mut pending: Vec<&(String, String)> = batch.iter().collect();
        let started = std::time::Instant::now();
        while !pending.is_empty() {
            out.decided += self.work_queue(true).await?;
            let mut still = Vec::new();
            for item in pending {
                let status = self.clerk.admission_status(&item.0).await?;
                match status.stage {
                    careflow_types::AdmissionStage::Admitted => out.admitted.push(item.clone()),
                    s if s.is_final() => out.declined += 1,
                    _ => still.push(item),
                }
            }
            pending = still;
            if !pending.is_empty() {
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(600),
                    "demo admissions did not settle in 10 minutes"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        Ok(out)
    }
}

#[derive(Default)]
struct Settled {
    admitted: Vec<(String, String)>,
    declined: usize,
    decided: usize,
}

#[derive(Default)]
struct Totals {
    admitted: usize,
    declined: usize,
    discharged: usize,
    decided: usize,
}
