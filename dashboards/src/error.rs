//! The one error type of the HTTP API: client mistakes keep their status and say what
//! is wrong and where; internal failures are logged and answered generically.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use careflow_types::{ApiErrorBody, ApiErrorDetail, FieldError};

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body or a field is malformed or invalid.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// No or unknown bearer token.
    #[error("authentication required")]
    Unauthenticated,
    /// A password was wrong (logging in or signing); the message says what is left.
    #[error("{0}")]
    BadCredentials(String),
    /// The account is locked after repeated wrong passwords; the message says until when.
    #[error("{0}")]
    Locked(String),
    /// The user's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state (already decided...).
    #[error("{0}")]
    Conflict(String),
    /// A part careflow needs (the domain database) does not answer now: 503 with
    /// Retry-After, so that clients retry instead of reporting a failure.
    #[error("{0}")]
    Unavailable(String),
    /// Something failed inside careflow; details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

/// Seconds a client is asked to wait after a 503 before retrying.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AppError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::BadCredentials(_) => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            AppError::Locked(_) => (StatusCode::LOCKED, "locked"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let (message, fields) = match self {
            AppError::Invalid(fields) => (
                fields
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                Some(fields),
            ),
            other => (other.to_string(), None),
        };
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                code: code.into(),
                message,
                fields,
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        resp
    }
}

impl From<careflow_store::Error> for AppError {
    fn from(e: careflow_store::Error) -> Self {
        use careflow_store::Error as E;
        match e {
            E::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            E::Conflict(m) => AppError::Conflict(m),
            E::Forbidden(m) => AppError::Forbidden(m),
            E::BadCredentials(m) => AppError::BadCredentials(m),
            E::Locked(m) => AppError::Locked(m),
            E::Invalid(m) => AppError::Invalid(vec![careflow_types::FieldError::new("body", m)]),
            E::Database(e) if database_unreachable(&e) => {
                tracing::warn!(error = %e, "domain database unavailable");
                AppError::Unavailable(
                    "the domain database is unavailable; nothing was changed: retry shortly".into(),
                )
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// Whether `e` says the database cannot be reached (down, restarting, the network cut),
/// as opposed to a statement it refused: the request may succeed if repeated later.
fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: connection exceptions (08...), shutting down or starting (57P0x).
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P0")),
        _ => false,
    }
}

/// Parses a JSON body, locating any problem by field path, line and column.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path == "?" {
            "body".to_owned()
        } else {
            path
        };
        // serde_json's message already ends with "at line L column C".
        AppError::Invalid(vec![FieldError::new(field, inner.to_string())])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: AppError) -> (StatusCode, String) {
        let resp = e.into_response();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    // The wire format the typed client (`careflow::client`) decodes as `ApiErrorBody`:
    // `fields` only for invalid requests, keys in this order.
    #[tokio::test]
    async fn error_bodies_keep_their_shape() {
        let (status, body) = answer(AppError::Invalid(vec![
            FieldError::new("expected_los_days", "must be at least 1"),
            FieldError::new("specialty", "must not be empty"),
        ]))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            r#"{"error":{"code":"invalid_request","message":"expected_los_days: must be at least 1; specialty: must not be empty","fields":[{"field":"expected_los_days","message":"must be at least 1"},{"field":"specialty","message":"must not be empty"}]}}"#
        );
        let (status, body) =
            answer(AppError::Forbidden("role auditor may not do this".into())).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            r#"{"error":{"code":"forbidden","message":"role auditor may not do this"}}"#
        );
        let (status, body) = answer(AppError::Internal("disk full".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            r#"{"error":{"code":"internal","message":"internal error"}}"#
        );
        let parsed: ApiErrorBody = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed.error.code, "internal");
        assert_eq!(parsed.error.fields, None);
    }
}
