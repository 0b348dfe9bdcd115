//! The web pages for careflow's users, served beside the API on the same port and
//! rendered on the server (maud: every value escaped). A page needs a session cookie
//! from the login form (`session`); each page names the roles that may open it, and
//! the menu shows a user only theirs. Pages show pseudonyms and admission ids, never a
//! patient identifier. Forms that change anything are POSTs carrying the session's
//! CSRF token; searches are GETs that change nothing.

mod audit;
mod boards;
mod charts;
mod dashboard;
mod ethics;
mod inbox;
pub(crate) mod layout;
mod proposals;
pub(crate) mod session;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use maud::html;
use serde::Deserialize;

use careflow_store::users;
use careflow_types::Role;

use crate::api::AuthConfig;
use crate::error::AppError;
use crate::AppState;
use layout::{bare_page, error_page, page, respond};
use session::{PageUser, LOGIN_CSRF_COOKIE, SESSION_COOKIE};

/// Who may open the inbox: the deciders, and the admin (who sees every queue).
pub(crate) const INBOX_ROLES: &[Role] = crate::api::TASK_READER_ROLES;
/// Who may open the department dashboard.
pub(crate) const DASHBOARD_ROLES: &[Role] = &[
    Role::BedManager,
    Role::SiteManager,
    Role::DepartmentHead,
    Role::NurseInCharge,
    Role::Admin,
];
/// Who may open the audit viewer (the export itself is the auditor's only, as in the
/// API).
pub(crate) const AUDIT_ROLES: &[Role] = &[Role::Auditor, Role::Admin];

/// Who may open the theatre dashboard.
pub(crate) const THEATRE_BOARD_ROLES: &[Role] = &[
    Role::TheatreAdmin,
    Role::SiteManager,
    Role::DepartmentHead,
    Role::Admin,
];
/// Who may open the imaging dashboard.
pub(crate) const IMAGING_BOARD_ROLES: &[Role] = &[
    Role::ImagingManager,
    Role::SiteManager,
    Role::DepartmentHead,
    Role::Admin,
];
/// Who may open the ward rosters.
pub(crate) const ROSTER_BOARD_ROLES: &[Role] = &[
    Role::NurseInCharge,
    Role::SiteManager,
    Role::DepartmentHead,
    Role::Admin,
];
/// Who may open the ethics pages: those who read submissions in the API.
pub(crate) const ETHICS_ROLES: &[Role] = crate::api::ethics::ETHICS_READERS;
/// Who may open the model board: those who read releases in the API.
pub(crate) const MODEL_BOARD_ROLES: &[Role] = crate::api::releases::READERS;

/// The menu: path, label, roles. A user's home is the first of theirs.
pub(crate) const PAGES: &[(&str, &str, &[Role])] = &[
    ("/inbox", "Approval inbox", INBOX_ROLES),
    ("/dashboard", "Beds", DASHBOARD_ROLES),
    ("/dashboard/theatre", "Theatres", THEATRE_BOARD_ROLES),
    ("/dashboard/scanner", "Imaging", IMAGING_BOARD_ROLES),
    ("/dashboard/roster", "Rosters", ROSTER_BOARD_ROLES),
    ("/audit", "Audit trail", AUDIT_ROLES),
    ("/ethics", "Ethics review", ETHICS_ROLES),
    ("/models", "Models", MODEL_BOARD_ROLES),
];

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/static/careflow.css", get(layout::stylesheet))
        .merge(inbox::router())
        .merge(audit::router())
        .merge(dashboard::router())
        .merge(boards::router())
        .merge(ethics::router())
}

/// An API error as an HTML page with the same status; client mistakes say what is
/// wrong, internal failures are logged and described generically.
pub(crate) fn app_error_page(e: AppError) -> Response {
    let message = match &e {
        AppError::Invalid(fields) => fields
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        AppError::Internal(_) => "Something failed inside careflow; it has been logged.".into(),
        other => other.to_string(),
    };
    let status = e.into_response().status();
    error_page(status, &message)
}

/// `/`: a signed-in user goes to their first page; others to the login form.
async fn home(user: Result<PageUser, session::NoSession>) -> Response {
    let Ok(me) = user else {
        return Redirect::to("/login").into_response();
    };
    match PAGES
        .iter()
        .find(|(_, _, roles)| roles.contains(&me.user.role))
    {
        Some((path, _, _)) => Redirect::to(path).into_response(),
        None => respond(
            StatusCode::OK,
            page(
                &me.user,
                &me.csrf,
                "careflow",
                html! { p { "There are no pages for the role " (me.user.role) " yet; use the API or the command line." } },
            ),
        ),
    }
}

fn login_markup(csrf: &str, username: &str, problem: Option<&str>) -> maud::Markup {
    bare_page(
        "Log in",
        html! {
            @if let Some(p) = problem { p.notice.error role="alert" { (p) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="username" { "User name" }
                input #username type="text" name="username" value=(username) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                p { button type="submit" { "Log in" } }
            }
            p.muted { "After " (users::MAX_FAILED_ATTEMPTS) " wrong passwords the account is locked for "
                (users::LOCKOUT.as_secs() / 60) " minutes." }
        },
    )
}

/// The login page with a fresh form token, also set as a cookie (double submit).
fn login_page(
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    problem: Option<&str>,
) -> Response {
    let csrf = session::random_value();
    let mut resp = respond(status, login_markup(&csrf, username, problem));
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, session::over_tls(headers)),
    );
    resp
}

async fn login_form(headers: HeaderMap) -> Response {
    login_page(&headers, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// Checks the password through the store (wrong ones counted, the account locked after
/// repeated failures), then issues a new session token, revoking any the browser
/// brought: the session id always changes at login.
async fn login(
    State(state): State<AppState>,
    Extension(config): Extension<AuthConfig>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = session::cookie(&headers, LOGIN_CSRF_COOKIE);
    if !expected.is_some_and(|c| !form.csrf.is_empty() && session::same(c, &form.csrf)) {
        return login_page(
            &headers,
            StatusCode::FORBIDDEN,
            &form.username,
            Some("The login form had expired (CSRF token missing or wrong); please log in again."),
        );
    }
    let name = form.username.trim();
    if name.is_empty() || form.password.is_empty() {
        return login_page(
            &headers,
            StatusCode::BAD_REQUEST,
            name,
            Some("Enter your user name and password."),
        );
    }
    let logged_in = users::login(&state.db, name, &form.password, config.token_ttl).await;
    let session = match logged_in {
        Ok(s) => s,
        Err(e) => {
            let e = AppError::from(e);
            let status = match &e {
                AppError::BadCredentials(_) | AppError::NotFound(_) => StatusCode::UNAUTHORIZED,
                AppError::Locked(_) => StatusCode::LOCKED,
                AppError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => return app_error_page(e),
            };
            let message = match &e {
                AppError::NotFound(_) => "Wrong user name or password.".to_owned(),
                AppError::Invalid(f) => f
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            return login_page(&headers, status, name, Some(&message));
        }
    };
    if let Some(old) = session::cookie(&headers, SESSION_COOKIE) {
        // A session the browser already had (or one planted in it) ends here.
        if let Err(e) = users::logout(&state.db, old).await {
            tracing::warn!(error = %e, "revoking the previous page session");
        }
    }
    let tls = session::over_tls(&headers);
    let mut resp = Redirect::to("/").into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(
            SESSION_COOKIE,
            &session.token,
            config.token_ttl.as_secs(),
            tls,
        ),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(LOGIN_CSRF_COOKIE, "", 0, tls),
    );
    resp
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// Revokes the session's token and clears the cookie.
async fn logout(
    State(state): State<AppState>,
    me: PageUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = me.check_csrf(form.csrf.as_deref()) {
        return r.into_response();
    }
    if let Err(e) = users::logout(&state.db, &me.token).await {
        return app_error_page(e.into());
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SESSION_COOKIE, "", 0, session::over_tls(&headers)),
    );
    resp
}
