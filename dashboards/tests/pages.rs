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
use careflow_store::{audit, ethics, tasks, theatre, users, Db};
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
fn expected(sub: &str, meeting: &str) -> Vec<(&'static str, String, Vec<Role>)> {
    let inbox: Vec<Role> = DECIDERS.iter().copied().chain([Role::Admin]).collect();
    let ethics = vec![
        Role::ProjectLead,
        Role::EthicsSecretary,
        Role::CommitteeMember,
        Role::CommitteeChair,
        Role::Admin,
        Role::Auditor,
    ];
    let board = |r: Role| vec![r, Role::SiteManager, Role::DepartmentHead, Role::Admin];
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
        (
            "GET",
            "/dashboard/theatre".into(),
            board(Role::TheatreAdmin),
        ),
        (
            "GET",
            "/dashboard/scanner".into(),
            board(Role::ImagingManager),
        ),
        (
            "GET",
            "/dashboard/roster".into(),
            board(Role::NurseInCharge),
        ),
        (
            "GET",
            "/models".into(),
            vec![
                Role::Admin,
                Role::Auditor,
                Role::ProjectLead,
                Role::EthicsSecretary,
                Role::CommitteeChair,
            ],
        ),
        ("GET", "/ethics".into(), ethics.clone()),
        ("GET", format!("/ethics/{sub}"), ethics.clone()),
        ("GET", format!("/ethics/meetings/{meeting}"), ethics),
        // Steps with the session's CSRF token but without their fields: the step's
        // roles get the submission back saying what is missing (400), nothing done.
        (
            "POST",
            format!("/ethics/{sub}/check"),
            vec![Role::EthicsSecretary],
        ),
        (
            "POST",
            format!("/ethics/{sub}/route"),
            vec![Role::EthicsSecretary],
        ),
        (
            "POST",
            format!("/ethics/{sub}/review"),
            vec![Role::CommitteeMember, Role::CommitteeChair],
        ),
        (
            "POST",
            format!("/ethics/{sub}/verify"),
            vec![Role::CommitteeMember, Role::CommitteeChair],
        ),
        (
            "POST",
            format!("/ethics/{sub}/vote"),
            vec![Role::CommitteeMember, Role::CommitteeChair],
        ),
        (
            "POST",
            format!("/ethics/{sub}/decision"),
            vec![Role::CommitteeChair],
        ),
        // The applicant's resubmission: the project lead's form, here without the
        // content (400 naming each missing field; the store refuses a submission that
        // was not returned, and another lead's, as the resubmission test shows).
        (
            "POST",
            format!("/ethics/{sub}/resubmit"),
            vec![Role::ProjectLead],
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
    let sub = submission(&env.db, "Bed forecaster").await;
    let meeting = meeting_held(&env.db).await;
    let mut checked = 0;
    for (method, path, allowed) in expected(&sub, &meeting) {
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
    assert_eq!(checked, expected(&sub, &meeting).len() * Role::ALL.len());
    // Each role's menu lists exactly the pages it may open.
    for (role, token) in &sessions {
        let home = get(&env, "/", Some(token)).await;
        let page = match home.location {
            Some(to) => get(&env, &to, Some(token)).await,
            None => home,
        };
        assert_eq!(page.status, StatusCode::OK, "{role}");
        for (_, path, allowed) in expected(&sub, &meeting).iter().filter(|(m, p, _)| {
            *m == "GET"
                && !p.contains('?')
                && !p.contains(TASK)
                && !p.contains(&sub)
                && !p.contains(&meeting)
        }) {
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
    let s = ethics::get(&env.db, &sub).await.unwrap();
    assert_eq!(s.state, "submitted", "no ethics step went through");
}

/// A second submission of `u-project-lead` taken through the store to a meeting of the
/// committee (chair and a lay member, the users of those roles, who must exist);
/// returns the meeting's id.
async fn meeting_held(db: &Db) -> String {
    use careflow_types::ethics::{Recommendation, Route};
    let id = submission(db, "Theatre duration model").await;
    let sec = user_of(Role::EthicsSecretary);
    let (chair, member) = (
        user_of(Role::CommitteeChair),
        user_of(Role::CommitteeMember),
    );
    ethics::add_member(db, &sec, &chair, false)
        .await
        .expect("chair");
    ethics::add_member(db, &sec, &member, true)
        .await
        .expect("member");
    ethics::check_completeness(db, &id, &sec, true, "all sections present")
        .await
        .expect("check");
    ethics::route(db, &id, &sec, Route::FullCommittee, "live data")
        .await
        .expect("route");
    ethics::assign_reviewers(db, &id, &sec, std::slice::from_ref(&member))
        .await
        .expect("assign");
    ethics::review(
        db,
        &id,
        &member,
        PASSWORD,
        Recommendation::Approve,
        "aggregate data",
    )
    .await
    .expect("review");
    ethics::hold_meeting(db, &id, &sec, &[chair, member])
        .await
        .expect("meeting")
        .meeting_id
}

/// A submission by the project lead `u-project-lead` (who must exist), as stored.
async fn submission(db: &Db, title: &str) -> String {
    let content: ethics::SubmissionContent = serde_json::from_value(serde_json::json!({
        "title": title,
        "technical_plan": "gradient-boosted hourly forecast",
        "use_case": "bed planning",
        "expected_benefit": "fewer outliers",
        "risks": "under-forecast on holidays",
        "data_used": "hourly ED attendance counts",
        "legal_basis": "public task",
        "consent_plan": "aggregate counts only",
        "bias_assessment": "error by hour block, weekday, holiday",
        "documents": [{"name": "protocol.md", "content": "rolling-origin backtest"}]
    }))
    .expect("content");
    ethics::submit(db, &user_of(Role::ProjectLead), &content)
        .await
        .expect("submission")
        .submission_id
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
async fn the_bed_dashboard_lists_admissions_and_tasks_waiting_on_people_with_since_when() {
    use careflow_types::{AdmissionInput, AdmissionKind, AdmissionRequest, AgeGroup, Sex};
    let env = env().await;
    for n in 0..3 {
        let key = careflow_store::patients::pseudonymise(
            &env.db,
            &format!("MRN-WAIT-{n}"),
            Sex::Female,
            AgeGroup::Elderly,
        )
        .await
        .expect("pseudonym");
        careflow_store::admissions::register(
            &env.db,
            &format!("admission-wait-{n}"),
            &AdmissionInput {
                admission_id: format!("wait-{n}"),
                request: AdmissionRequest {
                    patient_ref: key,
                    kind: AdmissionKind::Emergency,
                    sex: Sex::Female,
                    age_group: AgeGroup::Elderly,
                    specialty: "cardiology".into(),
                    isolation: n == 2,
                    expected_los_days: 4,
                    requested_by: "clerk.ana".into(),
                },
                contested_bed: None,
            },
        )
        .await
        .expect("admission");
    }
    open_task(&env.db, TASK, "bed plan for tomorrow: 2 moves").await;
    let head = person(&env.db, Role::DepartmentHead).await;
    let a = get(&env, "/dashboard", Some(&head)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let section = |id: &str| -> String {
        let at = a
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"));
        let rest = &a.body[at..];
        rest[..rest.find("</table>").unwrap_or(rest.len())].to_owned()
    };
    assert!(
        a.body
            .contains("<strong>3</strong> admission(s) waiting; the longest since"),
        "{}",
        a.body
    );
    let admissions = section("admissions-waiting");
    assert_eq!(admissions.matches("<tr>").count(), 1 + 3, "{admissions}");
    for n in 0..3 {
        assert!(
            admissions.contains(&format!("<td>wait-{n}</td>")),
            "{admissions}"
        );
    }
    assert!(admissions.contains("cardiology") && admissions.contains("min"));
    assert!(
        !a.body.contains("MRN-WAIT"),
        "no hospital number on the dashboard"
    );
    let tasks = section("waiting");
    assert!(tasks.contains("bed plan for tomorrow: 2 moves"), "{tasks}");
    assert!(tasks.contains("<td>nobody yet</td>"), "{tasks}");
    assert!(tasks.contains("<td class=\"num\">0 min</td>"), "{tasks}");
    // Cancelled, the admission no longer waits.
    careflow_store::admissions::close(
        &env.db,
        "admission-wait-0",
        "wait-0",
        careflow_types::AdmissionStage::Cancelled,
        Some("went home"),
        "careflow",
    )
    .await
    .expect("cancel");
    let a = get(&env, "/dashboard", Some(&head)).await;
    assert!(a.body.contains("<strong>2</strong> admission(s) waiting"));
    assert!(!a.body.contains("<td>wait-0</td>"));
}

#[tokio::test]
async fn metrics_label_requests_by_route_template_and_read_the_queues() {
    let env = env().await;
    open_task(&env.db, TASK, "bed plan for tomorrow").await;
    let beds = person(&env.db, Role::BedManager).await;
    person(&env.db, Role::ProjectLead).await;
    submission(&env.db, "Bed forecaster").await;
    submission(&env.db, "Theatre forecaster").await;
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
    // Each workflow's records by state.
    assert!(
        m.body.contains(
            "careflow_workflow_records{state=\"submitted\",workflow=\"ethics_review\"} 2"
        ),
        "{}",
        m.body
    );
    // Route templates only: no task id, user or token in the metrics.
    assert!(!m.body.contains(TASK));
    assert!(!m.body.contains(&beds));
    assert!(!m.body.contains("u-bed-manager"));
}

const SCRIPT: &str = "<script>document.title='owned'</script>";

/// A week of `theatres` x 5 days, `per_session` cases each: 480 staffed minutes a
/// session, the last case of theatre T1 on day 0 running past the end.
fn theatre_week(
    revision: u32,
    theatres: u32,
    per_session: u32,
) -> careflow_types::TheatreListProposal {
    use careflow_types::{BookedCase, DeferredCase, SessionLoad, UrgencyCategory};
    let mut booked = Vec::new();
    let mut sessions = Vec::new();
    for t in 1..=theatres {
        for day in 0..5 {
            let mut start = 0;
            for order in 0..per_session {
                let minutes = if t == 1 && day == 0 && order + 1 == per_session {
                    200
                } else {
                    50
                };
                booked.push(BookedCase {
                    case_id: format!("case-{t}-{day}-{order}"),
                    patient_key: format!("pk-{t}-{day}-{order}"),
                    procedure: "hip replacement".into(),
                    surgeon_id: format!("s{t}"),
                    category: UrgencyCategory::P3,
                    theatre_id: format!("T{t}"),
                    day,
                    order,
                    start_minute: start,
                    planned_minutes: minutes,
                    p50_minutes: f64::from(minutes),
                    p90_minutes: f64::from(minutes) * 1.3,
                });
                start += minutes;
            }
            sessions.push(SessionLoad {
                theatre_id: format!("T{t}"),
                day,
                staffed_minutes: 480,
                cases: per_session,
                planned_minutes: start,
                expected_minutes: f64::from(start),
                utilisation: f64::from(start) / 480.0,
                expected_overtime_minutes: f64::from(start.saturating_sub(480)),
                overtime_probability: if start > 480 { 0.9 } else { 0.05 },
            });
        }
    }
    let (deferred, changes) = if revision == 0 {
        (Vec::new(), Vec::new())
    } else {
        (
            vec![DeferredCase {
                case_id: "case-late".into(),
                patient_key: "pk-late".into(),
                category: UrgencyCategory::P4,
                days_waited: 40,
                breaches_deadline: false,
                reason: format!("no session long enough {SCRIPT}"),
            }],
            vec![careflow_types::BookingChange {
                case_id: "case-1-0-0".into(),
                patient_key: "pk-1-0-0".into(),
                from_theatre: "T2".into(),
                from_day: 1,
                to_theatre: Some("T1".into()),
                to_day: Some(0),
                why: "T2 closed on Tuesday for maintenance".into(),
            }],
        )
    };
    careflow_types::TheatreListProposal {
        list_id: "theatre-2026-12-07-pages".into(),
        revision,
        week_start: "2026-12-07".into(),
        days: 5,
        from_day: 0,
        solver_status: "optimal".into(),
        objective: 42.0,
        mip_gap: Some(0.0004),
        solve_seconds: 1.5,
        booked,
        sessions,
        deferred,
        changes,
        utilisation: 0.83,
        target_utilisation: 0.85,
        sessions_below_target: 2,
        expected_overtime_minutes: 20.0,
        conflicts: Vec::new(),
        durations: careflow_types::ForecastProvenance {
            model_name: "surgery-duration".into(),
            model_version: "1.2.0".into(),
            model_sha256: "ab".repeat(32),
            execution_provider: "CPUExecutionProvider".into(),
            origin: "2026-12-07".into(),
            horizon_hours: 120,
        },
        decision_step: format!("solve/r{revision}"),
        snapshot_sha256: String::new(),
        replanned_after: Vec::new(),
    }
}

fn solve_step(workflow_id: &str, revision: u32) -> careflow_store::decisions::NewDecisionStep {
    careflow_store::decisions::NewDecisionStep {
        workflow_id: workflow_id.into(),
        step: format!("solve/r{revision}"),
        kind: "theatre_booking.input".into(),
        snapshot_json: format!("{{\"revision\":{revision}}}"),
        models: vec![careflow_store::decisions::ModelUse {
            name: "surgery-duration".into(),
            version: "1.2.0".into(),
            sha256: "ab".repeat(32),
        }],
        solver: Some("HiGHS".into()),
        solver_version: Some("1.16.0".into()),
        careflow_version: "0.1.0".into(),
        seed: Some(1),
        time_limit_s: Some(10.0),
        threads: Some(1),
        result_digest: "cd".repeat(32),
    }
}

#[tokio::test]
async fn a_theatre_list_task_shows_the_proposal_against_the_list_in_force_and_the_charts() {
    let env = env().await;
    let list = "theatre-2026-12-07-pages";
    // Revision 0 published (in force), revision 1 proposed: it moves a booked patient
    // and defers one, so it waits for the theatre administrator.
    let r0 = theatre_week(0, 8, 8);
    theatre::store_proposal(&env.db, list, "u-site-manager", &r0, &solve_step(list, 0))
        .await
        .expect("revision 0");
    theatre::conclude(
        &env.db,
        list,
        list,
        0,
        &careflow_types::ListConclusion::PublishedUnchanged {
            reason: "first list of the week".into(),
        },
    )
    .await
    .expect("published");
    let r1 = theatre_week(1, 8, 8);
    theatre::store_proposal(&env.db, list, "u-site-manager", &r1, &solve_step(list, 1))
        .await
        .expect("revision 1");
    tasks::open(
        &env.db,
        &NewTask {
            task_id: "task-theatre-1".into(),
            workflow_id: list.into(),
            kind: TaskKind::TheatreList,
            role: Role::TheatreAdmin,
            summary: "theatre lists, week of 2026-12-07, revision 1".into(),
            proposed_bed: None,
            due_at: "2026-12-06T10:00:00Z".into(),
            requested_by: Some("u-site-manager".into()),
        },
    )
    .await
    .expect("task");
    let admin = person(&env.db, Role::TheatreAdmin).await;
    let a = get(&env, "/inbox/task-theatre-1", Some(&admin)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for want in [
        "The proposal: theatre lists, week of 2026-12-07",
        "Against revision 0 in force.",
        // Who moves, from where to where, and why.
        "case-1-0-0",
        "T2 Tue 08 Dec",
        "T1 Mon 07 Dec",
        "T2 closed on Tuesday for maintenance",
        // Who is deferred and why, the script shown as text.
        "case-late",
        "no session long enough &lt;script&gt;",
        // KPIs, solver and model.
        "<b id=\"kpi-booked\">320</b>",
        "0.04 %",
        "surgery-duration 1.2.0",
        "HiGHS 1.16.0",
        // The signature's meaning says what approving does.
        "Approving publishes these theatre lists for the week",
        "Approve and sign",
    ] {
        assert!(a.body.contains(want), "task page lacks {want:?}");
    }
    assert!(
        !a.body.contains("<script>document"),
        "a stored script is inert"
    );
    assert_eq!(a.body.matches("<rect class=\"case\"").count(), 320);
    assert!(
        a.body.len() < 300 * 1024,
        "task page is {} bytes",
        a.body.len()
    );

    // The department head's theatre dashboard draws the list in force (revision 0):
    // 40 sessions, 320 cases, one session over its end.
    let head = person(&env.db, Role::DepartmentHead).await;
    let d = get(&env, "/dashboard/theatre", Some(&head)).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert!(d.body.contains("lists in force (revision 0)"), "{}", d.body);
    assert_eq!(d.body.matches("<rect class=\"session\"").count(), 40);
    assert_eq!(d.body.matches("<rect class=\"case\"").count(), 320);
    assert_eq!(d.body.matches("<rect class=\"overrun\"").count(), 1);
    assert!(
        d.body.len() < 300 * 1024,
        "dashboard is {} bytes",
        d.body.len()
    );
    // The other boards answer with what they have (nothing yet), not an error.
    for path in ["/dashboard/scanner", "/dashboard/roster"] {
        let b = get(&env, path, Some(&head)).await;
        assert_eq!(b.status, StatusCode::OK, "{path}: {}", b.body);
        assert!(b.body.contains("yet"), "{path}");
    }
}

#[tokio::test]
async fn a_script_in_a_conflict_declaration_is_shown_as_text_on_the_ethics_pages() {
    let env = env().await;
    for role in [
        Role::ProjectLead,
        Role::CommitteeMember,
        Role::EthicsSecretary,
    ] {
        person(&env.db, role).await;
    }
    let sub = submission(&env.db, &format!("Forecaster {SCRIPT}")).await;
    ethics::add_member(
        &env.db,
        &user_of(Role::EthicsSecretary),
        &user_of(Role::CommitteeMember),
        true,
    )
    .await
    .expect("member");
    ethics::declare_conflict(
        &env.db,
        &sub,
        &user_of(Role::CommitteeMember),
        &format!("I co-wrote it {SCRIPT}\"><img src=x onerror=alert(1)>"),
    )
    .await
    .expect("conflict");
    let secretary = person(&env.db, Role::EthicsSecretary).await;
    for path in ["/ethics".to_owned(), format!("/ethics/{sub}")] {
        let a = get(&env, &path, Some(&secretary)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
        assert!(!a.body.contains("<script>document"), "{path}");
        assert!(!a.body.contains("<img"), "{path}");
        assert!(a.body.contains("&lt;script&gt;"), "{path}");
    }
    let page = get(&env, &format!("/ethics/{sub}"), Some(&secretary)).await;
    assert!(
        page.body.contains("I co-wrote it &lt;script&gt;"),
        "{}",
        page.body
    );
    // The secretary's step on a new submission is the completeness check; the
    // conflicted member's attendance box says they do not count.
    assert!(page.body.contains("Record the completeness check"));
    assert!(page.body.contains("protocol.md"));
    assert!(page
        .body
        .contains(&ethics::sha256_hex(b"rolling-origin backtest")));
}

/// Posts a form of the page at `from` (its CSRF token) to `to` as `token`'s user.
async fn post_form(
    env: &Env,
    token: &str,
    from: &str,
    to: &str,
    fields: &[(&str, &str)],
) -> Answer {
    let page = get(env, from, Some(token)).await;
    assert_eq!(page.status, StatusCode::OK, "{from}: {}", page.body);
    let csrf = page.form_csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    send(
        env,
        "POST",
        to,
        &[("careflow_session", token)],
        Some(&all),
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_committee_takes_a_submission_through_a_quorate_meeting_on_the_pages() {
    use temporalio_sdk::{Runtime, Worker, WorkerOptions};
    let env = env().await;
    let mut tok = std::collections::HashMap::new();
    for (n, r) in [
        ("lead", Role::ProjectLead),
        ("sec", Role::EthicsSecretary),
        ("chair", Role::CommitteeChair),
        ("sci", Role::CommitteeMember),
        ("sci2", Role::CommitteeMember),
        ("lay", Role::CommitteeMember),
    ] {
        tok.insert(
            n,
            users::upsert_with_password(&env.db, n, r, Some(PASSWORD), "test")
                .await
                .expect("user"),
        );
    }
    for (m, lay) in [
        ("chair", false),
        ("sci", false),
        ("sci2", false),
        ("lay", true),
    ] {
        ethics::add_member(&env.db, "sec", m, lay)
            .await
            .expect("member");
    }
    person(&env.db, Role::ProjectLead).await;
    let id = submission(&env.db, "ED arrivals forecaster").await;
    let page = format!("/ethics/{id}");
    let step = |s: &str| format!("/ethics/{id}/{s}");

    let runtime = Runtime::from_current_tokio(Default::default()).expect("runtime");
    let mut opts = WorkerOptions::new(careflow_types::TASK_QUEUE).build();
    careflow_workflows::register(&mut opts, env.db.clone(), std::env::temp_dir())
        .expect("register");
    let mut worker = Worker::new(&runtime, env.state.client.clone(), opts).expect("worker");
    let stop = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run);
    let body = async {
        // The secretary finds it in their queue, checks, routes and assigns it.
        let q = get(&env, "/ethics", Some(&tok["sec"])).await;
        assert!(q.body.contains("check completeness"), "{}", q.body);
        let a = post_form(
            &env,
            &tok["sec"],
            &page,
            &step("check"),
            &[("complete", "yes"), ("comments", "all sections present")],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(
            a.body.contains("the submission is now complete"),
            "{}",
            a.body
        );
        let a = post_form(
            &env,
            &tok["sec"],
            &page,
            &step("route"),
            &[
                ("route", "full_committee"),
                ("reason", "live operational data"),
            ],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        // sci2 declares a conflict: they may then not be assigned, and do not count.
        let a = post_form(
            &env,
            &tok["sci2"],
            &page,
            &step("conflict"),
            &[("reason", "I co-wrote the protocol")],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let a = post_form(
            &env,
            &tok["sec"],
            &page,
            &step("assign"),
            &[("reviewers", "sci"), ("reviewers", "lay")],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(
            a.body.contains("Assigned reviewers: lay, sci")
                || a.body.contains("Assigned reviewers: sci, lay"),
            "{}",
            a.body
        );
        // Reviews are signed: a wrong password signs nothing.
        let wrong = post_form(
            &env,
            &tok["sci"],
            &page,
            &step("review"),
            &[
                ("recommendation", "approve"),
                ("comments", "aggregate data"),
                ("password", "not it"),
            ],
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
        assert!(wrong.body.contains("Not done"), "{}", wrong.body);
        for who in ["sci", "lay"] {
            let a = post_form(
                &env,
                &tok[who],
                &page,
                &step("review"),
                &[
                    ("recommendation", "approve"),
                    ("comments", "aggregate data, approved plans"),
                    ("password", PASSWORD),
                ],
            )
            .await;
            assert_eq!(a.status, StatusCode::OK, "{who}: {}", a.body);
        }
        // The attendance form shows the quorum as boxes are ticked (script) and the
        // store decides it: one scientific member of four is no quorum.
        let p = get(&env, &page, Some(&tok["sec"])).await;
        assert!(p.body.contains("<output id=\"quorum\""), "{}", p.body);
        let a = post_form(
            &env,
            &tok["sec"],
            &page,
            &step("meeting"),
            &[("present", "sci")],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains("not quorate"), "{}", a.body);
        assert_eq!(
            ethics::get(&env.db, &id).await.unwrap().state,
            "awaiting_meeting"
        );
        let a = post_form(
            &env,
            &tok["sec"],
            &page,
            &step("meeting"),
            &[
                ("present", "chair"),
                ("present", "sci"),
                ("present", "lay"),
                ("present", "sci2"),
            ],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(a.body.contains(": quorate ("), "{}", a.body);
        let meetings = ethics::meetings(&env.db, &id).await.unwrap();
        let m = meetings
            .iter()
            .find(|m| m.quorate)
            .expect("a quorate meeting");
        assert_eq!(m.counted.len(), 3, "sci2 left for the conflict");
        // Members vote, signed; the meeting page shows the votes and the majority.
        for who in ["chair", "sci", "lay"] {
            let a = post_form(
                &env,
                &tok[who],
                &page,
                &step("vote"),
                &[
                    ("meeting_id", &m.meeting_id),
                    ("vote", "modifications"),
                    ("password", PASSWORD),
                ],
            )
            .await;
            assert_eq!(a.status, StatusCode::OK, "{who}: {}", a.body);
        }
        let mp = get(
            &env,
            &format!("/ethics/meetings/{}", m.meeting_id),
            Some(&tok["chair"]),
        )
        .await;
        assert_eq!(mp.status, StatusCode::OK, "{}", mp.body);
        assert!(
            mp.body.contains("3 of 3 counted members voted"),
            "{}",
            mp.body
        );
        assert!(
            mp.body
                .contains("the majority says <strong>approved_after_modifications</strong>"),
            "{}",
            mp.body
        );
        // The chair signs the decision with its letter.
        let a = post_form(
            &env,
            &tok["chair"],
            &page,
            &step("decision"),
            &[
                ("meeting_id", &m.meeting_id),
                ("outcome", "approved_after_modifications"),
                ("letter", "Approved once the consent wording is changed."),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(
            a.body
                .contains("Approved once the consent wording is changed."),
            "{}",
            a.body
        );
        assert_eq!(
            ethics::get(&env.db, &id).await.unwrap().state,
            "modifications_requested"
        );
        // The applicant answers on the page; the chair verifies, signed.
        let applicant = person(&env.db, Role::ProjectLead).await;
        let other = get(&env, &page, Some(&tok["lead"])).await;
        assert!(
            !other.body.contains("Send your response"),
            "another project lead has no step here"
        );
        let mine = get(&env, &page, Some(&applicant)).await;
        assert!(mine.body.contains("Send your response"), "{}", mine.body);
        let a = post_form(
            &env,
            &applicant,
            &page,
            &step("respond"),
            &[("response", "Consent wording changed as asked")],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let a = post_form(
            &env,
            &tok["chair"],
            &page,
            &step("verify"),
            &[
                ("accept", "yes"),
                ("comments", "Wording checked"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let s = ethics::get(&env.db, &id).await.unwrap();
        assert_eq!(s.state, "approved");
        let q = get(&env, "/ethics", Some(&tok["lead"])).await;
        assert!(q.body.contains("id=\"continuing\""), "{}", q.body);
        let signed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM signatures WHERE used_at IS NOT NULL")
                .fetch_one(env.db.pool())
                .await
                .unwrap();
        assert_eq!(
            signed,
            2 + 3 + 1 + 1,
            "two reviews, three votes, the decision, the verification"
        );
    };
    tokio::select! {
        r = &mut run => panic!("worker stopped early: {r:?}"),
        () = body => {}
    }
    stop();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), run).await;
}

/// The fields of a resubmission form: the content, then document name/text pairs.
fn resubmission<'a>(
    content: &[(&'a str, &'a str)],
    documents: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form = content.to_vec();
    for (name, text) in documents {
        form.push(("doc_name", name));
        form.push(("doc_content", text));
    }
    form
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_applicant_resubmits_a_returned_submission_and_its_text_stays_inert() {
    use temporalio_sdk::{Runtime, Worker, WorkerOptions};
    let env = env().await;
    let applicant = person(&env.db, Role::ProjectLead).await;
    let other_lead = users::upsert_with_password(
        &env.db,
        "lead.other",
        Role::ProjectLead,
        Some(PASSWORD),
        "test",
    )
    .await
    .expect("user");
    let secretary = person(&env.db, Role::EthicsSecretary).await;
    let id = submission(&env.db, &format!("Forecaster {SCRIPT}")).await;
    let page = format!("/ethics/{id}");
    let resubmit = format!("/ethics/{id}/resubmit");
    let new_plan = format!("Consent wording for the ward posters {SCRIPT}");
    let content = [
        ("title", "Forecaster, version two"),
        ("technical_plan", "gradient-boosted hourly forecast"),
        ("use_case", "bed planning"),
        ("expected_benefit", "fewer outliers"),
        ("risks", "under-forecast on holidays"),
        ("data_used", "hourly ED attendance counts"),
        ("legal_basis", "public task"),
        ("consent_plan", new_plan.as_str()),
        ("bias_assessment", "error by hour block, weekday, holiday"),
    ];
    let documents = [
        ("protocol.md", "rolling-origin backtest"),
        (
            "poster.md",
            "Your counts help plan beds \"><img src=x onerror=alert(1)>",
        ),
    ];

    let runtime = Runtime::from_current_tokio(Default::default()).expect("runtime");
    let mut opts = WorkerOptions::new(careflow_types::TASK_QUEUE).build();
    careflow_workflows::register(&mut opts, env.db.clone(), std::env::temp_dir())
        .expect("register");
    let mut worker = Worker::new(&runtime, env.state.client.clone(), opts).expect("worker");
    let stop = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run);
    let body = async {
        // Nothing to resubmit before the submission is returned.
        let before = get(&env, &page, Some(&applicant)).await;
        assert!(!before.body.contains("Resubmit as a new version"));
        let a = post_form(
            &env,
            &secretary,
            &page,
            &format!("/ethics/{id}/check"),
            &[
                ("complete", "no"),
                ("comments", "The consent plan is missing <b>posters</b>"),
            ],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(
            a.body.contains("the submission is now returned"),
            "{}",
            a.body
        );

        // The applicant sees the form, filled with the stored content, all as text.
        let mine = get(&env, &page, Some(&applicant)).await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
        assert!(
            mine.body.contains("Resubmit as a new version"),
            "{}",
            mine.body
        );
        assert!(
            mine.body.contains(
                "Returned to you: The consent plan is missing &lt;b&gt;posters&lt;/b&gt;"
            ),
            "{}",
            mine.body
        );
        assert!(
            mine.body.contains(
                "name=\"title\" rows=\"3\" required>Forecaster &lt;script&gt;document.title='owned'&lt;/script&gt;</textarea>"
            ),
            "{}",
            mine.body
        );
        assert!(!mine.body.contains("<script>document"), "{}", mine.body);
        assert!(mine.body.contains("value=\"protocol.md\""), "{}", mine.body);

        // Neither another project lead nor the secretary may resubmit it.
        let other = get(&env, &page, Some(&other_lead)).await;
        assert_eq!(other.status, StatusCode::OK);
        assert!(!other.body.contains("Resubmit as a new version"));
        let form = resubmission(&content, &documents);
        let a = post_form(&env, &other_lead, &page, &resubmit, &form).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        assert!(
            a.body.contains(&format!(
                "only the applicant {} may resubmit",
                user_of(Role::ProjectLead)
            )),
            "{}",
            a.body
        );
        let a = post_form(&env, &secretary, &page, &resubmit, &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        let s = ethics::get(&env.db, &id).await.unwrap();
        assert_eq!((s.state.as_str(), s.version), ("returned", 1));

        // A field left empty is named, and what was typed comes back in the form.
        let mut incomplete = form.clone();
        incomplete[1].1 = " ";
        let a = post_form(&env, &applicant, &page, &resubmit, &incomplete).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
        assert!(
            a.body.contains("technical_plan: must not be empty"),
            "{}",
            a.body
        );
        assert!(
            a.body
                .contains("Consent wording for the ward posters &lt;script&gt;"),
            "{}",
            a.body
        );
        assert!(a.body.contains("value=\"poster.md\""), "{}", a.body);
        assert_eq!(ethics::get(&env.db, &id).await.unwrap().version, 1);

        // The applicant's new version goes back to the secretary's check.
        let a = post_form(&env, &applicant, &page, &resubmit, &form).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert!(
            a.body
                .contains("Done: resubmit; the submission is now submitted."),
            "{}",
            a.body
        );
        assert!(!a.body.contains("<img"), "{}", a.body);
        assert!(!a.body.contains("Resubmit as a new version"));
        let s = ethics::get(&env.db, &id).await.unwrap();
        assert_eq!((s.state.as_str(), s.version), ("submitted", 2));
        assert_eq!(s.title, "Forecaster, version two");
        let docs = ethics::documents(&env.db, &id, 2).await.unwrap();
        let names: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(names, ["poster.md", "protocol.md"]);
        let stored = ethics::content(&env.db, &id).await.unwrap();
        assert_eq!(stored.consent_plan, new_plan);
        let seen = get(&env, &page, Some(&secretary)).await;
        let versions = &seen.body[seen.body.find("id=\"versions\"").expect("versions")..];
        assert!(versions.contains("2 (current)"), "{versions}");
        assert!(versions.contains("poster.md"), "{versions}");
        let history = &seen.body[seen.body.find("id=\"history\"").expect("history")..];
        assert!(history.contains("ethics.returned"), "{history}");
        assert!(history.contains("ethics.resubmitted"), "{history}");
        assert!(history.contains("resubmitted as version 2"), "{history}");
        assert!(seen.body.contains("Record the completeness check"));
    };
    tokio::select! {
        r = &mut run => panic!("worker stopped early: {r:?}"),
        () = body => {}
    }
    stop();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), run).await;
}

fn provenance(model: &str) -> serde_json::Value {
    serde_json::json!({"model_name": model, "model_version": "2.0.0", "model_sha256": "ef".repeat(32),
        "execution_provider": "CPUExecutionProvider", "origin": "2026-12-07", "horizon_hours": 168})
}

/// A week's roster for ward W1 of nurses N1-N3: revision 0 covers every shift,
/// revision 1 moves N2 off Tuesday's early shift, leaving it one short.
fn roster(revision: u32) -> careflow_types::RosterProposal {
    let mut assignments = Vec::new();
    let mut coverage = Vec::new();
    for day in 0..7u32 {
        for (nurse, shift) in [("N1", "early"), ("N2", "early"), ("N3", "late")] {
            if !(revision == 1 && nurse == "N2" && day == 1) {
                assignments
                    .push(serde_json::json!({"nurse_id": nurse, "day": day, "shift_id": shift}));
            }
        }
        let early = if revision == 1 && day == 1 { 1 } else { 2 };
        coverage.push(
            serde_json::json!({"day": day, "shift_id": "early", "required": 2, "rostered": early}),
        );
        coverage.push(
            serde_json::json!({"day": day, "shift_id": "late", "required": 1, "rostered": 1}),
        );
    }
    let changes = if revision == 1 {
        serde_json::json!([{"nurse_id": "N2", "day": 1, "from_shift": "early", "to_shift": null}])
    } else {
        serde_json::json!([])
    };
    serde_json::from_value(serde_json::json!({
        "roster_id": "roster-W1-pages", "revision": revision, "ward": "W1", "start_date": "2026-12-07",
        "days": 7, "replanned_days": [], "solver_status": "optimal", "objective": 3.0, "mip_gap": 0.0,
        "solve_seconds": 0.4, "assignments": assignments, "coverage": coverage,
        "nurse_shifts_short": revision, "nurse_shifts_over": 0,
        "unmet_requests": [{"nurse_id": "N3", "day": 5, "shift_id": format!("late {SCRIPT}")}],
        "loads": [], "fairness": {"nights_spread": 0, "weekends_spread": 1, "unmet_requests_spread": 1,
            "hours_ratio_min": 0.9, "hours_ratio_max": 1.0},
        "changes": changes, "conflicts": [], "demand": provenance("ward-census"),
        "decision_step": format!("solve/r{revision}"), "snapshot_sha256": "", "replanned_after": []
    }))
    .expect("roster")
}

#[tokio::test]
async fn roster_and_scanner_tasks_show_their_proposals_and_the_boards_draw_them() {
    let env = env().await;
    let id = "roster-W1-pages";
    let step = |rev: u32| careflow_store::decisions::NewDecisionStep {
        kind: "nurse_rostering.input".into(),
        ..solve_step(id, rev)
    };
    careflow_store::rosters::store_proposal(&env.db, id, "u-site-manager", &roster(0), &step(0))
        .await
        .expect("revision 0");
    careflow_store::rosters::conclude(
        &env.db,
        id,
        id,
        0,
        &careflow_types::Decision {
            task_id: "task-roster-0".into(),
            approve: true,
            actor: "u-nurse-in-charge".into(),
            role: Role::NurseInCharge,
            reason: "agreed".into(),
            bed_id: None,
            signature_id: None,
        },
    )
    .await
    .expect("published");
    careflow_store::rosters::store_proposal(&env.db, id, "u-site-manager", &roster(1), &step(1))
        .await
        .expect("revision 1");
    let booking = "scan-2026-12-07-pages";
    let scans: careflow_types::ScannerBookingProposal = serde_json::from_value(serde_json::json!({
        "booking_id": booking, "revision": 0, "week_start": "2026-12-07", "days": 5,
        "solver_status": "optimal", "objective": 9.0, "mip_gap": null, "solve_seconds": 0.2,
        "booked": [
            {"request_id": "R1", "patient_key": "pk-r1", "modality": "ct", "urgency": "urgent", "scanner_id": "CT1",
             "day": 0, "start_slot": 2, "overbooked": false, "no_show_probability": 0.1, "days_late": 0},
            {"request_id": "R2", "patient_key": "pk-r2", "modality": "mri", "urgency": "routine", "scanner_id": "MR1",
             "day": 4, "start_slot": 0, "overbooked": true, "no_show_probability": 0.3, "days_late": 2}
        ],
        "waiting": ["R3"],
        "breaches": [{"request_id": "R2", "urgency": "routine", "modality": "mri", "deadline_day": 2,
            "booked_day": 4, "why": format!("MR1 full until Friday {SCRIPT}")}],
        "scanner_days": [], "overbooked_slots": 3, "expected_overtime_slots": 0.4,
        "over_policy": ["3 overbooked slots, policy 2"], "policy": {"max_overbooked_slots": 2, "max_breached_deadlines": 0},
        "overbooking_allowed": true, "conflicts": [], "no_show": provenance("scan-no-show"),
        "decision_step": "solve/r0", "snapshot_sha256": ""
    }))
    .expect("scan proposal");
    careflow_store::scanner::store_proposal(
        &env.db,
        booking,
        "u-imaging-manager",
        &scans,
        &careflow_store::decisions::NewDecisionStep {
            kind: "scanner_booking.input".into(),
            ..solve_step(booking, 0)
        },
    )
    .await
    .expect("scan proposal stored");
    for (task, wf, kind, role) in [
        ("task-roster-1", id, TaskKind::Roster, Role::NurseInCharge),
        (
            "task-scan-0",
            booking,
            TaskKind::ScannerBooking,
            Role::ImagingManager,
        ),
    ] {
        tasks::open(
            &env.db,
            &NewTask {
                task_id: task.into(),
                workflow_id: wf.into(),
                kind,
                role,
                summary: format!("{wf} to approve"),
                proposed_bed: None,
                due_at: "2026-12-06T10:00:00Z".into(),
                requested_by: Some("someone-else".into()),
            },
        )
        .await
        .expect("task");
    }
    let nurse = person(&env.db, Role::NurseInCharge).await;
    let a = get(&env, "/inbox/task-roster-1", Some(&nurse)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for want in [
        "The proposal: roster for ward W1 from 2026-12-07",
        "Against revision 0 in force.",
        // The grid marks N2's Tuesday as changed and the early shift one short.
        "<td class=\"changed\"> *</td>",
        "<td class=\"short\">1/2</td>",
        "late &lt;script&gt;",
        "ward-census 2.0.0",
        "Approving publishes this roster for the ward",
    ] {
        assert!(a.body.contains(want), "roster task page lacks {want:?}");
    }
    let imaging = person(&env.db, Role::ImagingManager).await;
    let a = get(&env, "/inbox/task-scan-0", Some(&imaging)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for want in [
        "The proposal: scanner bookings, week of 2026-12-07",
        "3 overbooked slots, policy 2",
        "MR1 full until Friday &lt;script&gt;",
        "Fri 11 Dec",
        "scan-no-show 2.0.0",
        "Approving books these scans",
    ] {
        assert!(a.body.contains(want), "scanner task page lacks {want:?}");
    }
    assert!(!a.body.contains("<script>document"));
    // The ward board shows the roster in force (revision 0: fully covered); the
    // imaging board waits for booked runs (this one is only proposed).
    let head = person(&env.db, Role::DepartmentHead).await;
    let r = get(&env, "/dashboard/roster", Some(&head)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("Ward W1 from 2026-12-07: roster in force"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<b>100 %</b>"), "{}", r.body);
    assert!(!r.body.contains("class=\"short\""), "{}", r.body);
    careflow_store::scanner::conclude(
        &env.db,
        booking,
        booking,
        0,
        &careflow_types::ScanConclusion::WithinPolicy {
            reason: "within policy".into(),
        },
    )
    .await
    .expect("booked");
    let s = get(&env, "/dashboard/scanner", Some(&head)).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert!(
        s.body.contains("<b id=\"scans-booked\">2</b>"),
        "{}",
        s.body
    );
    // Mean days to scan: CT urgent on day 0, MRI routine on day 4.
    assert_eq!(
        s.body.matches("<rect class=\"bar\"").count(),
        2,
        "{}",
        s.body
    );
    assert!(s.body.contains("data-value=\"4.00\""), "{}", s.body);
}

#[tokio::test]
async fn the_model_board_shows_a_release_with_its_bias_report_gate_and_history() {
    use careflow_store::registry::{self, ModelFacts};
    use careflow_store::releases::{
        self, Margins, NewRelease, Scores, SubgroupScores, ValidationReport,
    };
    let env = env().await;
    for (name, role) in [("dev.dana", Role::Admin), ("model.owner", Role::Admin)] {
        users::upsert_with_password(&env.db, name, role, Some(PASSWORD), "test")
            .await
            .expect("user");
    }
    let facts = |version: &str| ModelFacts {
        name: "ed-arrivals".into(),
        version: version.into(),
        sha256: format!("{:0>64}", version.replace('.', "")),
        card_json: format!(r#"{{"name":"ed-arrivals","version":"{version}"}}"#),
    };
    registry::register(&env.db, &facts("1.0.0"), "model.owner")
        .await
        .expect("registered");
    registry::install(&env.db, "ed-arrivals", "1.0.0", "model.owner", "bootstrap")
        .await
        .expect("installed");
    releases::register(
        &env.db,
        &NewRelease {
            release_id: "rel-pages".into(),
            facts: facts("1.1.0"),
            author: "dev.dana".into(),
            owner: "model.owner".into(),
        },
    )
    .await
    .expect("release");
    let s = |mae: f64| Scores::quantile(100, mae, mae / 2.0);
    let failures = releases::record_validation(
        &env.db,
        "rel-pages",
        &ValidationReport {
            data: "held-out weeks 2026-40..48".into(),
            production_version: "1.0.0".into(),
            production: s(2.0),
            candidate: s(1.9),
            subgroups: vec![
                SubgroupScores {
                    subgroup: "weekday=Mon".into(),
                    production: s(2.0),
                    candidate: s(1.8),
                },
                SubgroupScores {
                    subgroup: "weekday=Sat".into(),
                    production: s(2.0),
                    candidate: s(2.6),
                },
            ],
        },
        &Margins {
            overall: 0.02,
            subgroup: 0.05,
        },
    )
    .await
    .expect("validated");
    assert!(!failures.is_empty(), "Saturday is worse than the margin");
    let auditor = person(&env.db, Role::Auditor).await;
    let a = get(&env, "/models", Some(&auditor)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for want in [
        "<h2>ed-arrivals 1.1.0 (gate_failed)</h2>",
        "held-out weeks 2026-40..48",
        "weekday=Sat",
        "<td class=\"num short\">2.600</td>",
        "Stopped by the gate:",
        "dev.dana (admin)",
    ] {
        assert!(
            a.body.contains(want),
            "model board lacks {want:?}:\n{}",
            a.body
        );
    }
    assert_eq!(a.body.matches("<table class=\"bias\">").count(), 1);
}
