//! The HL7 v2 ADT decoder (the MLLP listener's frames): any bytes must decode to an
//! event or a refusal to acknowledge, never a panic.
#![no_main]

use std::sync::OnceLock;

use careflow_hl7::decode::decode;
use careflow_hl7::location::{LocationFile, LocationMap};
use libfuzzer_sys::fuzz_target;

fn locations() -> &'static LocationMap {
    static MAP: OnceLock<LocationMap> = OnceLock::new();
    MAP.get_or_init(|| {
        let file: LocationFile = serde_json::from_str(
            r#"{"wards": [{"point_of_care": "AMU", "ward_id": "amu"}],
                "beds": [{"point_of_care": "AMU", "room": "1", "bed": "A", "bed_id": "amu-1a"}]}"#,
        )
        .expect("location file");
        LocationMap::from_file(file).expect("location map")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decode(data, locations());
});
