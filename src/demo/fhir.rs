//! The demo's published plans as the hospital's other systems read them: through
//! careflow's FHIR R4 API, as the site manager (who reads every process).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::client::ApiClient;

/// The count a search matches (the searchset's `total`).
async fn total(api: &ApiClient, search: &str) -> Result<u64> {
    let bundle = api.fhir(search).await?;
    bundle["total"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("FHIR search {search}: the Bundle has no total"))
}

/// Reads the published theatre lists, scanner bookings and roster, and the census,
/// through FHIR, and says what an EPR would see.
pub async fn show(api: &ApiClient) -> Result<()> {
    let appointments = api.fhir_search_all("Appointment?_count=200").await?;
    // (process, status) -> count
    let mut by: BTreeMap<(String, String), u32> = BTreeMap::new();
    for a in &appointments {
        let process = a["serviceCategory"][0]["coding"][0]["code"]
            .as_str()
            .unwrap_or("other")
            .to_owned();
        let status = a["status"].as_str().unwrap_or("unknown").to_owned();
        *by.entry((process, status)).or_default() += 1;
    }
    let of = |process: &str| {
        let parts: Vec<String> = by
            .iter()
            .filter(|((p, _), _)| p == process)
            .map(|((_, s), n)| format!("{n} {s}"))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    };
    let schedules = api.fhir_search_all("Schedule?_count=200").await?;
    let actors: Vec<&str> = schedules
        .iter()
        .filter_map(|s| s["actor"][0]["reference"].as_str())
        .collect();
    let theatres = actors.iter().filter(|a| a.contains("theatre-")).count();
    let scanners = actors.iter().filter(|a| a.contains("scanner-")).count();
    eprintln!(
        "demo: the published plans through FHIR R4, as the EPR reads them ({}/fhir/r4, bearer \
         token from POST /api/login; GET {}/fhir/r4/metadata needs none):",
        api.base(),
        api.base()
    );
    eprintln!(
        "  Schedule: {} ({theatres} theatres, {scanners} scanners); Slot: {} theatre sessions and \
         scanner days",
        schedules.len(),
        total(api, "Slot?_count=1").await?
    );
    eprintln!(
        "  Appointment: theatre cases {}; scans {}",
        of("theatre"),
        of("scanner")
    );
    eprintln!(
        "  Practitioner: {} nurses, PractitionerRole: {} on the published roster; \
         ServiceRequest: {} orders",
        total(api, "Practitioner?_count=1").await?,
        total(api, "PractitionerRole?_count=1").await?,
        total(api, "ServiceRequest?_count=1").await?
    );
    eprintln!(
        "  Encounter: {} stays in progress; Location: {} (site, wards, rooms, beds, theatres, \
         scanners)",
        total(api, "Encounter?status=in-progress&_count=1").await?,
        total(api, "Location?_count=1").await?
    );
    anyhow::ensure!(
        !appointments.is_empty(),
        "the FHIR view shows no appointment although the demo published theatre lists and \
         scanner bookings"
    );
    Ok(())
}
