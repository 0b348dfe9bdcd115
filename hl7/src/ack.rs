//! Original-mode acknowledgements: MSA AA, AE or AR, and an ERR segment naming the
//! segment, field and reason of a fault (ERR-1 for versions before 2.5, ERR-2, ERR-3,
//! ERR-4 and ERR-8 from 2.5 on).

use chrono::Utc;
use hl7_parser::message::Separators;

use crate::decode::{Fault, Header};

/// MSA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application accept.
    Accept,
    /// Application error.
    Error,
    /// Application reject.
    Reject,
}

impl AckCode {
    /// The code as MSA-1 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "AA",
            Self::Error => "AE",
            Self::Reject => "AR",
        }
    }
}

fn table_text(code: u16) -> &'static str {
    match code {
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        203 => "Unsupported version id",
        204 => "Unknown key identifier",
        206 => "Application record locked",
        _ => "Application internal error",
    }
}

/// Before 2.5, ERR-1 (ELD) carries the position; from 2.5 on, ERR-2 (ERL) and ERR-3.
fn legacy_err(version: &str) -> bool {
    ["2.2", "2.3", "2.4"]
        .iter()
        .any(|v| version == *v || version.starts_with(&format!("{v}.")))
}

/// The ACK for `header` with `code`, and the fault's ERR segment when there is one.
/// Segments end with CR.
pub fn ack(header: &Header, code: AckCode, fault: Option<&Fault>) -> String {
    let s = Separators::default();
    let e = |v: &str| s.encode(v).to_string();
    let now = Utc::now();
    let control = format!("CF{}", now.format("%Y%m%d%H%M%S%6f"));
    let mut out = format!(
        "MSH|^~\\&|CAREFLOW|{}|{}|{}|{}||ACK^{}^ACK|{}|{}|{}\r",
        e(if header.receiving_facility.is_empty() {
            "CAREFLOW"
        } else {
            &header.receiving_facility
        }),
        e(&header.sending_application),
        e(&header.sending_facility),
        now.format("%Y%m%d%H%M%S"),
        e(&header.trigger),
        control,
        e(&header.processing_id),
        e(&header.version),
    );
    out.push_str(&format!(
        "MSA|{}|{}|{}\r",
        code.as_str(),
        e(&header.control_id),
        fault.map(|f| e(&f.reason)).unwrap_or_default()
    ));
    if let Some(f) = fault {
        let reason = e(&f.reason);
        let code_text = table_text(f.code);
        if legacy_err(&header.version) {
            out.push_str(&format!(
                "ERR|{}^{}^{}^{}&{}&HL70357\r",
                f.segment, f.sequence, f.field, f.code, code_text
            ));
        } else {
            let component = f.component.map(|c| c.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "ERR||{}^{}^{}^^{}|{}^{}^HL70357|E||||{}\r",
                f.segment, f.sequence, f.field, component, f.code, code_text, reason
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: &str) -> Header {
        Header {
            sending_application: "PAS".into(),
            sending_facility: "GENERAL".into(),
            trigger: "A01".into(),
            control_id: "MSG1".into(),
            processing_id: "P".into(),
            version: version.into(),
            ..Header::default()
        }
    }

    #[test]
    fn ae_names_segment_field_and_reason_in_both_layouts() {
        let fault = Fault::at("PV1", 3, 207, "bed X is occupied | by another");
        let new = ack(&header("2.5.1"), AckCode::Error, Some(&fault));
        let msg = hl7_parser::Message::parse(new.trim_end_matches('\r')).unwrap();
        assert_eq!(msg.query("MSA.1").unwrap().raw_value(), "AE");
        assert_eq!(msg.query("MSA.2").unwrap().raw_value(), "MSG1");
        assert_eq!(msg.query("ERR.2").unwrap().raw_value(), "PV1^1^3^^");
        assert_eq!(msg.query("ERR.3.1").unwrap().raw_value(), "207");
        // The reason's field separator is escaped, so the segment keeps its fields.
        assert_eq!(
            msg.query("ERR.8").unwrap().raw_value(),
            "bed X is occupied \\F\\ by another"
        );
        let old = ack(&header("2.3"), AckCode::Error, Some(&fault));
        let msg = hl7_parser::Message::parse(old.trim_end_matches('\r')).unwrap();
        assert_eq!(msg.query("ERR.1.1").unwrap().raw_value(), "PV1");
        assert_eq!(msg.query("ERR.1.3").unwrap().raw_value(), "3");
    }
}
