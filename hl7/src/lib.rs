//! careflow-hl7: the hospital's HL7 v2 ADT feed into careflow's census.
//!
//! `careflow serve --hl7-listen ADDR --hl7-locations FILE` runs [`Hl7Service`] beside
//! the API: MLLP framing (`hl7-mllp-codec`), parsing (`hl7-parser`), the location map
//! from the sender's PV1-3 codes to careflow's beds, and original-mode ACKs sent only
//! after the store has committed. The store (`careflow_store::adt`) applies the events;
//! this crate never writes SQL and knows nothing of Temporal or the API.
#![warn(missing_docs)]

pub mod ack;
pub mod decode;
pub mod listener;
pub mod location;
pub mod sender;
pub mod tls;

pub use listener::{Admissions, Hl7Service};
pub use location::LocationMap;
