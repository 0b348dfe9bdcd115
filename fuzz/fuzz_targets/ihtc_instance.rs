//! The IHTC-2024 instance reader (`careflow solve ihtc FILE`): JSON parsed and checked
//! by building the model's index; any input must give an instance or an error.
#![no_main]

use careflow_solvers::benchmarks::ihtc::Instance;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Instance::from_json(text, "fuzz.json");
    }
});
