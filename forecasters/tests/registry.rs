//! The model registry on a real SQLite file: register, promote (one
//! production per name), list, and hash-checked loading.

mod common;

use std::path::Path;

use careflow_forecasters::ed_arrivals::EdArrivals;
use careflow_forecasters::registry::{Registry, Status, DDL};
use careflow_forecasters::{Error, Forecaster, RuntimeOptions};

fn copy_model(from: &Path, models: &Path, version: &str) -> std::path::PathBuf {
    let dir = models.join("ed-arrivals").join(version);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(from.join("model.onnx"), dir.join("model.onnx")).unwrap();
    let card = std::fs::read_to_string(from.join("card.json")).unwrap();
    let mut card: serde_json::Value = serde_json::from_str(&card).unwrap();
    card["version"] = version.into();
    std::fs::write(
        dir.join("card.json"),
        serde_json::to_string_pretty(&card).unwrap(),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn register_promote_list_and_load_by_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        tmp.path().join("registry.db").display()
    );
    let reg = Registry::connect(&url).await.unwrap();
    sqlx::query(DDL).execute(reg.pool()).await.unwrap();

    let models = tmp.path().join("models");
    let committed = common::committed_model_dir("ed-arrivals");
    let v1 = copy_model(&committed, &models, "1.0.0");
    let v2 = copy_model(&committed, &models, "1.1.0");

    let e1 = reg.register(&v1).await.unwrap();
    assert_eq!(
        (e1.name.as_str(), e1.version.as_str(), e1.status),
        ("ed-arrivals", "1.0.0", Status::Candidate)
    );
    assert_eq!(
        e1.sha256,
        careflow_forecasters::bundle::sha256_file(&v1.join("model.onnx")).unwrap()
    );
    assert!(chrono::DateTime::parse_from_rfc3339(&e1.registered_at).is_ok());
    reg.register(&v2).await.unwrap();
    assert!(
        matches!(reg.register(&v1).await, Err(Error::Registry(m)) if m.contains("already registered"))
    );

    assert!(reg.production("ed-arrivals").await.is_err());
    let p1 = reg
        .promote(
            "ed-arrivals",
            "1.0.0",
            Status::Production,
            "dr.lead",
            "validated",
        )
        .await
        .unwrap();
    assert_eq!(p1.status, Status::Production);
    assert_eq!(p1.promoted_by.as_deref(), Some("dr.lead"));
    assert_eq!(p1.promotion_reason.as_deref(), Some("validated"));

    reg.promote("ed-arrivals", "1.1.0", Status::Shadow, "ops", "shadow run")
        .await
        .unwrap();
    reg.promote(
        "ed-arrivals",
        "1.1.0",
        Status::Production,
        "dr.lead",
        "better pinball",
    )
    .await
    .unwrap();
    let all = reg.list(Some("ed-arrivals")).await.unwrap();
    let status_of = |v: &str| all.iter().find(|e| e.version == v).unwrap().status;
    assert_eq!(status_of("1.0.0"), Status::Retired);
    assert_eq!(status_of("1.1.0"), Status::Production);
    assert_eq!(
        all.iter()
            .filter(|e| e.status == Status::Production)
            .count(),
        1
    );
    assert_eq!(reg.list(None).await.unwrap().len(), 2);
    assert_eq!(reg.list(Some("nope")).await.unwrap().len(), 0);

    // A failed promotion (unknown version) rolls back: 1.1.0 stays in production.
    assert!(reg
        .promote("ed-arrivals", "9.9.9", Status::Production, "x", "y")
        .await
        .is_err());
    assert_eq!(
        reg.production("ed-arrivals").await.unwrap().version,
        "1.1.0"
    );
    assert!(reg
        .promote("ed-arrivals", "1.0.0", Status::Production, "", "no one")
        .await
        .is_err());

    // Loading the production model checks the file against the registry hash.
    let bundle = reg.load_production("ed-arrivals", &models).await.unwrap();
    let model = EdArrivals::from_bundle(&bundle, &RuntimeOptions::default()).unwrap();
    assert_eq!(model.metadata().model_version, "1.1.0");
    assert_eq!(model.metadata().model_sha256, e1.sha256);

    // Tamper with the production file: a clear error naming the file and both hashes.
    let onnx = v2.join("model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&onnx, &bytes).unwrap();
    let err = reg
        .load_production("ed-arrivals", &models)
        .await
        .unwrap_err();
    let msg = err.to_string();
    let actual = careflow_forecasters::bundle::sha256_file(&onnx).unwrap();
    assert!(matches!(err, Error::HashMismatch { .. }));
    assert!(
        msg.contains(&onnx.display().to_string())
            && msg.contains(&e1.sha256)
            && msg.contains(&actual),
        "{msg}"
    );
    // Registering a tampered bundle fails too: its card records the original hash.
    assert!(matches!(
        reg.register(&v2).await,
        Err(Error::HashMismatch { .. })
    ));
}
