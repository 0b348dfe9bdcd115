//! `careflow`: hospital operational decisions as durable, auditable workflows.
//!
//! Run with `careflow demo` for the embedded default with demo data, or see
//! `careflow --help`. Data goes to stdout; logs, progress and errors go to stderr.

mod client;
mod demo;
mod serve;
mod temporal;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use careflow_activities::{audit, users, Db};
use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Role, Sex};

#[derive(Parser)]
#[command(
    name = "careflow",
    version,
    about = "Hospital operational decisions as durable, auditable workflows"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Directory for the SQLite domain database, the embedded Temporal server's
    /// database and logs, and user tokens.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_DATA_DIR",
        default_value = "./careflow-data"
    )]
    pub data_dir: PathBuf,
    /// Domain database URL (default: sqlite://DATA_DIR/careflow.db); e.g.
    /// postgres://user@host/db for bigger sites.
    #[arg(long, global = true, env = "CAREFLOW_DATABASE")]
    pub database: Option<String>,
    /// Existing Temporal server or cluster frontend (host:port). Without it careflow
    /// runs and supervises an embedded single-node server.
    #[arg(long, global = true, env = "CAREFLOW_TEMPORAL")]
    pub temporal: Option<String>,
    /// Port of the embedded Temporal server (its Web UI listens on PORT+1000).
    #[arg(long, global = true, default_value_t = 7233)]
    pub temporal_port: u16,
    /// Forecasting models (`NAME/VERSION/model.onnx` + `card.json`); default: the
    /// committed `forecasters/models` next to the executable or the current directory.
    /// Each file is checked against the registry's sha256 before it is used.
    #[arg(long, global = true, env = "CAREFLOW_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
}

impl Global {
    fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| Db::sqlite_url(&self.data_dir.join("careflow.db")))
    }

    fn models_dir(&self) -> Result<PathBuf> {
        match &self.models_dir {
            Some(d) => Ok(d.clone()),
            None => Ok(careflow_forecasters::bundle::models_dir()?),
        }
    }

    async fn open_db(&self) -> Result<Db> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        Db::connect(&self.database_url())
            .await
            .with_context(|| format!("opening domain database {}", redact(&self.database_url())))
    }
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run everything on one machine: Temporal (embedded unless --temporal), a worker
    /// and the HTTP API on one port.
    Serve(serve::ServeArgs),
    /// Run a worker only (scale-out: many workers against one Temporal cluster and one
    /// PostgreSQL database).
    Worker,
    /// Seed a realistic small hospital, run a day of admissions, then keep serving.
    Demo(demo::DemoArgs),
    /// Register an admission request (through the running server's API).
    Admit(AdmitArgs),
    /// Show an admission's status.
    Status {
        /// Workflow id printed by `admit`.
        workflow_id: String,
        #[command(flatten)]
        auth: client::AuthArgs,
    },
    /// List the approval tasks of your queue.
    Tasks {
        #[command(flatten)]
        auth: client::AuthArgs,
    },
    /// Approve a task (the reason is recorded in the audit trail).
    Approve(DecideArgs),
    /// Reject a task (the reason is recorded in the audit trail).
    Reject(DecideArgs),
    /// Claim a task so colleagues see you are deciding it.
    Claim {
        /// Task id.
        task_id: String,
        #[command(flatten)]
        auth: client::AuthArgs,
    },
    /// Discharge an admitted patient (frees the bed; audited).
    Discharge {
        /// Workflow id of the admission.
        workflow_id: String,
        #[command(flatten)]
        auth: client::AuthArgs,
    },
    /// Cancel an admission.
    Cancel {
        /// Workflow id.
        workflow_id: String,
        #[command(flatten)]
        auth: client::AuthArgs,
    },
    /// Propose a bed plan: forecast emergency demand, optimise every inpatient's room,
    /// then wait for a bed manager's approval (prints the plan id).
    PlanBeds {
        /// First day of the plan (YYYY-MM-DD; default: today).
        #[arg(long)]
        date: Option<String>,
        /// Days planned (1-14).
        #[arg(long, default_value_t = 3)]
        horizon: u32,
        /// Solver time limit in seconds (1-300).
        #[arg(long, default_value_t = 20)]
        solve_seconds: u32,
        /// Retrying with the same key starts no second plan.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        auth: client::AuthArgs,
    },
    /// Show a bed plan (stage, proposal, the forecast model that fed it, decision).
    BedPlan {
        /// Plan id printed by `plan-beds` (omit to list recent plans).
        plan_id: Option<String>,
        #[command(flatten)]
        auth: client::AuthArgs,
    },
    /// Audit trail: verify the hash chain or export it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Users and their roles.
    #[command(subcommand)]
    User(UserCommand),
    /// Solve a planning problem (IHTC-2024 integrated planning, nurse rostering).
    #[command(subcommand)]
    Solve(careflow_solvers::cli::SolveCommand),
    /// Forecast demand with the ONNX models (backtest, predict).
    #[command(subcommand)]
    Forecast(careflow_forecasters::cli::ForecastCommand),
}

#[derive(Args)]
struct AdmitArgs {
    /// Patient identifier (MRN).
    #[arg(long)]
    patient: String,
    /// elective or emergency.
    #[arg(long, value_parser = parse_enum::<AdmissionKind>)]
    kind: AdmissionKind,
    /// female or male.
    #[arg(long, value_parser = parse_enum::<Sex>)]
    sex: Sex,
    /// child, adult or elderly.
    #[arg(long, value_parser = parse_enum::<AgeGroup>)]
    age_group: AgeGroup,
    /// Specialty (cardiology, general_medicine, respiratory, general_surgery,
    /// orthopaedics, elderly_care, paediatrics).
    #[arg(long)]
    specialty: String,
    /// Needs a single room.
    #[arg(long)]
    isolation: bool,
    /// Expected length of stay in days.
    #[arg(long)]
    los: u32,
    /// Key that makes a repeated `admit` (after a lost answer) start no second
    /// admission, e.g. the ED attendance number.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    auth: client::AuthArgs,
}

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| e.to_string())
}

#[derive(Args)]
struct DecideArgs {
    /// Task id (see `careflow tasks`).
    task_id: String,
    /// Why: recorded with your name, role and the time.
    #[arg(long)]
    reason: String,
    /// For tasks without a matching bed: the bed to use.
    #[arg(long)]
    bed: Option<String>,
    #[command(flatten)]
    auth: client::AuthArgs,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 1 and name the first broken entry if it is broken.
    Verify,
    /// Write the trail as JSON lines (it holds no patient identifiers: inputs and
    /// outputs appear as digests only).
    Export {
        /// File to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (or issue a new token) and print the token; it is also saved to
    /// DATA_DIR/tokens/NAME for `--as NAME`.
    Add {
        /// User name.
        name: String,
        /// Role: admissions_clerk, bed_manager, site_manager, auditor, admin.
        #[arg(long)]
        role: Role,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,temporalio_sdk_core=warn,temporalio_client=warn,sqlx=warn".into()
            }),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    if let Err(e) = runtime.block_on(run(cli)) {
        // The chain of causes says what failed and where; a backtrace helps nobody here.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Serve(args) => serve::serve(&g, args, None).await,
        Command::Worker => serve::worker_only(&g).await,
        Command::Demo(args) => demo::run(&g, args).await,
        Command::Admit(a) => {
            let request = AdmissionRequest {
                patient_ref: a.patient,
                kind: a.kind,
                sex: a.sex,
                age_group: a.age_group,
                specialty: a.specialty,
                isolation: a.isolation,
                expected_los_days: a.los,
                requested_by: String::new(),
            };
            let api = client::Api::new(&g, &a.auth)?;
            let created: serde_json::Value = api
                .post_with_key("/api/admissions", &request, a.idempotency_key.as_deref())
                .await?;
            println!("{}", created["workflow_id"].as_str().unwrap_or_default());
            Ok(())
        }
        Command::Status { workflow_id, auth } => {
            let api = client::Api::new(&g, &auth)?;
            let status: serde_json::Value =
                api.get(&format!("/api/admissions/{workflow_id}")).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
        Command::PlanBeds {
            date,
            horizon,
            solve_seconds,
            idempotency_key,
            auth,
        } => {
            let request = careflow_types::BedPlanRequest {
                plan_date: date.unwrap_or_else(|| {
                    chrono::Utc::now()
                        .date_naive()
                        .format("%Y-%m-%d")
                        .to_string()
                }),
                horizon_days: horizon,
                solve_seconds,
                requested_by: String::new(),
            };
            let api = client::Api::new(&g, &auth)?;
            let created: serde_json::Value = api
                .post_with_key("/api/bed-plans", &request, idempotency_key.as_deref())
                .await?;
            println!("{}", created["plan_id"].as_str().unwrap_or_default());
            Ok(())
        }
        Command::BedPlan { plan_id, auth } => {
            let api = client::Api::new(&g, &auth)?;
            let path = match &plan_id {
                Some(id) => format!("/api/bed-plans/{id}"),
                None => "/api/bed-plans".to_owned(),
            };
            let plan: serde_json::Value = api.get(&path).await?;
            println!("{}", serde_json::to_string_pretty(&plan)?);
            Ok(())
        }
        Command::Tasks { auth } => {
            let api = client::Api::new(&g, &auth)?;
            let tasks: Vec<careflow_types::TaskView> = api.get("/api/tasks").await?;
            if tasks.is_empty() {
                eprintln!("no open tasks in your queue");
            }
            for t in tasks {
                println!(
                    "{}\t{}\t{}\tdue {}\t{}{}",
                    t.task_id,
                    t.kind,
                    t.status,
                    t.due_at,
                    t.summary,
                    t.claimed_by
                        .map(|c| format!(" [claimed by {c}]"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Approve(d) => decide(&g, d, true).await,
        Command::Reject(d) => decide(&g, d, false).await,
        Command::Claim { task_id, auth } => {
            let api = client::Api::new(&g, &auth)?;
            let t: careflow_types::TaskView = api
                .post(
                    &format!("/api/tasks/{task_id}/claim"),
                    &serde_json::json!({}),
                )
                .await?;
            println!(
                "{} claimed by {}",
                t.task_id,
                t.claimed_by.unwrap_or_default()
            );
            Ok(())
        }
        Command::Discharge { workflow_id, auth } => {
            let api = client::Api::new(&g, &auth)?;
            let r: serde_json::Value = api
                .post(
                    &format!("/api/admissions/{workflow_id}/discharge"),
                    &serde_json::json!({}),
                )
                .await?;
            println!("{}", r["bed_released"].as_str().unwrap_or_default());
            Ok(())
        }
        Command::Cancel { workflow_id, auth } => {
            let api = client::Api::new(&g, &auth)?;
            let r: serde_json::Value = api
                .post(
                    &format!("/api/admissions/{workflow_id}/cancel"),
                    &serde_json::json!({}),
                )
                .await?;
            println!("{r}");
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let db = g.open_db().await?;
            let v = audit::verify(&db).await?;
            match v.first_break {
                None => {
                    println!("audit trail intact: {} entries verified", v.entries);
                    Ok(())
                }
                Some(b) => {
                    println!(
                        "audit trail BROKEN at entry {} ({:?}): {}",
                        b.seq, b.kind, b.detail
                    );
                    std::process::exit(1);
                }
            }
        }
        Command::Audit(AuditCommand::Export { out }) => {
            let db = g.open_db().await?;
            let entries = audit::entries(&db).await?;
            let mut text = String::new();
            for e in &entries {
                text.push_str(&serde_json::to_string(e)?);
                text.push('\n');
            }
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("exported {} entries to {}", entries.len(), path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        // Solvers and forecasters block their thread while they compute.
        Command::Solve(cmd) => {
            tokio::task::spawn_blocking(move || careflow_solvers::cli::run(cmd)).await?
        }
        Command::Forecast(mut cmd) => {
            use careflow_forecasters::cli::ForecastCommand as F;
            let mut promotion = None;
            if let F::Register { registry, .. }
            | F::Promote { registry, .. }
            | F::List { registry, .. } = &mut cmd
            {
                // The registry lives in careflow's domain database unless told otherwise.
                if registry.is_empty() {
                    g.open_db().await?.close().await;
                    *registry = g.database_url();
                }
            }
            if let F::Promote {
                name,
                version,
                status,
                by,
                reason,
                registry,
            } = &cmd
            {
                promotion = Some((
                    name.clone(),
                    version.clone(),
                    status.clone(),
                    by.clone(),
                    reason.clone(),
                    registry.clone(),
                ));
            }
            tokio::task::spawn_blocking(move || careflow_forecasters::cli::run(cmd)).await??;
            if let Some((name, version, status, by, reason, registry)) = promotion {
                // A release decision is a human decision: it goes into the audit trail of
                // the database that holds the registry.
                let db = Db::connect(&registry).await?;
                audit::append_one(
                    &db,
                    careflow_types::NewAuditEntry {
                        actor: by,
                        role: "model_owner".into(),
                        action: "model.status_changed".into(),
                        meaning: Some(format!("approved {name} {version} as {status}")),
                        reason: Some(reason),
                        workflow_id: None,
                        step: None,
                        input_digest: None,
                        output_digest: None,
                        idempotency_key: format!(
                            "model/{name}/{version}/{status}/{}",
                            chrono::Utc::now().to_rfc3339()
                        ),
                    },
                )
                .await?;
            }
            Ok(())
        }
        Command::User(UserCommand::Add { name, role }) => {
            let db = g.open_db().await?;
            let token = users::upsert(&db, &name, role, "cli").await?;
            client::save_token(&g.data_dir, &name, &token)?;
            println!("{token}");
            Ok(())
        }
    }
}

async fn decide(g: &Global, d: DecideArgs, approve: bool) -> Result<()> {
    let api = client::Api::new(g, &d.auth)?;
    let body = careflow_types::DecisionRequest {
        approve,
        reason: d.reason,
        bed_id: d.bed,
    };
    let r: serde_json::Value = api
        .post(&format!("/api/tasks/{}/decision", d.task_id), &body)
        .await?;
    println!("{}", r["result"].as_str().unwrap_or_default());
    Ok(())
}
