//! The kit's servers start, answer, and are gone once their guards drop.

use std::process::Command;
use std::time::Duration;

use careflow_testkit::paths::tool;
use careflow_testkit::process::output;
use careflow_testkit::{poll, temporal};

/// Whether a process with this pid still exists (`kill -0`).
fn running(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn test_and_dev_servers_serve_until_dropped() {
    let ((test_server, _), (dev_server, _)) =
        tokio::join!(temporal::start_test_server(), temporal::start_dev_server());

    // The dev server has the visibility store the Temporal CLI needs.
    let mut count = Command::new(tool("temporal"));
    count
        .args(["workflow", "count", "-o", "json", "--address"])
        .arg(dev_server.address());
    let out = output(count, Duration::from_secs(60), "temporal workflow count").await;
    assert!(
        out.status.success(),
        "temporal workflow count: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dev_server.log().is_file(), "the dev server logs to a file");

    let pids = [test_server.pid(), dev_server.pid()];
    drop((test_server, dev_server));
    for pid in pids {
        poll(
            "the dropped server's process to be gone",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || async { (!running(pid)).then_some(()) },
        )
        .await;
    }
}
