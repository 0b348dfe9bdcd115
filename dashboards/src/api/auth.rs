//! Logging in and out: `POST /api/login` exchanges a user name and password for a
//! bearer token that expires ([`AuthConfig::token_ttl`]); `POST /api/logout` revokes
//! the token it is called with. Passwords are checked by the store, which counts wrong
//! ones and locks the account after repeated failures.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Extension, Json, Router};

use careflow_store::users;
use careflow_types::{LoggedOut, LoginRequest, LoginResponse};

use crate::error::{parse_json, AppError};
use crate::AppState;

/// How the API issues tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    /// How long a token from `POST /api/login` works unless revoked first.
    pub token_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: users::DEFAULT_TOKEN_TTL,
        }
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
}

/// The bearer token of a request, if it carries one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

async fn login(
    State(state): State<AppState>,
    Extension(config): Extension<AuthConfig>,
    body: Bytes,
) -> Result<Json<LoginResponse>, AppError> {
    let req: LoginRequest = parse_json(&body)?;
    req.validate().map_err(AppError::Invalid)?;
    let session = users::login(
        &state.db,
        req.username.trim(),
        &req.password,
        config.token_ttl,
    )
    .await?;
    Ok(Json(LoginResponse {
        token: session.token,
        user: session.user.name,
        role: session.user.role,
        expires_at: session.expires_at,
    }))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<LoggedOut>, AppError> {
    let token = bearer(&headers).ok_or(AppError::Unauthenticated)?;
    let user = users::logout(&state.db, token)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    Ok(Json(LoggedOut { user: user.name }))
}
