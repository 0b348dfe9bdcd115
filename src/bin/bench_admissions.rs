//! `bench-admissions`: end-to-end admission latency (request -> bed assigned) and
//! sustained admissions per second through the real API, workflows and database; with
//! `--baseline`, the same load on a one-activity no-op workflow against the same
//! Temporal server; with `--crash`, how soon admissions in flight resume after careflow
//! is SIGKILLed and restarted.
//!
//! By default it starts its own `careflow serve` (embedded Temporal, SQLite) in a fresh
//! temporary directory, seeds the demo hospital (194 beds) and discharges each patient
//! (through the API, as a bed manager) once their bed is assigned, so occupancy stays
//! low and every request matches a bed without a person's approval. With `--api URL
//! --as USER --data-dir DIR` it measures a running careflow instead (it then discharges
//! nobody: make sure beds are free).
//!
//! Phases: a short warm-up; `--samples` admissions one at a time (latency without
//! load); `--count` admissions by `--clients` concurrent clients, each sending its next
//! request once the previous one has its bed (latency under load and admissions/s);
//! with `--rate R`, then `--count` admissions offered at R a second whatever the answers
//! (an open loop: latency at a given arrival rate, not set by the clients' queue).
//!
//! Latency is measured from just before the POST to the bed assignment's timestamp in
//! the domain database, so polling does not inflate it. Every report ends with the
//! machine's load average.
//!
//! ```text
//! cargo build --release --bins && target/release/bench-admissions --baseline
//! target/release/bench-admissions --crash --in-flight 200 --kills 3
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
    /// After the closed loop, an open loop: `--count` admissions offered at this many per
    /// second whatever the answers (arrivals as a hospital sends them, so latency is not
    /// set by how many clients wait), each request -> bed assigned measured.
    #[arg(long, value_parser = positive_rate, conflicts_with = "crash")]
    rate: Option<f64>,
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
    /// Resume after SIGKILL instead of latency and rate: launch admissions until
    /// `--in-flight` are accepted and unfinished, SIGKILL careflow, start it again on the
    /// same data directory (it re-attaches to the Temporal dev server left running), and
    /// report how long after the restart those admissions finish; `--kills` rounds.
    #[arg(long, conflicts_with = "api")]
    crash: bool,
    /// With --crash: admissions in flight at each kill.
    #[arg(long, default_value_t = 200)]
    in_flight: usize,
    /// With --crash: kill rounds.
    #[arg(long, default_value_t = 3)]
    kills: usize,
    /// After the admissions, the same closed loop (`--count`, `--clients`) on a
    /// one-activity no-op workflow against the same Temporal server (a worker in this
    /// process): what Temporal alone allows on this machine, to compare with.
    #[arg(long, conflicts_with = "crash")]
    baseline: bool,
    /// Bays per ward, times the demo hospital's (--crash defaults to 4, so that a few
    /// hundred admissions in flight find beds of their specialty without a person).
    #[arg(long)]
    beds_scale: Option<u32>,
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

/// `--rate` is checked when the arguments are read, so that a bad value is refused
/// before the hospital is set up and the closed loop has run.
fn positive_rate(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a positive number of admissions per second"
        )),
    }
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
    let mut beds_token = None;
    let (base, token) = if let Some(api) = &args.api {
        let token = match (&args.token, &args.as_user) {
            (Some(t), _) => t.clone(),
            (None, Some(u)) => careflow::cli::login::session_token(api, u)?,
            (None, None) => bail!("--api needs --as USER or --token TOKEN"),
        };
        (api.clone(), token)
    } else {
        let scale = args.beds_scale.unwrap_or(if args.crash { 4 } else { 1 });
        let layout: Vec<_> = hospital::demo_layout()
            .into_iter()
            .map(|mut w| {
                w.bays.0 *= scale;
                w
            })
            .collect();
        let beds = hospital::seed_layout(&db, &layout).await?;
        let token = users::upsert(&db, "bench.clerk", Role::AdmissionsClerk, "bench").await?;
        // Discharges go through the API, as a ward's would: a second process writing
        // the SQLite file would contend for its lock as no real client does.
        beds_token = Some(users::upsert(&db, "bench.beds", Role::BedManager, "bench").await?);
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

    let beds_token = beds_token.filter(|_| discharge);
    let result = match server.as_mut() {
        Some(s) if args.crash => crash(&args, &db, s, &base, &token, beds_token.as_deref()).await,
        _ => measure(&args, &db, &base, &token, beds_token.as_deref()).await,
    };
    let result = match (result, &server) {
        (Ok(()), Some(s)) if args.baseline => baseline::run(&args, s.temporal_port).await,
        (Ok(()), None) if args.baseline => Err(anyhow::anyhow!(
            "--baseline needs the careflow this bench starts (not --api)"
        )),
        (r, _) => r,
    };
    if let Some(s) = server {
        s.stop();
    }
    db.close().await;
    if own && args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

async fn measure(
    args: &Args,
    db: &Db,
    base: &str,
    token: &str,
    beds_token: Option<&str>,
) -> Result<()> {
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
        api: ApiClient::with_http(base, token, http.clone()),
        beds: beds_token.map(|t| ApiClient::with_http(base, t, http)),
        finished: finished.clone(),
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
    println!("machine load {}", load());

    if let Some(rate) = args.rate {
        let requests: Vec<AdmissionRequest> =
            (0..args.count).map(|_| next_request(&mut rng)).collect();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let started = Instant::now();
        let mut handles = Vec::new();
        for req in requests {
            tick.tick().await;
            let client = client.clone();
            handles.push(tokio::spawn(async move { client.admit(req).await }));
        }
        let mut open = Vec::new();
        for h in handles {
            open.push(h.await??);
        }
        let wall = started.elapsed();
        report(&format!("{rate}/s offered"), &open, Some(wall));
        println!("machine load {}", load());
    }
    stop.store(true, Ordering::SeqCst);
    poller.await??;
    Ok(())
}

/// `--crash`: resume after SIGKILL with `--in-flight` admissions in flight.
async fn crash(
    args: &Args,
    db: &Db,
    server: &mut Server,
    base: &str,
    token: &str,
    beds_token: Option<&str>,
) -> Result<()> {
    let finished = Arc::new(Finished::default());
    let stop = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll_finished(
        db.clone(),
        now_text(),
        finished.clone(),
        stop.clone(),
    ));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let run_tag = format!("{:06x}", rand::rng().random::<u32>() & 0xff_ffff);
    let mut n = 0usize;
    let mut base = base.to_owned();
    let mut all = Vec::new();
    let (mut needed_person, mut unfinished) = (0usize, 0usize);
    println!(
        "crash: {} kills, {} admissions in flight at each, machine load {}",
        args.kills,
        args.in_flight,
        load()
    );
    for round in 1..=args.kills {
        let api = ApiClient::with_http(&base, token, http.clone());
        // Launch until `in_flight` accepted admissions are unfinished (or 3 times as
        // many were launched: a machine that finishes them as fast as they come).
        let cap = args.in_flight * 3;
        let requests: Vec<AdmissionRequest> = (0..cap)
            .map(|_| {
                n += 1;
                request(&run_tag, n, &mut rng)
            })
            .collect();
        let queue = Arc::new(Mutex::new(requests));
        // (admission id, workflow id) of each admission the API accepted.
        let accepted: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let halt = Arc::new(AtomicBool::new(false));
        let mut launchers = Vec::new();
        for _ in 0..args.clients {
            let (api, queue, accepted, halt) =
                (api.clone(), queue.clone(), accepted.clone(), halt.clone());
            launchers.push(tokio::spawn(async move {
                while !halt.load(Ordering::SeqCst) {
                    let Some(req) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let started = api
                        .create_admission(&req, None)
                        .await
                        .context("POST /api/admissions")?;
                    accepted
                        .lock()
                        .unwrap()
                        .push((started.admission_id, started.workflow_id));
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        loop {
            let open = {
                let done = finished.map.lock().unwrap();
                accepted
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(id, _)| !done.contains_key(id))
                    .count()
            };
            if open >= args.in_flight || launchers.iter().all(|l| l.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        halt.store(true, Ordering::SeqCst);
        for l in launchers {
            l.await??;
        }
        let load_at_kill = load();
        server.kill()?;
        let accepted = accepted.lock().unwrap().clone();
        let ids: Vec<String> = accepted.iter().map(|(id, _)| id.clone()).collect();
        // The database as the dead process left it: what had finished.
        let final_ids = final_admissions(db, &ids).await?;
        let in_flight: Vec<String> = ids
            .iter()
            .filter(|id| !final_ids.contains(*id))
            .cloned()
            .collect();
        let restarted_at = Utc::now();
        let restarted = Instant::now();
        server.restart()?;
        base = server.wait_ready(Duration::from_secs(120)).await?;
        let api_ready = restarted.elapsed();
        // Every admission in flight finishes (or waits for a person, left out).
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let left = {
                let done = finished.map.lock().unwrap();
                in_flight
                    .iter()
                    .filter(|id| !done.contains_key(*id))
                    .count()
            };
            if left == 0 || Instant::now() > deadline {
                break;
            }
            if left <= in_flight.len() / 20 + 1 {
                // The last few may wait on a person: stop once they do.
                let waiting = waiting_for_person(db, &in_flight).await?;
                if waiting >= left {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let person = person_ids(db, &in_flight).await?;
        let mut resume = Vec::new();
        {
            let done = finished.map.lock().unwrap();
            for id in in_flight.iter().filter(|id| !person.contains(*id)) {
                match done.get(id) {
                    Some(d) => resume.push((d.at - restarted_at).to_std().unwrap_or_default()),
                    None => unfinished += 1,
                }
            }
        }
        needed_person += person.len();
        resume.sort();
        println!(
            "crash: round {round}: {} accepted, {} in flight at the kill (load {load_at_kill}); API ready {:.2} s after the restart; \
             {} without a person finished p50 {:.2} s, p95 {:.2} s, max {:.2} s after the restart; {} needed a person",
            accepted.len(),
            in_flight.len(),
            api_ready.as_secs_f64(),
            resume.len(),
            pct(&resume, 0.5).as_secs_f64(),
            pct(&resume, 0.95).as_secs_f64(),
            resume.last().copied().unwrap_or_default().as_secs_f64(),
            person.len()
        );
        all.extend(resume);
        // Free the beds for the next round.
        let admitted: Vec<String> = {
            let done = finished.map.lock().unwrap();
            accepted
                .iter()
                .filter(|(id, _)| done.get(id).is_some_and(|d| d.status == "admitted"))
                .map(|(_, wf)| wf.clone())
                .collect()
        };
        if let Some(t) = beds_token {
            let beds = ApiClient::with_http(&base, t, http.clone());
            for wf in admitted {
                beds.discharge(&wf).await.context("discharging")?;
            }
        }
    }
    all.sort();
    println!(
        "crash: over {} kills, {} admissions in flight without a person finished p50 {:.2} s, p95 {:.2} s, max {:.2} s after the restart \
         ({unfinished} unfinished after 180 s, {needed_person} needed a person); machine load {}",
        args.kills,
        all.len(),
        pct(&all, 0.5).as_secs_f64(),
        pct(&all, 0.95).as_secs_f64(),
        all.last().copied().unwrap_or_default().as_secs_f64(),
        load()
    );
    stop.store(true, Ordering::SeqCst);
    poller.await??;
    Ok(())
}

/// Of `ids`, the admissions in a final state.
async fn final_admissions(db: &Db, ids: &[String]) -> Result<std::collections::HashSet<String>> {
    let rows = sqlx::query(
        "SELECT admission_id FROM admissions \
         WHERE status IN ('admitted','declined','cancelled','discharged')",
    )
    .fetch_all(db.pool())
    .await?;
    let wanted: std::collections::HashSet<&String> = ids.iter().collect();
    let mut out = std::collections::HashSet::new();
    for r in rows {
        let id: String = r.try_get(0)?;
        if wanted.contains(&id) {
            out.insert(id);
        }
    }
    Ok(out)
}

/// Of `ids`, the admissions that opened a task for a person.
async fn person_ids(db: &Db, ids: &[String]) -> Result<std::collections::HashSet<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT a.admission_id FROM tasks t JOIN admissions a ON a.workflow_id = t.workflow_id",
    )
    .fetch_all(db.pool())
    .await?;
    let wanted: std::collections::HashSet<&String> = ids.iter().collect();
    let mut out = std::collections::HashSet::new();
    for r in rows {
        let id: String = r.try_get(0)?;
        if wanted.contains(&id) {
            out.insert(id);
        }
    }
    Ok(out)
}

/// Of `ids`, how many wait on a person now.
async fn waiting_for_person(db: &Db, ids: &[String]) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT DISTINCT a.admission_id FROM tasks t JOIN admissions a ON a.workflow_id = t.workflow_id \
         WHERE t.status = 'open'",
    )
    .fetch_all(db.pool())
    .await?;
    let wanted: std::collections::HashSet<&String> = ids.iter().collect();
    let mut n = 0;
    for r in rows {
        if wanted.contains(&r.try_get::<String, _>(0)?) {
            n += 1;
        }
    }
    Ok(n)
}

/// The machine's load averages (1, 5, 15 minutes) and cores.
fn load() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{avg} on {cores} cores")
}

#[derive(Clone)]
struct Client {
    api: ApiClient,
    /// The bed manager who discharges each admitted patient (None: nobody does).
    beds: Option<ApiClient>,
    finished: Arc<Finished>,
}

impl Client {
    /// Admits one patient and waits until the admission has finished.
    async fn admit(&self, req: AdmissionRequest) -> Result<Sample> {
        let sent_at = Utc::now();
        let sent = Instant::now();
        let (id, workflow_id) = match self.api.create_admission(&req, None).await {
            Ok(started) => (started.admission_id, started.workflow_id),
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
        if let Some(beds) = self.beds.as_ref().filter(|_| admitted) {
            beds.discharge(&workflow_id).await.context("discharging")?;
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
    exe: PathBuf,
    temporal_port: u16,
    database: Option<String>,
    starts: u32,
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
        let temporal_port = match args.temporal_port {
            Some(p) => p,
            None => free_temporal_port()?,
        };
        let child = spawn_serve(&exe, data_dir, temporal_port, args.database.as_deref(), 1)?;
        Ok(Self {
            child,
            data_dir: data_dir.to_owned(),
            exe,
            temporal_port,
            database: args.database.clone(),
            starts: 1,
        })
    }

    /// SIGKILLs careflow (nothing of its shutdown runs: the Temporal dev server it
    /// started stays up) and reaps it.
    fn kill(&mut self) -> Result<()> {
        self.child.kill().context("SIGKILL careflow")?;
        self.child.wait()?;
        // The dead process's API address must not be taken for the next one's.
        let _ = std::fs::remove_file(self.data_dir.join("api-url"));
        Ok(())
    }

    /// Starts careflow again on the same data directory and Temporal port.
    fn restart(&mut self) -> Result<()> {
        self.starts += 1;
        self.child = spawn_serve(
            &self.exe,
            &self.data_dir,
            self.temporal_port,
            self.database.as_deref(),
            self.starts,
        )?;
        Ok(())
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
                self.stop_left_temporal();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stop_left_temporal();
    }

    /// A careflow restarted after SIGKILL only attached to the dev server the first one
    /// started, and leaves it running when it stops: stop it too.
    fn stop_left_temporal(&self) {
        let addr = ("127.0.0.1", self.temporal_port);
        if std::net::TcpStream::connect(addr).is_err() {
            return;
        }
        if let Ok(pid) = std::fs::read_to_string(self.data_dir.join("temporal.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

/// Starts `careflow serve` on `data_dir` (log appended to its serve.log).
fn spawn_serve(
    exe: &Path,
    data_dir: &Path,
    temporal_port: u16,
    database: Option<&str>,
    start: u32,
) -> Result<Child> {
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("serve.log"))?;
    writeln!(log, "--- bench: start {start} ---")?;
    Command::new(exe)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--temporal-port", &temporal_port.to_string()])
        .args(database.iter().flat_map(|d| ["--database", d]))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("CAREFLOW_DATABASE")
        .env_remove("CAREFLOW_TEMPORAL")
        // The bench sends as fast as careflow answers: no request-rate limits.
        .env("CAREFLOW_RATE_LIMIT_CLIENT", "0")
        .env("CAREFLOW_RATE_LIMIT_LOGIN", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))
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

/// `--baseline`: a one-activity no-op workflow, so that admissions' figures can be read
/// against what the Temporal server itself gives on the same machine in the same run.
mod baseline {
    #![allow(missing_docs)] // the workflow and activity macros generate undocumented items

    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use anyhow::{Context, Result};
    use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
    use temporalio_macros::{activities, workflow, workflow_methods};
    use temporalio_sdk::activities::{ActivityContext, ActivityError};
    use temporalio_sdk::{
        ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowContextView,
        WorkflowResult,
    };

    use careflow::serve::{ACTIVITY_POLLERS, NONSTICKY_POLL_RATIO, WORKFLOW_POLLERS};
    use careflow::temporal::{connect, ClusterOptions};
    use temporalio_sdk::runtime::PollerBehavior;

    const QUEUE: &str = "bench-baseline";

    pub struct NoopActivities;

    #[activities]
    impl NoopActivities {
        #[activity]
        pub async fn noop(
            self: Arc<Self>,
            _ctx: ActivityContext,
            _n: u64,
        ) -> Result<(), ActivityError> {
            Ok(())
        }
    }

    #[workflow]
    pub struct NoopWorkflow {
        n: u64,
    }

    #[workflow_methods]
    impl NoopWorkflow {
        #[init]
        pub fn new(_ctx: &WorkflowContextView, n: u64) -> Self {
            Self { n }
        }

        #[run]
        pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
            let n = ctx.state(|s| s.n);
            ctx.execute_activity(
                NoopActivities::noop,
                n,
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
            Ok(())
        }
    }

    pub async fn run(args: &super::Args, temporal_port: u16) -> Result<()> {
        let address = format!("127.0.0.1:{temporal_port}");
        let client = connect(
            &address,
            &ClusterOptions::plain("default"),
            Duration::from_secs(30),
            None,
        )
        .await?;
        let runtime = Runtime::from_current_tokio(Default::default())?;
        // Polled as careflow's own worker polls its task queue.
        let mut options = WorkerOptions::new(QUEUE)
            .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(WORKFLOW_POLLERS))
            .nonsticky_to_sticky_poll_ratio(NONSTICKY_POLL_RATIO)
            .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(ACTIVITY_POLLERS))
            .build();
        options
            .register_workflow::<NoopWorkflow>()?
            .register_activities(NoopActivities);
        let mut worker =
            Worker::new(&runtime, client.clone(), options).context("baseline worker")?;
        let stop = worker.shutdown_handle();
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let load = async {
            let next = Arc::new(Mutex::new(0u64));
            let started = Instant::now();
            let mut handles = Vec::new();
            for _ in 0..args.clients {
                let (client, next, tag) = (client.clone(), next.clone(), tag.clone());
                let count = args.count as u64;
                handles.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let n = {
                            let mut g = next.lock().unwrap();
                            *g += 1;
                            *g
                        };
                        if n > count {
                            return Ok::<_, anyhow::Error>(lat);
                        }
                        let sent = Instant::now();
                        let handle = client
                            .start_workflow(
                                NoopWorkflow::run,
                                n,
                                WorkflowStartOptions::new(QUEUE, format!("bench-noop-{tag}-{n}"))
                                    .build(),
                            )
                            .await
                            .context("starting a no-op workflow")?;
                        handle
                            .get_result(WorkflowGetResultOptions::default())
                            .await
                            .context("no-op workflow result")?;
                        lat.push(sent.elapsed());
                    }
                }));
            }
            let mut lat = Vec::new();
            for h in handles {
                lat.extend(h.await??);
            }
            let wall = started.elapsed();
            stop();
            Ok::<_, anyhow::Error>((lat, wall))
        };
        let (ran, measured) = tokio::join!(worker.run(), load);
        ran.context("baseline worker")?;
        let (mut lat, wall) = measured?;
        lat.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "baseline (one-activity no-op workflow, same Temporal server, {} clients): {} workflows, start -> result p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; {:.1} workflows/s sustained; machine load {}",
            args.clients,
            lat.len(),
            ms(super::pct(&lat, 0.5)),
            ms(super::pct(&lat, 0.95)),
            ms(lat.last().copied().unwrap_or_default()),
            lat.len() as f64 / wall.as_secs_f64(),
            super::load()
        );
        Ok(())
    }
}
