//! What the Temporal histories of a run's workflows show (who ran what, what was
//! retried), and percentiles of the timings a scenario prints.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Accepted, Node};
/// What the Temporal histories of a run's workflows show.
#[derive(Debug, Default)]
pub struct Histories {
    /// Started activities by worker identity (`careflow@PID`).
    pub activities: BTreeMap<String, usize>,
    /// Started workflow tasks by worker identity.
    pub workflow_tasks: BTreeMap<String, usize>,
    /// Activities that completed only on a later attempt (the earlier one was lost
    /// with a killed worker, or failed): each ran at least twice.
    pub retried_activities: usize,
    /// Workflow tasks that timed out (sent to a worker that died).
    pub workflow_task_timeouts: usize,
}

/// Reads every workflow's history with the Temporal CLI (8 at a time).
pub async fn histories(node: &Node, accepted: &[Accepted]) -> Histories {
    let mut h = Histories::default();
    for chunk in accepted.chunks(8) {
        let outs = futures::future::join_all(chunk.iter().map(|a| {
            node.temporal_owned(vec![
                "workflow".into(),
                "show".into(),
                "-w".into(),
                a.workflow_id.clone(),
                "--output".into(),
                "json".into(),
            ])
        }))
        .await;
        for out in outs {
            let history: serde_json::Value = serde_json::from_str(&out).expect("history JSON");
            for e in history["events"].as_array().expect("events") {
                if let Some(attrs) = e.get("activityTaskStartedEventAttributes") {
                    let id = attrs["identity"].as_str().unwrap_or("?").to_owned();
                    *h.activities.entry(id).or_default() += 1;
                    if attrs["attempt"].as_i64().unwrap_or(1) > 1 {
                        h.retried_activities += 1;
                    }
                }
                if let Some(attrs) = e.get("workflowTaskStartedEventAttributes") {
                    let id = attrs["identity"].as_str().unwrap_or("?").to_owned();
                    *h.workflow_tasks.entry(id).or_default() += 1;
                }
                if e.get("workflowTaskTimedOutEventAttributes").is_some() {
                    h.workflow_task_timeouts += 1;
                }
            }
        }
    }
    h
}

/// Percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}
