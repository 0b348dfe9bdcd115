//! The command line: the top-level parser, the options every subcommand takes, and the
//! dispatch to one file per command group (its clap arguments and how it runs).
//!
//! Data goes to stdout; logs, progress and errors go to stderr. Commands that act on
//! the hospital go through the running server's API ([`crate::client`]), so they pass
//! the same checks as any other caller; the few that work on the local database call
//! store functions that check who acts and audit the change in one transaction.

pub mod admissions;
pub mod audit;
pub mod backup;
pub mod bed_plans;
pub mod db;
pub mod decisions;
pub mod ethics;
pub mod export;
pub mod forecast;
pub mod login;
pub mod release;
pub mod roster;
pub mod scanner;
pub mod serve;
pub mod solve;
pub mod tasks;
pub mod temporal;
pub mod theatre;
pub mod users;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use careflow_store::Db;

use crate::client::{api_file, ApiClient};

/// `careflow [OPTIONS] <COMMAND>`.
#[derive(Parser, Debug)]
#[command(
    name = "careflow",
    version,
    about = "Hospital operational decisions as durable, auditable workflows"
)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Directory for the SQLite domain database and the embedded Temporal server's
    /// database and logs (no secrets: sessions live in each user's own config directory).
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
    /// Where forecasts run: `auto` (CUDA for calls of at least --forecast-gpu-min-rows
    /// rows when CUDA works, else the CPU; why is logged once and kept with each
    /// forecast), `cpu`, or `cuda[:N]` (a forecast is refused, saying why, when CUDA
    /// cannot be used). CUDA needs a `--features cuda` build and `scripts/setup --gpu`.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_FORECAST_DEVICE",
        default_value = "auto",
        value_parser = parse_forecast_device
    )]
    pub forecast_device: careflow_forecasters::Device,
    /// With `--forecast-device auto`: the smallest forecast call (rows for ONNX Runtime,
    /// a batch's series x hours) that runs on the GPU; `scripts/gpu-check` measures it.
    /// Default: none (every call on the CPU) until it is set from that measurement.
    #[arg(long, global = true, env = "CAREFLOW_FORECAST_GPU_MIN_ROWS")]
    pub forecast_gpu_min_rows: Option<usize>,
    /// Threads that build a large forecast batch's features and quantiles in parallel
    /// (backtests, hospital-group plans); 1 keeps each batch on one thread.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_FORECAST_THREADS",
        default_value_t = 1
    )]
    pub forecast_threads: usize,
    /// Hours a token from `careflow login` (`POST /api/login`) works before it expires
    /// (the server's setting).
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_TOKEN_HOURS",
        default_value_t = 8.0
    )]
    pub token_hours: f64,
    /// Seconds between the audit anchors `careflow serve` appends to
    /// DATA_DIR/audit.anchors (one more is written at shutdown).
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_ANCHOR_SECONDS",
        default_value_t = 60
    )]
    pub anchor_seconds: u64,
    /// At shutdown (Ctrl-C or SIGTERM), seconds the running activities get to finish
    /// before the worker cancels them and careflow exits.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_DRAIN_SECONDS",
        default_value_t = 30
    )]
    pub drain_seconds: u64,
    /// Solver and forecaster steps this process runs at once (each may use a core for
    /// minutes); admissions' steps run on a task queue of their own regardless.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_COMPUTE_SLOTS",
        default_value_t = 2
    )]
    pub compute_slots: usize,
    /// Do not migrate the domain database, only check that it is migrated: for a
    /// PostgreSQL role without schema rights (`careflow db grant-app`).
    #[arg(long, global = true, env = "CAREFLOW_NO_MIGRATE")]
    pub no_migrate: bool,
    /// File holding the key (64 hex digits) that encrypts every Temporal payload
    /// (AES-256-GCM); `CAREFLOW_PAYLOAD_KEY` wins. Every process of a site needs the
    /// same key. Without either, payloads travel in clear.
    #[arg(long, global = true, env = "CAREFLOW_PAYLOAD_KEY_FILE")]
    pub payload_key_file: Option<PathBuf>,
    /// Temporal namespace of careflow's workflows. The embedded server creates it.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_TEMPORAL_NAMESPACE",
        default_value = "default"
    )]
    pub temporal_namespace: String,
    /// Reach `--temporal` over TLS, trusting the system's roots (implied by the other
    /// --temporal-tls-* options and by an API key).
    #[arg(long, global = true, env = "CAREFLOW_TEMPORAL_TLS")]
    pub temporal_tls: bool,
    /// PEM file of the CA that signed the Temporal cluster's server certificate.
    #[arg(long, global = true, env = "CAREFLOW_TEMPORAL_TLS_CA")]
    pub temporal_tls_ca: Option<PathBuf>,
    /// PEM file of careflow's client certificate (mTLS), with --temporal-tls-key.
    #[arg(long, global = true, env = "CAREFLOW_TEMPORAL_TLS_CERT")]
    pub temporal_tls_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key (mTLS).
    #[arg(long, global = true, env = "CAREFLOW_TEMPORAL_TLS_KEY")]
    pub temporal_tls_key: Option<PathBuf>,
    /// Name the server's certificate is checked against (default: the host of
    /// --temporal).
    #[arg(long, global = true, env = "CAREFLOW_TEMPORAL_TLS_SERVER_NAME")]
    pub temporal_tls_server_name: Option<String>,
    /// File holding the Temporal API key; `CAREFLOW_TEMPORAL_API_KEY` wins (a key is
    /// never given on the command line, where `ps` shows it).
    #[arg(long, global = true, env = "CAREFLOW_TEMPORAL_API_KEY_FILE")]
    pub temporal_api_key_file: Option<PathBuf>,
    /// API requests per second one client address may send, sustained (bursts of
    /// twice that); beyond it the API answers 429 with Retry-After. 0: no limit.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_RATE_LIMIT_CLIENT",
        default_value_t = 200
    )]
    pub rate_limit_client: u32,
    /// API requests per second one login (bearer token or page session) may send,
    /// sustained (bursts of twice that). 0: no limit.
    #[arg(
        long,
        global = true,
        env = "CAREFLOW_RATE_LIMIT_LOGIN",
        default_value_t = 100
    )]
    pub rate_limit_login: u32,
}

/// Environment variable holding the Temporal API key.
pub const TEMPORAL_API_KEY_ENV: &str = "CAREFLOW_TEMPORAL_API_KEY";

fn parse_forecast_device(s: &str) -> Result<careflow_forecasters::Device> {
    Ok(s.parse()?)
}

impl Global {
    /// The domain database URL: `--database`, else the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| Db::sqlite_url(&self.data_dir.join("careflow.db")))
    }

    /// The forecasting models directory: `--models-dir`, else the committed models.
    pub fn models_dir(&self) -> Result<PathBuf> {
        match &self.models_dir {
            Some(d) => Ok(d.clone()),
            None => Ok(careflow_forecasters::bundle::models_dir()?),
        }
    }

    /// How forecasts run in this process (`--forecast-device`, `--forecast-gpu-min-rows`,
    /// `--forecast-threads`).
    pub fn forecast_runtime(&self) -> careflow_forecasters::RuntimeOptions {
        careflow_forecasters::RuntimeOptions {
            device: self.forecast_device,
            gpu_min_rows: self.forecast_gpu_min_rows,
            batch_threads: self.forecast_threads,
            ..Default::default()
        }
    }

    /// The Temporal payload cipher (`CAREFLOW_PAYLOAD_KEY` or `--payload-key-file`).
    pub fn payload_cipher(&self) -> Result<Option<crate::codec::PayloadCipher>> {
        crate::codec::PayloadCipher::load(self.payload_key_file.as_deref())
    }

    /// How to reach Temporal beyond its address (namespace, TLS, API key), with the
    /// files read and checked: an option that cannot work fails here, naming it.
    pub fn cluster_options(&self) -> Result<crate::temporal::ClusterOptions> {
        use crate::temporal::{ClusterOptions, TlsSettings};
        let ns = &self.temporal_namespace;
        if ns.is_empty()
            || ns.len() > 255
            || ns.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            bail!("--temporal-namespace {ns:?}: a namespace is 1 to 255 characters without spaces");
        }
        let api_key = match std::env::var(TEMPORAL_API_KEY_ENV) {
            Ok(k) => Some((k, TEMPORAL_API_KEY_ENV.to_owned())),
            Err(_) => match &self.temporal_api_key_file {
                Some(path) => Some((
                    std::fs::read_to_string(path).with_context(|| {
                        format!("--temporal-api-key-file {}: cannot read it", path.display())
                    })?,
                    format!("--temporal-api-key-file {}", path.display()),
                )),
                None => None,
            },
        };
        let api_key = match api_key {
            Some((k, from)) => {
                let k = k.trim().to_owned();
                if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    bail!(
                        "Temporal API key from {from}: empty or with spaces or line breaks inside"
                    );
                }
                Some(k)
            }
            None => None,
        };
        let pem = |flag: &str, path: &PathBuf, marker: &str| -> Result<Vec<u8>> {
            let bytes = std::fs::read(path)
                .with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
            if !String::from_utf8_lossy(&bytes).contains(marker) {
                bail!(
                    "{flag} {}: not a PEM file with a '{marker}' block",
                    path.display()
                );
            }
            Ok(bytes)
        };
        let server_ca = self
            .temporal_tls_ca
            .as_ref()
            .map(|p| pem("--temporal-tls-ca", p, "-----BEGIN CERTIFICATE-----"))
            .transpose()?;
        let client_cert = match (&self.temporal_tls_cert, &self.temporal_tls_key) {
            (Some(c), Some(k)) => Some((
                pem("--temporal-tls-cert", c, "-----BEGIN CERTIFICATE-----"),
                pem("--temporal-tls-key", k, "PRIVATE KEY-----"),
            )),
            (Some(_), None) => {
                bail!("--temporal-tls-cert needs --temporal-tls-key (mTLS takes both)")
            }
            (None, Some(_)) => {
                bail!("--temporal-tls-key needs --temporal-tls-cert (mTLS takes both)")
            }
            (None, None) => None,
        };
        let client_cert = match client_cert {
            Some((c, k)) => Some((c?, k?)),
            None => None,
        };
        let tls = (self.temporal_tls
            || server_ca.is_some()
            || client_cert.is_some()
            || self.temporal_tls_server_name.is_some())
        .then(|| TlsSettings {
            server_ca,
            client_cert,
            server_name: self.temporal_tls_server_name.clone(),
        });
        let cluster = ClusterOptions {
            namespace: ns.clone(),
            tls,
            api_key,
        };
        if self.temporal.is_none() && cluster.uses_tls() {
            bail!(
                "the Temporal TLS and API-key options are for a cluster named with --temporal; \
                 the embedded server careflow runs speaks plain gRPC on 127.0.0.1"
            );
        }
        Ok(cluster)
    }

    /// The API's request-rate limits (`--rate-limit-client`, `--rate-limit-login`).
    pub fn rate_limits(&self) -> careflow_dashboards::RateLimits {
        use careflow_dashboards::{Rate, RateLimits};
        let rate = |n: u32| Rate::new(n, n.saturating_mul(2));
        RateLimits {
            per_client: rate(self.rate_limit_client),
            per_credential: rate(self.rate_limit_login),
        }
    }

    /// Creates the data directory and opens (and migrates) the domain database.
    pub async fn open_db(&self) -> Result<Db> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        let url = self.database_url();
        let db = if self.no_migrate {
            Db::connect_migrated(&url).await
        } else {
            Db::connect(&url).await
        };
        let db = db.with_context(|| format!("opening domain database {}", redact(&url)))?;
        // The audit key (made at first start, kept outside the database) keys the
        // trail's digests as it signs the anchors: every process of a site shares it.
        let key = careflow_store::anchor::AnchorKey::load_or_create(&self.data_dir)
            .context("loading the audit key")?;
        Ok(db.with_audit_key(&key))
    }

    /// Opens the domain database to read it (`careflow audit`): the audit key is used
    /// when there is one, never created.
    pub async fn open_db_to_read(&self) -> Result<Db> {
        let url = self.database_url();
        let db = if self.no_migrate {
            Db::connect_migrated(&url).await
        } else {
            Db::connect(&url).await
        };
        let db = db.with_context(|| format!("opening domain database {}", redact(&url)))?;
        Ok(
            match careflow_store::anchor::AnchorKey::load(&self.data_dir)? {
                Some(key) => db.with_audit_key(&key),
                None => db,
            },
        )
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

/// Prints an API answer as JSON on stdout, keys in alphabetical order at every level
/// (as the CLI has always printed them, and stable whatever the field order of the
/// Rust type).
pub(crate) fn print_json(value: &impl serde::Serialize, pretty: bool) -> Result<()> {
    let value = serde_json::to_value(value)?;
    let text = if pretty {
        serde_json::to_string_pretty(&value)?
    } else {
        serde_json::to_string(&value)?
    };
    println!("{text}");
    Ok(())
}

/// The API base URL: `api`, else the one the running `careflow serve` wrote to DATA_DIR.
pub fn api_base(g: &Global, api: Option<&str>) -> Result<String> {
    Ok(match api {
        Some(a) => a.to_owned(),
        None => std::fs::read_to_string(api_file(&g.data_dir))
            .with_context(|| {
                format!(
                    "no running careflow server found for data directory {} (start `careflow serve`, or pass --api URL)",
                    g.data_dir.display()
                )
            })?
            .trim()
            .to_owned(),
    })
}

/// Who is calling, for the commands that go through the API.
#[derive(Args, Clone, Debug)]
pub struct AuthArgs {
    /// Act as this user, with the session `careflow login --as USER` saved.
    #[arg(long = "as")]
    pub as_user: Option<String>,
    /// Bearer token (instead of --as).
    #[arg(long, env = "CAREFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// API base URL (default: the one the running `careflow serve` wrote to DATA_DIR).
    #[arg(long, env = "CAREFLOW_API")]
    pub api: Option<String>,
}

impl AuthArgs {
    /// The API client these options name: the server (`--api`, else the one running on
    /// DATA_DIR) and the token (`--token`, else the login session of `--as USER`).
    pub fn client(&self, g: &Global) -> Result<ApiClient> {
        let base = api_base(g, self.api.as_deref())?;
        let token = match (&self.token, &self.as_user) {
            (Some(t), _) => t.clone(),
            (None, Some(user)) => login::session_token(&base, user)?,
            (None, None) => {
                bail!("say who you are: --as USER (after `careflow login --as USER`) or --token TOKEN (or CAREFLOW_TOKEN)")
            }
        };
        Ok(ApiClient::new(base, token))
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run everything on one machine: Temporal (embedded unless --temporal), a worker
    /// and the HTTP API on one port.
    Serve(serve::ServeArgs),
    /// Run a worker only (scale-out: many workers against one Temporal cluster and one
    /// PostgreSQL database).
    Worker,
    /// Seed a realistic small hospital, run a day of admissions, then keep serving.
    Demo(serve::DemoArgs),
    /// Log in with your password: keeps a session (expiring) for `--as NAME`.
    Login(login::LoginArgs),
    /// Log out: revokes the session's token.
    Logout(login::LogoutArgs),
    /// Register an admission request (through the running server's API).
    Admit(admissions::AdmitArgs),
    /// Show an admission's status.
    Status(admissions::StatusArgs),
    /// List the approval tasks of your queue.
    Tasks(tasks::TasksArgs),
    /// Approve a task, signed with your password (the reason is recorded in the audit
    /// trail).
    Approve(tasks::DecideArgs),
    /// Reject a task, signed with your password (the reason is recorded in the audit
    /// trail).
    Reject(tasks::DecideArgs),
    /// Claim a task so colleagues see you are deciding it.
    Claim(tasks::ClaimArgs),
    /// Discharge an admitted patient (frees the bed; audited).
    Discharge(admissions::DischargeArgs),
    /// Cancel an admission.
    Cancel(admissions::CancelArgs),
    /// Propose a bed plan: forecast emergency demand, optimise every inpatient's room,
    /// then wait for a bed manager's approval (prints the plan id).
    PlanBeds(bed_plans::PlanBedsArgs),
    /// Show a bed plan (stage, proposal, the forecast model that fed it, decision).
    BedPlan(bed_plans::BedPlanArgs),
    /// The move orders of published bed plans; `--done PLAN ADMISSION` when the ward has
    /// moved the patient.
    BedMoves(bed_plans::BedMovesArgs),
    /// A ward's nurse roster: plan, status, sick calls and surges.
    #[command(subcommand)]
    Roster(roster::RosterCommand),
    /// The ethics committee's review of AI projects: submit, each step, your queue.
    #[command(subcommand)]
    Ethics(ethics::EthicsCommand),
    /// Audit trail: verify the hash chain or export it.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Replay or explain a stored solver or forecaster step.
    #[command(subcommand)]
    Decision(decisions::DecisionCommand),
    /// Users and their roles.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Solve a planning problem (IHTC-2024 integrated planning, nurse rostering).
    #[command(subcommand)]
    Solve(solve::SolveCommand),
    /// Forecast demand with the ONNX models (backtest, predict).
    #[command(subcommand)]
    Forecast(forecast::ForecastCommand),
    /// Model releases: a candidate version through validation, the ethics sign-off and
    /// a shadow period to the owner's signed promotion; rollback.
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// Operating-theatre weeks: plan, status, list in force, day-of events, close.
    #[command(subcommand)]
    Theatre(theatre::TheatreCommand),
    /// CT/MRI scanner bookings: book a week, status, record attendance.
    #[command(subcommand)]
    Scanner(scanner::ScannerCommand),
    /// Back up the site while it runs: domain database, embedded Temporal database,
    /// manifest of checksums (one file).
    Backup(backup::BackupArgs),
    /// Restore a backup into a fresh --data-dir (checksums, audit chain and counts
    /// checked first).
    Restore(backup::RestoreArgs),
    /// De-identified research exports (FHIR NDJSON), for roles that may export.
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Database administration as the owner role: migrate, grant the application role.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Temporal operations: read a workflow's history with its payloads decrypted.
    #[command(subcommand)]
    Temporal(temporal::TemporalCommand),
}

/// Runs one command line. An error is for the caller to print (with its causes) and
/// exit 1; `audit verify` exits 1 itself when the chain is broken.
pub async fn run(cli: Cli) -> Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Serve(args) => serve::serve(&g, args).await,
        Command::Worker => serve::worker(&g).await,
        Command::Demo(args) => serve::demo(&g, args).await,
        Command::Login(args) => login::login(&g, args).await,
        Command::Logout(args) => login::logout(&g, args).await,
        Command::Admit(args) => admissions::admit(&g, args).await,
        Command::Status(args) => admissions::status(&g, args).await,
        Command::Discharge(args) => admissions::discharge(&g, args).await,
        Command::Cancel(args) => admissions::cancel(&g, args).await,
        Command::Tasks(args) => tasks::list(&g, args).await,
        Command::Approve(args) => tasks::decide(&g, args, true).await,
        Command::Reject(args) => tasks::decide(&g, args, false).await,
        Command::Claim(args) => tasks::claim(&g, args).await,
        Command::PlanBeds(args) => bed_plans::plan_beds(&g, args).await,
        Command::BedPlan(args) => bed_plans::show(&g, args).await,
        Command::BedMoves(args) => bed_plans::moves(&g, args).await,
        Command::Roster(cmd) => roster::run(&g, cmd).await,
        Command::Ethics(cmd) => ethics::run(&g, cmd).await,
        Command::Audit(cmd) => audit::run(&g, cmd).await,
        Command::Db(cmd) => db::run(&g, cmd).await,
        Command::Temporal(cmd) => temporal::run(&g, cmd).await,
        Command::Decision(cmd) => decisions::run(&g, cmd).await,
        Command::Theatre(cmd) => theatre::run(&g, cmd).await,
        Command::User(cmd) => users::run(&g, cmd).await,
        Command::Scanner(cmd) => scanner::run(&g, cmd).await,
        Command::Release(cmd) => release::run(&g, cmd).await,
        Command::Backup(args) => backup::backup(&g, args).await,
        Command::Restore(args) => backup::restore(&g, args).await,
        Command::Export(cmd) => export::run(&g, cmd).await,
        // Solvers and forecasters block their thread while they compute.
        Command::Solve(cmd) => tokio::task::spawn_blocking(move || solve::run(cmd)).await?,
        Command::Forecast(cmd) => {
            // The registry lives in careflow's domain database.
            std::fs::create_dir_all(&g.data_dir)
                .with_context(|| format!("creating data directory {}", g.data_dir.display()))?;
            forecast::run(cmd, &g.database_url(), g.forecast_runtime()).await
        }
    }
}
