//! The careflow side of the end-to-end harness; the generic pieces (ports, polling,
//! child processes, PostgreSQL databases, the Temporal CLI) come from the test kit.
//!
//! - `node`: `careflow serve`/`worker` processes and CLI commands against them.
//! - `seed`: the hospital, users and synthetic admission requests.
//! - `api`: the API client and the clerk's and bed manager's loops.
//! - `views`: what the domain database shows.
//! - `invariants`: the checks every scenario ends with.
//! - `history`: what the Temporal histories show, and percentiles.

#![allow(dead_code, unused_imports)]

mod api;
mod history;
mod invariants;
mod node;
mod seed;
mod views;

pub use api::*;
pub use history::*;
pub use invariants::*;
pub use node::*;
pub use seed::*;
pub use views::*;

pub use careflow_testkit::db::PgDatabase;
pub use careflow_testkit::poll;
pub use careflow_testkit::process::kill_pid;

/// A CLI run's standard output, trimmed; fails the test, naming `what` and the error,
/// when the command failed.
pub fn stdout(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
