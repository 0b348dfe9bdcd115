//! Reaching Temporal: attach to a server given on the command line, or supervise the
//! embedded single-node dev server (`temporal server start-dev`, SQLite file in the
//! data directory) and restart it if it dies.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::codec::PayloadCipher;

/// Connects a namespace-bound client to `addr` (`host:port` or a URL), retrying for up
/// to `patience` (the server may still be starting). With `cipher`, every payload the
/// client and the workers built on it send is sealed with it ([`crate::codec`]).
pub async fn connect(
    addr: &str,
    patience: Duration,
    cipher: Option<&PayloadCipher>,
) -> Result<Client> {
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let target = Url::from_str(&url).with_context(|| format!("Temporal address '{addr}'"))?;
    let start = std::time::Instant::now();
    loop {
        let opts = ConnectionOptions::new(target.clone())
            .identity(format!("careflow@{}", std::process::id()))
            .build();
        match Connection::connect(opts).await {
            Ok(conn) => {
                let options = ClientOptions::new("default")
                    .maybe_data_converter(cipher.map(PayloadCipher::data_converter))
                    .build();
                return Client::new(conn, options).context("creating Temporal client");
            }
            Err(e) if start.elapsed() < patience => {
                tracing::debug!(error = %e, "Temporal not reachable yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => bail!("cannot reach Temporal at {addr}: {e}"),
        }
    }
}

/// Finds the `temporal` CLI: `CAREFLOW_TEMPORAL_BIN`, the project's `.tools/venv/bin`
/// (searched upwards from the executable and from the working directory), then PATH.
pub fn find_tool(name: &str, env_var: &str) -> Result<PathBuf> {
    if let Ok(p) = std::env::var(env_var) {
        return Ok(PathBuf::from(p));
    }
    let mut starts = vec![];
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    for start in starts {
        for dir in start.ancestors() {
            let candidate = dir.join(".tools/venv/bin").join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!("cannot find the '{name}' program: run scripts/setup (it installs it into .tools/venv), or set {env_var}")
}

/// The embedded Temporal dev server, supervised.
pub struct EmbeddedTemporal {
    /// `127.0.0.1:PORT`.
    pub address: String,
    shutdown: watch::Sender<bool>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl EmbeddedTemporal {
    /// Starts (or attaches to an already running) dev server whose database lives in
    /// `data_dir/temporal.db`, and keeps it running.
    pub async fn start(data_dir: &Path, port: u16, ui_port: u16) -> Result<Self> {
        let address = format!("127.0.0.1:{port}");
        let (shutdown, mut stop) = watch::channel(false);
        // A careflow killed with SIGKILL leaves its dev server running; reuse it.
        let attached = tokio::net::TcpStream::connect(&address).await.is_ok();
        let mut child = if attached {
            tracing::info!(%address, "attached to the running embedded Temporal server");
            None
        } else {
            let mut c = spawn_dev_server(data_dir, port, ui_port).await?;
            wait_until_serving(&mut c, data_dir, &address).await?;
            Some(c)
        };
        let data_dir = data_dir.to_owned();
        let supervisor = tokio::spawn(async move {
            // A server that keeps dying at once (port taken, disk full) is retried
            // with growing pauses instead of in a tight loop.
            let mut backoff = Duration::from_millis(500);
            let mut started = std::time::Instant::now();
            loop {
                match child.as_mut() {
                    Some(c) => {
                        tokio::select! {
                            status = c.wait() => {
                                backoff = if started.elapsed() < Duration::from_secs(10) {
                                    (backoff * 2).min(Duration::from_secs(30))
                                } else {
                                    Duration::from_millis(500)
                                };
                                tracing::warn!(?status, retry_in = ?backoff, "embedded Temporal server exited (see temporal.log); restarting it");
                                tokio::time::sleep(backoff).await;
                                started = std::time::Instant::now();
                                child = spawn_dev_server(&data_dir, port, ui_port).await.ok();
                            }
                            _ = stop.changed() => {
                                let _ = c.start_kill();
                                let _ = c.wait().await;
                                return;
                            }
                        }
                    }
                    None => {
                        // Attached to a server another careflow started: watch the port
                        // and take over if it goes away.
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                                if tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.is_err() {
                                    tracing::warn!("embedded Temporal server went away; starting it");
                                    child = spawn_dev_server(&data_dir, port, ui_port).await.ok();
                                }
                            }
                            _ = stop.changed() => return,
                        }
                    }
                }
            }
        });
        Ok(Self {
            address,
            shutdown,
            supervisor,
        })
    }

    /// Stops the server this process started (an attached one is left running).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.supervisor.await;
    }
}

async fn spawn_dev_server(data_dir: &Path, port: u16, ui_port: u16) -> Result<Child> {
    let bin = find_tool("temporal", "CAREFLOW_TEMPORAL_BIN")?;
    let db_file = data_dir.join("temporal.db");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("temporal.log"))
        .context("opening temporal.log")?;
    let child = Command::new(&bin)
        .args(["server", "start-dev"])
        .arg("--db-filename")
        .arg(&db_file)
        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--ui-port", &ui_port.to_string()])
        .stdin(Stdio::null())
        // Stopped with careflow when careflow exits normally; a SIGKILLed careflow
        // leaves it running and the restarted careflow attaches to it.
        .kill_on_drop(true)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    if let Some(pid) = child.id() {
        std::fs::write(data_dir.join("temporal.pid"), pid.to_string())?;
    }
    tracing::info!(port, db = %db_file.display(), "started embedded Temporal server");
    Ok(child)
}

/// Waits until the freshly started server accepts connections, or says why it died.
async fn wait_until_serving(child: &mut Child, data_dir: &Path, address: &str) -> Result<()> {
    let patience = Duration::from_secs(60);
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(data_dir.join("temporal.log")).unwrap_or_default();
            let last = log
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("(empty log)");
            bail!(
                "the embedded Temporal server exited ({status}) before serving {address}: {last}"
            );
        }
        if start.elapsed() > patience {
            bail!("embedded Temporal server did not open {address} within {patience:?}; see temporal.log in the data directory");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
