//! Logging in, out and signing through the HTTP API in-process (`app().oneshot`) over
//! a real SQLite database and the official Temporal test server: a token comes only
//! from the right password and expires; logout revokes it; wrong passwords are
//! refused, recorded and lock the account; a decision is signed with the decider's
//! password before it is sent, and nothing is signed when the password is wrong or the
//! decider asked for the work.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use careflow_dashboards::{app_with, AppState, AuthConfig};
use careflow_store::{tasks, users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::{NewTask, Role, TaskKind};

const BEN_PASSWORD: &str = "ben's bed board pass";

struct Env {
    _server: temporal::TestServer,
    _dir: tempfile::TempDir,
    db: Db,
    state: AppState,
}

async fn env() -> Env {
    let (server, client) = temporal::start_test_server().await;
    let (dir, db) = db::sqlite().await;
    users::upsert_with_password(&db, "ben", Role::BedManager, Some(BEN_PASSWORD), "test")
        .await
        .expect("user");
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

async fn call(
    env: &Env,
    auth: AuthConfig,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let resp = app_with(env.state.clone(), auth)
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(env: &Env, auth: AuthConfig, password: &str) -> (StatusCode, Value) {
    call(
        env,
        auth,
        "POST",
        "/api/login",
        None,
        json!({"username": "ben", "password": password}),
    )
    .await
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn a_token_comes_from_the_password_expires_and_is_revoked_by_logout() {
    let env = env().await;
    let auth = AuthConfig::default();
    let (status, body) = login(&env, auth, BEN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["user"].as_str(), body["role"].as_str()),
        (Some("ben"), Some("bed_manager"))
    );
    let token = body["token"].as_str().expect("token").to_owned();
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap())
        .expect("RFC 3339");
    let hours = expires
        .signed_duration_since(chrono::Utc::now())
        .num_minutes();
    assert!((479..=480).contains(&hours), "8 h by default: {hours} min");
    let (status, _) = call(&env, auth, "GET", "/api/tasks", Some(&token), Value::Null).await;
    assert_eq!(status, StatusCode::OK);

    // Logout revokes it; it cannot log out twice.
    let (status, body) = call(&env, auth, "POST", "/api/logout", Some(&token), Value::Null).await;
    assert_eq!(
        (status, body["user"].as_str()),
        (StatusCode::OK, Some("ben"))
    );
    let (status, _) = call(&env, auth, "GET", "/api/tasks", Some(&token), Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&env, auth, "POST", "/api/logout", Some(&token), Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A server configured for short tokens: the token stops working when it expires.
    let short = AuthConfig {
        token_ttl: Duration::from_secs(1),
    };
    let (_, body) = login(&env, short, BEN_PASSWORD).await;
    let token = body["token"].as_str().expect("token").to_owned();
    let (status, _) = call(&env, short, "GET", "/api/tasks", Some(&token), Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = call(&env, short, "GET", "/api/tasks", Some(&token), Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // A malformed login is located and checks no password.
    let (status, body) = call(
        &env,
        auth,
        "POST",
        "/api/login",
        None,
        json!({"username": "ben"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_passwords_are_refused_recorded_and_lock_the_account() {
    let env = env().await;
    let auth = AuthConfig::default();
    for left in (1..=4).rev() {
        let (status, body) = login(&env, auth, "not my password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "bad_credentials");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&format!("{left} attempts left")), "{msg}");
        assert!(body.get("token").is_none());
    }
    let (status, body) = login(&env, auth, "not my password").await;
    assert_eq!(status, StatusCode::LOCKED, "{body}");
    assert_eq!(body["error"]["code"], "locked");
    // Locked: the right password is refused too, saying until when.
    let (status, body) = login(&env, auth, BEN_PASSWORD).await;
    assert_eq!(status, StatusCode::LOCKED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("locked until"),
        "{body}"
    );
    assert_eq!(
        count(&env.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'user.password_failed' AND actor = 'ben'").await,
        5
    );
    assert_eq!(
        count(
            &env.db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'user.locked'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&env.db, "SELECT COUNT(*) FROM audit_log WHERE reason LIKE '%not my password%' OR meaning LIKE '%not my password%'").await,
        0,
        "no password in the audit trail"
    );
}

fn task(id: &str, requested_by: &str) -> NewTask {
    NewTask {
        task_id: id.into(),
        // No workflow runs under this id: the API signs, then Temporal refuses the update.
        workflow_id: format!("wf-{id}"),
        kind: TaskKind::BedPlan,
        role: Role::BedManager,
        summary: "bed plan for tomorrow: 3 moves, reserve 4 beds".into(),
        proposed_bed: None,
        due_at: "2026-12-02T10:00:00Z".into(),
        requested_by: Some(requested_by.into()),
    }
}

#[tokio::test]
async fn a_decision_is_signed_with_the_deciders_password_before_it_is_sent() {
    let env = env().await;
    let auth = AuthConfig::default();
    let (_, body) = login(&env, auth, BEN_PASSWORD).await;
    let token = body["token"].as_str().expect("token").to_owned();
    tasks::open(&env.db, &task("t1", "site.sam")).await.unwrap();
    tasks::open(&env.db, &task("t-own", "ben")).await.unwrap();
    let decide = |task_id: &'static str, body: Value| {
        let (env, token) = (&env, token.clone());
        async move {
            call(
                env,
                auth,
                "POST",
                &format!("/api/tasks/{task_id}/decision"),
                Some(&token),
                body,
            )
            .await
        }
    };
    let signatures = || count(&env.db, "SELECT COUNT(*) FROM signatures");

    // No password: located, nothing signed.
    let (status, body) = decide("t1", json!({"approve": true, "reason": "reserve agreed"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{body}"
    );
    // A wrong password: refused and counted, nothing signed.
    let (status, body) = decide(
        "t1",
        json!({"approve": true, "reason": "reserve agreed", "password": "a wrong one"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "bad_credentials");
    assert_eq!(signatures().await, 0);
    let failed: i64 = count(
        &env.db,
        "SELECT failed_attempts FROM users WHERE user_name = 'ben'",
    )
    .await;
    assert_eq!(failed, 1);
    // The requester may not decide, and is not asked to sign.
    let (status, body) = decide(
        "t-own",
        json!({"approve": true, "reason": "my own plan", "password": BEN_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("asked for"),
        "{body}"
    );
    assert_eq!(signatures().await, 0);

    // The right password signs: who, printed name, meaning, what; then the decision is
    // sent (here no workflow waits, so Temporal refuses it and the signature stays
    // unused: it signs nothing else).
    let (status, body) = decide(
        "t1",
        json!({"approve": true, "reason": "reserve agreed", "password": BEN_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let row = sqlx::query(
        "SELECT signer, printed_name, meaning, subject, signed_sha256, used_at FROM signatures",
    )
    .fetch_one(env.db.pool())
    .await
    .expect("one signature");
    assert_eq!(row.get::<String, _>("signer"), "ben");
    assert_eq!(row.get::<String, _>("meaning"), "approved");
    assert_eq!(row.get::<String, _>("subject"), "task/t1");
    let view = tasks::get(&env.db, "t1").await.unwrap();
    assert_eq!(
        row.get::<String, _>("signed_sha256"),
        tasks::signed_content_sha256(&view, true, "reserve agreed", None)
    );
    assert_eq!(row.get::<Option<String>, _>("used_at"), None);
    assert_eq!(view.status, "open");
    // The right password also ended the run of failures.
    let failed: i64 = count(
        &env.db,
        "SELECT failed_attempts FROM users WHERE user_name = 'ben'",
    )
    .await;
    assert_eq!(failed, 0);
}
