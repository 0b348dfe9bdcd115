//! Serving: Temporal (embedded unless `--temporal`), a worker and the HTTP API in one
//! process (`careflow serve`), or a worker alone (`careflow worker`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context, Result};
use temporalio_client::Client;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use careflow_dashboards::AppState;
use careflow_store::users::{self, NewUser, Provisioner};
use careflow_store::Db;
use careflow_types::{Role, TASK_QUEUE};

use crate::cli::Global;
use crate::client::api_file;
use crate::temporal::{connect, EmbeddedTemporal};

/// A future on the serving task (not Send: it runs beside the worker).
pub type LocalFuture = Pin<Box<dyn Future<Output = Result<()>>>>;

/// Work to run beside the server once it listens (the demo's day of admissions). It
/// gets the API's base URL; `exit_when_done` stops the server when it finishes.
pub struct Driver {
    /// Builds the work from the API base URL.
    pub start: Box<dyn FnOnce(String) -> LocalFuture>,
    /// Stop serving when the work is done.
    pub exit_when_done: bool,
}

/// The HL7 v2 ADT listener to run beside the API (`--hl7-listen`, `--hl7-locations`).
#[derive(Debug, Clone)]
pub struct Hl7Listen {
    /// MLLP address.
    pub addr: String,
    /// The location map file (sender's PV1-3 codes to careflow's wards and beds).
    pub locations: std::path::PathBuf,
}

/// Runs Temporal (embedded unless `--temporal`), a worker and the HTTP API on `listen`,
/// and the HL7 ADT listener when `hl7` is given.
pub async fn serve(
    g: &Global,
    listen: &str,
    driver: Option<Driver>,
    hl7: Option<Hl7Listen>,
) -> Result<()> {
    let db = g.open_db().await?;
    ensure_admin(&db).await?;
    // Bind first: a taken port fails before anything is started.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the HTTP API to {listen}"))?;
    // The ADT listener: its port and its location map are checked before anything runs.
    let hl7 = match hl7 {
        Some(h) => {
            let map = careflow_hl7::LocationMap::load(&h.locations, &db).await?;
            let l = tokio::net::TcpListener::bind(&h.addr)
                .await
                .with_context(|| format!("binding the HL7 listener to {}", h.addr))?;
            eprintln!("careflow: HL7 v2 ADT (MLLP) at {}", l.local_addr()?);
            Some((careflow_hl7::Hl7Service::new(db.clone(), map), l))
        }
        None => None,
    };
    let (stop_hl7_tx, stop_hl7_rx) = tokio::sync::oneshot::channel::<()>();
    let hl7_run: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match hl7 {
        Some((service, l)) => Box::pin(service.serve(l, async {
            let _ = stop_hl7_rx.await;
        })),
        None => Box::pin(std::future::pending()),
    };
    tokio::pin!(hl7_run);
    let embedded = match &g.temporal {
        None => Some(
            EmbeddedTemporal::start(&g.data_dir, g.temporal_port, g.temporal_port + 1000).await?,
        ),
        Some(_) => None,
    };
    let address = g.temporal.clone().unwrap_or_else(|| {
        embedded
            .as_ref()
            .map(|e| e.address.clone())
            .unwrap_or_default()
    });
    let client = connect(&address, Duration::from_secs(60)).await?;
    let runtime = Runtime::from_current_tokio(Default::default())?;
    careflow_activities::configure_forecasts(g.forecast_runtime());
    let mut worker = build_worker(&runtime, client.clone(), db.clone(), g.models_dir()?)?;
    let stop_worker = worker.shutdown_handle();

    let base = format!("http://{}", listener.local_addr()?);
    std::fs::write(api_file(&g.data_dir), &base)?;
    let auth = careflow_dashboards::AuthConfig {
        token_ttl: token_ttl(g)?,
    };
    let app = careflow_dashboards::app_with(
        AppState {
            db: db.clone(),
            client,
        },
        auth,
    );
    let app = careflow_dashboards::with_decisions(
        app,
        std::sync::Arc::new(crate::cli::decisions::ApiDecisions(
            careflow_activities::decisions::Decisions::new(db.clone(), g.models_dir()?),
        )),
    );
    let (stop_http_tx, stop_http_rx) = tokio::sync::oneshot::channel::<()>();
    let http = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = stop_http_rx.await;
    });
    tracing::info!(api = %base, temporal = %address, "careflow serving");
    eprintln!("careflow: API at {base}, Temporal at {address} (Ctrl-C to stop)");

    let worker_run = worker.run();
    tokio::pin!(worker_run);
    let http = std::future::IntoFuture::into_future(http);
    tokio::pin!(http);
    let (driver_fut, exit_when_done) = match driver {
        Some(d) => ((d.start)(base.clone()), d.exit_when_done),
        None => (
            Box::pin(std::future::pending::<Result<()>>())
                as Pin<Box<dyn Future<Output = Result<()>>>>,
            false,
        ),
    };
    tokio::pin!(driver_fut);
    let mut driver_done = false;
    let outcome: Result<()> = loop {
        tokio::select! {
            r = &mut worker_run => break r.context("worker stopped"),
            r = &mut http => break r.context("HTTP server stopped"),
            r = &mut hl7_run => break r.context("HL7 listener stopped"),
            r = &mut driver_fut, if !driver_done => {
                driver_done = true;
                if let Err(e) = r { break Err(e) }
                if exit_when_done { break Ok(()) }
            }
            _ = tokio::signal::ctrl_c() => break Ok(()),
        }
    };
    eprintln!("careflow: shutting down");
    stop_worker();
    let _ = stop_http_tx.send(());
    let _ = stop_hl7_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), &mut worker_run).await;
    let _ = std::fs::remove_file(api_file(&g.data_dir));
    if let Some(e) = embedded {
        e.stop().await;
    }
    db.close().await;
    outcome
}

/// Runs a worker only, against `--temporal` (or the embedded server another careflow
/// on this machine runs).
pub async fn worker_only(g: &Global) -> Result<()> {
    let db = g.open_db().await?;
    let address = g
        .temporal
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", g.temporal_port));
    let client = connect(&address, Duration::from_secs(60)).await?;
    let runtime = Runtime::from_current_tokio(Default::default())?;
    careflow_activities::configure_forecasts(g.forecast_runtime());
    let mut worker = build_worker(&runtime, client, db, g.models_dir()?)?;
    let stop = worker.shutdown_handle();
    eprintln!("careflow worker polling task queue '{TASK_QUEUE}' at {address} (Ctrl-C to stop)");
    let run = worker.run();
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => return r.context("worker stopped"),
        _ = tokio::signal::ctrl_c() => {}
    }
    stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    Ok(())
}

fn build_worker(
    runtime: &Runtime,
    client: Client,
    db: Db,
    models_dir: std::path::PathBuf,
) -> Result<Worker> {
    let mut opts = WorkerOptions::new(TASK_QUEUE).build();
    careflow_workflows::register(&mut opts, db, models_dir)?;
    Worker::new(runtime, client, opts).context("creating the Temporal worker")
}

/// How long the tokens the API issues at login work (`--token-hours`).
fn token_ttl(g: &Global) -> Result<Duration> {
    if !(g.token_hours > 0.0 && g.token_hours <= 24.0 * 31.0) {
        anyhow::bail!(
            "--token-hours: must be more than 0 and at most 744 (31 days), got {}",
            g.token_hours
        );
    }
    Ok(Duration::from_secs_f64(g.token_hours * 3600.0))
}

/// The administrator a new site starts with.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// A password for the first admin: 20 characters from an alphabet without look-alikes
/// (about 100 bits), shown once to whoever starts the site.
fn generated_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// First start of a site without an administrator: create [`BOOTSTRAP_ADMIN`] (as the
/// local operator, checked and audited by the store) with a generated password, shown
/// once on the terminal that started careflow and stored only as its hash. A site that
/// has an admin already is left alone.
pub async fn ensure_admin(db: &Db) -> Result<()> {
    if !users::admins(db).await?.is_empty() {
        return Ok(());
    }
    let password = generated_password();
    let admin = NewUser {
        name: BOOTSTRAP_ADMIN,
        role: Role::Admin,
        printed_name: Some("Site administrator"),
        password: &password,
    };
    users::provision(
        db,
        admin,
        Provisioner::LocalOperator,
        Some("first start of careflow serve"),
    )
    .await?;
    eprintln!(
        "careflow: created user '{BOOTSTRAP_ADMIN}' with password {password}\n\
         careflow: it is shown only this once: change it now with `careflow user passwd {BOOTSTRAP_ADMIN}`"
    );
    Ok(())
}
