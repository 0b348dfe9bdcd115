//! Serving: Temporal (embedded unless `--temporal`), a worker and the HTTP API in one
//! process (`careflow serve`), or a worker alone (`careflow worker`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{Context, Result};
use temporalio_client::Client;
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::runtime::PollerBehavior;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use careflow_dashboards::AppState;
use careflow_store::anchor::{self, AnchorKey};
use careflow_store::users::{self, NewUser, Provisioner};
use careflow_store::Db;
use careflow_types::{Role, COMPUTE_TASK_QUEUE, STICKY_QUEUE_TIMEOUT, TASK_QUEUE};

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
    /// The location map file (sender's PV1-3 codes to careflow's wards and beds): the
    /// JSON map, or the FHIR Location export (Bundle or NDJSON).
    pub locations: std::path::PathBuf,
    /// The identifier system of the sender's codes in a FHIR Location export.
    pub location_system: Option<String>,
    /// MLLP over TLS only: the certificate chain and private key files (PEM).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
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
    let anchors = Anchoring::start(g, &db)?;
    // Bind first: a taken port fails before anything is started.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the HTTP API to {listen}"))?;
    // The ADT listener: its port and its location map are checked before anything runs.
    let hl7 = match hl7 {
        Some(h) => {
            let map = careflow_hl7::LocationMap::load_with(
                &h.locations,
                &db,
                h.location_system.as_deref(),
            )
            .await?;
            let tls = match &h.tls {
                Some((cert, key)) => Some(careflow_hl7::tls::acceptor(cert, key)?),
                None => None,
            };
            let l = tokio::net::TcpListener::bind(&h.addr)
                .await
                .with_context(|| format!("binding the HL7 listener to {}", h.addr))?;
            eprintln!(
                "careflow: HL7 v2 ADT (MLLP{}) at {}",
                if tls.is_some() { " over TLS" } else { "" },
                l.local_addr()?
            );
            Some((map, tls, l))
        }
        None => None,
    };
    let cluster = g.cluster_options()?;
    let embedded = match &g.temporal {
        None => Some(
            EmbeddedTemporal::start(
                &g.data_dir,
                g.temporal_port,
                g.temporal_port + 1000,
                &cluster.namespace,
            )
            .await?,
        ),
        Some(_) => None,
    };
    let address = g.temporal.clone().unwrap_or_else(|| {
        embedded
            .as_ref()
            .map(|e| e.address.clone())
            .unwrap_or_default()
    });
    let client = connect(
        &address,
        &cluster,
        Duration::from_secs(60),
        g.payload_cipher()?.as_ref(),
    )
    .await?;
    // Admits without a bed (or into a bed held for someone else) start careflow's
    // admission workflow on this client.
    let (stop_hl7_tx, stop_hl7_rx) = tokio::sync::oneshot::channel::<()>();
    let hl7_run: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match hl7 {
        Some((map, tls, l)) => {
            let mut service = careflow_hl7::Hl7Service::new(db.clone(), map).with_admissions(
                std::sync::Arc::new(careflow_dashboards::workflows::AdtAdmissions(
                    client.clone(),
                )),
            );
            if let Some(tls) = tls {
                service = service.with_tls(tls);
            }
            Box::pin(service.serve(l, async {
                let _ = stop_hl7_rx.await;
            }))
        }
        None => Box::pin(std::future::pending()),
    };
    tokio::pin!(hl7_run);
    let runtime = Runtime::from_current_tokio(Default::default())?;
    careflow_activities::configure_forecasts(g.forecast_runtime());
    let mut worker = Workers::build(g, &runtime, client.clone(), db.clone(), g.models_dir()?)?;
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
    let app = careflow_dashboards::with_exports(
        app,
        std::sync::Arc::new(crate::export::ApiExports {
            db: db.clone(),
            data_dir: g.data_dir.clone(),
        }),
    );
    let app = careflow_dashboards::with_rate_limits(app, g.rate_limits());
    let (stop_http_tx, stop_http_rx) = tokio::sync::oneshot::channel::<()>();
    // The peer's address reaches the per-client rate limit.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let http = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = stop_http_rx.await;
    });
    tracing::info!(api = %base, temporal = %address, "careflow serving");
    eprintln!(
        "careflow: API at {base}, Temporal at {address} ({}) (Ctrl-C or SIGTERM to stop)",
        cluster.describe()
    );

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
            signal = stop_signal() => {
                eprintln!("careflow: {signal}: draining (no new work; running activities get {}s)", g.drain_seconds);
                break Ok(())
            }
        }
    };
    eprintln!("careflow: shutting down");
    // No new requests and no new tasks; the worker lets running activities finish
    // (cancelling them after --drain-seconds, see Workers::build) and reports their
    // results before its run ends.
    let _ = stop_http_tx.send(());
    let _ = stop_hl7_tx.send(());
    stop_worker();
    let drained = tokio::time::timeout(drain_bound(g), &mut worker_run).await;
    if drained.is_err() {
        tracing::warn!("the worker did not stop within the drain bound");
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut http).await;
    let _ = std::fs::remove_file(api_file(&g.data_dir));
    anchors.stop(&db).await;
    if let Some(e) = embedded {
        e.stop().await;
    }
    db.close().await;
    outcome
}

/// How long shutdown waits for the worker: the drain period plus time for the
/// cancelled activities to report.
fn drain_bound(g: &Global) -> Duration {
    Duration::from_secs(g.drain_seconds + 10)
}

/// Ctrl-C or SIGTERM (what systemd, Kubernetes and `kill` send); names which.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// The audit anchors of a serving process: one at start, one every
/// `--anchor-seconds`, one at shutdown (see [`careflow_store::anchor`]).
struct Anchoring {
    key: AnchorKey,
    path: std::path::PathBuf,
    every: tokio::task::JoinHandle<()>,
}

impl Anchoring {
    fn start(g: &Global, db: &Db) -> Result<Anchoring> {
        if g.anchor_seconds == 0 {
            anyhow::bail!("--anchor-seconds: must be at least 1");
        }
        let key = AnchorKey::load_or_create(&g.data_dir)?;
        let path = anchor::anchor_file(&g.data_dir);
        let period = Duration::from_secs(g.anchor_seconds);
        let every = {
            let (db, key, path) = (db.clone(), key.clone(), path.clone());
            // A task of its own: an anchor reads the whole chain, which must not hold
            // up the worker or the API polled by the serving loop.
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    anchor_once(&db, &key, &path).await;
                }
            })
        };
        Ok(Anchoring { key, path, every })
    }

    /// Stops the schedule and anchors the head as shutdown leaves it.
    async fn stop(self, db: &Db) {
        self.every.abort();
        let _ = self.every.await;
        anchor_once(db, &self.key, &self.path).await;
    }
}

/// Appends an anchor of the current head; a chain that does not verify against the
/// earlier anchors is not anchored but reported loudly (serving goes on: stopping the
/// hospital's admissions would not undo the rewrite; `careflow audit verify` names it).
async fn anchor_once(db: &Db, key: &AnchorKey, path: &std::path::Path) {
    match anchor::write_anchor(db, key, path).await {
        Ok(Some(a)) => tracing::info!(seq = a.seq, "audit head anchored"),
        Ok(None) => tracing::debug!("audit head unchanged since the last anchor"),
        Err(e) => {
            tracing::error!(error = %e, "audit anchor not written");
            eprintln!("careflow: AUDIT ANCHOR NOT WRITTEN: {e}");
        }
    }
}

/// Runs a worker only, against `--temporal` (or the embedded server another careflow
/// on this machine runs).
pub async fn worker_only(g: &Global) -> Result<()> {
    let cluster = g.cluster_options()?;
    let db = g.open_db().await?;
    let address = g
        .temporal
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", g.temporal_port));
    let client = connect(
        &address,
        &cluster,
        Duration::from_secs(60),
        g.payload_cipher()?.as_ref(),
    )
    .await?;
    let runtime = Runtime::from_current_tokio(Default::default())?;
    careflow_activities::configure_forecasts(g.forecast_runtime());
    let mut worker = Workers::build(g, &runtime, client, db, g.models_dir()?)?;
    let stop = worker.shutdown_handle();
    eprintln!("careflow worker polling task queues '{TASK_QUEUE}' and '{COMPUTE_TASK_QUEUE}' at {address} (Ctrl-C or SIGTERM to stop)");
    let run = worker.run();
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => return r.context("worker stopped"),
        signal = stop_signal() => eprintln!("careflow worker: {signal}: draining"),
    }
    stop();
    let _ = tokio::time::timeout(drain_bound(g), run).await;
    Ok(())
}

/// Workflow-task polls a worker keeps open at once (the SDK's default is 5), and the
/// share of them on the task queue every worker polls rather than on its own sticky
/// queue (default 0.2, so one poll). Every new admission's first task, and after a
/// restart every running one's next task, comes through that shared queue: with one
/// poll open, a burst or a restart drains it one round trip at a time.
pub const WORKFLOW_POLLERS: usize = 16;
/// See [`WORKFLOW_POLLERS`].
pub const NONSTICKY_POLL_RATIO: f32 = 0.5;
/// Activity-task polls a worker keeps open at once (default 5); most admission steps
/// skip the queue (eager dispatch), retries after a restart come through it.
pub const ACTIVITY_POLLERS: usize = 8;

/// Workflow tasks a worker runs at once on [`TASK_QUEUE`] (the SDK's default is 100).
/// Admissions run their database steps inside their workflow task (local activities),
/// so this bounds how many wait for the domain database's writer at once: 16 kept
/// `bench-admissions` at 32 admissions/s and resumed 650 in-flight admissions after
/// SIGKILL within 4.2 s (release build, 2 cores); more only lengthens the queue.
pub const WORKFLOW_TASK_SLOTS: usize = 16;
/// Local activities (admission steps) running at once, as many as workflow tasks.
pub const LOCAL_ACTIVITY_SLOTS: usize = WORKFLOW_TASK_SLOTS;
/// Ordinary activities at once on [`TASK_QUEUE`] (the SDK's default).
pub const ACTIVITY_SLOTS: usize = 100;

/// The two workers of a careflow process: workflows and their short steps on
/// [`TASK_QUEUE`], and the solver and forecaster steps on [`COMPUTE_TASK_QUEUE`] with
/// at most `--compute-slots` at once, so that a bed-plan solve of minutes never holds
/// up an admission's next step.
struct Workers {
    main: Worker,
    compute: Worker,
}

impl Workers {
    fn build(
        g: &Global,
        runtime: &Runtime,
        client: Client,
        db: Db,
        models_dir: std::path::PathBuf,
    ) -> Result<Workers> {
        if g.compute_slots == 0 {
            anyhow::bail!("--compute-slots: must be at least 1");
        }
        // After a stop the workers poll no more; running activities get --drain-seconds
        // to finish before they are cancelled.
        let drain = Duration::from_secs(g.drain_seconds);
        let mut main = WorkerOptions::new(TASK_QUEUE)
            .graceful_shutdown_period(drain)
            .sticky_queue_schedule_to_start_timeout(STICKY_QUEUE_TIMEOUT)
            .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(WORKFLOW_POLLERS))
            .nonsticky_to_sticky_poll_ratio(NONSTICKY_POLL_RATIO)
            .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(ACTIVITY_POLLERS))
            // A step past its first heartbeat period heartbeats at least every second
            // (the SDK would wait 80% of the heartbeat timeout), leaving a busy machine
            // two seconds' slack before Temporal declares the step's worker dead.
            .max_heartbeat_throttle_interval(Duration::from_secs(1))
            // Few workflow tasks at once: an admission's task runs its database steps
            // (local activities) inside it, and they queue for the one SQLite writer;
            // with the SDK's 100 at once, a burst or a restart kept so many tasks open
            // that they outlived their 2 s timeout, were redone and fed the queue.
            .tuner(
                TunerHolder::builder()
                    .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(WORKFLOW_TASK_SLOTS))
                    .activity_task_slot_supplier(FixedSizeSlotSupplier::new(ACTIVITY_SLOTS))
                    .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(
                        LOCAL_ACTIVITY_SLOTS,
                    ))
                    .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
                    .build(),
            )
            .build();
        careflow_workflows::register(&mut main, db.clone(), models_dir.clone())?;
        let slots = |n: usize| FixedSizeSlotSupplier::new(n);
        let mut compute = WorkerOptions::new(COMPUTE_TASK_QUEUE)
            .graceful_shutdown_period(drain)
            .tuner(
                TunerHolder::builder()
                    .workflow_task_slot_supplier(slots(1))
                    .activity_task_slot_supplier(slots(g.compute_slots))
                    .local_activity_task_slot_supplier(slots(1))
                    .nexus_task_slot_supplier(slots(1))
                    .build(),
            )
            .build();
        careflow_workflows::register_compute(&mut compute, db, models_dir);
        Ok(Workers {
            main: Worker::new(runtime, client.clone(), main)
                .context("creating the Temporal worker")?,
            compute: Worker::new(runtime, client, compute)
                .context("creating the Temporal compute worker")?,
        })
    }

    /// Stops both workers' polling (see [`Workers::build`] for the running activities).
    fn shutdown_handle(&self) -> impl Fn() {
        let (main, compute) = (self.main.shutdown_handle(), self.compute.shutdown_handle());
        move || {
            main();
            compute();
        }
    }

    /// Runs both until they stop; the first to fail ends the run with its error.
    async fn run(&mut self) -> Result<()> {
        let main = async { self.main.run().await.context("worker") };
        let compute = async { self.compute.run().await.context("compute worker") };
        futures::future::try_join(main, compute).await.map(|_| ())
    }
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
