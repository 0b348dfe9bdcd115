//! The location map from the hospital's FHIR Location export: a Bundle built from
//! careflow's own `GET /fhir/r4/Location` (careflow's ids as identifiers in careflow's
//! system) plus the sender's PV1-3 codes as identifiers in the sender's system, loaded
//! as a Bundle and as NDJSON, with and without `--hl7-location-system`; and broken
//! exports refused naming the entry and element.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_hl7::location::{Mapped, CAREFLOW_LOCATION_SYSTEM};
use careflow_hl7::LocationMap;
use careflow_store::adt::Place;
use careflow_store::{hospital, users};
use careflow_types::Role;

const PAS: &str = "urn:oid:1.2.826.0.1.999.1.locations";

async fn careflow_locations(state: &AppState, token: &str) -> Vec<Value> {
    let resp = app(state.clone())
        .oneshot(
            Request::builder()
                .uri("/fhir/r4/Location?_count=500")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    let bundle: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        !bundle["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next"),
        "one page"
    );
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect()
}

/// The sender's code of a careflow place: wards without the dash (CARDA), rooms and
/// beds by their last part (BAY1, B2).
fn with_sender_code(mut r: Value, parents: &std::collections::HashMap<String, String>) -> Value {
    let id = r["id"].as_str().unwrap().to_owned();
    let level = r["physicalType"]["coding"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = match level.as_str() {
        "wa" => Some(id.replace('-', "")),
        "ro" | "bd" => {
            let parent = parents.get(&id).cloned().unwrap_or_default();
            id.strip_prefix(&format!("{parent}-")).map(str::to_owned)
        }
        _ => None,
    };
    if let Some(code) = code {
        r["identifier"]
            .as_array_mut()
            .unwrap()
            .push(json!({"system": PAS, "value": code}));
    }
    r
}

fn entry_of(bundle: &Value, id: &str) -> usize {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["resource"]["id"] == id)
        .unwrap_or_else(|| panic!("{id} in the bundle"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_location_export_maps_the_senders_codes() {
    let (_server, client) = careflow_testkit::temporal::start_test_server().await;
    let (dir, db) = careflow_testkit::db::sqlite().await;
    hospital::seed_layout(&db, &hospital::demo_layout())
        .await
        .unwrap();
    let token = users::upsert(&db, "beds.ben", Role::BedManager, "test")
        .await
        .unwrap();
    let state = AppState {
        db: db.clone(),
        client,
    };
    let own = careflow_locations(&state, &token).await;
    // Every careflow place carries its id in careflow's system.
    assert!(own.iter().all(|r| r["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["system"] == CAREFLOW_LOCATION_SYSTEM && i["value"] == r["id"])));
    let parents: std::collections::HashMap<String, String> = own
        .iter()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_owned(),
                r["partOf"]["reference"]
                    .as_str()?
                    .trim_start_matches("Location/")
                    .to_owned(),
            ))
        })
        .collect();
    let mut resources: Vec<Value> = own
        .into_iter()
        .map(|r| with_sender_code(r, &parents))
        .collect();
    // The sender's own places careflow does not manage, and other resource types.
    resources.push(json!({"resourceType": "Location", "id": "pas-ed", "identifier": [{"system": PAS, "value": "ED"}],
        "physicalType": {"coding": [{"code": "wa"}]}}));
    resources.push(json!({"resourceType": "Organization", "id": "trust", "name": "the trust"}));
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": resources.iter().map(|r| json!({
            "fullUrl": format!("https://pas.example/fhir/Location/{}", r["id"].as_str().unwrap()),
            "resource": r,
        })).collect::<Vec<_>>(),
    });
    let path = dir.path().join("locations.fhir.json");
    let ndjson = dir.path().join("locations.ndjson");
    std::fs::write(&path, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    std::fs::write(
        &ndjson,
        resources
            .iter()
            .map(|r| r.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    for (file, system) in [(&path, Some(PAS)), (&path, None), (&ndjson, None)] {
        let map = LocationMap::load_with(file, &db, system)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(
            map.resolve("CARDA", Some("BAY1"), Some("B2")),
            Mapped::Place(Place::Bed {
                ward_id: "CARD-A".into(),
                bed_id: "CARD-A-BAY1-B2".into()
            })
        );
        assert_eq!(
            map.resolve("GMED1", Some("SR1"), Some("B1")),
            Mapped::Place(Place::Bed {
                ward_id: "GMED-1".into(),
                bed_id: "GMED-1-SR1-B1".into()
            })
        );
        assert_eq!(
            map.resolve("RESP", None, None),
            Mapped::WardWithoutBed("RESP".into())
        );
        assert_eq!(
            map.resolve("ED", Some("CHAIR"), Some("1")),
            Mapped::Place(Place::Elsewhere("ED".into()))
        );
        assert_eq!(
            map.resolve("CARDA", Some("BAY9"), Some("B1")),
            Mapped::UnknownBed("CARD-A".into())
        );
    }

    // Broken exports: refused, naming the entry and element.
    let refused = |bundle: Value, system: Option<&'static str>| {
        let path = dir.path().join("bad.json");
        std::fs::write(&path, serde_json::to_vec(&bundle).unwrap()).unwrap();
        let db = db.clone();
        async move {
            LocationMap::load_with(&path, &db, system)
                .await
                .expect_err("refused")
                .to_string()
        }
    };
    let bed = entry_of(&bundle, "CARD-A-BAY1-B2");
    let mut bad = bundle.clone();
    bad["entry"][bed]["resource"]["identifier"][0]["value"] = json!("CARD-A-BAY1-B99");
    let e = refused(bad, Some(PAS)).await;
    assert!(
        e.contains(&format!(
            "entry[{bed}].resource.identifier[0]: CARD-A-BAY1-B99 is not a careflow bed"
        )),
        "{e}"
    );
    let mut bad = bundle.clone();
    let other_room = entry_of(&bundle, "CARD-B-BAY1");
    bad["entry"][other_room]["resource"]["identifier"][1]["value"] = json!("BAY1");
    bad["entry"][bed]["resource"]["partOf"]["reference"] = json!("Location/CARD-B-BAY1");
    let e = refused(bad, Some(PAS)).await;
    assert!(
        e.contains(&format!("entry[{bed}].resource.partOf: bed CARD-A-BAY1-B2 is on careflow's ward CARD-A, not on CARD-B")),
        "{e}"
    );
    let mut bad = bundle.clone();
    bad["entry"][bed]["resource"]["partOf"]["reference"] = json!("Location/nowhere");
    let e = refused(bad, None).await;
    assert!(
        e.contains(&format!(
            "entry[{bed}].resource.partOf: Location/nowhere is not a Location of this export"
        )),
        "{e}"
    );
    let ward = entry_of(&bundle, "CARD-A");
    let mut bad = bundle.clone();
    bad["entry"][ward]["resource"]["identifier"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": "urn:other", "value": "CA"}));
    let e = refused(bad.clone(), None).await;
    assert!(
        e.contains(&format!(
            "entry[{ward}].resource.identifier[2]: more than one identifier besides careflow's"
        )),
        "{e}"
    );
    // Naming the sender's system settles it.
    LocationMap::load_with(&path, &db, Some(PAS)).await.unwrap();
    let mut bad = bundle.clone();
    bad["entry"][ward]["resource"]["status"] = json!(5);
    let e = refused(bad, None).await;
    assert!(
        e.contains(&format!(
            "entry[{ward}].resource: not a valid FHIR Location"
        )),
        "{e}"
    );
    let mut bad = bundle.clone();
    bad["entry"][ward]["resource"]["identifier"][0]["value"] = json!("CARD-Z");
    let e = refused(bad, None).await;
    assert!(
        e.contains(&format!(
            "entry[{ward}].resource.identifier[0]: CARD-Z is not a careflow ward"
        )),
        "{e}"
    );
}
