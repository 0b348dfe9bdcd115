//! How the ONNX Runtime library is found. One test in its own binary, because
//! it changes the process environment.

use careflow_forecasters::runtime::find_onnxruntime;

#[test]
fn finds_the_setup_venv_library_and_rejects_a_wrong_override() {
    std::env::remove_var("ORT_DYLIB_PATH");
    let found =
        find_onnxruntime().expect("scripts/setup installs .tools/venv with the onnxruntime wheel");
    let name = found.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("libonnxruntime.so"), "{name}");
    assert!(
        found.to_string_lossy().contains(".tools/venv/lib/python3"),
        "{}",
        found.display()
    );

    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so");
    let err = find_onnxruntime().unwrap_err().to_string();
    assert!(
        err.contains("/nonexistent/libonnxruntime.so") && err.contains("scripts/setup"),
        "{err}"
    );

    std::env::set_var("ORT_DYLIB_PATH", &found);
    assert_eq!(find_onnxruntime().unwrap(), found);
    std::env::remove_var("ORT_DYLIB_PATH");
}
