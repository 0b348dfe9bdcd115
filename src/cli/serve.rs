//! `careflow serve`, `careflow worker` and `careflow demo`: the long-running commands.

use anyhow::Result;
use clap::Args;

use crate::cli::Global;
use crate::demo::DemoOptions;

/// Options of `serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Also accept the hospital's HL7 v2 ADT feed (MLLP over TCP) on this address.
    #[arg(long, requires = "hl7_locations")]
    pub hl7_listen: Option<String>,
    /// File mapping the sender's PV1-3 codes (point of care, room, bed) to careflow's
    /// wards and beds: careflow's JSON map, or the hospital's FHIR R4 Location export (a
    /// Bundle of any type, or NDJSON) where careflow's ids are identifiers in system
    /// urn:careflow:location and wards, rooms and beds hang together by partOf (see
    /// hl7/README.md).
    #[arg(long, requires = "hl7_listen")]
    pub hl7_locations: Option<std::path::PathBuf>,
    /// In a FHIR Location export, the identifier system of the sender's PV1-3 codes
    /// (default: each Location's one identifier that is not careflow's).
    #[arg(long, value_name = "URI", requires = "hl7_locations")]
    pub hl7_location_system: Option<String>,
    /// Accept the HL7 feed over TLS only: the server certificate chain (PEM).
    #[arg(long, requires_all = ["hl7_listen", "hl7_tls_key"])]
    pub hl7_tls_cert: Option<std::path::PathBuf>,
    /// The private key of `--hl7-tls-cert` (PEM).
    #[arg(long, requires = "hl7_tls_cert")]
    pub hl7_tls_key: Option<std::path::PathBuf>,
}

impl ServeArgs {
    fn hl7(&self) -> Option<crate::serve::Hl7Listen> {
        match (&self.hl7_listen, &self.hl7_locations) {
            (Some(addr), Some(locations)) => Some(crate::serve::Hl7Listen {
                addr: addr.clone(),
                locations: locations.clone(),
                location_system: self.hl7_location_system.clone(),
                tls: self.hl7_tls_cert.clone().zip(self.hl7_tls_key.clone()),
            }),
            _ => None,
        }
    }
}

/// Options of `demo`.
#[derive(Args, Clone, Debug)]
pub struct DemoArgs {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Address of the HL7 v2 ADT listener (MLLP) that the demo's patient administration
    /// system feeds part of the day through; its location map is written to the data
    /// directory (`demo-hl7-locations.json`).
    #[arg(long, default_value = "127.0.0.1:2575")]
    hl7_listen: String,
    /// Return when the day is done instead of serving on.
    #[arg(long)]
    exit: bool,
    /// Admissions during the day.
    #[arg(long, default_value_t = 60)]
    admissions: u32,
    /// Seed of the demo's random choices.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

/// `careflow serve`: Temporal (embedded unless `--temporal`), a worker and the HTTP API.
pub async fn serve(g: &Global, args: ServeArgs) -> Result<()> {
    let hl7 = args.hl7();
    crate::serve::serve(g, &args.listen, None, hl7).await
}

/// `careflow worker`: a worker only.
pub async fn worker(g: &Global) -> Result<()> {
    crate::serve::worker_only(g).await
}

/// `careflow demo`: seeds the demo hospital, runs its day and serves.
pub async fn demo(g: &Global, args: DemoArgs) -> Result<()> {
    let options = DemoOptions {
        exit: args.exit,
        admissions: args.admissions,
        seed: args.seed,
        hl7_listen: args.hl7_listen,
    };
    crate::demo::run(g, &args.listen, options).await
}
