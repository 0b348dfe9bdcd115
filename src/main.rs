//! `careflow`: hospital operational decisions as durable, auditable workflows.
//!
//! Run with `careflow demo` for the embedded default with demo data, or see
//! `careflow --help`. Data goes to stdout; logs, progress and errors go to stderr.

use anyhow::Result;
use clap::Parser;

use careflow::cli::{self, Cli};

/// Exit status of a command line careflow cannot parse.
const USAGE_ERROR: i32 = 64;

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,temporalio_sdk_core=warn,temporalio_client=warn,sqlx=warn".into()
            }),
        )
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version exit 0; a usage error (an unknown or malformed option) exits
            // 64 (sysexits' EX_USAGE), not clap's 2, which `solve nrp` gives a proven
            // infeasibility: a typo must never read as "no roster exists".
            let code = if e.use_stderr() { USAGE_ERROR } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    if let Err(e) = runtime.block_on(cli::run(cli)) {
        // The chain of causes says what failed and where; a backtrace helps nobody here.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
