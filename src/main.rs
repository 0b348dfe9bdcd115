//! `careflow`: hospital operational decisions as durable, auditable workflows.
//!
//! Run with `careflow demo` for the embedded default with demo data, or see
//! `careflow --help`. Data goes to stdout; logs, progress and errors go to stderr.

use anyhow::Result;
use clap::Parser;

use careflow::cli::{self, Cli};

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
    if let Err(e) = runtime.block_on(cli::run(cli)) {
        // The chain of causes says what failed and where; a backtrace helps nobody here.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
