//! The one error type of the HTTP API: client mistakes keep their status and say what
//! is wrong and where; internal failures are logged and answered generically.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use careflow_types::FieldError;

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body or a field is malformed or invalid.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// No or unknown bearer token.
    #[error("authentication required")]
    Unauthenticated,
    /// The user's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state (already decided...).
    #[error("{0}")]
    Conflict(String),
    /// Something failed inside careflow; details are logged, not shown.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [FieldError]>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            AppError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let message = match &self {
            AppError::Invalid(fields) => fields
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        let fields = match &self {
            AppError::Invalid(f) => Some(f.as_slice()),
            _ => None,
        };
        (
            status,
            Json(Body {
                error: ErrorBody {
                    code,
                    message,
                    fields,
                },
            }),
        )
            .into_response()
    }
}

impl From<careflow_store::Error> for AppError {
    fn from(e: careflow_store::Error) -> Self {
        use careflow_store::Error as E;
        match e {
            E::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            E::Conflict(m) => AppError::Conflict(m),
            E::Forbidden(m) => AppError::Forbidden(m),
            E::Invalid(m) => AppError::Invalid(vec![careflow_types::FieldError::new("body", m)]),
            other => AppError::Internal(other.to_string()),
        }
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
