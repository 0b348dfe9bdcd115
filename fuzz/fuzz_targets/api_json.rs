//! The API's JSON request bodies: the first byte picks a request type, the rest is
//! its body, deserialised as axum's Json extractor does and then validated as the
//! handlers do; any input must give a value or errors, never a panic.
#![no_main]

use careflow_types as t;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

fn body<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 16 {
        0 => {
            if let Some(r) = body::<t::AdmissionRequest>(bytes) {
                let _ = r.validate();
            }
        }
        1 => {
            if let Some(r) = body::<t::LoginRequest>(bytes) {
                let _ = r.validate();
            }
        }
        2 => {
            if let Some(r) = body::<t::DecisionRequest>(bytes) {
                let _ = r.validate();
            }
        }
        3 => {
            if let Some(r) = body::<t::BedPlanRequest>(bytes) {
                let _ = r.validate();
            }
        }
        4 => {
            if let Some(r) = body::<t::TheatreWeekRequest>(bytes) {
                let _ = r.validate();
            }
        }
        5 => {
            if let Some(r) = body::<t::ScannerWeekRequest>(bytes) {
                let _ = r.validate();
            }
        }
        6 => {
            if let Some(r) = body::<t::RosterRequest>(bytes) {
                let _ = r.validate();
            }
        }
        7 => {
            let _ = body::<t::ReleaseRequest>(bytes);
        }
        8 => {
            if let Some(r) = body::<t::TruthRequest>(bytes) {
                let _ = r.validate();
            }
        }
        9 => {
            if let Some(r) = body::<t::RollbackBody>(bytes) {
                let _ = r.validate();
            }
        }
        10 => {
            if let Some(r) = body::<t::EthicsVoteRequest>(bytes) {
                let _ = r.validate();
            }
        }
        11 => {
            if let Some(r) = body::<t::EthicsDecisionRequest>(bytes) {
                let _ = r.validate();
            }
        }
        12 => {
            if let Some(r) = body::<t::ethics::SubmissionContent>(bytes) {
                let _ = r.validate();
            }
        }
        _ => {
            let _ = body::<serde_json::Value>(bytes);
        }
    }
});
