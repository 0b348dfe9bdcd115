//! Operating careflow: `/api/health` asks the database and Temporal each time (503
//! naming Temporal while the embedded server is down, 200 again once careflow's
//! supervisor has restarted it, without restarting careflow); SIGTERM drains (exit 0
//! within the bound) and leaves an anchor of the final audit head that `careflow audit
//! verify` checks; the admissions in flight at the stop finish after the restart.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use careflow_store::anchor;
use careflow_store::Db;
use careflow_types::{Health, Role};

use crate::common::*;

/// GET /api/health: status code and body.
async fn health(node: &Node) -> Option<(u16, Health)> {
    let r = reqwest::Client::new()
        .get(format!("{}/api/health", node.api()))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let code = r.status().as_u16();
    Some((code, r.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_follows_temporal_and_sigterm_drains_with_an_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(&db, &layout(2), &[("clerk.e2e", Role::AdmissionsClerk)]).await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);

    let (code, h) = health(&node).await.expect("health answers");
    assert_eq!(
        (code, h.database.as_str(), h.temporal.as_str()),
        (200, "ok", "ok"),
        "{h:?}"
    );

    // The embedded Temporal server dies: health names it, then recovers by itself.
    let temporal = node.temporal_pid().expect("embedded Temporal pid");
    kill_pid(temporal);
    let down = poll(
        "health to report Temporal down",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            node.assert_alive();
            health(&node).await.filter(|(code, _)| *code == 503)
        },
    )
    .await;
    assert!(down.1.temporal.starts_with("down"), "{:?}", down.1);
    assert_eq!(down.1.database, "ok", "{:?}", down.1);
    assert_eq!(down.1.status, "unavailable");
    let back = Instant::now();
    poll(
        "health to recover after the supervisor restarts Temporal",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || async { health(&node).await.filter(|(code, _)| *code == 200) },
    )
    .await;
    assert_ne!(node.temporal_pid(), Some(temporal), "a new Temporal server");
    eprintln!("health back to 200 {:?} after 503", back.elapsed());

    // Admissions that need no person, some still running when SIGTERM arrives.
    let mut accepted = Vec::new();
    for n in 0..6 {
        let req = request(n, 0.0, &mut StdRng::seed_from_u64(n as u64));
        accepted.push(
            launch(&clerk, n, &req, Duration::from_secs(60))
                .await
                .accepted,
        );
    }
    let (status, took) = node.terminate(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "SIGTERM must end careflow with 0, got {status}"
    );
    assert!(
        took < Duration::from_secs(40),
        "drained in {took:?}, bound is --drain-seconds 30 + 10"
    );
    let log = node.log_tail("serve.log", 60);
    assert!(log.contains("SIGTERM: draining"), "{log}");
    // The control of the payload-key test below: without a key, Temporal's database
    // holds the clinical attributes of the requests in clear.
    let specialties: Vec<String> = (0..6)
        .map(|n| request(n, 0.0, &mut StdRng::seed_from_u64(n as u64)).specialty)
        .collect();
    assert!(
        specialties.iter().any(|s| in_temporal_db(&node.dir, s)),
        "without a payload key the specialties {specialties:?} are in clear"
    );

    // The final anchor names the head as careflow left it.
    let head = audit_seq(&db).await;
    let anchors = std::fs::read_to_string(anchor::anchor_file(&node.dir)).expect("anchor file");
    let last: anchor::Anchor =
        serde_json::from_str(anchors.lines().last().expect("an anchor")).expect("anchor line");
    assert_eq!(last.seq, head, "the shutdown anchor names the final head");
    let verified = assert_audit_verifies(&node).await;
    assert!(
        verified.contains(&format!("latest anchor: entry {head} "))
            && verified.contains("0 entries since"),
        "{verified}"
    );

    // Nothing was lost: after the restart every admission finishes.
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    wait_until_all_final(&node, &db, &accepted, Duration::from_secs(120)).await;
    assert_audit_verifies(&node).await;
}

/// Whether `needle` occurs in the embedded Temporal server's database files (the WAL
/// included: recent writes may not be checkpointed yet).
fn in_temporal_db(dir: &std::path::Path, needle: &str) -> bool {
    ["temporal.db", "temporal.db-wal"].iter().any(|f| {
        std::fs::read(dir.join(f))
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_payload_key_temporal_holds_no_clinical_attribute_in_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    node.env
        .push(("CAREFLOW_PAYLOAD_KEY".into(), "5a".repeat(32)));
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(&db, &layout(2), &[("clerk.e2e", Role::AdmissionsClerk)]).await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);
    // The requests of the test above, whose specialties it finds in clear without a key.
    let mut accepted = Vec::new();
    let mut specialties = Vec::new();
    for n in 0..6 {
        let req = request(n, 0.0, &mut StdRng::seed_from_u64(n as u64));
        specialties.push(req.specialty.clone());
        accepted.push(
            launch(&clerk, n, &req, Duration::from_secs(60))
                .await
                .accepted,
        );
    }
    wait_until_all_final(&node, &db, &accepted, Duration::from_secs(120)).await;
    // The API decodes what it reads back through the same key.
    let status = clerk
        .admission_status(&accepted[0].workflow_id)
        .await
        .expect("status through the API");
    assert!(
        matches!(
            serde_json::to_value(status.stage).unwrap().as_str(),
            Some("admitted" | "declined")
        ),
        "{status:?}"
    );
    let (status, _) = node.terminate(Duration::from_secs(60)).await;
    assert!(status.success());
    // The dev server is stopped with careflow, so its files are complete now.
    let history = node.dir.join("temporal.db");
    assert!(history.exists());
    let patient_key: String = sqlx::query_scalar("SELECT patient_key FROM admissions LIMIT 1")
        .fetch_one(db.pool())
        .await
        .unwrap();
    for clear in specialties
        .iter()
        .map(String::as_str)
        .chain([patient_key.as_str()])
    {
        assert!(
            !in_temporal_db(&node.dir, clear),
            "{clear:?} found in clear in the Temporal database"
        );
    }
    assert!(
        in_temporal_db(&node.dir, "binary/encrypted"),
        "sealed payloads are stored"
    );
}

/// `careflow temporal decode` opens a workflow's sealed payloads with the site's key
/// and with no other; the Temporal cluster options refuse wrong values at once, naming
/// what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decode_needs_the_key_and_wrong_cluster_options_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    node.env
        .push(("CAREFLOW_PAYLOAD_KEY".into(), "5a".repeat(32)));
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(&db, &layout(2), &[("clerk.e2e", Role::AdmissionsClerk)]).await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);
    let req = request(0, 0.0, &mut StdRng::seed_from_u64(0));
    let accepted = launch(&clerk, 0, &req, Duration::from_secs(60))
        .await
        .accepted;
    wait_until_all_final(
        &node,
        &db,
        std::slice::from_ref(&accepted),
        Duration::from_secs(120),
    )
    .await;

    // The history as Temporal keeps it: the request's specialty is sealed.
    let raw = node
        .temporal(&[
            "workflow",
            "show",
            "--workflow-id",
            &accepted.workflow_id,
            "--output",
            "json",
        ])
        .await;
    assert!(!raw.contains(&req.specialty), "sealed in Temporal: {raw}");

    // With the key: the request, its steps and their results, readable.
    let out = node
        .cli(&["temporal", "decode", &accepted.workflow_id])
        .await;
    let decoded = stdout(&out, "careflow temporal decode");
    let history: serde_json::Value = serde_json::from_str(&decoded).expect("JSON history");
    let started =
        &history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0];
    assert_eq!(started["encoding"], "json/plain", "{started}");
    assert_eq!(
        started["value"]["request"]["specialty"],
        req.specialty.as_str(),
        "{started}"
    );
    assert!(
        decoded.contains("\"bed_id\""),
        "the assignment's result: {decoded}"
    );
    assert!(
        !decoded.contains("binary/encrypted"),
        "every payload opened"
    );

    // Without the key, or with another one: refused, saying what is needed.
    let mut no_key = node.command(&["temporal", "decode", &accepted.workflow_id]);
    no_key.env_remove("CAREFLOW_PAYLOAD_KEY");
    let out = careflow_testkit::process::output(no_key, Duration::from_secs(60), "decode").await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("payload key"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing printed without the key");
    let mut other_key = node.command(&["temporal", "decode", &accepted.workflow_id]);
    other_key.env("CAREFLOW_PAYLOAD_KEY", "6b".repeat(32));
    let out = careflow_testkit::process::output(other_key, Duration::from_secs(60), "decode").await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("sealed with key") && err.contains("history event"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing printed with another key");

    // Cluster options: each wrong value fails fast with the option to check.
    let address = node.temporal_address();
    let bad_pem = tmp.path().join("not-a-cert.pem");
    std::fs::write(&bad_pem, "hello").unwrap();
    let bad_pem = bad_pem.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--temporal", &address, "--temporal-tls", "worker"],
            "answers, but not to this connection",
        ),
        (
            vec![
                "--temporal",
                &address,
                "--temporal-namespace",
                "no-such-ns",
                "worker",
            ],
            "has no namespace 'no-such-ns'",
        ),
        (
            vec![
                "--temporal",
                &address,
                "--temporal-tls-ca",
                &bad_pem,
                "worker",
            ],
            "--temporal-tls-ca",
        ),
        (
            vec![
                "--temporal",
                &address,
                "--temporal-tls-cert",
                &bad_pem,
                "worker",
            ],
            "--temporal-tls-cert needs --temporal-tls-key",
        ),
        (
            vec!["--temporal-tls", "worker"],
            "for a cluster named with --temporal",
        ),
    ];
    for (args, expected) in cases {
        let started = Instant::now();
        let out = careflow_testkit::process::output(
            node.command(&args),
            Duration::from_secs(60),
            "careflow worker with wrong cluster options",
        )
        .await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail: {err}");
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in: {err}"
        );
        // Not the 60 s a server that is still starting gets.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    node.assert_alive();
}

/// A TCP proxy in front of PostgreSQL that the test cuts (every connection dropped, new
/// ones closed at once: what careflow sees when the server stops) and restores, without
/// touching the PostgreSQL server other tests share.
struct CutProxy {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    async fn start(upstream: String) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if *watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let (mut watch, upstream) = (watch.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        CutProxy { port, cut, task }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// PostgreSQL unreachable for 30 s under load: the API answers 503 with Retry-After
/// (saying nothing was changed), health says the database is down; once it is back,
/// without restarting careflow, health is 200 again, every accepted admission
/// finishes exactly once and the audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_gives_503_then_recovery_with_nothing_lost() {
    const ADMISSIONS: usize = 48;
    let pg = PgDatabase::create("outage").await;
    let (prefix, rest) = pg.url.split_once('@').expect("user@host in the URL");
    let (host_port, database) = rest.split_once('/').expect("/database in the URL");
    let proxy = CutProxy::start(host_port.to_owned()).await;
    let proxied = format!("{prefix}@127.0.0.1:{}/{database}", proxy.port);

    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), Some(proxied));
    // The test's own view of the database goes straight to PostgreSQL.
    let db = Db::connect(&pg.url).await.unwrap();
    let tokens = seed(&db, &layout(2), &[("clerk.e2e", Role::AdmissionsClerk)]).await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);

    // Load: four clerks launching admissions one after another, retrying (with the
    // same Idempotency-Key) through the outage.
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let ambiguous = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let mut launchers = Vec::new();
    for _ in 0..4 {
        let (next, accepted, ambiguous, clerk) = (
            next.clone(),
            accepted.clone(),
            ambiguous.clone(),
            clerk.clone(),
        );
        launchers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= ADMISSIONS {
                    return;
                }
                let req = request(n, 0.0, &mut StdRng::seed_from_u64(n as u64));
                let l = launch(&clerk, n, &req, Duration::from_secs(300)).await;
                if l.ambiguous {
                    ambiguous.lock().unwrap().insert(n);
                }
                accepted.lock().unwrap().push(l.accepted);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    poll(
        "admissions accepted before the outage",
        Duration::from_secs(120),
        Duration::from_millis(50),
        || async { (accepted.lock().unwrap().len() >= 12).then_some(()) },
    )
    .await;

    proxy.set_cut(true);
    let cut_at = Instant::now();
    let down = poll(
        "health to report the database down",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            node.assert_alive();
            health(&node).await.filter(|(code, _)| *code == 503)
        },
    )
    .await;
    assert!(down.1.database.starts_with("down"), "{:?}", down.1);
    assert_eq!(down.1.temporal, "ok", "{:?}", down.1);
    // A request while the database is down: a clear 503, not a 500 or a hang.
    let refused = reqwest::Client::new()
        .post(format!("{}/api/admissions", node.api()))
        .bearer_auth(&tokens["clerk.e2e"])
        .json(&request(
            ADMISSIONS + 1,
            0.0,
            &mut StdRng::seed_from_u64(999),
        ))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the API answers while the database is down");
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("database is unavailable")),
        "{body}"
    );
    let accepted_during_cut = accepted.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(cut_at.elapsed())).await;
    node.assert_alive();
    proxy.set_cut(false);
    let restored = Instant::now();

    poll(
        "health to recover without a restart",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async {
            node.assert_alive();
            health(&node).await.filter(|(code, _)| *code == 200)
        },
    )
    .await;
    println!(
        "outage: health back {:?} after the database returned; {accepted_during_cut} accepted at the cut",
        restored.elapsed()
    );
    for l in launchers {
        l.await.expect("launcher");
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(
        accepted.len(),
        ADMISSIONS,
        "every admission accepted in the end"
    );
    wait_until_all_final(&node, &db, &accepted, Duration::from_secs(300)).await;
    let ambiguous = ambiguous.lock().unwrap().clone();
    let outcome = check_invariants(&db, &accepted, &ambiguous).await;
    assert_eq!(
        outcome.duplicate_patients.len(),
        0,
        "no admission twice: {outcome:?}"
    );
    assert_api_agrees(&clerk, &db, &accepted).await;
    let verified = assert_audit_verifies(&node).await;
    println!("outage: {outcome:?}; {verified}");
    node.assert_alive();
    db.close().await;
}
