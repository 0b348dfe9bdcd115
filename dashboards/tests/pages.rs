//! The web pages in-process (`app().oneshot`) over a real SQLite database and the
//! official Temporal test server: every page x every role and no session, allowed or
//! refused as the table below says (written out here, not read from the code under
//! test); the login form's CSRF and lock-out, a session id that changes at login (no
//! fixation), forms refused without their CSRF token, logout, and user text shown
//! inert.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{audit, tasks, users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::{NewAuditEntry, NewTask, Role, TaskKind};

const PASSWORD: &str = "pages test password";
const TASK: &str = "task-pages-1";

struct Env {
    _server: temporal::TestServer,
    _dir: tempfile::TempDir,
    db: Db,
    state: AppState,
}

async fn env() -> Env {
    let (server, client) = temporal::start_test_server().await;
    let (dir, db) = db::sqlite().await;
    let state = AppState {
        db: db.clone(),
        client,
    };
    Env {
        _server: server,
        _dir: dir,
        db,
        state,
    }
}

/// A user of `role` named after it; returns a live session token.
async fn person(db: &Db, role: Role) -> String {
    users::upsert_with_password(db, &user_of(role), role, Some(PASSWORD), "test")
        .await
        .expect("user")
}

fn user_of(role: Role) -> String {
    format!("u-{}", role.as_str().replace('_', "-"))
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookies: Vec<String>,
    body: String,
}

impl Answer {
    /// The value the answer sets for cookie `name` (`Some("")` when it deletes it).
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
    }
    fn set_cookie_line(&self, name: &str) -> &str {
        self.cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no Set-Cookie for {name} in {:?}", self.cookies))
    }
    /// The value of the hidden `csrf` field of the first form.
    fn form_csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a csrf field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

async fn send(
    env: &Env,
    method: &str,
    path: &str,
    cookies: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if !cookies.is_empty() {
        let c = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        req = req.header(header::COOKIE, c);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match form {
        Some(fields) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                s.append_pair(k, v);
            }
            Body::from(s.finish())
        }
        None => Body::empty(),
    };
    let resp = app(env.state.clone())
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let cookies = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .expect("body");
    Answer {
        status,
        location,
        cookies,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(env: &Env, path: &str, session: Option<&str>) -> Answer {
    let cookies: Vec<(&str, &str)> = session
        .map(|s| ("careflow_session", s))
        .into_iter()
        .collect();
    send(env, "GET", path, &cookies, None, &[]).await
}

async fn open_task(db: &Db, id: &str, summary: &str) {
    tasks::open(
        db,
        &NewTask {
            task_id: id.into(),
            // No workflow runs under this id: a decision is refused by Temporal after
            // the page's checks, which is all the matrix needs.
            workflow_id: format!("wf-{id}"),
            kind: TaskKind::BedPlan,
            role: Role::BedManager,
            summary: summary.into(),
            proposed_bed: None,
            due_at: "2026-12-02T10:00:00Z".into(),
            requested_by: Some("someone-else".into()),
        },
    )
    .await
    .expect("task");
}

const DECIDERS: &[Role] = &[
    Role::BedManager,
    Role::SiteManager,
    Role::TheatreAdmin,
    Role::ImagingManager,
    Role::DepartmentHead,
    Role::NurseInCharge,
];

/// Who may open what: (method, path, roles allowed). Everyone else with a session gets
/// 403; without a session every page sends the browser to the login form. Allowed GETs
/// answer 200; the POSTs as noted.
fn expected() -> Vec<(&'static str, String, Vec<Role>)> {
    let inbox: Vec<Role> = DECIDERS.iter().copied().chain([Role::Admin]).collect();
    vec![
        ("GET", "/inbox".into(), inbox.clone()),
        ("GET", format!("/inbox/{TASK}"), inbox),
        (
            "GET",
            "/dashboard".into(),
            vec![
                Role::BedManager,
                Role::SiteManager,
                Role::DepartmentHead,
                Role::NurseInCharge,
                Role::Admin,
            ],
        ),
        ("GET", "/audit".into(), vec![Role::Auditor, Role::Admin]),
        (
            "GET",
            "/audit/export?format=csv".into(),
            vec![Role::Auditor],
        ),
        // With the session's CSRF token but no verdict: an allowed role gets the task
        // page back saying what is missing (400), nothing decided.
        ("POST", format!("/inbox/{TASK}/decision"), DECIDERS.to_vec()),
        // Claiming: the task is in the bed manager's queue, so only a bed manager may
        // (303 back to the task); the other deciders pass the page and are refused by
        // the store. Last, since it changes the task.
        (
            "POST",
            format!("/inbox/{TASK}/claim"),
            vec![Role::BedManager],
        ),
    ]
}

#[tokio::test]
async fn every_page_by_every_role_and_without_a_session_is_allowed_or_refused() {
    let env = env().await;
    open_task(&env.db, TASK, "bed plan for tomorrow: 2 moves").await;
    let mut sessions = Vec::new();
    for role in Role::ALL {
        sessions.push((role, person(&env.db, role).await));
    }
    let mut checked = 0;
    for (method, path, allowed) in expected() {
        // No session: to the login form, nothing shown.
        let a = if method == "GET" {
            get(&env, &path, None).await
        } else {
            send(&env, "POST", &path, &[], Some(&[("csrf", "x")]), &[]).await
        };
        assert_eq!(
            a.status,
            StatusCode::SEE_OTHER,
            "{method} {path} without a session"
        );
        assert_eq!(a.location.as_deref(), Some("/login"), "{method} {path}");
        for (role, token) in &sessions {
            let a = if method == "GET" {
                get(&env, &path, Some(token)).await
            } else {
                // The form's CSRF token, from the task page where the role may see it
                // (the token is the session's: any page of it carries the same one).
                let home = get(&env, "/", Some(token)).await;
                let page = if home.status == StatusCode::SEE_OTHER {
                    get(&env, home.location.as_deref().unwrap(), Some(token)).await
                } else {
                    home
                };
                let csrf = page.form_csrf();
                send(
                    &env,
                    "POST",
                    &path,
                    &[("careflow_session", token)],
                    Some(&[
                        ("csrf", &csrf),
                        ("reason", "a reason"),
                        ("password", PASSWORD),
                    ]),
                    &[],
                )
                .await
            };
            let want = if !allowed.contains(role) {
                StatusCode::FORBIDDEN
            } else if path.ends_with("/claim") {
                StatusCode::SEE_OTHER
            } else if method == "POST" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            assert_eq!(a.status, want, "{method} {path} as {role}: {}", a.body);
            if want == StatusCode::FORBIDDEN {
                let by_store = format!("in the bed_manager queue; role {role} may not decide it");
                assert!(
                    a.body.contains(&format!("not for the role {role}"))
                        || (path.ends_with("/claim")
                            && DECIDERS.contains(role)
                            && a.body.contains(&by_store)),
                    "{method} {path} as {role}: {}",
                    a.body
                );
            }
            if want == StatusCode::OK && path.starts_with("/audit/export") {
                assert!(a.body.starts_with("seq,recorded_at,actor"), "{}", a.body);
            } else if want == StatusCode::OK {
                assert!(
                    a.body.len() < 300 * 1024,
                    "{path} is {} bytes",
                    a.body.len()
                );
                assert!(a.body.contains(&format!("{} ({role})", user_of(*role))));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, expected().len() * Role::ALL.len());
    // Each role's menu lists exactly the pages it may open.
    for (role, token) in &sessions {
        let home = get(&env, "/", Some(token)).await;
        let page = match home.location {
            Some(to) => get(&env, &to, Some(token)).await,
            None => home,
        };
        assert_eq!(page.status, StatusCode::OK, "{role}");
        for (_, path, allowed) in expected()
            .iter()
            .filter(|(m, p, _)| *m == "GET" && !p.contains('?') && !p.contains(TASK))
        {
            assert_eq!(
                page.body.contains(&format!("<a href=\"{path}\">")),
                allowed.contains(role),
                "menu of {role} and {path}"
            );
        }
    }
    // The style sheet is careflow's own and needs no session.
    let css = get(&env, "/static/careflow.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("outline"));
    // Nothing was decided on the way; only the bed manager's claim went through.
    let task = tasks::get(&env.db, TASK).await.unwrap();
    assert_eq!(task.status, "claimed");
    assert_eq!(task.claimed_by, Some(user_of(Role::BedManager)));
    assert_eq!(task.decided_by, None);
}

/// Logs in through the form; returns the answer to the POST.
async fn log_in(env: &Env, name: &str, password: &str, extra: &[(&str, &str)]) -> Answer {
    let form = get(env, "/login", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let login_csrf = form
        .cookie("careflow_login_csrf")
        .expect("login csrf cookie");
    assert_eq!(form.form_csrf(), login_csrf);
    let mut cookies = vec![("careflow_login_csrf", login_csrf.as_str())];
    cookies.extend_from_slice(extra);
    send(
        env,
        "POST",
        "/login",
        &cookies,
        Some(&[
            ("csrf", &login_csrf),
            ("username", name),
            ("password", password),
        ]),
        &[],
    )
    .await
}

#[tokio::test]
async fn login_renews_the_session_id_and_logout_ends_it() {
    let env = env().await;
    let old = person(&env.db, Role::BedManager).await;
    let name = user_of(Role::BedManager);

    // A session id planted before login (here: a live one of the same user, the worst
    // case) is neither kept nor left working.
    let a = log_in(&env, &name, PASSWORD, &[("careflow_session", &old)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let new = a.cookie("careflow_session").expect("a session cookie");
    assert!(!new.is_empty());
    assert_ne!(new, old, "the session id changes at login");
    let line = a.set_cookie_line("careflow_session");
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Strict"), "{line}");
    assert!(!line.contains("Secure"), "plain HTTP: {line}");
    assert_eq!(
        get(&env, "/inbox", Some(&old)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(get(&env, "/inbox", Some(&new)).await.status, StatusCode::OK);
    // A made-up id is no session at all.
    assert_eq!(
        get(&env, "/inbox", Some("f00d")).await.location.as_deref(),
        Some("/login")
    );

    // Behind a TLS proxy the cookie is Secure.
    let form = get(&env, "/login", None).await;
    let c = form.cookie("careflow_login_csrf").unwrap();
    let tls = send(
        &env,
        "POST",
        "/login",
        &[("careflow_login_csrf", &c)],
        Some(&[("csrf", &c), ("username", &name), ("password", PASSWORD)]),
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(tls.status, StatusCode::SEE_OTHER);
    assert!(tls.set_cookie_line("careflow_session").contains("; Secure"));

    // Logging out needs the form's token; with it the session ends.
    let page = get(&env, "/inbox", Some(&new)).await;
    let csrf = page.form_csrf();
    let refused = send(
        &env,
        "POST",
        "/logout",
        &[("careflow_session", &new)],
        Some(&[]),
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("CSRF"), "{}", refused.body);
    assert_eq!(get(&env, "/inbox", Some(&new)).await.status, StatusCode::OK);
    let out = send(
        &env,
        "POST",
        "/logout",
        &[("careflow_session", &new)],
        Some(&[("csrf", &csrf)]),
        &[],
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.cookie("careflow_session").as_deref(), Some(""));
    assert_eq!(
        get(&env, "/inbox", Some(&new)).await.location.as_deref(),
        Some("/login")
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let env = env().await;
    open_task(&env.db, TASK, "bed plan for tomorrow").await;
    let token = person(&env.db, Role::BedManager).await;
    let name = user_of(Role::BedManager);

    // The login form: no token, or one that is not the cookie's.
    let form = get(&env, "/login", None).await;
    let c = form.cookie("careflow_login_csrf").unwrap();
    for (cookie, field) in [
        (None, None),
        (Some(c.as_str()), None),
        (Some(c.as_str()), Some("forged")),
    ] {
        let cookies: Vec<(&str, &str)> = cookie
            .map(|c| ("careflow_login_csrf", c))
            .into_iter()
            .collect();
        let mut fields = vec![("username", name.as_str()), ("password", PASSWORD)];
        if let Some(f) = field {
            fields.push(("csrf", f));
        }
        let a = send(&env, "POST", "/login", &cookies, Some(&fields), &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{cookie:?} {field:?}");
        assert_eq!(a.cookie("careflow_session"), None);
    }

    // Claim and decide: refused without the token, or with another session's.
    let other = person(&env.db, Role::SiteManager).await;
    let page = get(&env, "/inbox", Some(&other)).await;
    let others_csrf = page.form_csrf();
    for csrf in [None, Some(others_csrf.as_str())] {
        for path in [
            format!("/inbox/{TASK}/claim"),
            format!("/inbox/{TASK}/decision"),
        ] {
            let mut fields = vec![
                ("verdict", "approve"),
                ("reason", "agreed at the bed meeting"),
                ("password", PASSWORD),
            ];
            if let Some(c) = csrf {
                fields.push(("csrf", c));
            }
            let a = send(
                &env,
                "POST",
                &path,
                &[("careflow_session", &token)],
                Some(&fields),
                &[],
            )
            .await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} {csrf:?}");
        }
    }
    let task = tasks::get(&env.db, TASK).await.unwrap();
    assert_eq!((task.status.as_str(), task.claimed_by), ("open", None));
    let signatures: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signatures")
        .fetch_one(env.db.pool())
        .await
        .unwrap();
    assert_eq!(signatures, 0);

    // With its own token the claim goes through.
    let mine = get(&env, &format!("/inbox/{TASK}"), Some(&token)).await;
    let a = send(
        &env,
        "POST",
        &format!("/inbox/{TASK}/claim"),
        &[("careflow_session", &token)],
        Some(&[("csrf", &mine.form_csrf())]),
        &[],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        tasks::get(&env.db, TASK).await.unwrap().claimed_by,
        Some(name)
    );
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_even_with_the_right_one_next() {
    let env = env().await;
    person(&env.db, Role::Auditor).await;
    let name = user_of(Role::Auditor);
    for n in 1..=5 {
        let a = log_in(&env, &name, "not the password", &[]).await;
        // The fifth wrong password locks the account and says so.
        let want = if n < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::LOCKED
        };
        assert_eq!(a.status, want, "attempt {n}: {}", a.body);
        assert!(
            a.body.contains("wrong") || n == 5,
            "attempt {n}: {}",
            a.body
        );
        assert_eq!(a.cookie("careflow_session"), None);
    }
    let a = log_in(&env, &name, PASSWORD, &[]).await;
    assert_eq!(a.status, StatusCode::LOCKED, "{}", a.body);
    assert!(a.body.contains("locked"), "{}", a.body);
    assert_eq!(a.cookie("careflow_session"), None);
    // An unknown user is told the same as a wrong password.
    let a = log_in(&env, "nobody", PASSWORD, &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("wrong user name or password"), "{}", a.body);
}

#[tokio::test]
async fn a_script_in_a_reason_or_summary_is_shown_as_text() {
    let env = env().await;
    let script = "<script>document.title='owned'</script>";
    open_task(&env.db, TASK, &format!("move {script} now")).await;
    audit::append_one(
        &env.db,
        NewAuditEntry {
            actor: "u-bed-manager".into(),
            role: "bed_manager".into(),
            action: "task.rejected".into(),
            meaning: Some("rejected".into()),
            reason: Some(format!("because {script}\"><img src=x onerror=alert(1)>")),
            workflow_id: Some(format!("wf-{TASK}")),
            step: None,
            input_digest: None,
            output_digest: None,
            idempotency_key: "pages-escape-1".into(),
        },
    )
    .await
    .expect("audit entry");
    let auditor = person(&env.db, Role::Auditor).await;
    let beds = person(&env.db, Role::BedManager).await;
    for (path, token) in [
        ("/audit".to_owned(), &auditor),
        ("/audit?q=because".to_owned(), &auditor),
        ("/inbox".to_owned(), &beds),
        (format!("/inbox/{TASK}"), &beds),
    ] {
        let a = get(&env, &path, Some(token)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(!a.body.contains("<script"), "{path}: {}", a.body);
        assert!(!a.body.contains("<img"), "{path}");
        assert!(a.body.contains("&lt;script&gt;"), "{path}: {}", a.body);
    }
    // A search term is echoed into the form escaped too.
    let a = get(&env, "/audit?actor=%22%3E%3Cscript%3E", Some(&auditor)).await;
    assert!(!a.body.contains("\"><script>"));
    assert!(a.body.contains("&quot;&gt;&lt;script&gt;"), "{}", a.body);
}

#[tokio::test]
async fn metrics_label_requests_by_route_template_and_read_the_queues() {
    let env = env().await;
    open_task(&env.db, TASK, "bed plan for tomorrow").await;
    let beds = person(&env.db, Role::BedManager).await;
    assert_eq!(
        get(&env, &format!("/inbox/{TASK}"), Some(&beds))
            .await
            .status,
        StatusCode::OK
    );
    let m = get(&env, "/metrics", None).await;
    assert_eq!(m.status, StatusCode::OK);
    let line = m
        .body
        .lines()
        .find(|l| {
            l.starts_with("careflow_http_requests_total{")
                && l.contains("route=\"/inbox/{task_id}\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no request count for the task page:\n{}", m.body));
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1, "{line}");
    assert!(m.body.contains(
        "careflow_http_request_duration_seconds_bucket{method=\"GET\",route=\"/inbox/{task_id}\""
    ));
    assert!(
        m.body
            .contains("careflow_tasks_waiting{role=\"bed_manager\"} 1"),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("careflow_tasks_waiting{role=\"auditor\"} 0"));
    assert!(m
        .body
        .contains("careflow_task_oldest_age_seconds{role=\"bed_manager\"}"));
    // Route templates only: no task id, user or token in the metrics.
    assert!(!m.body.contains(TASK));
    assert!(!m.body.contains(&beds));
    assert!(!m.body.contains("u-bed-manager"));
}
