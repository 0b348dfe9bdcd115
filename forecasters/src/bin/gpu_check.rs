//! The device check behind `scripts/gpu-check`: the CPU and CUDA execution providers
//! on the same batches of ed-arrivals forecasts (default 1, 10, 100, 1k, 10k and 100k
//! series x 168 h, the 1.2.0 model with its 28 day rows, features included), their
//! outputs compared (within 1e-5), throughput and p50/p99 latency per size, the
//! CUDA/CPU ratio, and the GPU threshold `--forecast-device auto` should use.
//!
//! Two measurements per size and provider:
//! - *forecast*: `forecast_batch` end to end (features, ONNX Runtime in calls sized for
//!   the provider, level correction, quantiles): what careflow's callers see;
//! - *onnx*: ONNX Runtime alone on a prebuilt feature matrix, inputs and outputs
//!   included (host to device and back for CUDA), in the calls the plan uses.
//!
//! `--cpu-only` runs the CPU half (any machine). Exit status: 0 when the check ran (and
//! outputs agreed), 1 when outputs differ, 2 when CUDA could not be used (the reason is
//! printed). Usage: `gpu-check [--cpu-only] [--sizes 100,1000] [--cpu-threads N]
//! [--batch-threads N] [--budget-s S] [--model DIR]`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use careflow_forecasters::ed_arrivals::{
    self, EdArrivals, EdArrivalsHistoryRequest, EdArrivalsRequest,
};
use careflow_forecasters::runtime::{self, OnnxModel};
use careflow_forecasters::{Device, Forecast, Forecaster, RuntimeOptions};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

const HORIZON: usize = 168;
/// Outputs agree when |cpu - cuda| <= TOLERANCE * max(1, |cpu|).
const TOLERANCE: f64 = 1e-5;

struct Args {
    cpu_only: bool,
    sizes: Vec<usize>,
    cpu_threads: usize,
    batch_threads: usize,
    budget: Duration,
    model: Option<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        cpu_only: false,
        sizes: vec![1, 10, 100, 1_000, 10_000, 100_000],
        cpu_threads: 1,
        batch_threads: 1,
        budget: Duration::from_secs(420),
        model: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--cpu-only" => a.cpu_only = true,
            "--sizes" => {
                a.sizes = value("--sizes")?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .context("--sizes: numbers, comma-separated")
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            "--cpu-threads" => a.cpu_threads = value("--cpu-threads")?.parse()?,
            "--batch-threads" => a.batch_threads = value("--batch-threads")?.parse()?,
            "--budget-s" => a.budget = Duration::from_secs(value("--budget-s")?.parse()?),
            "--model" => a.model = Some(PathBuf::from(value("--model")?)),
            other => bail!("unknown argument {other:?} (see the header of scripts/gpu-check)"),
        }
    }
    if a.sizes.is_empty() || a.sizes.contains(&0) {
        bail!("--sizes must be positive");
    }
    Ok(a)
}

/// Hourly counts with a daily shape and a fixed pseudo-random part: the history every
/// forecast corrects its level with (no data file needs to travel to the device).
fn synthetic_history(hours: usize) -> Vec<f64> {
    let mut state: u64 = 2026;
    (0..hours)
        .map(|h| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let daily = [
                3, 2, 2, 2, 2, 3, 5, 7, 9, 10, 11, 11, 11, 11, 10, 10, 10, 10, 10, 9, 8, 7, 5, 4,
            ];
            (daily[h % 24] + ((state >> 33) % 5) as usize) as f64
        })
        .collect()
}

/// `n` week-long requests from distinct hourly origins (cycling through two years).
fn requests<'h>(
    start: NaiveDateTime,
    history: &'h [f64],
    n: usize,
) -> Vec<EdArrivalsHistoryRequest<'h>> {
    let first = 29 * 24;
    let span = history.len() - first;
    (0..n)
        .map(|i| {
            let at = first + (i * 7919) % span;
            EdArrivalsHistoryRequest {
                request: EdArrivalsRequest {
                    origin: start + TimeDelta::hours(at as i64),
                    horizon: HORIZON,
                },
                history: &history[..at],
            }
        })
        .collect()
}

#[derive(Default, Clone)]
struct Timing {
    reps: usize,
    p50: f64,
    p99: f64,
}

fn percentiles(mut t: Vec<f64>) -> Timing {
    t.sort_by(f64::total_cmp);
    let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    Timing {
        reps: t.len(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// Reps for a size: many for small batches, at least 2 for big ones, within `budget`.
fn reps_for(n: usize) -> usize {
    match n {
        0..=10 => 200,
        11..=100 => 50,
        101..=1_000 => 20,
        1_001..=10_000 => 5,
        _ => 3,
    }
}

/// Times `f` (after one warm-up call) for up to `reps` runs or until `until`.
fn time_reps(
    reps: usize,
    until: Instant,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Timing> {
    f()?;
    let mut t = Vec::new();
    while t.len() < reps && (t.len() < 2 || Instant::now() < until) {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    Ok(percentiles(t))
}

/// Row-major features of `requests` as the model's calls see them (hour rows, then
/// the 28 day rows of each series), from the crate's public feature functions.
fn feature_matrix(
    model: &EdArrivals,
    requests: &[EdArrivalsHistoryRequest],
    max_rows: usize,
) -> (Vec<f32>, usize) {
    let f = model.n_features();
    let mut m = Vec::new();
    let mut rows = 0;
    'outer: for r in requests {
        for h in 0..r.request.horizon {
            if rows == max_rows {
                break 'outer;
            }
            let at = m.len();
            m.resize(at + f, 0.0);
            ed_arrivals::features(r.request.origin + TimeDelta::hours(h as i64), &mut m[at..]);
            rows += 1;
        }
        if model.needs_history() {
            for d in 0..ed_arrivals::HISTORY_DAYS {
                if rows == max_rows {
                    break 'outer;
                }
                let at = m.len();
                m.resize(at + f, 0.0);
                let day = r.request.origin.date()
                    - TimeDelta::days((ed_arrivals::HISTORY_DAYS - d) as i64);
                ed_arrivals::day_row_features(day, &mut m[at..]);
                rows += 1;
            }
        }
    }
    (m, rows)
}

struct Agreement {
    max_abs: f64,
    max_rel: f64,
    quantiles_differing: usize,
}

fn compare(cpu: &[Forecast], cuda: &[Forecast]) -> Agreement {
    let mut a = Agreement {
        max_abs: 0.0,
        max_rel: 0.0,
        quantiles_differing: 0,
    };
    for (x, y) in cpu.iter().zip(cuda) {
        for (r, s) in x.rows.iter().zip(&y.rows) {
            let d = (r.mean - s.mean).abs();
            a.max_abs = a.max_abs.max(d);
            a.max_rel = a.max_rel.max(d / r.mean.abs().max(1.0));
            a.quantiles_differing += usize::from(r.quantiles != s.quantiles);
        }
    }
    a
}

fn compare_raw(cpu: &[f32], cuda: &[f32]) -> (f64, f64) {
    cpu.iter()
        .zip(cuda)
        .fold((0.0f64, 0.0f64), |(abs, rel), (&x, &y)| {
            let d = (x as f64 - y as f64).abs();
            (abs.max(d), rel.max(d / (x as f64).abs().max(1.0)))
        })
}

struct Row {
    size: usize,
    rows: usize,
    forecast: [Timing; 2],
    onnx: [Timing; 2],
    onnx_rows: usize,
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let began = Instant::now();
    let until = began + a.budget;
    let device = if a.cpu_only {
        Device::Cpu
    } else {
        Device::Cuda { device_id: 0 }
    };
    let lib = runtime::init_for(device)?;
    println!("ONNX Runtime: {}", lib.display());
    println!(
        "machine: {} cores; CPU provider with {} intra-op thread(s); batches over {} thread(s) (--forecast-threads)",
        std::thread::available_parallelism()?.get(),
        a.cpu_threads,
        a.batch_threads
    );
    let dir = match &a.model {
        Some(d) => d.clone(),
        None => careflow_forecasters::bundle::latest_version_dir(
            &careflow_forecasters::bundle::models_dir()?,
            ed_arrivals::MODEL_NAME,
        )?,
    };
    let cpu_opts = RuntimeOptions {
        intra_threads: a.cpu_threads,
        batch_threads: a.batch_threads,
        ..RuntimeOptions::on(Device::Cpu)
    };
    let cuda_opts = RuntimeOptions {
        batch_threads: a.batch_threads,
        ..RuntimeOptions::on(device)
    };
    let cpu = EdArrivals::load(&dir, &cpu_opts)?;
    println!(
        "model: {} {} ({} features{})",
        cpu.metadata().model_name,
        cpu.metadata().model_version,
        cpu.n_features(),
        if cpu.needs_history() {
            ", 28 day rows per series"
        } else {
            ""
        }
    );
    let cuda = if a.cpu_only {
        println!("CUDA: not asked (--cpu-only)");
        None
    } else {
        match EdArrivals::load(&dir, &cuda_opts) {
            Ok(m) => Some(m),
            Err(e) => {
                println!("CUDA: cannot be used: {e}");
                std::process::exit(2);
            }
        }
    };
    let cpu_onnx = OnnxModel::load(&dir.join("model.onnx"), &cpu_opts)?;
    let cuda_onnx = match &cuda {
        Some(_) => Some(OnnxModel::load(&dir.join("model.onnx"), &cuda_opts)?),
        None => None,
    };
    let per_series = HORIZON
        + if cpu.needs_history() {
            ed_arrivals::HISTORY_DAYS
        } else {
            0
        };
    let start = NaiveDate::from_ymd_opt(2015, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    let history = synthetic_history(2 * 365 * 24);
    let max_size = *a.sizes.iter().max().expect("sizes");
    let all = requests(start, &history, max_size);
    // One feature matrix, as large as one CUDA call (bounded memory), reused by every size.
    let chunk = cuda_onnx
        .as_ref()
        .map(|m| m.plan(usize::MAX).chunk_rows)
        .unwrap_or(runtime::CUDA_MAX_CHUNK_ROWS);
    let (matrix, matrix_rows) = feature_matrix(&cpu, &all, chunk.min(max_size * per_series));
    let mut ok = true;
    let mut table = Vec::new();
    for &n in &a.sizes {
        let reqs = &all[..n];
        let rows = n * per_series;
        let reps = reps_for(n);
        let mut row = Row {
            size: n,
            rows,
            forecast: Default::default(),
            onnx: Default::default(),
            onnx_rows: rows.min(matrix_rows),
        };
        let mut outputs: Vec<Vec<Forecast>> = Vec::new();
        let mut raw: Vec<Vec<f32>> = Vec::new();
        let models: Vec<(&EdArrivals, &OnnxModel)> = std::iter::once((&cpu, &cpu_onnx))
            .chain(cuda.as_ref().zip(cuda_onnx.as_ref()))
            .collect();
        for (i, (model, onnx)) in models.into_iter().enumerate() {
            let first = model.forecast_batch(reqs)?;
            let ran = &first[0].metadata.execution_provider;
            let want = if i == 0 {
                "CPUExecutionProvider"
            } else {
                "CUDAExecutionProvider"
            };
            if ran != want {
                bail!("size {n}: the forecasts ran on {ran}, not {want}");
            }
            outputs.push(first);
            row.forecast[i] = time_reps(reps, until, || {
                model.forecast_batch(reqs)?;
                Ok(())
            })?;
            // ONNX Runtime alone: this size's rows as the plan's calls, on the prebuilt matrix.
            let f = onnx.n_features();
            let plan = onnx.plan(rows);
            let part = &matrix[..row.onnx_rows * f];
            raw.push(onnx.run(part, row.onnx_rows)?);
            row.onnx[i] = time_reps(reps, until, || {
                let mut left = rows;
                while left > 0 {
                    let take = left.min(plan.chunk_rows).min(row.onnx_rows);
                    onnx.run(&part[..take * f], take)?;
                    left -= take;
                }
                Ok(())
            })?;
        }
        if outputs.len() == 2 {
            let agree = compare(&outputs[0], &outputs[1]);
            let (raw_abs, raw_rel) = compare_raw(&raw[0], &raw[1]);
            let pass = agree.max_rel <= TOLERANCE && raw_rel <= TOLERANCE;
            ok &= pass;
            println!(
                "size {n}: CPU vs CUDA: forecast rates max |diff| {:.2e} (rel {:.2e}), onnx outputs max |diff| {raw_abs:.2e} (rel {raw_rel:.2e}), {} of {} hourly quantile triples differ: {}",
                agree.max_abs,
                agree.max_rel,
                agree.quantiles_differing,
                n * HORIZON,
                if pass { "agree within 1e-5" } else { "DIFFER beyond 1e-5" }
            );
        }
        eprintln!(
            "gpu-check: size {n} done at {:.0} s",
            began.elapsed().as_secs_f64()
        );
        table.push(row);
    }

    println!();
    println!("| series x 168 h | rows | provider | reps | forecast p50 ms | forecast p99 ms | forecast series/s | onnx p50 ms | onnx M rows/s | CUDA/CPU forecast | CUDA/CPU onnx |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let names = ["CPU", "CUDA"];
    for r in &table {
        let providers = if cuda.is_some() { 2 } else { 1 };
        for (i, name) in names.iter().enumerate().take(providers) {
            let (f, o) = (&r.forecast[i], &r.onnx[i]);
            let ratio = |t: &[Timing; 2]| {
                if i == 1 && t[1].p50 > 0.0 {
                    format!("{:.2}x", t[0].p50 / t[1].p50)
                } else {
                    String::new()
                }
            };
            println!(
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.3} | {:.2} | {} | {} |",
                r.size,
                r.rows,
                name,
                f.reps,
                f.p50 * 1e3,
                f.p99 * 1e3,
                r.size as f64 / f.p50,
                o.p50 * 1e3,
                r.rows as f64 / o.p50 / 1e6,
                ratio(&r.forecast),
                ratio(&r.onnx)
            );
        }
    }
    println!();
    if cuda.is_some() {
        // Smallest measured size from which CUDA is faster end to end at every larger size.
        let threshold = (0..table.len())
            .find(|&k| {
                table[k..]
                    .iter()
                    .all(|r| r.forecast[1].p50 < r.forecast[0].p50)
            })
            .map(|k| table[k].rows);
        match threshold {
            Some(rows) => println!(
                "auto threshold: CUDA was faster from {rows} rows per call on; set it with\n  careflow --forecast-device auto --forecast-gpu-min-rows {rows} ...   (or CAREFLOW_FORECAST_GPU_MIN_ROWS={rows})"
            ),
            None => println!(
                "auto threshold: CUDA was never faster end to end here; keep --forecast-device cpu (or auto with --forecast-gpu-min-rows above {})",
                table.last().map_or(0, |r| r.rows)
            ),
        }
        println!(
            "outputs: {}",
            if ok {
                "CPU and CUDA agree within 1e-5 at every size"
            } else {
                "CPU and CUDA DIFFER beyond 1e-5"
            }
        );
    } else {
        let one = table.iter().find(|r| r.size == 1);
        if let Some(r) = one {
            println!(
                "CPU: one forecast ({} h + features + correction + quantiles) p50 {:.1} us",
                HORIZON,
                r.forecast[0].p50 * 1e6
            );
        }
        println!(
            "CUDA: not measured (--cpu-only); {}",
            runtime::cuda_obstacles(0).join("; ")
        );
    }
    println!("gpu-check: {:.0} s", began.elapsed().as_secs_f64());
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
