//! A JSON client of the careflow API for one user, and the clerk's and bed manager's
//! loops built on it (launching admissions through outages, working the approval
//! queue).

use std::time::{Duration, Instant};

use careflow_types::AdmissionRequest;

/// What a request to the API came back with.
#[derive(Debug)]
pub enum Answer {
    /// HTTP status and JSON body.
    Http(u16, serde_json::Value),
    /// Nothing reached the server (connection refused): safe to retry.
    NotSent(String),
    /// Sent, but no answer (the server died mid-request): it may have acted.
    Lost(String),
}

/// A JSON client for one user.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            base: base.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        match req.bearer_auth(&self.token).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(b) => Answer::Http(
                        status,
                        serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
                    ),
                    Err(e) => Answer::Lost(e.to_string()),
                }
            }
            Err(e) if e.is_connect() => Answer::NotSent(e.to_string()),
            Err(e) => Answer::Lost(e.to_string()),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post_json<T: serde::Serialize>(&self, path: &str, body: &T) -> Answer {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// POSTs JSON with an `Idempotency-Key` header.
    pub async fn post_idempotent<T: serde::Serialize>(
        &self,
        path: &str,
        key: &str,
        body: &T,
    ) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("idempotency-key", key)
                .json(body),
        )
        .await
    }

    /// POSTs a raw body with a JSON content type.
    pub async fn post_raw(&self, path: &str, body: &str) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
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
    /// A previous try may have reached careflow without an answer: a duplicate
    /// admission for this patient is then possible (the API has no idempotency key).
    pub ambiguous: bool,
}

/// POSTs an admission, retrying (for up to `patience`) while the API is unreachable,
/// lost the request or failed inside; a 4xx answer fails the test. Every try carries
/// the same Idempotency-Key, so a retry of a request that did start its admission
/// gets that admission back (200) instead of a second one.
pub async fn launch(clerk: &Api, n: usize, req: &AdmissionRequest, patience: Duration) -> Launch {
    let start = Instant::now();
    let mut ambiguous = false;
    let key = format!("e2e-admission-{n}");
    loop {
        match clerk.post_idempotent("/api/admissions", &key, req).await {
            Answer::Http(200 | 201, body) => {
                return Launch {
                    accepted: Accepted {
                        n,
                        admission_id: body["admission_id"].as_str().unwrap().to_owned(),
                        workflow_id: body["workflow_id"].as_str().unwrap().to_owned(),
                    },
                    ambiguous,
                }
            }
            Answer::Http(s, body) if s >= 500 => {
                // Starting the workflow may have timed out after Temporal took it.
                ambiguous = true;
                let _ = body;
            }
            Answer::Http(s, body) => panic!("admission refused with {s}: {body}"),
            Answer::NotSent(_) => {}
            Answer::Lost(_) => ambiguous = true,
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
pub async fn work_queue(bed_manager: &Api) -> (usize, usize) {
    let mut done = (0, 0);
    let Answer::Http(200, serde_json::Value::Array(tasks)) = bed_manager.get("/api/tasks").await
    else {
        return done;
    };
    for t in tasks {
        let id = t["task_id"].as_str().unwrap_or_default().to_owned();
        let approve = t["kind"] == "outlier_bed";
        let body = serde_json::json!({
            "approve": approve,
            "reason": if approve { "Outlier accepted; home team reviews daily" }
                      else { "No suitable bed: divert to partner hospital" },
        });
        if let Answer::Http(200, _) = bed_manager
            .post_json(&format!("/api/tasks/{id}/decision"), &body)
            .await
        {
            if approve {
                done.0 += 1;
            } else {
                done.1 += 1;
            }
        }
    }
    done
}
