//! Shared machinery: careflow processes, ports, databases, the API client, polling and
//! the domain invariants every scenario checks at its end.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use sqlx::{Connection, Row};

use careflow_activities::hospital::{self, WardSpec};
use careflow_activities::{users, Db};
use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Role, Sex};

/// The binary under test.
pub const CAREFLOW: &str = env!("CARGO_BIN_EXE_careflow");

/// The Temporal CLI installed by `scripts/setup`.
pub fn temporal_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/temporal")
}

/// PostgreSQL server for the tests (override with CAREFLOW_TEST_PG).
pub fn pg_base() -> String {
    std::env::var("CAREFLOW_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

// ---------------------------------------------------------------------------------
// Ports

/// Ports handed out in this process, so that parallel tests never pick the same one
/// between probing it and the server binding it.
static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn take(ports: &[u16]) -> bool {
    let mut taken = TAKEN.lock().unwrap();
    if ports.iter().any(|p| taken.contains(p)) || !ports.iter().all(|p| bindable(*p)) {
        return false;
    }
    taken.extend_from_slice(ports);
    true
}

/// A free port for an HTTP API.
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("an ephemeral port")
            .port();
        if take(&[port]) {
            return port;
        }
    }
}

/// A port P for an embedded Temporal server: P (gRPC) and P+1000 (Web UI) both free.
/// Drawn outside the kernel's ephemeral range so client sockets do not collide.
pub fn temporal_port() -> u16 {
    let mut rng = rand::rng();
    loop {
        let p: u16 = rng.random_range(17_000..30_000);
        if take(&[p, p + 1000]) {
            return p;
        }
    }
}

// ---------------------------------------------------------------------------------
// Polling

/// Polls `probe` every `every` until it yields a value; panics naming `what` after
/// `patience`. Conditions are polled, never waited for with a fixed sleep.
pub async fn poll<T, F, Fut>(what: &str, patience: Duration, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < patience,
            "timed out after {patience:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}

// ---------------------------------------------------------------------------------
// careflow processes

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
    child: Mutex<Option<Child>>,
    starts: u32,
    /// Other processes (workers) to kill with the node.
    extra: Vec<(String, Child)>,
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
            child: Mutex::new(None),
            starts: 0,
            extra: Vec::new(),
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

    /// A careflow command with this node's globals; environment that could point it
    /// elsewhere is removed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(CAREFLOW);
        c.args(self.globals())
            .args(args)
            .env_remove("CAREFLOW_DATABASE")
            .env_remove("CAREFLOW_TEMPORAL")
            .env_remove("CAREFLOW_DATA_DIR")
            .env_remove("CAREFLOW_TOKEN")
            .env_remove("CAREFLOW_API")
            .env("CAREFLOW_TEMPORAL_BIN", temporal_cli())
            .stdin(Stdio::null());
        c
    }

    fn log(&self, name: &str) -> std::fs::File {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(name))
            .unwrap();
        writeln!(f, "===== start {} =====", self.starts).unwrap();
        f
    }

    /// Starts `careflow serve`; returns when the process is spawned.
    pub fn spawn_serve(&mut self) -> u32 {
        assert!(
            self.child.lock().unwrap().is_none(),
            "serve already running"
        );
        self.starts += 1;
        let log = self.log("serve.log");
        let listen = format!("127.0.0.1:{}", self.api_port);
        let child = self
            .command(&["serve", "--listen", &listen])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn careflow serve");
        let pid = child.id();
        *self.child.lock().unwrap() = Some(child);
        pid
    }

    /// Pid of the running `careflow serve`.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(|c| c.id())
    }

    /// Starts `careflow worker` against this node's Temporal and database, with a data
    /// directory of its own; returns its pid.
    pub fn spawn_worker(&mut self, name: &str) -> u32 {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let log = self.log(&format!("{name}.log"));
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
            .env_remove("CAREFLOW_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = c.spawn().expect("spawn careflow worker");
        let pid = child.id();
        self.extra.push((name.to_owned(), child));
        pid
    }

    /// SIGKILLs `careflow serve` (no clean-up runs: the dev server stays up) and reaps it.
    pub fn kill(&mut self) {
        let mut child = self.child.lock().unwrap().take().expect("serve running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Fails the test if `careflow serve` has exited on its own.
    pub fn assert_alive(&self) {
        let exited = match self.child.lock().unwrap().as_mut() {
            Some(c) => c.try_wait().ok().flatten(),
            None => None,
        };
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
        let http = reqwest::Client::new();
        let url = format!("{}/api/health", self.api());
        loop {
            self.assert_alive();
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return start.elapsed();
                }
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
        let mut c = tokio::process::Command::from(self.command(args));
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        tokio::time::timeout(Duration::from_secs(120), c.output())
            .await
            .expect("careflow CLI finishes within 2 minutes")
            .expect("careflow CLI runs")
    }

    /// Runs the Temporal CLI against this node's server; returns stdout.
    pub async fn temporal(&self, args: &[&str]) -> String {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(temporal_cli())
                .args(args)
                .args(["--address", &self.temporal_address()])
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .expect("temporal CLI finishes within a minute")
        .expect("temporal CLI runs");
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
        let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// SIGKILLs a process by pid (the dev server careflow started; not our child).
pub fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Node {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if let Some(mut c) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for (_, c) in &mut self.extra {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whoever started the dev server is dead now, so this pid is current.
        if let Some(pid) = self.temporal_pid() {
            kill_pid(pid);
        }
        if failed {
            eprintln!(
                "--- serve.log (tail) ---\n{}",
                self.log_tail("serve.log", 60)
            );
            for (name, _) in &self.extra {
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

// ---------------------------------------------------------------------------------
// PostgreSQL

/// A fresh PostgreSQL database for one test, dropped at the end. A database rather
/// than a schema: careflow's writer lock is a database-wide advisory lock, and a
/// database of its own keeps this test from queueing behind other tests' writers.
pub struct PgDatabase {
    /// Its name.
    pub name: String,
    /// URL careflow connects to.
    pub url: String,
}

impl PgDatabase {
    /// Creates `cf_e2e_<tag>_<random>`.
    pub async fn create(tag: &str) -> Self {
        let name = format!("cf_e2e_{tag}_{:08x}", rand::rng().random::<u32>());
        let mut admin = sqlx::PgConnection::connect(&pg_base())
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (or CAREFLOW_TEST_PG)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let base = pg_base();
        let (prefix, _) = base.rsplit_once('/').expect("database URL with a path");
        let url = format!("{prefix}/{name}");
        Self { name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async clean-up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&pg_base()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

// ---------------------------------------------------------------------------------
// Hospital, users, requests

/// The demo hospital `copies` times over (ward ids suffixed), so a test can admit a few
/// hundred patients without running out of beds.
pub fn layout(copies: u32) -> Vec<WardSpec> {
    let mut out = Vec::new();
    for c in 1..=copies {
        for mut w in hospital::demo_layout() {
            if c > 1 {
                w.ward_id = format!("{}-{c}", w.ward_id);
                w.name = format!("{} ({c})", w.name);
            }
            out.push(w);
        }
    }
    out
}

/// Seeds the hospital and users directly in the domain database (before careflow
/// starts) and saves the tokens where `careflow ... --as NAME` finds them.
pub async fn seed(
    db: &Db,
    data_dir: &Path,
    layout: &[WardSpec],
    people: &[(&str, Role)],
) -> HashMap<String, String> {
    let beds = hospital::seed_layout(db, layout)
        .await
        .expect("seed layout");
    assert!(beds > 0);
    let mut tokens = HashMap::new();
    let dir = data_dir.join("tokens");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, role) in people {
        let token = users::upsert(db, name, *role, "e2e").await.expect("user");
        std::fs::write(dir.join(name), &token).unwrap();
        tokens.insert((*name).to_owned(), token);
    }
    tokens
}

/// Specialty with no ward of its own: its patients get an outlier bed that a bed
/// manager must approve.
pub const NO_WARD_SPECIALTY: &str = "neurology";

/// The `n`th synthetic admission request. About `approval_share` of them ask for a
/// specialty without a ward (approval needed); the rest match a ward of the demo
/// hospital and get a bed directly while beds last.
pub fn request(n: usize, approval_share: f64, rng: &mut impl Rng) -> AdmissionRequest {
    const SPECIALTIES: [&str; 6] = [
        "general_medicine",
        "general_medicine",
        "elderly_care",
        "cardiology",
        "general_surgery",
        "orthopaedics",
    ];
    let (specialty, age_group) = if rng.random_bool(approval_share) {
        (NO_WARD_SPECIALTY, AgeGroup::Adult)
    } else if rng.random_bool(0.08) {
        ("paediatrics", AgeGroup::Child)
    } else {
        let s = SPECIALTIES[rng.random_range(0..SPECIALTIES.len())];
        let age = if s == "elderly_care" || rng.random_bool(0.3) {
            AgeGroup::Elderly
        } else {
            AgeGroup::Adult
        };
        (s, age)
    };
    AdmissionRequest {
        // Synthetic identifiers, never printed.
        patient_ref: format!("E2E-{n:06}"),
        kind: if rng.random_bool(0.6) {
            AdmissionKind::Emergency
        } else {
            AdmissionKind::Elective
        },
        sex: if rng.random_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        },
        age_group,
        specialty: specialty.into(),
        isolation: false,
        expected_los_days: rng.random_range(1..10),
        requested_by: "e2e".into(),
    }
}

// ---------------------------------------------------------------------------------
// API client

/// What a request to the API came back with.
#[derive(Debug)]
pub enum Answer {
    /// HTTP status and JSON body.
    Http(u16, serde_json::Value),
    /// Nothing reached the server (connection refused): safe to retry.
    NotSent(String),
    /// Sent, but no answer (the server died mid-request): it may have acted.
    Lost(String),
}

/// A JSON client for one user.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            base: base.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        match req.bearer_auth(&self.token).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(b) => Answer::Http(
                        status,
                        serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
                    ),
                    Err(e) => Answer::Lost(e.to_string()),
                }
            }
            Err(e) if e.is_connect() => Answer::NotSent(e.to_string()),
            Err(e) => Answer::Lost(e.to_string()),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post_json<T: serde::Serialize>(&self, path: &str, body: &T) -> Answer {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// POSTs JSON with an `Idempotency-Key` header.
    pub async fn post_idempotent<T: serde::Serialize>(
        &self,
        path: &str,
        key: &str,
        body: &T,
    ) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("idempotency-key", key)
                .json(body),
        )
        .await
    }

    /// POSTs a raw body with a JSON content type.
    pub async fn post_raw(&self, path: &str, body: &str) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }
}

/// An admission the API accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Index of the synthetic patient.
    pub n: usize,
    pub admission_id: String,
    pub workflow_id: String,
}

/// Result of launching one admission, retrying while careflow is down.
pub struct Launch {
    pub accepted: Accepted,
    /// A previous try may have reached careflow without an answer: a duplicate
    /// admission for this patient is then possible (the API has no idempotency key).
    pub ambiguous: bool,
}

/// POSTs an admission, retrying (for up to `patience`) while the API is unreachable,
/// lost the request or failed inside; a 4xx answer fails the test. Every try carries
/// the same Idempotency-Key, so a retry of a request that did start its admission
/// gets that admission back (200) instead of a second one.
pub async fn launch(clerk: &Api, n: usize, req: &AdmissionRequest, patience: Duration) -> Launch {
    let start = Instant::now();
    let mut ambiguous = false;
    let key = format!("e2e-admission-{n}");
    loop {
        match clerk.post_idempotent("/api/admissions", &key, req).await {
            Answer::Http(200 | 201, body) => {
                return Launch {
                    accepted: Accepted {
                        n,
                        admission_id: body["admission_id"].as_str().unwrap().to_owned(),
                        workflow_id: body["workflow_id"].as_str().unwrap().to_owned(),
                    },
                    ambiguous,
                }
            }
            Answer::Http(s, body) if s >= 500 => {
                // Starting the workflow may have timed out after Temporal took it.
                ambiguous = true;
                let _ = body;
            }
            Answer::Http(s, body) => panic!("admission refused with {s}: {body}"),
            Answer::NotSent(_) => {}
            Answer::Lost(_) => ambiguous = true,
        }
        assert!(
            start.elapsed() < patience,
            "admission {n} not accepted within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Works the bed manager's queue once: approves outlier beds, declines no-bed cases.
/// Returns (approved, declined); errors (careflow down, decided twice) are skipped.
pub async fn work_queue(bed_manager: &Api) -> (usize, usize) {
    let mut done = (0, 0);
    let Answer::Http(200, serde_json::Value::Array(tasks)) = bed_manager.get("/api/tasks").await
    else {
        return done;
    };
    for t in tasks {
        let id = t["task_id"].as_str().unwrap_or_default().to_owned();
        let approve = t["kind"] == "outlier_bed";
        let body = serde_json::json!({
            "approve": approve,
            "reason": if approve { "Outlier accepted; home team reviews daily" }
                      else { "No suitable bed: divert to partner hospital" },
        });
        if let Answer::Http(200, _) = bed_manager
            .post_json(&format!("/api/tasks/{id}/decision"), &body)
            .await
        {
            if approve {
                done.0 += 1;
            } else {
                done.1 += 1;
            }
        }
    }
    done
}

// ---------------------------------------------------------------------------------
// Database views

/// Waits until every accepted admission's row is final and no workflow runs any more
/// (the row turns final one step before the workflow completes).
pub async fn wait_until_all_final(node: &Node, db: &Db, accepted: &[Accepted], patience: Duration) {
    let ids: Vec<String> = accepted.iter().map(|a| a.admission_id.clone()).collect();
    poll(
        "every admission to finish",
        patience,
        Duration::from_millis(200),
        || async {
            node.assert_alive();
            let now = admission_statuses(db).await;
            ids.iter()
                .all(|id| now.get(id).is_some_and(|s| FINAL.contains(&s.as_str())))
                .then_some(())
        },
    )
    .await;
    poll(
        "every workflow to complete in Temporal",
        Duration::from_secs(120),
        Duration::from_millis(250),
        || async { (node.workflow_count("ExecutionStatus=\"Running\"").await == 0).then_some(()) },
    )
    .await;
}

/// Final admission states in the domain database.
pub const FINAL: [&str; 4] = ["admitted", "declined", "cancelled", "discharged"];

/// admission_id -> status, for every admission row.
pub async fn admission_statuses(db: &Db) -> BTreeMap<String, String> {
    sqlx::query("SELECT admission_id, status FROM admissions")
        .fetch_all(db.pool())
        .await
        .expect("read admissions")
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
}

/// Highest audit sequence number (0 when empty).
pub async fn audit_seq(db: &Db) -> i64 {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
        .fetch_one(db.pool())
        .await
        .expect("read audit_log")
        .get::<i64, _>(0)
}

/// Highest sequence number of an audit entry written by a workflow's activity (the
/// API's own writes, such as pseudonymising a new patient, carry no workflow id).
pub async fn activity_seq(db: &Db) -> i64 {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE workflow_id IS NOT NULL")
        .fetch_one(db.pool())
        .await
        .expect("read audit_log")
        .get::<i64, _>(0)
}

/// Count of rows of a table.
pub async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get::<i64, _>(0)
}

/// What the end-of-test checks found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub admitted: usize,
    pub declined: usize,
    pub other_final: usize,
    /// Patients with more than one admission (client retries of lost requests).
    pub duplicate_patients: Vec<usize>,
    /// Patients holding two beds at once (through such duplicates).
    pub patients_in_two_beds: usize,
}

/// The invariants every scenario ends with:
/// - every accepted admission has its row, in a final state (no patient lost);
/// - every admission row is final (nothing stuck half-way);
/// - no bed holds two active assignments, no admission holds two beds;
/// - an admitted admission holds exactly one bed and has exactly one `bed_assigned`
///   audit entry; a declined one holds none (no step ran twice);
/// - each workflow has exactly one `admission.requested` entry;
/// - one admission per patient, even where a request was lost in flight and retried
///   (the retry carries the same Idempotency-Key).
pub async fn check_invariants(
    db: &Db,
    accepted: &[Accepted],
    ambiguous: &HashSet<usize>,
) -> Outcome {
    let rows = sqlx::query(
        "SELECT a.admission_id, a.workflow_id, p.patient_ref, a.status FROM admissions a \
         JOIN patients p ON p.patient_key = a.patient_key",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut by_id = HashMap::new();
    let mut per_patient: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        let id: String = r.get(0);
        let status: String = r.get(3);
        assert!(
            FINAL.contains(&status.as_str()),
            "admission {id} ended in non-final status {status}"
        );
        *per_patient.entry(r.get::<String, _>(2)).or_default() += 1;
        by_id.insert(id, (r.get::<String, _>(1), status));
    }
    let mut out = Outcome::default();
    for a in accepted {
        let (wf, status) = by_id
            .get(&a.admission_id)
            .unwrap_or_else(|| panic!("accepted admission {} has no row", a.admission_id));
        assert_eq!(wf, &a.workflow_id);
        match status.as_str() {
            "admitted" => out.admitted += 1,
            "declined" => out.declined += 1,
            _ => out.other_final += 1,
        }
        let patient = format!("E2E-{:06}", a.n);
        let admissions_of_patient = per_patient.get(&patient).copied().unwrap_or(0);
        if admissions_of_patient > 1 {
            out.duplicate_patients.push(a.n);
        }
        assert_eq!(
            admissions_of_patient,
            1,
            "patient #{} has {admissions_of_patient} admissions (request lost and retried: {})",
            a.n,
            ambiguous.contains(&a.n)
        );
    }

    // No patient in two beds (a retried lost request must not admit twice).
    out.patients_in_two_beds = sqlx::query(
        "SELECT a.patient_key FROM bed_assignments b JOIN admissions a ON a.admission_id = b.admission_id \
         WHERE b.released_at IS NULL GROUP BY a.patient_key HAVING COUNT(*) > 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .len();
    assert_eq!(out.patients_in_two_beds, 0, "patients holding two beds");
    let double_beds = sqlx::query(
        "SELECT bed_id, COUNT(*) FROM bed_assignments WHERE released_at IS NULL \
         GROUP BY bed_id HAVING COUNT(*) > 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(
        double_beds.is_empty(),
        "{} beds assigned twice",
        double_beds.len()
    );
    let double_admissions = sqlx::query(
        "SELECT admission_id, COUNT(*) FROM bed_assignments WHERE released_at IS NULL \
         GROUP BY admission_id HAVING COUNT(*) > 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(
        double_admissions.is_empty(),
        "{} admissions hold two beds",
        double_admissions.len()
    );

    let active: HashMap<String, i64> = sqlx::query(
        "SELECT admission_id, COUNT(*) FROM bed_assignments WHERE released_at IS NULL GROUP BY admission_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
    .collect();
    let audit_counts = |action: &'static str| async move {
        sqlx::query(
            "SELECT workflow_id, COUNT(*) FROM audit_log WHERE action = $1 GROUP BY workflow_id",
        )
        .bind(action)
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect::<HashMap<String, i64>>()
    };
    let assigned = audit_counts("admission.bed_assigned").await;
    let requested = audit_counts("admission.requested").await;
    for (id, (wf, status)) in &by_id {
        let beds = active.get(id).copied().unwrap_or(0);
        let assigned_entries = assigned.get(wf).copied().unwrap_or(0);
        match status.as_str() {
            "admitted" => {
                assert_eq!(beds, 1, "admitted admission {id} holds {beds} beds");
                assert_eq!(
                    assigned_entries, 1,
                    "admission {id} has {assigned_entries} bed_assigned audit entries"
                );
            }
            "declined" | "cancelled" => {
                assert_eq!(beds, 0, "{status} admission {id} holds a bed");
                assert_eq!(
                    assigned_entries, 0,
                    "{status} admission {id} was assigned a bed"
                );
            }
            _ => {}
        }
        assert_eq!(
            requested.get(wf).copied().unwrap_or(0),
            1,
            "admission {id} must have exactly one admission.requested entry"
        );
    }
    out
}

/// Fails unless `careflow audit verify` exits 0 for the node's database.
pub async fn assert_audit_verifies(node: &Node) -> String {
    let out = node.cli(&["audit", "verify"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "careflow audit verify failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_owned()
}

/// Checks, through the API (the workflows' own status query), that each accepted
/// admission's workflow ended in the stage its database row says.
pub async fn assert_api_agrees(api: &Api, db: &Db, accepted: &[Accepted]) {
    let statuses = admission_statuses(db).await;
    for chunk in accepted.chunks(8) {
        let paths: Vec<String> = chunk
            .iter()
            .map(|a| format!("/api/admissions/{}", a.workflow_id))
            .collect();
        let answers = futures::future::join_all(paths.iter().map(|p| api.get(p))).await;
        for (a, answer) in chunk.iter().zip(answers) {
            let Answer::Http(200, body) = answer else {
                panic!("status of {} unavailable: {answer:?}", a.workflow_id)
            };
            let stage = body["stage"].as_str().unwrap_or_default();
            let row = &statuses[&a.admission_id];
            let expected = match row.as_str() {
                "discharged" => "admitted",
                s => s,
            };
            assert_eq!(stage, expected, "workflow {} vs its row", a.workflow_id);
        }
    }
}

/// Approval tasks of kind `no_bed`, and how many of them were opened although the
/// search counted free beds on the patient's specialty (the bed was lost to a
/// concurrent admission `MAX_AUTOMATIC_ATTEMPTS` times, not missing).
pub async fn no_bed_tasks(db: &Db) -> (usize, usize) {
    let rows = sqlx::query("SELECT summary FROM tasks WHERE kind = 'no_bed'")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let with_free = rows
        .iter()
        .filter(|r| {
            let summary: String = r.get(0);
            // "... N free bed(s) on SPECIALTY wards ..."
            summary
                .split(" free bed(s)")
                .next()
                .and_then(|head| head.rsplit(' ').next())
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n > 0)
        })
        .count();
    (rows.len(), with_free)
}

/// Approval tasks by kind and status, and how many admissions had one: shows how much
/// of a run needed a person.
pub async fn task_summary(db: &Db) -> String {
    let rows = sqlx::query(
        "SELECT kind, status, COUNT(*), COUNT(DISTINCT workflow_id) FROM tasks GROUP BY kind, status",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let with_task: i64 = sqlx::query("SELECT COUNT(DISTINCT workflow_id) FROM tasks")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    let parts: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}/{}: {} tasks of {} admissions",
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3)
            )
        })
        .collect();
    // An approved bed is not held while the person decides: if it is gone by the
    // assignment, the workflow searches again and asks again.
    let unavailable = sqlx::query(
        "SELECT COUNT(*), COUNT(DISTINCT workflow_id), \
                SUM(CASE WHEN workflow_id IN (SELECT workflow_id FROM tasks) THEN 1 ELSE 0 END) \
         FROM audit_log WHERE action = 'admission.bed_unavailable'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    format!(
        "{with_task} admissions needed a person; {}; {} assignments found the chosen bed taken \
         ({} admissions; {} of these in admissions that had an approval task)",
        parts.join(", "),
        unavailable.get::<i64, _>(0),
        unavailable.get::<i64, _>(1),
        unavailable.get::<Option<i64>, _>(2).unwrap_or(0)
    )
}

/// What the Temporal histories of a run's workflows show.
#[derive(Debug, Default)]
pub struct Histories {
    /// Started activities by worker identity (`careflow@PID`).
    pub activities: BTreeMap<String, usize>,
    /// Started workflow tasks by worker identity.
    pub workflow_tasks: BTreeMap<String, usize>,
    /// Activities that completed only on a later attempt (the earlier one was lost
    /// with a killed worker, or failed): each ran at least twice.
    pub retried_activities: usize,
    /// Workflow tasks that timed out (sent to a worker that died).
    pub workflow_task_timeouts: usize,
}

/// Reads every workflow's history with the Temporal CLI (8 at a time).
pub async fn histories(node: &Node, accepted: &[Accepted]) -> Histories {
    let mut h = Histories::default();
    for chunk in accepted.chunks(8) {
        let outs = futures::future::join_all(chunk.iter().map(|a| {
            node.temporal_owned(vec![
                "workflow".into(),
                "show".into(),
                "-w".into(),
                a.workflow_id.clone(),
                "--output".into(),
                "json".into(),
            ])
        }))
        .await;
        for out in outs {
            let history: serde_json::Value = serde_json::from_str(&out).expect("history JSON");
            for e in history["events"].as_array().expect("events") {
                if let Some(attrs) = e.get("activityTaskStartedEventAttributes") {
                    let id = attrs["identity"].as_str().unwrap_or("?").to_owned();
                    *h.activities.entry(id).or_default() += 1;
                    if attrs["attempt"].as_i64().unwrap_or(1) > 1 {
                        h.retried_activities += 1;
                    }
                }
                if let Some(attrs) = e.get("workflowTaskStartedEventAttributes") {
                    let id = attrs["identity"].as_str().unwrap_or("?").to_owned();
                    *h.workflow_tasks.entry(id).or_default() += 1;
                }
                if e.get("workflowTaskTimedOutEventAttributes").is_some() {
                    h.workflow_task_timeouts += 1;
                }
            }
        }
    }
    h
}

/// Percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}
