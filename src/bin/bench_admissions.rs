//! `bench-admissions`: end-to-end admission latency (request -> bed assigned) and
//! sustained admissions per second through the real API, workflows and database.
//!
//! By default it starts its own `careflow serve` (embedded Temporal, SQLite) in a fresh
//! temporary directory, seeds the demo hospital (194 beds) and discharges each patient
//! once their bed is assigned, so occupancy stays low and every request matches a bed
//! without a person's approval. With `--api URL --as USER --data-dir DIR` it measures a
//! running careflow instead (it then discharges nobody: make sure beds are free).
//!
//! Phases: a short warm-up; `--samples` admissions one at a time (latency without
//! load); `--count` admissions by `--clients` concurrent clients, each sending its next
//! request once the previous one has its bed (latency under load and admissions/s).
//!
//! Latency is measured from just before the POST to the bed assignment's timestamp in
//! the domain database, so polling does not inflate it.
//!
//! ```text
//! cargo build --release --bins && target/release/bench-admissions
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;

use careflow::client::{ApiClient, ApiError};
use careflow_store::{hospital, users, Db};
use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Role, Sex};

#[derive(Parser, Debug)]
#[command(
    name = "bench-admissions",
    about = "Admission latency (request -> bed assigned) and throughput"
)]
struct Args {
    /// Measure this running careflow API instead of starting one.
    #[arg(long)]
    api: Option<String>,
    /// User to act as (their `careflow login` session for --api); with --api.
    #[arg(long = "as")]
    as_user: Option<String>,
    /// Bearer token instead of --as.
    #[arg(long)]
    token: Option<String>,
    /// Data directory (default: a fresh temporary one, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Domain database (default: DATA_DIR/careflow.db); the careflow this bench starts
    /// uses it too (e.g. an empty PostgreSQL database, to compare with SQLite).
    #[arg(long)]
    database: Option<String>,
    /// Admissions in the throughput phase.
    #[arg(long, default_value_t = 400)]
    count: usize,
    /// Concurrent clients in the throughput phase.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Admissions one at a time in the latency phase.
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Unmeasured admissions first.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Embedded Temporal port (default: a free one).
    #[arg(long)]
    temporal_port: Option<u16>,
    /// careflow binary (default: next to this one).
    #[arg(long)]
    careflow: Option<PathBuf>,
    /// Do not discharge patients after their bed is assigned.
    #[arg(long)]
    no_discharge: bool,
    /// Seed of the patient mix.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// One finished admission as the database recorded it.
#[derive(Clone, Debug)]
struct Done {
    status: String,
    at: DateTime<Utc>,
}

/// Admissions seen finished, filled by one poller for all clients.
#[derive(Default)]
struct Finished {
    map: Mutex<HashMap<String, Done>>,
    notify: tokio::sync::Notify,
}

struct Sample {
    /// POST answered.
    accepted: Duration,
    /// Request sent -> bed assigned (None: not admitted).
    assigned: Option<Duration>,
    status: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Runtime::new()?.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let own = args.api.is_none();
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("careflow-bench-{}", uuid::Uuid::new_v4())),
    };
    std::fs::create_dir_all(&data_dir)?;
    let db_url = args
        .database
        .clone()
        .unwrap_or_else(|| Db::sqlite_url(&data_dir.join("careflow.db")));
    let db = Db::connect(&db_url)
        .await
        .context("opening the domain database")?;

    let mut server = None;
    let (base, token) = if let Some(api) = &args.api {
        let token = match (&args.token, &args.as_user) {
            (Some(t), _) => t.clone(),
            (None, Some(u)) => careflow::cli::login::session_token(api, u)?,
            (None, None) => bail!("--api needs --as USER or --token TOKEN"),
        };
        (api.clone(), token)
    } else {
        let beds = hospital::seed_layout(&db, &hospital::demo_layout()).await?;
        let token = users::upsert(&db, "bench.clerk", Role::AdmissionsClerk, "bench").await?;
        let s = Server::start(&args, &data_dir)?;
        let base = s.wait_ready(Duration::from_secs(120)).await?;
        eprintln!(
            "bench: careflow serve (embedded Temporal, {} domain database) at {base}, hospital of {beds} beds",
            if args.database.is_some() { "given" } else { "SQLite" }
        );
        server = Some(s);
        (base, token)
    };
    let discharge = own && !args.no_discharge;

    let result = measure(&args, &db, &base, &token, discharge).await;
    if let Some(s) = server {
        s.stop();
    }
    db.close().await;
    if own && args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

async fn measure(args: &Args, db: &Db, base: &str, token: &str, discharge: bool) -> Result<()> {
    let finished = Arc::new(Finished::default());
    let stop = Arc::new(AtomicBool::new(false));
    let since = now_text();
    let poller = tokio::spawn(poll_finished(
        db.clone(),
        since,
        finished.clone(),
        stop.clone(),
    ));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let client = Client {
        api: ApiClient::with_http(base, token, http),
        db: db.clone(),
        finished: finished.clone(),
        discharge,
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let run_tag = format!("{:06x}", rand::rng().random::<u32>() & 0xff_ffff);
    let mut n = 0usize;
    let mut next_request = |rng: &mut StdRng| {
        n += 1;
        request(&run_tag, n, rng)
    };

    for _ in 0..args.warmup {
        client.admit(next_request(&mut rng)).await?;
    }
    let mut sequential = Vec::new();
    for _ in 0..args.samples {
        sequential.push(client.admit(next_request(&mut rng)).await?);
    }
    report("one at a time", &sequential, None);

    // Closed loop: each client sends its next request when the previous one is done.
    let requests: Vec<AdmissionRequest> = (0..args.count).map(|_| next_request(&mut rng)).collect();
    let queue = Arc::new(Mutex::new(requests));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..args.clients {
        let (client, queue) = (client.clone(), queue.clone());
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let Some(req) = queue.lock().unwrap().pop() else {
                    return Ok::<_, anyhow::Error>(out);
                };
                out.push(client.admit(req).await?);
            }
        }));
    }
    let mut loaded = Vec::new();
    for h in handles {
        loaded.extend(h.await??);
    }
    let wall = started.elapsed();
    report(&format!("{} clients", args.clients), &loaded, Some(wall));
    stop.store(true, Ordering::SeqCst);
    poller.await??;
    Ok(())
}

#[derive(Clone)]
struct Client {
    api: ApiClient,
    db: Db,
    finished: Arc<Finished>,
    discharge: bool,
}

impl Client {
    /// Admits one patient and waits until the admission has finished.
    async fn admit(&self, req: AdmissionRequest) -> Result<Sample> {
        let sent_at = Utc::now();
        let sent = Instant::now();
        let id = match self.api.create_admission(&req, None).await {
            Ok(started) => started.admission_id,
            Err(e @ ApiError::Refused { .. }) => bail!("admission refused: {e}"),
            Err(e) => return Err(e).context("POST /api/admissions"),
        };
        let accepted = sent.elapsed();
        let deadline = Instant::now() + Duration::from_secs(120);
        let done = loop {
            let notified = self.finished.notify.notified();
            if let Some(d) = self.finished.map.lock().unwrap().get(&id).cloned() {
                break Some(d);
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                break None;
            }
        };
        let Some(done) = done else {
            return Ok(Sample {
                accepted,
                assigned: None,
                status: "unfinished after 120 s".into(),
            });
        };
        let admitted = done.status == "admitted" || done.status == "discharged";
        if admitted && self.discharge {
            hospital::discharge(&self.db, &id, "bench", Role::BedManager.as_str())
                .await
                .context("discharging")?;
        }
        Ok(Sample {
            accepted,
            assigned: admitted.then(|| (done.at - sent_at).to_std().unwrap_or_default()),
            status: done.status,
        })
    }
}

/// Watches the admissions table for finished admissions (one query every 10 ms for all
/// clients) and wakes the clients waiting on them.
async fn poll_finished(
    db: Db,
    since: String,
    finished: Arc<Finished>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    while !stop.load(Ordering::SeqCst) {
        let rows = sqlx::query(
            "SELECT admission_id, status, updated_at FROM admissions \
             WHERE updated_at >= $1 AND status IN ('admitted','declined','cancelled','discharged')",
        )
        .bind(&since)
        .fetch_all(db.pool())
        .await?;
        let mut seen = Vec::with_capacity(rows.len());
        for r in rows {
            let at: String = r.try_get(2)?;
            seen.push((
                r.try_get::<String, _>(0)?,
                Done {
                    status: r.try_get(1)?,
                    at: DateTime::parse_from_rfc3339(&at)?.with_timezone(&Utc),
                },
            ));
        }
        let grew = {
            let mut map = finished.map.lock().unwrap();
            let before = map.len();
            for (id, done) in seen {
                map.entry(id).or_insert(done);
            }
            map.len() > before
        };
        if grew {
            finished.notify.notify_waiters();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A synthetic patient of the demo hospital's case mix whose specialty has a ward, so
/// that no person needs to approve the bed.
fn request(run_tag: &str, n: usize, rng: &mut StdRng) -> AdmissionRequest {
    const MIX: [(&str, u32); 7] = [
        ("general_medicine", 30),
        ("elderly_care", 15),
        ("cardiology", 15),
        ("respiratory", 12),
        ("general_surgery", 12),
        ("orthopaedics", 8),
        ("paediatrics", 8),
    ];
    let mut pick = rng.random_range(0..MIX.iter().map(|m| m.1).sum::<u32>());
    let specialty = MIX
        .iter()
        .find(|(_, w)| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        })
        .map(|m| m.0)
        .unwrap_or("general_medicine");
    let age_group = match specialty {
        "paediatrics" => AgeGroup::Child,
        "elderly_care" => AgeGroup::Elderly,
        _ => AgeGroup::Adult,
    };
    AdmissionRequest {
        patient_ref: format!("BENCH-{run_tag}-{n:06}"),
        kind: if rng.random_bool(0.65) {
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
        expected_los_days: rng.random_range(1..8),
        requested_by: "bench".into(),
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(phase: &str, samples: &[Sample], wall: Option<Duration>) {
    let mut lat: Vec<Duration> = samples.iter().filter_map(|s| s.assigned).collect();
    lat.sort();
    let mut acc: Vec<Duration> = samples.iter().map(|s| s.accepted).collect();
    acc.sort();
    let mut others: HashMap<&str, usize> = HashMap::new();
    for s in samples.iter().filter(|s| s.assigned.is_none()) {
        *others.entry(s.status.as_str()).or_default() += 1;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{phase}: {} admissions, {} assigned a bed; request -> bed assigned p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; POST answered p50 {:.1} ms, p95 {:.1} ms",
        samples.len(),
        lat.len(),
        ms(pct(&lat, 0.50)),
        ms(pct(&lat, 0.95)),
        ms(pct(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        ms(pct(&acc, 0.50)),
        ms(pct(&acc, 0.95)),
    );
    if !others.is_empty() {
        println!("{phase}: not admitted: {others:?}");
    }
    if let Some(wall) = wall {
        println!(
            "{phase}: {:.1} admissions/s sustained ({} in {:.1} s)",
            lat.len() as f64 / wall.as_secs_f64(),
            lat.len(),
            wall.as_secs_f64()
        );
    }
}

/// A `careflow serve` this bench started.
struct Server {
    child: Child,
    data_dir: PathBuf,
}

impl Server {
    fn start(args: &Args, data_dir: &Path) -> Result<Self> {
        let exe = match &args.careflow {
            Some(p) => p.clone(),
            None => std::env::current_exe()?.with_file_name("careflow"),
        };
        if !exe.is_file() {
            bail!(
                "{} not found: build it with the same profile (cargo build --release --bins)",
                exe.display()
            );
        }
        let port = match args.temporal_port {
            Some(p) => p,
            None => free_temporal_port()?,
        };
        let log = std::fs::File::create(data_dir.join("serve.log"))?;
        let child = Command::new(&exe)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--temporal-port", &port.to_string()])
            .args(
                args.database
                    .iter()
                    .flat_map(|d| ["--database", d.as_str()]),
            )
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("CAREFLOW_DATABASE")
            .env_remove("CAREFLOW_TEMPORAL")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        Ok(Self {
            child,
            data_dir: data_dir.to_owned(),
        })
    }

    /// Waits for the API URL careflow writes and for the API to answer.
    async fn wait_ready(&self, patience: Duration) -> Result<String> {
        let start = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Ok(base) = std::fs::read_to_string(self.data_dir.join("api-url")) {
                let base = base.trim().to_owned();
                if let Ok(r) = http.get(format!("{base}/api/health")).send().await {
                    if r.status().is_success() {
                        return Ok(base);
                    }
                }
            }
            if start.elapsed() > patience {
                bail!(
                    "careflow did not start within {patience:?}; see {}",
                    self.data_dir.join("serve.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops careflow as Ctrl-C would (it stops the Temporal server it started).
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(pid) = std::fs::read_to_string(self.data_dir.join("temporal.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

/// A port P with P and P+1000 (the Temporal Web UI) free.
fn free_temporal_port() -> Result<u16> {
    let mut rng = rand::rng();
    for _ in 0..200 {
        let p: u16 = rng.random_range(17_000..30_000);
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p + 1000)).is_ok()
        {
            return Ok(p);
        }
    }
    bail!("no free port pair for the embedded Temporal server")
}
