//! Inputs on which `fuzz/hl7_decode` once crashed the decoder (`scripts/fuzz`), kept in
//! `tests/fuzz_regressions/`: each must decode to an event or a refusal, never a panic.
//!
//! - `hl7_decode-33dd0f01`: a field of `ÿ` (bytes outside UTF-8, read as ISO 8859-1)
//!   before an escape sequence; hl7-parser's own escape decoding sliced the text inside
//!   a character.

use careflow_hl7::decode::{decode, Decoded};
use careflow_hl7::location::{LocationFile, LocationMap};

#[test]
fn inputs_that_once_crashed_the_decoder_decode() {
    let file: LocationFile = serde_json::from_str(
        r#"{"wards": [{"point_of_care": "AMU", "ward_id": "amu"}],
            "beds": [{"point_of_care": "AMU", "room": "1", "bed": "A", "bed_id": "amu-1a"}]}"#,
    )
    .unwrap();
    let map = LocationMap::from_file(file).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for path in inputs {
        let bytes = std::fs::read(&path).unwrap();
        match decode(&bytes, &map) {
            Decoded::Adt(..) | Decoded::Error(..) | Decoded::Reject(..) => {}
        }
    }
}
