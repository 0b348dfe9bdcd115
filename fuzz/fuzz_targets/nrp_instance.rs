//! The NRP (Curtois-Qu) instance reader (`careflow solve nrp FILE`): the sectioned text
//! format parsed and checked; any input must give an instance or an error.
#![no_main]

use std::path::Path;

use careflow_solvers::benchmarks::nrp::parse::parse_instance;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_instance(text, "fuzz", Path::new("fuzz.txt"));
    }
});
