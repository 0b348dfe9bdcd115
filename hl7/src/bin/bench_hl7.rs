//! `bench-hl7`: ADT messages per second and ACK latency (p50, p99) of the HL7 listener
//! on the embedded default store (SQLite in a fresh temporary directory, the demo
//! hospital's 194 beds), over 1 and over 8 MLLP connections. Each ACK is sent only
//! after the change is committed, so the latency includes the commit.
//!
//! Each connection admits patients (A01) into its own share of the beds and discharges
//! them (A03) once its share is full; every fourth message is an ED registration (A04).
//!
//! ```text
//! cargo run --release -p hl7 --bin bench-hl7 -- [MESSAGES [CONNECTIONS,...]]   # 4000 1,8
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use careflow_hl7::location::{BedEntry, LocationFile, WardEntry};
use careflow_hl7::sender::MllpSender;
use careflow_hl7::{Hl7Service, LocationMap};
use careflow_store::{hospital, Db};

struct Args {
    /// Messages per run.
    messages: usize,
    /// Connection counts to measure, one run each.
    connections: Vec<usize>,
}

impl Args {
    fn parse() -> Result<Self> {
        let mut argv = std::env::args().skip(1);
        let messages = match argv.next() {
            Some(m) => m
                .parse()
                .with_context(|| format!("MESSAGES: a count, got {m:?}"))?,
            None => 4000,
        };
        let connections = match argv.next() {
            Some(c) => c
                .split(',')
                .map(|n| {
                    n.parse()
                        .with_context(|| format!("CONNECTIONS: counts like 1,8, got {c:?}"))
                })
                .collect::<Result<Vec<usize>>>()?,
            None => vec![1, 8],
        };
        if messages == 0 || connections.iter().any(|&c| c == 0 || c > messages) {
            bail!("MESSAGES must be positive and each connection count between 1 and MESSAGES");
        }
        Ok(Self {
            messages,
            connections,
        })
    }
}

fn message(
    ctrl: &str,
    trigger: &str,
    minute: usize,
    mrn: &str,
    class: &str,
    pv1_3: &str,
) -> String {
    let t = format!(
        "202612{:02}{:02}{:02}00",
        1 + minute / 1440 % 28,
        minute / 60 % 24,
        minute % 60
    );
    format!(
        "MSH|^~\\&|PAS|BENCH|CAREFLOW|CAREFLOW|{t}||ADT^{trigger}|{ctrl}|P|2.5.1\r\
         EVN|{trigger}|{t}\rPID|1||{mrn}^^^BENCH^MR||BENCH^PATIENT||19700101|F\rPV1|1|{class}|{pv1_3}\r"
    )
}

async fn connection(
    port: u16,
    run: usize,
    conn: usize,
    beds: Vec<String>,
    count: usize,
) -> Result<Vec<Duration>> {
    let mut pas = MllpSender::connect(("127.0.0.1", port)).await?;
    let mut latencies = Vec::with_capacity(count);
    let mut in_bed: std::collections::VecDeque<(String, String)> = Default::default();
    let mut free = beds;
    let mut patient = 0;
    for i in 0..count {
        let ctrl = format!("R{run}C{conn}M{i}");
        let msg = if i % 4 == 3 {
            patient += 1;
            message(
                &ctrl,
                "A04",
                i,
                &format!("E{run}-{conn}-{patient}"),
                "E",
                "ED^^",
            )
        } else if !free.is_empty() && (i % 4 != 2 || in_bed.is_empty()) {
            let bed = free.pop().expect("checked above");
            patient += 1;
            let mrn = format!("I{run}-{conn}-{patient}");
            in_bed.push_back((mrn.clone(), bed.clone()));
            message(&ctrl, "A01", i, &mrn, "I", &bed)
        } else {
            let (mrn, bed) = in_bed.pop_front().context("no one to discharge")?;
            free.insert(0, bed.clone());
            message(&ctrl, "A03", i, &mrn, "I", &bed)
        };
        let started = Instant::now();
        let code = pas.send(&msg).await?.code;
        latencies.push(started.elapsed());
        if code != "AA" {
            bail!("message {ctrl} got {code}");
        }
    }
    // Leave the beds free for the next run (not timed).
    for (j, (mrn, bed)) in in_bed.into_iter().enumerate() {
        let ctrl = format!("R{run}C{conn}D{j}");
        let msg = message(&ctrl, "A03", count + j, &mrn, "I", &bed);
        let code = pas.send(&msg).await?.code;
        if code != "AA" {
            bail!("message {ctrl} got {code}");
        }
    }
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse()?;
    let dir = std::env::temp_dir().join(format!("careflow-bench-hl7-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = Db::connect(&Db::sqlite_url(&dir.join("careflow.db"))).await?;
    hospital::seed_layout(&db, &hospital::demo_layout()).await?;
    let places = hospital::site_places(&db).await?;
    let ward_of = |room: &str| {
        places
            .rooms
            .iter()
            .find(|(r, _)| r == room)
            .map(|(_, w)| w.clone())
            .unwrap_or_default()
    };
    let file = LocationFile {
        wards: places
            .wards
            .iter()
            .map(|(w, _)| WardEntry {
                point_of_care: w.clone(),
                ward_id: w.clone(),
            })
            .collect(),
        beds: places
            .beds
            .iter()
            .map(|b| BedEntry {
                point_of_care: ward_of(&b.room_id),
                room: b.room_id.clone(),
                bed: b.bed_id.clone(),
                bed_id: b.bed_id.clone(),
            })
            .collect(),
    };
    let codes: Vec<String> = file
        .beds
        .iter()
        .map(|b| format!("{}^{}^{}", b.point_of_care, b.room, b.bed))
        .collect();
    let map = LocationMap::from_file(file).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(Hl7Service::new(db.clone(), map).serve(listener, std::future::pending()));

    println!(
        "bench-hl7: SQLite in {}, {} beds, {} messages per run, {} CPUs",
        dir.display(),
        codes.len(),
        args.messages,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for (run, &conns) in args.connections.iter().enumerate() {
        let per = args.messages / conns;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..conns {
            let share: Vec<String> = codes.iter().skip(c).step_by(conns).cloned().collect();
            tasks.push(tokio::spawn(connection(port, run, c, share, per)));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        let elapsed = started.elapsed();
        all.sort();
        println!(
            "{conns} connection(s): {} messages in {:.2} s = {:.0} msg/s; ACK p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            all.len(),
            elapsed.as_secs_f64(),
            all.len() as f64 / elapsed.as_secs_f64(),
            percentile(&all, 0.5).as_secs_f64() * 1e3,
            percentile(&all, 0.99).as_secs_f64() * 1e3,
            all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
