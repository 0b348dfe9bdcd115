//! Opening a registered model checks the file against the registry's record: the
//! committed model opens and forecasts; a file changed after registration, or a
//! directory holding another version, is refused with the file and both hashes named.

mod common;

use careflow_forecasters::bundle::{open_verified, sha256_file};
use careflow_forecasters::ed_arrivals::EdArrivals;
use careflow_forecasters::{Error, RuntimeOptions};

#[test]
fn a_registered_model_opens_only_with_its_recorded_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let committed = common::committed_model_dir("ed-arrivals");
    let dir = tmp.path().join("ed-arrivals").join("1.1.0");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["model.onnx", "card.json"] {
        std::fs::copy(committed.join(f), dir.join(f)).unwrap();
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("card.json")).unwrap()).unwrap();
    let version = card["version"].as_str().unwrap().to_owned();
    let onnx = dir.join("model.onnx");
    let registered = sha256_file(&onnx).unwrap();

    let bundle = open_verified(&dir, "ed-arrivals", &version, &registered).unwrap();
    let model = EdArrivals::from_bundle(&bundle, &RuntimeOptions::default()).unwrap();
    assert_eq!(model.metadata().model_version, version);
    assert_eq!(model.metadata().model_sha256, registered);

    // The registry records another version for this directory: refused.
    let e = open_verified(&dir, "ed-arrivals", "9.9.9", &registered).unwrap_err();
    assert!(
        matches!(&e, Error::Registry(m) if m.contains("9.9.9")),
        "{e}"
    );

    // The file changed after registration (and its card with it): refused, naming the
    // file, the registered hash and the file's hash.
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&onnx, &bytes).unwrap();
    let actual = sha256_file(&onnx).unwrap();
    let mut card = card.clone();
    card["sha256"] = actual.clone().into();
    std::fs::write(dir.join("card.json"), card.to_string()).unwrap();
    let e = open_verified(&dir, "ed-arrivals", &version, &registered).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::HashMismatch { .. }), "{msg}");
    assert!(
        msg.contains(&onnx.display().to_string())
            && msg.contains(&registered)
            && msg.contains(&actual),
        "{msg}"
    );
}
