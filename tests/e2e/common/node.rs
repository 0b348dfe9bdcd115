//! The careflow processes a scenario runs: `careflow serve` (embedding the Temporal dev
//! server), extra `careflow worker`s, and careflow and Temporal CLI commands against
//! them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use careflow_store::Db;
use careflow_testkit::paths::tool;
use careflow_testkit::ports::{free_port, temporal_port};
use careflow_testkit::process::{self, kill_pid, log_tail, log_to, ChildGuard};

/// The binary under test.
pub const CAREFLOW: &str = env!("CARGO_BIN_EXE_careflow");

/// A `careflow serve` (embedded Temporal unless told otherwise) with its data
/// directory and ports; restartable. Dropping it kills the process and the embedded
/// Temporal server it left behind.
pub struct Node {
    /// Data directory (owned by the test's TempDir).
    pub dir: PathBuf,
    /// Embedded Temporal gRPC port.
    pub temporal_port: u16,
    /// HTTP API port.
    pub api_port: u16,
    /// Domain database URL (None: SQLite in the data directory).
    pub database: Option<String>,
    // Behind a mutex so that liveness checks work from polling closures (&self).
    serve: Mutex<Option<ChildGuard>>,
    starts: u32,
    /// Other processes (workers) to kill with the node, by name.
    extra: Vec<(String, ChildGuard)>,
    /// Environment every careflow command of this node gets (the payload key).
    pub env: Vec<(String, String)>,
}

impl Node {
    /// A node for `dir`, not yet started.
    pub fn new(dir: &Path, database: Option<String>) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self {
            dir: dir.to_owned(),
            temporal_port: temporal_port(),
            api_port: free_port(),
            database,
            serve: Mutex::new(None),
            starts: 0,
            extra: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Domain database URL.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| Db::sqlite_url(&self.dir.join("careflow.db")))
    }

    /// `host:port` of the Temporal frontend.
    pub fn temporal_address(&self) -> String {
        format!("127.0.0.1:{}", self.temporal_port)
    }

    /// API base URL.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// The global options naming this node's data, database and Temporal port.
    pub fn globals(&self) -> Vec<String> {
        let mut g = vec![
            "--data-dir".to_owned(),
            self.dir.display().to_string(),
            "--temporal-port".to_owned(),
            self.temporal_port.to_string(),
        ];
        if let Some(db) = &self.database {
            g.push("--database".into());
            g.push(db.clone());
        }
        g
    }

    /// The configuration directory (XDG_CONFIG_HOME) of the OS user running this node's
    /// CLI commands: where `careflow login` keeps sessions, outside the data directory.
    pub fn config_home(&self) -> PathBuf {
        let mut name = self.dir.file_name().unwrap_or_default().to_owned();
        name.push("-config-home");
        self.dir.with_file_name(name)
    }

    /// A careflow command with this node's globals; environment that could point it
    /// elsewhere is removed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(CAREFLOW);
        c.args(self.globals())
            .args(args)
            .env("XDG_CONFIG_HOME", self.config_home())
            .env_remove("CAREFLOW_DATABASE")
            .env_remove("CAREFLOW_TEMPORAL")
            .env_remove("CAREFLOW_DATA_DIR")
            .env_remove("CAREFLOW_TOKEN")
            .env_remove("CAREFLOW_API")
            .env_remove("CAREFLOW_PAYLOAD_KEY")
            .env("CAREFLOW_TEMPORAL_BIN", tool("temporal"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// Starts `careflow serve`; returns its pid once the process is spawned.
    pub fn spawn_serve(&mut self) -> u32 {
        assert!(
            self.serve.lock().unwrap().is_none(),
            "serve already running"
        );
        self.starts += 1;
        let listen = format!("127.0.0.1:{}", self.api_port);
        let mut cmd = self.command(&["serve", "--listen", &listen]);
        let header = format!("start {}", self.starts);
        log_to(&mut cmd, &self.dir.join("serve.log"), &header);
        let serve = ChildGuard::spawn(&mut cmd, "careflow serve");
        let pid = serve.id();
        *self.serve.lock().unwrap() = Some(serve);
        pid
    }

    /// Pid of the running `careflow serve`.
    pub fn pid(&self) -> Option<u32> {
        self.serve.lock().unwrap().as_ref().map(ChildGuard::id)
    }

    /// Starts `careflow worker` against this node's Temporal and database, with a data
    /// directory of its own; returns its pid.
    pub fn spawn_worker(&mut self, name: &str) -> u32 {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = Command::new(CAREFLOW);
        c.arg("--data-dir")
            .arg(&dir)
            .arg("--temporal")
            .arg(self.temporal_address())
            .args(
                self.database
                    .iter()
                    .flat_map(|d| ["--database", d.as_str()]),
            )
            .arg("worker")
            .env_remove("CAREFLOW_DATABASE")
            .env_remove("CAREFLOW_TEMPORAL")
            .env_remove("CAREFLOW_DATA_DIR");
        let header = format!("start {}", self.starts);
        log_to(&mut c, &self.dir.join(format!("{name}.log")), &header);
        let worker = ChildGuard::spawn(&mut c, "careflow worker");
        let pid = worker.id();
        self.extra.push((name.to_owned(), worker));
        pid
    }

    /// SIGKILLs `careflow serve` (no clean-up runs: the dev server stays up) and reaps it.
    pub fn kill(&mut self) {
        let serve = self.serve.lock().unwrap().take().expect("serve running");
        drop(serve);
    }

    /// Sends SIGTERM to `careflow serve` (as systemd or Kubernetes stop it) and waits up
    /// to `patience` for it to exit; returns how it exited and how long that took.
    pub async fn terminate(&mut self, patience: Duration) -> (std::process::ExitStatus, Duration) {
        let pid = self.pid().expect("serve running");
        let start = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM to {pid} not delivered");
        loop {
            let exited = self
                .serve
                .lock()
                .unwrap()
                .as_mut()
                .and_then(ChildGuard::exited);
            if let Some(status) = exited {
                self.serve.lock().unwrap().take();
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < patience,
                "careflow serve still running {patience:?} after SIGTERM; log:\n{}",
                self.log_tail("serve.log", 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails the test if `careflow serve` has exited on its own.
    pub fn assert_alive(&self) {
        let exited = self
            .serve
            .lock()
            .unwrap()
            .as_mut()
            .and_then(ChildGuard::exited);
        if let Some(status) = exited {
            panic!(
                "careflow serve exited on its own ({status}); log:\n{}",
                self.log_tail("serve.log", 40)
            );
        }
    }

    /// Polls the API's health endpoint until it answers; returns how long that took.
    pub async fn wait_ready(&self, patience: Duration) -> Duration {
        let start = Instant::now();
        let api = self.client("");
        loop {
            self.assert_alive();
            if api.health().await.is_ok() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < patience,
                "careflow API not ready within {patience:?}; log:\n{}",
                self.log_tail("serve.log", 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Pid of the embedded Temporal server as careflow recorded it.
    pub fn temporal_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("temporal.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Runs a careflow CLI command to completion.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        process::output(self.command(args), Duration::from_secs(120), "careflow CLI").await
    }

    /// Runs a careflow CLI command to completion with `input` on its standard input (a
    /// password for `--password-stdin`).
    pub async fn cli_with_stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::from(self.command(args));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("careflow CLI starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
        drop(stdin);
        tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("careflow CLI finished within 120 s")
            .expect("careflow CLI output")
    }

    /// Runs an admin command of the CLI (`forecast register`, `user add`, ...) as the
    /// admin `by`, who enters the seeded password: the CLI takes no name on trust.
    pub async fn cli_as_admin(&self, args: &[&str], by: &str) -> std::process::Output {
        let mut args = args.to_vec();
        args.extend(["--by", by, "--password-stdin"]);
        self.cli_with_stdin(&args, super::PASSWORD).await
    }

    /// Registers the committed model `forecasters/models/{name}/{version}` and installs
    /// it as the site's first production version with the CLI, by the admin `by`
    /// (later versions reach production only through a model release); returns the
    /// file's sha256 as the registry holds it.
    pub async fn install_model(&self, db: &Db, name: &str, version: &str, by: &str) -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("forecasters/models")
            .join(name)
            .join(version);
        super::stdout(
            &self
                .cli_as_admin(&["forecast", "register", dir.to_str().unwrap()], by)
                .await,
            "forecast register",
        );
        super::stdout(
            &self
                .cli_as_admin(
                    &[
                        "forecast",
                        "install",
                        name,
                        version,
                        "--reason",
                        "backtest reviewed by the model owner",
                    ],
                    by,
                )
                .await,
            "forecast install",
        );
        sqlx::query_scalar(
            "SELECT sha256 FROM model_registry WHERE status = 'production' AND name = $1",
        )
        .bind(name)
        .fetch_one(db.pool())
        .await
        .expect("production model")
    }

    /// `careflow login --as NAME` with the seeded password, as a person would before
    /// using the CLI; fails the test if it fails.
    pub async fn login(&self, name: &str) {
        let out = self
            .cli_with_stdin(
                &["login", "--as", name, "--password-stdin"],
                super::PASSWORD,
            )
            .await;
        assert!(
            out.status.success(),
            "careflow login --as {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the Temporal CLI against this node's server; returns stdout.
    pub async fn temporal(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(tool("temporal"));
        cmd.args(args).args(["--address", &self.temporal_address()]);
        let out = process::output(cmd, Duration::from_secs(60), "temporal CLI").await;
        assert!(
            out.status.success(),
            "temporal {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// [`Node::temporal`] with owned arguments (for futures run side by side).
    pub async fn temporal_owned(&self, args: Vec<String>) -> String {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.temporal(&args).await
    }

    /// Number of workflow executions matching a visibility query ("": all).
    pub async fn workflow_count(&self, query: &str) -> u64 {
        let mut args = vec!["workflow", "count", "-o", "json"];
        if !query.is_empty() {
            args.extend(["--query", query]);
        }
        let out = self.temporal(&args).await;
        let v: serde_json::Value = serde_json::from_str(&out).expect("count JSON");
        match &v["count"] {
            serde_json::Value::String(s) => s.parse().expect("count"),
            serde_json::Value::Number(n) => n.as_u64().expect("count"),
            // proto3 JSON leaves a zero count out.
            serde_json::Value::Null => 0,
            other => panic!("unexpected count {other}"),
        }
    }

    /// Last `n` lines of a log in the data directory.
    pub fn log_tail(&self, name: &str, n: usize) -> String {
        log_tail(&self.dir.join(name), n)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        drop(self.serve.lock().unwrap_or_else(|e| e.into_inner()).take());
        let workers: Vec<String> = self.extra.drain(..).map(|(name, _)| name).collect();
        // Whoever started the dev server is dead now, so this pid is current.
        if let Some(pid) = self.temporal_pid() {
            kill_pid(pid);
        }
        if failed {
            eprintln!(
                "--- serve.log (tail) ---\n{}",
                self.log_tail("serve.log", 60)
            );
            for name in &workers {
                eprintln!(
                    "--- {name}.log (tail) ---\n{}",
                    self.log_tail(&format!("{name}.log"), 30)
                );
            }
            eprintln!(
                "--- temporal.log (tail) ---\n{}",
                self.log_tail("temporal.log", 20)
            );
        }
    }
}
