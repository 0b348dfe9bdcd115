//! `careflow solve ...`: run a solver on one input file. Data (the cost table, or the plan
//! when no `--out` is given) goes to stdout, progress and errors to stderr.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context};

use careflow_solvers::solve::{
    draw_progress, machine_threads, Progress, ProgressSink, SolveOptions, SolveStatus,
};
use careflow_solvers::{bed_allocation, ihtc, nrp, scanner_booking, theatre_booking};

/// The solvers the CLI can run on a file.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SolveCommand {
    /// IHTC-2024 integrated admission, room, theatre and nurse planning.
    Ihtc {
        /// Instance JSON file (competition format).
        instance: PathBuf,
        /// Wall-clock limit in seconds.
        #[arg(long, default_value_t = 60.0)]
        time_limit: f64,
        /// Where to write the solution JSON.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A previous solution to re-plan from; changes against it are penalised.
        #[arg(long)]
        warm_start: Option<PathBuf>,
    },
    /// Nurse rostering (Curtois & Qu benchmark): a roster within every hard rule first
    /// (seconds), then improved until the time limit; incumbent and bound on stderr.
    #[command(after_help = NRP_EXIT_CODES)]
    Nrp {
        /// Instance file.
        instance: PathBuf,
        /// Wall-clock limit in seconds.
        #[arg(long, default_value_t = 60.0)]
        time_limit: f64,
        /// Where to write the roster.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Subproblems solved at once while the roster is improved, one HiGHS thread each
        /// (at most 8 are used; default: the machine's cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        threads: Option<u32>,
    },
    /// Bed allocation over a rolling horizon (patients to rooms; emergency reserve).
    Beds(ModelArgs),
    /// Operating-theatre booking (cases to theatre, day and order).
    Theatres(ModelArgs),
    /// CT/MRI booking (requests to scanner slots, controlled overbooking).
    Scanners(ModelArgs),
    /// Write a realistic generated input for a hospital model (demo data, trials).
    Generate {
        /// Which model.
        #[arg(value_enum)]
        model: ModelKind,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scale: wards (beds), theatres (theatres) or scanners of each modality
        /// (scanners).
        #[arg(long, default_value_t = 2)]
        size: usize,
        /// Where to write it (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `careflow solve nrp --help`: what its exit status means.
const NRP_EXIT_CODES: &str = "\
Exit status:
  0  a roster within every hard rule (status Optimal, or TimeLimit: the best found)
  1  the command failed (unreadable instance, bad value, solver error)
  2  proven infeasible: HiGHS proves that no roster meets the hard rules
  3  no roster found within the time limit, and none proven impossible (what was tried
     is printed); a longer --time-limit may find one
 64  usage error: an unknown or malformed option (nothing was solved)";

/// Exit status of `careflow solve nrp` when no roster satisfies the hard rules (proven).
pub const NRP_EXIT_INFEASIBLE: i32 = 2;
/// Exit status of `careflow solve nrp` when no roster was found within the time limit.
pub const NRP_EXIT_NO_ROSTER: i32 = 3;

/// Options shared by the hospital models (`beds`, `theatres`, `scanners`).
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Input JSON (the model's serde input; a previous plan goes in its `previous` field
    /// and changes against it are penalised).
    pub input: PathBuf,
    /// Wall-clock limit in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub time_limit: f64,
    /// Where to write the plan JSON (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Which hospital model to generate demo input for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModelKind {
    /// Bed allocation.
    Beds,
    /// Operating-theatre booking.
    Theatres,
    /// CT/MRI booking.
    Scanners,
}

/// Runs one `careflow solve` subcommand.
pub fn run(cmd: SolveCommand) -> anyhow::Result<()> {
    match cmd {
        SolveCommand::Ihtc {
            instance,
            time_limit,
            out,
            seed,
            warm_start,
        } => run_ihtc(
            &instance,
            time_limit,
            out.as_deref(),
            seed,
            warm_start.as_deref(),
        ),
        SolveCommand::Nrp {
            instance,
            time_limit,
            out,
            seed,
            threads,
        } => run_nrp(
            &instance,
            time_limit,
            out.as_deref(),
            seed,
            threads.unwrap_or_else(machine_threads),
        ),
        SolveCommand::Beds(a) => run_model(
            &a,
            bed_allocation::BedInput::from_json,
            bed_allocation::solve,
            |p| {
                (
                    p.header.status,
                    p.header.mip_gap,
                    serde_json::to_value(&p.cost),
                )
            },
        ),
        SolveCommand::Theatres(a) => run_model(
            &a,
            theatre_booking::TheatreInput::from_json,
            theatre_booking::solve,
            |p| {
                (
                    p.header.status,
                    p.header.mip_gap,
                    serde_json::to_value(&p.cost),
                )
            },
        ),
        SolveCommand::Scanners(a) => run_model(
            &a,
            scanner_booking::ScannerInput::from_json,
            scanner_booking::solve,
            |p| {
                (
                    p.header.status,
                    p.header.mip_gap,
                    serde_json::to_value(&p.cost),
                )
            },
        ),
        SolveCommand::Generate {
            model,
            seed,
            size,
            out,
        } => {
            let json = match model {
                ModelKind::Beds => {
                    serde_json::to_string_pretty(&bed_allocation::generate(seed, size))
                }
                ModelKind::Theatres => {
                    serde_json::to_string_pretty(&theatre_booking::generate(seed, size))
                }
                ModelKind::Scanners => {
                    serde_json::to_string_pretty(&scanner_booking::generate(seed, size))
                }
            }?;
            write_out(out.as_deref(), &json)
        }
    }
}

type Summary = (
    SolveStatus,
    Option<f64>,
    serde_json::Result<serde_json::Value>,
);

/// Reads a model's input (errors name the file, line, column and field), solves it
/// with a progress bar, writes the plan and prints status, gap and cost by term.
fn run_model<I, P, E>(
    a: &ModelArgs,
    read: fn(&str) -> Result<I, E>,
    solve: fn(&I, &SolveOptions, ProgressSink) -> Result<P, E>,
    summary: fn(&P) -> Summary,
) -> anyhow::Result<()>
where
    P: serde::Serialize,
    E: std::error::Error + Send + Sync + 'static,
{
    ensure!(
        a.time_limit.is_finite() && a.time_limit > 0.0,
        "--time-limit must be positive"
    );
    let text = std::fs::read_to_string(&a.input)
        .with_context(|| format!("reading {}", a.input.display()))?;
    let input = read(&text).with_context(|| format!("{}", a.input.display()))?;
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(a.time_limit),
        seed: a.seed,
        ..SolveOptions::default()
    };
    let time_limit = a.time_limit;
    let mut bar = |p: Progress| draw_progress(p, time_limit);
    let plan = solve(&input, &opts, &mut bar);
    eprintln!();
    let plan = plan.with_context(|| format!("no plan for {}", a.input.display()))?;
    let (status, gap, cost) = summary(&plan);
    eprintln!(
        "status {status:?}, MIP gap {}, cost {}",
        gap.map_or("unknown".to_string(), |g| format!("{:.2}%", g * 100.0)),
        cost?
    );
    write_out(a.out.as_deref(), &serde_json::to_string_pretty(&plan)?)
}

fn write_out(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("written to {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}

fn run_ihtc(
    instance_path: &Path,
    time_limit: f64,
    out: Option<&Path>,
    seed: u64,
    warm: Option<&Path>,
) -> anyhow::Result<()> {
    ensure!(
        time_limit.is_finite() && time_limit > 0.0,
        "--time-limit must be positive"
    );
    let instance = ihtc::Instance::from_file(instance_path)?;
    let warm = warm.map(ihtc::Solution::from_file).transpose()?;
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(time_limit),
        seed,
        ..SolveOptions::default()
    };
    let mut bar = |p: Progress| draw_progress(p, time_limit);
    let outcome = ihtc::solve(&instance, &opts, warm.as_ref(), &mut bar)?;
    eprintln!();
    if let Some(path) = out {
        std::fs::write(path, outcome.solution.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("solution written to {}", path.display());
    }
    print!("{}", ihtc::cost_table(&instance, &outcome));
    Ok(())
}

/// Solves, prints objective, status, gap and the hard-rule report (stdout), progress on
/// stderr, and writes the roster JSON when `out` is given. A proven infeasibility exits 2
/// and no roster within the time limit exits 3 (see `NRP_EXIT_CODES`), after saying why.
fn run_nrp(
    instance: &Path,
    time_limit_s: f64,
    out: Option<&Path>,
    seed: u64,
    threads: u32,
) -> anyhow::Result<()> {
    ensure!(
        time_limit_s.is_finite() && time_limit_s > 0.0,
        "--time-limit must be positive"
    );
    let inst = nrp::read_instance(instance)?;
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(time_limit_s),
        seed,
        threads,
        ..SolveOptions::default()
    };
    let tty = std::io::stderr().is_terminal();
    let mut shown: Option<(Option<f64>, Option<f64>)> = None;
    let result = nrp::solve(&inst, &opts, &mut |p| {
        let line = nrp_progress_line(p, time_limit_s);
        if tty {
            // One line, redrawn: bar, time, incumbent, bound, gap.
            eprint!("\r{line:<90}");
        } else if shown != Some((p.incumbent, p.bound)) {
            // Logs get a line when the incumbent or the bound changes.
            eprintln!("{line}");
        }
        shown = Some((p.incumbent, p.bound));
    });
    if tty {
        eprintln!();
    }
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e @ nrp::NrpError::Infeasible { .. }) => {
            eprintln!("error: {}: {e}", instance.display());
            std::process::exit(NRP_EXIT_INFEASIBLE);
        }
        Err(e @ nrp::NrpError::NoRoster { .. }) => {
            eprintln!("error: {}: {e}", instance.display());
            std::process::exit(NRP_EXIT_NO_ROSTER);
        }
        Err(e) => return Err(e.into()),
    };
    print!("{}", nrp::cost_table(&inst, &outcome));
    if let Some(out) = out {
        let json = serde_json::to_string_pretty(&outcome.roster.to_file(&inst))?;
        std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("roster written to {}", out.display());
    }
    Ok(())
}

/// `[#####.........]   12.3s  best 4210  bound 4012.5  gap 4.7%`
fn nrp_progress_line(p: Progress, time_limit_s: f64) -> String {
    const WIDTH: usize = 20;
    let done = ((p.elapsed_s / time_limit_s).clamp(0.0, 1.0) * WIDTH as f64) as usize;
    let best = p
        .incumbent
        .map_or("no roster yet".to_string(), |c| format!("best {c:.0}"));
    let bound = p
        .bound
        .map_or("bound -".to_string(), |b| format!("bound {b:.1}"));
    let gap = match (p.incumbent, p.bound) {
        (Some(c), Some(b)) if c > 0.0 => format!("gap {:.1}%", 100.0 * ((c - b) / c).max(0.0)),
        _ => String::new(),
    };
    format!(
        "[{}{}] {:>7.1}s  {best}  {bound}  {gap}",
        "#".repeat(done),
        ".".repeat(WIDTH - done),
        p.elapsed_s
    )
}
