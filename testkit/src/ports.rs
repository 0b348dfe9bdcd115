//! Free TCP ports on 127.0.0.1 for the servers a test starts.

use std::net::TcpListener;
use std::sync::Mutex;

use rand::Rng;

/// Ports handed out in this process, so that tests running in parallel never pick the
/// same one between probing it and their server binding it.
static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn take(ports: &[u16]) -> bool {
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let bindable = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    if ports.iter().any(|p| taken.contains(p)) || !ports.iter().all(|p| bindable(*p)) {
        return false;
    }
    taken.extend_from_slice(ports);
    true
}

/// A free port (from the kernel's ephemeral range), not handed out before in this
/// process.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("an ephemeral port on 127.0.0.1")
            .port();
        if take(&[port]) {
            return port;
        }
    }
}

/// A port P for a Temporal dev server with both P (gRPC) and P + 1000 (its Web UI,
/// `temporal server start-dev`'s default) free. Drawn below the kernel's ephemeral
/// range, so that client sockets opened meanwhile cannot take them.
pub fn temporal_port() -> u16 {
    let mut rng = rand::rng();
    loop {
        let p: u16 = rng.random_range(17_000..30_000);
        if take(&[p, p + 1000]) {
            return p;
        }
    }
}
