//! The pages' session: a cookie holding a token from the store's login (the same
//! expiring, revocable tokens as the API's bearer tokens, so logging out revokes it and
//! the lock-out after wrong passwords applies), and the CSRF token every form carries.
//!
//! - The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
//!   page sends it) and `Secure` when the request came over TLS (a TLS-terminating
//!   proxy says so with `X-Forwarded-Proto: https`).
//! - Login always issues a new random token and revokes any token the browser brought
//!   along: a session id planted before login is never adopted (no fixation).
//! - The CSRF token of a session is a digest of its secret token, checked on every
//!   POST; before login, the login form's token is a random value also set as a cookie
//!   (double submit), so a cross-site page cannot log a browser in either.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use careflow_store::audit;
use careflow_store::users::{self, User};
use careflow_types::Role;

use super::layout;
use crate::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "careflow_session";
/// The login form's double-submit cookie.
pub const LOGIN_CSRF_COOKIE: &str = "careflow_login_csrf";

/// The value of cookie `name` in the request, if sent.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the browser reached careflow over TLS.
pub(crate) fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with the session attributes; `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: u64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie values are hex")
}

/// The CSRF token of the session whose secret token is `token`.
pub(crate) fn csrf_for(token: &str) -> String {
    audit::sha256_json(&("careflow page form", token))
}

/// A fresh random value (login form CSRF).
pub(crate) fn random_value() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Compares without stopping at the first difference.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A page request refused (wrong role, missing CSRF token): an error page with this
/// status and message.
pub(crate) struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        layout::error_page(self.0, &self.1)
    }
}

/// The signed-in user of a page request, with their session's token and CSRF token.
pub(crate) struct PageUser {
    pub user: User,
    pub token: String,
    pub csrf: String,
}

/// Why a page request has no user: no or a dead session (sent to the login page).
pub(crate) enum NoSession {
    Login,
    Failed(String),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::Login => Redirect::to("/login").into_response(),
            NoSession::Failed(detail) => {
                tracing::error!(%detail, "page session lookup failed");
                layout::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something failed inside careflow; it has been logged.",
                )
            }
        }
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = NoSession;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NoSession> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(NoSession::Login)?;
        let user = users::authenticate(&state.db, token)
            .await
            .map_err(|e| NoSession::Failed(e.to_string()))?
            .ok_or(NoSession::Login)?;
        Ok(PageUser {
            csrf: csrf_for(token),
            token: token.to_owned(),
            user,
        })
    }
}

impl PageUser {
    /// The user, if their role is one of `allowed`; else a 403 page naming the role.
    pub fn require(&self, allowed: &[Role]) -> Result<&User, Refused> {
        if allowed.contains(&self.user.role) {
            Ok(&self.user)
        } else {
            Err(Refused(
                StatusCode::FORBIDDEN,
                format!(
                    "This page is not for the role {}. Use the menu for your pages.",
                    self.user.role
                ),
            ))
        }
    }

    /// Refuses a form whose CSRF token is missing or not this session's.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), Refused> {
        match sent {
            Some(s) if same(s, &self.csrf) => Ok(()),
            _ => Err(Refused(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from careflow (CSRF token missing or wrong). Reload the page and try again.".into(),
            )),
        }
    }
}
