//! A typed client of careflow's HTTP API, shared by the CLI, the demo, the benches and
//! the end-to-end tests: one method per route, taking and returning the bodies of
//! `careflow_types`, and one error type that keeps the server's status and located
//! message.
//!
//! Also where a running `careflow serve` leaves its address in the data directory
//! (`api-url`), and where `careflow login` keeps a user's session token for `--as NAME`:
//! a file only that OS user can read, in their own configuration directory (never the
//! shared data directory), one per API and user ([`session_file`]).
//!
//! ```no_run
//! # async fn f() -> Result<(), careflow::client::ApiError> {
//! use careflow::client::ApiClient;
//! let login = ApiClient::login("http://127.0.0.1:8080", "beds.ben", "PASSWORD").await?;
//! let api = ApiClient::new("http://127.0.0.1:8080", login.token);
//! for task in api.tasks().await? {
//!     println!("{} {}", task.task_id, task.summary);
//! }
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use careflow_store::hospital::WardOccupancy;
use careflow_types::{
    AdmissionRequest, AdmissionStarted, AdmissionStatus, ApiErrorBody, AuditVerification,
    BedPlanRecord, BedPlanRequest, BedPlanStarted, BedPlanView, CancelRequested, DecisionOutcome,
    DecisionRequest, Discharged, FieldError, Health, LoggedOut, LoginRequest, LoginResponse,
    TaskView,
};

/// Header that makes a retried request (after a lost answer) act once.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// What can go wrong calling the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request was not sent: nothing listens at the address. Safe to retry.
    #[error("calling {url}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why the connection failed.
        #[source]
        source: reqwest::Error,
    },
    /// Sent, but no (complete) answer came back: the server may have acted.
    #[error("calling {url}")]
    Transport {
        /// The URL called.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status; `message` is its own, located.
    #[error("{status}: {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's stable code (`invalid_request`, `forbidden`, `conflict`...).
        code: String,
        /// The server's message.
        message: String,
        /// For invalid requests: each bad field.
        fields: Vec<FieldError>,
    },
    /// The answer was not the JSON the route promises.
    #[error("reading the API's answer from {url}")]
    Decode {
        /// The URL called.
        url: String,
        /// Why it could not be read.
        #[source]
        source: serde_json::Error,
    },
}

impl ApiError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Result of an API call.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// One user's client of one careflow server. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the API at `base` (`http://HOST:PORT`) acting with bearer `token`.
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        Self::with_http(base, token, reqwest::Client::new())
    }

    /// Like [`ApiClient::new`], with a configured HTTP client (timeouts, pools).
    pub fn with_http(
        base: impl Into<String>,
        token: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            token: token.into(),
            http,
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /fhir/r4/{path_and_query}`: a FHIR resource or Bundle as JSON (errors are
    /// the server's OperationOutcome, passed on as text).
    pub async fn fhir(&self, path_and_query: &str) -> Result<serde_json::Value> {
        let path = format!("/fhir/r4/{}", path_and_query.trim_start_matches('/'));
        self.call(Method::GET, &path, None::<&()>, None).await
    }

    /// Every resource a FHIR search matches, following the Bundle's `next` links.
    pub async fn fhir_search_all(&self, path_and_query: &str) -> Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        let mut next = Some(path_and_query.to_owned());
        while let Some(page) = next.take() {
            let bundle = self.fhir(&page).await?;
            if let Some(entries) = bundle["entry"].as_array() {
                out.extend(entries.iter().map(|e| e["resource"].clone()));
            }
            next = bundle["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .and_then(|u| u.split_once("/fhir/r4/"))
                .map(|(_, rest)| rest.to_owned());
        }
        Ok(out)
    }

    /// `POST /api/login`: a token for `username`, who proves who they are with their
    /// password. Wrong passwords are counted by the server; repeated ones lock the
    /// account for a while (`423`, code `locked`).
    pub async fn login(
        base: impl Into<String>,
        username: &str,
        password: &str,
    ) -> Result<LoginResponse> {
        let anonymous = Self::new(base, "");
        anonymous
            .call(
                Method::POST,
                "/api/login",
                Some(&LoginRequest {
                    username: username.to_owned(),
                    password: password.to_owned(),
                }),
                None,
            )
            .await
    }

    /// `POST /api/logout`: revokes this client's token.
    pub async fn logout(&self) -> Result<LoggedOut> {
        self.call(
            Method::POST,
            "/api/logout",
            Some(&serde_json::json!({})),
            None,
        )
        .await
    }

    /// `GET /api/health`.
    pub async fn health(&self) -> Result<Health> {
        self.call(Method::GET, "/api/health", None::<&()>, None)
            .await
    }

    /// `POST /api/admissions`: starts an admission. With `idempotency_key`, a retry
    /// after a lost answer returns the admission the first try started.
    pub async fn create_admission(
        &self,
        request: &AdmissionRequest,
        idempotency_key: Option<&str>,
    ) -> Result<AdmissionStarted> {
        self.call(
            Method::POST,
            "/api/admissions",
            Some(request),
            idempotency_key,
        )
        .await
    }

    /// `GET /api/admissions/{workflow_id}`: where an admission stands.
    pub async fn admission_status(&self, workflow_id: &str) -> Result<AdmissionStatus> {
        self.call(
            Method::GET,
            &format!("/api/admissions/{workflow_id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `POST /api/admissions/{workflow_id}/cancel`.
    pub async fn cancel_admission(&self, workflow_id: &str) -> Result<CancelRequested> {
        self.call(
            Method::POST,
            &format!("/api/admissions/{workflow_id}/cancel"),
            Some(&serde_json::json!({})),
            None,
        )
        .await
    }

    /// `POST /api/admissions/{workflow_id}/discharge`: frees the patient's bed.
    pub async fn discharge(&self, workflow_id: &str) -> Result<Discharged> {
        self.call(
            Method::POST,
            &format!("/api/admissions/{workflow_id}/discharge"),
            Some(&serde_json::json!({})),
            None,
        )
        .await
    }

    /// `GET /api/tasks`: the open tasks of the caller's queue (all tasks for an admin).
    pub async fn tasks(&self) -> Result<Vec<TaskView>> {
        self.call(Method::GET, "/api/tasks", None::<&()>, None)
            .await
    }

    /// `GET /api/tasks/{task_id}`.
    pub async fn task(&self, task_id: &str) -> Result<TaskView> {
        self.call(
            Method::GET,
            &format!("/api/tasks/{task_id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `POST /api/tasks/{task_id}/claim`.
    pub async fn claim(&self, task_id: &str) -> Result<TaskView> {
        self.call(
            Method::POST,
            &format!("/api/tasks/{task_id}/claim"),
            Some(&serde_json::json!({})),
            None,
        )
        .await
    }

    /// `POST /api/tasks/{task_id}/decision`: approve or reject, with the reason, signed
    /// with the decider's password (in `decision`).
    pub async fn decide(
        &self,
        task_id: &str,
        decision: &DecisionRequest,
    ) -> Result<DecisionOutcome> {
        self.call(
            Method::POST,
            &format!("/api/tasks/{task_id}/decision"),
            Some(decision),
            None,
        )
        .await
    }

    /// `GET /api/beds`: occupancy by ward.
    pub async fn beds(&self) -> Result<Vec<WardOccupancy>> {
        self.call(Method::GET, "/api/beds", None::<&()>, None).await
    }

    /// `POST /api/bed-plans`: starts a bed plan. With `idempotency_key`, a retry after a
    /// lost answer returns the plan the first try started.
    pub async fn create_bed_plan(
        &self,
        request: &BedPlanRequest,
        idempotency_key: Option<&str>,
    ) -> Result<BedPlanStarted> {
        self.call(
            Method::POST,
            "/api/bed-plans",
            Some(request),
            idempotency_key,
        )
        .await
    }

    /// `GET /api/bed-plans/{plan_id}`.
    pub async fn bed_plan(&self, plan_id: &str) -> Result<BedPlanView> {
        self.call(
            Method::GET,
            &format!("/api/bed-plans/{plan_id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `GET /api/bed-plans`: recent plans, newest first.
    pub async fn bed_plans(&self) -> Result<Vec<BedPlanRecord>> {
        self.call(Method::GET, "/api/bed-plans", None::<&()>, None)
            .await
    }

    /// `GET /api/bed-moves`: the open move orders of published bed plans.
    pub async fn bed_moves(&self) -> Result<Vec<careflow_store::bed_plans::BedMove>> {
        self.call(Method::GET, "/api/bed-moves", None::<&()>, None)
            .await
    }

    /// `POST /api/bed-moves/{plan_id}/{admission_id}/done`: the ward moved the patient
    /// (the store checks the caller's role and the patient's room, and moves the census).
    pub async fn bed_move_done(
        &self,
        plan_id: &str,
        admission_id: &str,
    ) -> Result<careflow_store::bed_plans::BedMove> {
        self.call(
            Method::POST,
            &format!("/api/bed-moves/{plan_id}/{admission_id}/done"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `GET /api/audit/verify`: walks the audit chain.
    pub async fn audit_verify(&self) -> Result<AuditVerification> {
        self.call(Method::GET, "/api/audit/verify", None::<&()>, None)
            .await
    }

    /// `POST /api/admissions` with a JSON body given as text (read from a file, or
    /// deliberately malformed to test the API's refusals), sent as it is. The server
    /// validates it as it does any other, and locates what is wrong.
    pub async fn create_admission_json(
        &self,
        json: &str,
        idempotency_key: Option<&str>,
    ) -> Result<AdmissionStarted> {
        let url = format!("{}/api/admissions", self.base);
        let req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json.to_owned());
        self.send(req, url, idempotency_key).await
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(body);
        }
        self.send(req, url, idempotency_key).await
    }

    /// Sends `req` (to `url`) as this client's user and reads the answer.
    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: String,
        idempotency_key: Option<&str>,
    ) -> Result<T> {
        let mut req = req.bearer_auth(&self.token);
        if let Some(key) = idempotency_key {
            req = req.header(IDEMPOTENCY_KEY, key);
        }
        let resp = req.send().await.map_err(|source| {
            if source.is_connect() {
                ApiError::Unreachable {
                    url: url.clone(),
                    source,
                }
            } else {
                ApiError::Transport {
                    url: url.clone(),
                    source,
                }
            }
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|source| ApiError::Transport {
            url: url.clone(),
            source,
        })?;
        if !status.is_success() {
            // Every careflow error has the same body; anything else (a proxy's page) is
            // passed on as text.
            return Err(match serde_json::from_slice::<ApiErrorBody>(&bytes) {
                Ok(b) => ApiError::Refused {
                    status,
                    code: b.error.code,
                    message: b.error.message,
                    fields: b.error.fields.unwrap_or_default(),
                },
                Err(_) => {
                    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                    ApiError::Refused {
                        status,
                        code: String::new(),
                        message: if text.is_empty() {
                            "unknown error".into()
                        } else {
                            text
                        },
                        fields: Vec::new(),
                    }
                }
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| ApiError::Decode { url, source })
    }
}

/// File in which `serve` records where its API listens.
pub fn api_file(data_dir: &Path) -> PathBuf {
    data_dir.join("api-url")
}

/// The calling OS user's careflow configuration directory: `$XDG_CONFIG_HOME/careflow`,
/// else `$HOME/.config/careflow`.
pub fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("careflow"))
}

/// Where the session of `user` on the API at `api` lives in `config_dir`:
/// `sessions/HOST_PORT/USER` (one per server, so two sites never share a token).
pub fn session_file(config_dir: &Path, api: &str, user: &str) -> PathBuf {
    let server: String = api
        .trim_end_matches('/')
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    config_dir.join("sessions").join(server).join(user)
}

/// A session token saved by `careflow login`.
#[derive(Clone, PartialEq, Eq)]
pub struct SavedSession {
    /// Bearer token.
    pub token: String,
    /// When it expires (RFC 3339, UTC).
    pub expires_at: String,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedSession")
            .field("token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Saves a session where only the calling OS user can read it (directories 0700, the
/// file 0600, created with that mode so it is never readable by others, even briefly).
pub fn save_session(path: &Path, session: &SavedSession) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path)?;
    writeln!(file, "{}\n{}", session.token, session.expires_at)
}

/// The session saved at `path`, if any.
pub fn load_session(path: &Path) -> std::io::Result<Option<SavedSession>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut lines = text.lines();
            let token = lines.next().unwrap_or_default().trim().to_owned();
            let expires_at = lines.next().unwrap_or_default().trim().to_owned();
            Ok((!token.is_empty()).then_some(SavedSession { token, expires_at }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The nurse-rostering routes.
impl ApiClient {
    /// `POST /api/rosters`: starts a ward's roster. With `idempotency_key`, a retry
    /// after a lost answer returns the roster the first try started.
    pub async fn create_roster(
        &self,
        request: &careflow_types::RosterRequest,
        idempotency_key: Option<&str>,
    ) -> Result<careflow_types::RosterStarted> {
        self.call(Method::POST, "/api/rosters", Some(request), idempotency_key)
            .await
    }

    /// `GET /api/rosters/{roster_id}`: where the roster stands.
    pub async fn roster_status(&self, roster_id: &str) -> Result<careflow_types::RosterStatus> {
        self.call(
            Method::GET,
            &format!("/api/rosters/{roster_id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `POST /api/rosters/{roster_id}/events`: reports a sick call or a surge as the
    /// signed-in user.
    pub async fn report_roster_event(
        &self,
        roster_id: &str,
        change: &careflow_types::RosterChange,
    ) -> Result<careflow_types::RosterEventAccepted> {
        let event = careflow_types::RosterEvent {
            reported_by: String::new(),
            change: change.clone(),
        };
        self.call(
            Method::POST,
            &format!("/api/rosters/{roster_id}/events"),
            Some(&event),
            None,
        )
        .await
    }
}

/// The operating-theatre week's routes (`/api/theatre-weeks`).
impl ApiClient {
    /// `POST /api/theatre-weeks`: starts a week's lists (forecast, optimise, then a
    /// theatre administrator's approval). With `idempotency_key`, a retry after a lost
    /// answer returns the week the first try started.
    pub async fn create_theatre_week(
        &self,
        request: &careflow_types::TheatreWeekRequest,
        idempotency_key: Option<&str>,
    ) -> Result<careflow_types::TheatreWeekStarted> {
        self.call(
            Method::POST,
            "/api/theatre-weeks",
            Some(request),
            idempotency_key,
        )
        .await
    }

    /// `POST /api/theatre-weeks` with the week given as JSON text (a file as the
    /// hospital wrote it), sent as it is: the server locates what is wrong.
    pub async fn create_theatre_week_json(
        &self,
        json: &str,
        idempotency_key: Option<&str>,
    ) -> Result<careflow_types::TheatreWeekStarted> {
        let url = format!("{}/api/theatre-weeks", self.base);
        let req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json.to_owned());
        self.send(req, url, idempotency_key).await
    }

    /// `GET /api/theatre-weeks/{list_id}`: where the week's workflow stands.
    pub async fn theatre_week(&self, list_id: &str) -> Result<careflow_types::TheatreWeekView> {
        self.call(
            Method::GET,
            &format!("/api/theatre-weeks/{list_id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `GET /api/theatre-weeks/{list_id}/list`: the list in force and the latest
    /// proposal, as stored.
    pub async fn theatre_lists(&self, list_id: &str) -> Result<careflow_types::TheatreWeekLists> {
        self.call(
            Method::GET,
            &format!("/api/theatre-weeks/{list_id}/list"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `GET /api/theatre-weeks`: the most recent revisions of every week, newest first.
    pub async fn theatre_revisions(&self) -> Result<Vec<careflow_types::TheatreListRecord>> {
        self.call(Method::GET, "/api/theatre-weeks", None::<&()>, None)
            .await
    }

    /// `POST /api/theatre-weeks/{list_id}/events`: reports a day-of event (recorded as
    /// reported by the signed-in user); the week re-plans from its day.
    pub async fn report_theatre_event(
        &self,
        list_id: &str,
        event: &careflow_types::DayOfEvent,
    ) -> Result<careflow_types::TheatreEventAccepted> {
        self.call(
            Method::POST,
            &format!("/api/theatre-weeks/{list_id}/events"),
            Some(event),
            None,
        )
        .await
    }

    /// `POST /api/theatre-weeks/{list_id}/close`: the week's lists are final.
    pub async fn close_theatre_week(
        &self,
        list_id: &str,
        reason: &str,
    ) -> Result<careflow_types::TheatreWeekClosed> {
        self.call(
            Method::POST,
            &format!("/api/theatre-weeks/{list_id}/close"),
            Some(&careflow_types::CloseWeekRequest {
                reason: reason.to_owned(),
            }),
            None,
        )
        .await
    }
}

/// The CT/MRI scanner booking routes.
impl ApiClient {
    /// `POST /api/scanner-bookings`: starts a booking run and returns its id.
    pub async fn create_scanner_booking(
        &self,
        request: &careflow_types::ScannerWeekRequest,
        idempotency_key: Option<&str>,
    ) -> Result<careflow_types::ScannerBookingStarted> {
        self.call(
            Method::POST,
            "/api/scanner-bookings",
            Some(request),
            idempotency_key,
        )
        .await
    }

    /// `GET /api/scanner-bookings/{id}`: where the booking run stands.
    pub async fn scanner_booking(
        &self,
        booking_id: &str,
    ) -> Result<careflow_types::ScannerBookingStatus> {
        self.call(
            Method::GET,
            &format!("/api/scanner-bookings/{booking_id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `POST /api/scanner-bookings/{id}/attendance`: whether a booked patient came.
    pub async fn record_attendance(
        &self,
        booking_id: &str,
        report: &careflow_types::AttendanceReport,
    ) -> Result<careflow_types::AttendanceAccepted> {
        self.call(
            Method::POST,
            &format!("/api/scanner-bookings/{booking_id}/attendance"),
            Some(report),
            None,
        )
        .await
    }

    /// `GET /api/scanner-bookings/no-show-outcomes`: predicted probability beside
    /// outcome for every booked scan whose attendance is recorded.
    pub async fn no_show_outcomes(&self) -> Result<Vec<careflow_types::NoShowOutcome>> {
        self.call(
            Method::GET,
            "/api/scanner-bookings/no-show-outcomes",
            None::<&()>,
            None,
        )
        .await
    }

    /// `POST /api/releases`: starts the release of a committed model version, you (a
    /// project lead) as its author.
    pub async fn start_release(
        &self,
        request: &careflow_types::ReleaseRequest,
        idempotency_key: Option<&str>,
    ) -> Result<careflow_types::ReleaseStarted> {
        self.call(
            Method::POST,
            "/api/releases",
            Some(request),
            idempotency_key,
        )
        .await
    }

    /// `GET /api/releases`: every release, newest first.
    pub async fn releases(&self) -> Result<Vec<careflow_types::ReleaseView>> {
        self.call(Method::GET, "/api/releases", None::<&()>, None)
            .await
    }

    /// `GET /api/releases/{release_id}`: where a release stands.
    pub async fn release(&self, release_id: &str) -> Result<careflow_types::ReleaseView> {
        self.call(
            Method::GET,
            &format!("/api/releases/{release_id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `POST /api/releases/{release_id}/promotion`: the owner's signed promotion
    /// decision.
    pub async fn decide_promotion(
        &self,
        release_id: &str,
        decision: &DecisionRequest,
    ) -> Result<careflow_types::ReleaseStepOutcome> {
        self.call(
            Method::POST,
            &format!("/api/releases/{release_id}/promotion"),
            Some(decision),
            None,
        )
        .await
    }

    /// `POST /api/releases/{release_id}/rollback`: a signed rollback to the version the
    /// release replaced.
    pub async fn roll_back_release(
        &self,
        release_id: &str,
        body: &careflow_types::RollbackBody,
    ) -> Result<careflow_types::ReleaseStepOutcome> {
        self.call(
            Method::POST,
            &format!("/api/releases/{release_id}/rollback"),
            Some(body),
            None,
        )
        .await
    }

    /// `POST /api/releases/truth`: what happened for targets of a model's shadow
    /// forecasts.
    pub async fn record_truth(
        &self,
        request: &careflow_types::TruthRequest,
    ) -> Result<careflow_types::TruthRecorded> {
        self.call(Method::POST, "/api/releases/truth", Some(request), None)
            .await
    }
}

/// The ethics committee's review (`/api/ethics`). Signing steps take the signer's
/// password in their request; the server signs with it and sends only the signature on.
impl ApiClient {
    /// `GET /api/ethics/queue`: what waits for the signed-in user, by due date.
    pub async fn ethics_queue(&self) -> Result<Vec<careflow_types::ethics::QueueItem>> {
        self.call(Method::GET, "/api/ethics/queue", None::<&()>, None)
            .await
    }

    /// `POST /api/ethics/members`: seats a committee member or chair, scientific or lay;
    /// answers the membership recorded.
    pub async fn ethics_add_member(
        &self,
        request: &careflow_types::EthicsMemberRequest,
    ) -> Result<careflow_types::EthicsMemberRequest> {
        self.call(Method::POST, "/api/ethics/members", Some(request), None)
            .await
    }

    /// `POST /api/ethics/submissions`: a new project (you are its applicant); its review
    /// starts.
    pub async fn ethics_submit(
        &self,
        content: &careflow_types::ethics::SubmissionContent,
    ) -> Result<careflow_types::EthicsSubmitted> {
        self.call(Method::POST, "/api/ethics/submissions", Some(content), None)
            .await
    }

    /// `POST /api/ethics/submissions/{project}/amendments`: an amendment to an approved
    /// project, reviewed on its own.
    pub async fn ethics_amend(
        &self,
        project: &str,
        content: &careflow_types::ethics::SubmissionContent,
    ) -> Result<careflow_types::EthicsSubmitted> {
        self.ethics_post(project, "amendments", content).await
    }

    /// `POST /api/ethics/submissions/{project}/incidents`: an incident report, reviewed
    /// on its own.
    pub async fn ethics_report_incident(
        &self,
        project: &str,
        content: &careflow_types::ethics::SubmissionContent,
    ) -> Result<careflow_types::EthicsSubmitted> {
        self.ethics_post(project, "incidents", content).await
    }

    /// `GET /api/ethics/submissions/{id}`.
    pub async fn ethics_submission(&self, id: &str) -> Result<careflow_types::ethics::Submission> {
        self.call(
            Method::GET,
            &format!("/api/ethics/submissions/{id}"),
            None::<&()>,
            None,
        )
        .await
    }

    /// `POST .../check`: the secretary's completeness check.
    pub async fn ethics_check(
        &self,
        id: &str,
        request: &careflow_types::EthicsCheckRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "check", request).await
    }

    /// `POST .../resubmit`: the applicant's new version of a returned submission.
    pub async fn ethics_resubmit(
        &self,
        id: &str,
        content: &careflow_types::ethics::SubmissionContent,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "resubmit", content).await
    }

    /// `POST .../route`: the secretary routes a complete submission.
    pub async fn ethics_route(
        &self,
        id: &str,
        request: &careflow_types::EthicsRouteRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "route", request).await
    }

    /// `POST .../conflicts`: the signed-in member declares a conflict of interest.
    pub async fn ethics_declare_conflict(
        &self,
        id: &str,
        request: &careflow_types::EthicsConflictRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "conflicts", request).await
    }

    /// `POST .../reviewers`: the secretary assigns reviewers.
    pub async fn ethics_assign(
        &self,
        id: &str,
        request: &careflow_types::EthicsAssignRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "reviewers", request).await
    }

    /// `POST .../review`: an assigned reviewer's comments, signed.
    pub async fn ethics_review(
        &self,
        id: &str,
        request: &careflow_types::EthicsReviewRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "review", request).await
    }

    /// `POST .../meetings`: the secretary records who attends; the answer says whether
    /// the meeting is quorate.
    pub async fn ethics_meeting(
        &self,
        id: &str,
        request: &careflow_types::EthicsMeetingRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "meetings", request).await
    }

    /// `POST .../votes`: a member's vote at a quorate meeting, signed.
    pub async fn ethics_vote(
        &self,
        id: &str,
        request: &careflow_types::EthicsVoteRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "votes", request).await
    }

    /// `POST .../decision`: the chair's decision with its letter, signed.
    pub async fn ethics_decide(
        &self,
        id: &str,
        request: &careflow_types::EthicsDecisionRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "decision", request).await
    }

    /// `POST .../respond`: the applicant answers requested modifications.
    pub async fn ethics_respond(
        &self,
        id: &str,
        request: &careflow_types::EthicsRespondRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "respond", request).await
    }

    /// `POST .../verify`: the chair or a reviewer verifies the modifications, signed.
    pub async fn ethics_verify(
        &self,
        id: &str,
        request: &careflow_types::EthicsVerifyRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "verify", request).await
    }

    /// `POST /api/ethics/submissions/{id}/renew`.
    pub async fn ethics_renew(
        &self,
        id: &str,
        request: &careflow_types::EthicsRenewRequest,
    ) -> Result<careflow_types::ethics::EthicsStepDone> {
        self.ethics_post(id, "renew", request).await
    }

    async fn ethics_post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        id: &str,
        step: &str,
        body: &B,
    ) -> Result<T> {
        self.call(
            Method::POST,
            &format!("/api/ethics/submissions/{id}/{step}"),
            Some(body),
            None,
        )
        .await
    }
}
