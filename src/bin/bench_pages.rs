//! `bench-pages`: page latency with many people at once. Against a running `careflow
//! serve` (`--api`) and its domain database (`--database`, to seed the users and their
//! tasks), `--users` concurrent people each log in on the login form, then browse their
//! pages `--rounds` times and act: bed managers open and claim a task of their own,
//! department heads read the dashboards, auditors search the audit trail, the ethics
//! secretary reads the review queue. Prints p50/p95/max latency per page and overall.
//!
//! ```text
//! careflow --data-dir /tmp/cf serve &   # then:
//! target/release/bench-pages --api "$(cat /tmp/cf/api-url)" --database sqlite:///tmp/cf/careflow.db
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use careflow_store::{tasks, users, Db};
use careflow_types::{NewTask, Role, TaskKind};

#[derive(Parser, Debug)]
#[command(name = "bench-pages", about = "Page latency with concurrent users")]
struct Args {
    /// The running careflow's base URL.
    #[arg(long)]
    api: String,
    /// Its domain database (the bench adds its users and their tasks).
    #[arg(long)]
    database: String,
    /// Concurrent users.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Rounds of browsing per user.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
}

const PASSWORD: &str = "bench-pages password";

/// The mix of people: of every ten, four bed managers, three department heads, two
/// auditors and one ethics secretary.
fn role_of(n: usize) -> Role {
    match n % 10 {
        0..=3 => Role::BedManager,
        4..=6 => Role::DepartmentHead,
        7 | 8 => Role::Auditor,
        _ => Role::EthicsSecretary,
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Runtime::new()?.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let db = Db::connect(&args.database)
        .await
        .context("opening the domain database")?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut people = Vec::new();
    for n in 0..args.users {
        let name = format!("bench-{tag}-{n}");
        let role = role_of(n);
        users::upsert_with_password(&db, &name, role, Some(PASSWORD), "bench-pages").await?;
        let task = if role == Role::BedManager {
            let id = format!("task-{tag}-{n}");
            tasks::open(
                &db,
                &NewTask {
                    task_id: id.clone(),
                    workflow_id: format!("bench-{tag}-{n}"),
                    kind: TaskKind::BedPlan,
                    role,
                    summary: format!("bench task {n}"),
                    proposed_bed: None,
                    due_at: "2030-01-01T00:00:00Z".into(),
                    requested_by: Some("bench".into()),
                },
            )
            .await?;
            Some(id)
        } else {
            None
        };
        people.push((name, role, task));
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for (name, role, task) in people {
        let (http, base, rounds) = (http.clone(), args.api.clone(), args.rounds);
        handles.push(tokio::spawn(async move {
            person(&http, &base, &name, role, task.as_deref(), rounds).await
        }));
    }
    let mut all: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for h in handles {
        for (page, d) in h.await?? {
            all.entry(page).or_default().push(d);
        }
    }
    let wall = started.elapsed();
    let mut every: Vec<Duration> = all.values().flatten().copied().collect();
    println!(
        "bench-pages: {} users, {} requests in {:.1}s ({:.0}/s)",
        args.users,
        every.len(),
        wall.as_secs_f64(),
        every.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "{:<28} {:>6} {:>9} {:>9} {:>9}",
        "page", "n", "p50 ms", "p95 ms", "max ms"
    );
    for (page, ds) in &mut all {
        line(page, ds);
    }
    line("all pages", &mut every);
    Ok(())
}

fn line(page: &str, ds: &mut [Duration]) {
    ds.sort_unstable();
    let q = |p: f64| ds[((ds.len() as f64 * p).ceil() as usize).clamp(1, ds.len()) - 1];
    println!(
        "{page:<28} {:>6} {:>9.1} {:>9.1} {:>9.1}",
        ds.len(),
        q(0.5).as_secs_f64() * 1e3,
        q(0.95).as_secs_f64() * 1e3,
        ds[ds.len() - 1].as_secs_f64() * 1e3
    );
}

/// The value `name` of the answer's `Set-Cookie` headers.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

/// The hidden `csrf` field of the page's first form.
fn form_csrf(body: &str) -> Option<String> {
    let at = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(body[at..].split('"').next()?.to_owned())
}

/// One person: logs in, then browses and acts; every request's latency by page.
async fn person(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    role: Role,
    task: Option<&str>,
    rounds: usize,
) -> Result<Vec<(String, Duration)>> {
    let mut out = Vec::new();
    let t = Instant::now();
    let form = http.get(format!("{base}/login")).send().await?;
    let login_csrf = set_cookie(&form, "careflow_login_csrf").context("login form cookie")?;
    form.text().await?;
    out.push(("GET /login".to_owned(), t.elapsed()));
    let t = Instant::now();
    let resp = http
        .post(format!("{base}/login"))
        .header(COOKIE, format!("careflow_login_csrf={login_csrf}"))
        .form(&[
            ("csrf", login_csrf.as_str()),
            ("username", name),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    let session = set_cookie(&resp, "careflow_session")
        .filter(|s| !s.is_empty())
        .with_context(|| format!("{name} was not logged in ({})", resp.status()))?;
    out.push(("POST /login".to_owned(), t.elapsed()));
    let cookie = format!("careflow_session={session}");
    let get = |path: String| {
        let cookie = cookie.clone();
        async move {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header(COOKIE, cookie)
                .send()
                .await?;
            let status = r.status();
            let body = r.text().await?;
            if !status.is_success() {
                bail!("GET {path}: {status}");
            }
            Ok::<_, anyhow::Error>((body, t.elapsed()))
        }
    };
    let pages: Vec<(&str, String)> = match role {
        Role::BedManager => vec![
            ("GET /inbox", "/inbox".into()),
            (
                "GET /inbox/{task_id}",
                format!("/inbox/{}", task.unwrap_or("")),
            ),
            ("GET /dashboard", "/dashboard".into()),
        ],
        Role::DepartmentHead => vec![
            ("GET /dashboard", "/dashboard".into()),
            ("GET /dashboard/theatre", "/dashboard/theatre".into()),
            ("GET /dashboard/scanner", "/dashboard/scanner".into()),
            ("GET /dashboard/roster", "/dashboard/roster".into()),
        ],
        Role::Auditor => vec![
            ("GET /audit", "/audit".into()),
            ("GET /audit?actor=", format!("/audit?actor={name}")),
            ("GET /ethics", "/ethics".into()),
        ],
        _ => vec![
            ("GET /ethics", "/ethics".into()),
            ("GET /models", "/models".into()),
        ],
    };
    for round in 0..rounds {
        for (label, path) in &pages {
            let (body, d) = get(path.clone()).await?;
            out.push(((*label).to_owned(), d));
            // Acting: a bed manager claims their task on the first round.
            if round == 0 && label.starts_with("GET /inbox/") {
                let csrf = form_csrf(&body).context("the task page's form")?;
                let t = Instant::now();
                let r = http
                    .post(format!("{base}{path}/claim"))
                    .header(COOKIE, cookie.clone())
                    .form(&[("csrf", csrf.as_str())])
                    .send()
                    .await?;
                if r.headers().get(LOCATION).is_none() {
                    bail!("{name}'s claim was not accepted: {}", r.status());
                }
                out.push(("POST /inbox/{id}/claim".to_owned(), t.elapsed()));
            }
        }
    }
    Ok(out)
}
