//! The API client of each user (careflow's own typed client), and the clerk's and bed
//! manager's loops built on it (launching admissions through outages, working the
//! approval queue).

use std::time::{Duration, Instant};

use careflow::client::{ApiClient, ApiError};
use careflow_types::{AdmissionRequest, DecisionRequest};

use super::Node;

impl Node {
    /// The typed API client of the user with `token`; a request gets 30 s to answer.
    pub fn client(&self, token: &str) -> ApiClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        ApiClient::with_http(self.api(), token, http)
    }
}

/// An admission the API accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Index of the synthetic patient.
    pub n: usize,
    pub admission_id: String,
    pub workflow_id: String,
}

/// Result of launching one admission, retrying while careflow is down.
pub struct Launch {
    pub accepted: Accepted,
    /// A previous try may have reached careflow without an answer (it may have acted);
    /// its Idempotency-Key makes the retry return that admission, not a second one.
    pub ambiguous: bool,
}

/// POSTs an admission, retrying (for up to `patience`) while the API is unreachable,
/// lost the request or failed inside; a 4xx answer fails the test. Every try carries
/// the same Idempotency-Key, so a retry of a request that did start its admission
/// gets that admission back (200) instead of a second one.
pub async fn launch(
    clerk: &ApiClient,
    n: usize,
    req: &AdmissionRequest,
    patience: Duration,
) -> Launch {
    let start = Instant::now();
    let mut ambiguous = false;
    let key = format!("e2e-admission-{n}");
    loop {
        match clerk.create_admission(req, Some(&key)).await {
            Ok(started) => {
                return Launch {
                    accepted: Accepted {
                        n,
                        admission_id: started.admission_id,
                        workflow_id: started.workflow_id,
                    },
                    ambiguous,
                }
            }
            // Not sent: nothing happened, retry.
            Err(ApiError::Unreachable { .. }) => {}
            // Sent without an answer, or starting the workflow may have timed out after
            // Temporal took it: it may have acted.
            Err(ApiError::Transport { .. }) => ambiguous = true,
            Err(e) if e.status().is_some_and(|s| s.is_server_error()) => ambiguous = true,
            Err(e) => panic!("admission {n} refused: {e:?}"),
        }
        assert!(
            start.elapsed() < patience,
            "admission {n} not accepted within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Works the bed manager's queue once: approves outlier beds, declines no-bed cases.
/// Returns (approved, declined); errors (careflow down, decided twice) are skipped.
pub async fn work_queue(bed_manager: &ApiClient) -> (usize, usize) {
    let mut done = (0, 0);
    let Ok(tasks) = bed_manager.tasks().await else {
        return done;
    };
    for t in tasks {
        let approve = t.kind == "outlier_bed";
        let decision = DecisionRequest {
            approve,
            reason: if approve {
                "Outlier accepted; home team reviews daily"
            } else {
                "No suitable bed: divert to partner hospital"
            }
            .into(),
            bed_id: None,
            // The bed manager signs each decision with their password.
            password: super::PASSWORD.into(),
        };
        if bed_manager.decide(&t.task_id, &decision).await.is_ok() {
            if approve {
                done.0 += 1;
            } else {
                done.1 += 1;
            }
        }
    }
    done
}
