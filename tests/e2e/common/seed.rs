//! The hospital and people a scenario starts with, and the synthetic admission
//! requests it sends.

use std::collections::HashMap;

use rand::Rng;

use careflow_store::hospital::{self, WardSpec};
use careflow_store::{users, Db};
use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Role, Sex};

/// The demo hospital `copies` times over (ward ids suffixed), so a test can admit a few
/// hundred patients without running out of beds.
pub fn layout(copies: u32) -> Vec<WardSpec> {
    let mut out = Vec::new();
    for c in 1..=copies {
        for mut w in hospital::demo_layout() {
            if c > 1 {
                w.ward_id = format!("{}-{c}", w.ward_id);
                w.name = format!("{} ({c})", w.name);
            }
            out.push(w);
        }
    }
    out
}

/// The password of every user a scenario seeds.
pub const PASSWORD: &str = "e2e password 2026";

/// Seeds the hospital and users (with [`PASSWORD`]) directly in the domain database
/// (before careflow starts); returns an API token per user for the typed clients. CLI
/// commands `--as NAME` need `Node::login` first, as a person would.
pub async fn seed(
    db: &Db,
    layout: &[WardSpec],
    people: &[(&str, Role)],
) -> HashMap<String, String> {
    let beds = hospital::seed_layout(db, layout)
        .await
        .expect("seed layout");
    assert!(beds > 0);
    let mut tokens = HashMap::new();
    for (name, role) in people {
        let token = users::upsert_with_password(db, name, *role, Some(PASSWORD), "e2e")
            .await
            .expect("user");
        tokens.insert((*name).to_owned(), token);
    }
    tokens
}

/// Specialty with no ward of its own: its patients get an outlier bed that a bed
/// manager must approve.
pub const NO_WARD_SPECIALTY: &str = "neurology";

/// The `n`th synthetic admission request. About `approval_share` of them ask for a
/// specialty without a ward (approval needed); the rest match a ward of the demo
/// hospital and get a bed directly while beds last.
pub fn request(n: usize, approval_share: f64, rng: &mut impl Rng) -> AdmissionRequest {
    const SPECIALTIES: [&str; 6] = [
        "general_medicine",
        "general_medicine",
        "elderly_care",
        "cardiology",
        "general_surgery",
        "orthopaedics",
    ];
    let (specialty, age_group) = if rng.random_bool(approval_share) {
        (NO_WARD_SPECIALTY, AgeGroup::Adult)
    } else if rng.random_bool(0.08) {
        ("paediatrics", AgeGroup::Child)
    } else {
        let s = SPECIALTIES[rng.random_range(0..SPECIALTIES.len())];
        let age = if s == "elderly_care" || rng.random_bool(0.3) {
            AgeGroup::Elderly
        } else {
            AgeGroup::Adult
        };
        (s, age)
    };
    AdmissionRequest {
        // Synthetic identifiers, never printed.
        patient_ref: format!("E2E-{n:06}"),
        kind: if rng.random_bool(0.6) {
            AdmissionKind::Emergency
        } else {
            AdmissionKind::Elective
        },
        sex: if rng.random_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        },
        age_group,
        specialty: specialty.into(),
        isolation: false,
        expected_los_days: rng.random_range(1..10),
        requested_by: "e2e".into(),
    }
}
