//! Runs a benchmark family and prints one row per instance.
//!
//! Run with `cargo run --release -p solvers --bin bench -- ihtc ../shared/benchmarks/ihtc2024 --time-limit 60`
//! (or `-- nrp ../shared/benchmarks/nrp-curtois --time-limit 300`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use careflow_solvers::ihtc;
use careflow_solvers::solve::{ignore_progress, machine_threads, SolveOptions};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "\
Benchmark careflow's solvers on a folder of instances

Usage: bench <FAMILY> <DIR> [--time-limit S] [--seed N] [--threads N] [--only A,B] [--compare] [--out DIR]
       bench nrp-gen <DIR> --sizes NxDxS,... [--time-limit S] [--seed N] [--threads N]
       bench nrp-planted <DIR> --sizes NxDxS,... [--time-limit S] [--seed N] [--threads N]

Arguments:
  <FAMILY>          `ihtc`, `nrp`, `nrp-gen` (generated nurse-rostering instances of
                    the Curtois & Qu family, written to <DIR> and solved) or
                    `nrp-planted` (the same with a known optimum, cost / optimum shown)
  <DIR>             the benchmark folder (nrp-gen: where the generated instances go)

Options:
  --time-limit S    seconds per instance [default: 60]
  --seed N          seed of every random choice [default: 0]
  --only A,B        only instances whose name contains one of these (nrp: exact names)
  --compare         print each cost term next to the reference solution's (stderr)
  --out DIR         write each solution into this folder
  --threads N       nrp*: subproblems solved at once [default: the machine's cores]
  --sizes LIST      nrp-gen, nrp-planted: nurses x days x shift types (generator seed 1), or
                    NxDxS-SEED, comma separated, e.g. 33x42x4,23x84x3,51x364x10
";

#[derive(Debug)]
struct Args {
    family: String,
    dir: PathBuf,
    time_limit: f64,
    seed: u64,
    only: Option<String>,
    compare: bool,
    out: Option<PathBuf>,
    sizes: Option<String>,
    threads: u32,
}

impl Args {
    /// Reads the arguments after the program name; `--flag value` and `--flag=value` both
    /// work. `None` asks for the help text.
    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut positional = Vec::new();
        let mut args = Args {
            family: String::new(),
            dir: PathBuf::new(),
            time_limit: 60.0,
            seed: 0,
            only: None,
            compare: false,
            out: None,
            sizes: None,
            threads: machine_threads(),
        };
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| argv.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--time-limit" => {
                    let v = value("--time-limit")?;
                    args.time_limit = v
                        .parse()
                        .map_err(|_| format!("--time-limit: `{v}` is not a number"))?;
                }
                "--seed" => {
                    let v = value("--seed")?;
                    args.seed = v
                        .parse()
                        .map_err(|_| format!("--seed: `{v}` is not a whole number"))?;
                }
                "--threads" => {
                    let v = value("--threads")?;
                    args.threads = v
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--threads: `{v}` is not a positive number"))?;
                }
                "--only" => args.only = Some(value("--only")?),
                "--sizes" => args.sizes = Some(value("--sizes")?),
                "--out" => args.out = Some(PathBuf::from(value("--out")?)),
                "--compare" => args.compare = true,
                f if f.starts_with("--") => return Err(format!("unknown option {f}")),
                _ => positional.push(arg),
            }
        }
        let [family, dir]: [String; 2] = positional.try_into().map_err(|p: Vec<String>| {
            format!("expected <FAMILY> <DIR>, got {} arguments", p.len())
        })?;
        args.family = family;
        args.dir = PathBuf::from(dir);
        Ok(Some(args))
    }

    /// The options of an NRP solve (`--threads`: subproblems at once, one HiGHS thread
    /// each).
    fn nrp_options(&self) -> SolveOptions {
        SolveOptions {
            time_limit: Duration::from_secs_f64(self.time_limit),
            seed: self.seed,
            threads: self.threads,
            ..SolveOptions::default()
        }
    }
}

fn main() -> Result<()> {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return Ok(());
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    match args.family.as_str() {
        "ihtc" => bench_ihtc(&args),
        "nrp" => {
            // Exact instance names here: `Instance1` must not also pick Instance10-12.
            let only: Vec<String> = args
                .only
                .as_deref()
                .map(|s| s.split(',').map(|n| n.trim().to_string()).collect())
                .unwrap_or_default();
            Ok(careflow_solvers::nrp::bench(
                &args.dir,
                &args.nrp_options(),
                &only,
            )?)
        }
        "nrp-gen" => {
            let sizes = parse_sizes(args.sizes.as_deref().unwrap_or(""))?;
            Ok(careflow_solvers::nrp::bench_generated(
                &args.dir,
                &sizes,
                &args.nrp_options(),
            )?)
        }
        "nrp-planted" => {
            let sizes = parse_sizes(args.sizes.as_deref().unwrap_or(""))?;
            Ok(careflow_solvers::nrp::bench_planted(
                &args.dir,
                &sizes,
                &args.nrp_options(),
            )?)
        }
        other => Err(format!(
            "unknown family `{other}` (expected ihtc, nrp, nrp-gen or nrp-planted)"
        )
        .into()),
    }
}

/// `50x364x10,20x28x3-7`: nurses x days x shift types, an optional `-SEED` (default 1).
fn parse_sizes(list: &str) -> Result<Vec<careflow_solvers::nrp::generate::GenParams>> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (dims, seed) = item.split_once('-').unwrap_or((item, "1"));
        let n: Vec<usize> = dims
            .split('x')
            .map(|v| v.parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("--sizes: `{item}` is not NURSESxDAYSxSHIFTS[-SEED]"))?;
        let [nurses, days, shifts]: [usize; 3] = n
            .try_into()
            .map_err(|_| format!("--sizes: `{item}` is not NURSESxDAYSxSHIFTS[-SEED]"))?;
        out.push(careflow_solvers::nrp::generate::GenParams {
            nurses,
            days,
            shifts,
            seed: seed
                .parse()
                .map_err(|_| format!("--sizes: `{item}`: seed `{seed}` is not a number"))?,
        });
    }
    if out.is_empty() {
        return Err("nrp-gen and nrp-planted need --sizes, e.g. --sizes 33x42x4,51x364x10".into());
    }
    Ok(out)
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

fn bench_ihtc(args: &Args) -> Result<()> {
    let refs = reference_costs(&args.dir);
    let inst_dir = args.dir.join("instances");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&inst_dir)
        .map_err(|e| format!("reading {}: {e}", inst_dir.display()))?
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
