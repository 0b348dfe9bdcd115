//! Bed holds: a bed proposed to one admission is not proposed to another, and the
//! held patient's sex counts for the same-sex bay rule.

mod common;

use careflow_store::hospital::{
    bed_states, choose_bed, hold_bed, release_holds, seed_layout, WardSpec,
};
use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Sex};

fn request(sex: Sex) -> AdmissionRequest {
    AdmissionRequest {
        patient_ref: "PK-test".into(),
        kind: AdmissionKind::Emergency,
        sex,
        age_group: AgeGroup::Adult,
        specialty: "cardiology".into(),
        isolation: false,
        expected_los_days: 2,
        requested_by: "clerk".into(),
    }
}

#[tokio::test]
async fn held_beds_are_not_offered_to_other_admissions() {
    let (_dir, db) = common::sqlite().await;
    let ward = WardSpec {
        ward_id: "CARD".into(),
        name: "Cardiology".into(),
        specialty: "cardiology".into(),
        paediatric: false,
        bays: (2, 2),
        side_rooms: 0,
    };
    seed_layout(&db, &[ward]).await.expect("seed");
    let female = request(Sex::Female);
    let first = choose_bed(
        &female,
        &bed_states(db.pool(), Some("wf-a")).await.expect("beds"),
    )
    .proposal
    .expect("a bed");
    let mut conn = db.pool().acquire().await.expect("conn");
    hold_bed(&mut conn, "wf-a", Some(&first.bed_id), &female)
        .await
        .expect("hold");

    // wf-a still sees its own bed as free; wf-b gets another bed, in the same bay
    // (a woman holds it), never the held one.
    let again = choose_bed(
        &female,
        &bed_states(db.pool(), Some("wf-a")).await.expect("beds"),
    );
    assert_eq!(again.proposal.expect("bed").bed_id, first.bed_id);
    let second = choose_bed(
        &female,
        &bed_states(db.pool(), Some("wf-b")).await.expect("beds"),
    )
    .proposal
    .expect("a bed");
    assert_ne!(second.bed_id, first.bed_id);
    assert_eq!(
        second.room_id, first.room_id,
        "fills the partly taken bay first"
    );
    // A man is not put in the bay a woman holds a bed in.
    let male = choose_bed(
        &request(Sex::Male),
        &bed_states(db.pool(), Some("wf-c")).await.expect("beds"),
    )
    .proposal
    .expect("a bed");
    assert_ne!(male.room_id, first.room_id);

    release_holds(&mut conn, "wf-a").await.expect("release");
    let after = choose_bed(
        &female,
        &bed_states(db.pool(), Some("wf-b")).await.expect("beds"),
    );
    assert_eq!(
        after.proposal.expect("bed").bed_id,
        first.bed_id,
        "released bed is free again"
    );
}
