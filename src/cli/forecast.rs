//! `careflow forecast ...`: backtests and one-off predictions of the ED arrivals model
//! from a CSV, and the model registry (register, install the first production version,
//! list), which lives in careflow's domain database. Data goes to stdout (or `--out`),
//! progress and errors to stderr. Registry changes go through the store, which checks that the person named
//! is an administrator and audits the change in the same transaction.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use careflow_forecasters::backtest::score;
use careflow_forecasters::bundle::{
    latest_version_dir, models_dir, open_verified, sha256_file, ModelBundle,
};
use careflow_forecasters::data::HourlySeries;
use careflow_forecasters::ed_arrivals::{
    EdArrivals, EdArrivalsHistoryRequest, EdArrivalsRequest, HOUR_FORMAT, MODEL_NAME,
};
use careflow_forecasters::{Forecast, Forecaster, RuntimeOptions};
use careflow_store::registry::{self, ModelFacts};
use careflow_store::users;
use careflow_store::Db;

use crate::cli::login::PasswordSource;

/// Where the model comes from and how it runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Model: a model directory (with model.onnx and card.json) or a model name
    /// (newest committed version under forecasters/models, or the registry's
    /// production version with --registry).
    #[arg(long, default_value = MODEL_NAME)]
    pub model: String,
    /// Take the model named by --model from the registry's production version (in
    /// careflow's domain database, see --database), checked against its sha256.
    #[arg(long)]
    pub registry: bool,
    /// Where this command's forecasts run (auto, cpu, cuda or cuda:N); overrides the
    /// global --forecast-device.
    #[arg(long)]
    pub provider: Option<String>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Forecasting commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ForecastCommand {
    /// Rolling-origin backtest: forecast from every --step hours starting at
    /// --start, using only rows before each origin; writes origin,target,p10,p50,p90
    /// and prints MAE / pinball / coverage where the file has the truth.
    Backtest {
        /// Model selection and runtime.
        #[command(flatten)]
        model: ModelArgs,
        /// CSV with columns date,hour,arrivals (the benchmark file's layout).
        #[arg(long)]
        data: PathBuf,
        /// First origin: YYYY-MM-DD or YYYY-MM-DDTHH.
        #[arg(long)]
        start: String,
        /// Hours forecast from each origin.
        #[arg(long, default_value_t = 168)]
        horizon: usize,
        /// Hours between origins.
        #[arg(long, default_value_t = 24)]
        step: usize,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
    },
    /// Forecast from one origin; CSV to stdout or --out.
    Predict {
        /// Model selection and runtime.
        #[command(flatten)]
        model: ModelArgs,
        /// CSV with columns date,hour,arrivals; rows at or after the origin are not used.
        #[arg(long)]
        data: PathBuf,
        /// Origin: YYYY-MM-DD or YYYY-MM-DDTHH.
        #[arg(long)]
        origin: String,
        /// Hours to forecast.
        #[arg(long, default_value_t = 168)]
        horizon: usize,
        /// Output CSV (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Register a model directory as a candidate in the registry.
    Register {
        /// Model directory with card.json and the .onnx.
        dir: PathBuf,
        /// The administrator who registers it; they enter their password.
        #[arg(long)]
        by: String,
        /// Read the administrator's password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Install a registered model as the first production version of its name, when
    /// the site is set up. Every later version reaches production only through a model
    /// release (`careflow release start`: validation, ethics sign-off, shadow, the
    /// owner's signed promotion).
    Install {
        /// Model name.
        name: String,
        /// Model version.
        version: String,
        /// The administrator who installs it; they enter their password.
        #[arg(long)]
        by: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Read the administrator's password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List registered models as JSON lines.
    List {
        /// Only this model name.
        name: Option<String>,
    },
}

/// Runs one forecasting command against the domain database at `database_url` (the
/// registry), computing forecasts on a blocking thread.
pub async fn run(
    cmd: ForecastCommand,
    database_url: &str,
    runtime: RuntimeOptions,
) -> anyhow::Result<()> {
    match cmd {
        ForecastCommand::Register {
            dir,
            by,
            password_stdin,
        } => {
            let facts = model_facts(&dir)?;
            let password =
                PasswordSource::new(password_stdin).read(&format!("password of {by}"))?;
            let db = Db::connect(database_url).await?;
            users::confirm_admin(&db, &by, &password, "change the model registry").await?;
            let e = registry::register(&db, &facts, &by).await?;
            println!("{}", serde_json::to_string(&e)?);
            Ok(())
        }
        ForecastCommand::Install {
            name,
            version,
            by,
            reason,
            password_stdin,
        } => {
            let password =
                PasswordSource::new(password_stdin).read(&format!("password of {by}"))?;
            let db = Db::connect(database_url).await?;
            users::confirm_admin(&db, &by, &password, "install a production model").await?;
            let e = registry::install(&db, &name, &version, &by, &reason).await?;
            println!("{}", serde_json::to_string(&e)?);
            Ok(())
        }
        ForecastCommand::List { name } => {
            let db = Db::connect(database_url).await?;
            for e in registry::list(&db, name.as_deref()).await? {
                println!("{}", serde_json::to_string(&e)?);
            }
            Ok(())
        }
        other => {
            // The model is chosen (and, from the registry, hash-checked) first; the
            // forecasts then run on a blocking thread.
            let bundle = match &other {
                ForecastCommand::Backtest { model, .. }
                | ForecastCommand::Predict { model, .. } => {
                    model_bundle(model, database_url).await?
                }
                _ => unreachable!("registry commands are handled above"),
            };
            tokio::task::spawn_blocking(move || compute(other, bundle, runtime)).await?
        }
    }
}

/// What the registry records of the model in `dir`: its card's name and version, the
/// card, and the sha256 computed from the file (which must equal the card's).
pub fn model_facts(dir: &Path) -> anyhow::Result<ModelFacts> {
    let bundle = ModelBundle::open(dir)?;
    Ok(ModelFacts {
        name: bundle.header.name.clone(),
        version: bundle.header.version.clone(),
        sha256: sha256_file(&bundle.onnx_path)?,
        card_json: bundle.card_json,
    })
}

/// Backtest or predict with the model in `bundle`.
fn compute(
    cmd: ForecastCommand,
    bundle: ModelBundle,
    runtime: RuntimeOptions,
) -> anyhow::Result<()> {
    match cmd {
        ForecastCommand::Backtest {
            model,
            data,
            start,
            horizon,
            step,
            out,
        } => {
            if step == 0 || horizon == 0 {
                bail!("--step and --horizon must be positive");
            }
            let start = parse_hour(&start).context("--start")?;
            let series = HourlySeries::read_csv(&data)?;
            let forecaster = load_ed(&model, &bundle, &runtime)?;
            let mut requests = Vec::new();
            let mut origin = start;
            while origin < series.end() {
                requests.push(EdArrivalsRequest { origin, horizon });
                origin += TimeDelta::hours(step as i64);
            }
            if requests.is_empty() {
                bail!(
                    "{}: --start {} is after the last row",
                    data.display(),
                    start.format(HOUR_FORMAT)
                );
            }
            check_history(&series, start)?;
            // Each forecast sees only the rows before its origin (1.2.0 corrects its level
            // with the last 28 days; calendar-only models ignore the history).
            let with_history: Vec<EdArrivalsHistoryRequest> = requests
                .iter()
                .map(|r| EdArrivalsHistoryRequest {
                    request: *r,
                    history: series.before(r.origin).unwrap_or(&[]),
                })
                .collect();
            // One batch: every origin in calls sized for the device (a GPU under `auto`
            // once the batch reaches the threshold).
            let forecasts = forecaster.forecast_batch(&with_history)?;
            write_csv(&out, &requests, &forecasts)?;
            let ran = forecasts.first().map(|f| &f.metadata);
            eprintln!(
                "backtest: {} origins, model {} {} ({}{}), wrote {}",
                requests.len(),
                forecaster.metadata().model_name,
                forecaster.metadata().model_version,
                ran.map_or("", |m| m.execution_provider.as_str()),
                device_note(ran),
                out.display()
            );
            print_scores(&series, &forecasts);
            Ok(())
        }
        ForecastCommand::Predict {
            model,
            data,
            origin,
            horizon,
            out,
        } => {
            if horizon == 0 {
                bail!("--horizon must be positive");
            }
            let origin = parse_hour(&origin).context("--origin")?;
            let series = HourlySeries::read_csv(&data)?;
            check_history(&series, origin)?;
            let forecaster = load_ed(&model, &bundle, &runtime)?;
            let req = EdArrivalsRequest { origin, horizon };
            let f = forecaster.forecast_with_history(&req, series.before(origin).unwrap_or(&[]))?;
            match out {
                Some(p) => write_csv(&p, &[req], std::slice::from_ref(&f))?,
                None => {
                    let mut s = String::new();
                    csv_text(&mut s, &[req], std::slice::from_ref(&f));
                    std::io::stdout().write_all(s.as_bytes())?;
                }
            }
            eprintln!(
                "predict: model {} {} sha256 {} on {}{}",
                f.metadata.model_name,
                f.metadata.model_version,
                f.metadata.model_sha256,
                f.metadata.execution_provider,
                device_note(Some(&f.metadata))
            );
            Ok(())
        }
        ForecastCommand::Register { .. }
        | ForecastCommand::Install { .. }
        | ForecastCommand::List { .. } => unreachable!("registry commands do not compute"),
    }
}

/// `; why` when `auto` chose the provider.
fn device_note(metadata: Option<&careflow_forecasters::ForecastMetadata>) -> String {
    metadata
        .and_then(|m| m.device_note.as_deref())
        .map(|n| format!("; {n}"))
        .unwrap_or_default()
}

/// The model `args` names: a model directory, the registry's production version of a
/// name (hash-checked), or the newest committed version of a name.
async fn model_bundle(args: &ModelArgs, database_url: &str) -> anyhow::Result<ModelBundle> {
    let dir = Path::new(&args.model);
    if dir.join("card.json").is_file() {
        return Ok(ModelBundle::open(dir)?);
    }
    if args.registry {
        let db = Db::connect(database_url).await?;
        let e = registry::production(&db, &args.model).await.map_err(|e| {
            anyhow::anyhow!("no production model {:?} in the registry ({e})", args.model)
        })?;
        let dir = models_dir()?.join(&e.name).join(&e.version);
        return Ok(open_verified(&dir, &e.name, &e.version, &e.sha256)?);
    }
    Ok(ModelBundle::open(&latest_version_dir(
        &models_dir()?,
        &args.model,
    )?)?)
}

fn load_ed(
    args: &ModelArgs,
    bundle: &ModelBundle,
    runtime: &RuntimeOptions,
) -> anyhow::Result<EdArrivals> {
    let device = match &args.provider {
        Some(p) => p.parse().context("--provider")?,
        None => runtime.device,
    };
    let opts = RuntimeOptions {
        intra_threads: args.threads,
        device,
        ..runtime.clone()
    };
    if bundle.header.name != MODEL_NAME {
        bail!(
            "model {:?}: backtest and predict support only {MODEL_NAME}",
            bundle.header.name
        );
    }
    Ok(EdArrivals::from_bundle(bundle, &opts)?)
}

/// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH` and `YYYY-MM-DDTHH:MM[:SS]` on the hour.
pub fn parse_hour(s: &str) -> anyhow::Result<NaiveDateTime> {
    let ts = if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).expect("midnight")
    } else if let Ok(t) = NaiveDateTime::parse_from_str(&format!("{s}:00"), "%Y-%m-%dT%H:%M") {
        t
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        t
    } else {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .with_context(|| format!("{s:?} is not YYYY-MM-DD or YYYY-MM-DDTHH"))?
    };
    if ts.and_utc().timestamp() % 3600 != 0 {
        bail!("{s:?} is not on the hour");
    }
    Ok(ts)
}

fn check_history(series: &HourlySeries, origin: NaiveDateTime) -> anyhow::Result<()> {
    if origin <= series.start {
        bail!(
            "{}: origin {} has no data before it (file starts at {})",
            series.path.display(),
            origin.format(HOUR_FORMAT),
            series.start.format(HOUR_FORMAT)
        );
    }
    if origin > series.end() {
        bail!(
            "{}: origin {} is after the hour following the last row ({}); the history must reach the origin",
            series.path.display(),
            origin.format(HOUR_FORMAT),
            series.end().format(HOUR_FORMAT)
        );
    }
    Ok(())
}

fn csv_text(s: &mut String, requests: &[EdArrivalsRequest], forecasts: &[Forecast]) {
    s.push_str("origin,target,p10,p50,p90\n");
    for (r, f) in requests.iter().zip(forecasts) {
        for row in &f.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{}",
                r.origin.format(HOUR_FORMAT),
                row.key,
                row.quantiles[0],
                row.quantiles[1],
                row.quantiles[2]
            );
        }
    }
}

fn write_csv(
    path: &Path,
    requests: &[EdArrivalsRequest],
    forecasts: &[Forecast],
) -> anyhow::Result<()> {
    let mut s = String::new();
    csv_text(&mut s, requests, forecasts);
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

fn print_scores(series: &HourlySeries, forecasts: &[Forecast]) {
    match score(series, forecasts) {
        Some(s) => println!(
            "n={} MAE={:.4} pinball={:.4} coverage_10_90={:.4}",
            s.n, s.mae, s.pinball, s.coverage
        ),
        None => eprintln!("backtest: no truth in the file for the forecast hours; no scores"),
    }
}
