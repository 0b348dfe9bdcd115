//! MLLP over TLS: with a certificate and key, the listener speaks TLS only. An
//! independent sender (Python's `ssl` module, checking the certificate) gets its ACK
//! after the change is committed; the same frame in plain TCP is disconnected without an
//! ACK and changes nothing. The certificate is made for the test by `openssl`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use careflow_hl7::location::LocationFile;
use careflow_hl7::{Hl7Service, LocationMap};
use careflow_store::adt;

fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("hl7.crt"), dir.join("hl7.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-days", "2", "-subj", "/CN=careflow-hl7-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

fn send(port: u16, mode: &str, ca: &Path, msg: &Path) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mllp_tls_client.py");
    let out = Command::new(careflow_testkit::paths::tool("python"))
        .arg(script)
        .arg(port.to_string())
        .arg(mode)
        .arg(ca)
        .arg(msg)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "sender: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the sender prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mllp_over_tls_is_acknowledged_and_plain_tcp_is_refused() {
    let (dir, db) = careflow_testkit::db::sqlite().await;
    let (cert, key) = self_signed(dir.path());
    let acceptor = careflow_hl7::tls::acceptor(&cert, &key).expect("acceptor");
    // A key that is not a key is named.
    let err = careflow_hl7::tls::acceptor(&cert, &cert)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("--hl7-tls-key"), "{err}");

    let service = Hl7Service::new(
        db.clone(),
        LocationMap::from_file(LocationFile::default()).unwrap(),
    )
    .with_tls(acceptor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service.serve(listener, async {
        let _ = stopped.await;
    }));

    let msg = |ctrl: &str, mrn: &str| {
        format!(
            "MSH|^~\\&|PAS|GENERAL|CAREFLOW|CAREFLOW|20261203090000||ADT^A04|{ctrl}|P|2.5.1\r\
             EVN|A04|20261203090000\r\
             PID|1||{mrn}^^^GENERAL^MR||DOE^JANE||19700101|F\r\
             PV1|1|E|ED^^CHAIR2\r"
        )
    };
    let tls_msg = dir.path().join("tls.hl7");
    std::fs::write(&tls_msg, msg("TLS1", "M5550001")).unwrap();
    let plain_msg = dir.path().join("plain.hl7");
    std::fs::write(&plain_msg, msg("PLAIN1", "M5550002")).unwrap();

    let over_tls = tokio::task::spawn_blocking({
        let (cert, tls_msg) = (cert.clone(), tls_msg.clone());
        move || send(port, "tls", &cert, &tls_msg)
    })
    .await
    .unwrap();
    let ack = over_tls["ack"]
        .as_str()
        .unwrap_or_else(|| panic!("no ACK over TLS: {over_tls}"));
    assert!(ack.contains("MSA|AA|TLS1"), "{ack}");
    assert!(adt::patient_key_of(&db, "M5550001")
        .await
        .unwrap()
        .is_some());

    let plain = tokio::task::spawn_blocking({
        let (cert, plain_msg) = (cert.clone(), plain_msg.clone());
        move || send(port, "plain", &cert, &plain_msg)
    })
    .await
    .unwrap();
    assert!(plain["ack"].is_null(), "plain MLLP got an answer: {plain}");
    assert!(
        adt::patient_key_of(&db, "M5550002")
            .await
            .unwrap()
            .is_none(),
        "a plain-TCP message changed the census"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
