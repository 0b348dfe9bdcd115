//! Runs a benchmark family and prints one row per instance.
//!
//! Run with `cargo run --release -p solvers --bin bench -- ihtc ../shared/benchmarks/ihtc2024 --time-limit 60`
//! (or `-- nrp ../shared/benchmarks/nrp-curtois --time-limit 300`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use careflow_solvers::ihtc;
use careflow_solvers::solve::{ignore_progress, SolveOptions};

#[derive(Debug, Parser)]
#[command(about = "Benchmark careflow's solvers on a folder of instances")]
struct Args {
    /// `ihtc` or `nrp`.
    family: String,
    /// The benchmark folder.
    dir: PathBuf,
    /// Seconds per instance.
    #[arg(long, default_value_t = 60.0)]
    time_limit: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only instances whose name contains one of these (comma-separated).
    #[arg(long)]
    only: Option<String>,
    /// Print each cost term next to the reference solution's (stderr).
    #[arg(long)]
    compare: bool,
    /// Write each solution into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.family.as_str() {
        "ihtc" => bench_ihtc(&args),
        "nrp" => {
            // Exact instance names here: `Instance1` must not also pick Instance10-12.
            let only: Vec<String> = args
                .only
                .as_deref()
                .map(|s| s.split(',').map(|n| n.trim().to_string()).collect())
                .unwrap_or_default();
            careflow_solvers::nrp::bench(&args.dir, args.time_limit, args.seed, &only)
        }
        other => anyhow::bail!("unknown family `{other}` (expected ihtc or nrp)"),
    }
}

/// `reference/costs.csv`: instance -> total cost of the reference solution.
fn reference_costs(dir: &Path) -> HashMap<String, u64> {
    let Ok(text) = std::fs::read_to_string(dir.join("reference/costs.csv")) else {
        return HashMap::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.first()?.to_string(), f.get(2)?.trim().parse().ok()?))
        })
        .collect()
}

fn bench_ihtc(args: &Args) -> anyhow::Result<()> {
    let refs = reference_costs(&args.dir);
    let inst_dir = args.dir.join("instances");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&inst_dir)
        .with_context(|| format!("reading {}", inst_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let filters: Vec<&str> = args
        .only
        .as_deref()
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out)?;
    }
    println!(
        "| instance | status | hard | cost | reference | ratio | time (s) |\n|---|---|---:|---:|---:|---:|---:|"
    );
    let mut ratios = Vec::new();
    let mut feasible = 0;
    let mut total = 0;
    for file in files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f)) {
            continue;
        }
        let instance = ihtc::Instance::from_file(&file)?;
        let opts = SolveOptions {
            time_limit: Duration::from_secs_f64(args.time_limit),
            seed: args.seed,
            ..SolveOptions::default()
        };
        let started = Instant::now();
        let outcome = ihtc::solve(&instance, &opts, None, &mut ignore_progress)?;
        let secs = started.elapsed().as_secs_f64();
        let e = &outcome.evaluation;
        total += 1;
        let reference = refs.get(&name).copied();
        let ratio = reference
            .filter(|_| e.is_feasible())
            .map(|r| e.total_cost as f64 / r.max(1) as f64);
        if e.is_feasible() {
            feasible += 1;
        }
        if let Some(r) = ratio {
            ratios.push(r);
        }
        println!(
            "| {name} | {:?} | {} | {} | {} | {} | {secs:.1} |",
            outcome.status,
            e.hard.total(),
            e.total_cost,
            reference.map_or("-".into(), |r| r.to_string()),
            ratio.map_or("-".into(), |r| format!("{r:.3}")),
        );
        let ref_sol = args.dir.join(format!("reference/sol_{name}.json"));
        if args.compare {
            eprintln!(
                "{name}: {} moves, last MIP gap {:?}",
                outcome.moves, outcome.mip_gap
            );
        }
        if args.compare && ref_sol.is_file() {
            let r = ihtc::evaluate(&instance, &ihtc::Solution::from_file(&ref_sol)?)?;
            for ((term, ours), (_, theirs)) in e.costs.terms().iter().zip(r.costs.terms()) {
                eprintln!("{name}: {term:<26} ours {ours:>8} reference {theirs:>8}");
            }
        }
        for (term, v) in e.hard.terms() {
            if v > 0 {
                eprintln!("{name}: hard violation {term} = {v}");
            }
        }
        if let Some(out) = &args.out {
            std::fs::write(
                out.join(format!("sol_{name}.json")),
                outcome.solution.to_json(),
            )?;
        }
    }
    let mean = if ratios.is_empty() {
        f64::NAN
    } else {
        ratios.iter().sum::<f64>() / ratios.len() as f64
    };
    println!("\nfeasible: {feasible}/{total}; mean cost/reference over feasible: {mean:.3}");
    Ok(())
}
