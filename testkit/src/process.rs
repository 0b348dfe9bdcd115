//! Child processes of a test: killed and reaped when their guard drops (also when the
//! test fails), with their output in a log file the test can quote.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

/// A running child process. Dropping it SIGKILLs and reaps the process.
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Spawns `cmd` (stdin closed); panics naming `what` if it cannot start.
    pub fn spawn(cmd: &mut Command, what: &str) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Self { child }
    }

    /// Its pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, if it has exited already.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `cmd`'s stdout and stderr to the end of the file at `path` (created if
/// needed), after a line `===== HEADER =====` that separates this run from earlier ones.
pub fn log_to(cmd: &mut Command, path: &Path, header: &str) {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log {}: {e}", path.display()));
    writeln!(log, "===== {header} =====").expect("log writable");
    let err: File = log.try_clone().expect("log handle");
    cmd.stdout(log).stderr(err);
}

/// The last `n` lines of the file at `path` ("" when it does not exist).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` to completion (stdin closed, output captured); panics naming `what` if it
/// cannot start or takes longer than `patience`. The exit status is the caller's to
/// check.
pub async fn output(cmd: Command, patience: Duration, what: &str) -> Output {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A command that overran is killed with the test, not left behind.
        .kill_on_drop(true);
    tokio::time::timeout(patience, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {patience:?}"))
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

/// SIGKILLs a process that is not this test's child (a server one of its children
/// started) by pid.
pub fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}
