//! `careflow forecast ...`: backtests and one-off predictions of the ED
//! arrivals model from a CSV, and model-registry commands. Data goes to
//! stdout (or `--out`), progress and errors to stderr.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use crate::bundle::{latest_version_dir, models_dir, ModelBundle};
use crate::data::HourlySeries;
use crate::ed_arrivals::{EdArrivals, EdArrivalsRequest, HOUR_FORMAT, LEVELS, MODEL_NAME};
use crate::quantile::pinball;
use crate::registry::{Registry, Status};
use crate::runtime::{Provider, RuntimeOptions};
use crate::{Forecast, Forecaster};

/// Where the model comes from and how it runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Model: a model directory (with model.onnx and card.json) or a model name
    /// (newest committed version under forecasters/models, or the registry's
    /// production version with --registry).
    #[arg(long, default_value = MODEL_NAME)]
    pub model: String,
    /// Database URL of the model registry (sqlite://... or postgres://...).
    #[arg(long)]
    pub registry: Option<String>,
    /// Execution provider: cpu, or cuda[:device] (needs the `cuda` build feature).
    #[arg(long, default_value = "cpu")]
    pub provider: String,
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
        /// Registry database URL (`careflow forecast` fills in careflow's domain
        /// database when this is left out).
        #[arg(long, default_value = "")]
        registry: String,
    },
    /// Change a registered model's status (production retires the previous one).
    Promote {
        /// Model name.
        name: String,
        /// Model version.
        version: String,
        /// New status: candidate, shadow, production or retired.
        #[arg(long, default_value = "production")]
        status: String,
        /// Who approves the change.
        #[arg(long)]
        by: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Registry database URL (`careflow forecast` fills in careflow's domain
        /// database when this is left out).
        #[arg(long, default_value = "")]
        registry: String,
    },
    /// List registered models as JSON lines.
    List {
        /// Only this model name.
        name: Option<String>,
        /// Registry database URL (`careflow forecast` fills in careflow's domain
        /// database when this is left out).
        #[arg(long, default_value = "")]
        registry: String,
    },
}

/// Runs one forecasting command.
pub fn run(cmd: ForecastCommand) -> anyhow::Result<()> {
    if let ForecastCommand::Register { registry, .. }
    | ForecastCommand::Promote { registry, .. }
    | ForecastCommand::List { registry, .. } = &cmd
    {
        anyhow::ensure!(!registry.is_empty(), "--registry URL is required");
    }
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
            let forecaster = load_ed(&model)?;
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
            let forecasts = forecaster.forecast_batch(&requests)?;
            write_csv(&out, &requests, &forecasts)?;
            eprintln!(
                "backtest: {} origins, model {} {} ({}), wrote {}",
                requests.len(),
                forecaster.metadata().model_name,
                forecaster.metadata().model_version,
                forecaster.metadata().execution_provider,
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
            let forecaster = load_ed(&model)?;
            let req = EdArrivalsRequest { origin, horizon };
            let f = forecaster.forecast(&req)?;
            match out {
                Some(p) => write_csv(&p, &[req], std::slice::from_ref(&f))?,
                None => {
                    let mut s = String::new();
                    csv_text(&mut s, &[req], std::slice::from_ref(&f));
                    std::io::stdout().write_all(s.as_bytes())?;
                }
            }
            eprintln!(
                "predict: model {} {} sha256 {} on {}",
                f.metadata.model_name,
                f.metadata.model_version,
                f.metadata.model_sha256,
                f.metadata.execution_provider
            );
            Ok(())
        }
        ForecastCommand::Register { dir, registry } => block_on(async move {
            let e = Registry::connect(&registry).await?.register(&dir).await?;
            println!("{}", serde_json::to_string(&e)?);
            Ok(())
        }),
        ForecastCommand::Promote {
            name,
            version,
            status,
            by,
            reason,
            registry,
        } => {
            let status: Status = status.parse()?;
            block_on(async move {
                let e = Registry::connect(&registry)
                    .await?
                    .promote(&name, &version, status, &by, &reason)
                    .await?;
                println!("{}", serde_json::to_string(&e)?);
                Ok(())
            })
        }
        ForecastCommand::List { name, registry } => block_on(async move {
            for e in Registry::connect(&registry)
                .await?
                .list(name.as_deref())
                .await?
            {
                println!("{}", serde_json::to_string(&e)?);
            }
            Ok(())
        }),
    }
}

/// Runs registry futures on a thread of their own, so `run` works both from
/// plain `main` and from inside the caller's tokio runtime.
fn block_on<F>(fut: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fut)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("registry thread panicked"))?
}

fn parse_provider(s: &str) -> anyhow::Result<Provider> {
    match s.split_once(':') {
        None if s == "cpu" => Ok(Provider::Cpu),
        None if s == "cuda" => Ok(Provider::Cuda { device_id: 0 }),
        Some(("cuda", d)) => Ok(Provider::Cuda {
            device_id: d.parse().context("cuda device id")?,
        }),
        _ => bail!("--provider {s:?}: expected cpu, cuda or cuda:N"),
    }
}

fn load_ed(args: &ModelArgs) -> anyhow::Result<EdArrivals> {
    let opts = RuntimeOptions {
        intra_threads: args.threads,
        provider: parse_provider(&args.provider)?,
    };
    let dir = Path::new(&args.model);
    let bundle = if dir.join("card.json").is_file() {
        ModelBundle::open(dir)?
    } else if let Some(url) = &args.registry {
        let (url, name) = (url.clone(), args.model.clone());
        let models = models_dir()?;
        std::thread::spawn(move || -> anyhow::Result<ModelBundle> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(async {
                Registry::connect(&url)
                    .await?
                    .load_production(&name, &models)
                    .await
            })?)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("registry thread panicked"))??
    } else {
        ModelBundle::open(&latest_version_dir(&models_dir()?, &args.model)?)?
    };
    if bundle.header.name != MODEL_NAME {
        bail!(
            "model {:?}: backtest and predict support only {MODEL_NAME}",
            bundle.header.name
        );
    }
    Ok(EdArrivals::from_bundle(&bundle, &opts)?)
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

/// MAE of p50, mean pinball over the three levels and 10-90% coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Forecast rows with a truth value.
    pub n: usize,
    /// Mean absolute error of the median.
    pub mae: f64,
    /// Mean pinball loss averaged over p10/p50/p90.
    pub pinball: f64,
    /// Share of truths inside [p10, p90].
    pub coverage: f64,
}

/// Scores `forecasts` (keys `YYYY-MM-DDTHH`) against `truth`; `None` when no truth is known.
pub fn score(truth: &HourlySeries, forecasts: &[Forecast]) -> Option<Scores> {
    let (mut n, mut mae, mut pin, mut cov) = (0usize, 0.0, 0.0, 0usize);
    for row in forecasts.iter().flat_map(|f| &f.rows) {
        let Ok(ts) = NaiveDateTime::parse_from_str(&format!("{}:00", row.key), "%Y-%m-%dT%H:%M")
        else {
            continue;
        };
        let Some(y) = truth.get(ts) else { continue };
        let q = &row.quantiles;
        n += 1;
        mae += (y - q[1]).abs();
        pin += LEVELS
            .iter()
            .zip(q)
            .map(|(&l, &v)| pinball(y, v, l))
            .sum::<f64>()
            / LEVELS.len() as f64;
        cov += usize::from(y >= q[0] && y <= q[2]);
    }
    (n > 0).then(|| Scores {
        n,
        mae: mae / n as f64,
        pinball: pin / n as f64,
        coverage: cov as f64 / n as f64,
    })
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
