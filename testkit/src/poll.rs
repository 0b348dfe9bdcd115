//! Waiting for a condition: tests poll what they wait for, never sleep a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `probe` every `every` until it yields a value and returns it; panics naming
/// `what` once `patience` has passed.
pub async fn poll<T, F, Fut>(what: &str, patience: Duration, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < patience,
            "timed out after {patience:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}
