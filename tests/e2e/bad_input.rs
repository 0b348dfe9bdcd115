//! Malformed admission requests against the running API and CLI: each is refused with
//! 400 (401/403 for authentication and roles), the answer names the field (and the
//! line and column of a JSON syntax error), and nothing is written or started.

use std::time::Duration;

use careflow::client::ApiError;
use careflow_store::Db;
use careflow_types::{AdmissionStarted, ApiErrorBody, Role};

use crate::common::*;

/// A valid body with `patch` applied (`null` removes a field).
fn body(patch: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "patient_ref": "E2E-BAD-000001",
        "kind": "emergency",
        "sex": "female",
        "age_group": "adult",
        "specialty": "cardiology",
        "isolation": false,
        "expected_los_days": 3,
        "requested_by": "clerk.e2e"
    });
    for (k, val) in patch.as_object().unwrap() {
        if val.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = val.clone();
        }
    }
    v.to_string()
}

/// POSTs `body` as an admission with no Authorization header at all (the typed client
/// always sends its token).
async fn without_token(api: &str, body: &str) -> Result<AdmissionStarted, ApiError> {
    let r = reqwest::Client::new()
        .post(format!("{api}/api/admissions"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status();
    if status.is_success() {
        return Ok(r.json().await.unwrap());
    }
    let body: ApiErrorBody = r.json().await.expect("careflow's error body");
    Err(ApiError::Refused {
        status,
        code: body.error.code,
        message: body.error.message,
        fields: body.error.fields.unwrap_or_default(),
    })
}

struct Case {
    what: &'static str,
    token: &'static str,
    body: String,
    status: u16,
    /// Must appear in the error message.
    mentions: &'static [&'static str],
    /// Must be one of the located fields (400 answers).
    field: Option<&'static str>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_admissions_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(
        &db,
        &layout(1),
        &[
            ("clerk.e2e", Role::AdmissionsClerk),
            ("beds.e2e", Role::BedManager),
            ("audit.e2e", Role::Auditor),
        ],
    )
    .await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    // The clerk logs in to use the CLI below (before the counts: a login is audited).
    node.login("clerk.e2e").await;
    let tables = [
        "admissions",
        "patients",
        "tasks",
        "bed_assignments",
        "audit_log",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(count(&db, t).await);
    }
    let seq_before = audit_seq(&db).await;

    use serde_json::json;
    let case = |what, token, body, status, mentions, field| Case {
        what,
        token,
        body,
        status,
        mentions,
        field,
    };
    let cases = vec![
        case(
            "JSON syntax error (truncated, on line 3)",
            "clerk.e2e",
            "{\n  \"patient_ref\": \"E2E-BAD-000001\",\n  \"kind\": \"emergency\",".into(),
            400,
            &["line 3", "column"],
            None,
        ),
        case(
            "JSON syntax error (stray comma)",
            "clerk.e2e",
            body(json!({})).replace("\"kind\"", ",\"kind\""),
            400,
            &["line 1", "column"],
            None,
        ),
        case(
            "empty body",
            "clerk.e2e",
            String::new(),
            400,
            &["line", "column"],
            None,
        ),
        case(
            "array body",
            "clerk.e2e",
            "[]".into(),
            400,
            &["expected"],
            None,
        ),
        case(
            "unknown kind",
            "clerk.e2e",
            body(json!({"kind": "urgent"})),
            400,
            &["kind", "urgent"],
            Some("kind"),
        ),
        case(
            "unknown sex",
            "clerk.e2e",
            body(json!({"sex": "F"})),
            400,
            &["sex"],
            Some("sex"),
        ),
        case(
            "missing field",
            "clerk.e2e",
            body(json!({"age_group": null})),
            400,
            &["age_group"],
            None,
        ),
        case(
            "unknown field",
            "clerk.e2e",
            body(json!({"ward": "CARD-A"})),
            400,
            &["ward"],
            None,
        ),
        case(
            "length of stay 0",
            "clerk.e2e",
            body(json!({"expected_los_days": 0})),
            400,
            &["expected_los_days"],
            Some("expected_los_days"),
        ),
        case(
            "negative length of stay",
            "clerk.e2e",
            body(json!({"expected_los_days": -2})),
            400,
            &["expected_los_days"],
            Some("expected_los_days"),
        ),
        case(
            "length of stay as text",
            "clerk.e2e",
            body(json!({"expected_los_days": "three"})),
            400,
            &["expected_los_days"],
            Some("expected_los_days"),
        ),
        case(
            "length of stay over a year",
            "clerk.e2e",
            body(json!({"expected_los_days": 400})),
            400,
            &["expected_los_days"],
            Some("expected_los_days"),
        ),
        case(
            "empty specialty",
            "clerk.e2e",
            body(json!({"specialty": ""})),
            400,
            &["specialty"],
            Some("specialty"),
        ),
        case(
            "blank specialty",
            "clerk.e2e",
            body(json!({"specialty": "   "})),
            400,
            &["specialty"],
            Some("specialty"),
        ),
        case(
            "isolation as text",
            "clerk.e2e",
            body(json!({"isolation": "yes"})),
            400,
            &["isolation"],
            Some("isolation"),
        ),
        case(
            "patient identifier with spaces",
            "clerk.e2e",
            body(json!({"patient_ref": "E2E BAD"})),
            400,
            &["patient_ref"],
            Some("patient_ref"),
        ),
        case("no token", "", body(json!({})), 401, &[], None),
        case(
            "wrong token",
            "not-a-token",
            body(json!({})),
            401,
            &[],
            None,
        ),
        case(
            "wrong token, malformed body",
            "not-a-token",
            "{".into(),
            401,
            &[],
            None,
        ),
        case(
            "bed manager may not register admissions",
            "beds.e2e",
            body(json!({})),
            403,
            &["bed_manager"],
            None,
        ),
        case(
            "auditor may not register admissions",
            "audit.e2e",
            body(json!({})),
            403,
            &["auditor"],
            None,
        ),
    ];

    let mut failures = Vec::new();
    for c in &cases {
        let token = match c.token {
            "" => String::new(),
            "not-a-token" => "0".repeat(64),
            name => tokens[name].clone(),
        };
        let answer = if token.is_empty() {
            without_token(&node.api(), &c.body).await
        } else {
            let api = node.client(&token);
            api.create_admission_json(&c.body, None).await
        };
        let (status, code, message, fields) = match answer {
            Err(ApiError::Refused {
                status,
                code,
                message,
                fields,
            }) => (status.as_u16(), code, message, fields),
            Ok(started) => {
                failures.push(format!("{}: accepted as {started:?}", c.what));
                continue;
            }
            Err(e) => panic!("{}: no answer: {e:?}", c.what),
        };
        let fields: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        let mut wrong = Vec::new();
        if status != c.status {
            wrong.push(format!("status {status}, expected {}", c.status));
        }
        for m in c.mentions {
            if !message.contains(m) {
                wrong.push(format!("message does not mention '{m}'"));
            }
        }
        if let Some(f) = c.field {
            if !fields.contains(&f) {
                wrong.push(format!("fields {fields:?} do not include '{f}'"));
            }
        }
        if code.is_empty() {
            wrong.push("no error code".into());
        }
        println!("bad_input: {:<42} -> {status} {message}", c.what);
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {} (answer: {code}: {message}; fields {fields:?})",
                c.what,
                wrong.join("; ")
            ));
        }
    }

    // The CLI refuses a zero length of stay, naming the field, and exits non-zero.
    let cli = node
        .cli(&[
            "admit",
            "--patient",
            "E2E-BAD-000002",
            "--kind",
            "emergency",
            "--sex",
            "male",
            "--age-group",
            "adult",
            "--specialty",
            "cardiology",
            "--los",
            "0",
            "--as",
            "clerk.e2e",
        ])
        .await;
    let stderr = String::from_utf8_lossy(&cli.stderr);
    println!("bad_input: CLI --los 0 -> {} {}", cli.status, stderr.trim());
    if cli.status.success() || !stderr.contains("expected_los_days") {
        failures.push(format!(
            "CLI --los 0: exit {}, stderr does not name expected_los_days: {stderr}",
            cli.status
        ));
    }
    // ... and an unknown kind before anything is sent.
    let cli = node
        .cli(&[
            "admit",
            "--patient",
            "E2E-BAD-000003",
            "--kind",
            "urgent",
            "--sex",
            "male",
            "--age-group",
            "adult",
            "--specialty",
            "cardiology",
            "--los",
            "2",
            "--as",
            "clerk.e2e",
        ])
        .await;
    let stderr = String::from_utf8_lossy(&cli.stderr);
    if cli.status.success() || !stderr.contains("--kind") || !stderr.contains("urgent") {
        failures.push(format!(
            "CLI --kind urgent: exit {}, stderr: {stderr}",
            cli.status
        ));
    }
    assert!(
        failures.is_empty(),
        "refusals not as specified:\n{}",
        failures.join("\n")
    );

    // Nothing started in Temporal, nothing written to the domain database or the trail.
    assert_eq!(
        node.workflow_count("").await,
        0,
        "a refused request started a workflow"
    );
    for (t, n) in tables.iter().zip(&before) {
        assert_eq!(
            count(&db, t).await,
            *n,
            "refused requests changed table {t}"
        );
    }

    // A valid request afterwards goes through and is the only thing written: anything
    // a refused request had set off would have surfaced by the time it is done.
    let clerk = node.client(&tokens["clerk.e2e"]);
    let req = request(1, 0.0, &mut rand::rng());
    let ok = launch(&clerk, 1, &req, Duration::from_secs(30))
        .await
        .accepted;
    poll(
        "the valid admission to finish",
        Duration::from_secs(120),
        Duration::from_millis(100),
        || async {
            let s = admission_statuses(&db).await;
            s.get(&ok.admission_id)
                .is_some_and(|s| FINAL.contains(&s.as_str()))
                .then_some(())
        },
    )
    .await;
    assert_eq!(count(&db, "admissions").await, before[0] + 1);
    assert_eq!(count(&db, "patients").await, before[1] + 1);
    assert_eq!(node.workflow_count("").await, 1);
    // Since the refusals: the valid request's patient pseudonymised once, and entries
    // of its workflow; nothing else.
    let entries = sqlx::query("SELECT action, workflow_id FROM audit_log WHERE seq > $1")
        .bind(seq_before)
        .fetch_all(db.pool())
        .await
        .unwrap();
    let mut pseudonymised = 0;
    for e in &entries {
        let action: String = sqlx::Row::get(e, 0);
        let workflow: Option<String> = sqlx::Row::get(e, 1);
        match (action.as_str(), workflow) {
            ("patient.pseudonymised", None) => pseudonymised += 1,
            (_, Some(wf)) if wf == ok.workflow_id => {}
            (action, wf) => panic!("audit entry {action} ({wf:?}) written for a refused request"),
        }
    }
    assert_eq!(pseudonymised, 1, "one new patient");
    assert_audit_verifies(&node).await;
    db.close().await;
}
