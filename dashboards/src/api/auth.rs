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

#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    summary = "Exchange a user name and password for an expiring bearer token (wrong passwords counted; 5 lock the account)",
    description = "Roles: anyone with a password.",
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "Wrong user name or password"),
        (status = 423, description = "Locked after repeated wrong passwords"),
    )
)]
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

#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    summary = "Revoke the caller's token",
    description = "Roles: any signed-in user.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
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
