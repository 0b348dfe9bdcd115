//! Reaching Temporal: attach to a server given on the command line, or supervise the
//! embedded single-node dev server (`temporal server start-dev`, SQLite file in the
//! data directory) and restart it if it dies.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use temporalio_client::{
    Client, ClientOptions, ClientTlsOptions, Connection, ConnectionOptions, TlsOptions, Url,
};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::codec::PayloadCipher;

/// How to reach Temporal beyond its address: the namespace careflow's workflows run
/// in, and for a cluster TLS (server CA, client certificate for mTLS) and an API key.
#[derive(Clone, Default)]
pub struct ClusterOptions {
    /// Namespace (`default` unless told).
    pub namespace: String,
    /// TLS, when the cluster is reached over TLS.
    pub tls: Option<TlsSettings>,
    /// API key sent with every call (Temporal Cloud or a cluster with an authorizer).
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ClusterOptions {
    // The API key and the client's private key are secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterOptions")
            .field("namespace", &self.namespace)
            .field("tls", &self.tls.as_ref().map(|t| t.describe()))
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// TLS towards a Temporal cluster, certificates and key as PEM.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// CA that signed the server's certificate (default: the system's roots).
    pub server_ca: Option<Vec<u8>>,
    /// Client certificate and private key (mTLS).
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// Name to verify the server's certificate against (default: the address's host).
    pub server_name: Option<String>,
}

impl TlsSettings {
    fn describe(&self) -> String {
        format!(
            "TLS ({}{}{})",
            if self.server_ca.is_some() {
                "own CA"
            } else {
                "system roots"
            },
            if self.client_cert.is_some() {
                ", mTLS"
            } else {
                ""
            },
            self.server_name
                .as_ref()
                .map(|n| format!(", server name {n}"))
                .unwrap_or_default()
        )
    }

    fn options(&self) -> TlsOptions {
        TlsOptions::builder()
            .maybe_server_root_ca_cert(self.server_ca.clone())
            .maybe_domain(self.server_name.clone())
            .maybe_client_tls_options(self.client_cert.as_ref().map(|(cert, key)| {
                ClientTlsOptions::builder()
                    .client_cert(cert.clone())
                    .client_private_key(key.clone())
                    .build()
            }))
            .build()
    }
}

impl ClusterOptions {
    /// The embedded dev server's: namespace `default`, plain gRPC.
    pub fn plain(namespace: &str) -> ClusterOptions {
        ClusterOptions {
            namespace: namespace.to_owned(),
            ..Default::default()
        }
    }

    /// Whether calls go over TLS (an API key is only ever sent over TLS).
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some() || self.api_key.is_some()
    }

    /// How this connects, for logs and errors (no secrets).
    pub fn describe(&self) -> String {
        let transport = match (&self.tls, &self.api_key) {
            (Some(t), Some(_)) => format!("{} with an API key", t.describe()),
            (Some(t), None) => t.describe(),
            (None, Some(_)) => "TLS (system roots) with an API key".to_owned(),
            (None, None) => "plain gRPC".to_owned(),
        };
        format!("namespace {}, {transport}", self.namespace)
    }
}

/// Connects a namespace-bound client to `addr` (`host:port` or a URL) as `cluster`
/// says, retrying for up to `patience` while nothing listens there (the server may
/// still be starting). Anything else (a TLS handshake that fails, a refused API key, a
/// namespace the server does not have) fails at once, naming the option to check.
/// With `cipher`, every payload the client and the workers built on it send is sealed
/// with it ([`crate::codec`]).
pub async fn connect(
    addr: &str,
    cluster: &ClusterOptions,
    patience: Duration,
    cipher: Option<&PayloadCipher>,
) -> Result<Client> {
    let scheme = if cluster.uses_tls() { "https" } else { "http" };
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("{scheme}://{addr}")
    };
    let target = Url::from_str(&url).with_context(|| format!("Temporal address '{addr}'"))?;
    if target.scheme() == "http" && cluster.uses_tls() {
        bail!("Temporal address '{addr}' says http://, but TLS options or an API key are given: use https:// or host:port");
    }
    let host_port = format!(
        "{}:{}",
        target.host_str().unwrap_or("127.0.0.1"),
        target.port_or_known_default().unwrap_or(7233)
    );
    let start = std::time::Instant::now();
    let conn = loop {
        let opts = ConnectionOptions::new(target.clone())
            .identity(worker_identity())
            .maybe_tls_options(cluster.tls.as_ref().map(TlsSettings::options))
            .maybe_api_key(cluster.api_key.clone())
            .connect_timeout(Duration::from_secs(10))
            .build();
        match Connection::connect(opts).await {
            Ok(conn) => break conn,
            Err(e) => {
                let listening = tokio::net::TcpStream::connect(&host_port).await.is_ok();
                // A server that has just started listens before its frontend serves
                // ("Frontend is not healthy yet"): that is waited for like a closed
                // port, not reported as a connection the server refuses.
                let starting = format!("{e:?}").contains("not healthy yet");
                if (!listening || starting) && start.elapsed() < patience {
                    tracing::debug!(error = %e, "Temporal not reachable yet");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                let how = cluster.describe();
                if listening {
                    bail!(
                        "Temporal at {addr} answers, but not to this connection ({how}): {}; \
                         check --temporal-tls-ca, --temporal-tls-cert/--temporal-tls-key, \
                         --temporal-tls-server-name and the API key against the cluster's settings",
                        error_chain(&e)
                    );
                }
                bail!(
                    "cannot reach Temporal at {addr} ({how}): {}",
                    error_chain(&e)
                );
            }
        }
    };
    check_namespace(&conn, addr, &cluster.namespace).await?;
    let options = ClientOptions::new(cluster.namespace.clone())
        .maybe_data_converter(cipher.map(PayloadCipher::data_converter))
        .build();
    Client::new(conn, options).context("creating Temporal client")
}

/// Fails, naming it, when the server has no namespace `namespace` (or the credentials
/// may not see it), rather than letting the workers poll a namespace that never
/// answers.
async fn check_namespace(conn: &Connection, addr: &str, namespace: &str) -> Result<()> {
    use temporalio_client::tonic::Request;
    use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;
    let mut service = conn.workflow_service();
    let found = service
        .describe_namespace(Request::new(DescribeNamespaceRequest {
            namespace: namespace.to_owned(),
            ..Default::default()
        }))
        .await;
    match found {
        Ok(_) => Ok(()),
        Err(s) if s.code() == temporalio_client::tonic::Code::NotFound => bail!(
            "Temporal at {addr} has no namespace '{namespace}' (--temporal-namespace): \
             create it there, or name one it has"
        ),
        Err(s)
            if s.code() == temporalio_client::tonic::Code::PermissionDenied
                || s.code() == temporalio_client::tonic::Code::Unauthenticated =>
        {
            bail!(
                "Temporal at {addr} refuses namespace '{namespace}' to these credentials \
                 ({}: {}): check the API key or client certificate",
                s.code(),
                s.message()
            )
        }
        Err(s) => bail!(
            "Temporal at {addr}: describing namespace '{namespace}' failed ({}: {})",
            s.code(),
            s.message()
        ),
    }
}

/// An error and its causes on one line (a TLS failure's reason is a cause or two down).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// This process as Temporal's histories name it (who ran each step).
pub fn worker_identity() -> String {
    format!("careflow@{}", std::process::id())
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
    /// `data_dir/temporal.db`, with `namespace` besides `default`, and keeps it running.
    pub async fn start(data_dir: &Path, port: u16, ui_port: u16, namespace: &str) -> Result<Self> {
        let address = format!("127.0.0.1:{port}");
        let (shutdown, mut stop) = watch::channel(false);
        // A careflow killed with SIGKILL leaves its dev server running; reuse it.
        let attached = tokio::net::TcpStream::connect(&address).await.is_ok();
        let mut child = if attached {
            tracing::info!(%address, "attached to the running embedded Temporal server");
            None
        } else {
            let mut c = spawn_dev_server(data_dir, port, ui_port, namespace).await?;
            wait_until_serving(&mut c, data_dir, &address).await?;
            Some(c)
        };
        let data_dir = data_dir.to_owned();
        let namespace = namespace.to_owned();
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
                                child = spawn_dev_server(&data_dir, port, ui_port, &namespace).await.ok();
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
                                    child = spawn_dev_server(&data_dir, port, ui_port, &namespace).await.ok();
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

async fn spawn_dev_server(
    data_dir: &Path,
    port: u16,
    ui_port: u16,
    namespace: &str,
) -> Result<Child> {
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
        .args(
            (namespace != "default")
                .then_some(["--namespace", namespace])
                .into_iter()
                .flatten(),
        )
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
