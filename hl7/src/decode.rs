//! From the bytes of one MLLP frame to an [`AdtMessage`] for the store, or the fault
//! that the ACK reports (with its segment, field and HL7 table 0357 error code).
//!
//! Parsing is `hl7-parser`'s; this module only picks the fields careflow needs,
//! decodes the character set (MSH-18) and escape sequences, and checks what is required.
//! Fault reasons name positions and codes, never values of PID.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use hl7_parser::datetime::parse_timestamp;
use hl7_parser::message::Separators;
use hl7_parser::Message;
use sha2::{Digest, Sha256};

use careflow_store::adt::{AdtEventType, AdtMessage, Place};
use careflow_types::{AgeGroup, Sex};

use crate::location::{LocationMap, Mapped};

/// HL7 table 0357 codes careflow answers with.
pub mod code {
    /// Segment sequence error (a required segment is missing).
    pub const SEGMENT_SEQUENCE: u16 = 100;
    /// Required field missing.
    pub const REQUIRED_FIELD: u16 = 101;
    /// Data type error.
    pub const DATA_TYPE: u16 = 102;
    /// Table value not found.
    pub const TABLE_VALUE: u16 = 103;
    /// Unsupported message type.
    pub const MESSAGE_TYPE: u16 = 200;
    /// Unsupported event code.
    pub const EVENT_CODE: u16 = 201;
    /// Unsupported version id.
    pub const VERSION: u16 = 203;
    /// Unknown key identifier (a stay careflow does not know open).
    pub const UNKNOWN_KEY: u16 = 204;
    /// Application record locked (a bed taken or closed).
    pub const RECORD_LOCKED: u16 = 206;
    /// Application internal error.
    pub const APPLICATION: u16 = 207;
}

/// Where and why a message fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Segment id.
    pub segment: String,
    /// Which occurrence of the segment (1-based).
    pub sequence: u32,
    /// Field number (0: the segment as a whole).
    pub field: u32,
    /// Component, when the fault lies in one.
    pub component: Option<u32>,
    /// HL7 table 0357 code.
    pub code: u16,
    /// What is wrong (no patient data).
    pub reason: String,
}

impl Fault {
    pub(crate) fn at(segment: &str, field: u32, code: u16, reason: impl Into<String>) -> Self {
        Self {
            segment: segment.into(),
            sequence: 1,
            field,
            component: None,
            code,
            reason: reason.into(),
        }
    }

    fn component(mut self, c: u32) -> Self {
        self.component = Some(c);
        self
    }
}

/// The MSH fields the ACK echoes.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// MSH-3.
    pub sending_application: String,
    /// MSH-4.
    pub sending_facility: String,
    /// MSH-5.
    pub receiving_application: String,
    /// MSH-6.
    pub receiving_facility: String,
    /// MSH-9.2.
    pub trigger: String,
    /// MSH-10.
    pub control_id: String,
    /// MSH-11 (P when absent).
    pub processing_id: String,
    /// MSH-12 (2.5 when absent or unusable).
    pub version: String,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// An ADT event careflow applies.
    Adt(Box<AdtMessage>, Header),
    /// Parses but is missing or contradicts something required: AE.
    Error(Header, Fault),
    /// Cannot be parsed, or is not a message careflow takes: AR.
    Reject(Header, Fault),
}

/// The text of a frame in the character set MSH-18 names (UTF-8 and ISO 8859-1; ASCII
/// when empty, read as UTF-8 and, failing that, as ISO 8859-1).
fn decode_charset(bytes: &[u8]) -> Result<String, Fault> {
    // MSH is ASCII in every character set careflow takes: find MSH-18 in a lossy view.
    let lossy = String::from_utf8_lossy(bytes);
    let first = lossy.split(['\r', '\n']).next().unwrap_or("");
    let charset = if first.starts_with("MSH") && first.len() > 3 {
        let sep = first[3..].chars().next().unwrap_or('|');
        first
            .split(sep)
            .nth(17)
            .unwrap_or("")
            .split('^')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_uppercase()
    } else {
        String::new()
    };
    let latin1 = |b: &[u8]| b.iter().map(|&c| c as char).collect::<String>();
    match charset.as_str() {
        "UNICODE UTF-8" | "UNICODE" | "UTF-8" => String::from_utf8(bytes.to_vec()).map_err(|e| {
            Fault::at(
                "MSH",
                18,
                code::DATA_TYPE,
                format!(
                    "MSH-18 says UTF-8 but byte {} is not valid UTF-8",
                    e.utf8_error().valid_up_to()
                ),
            )
        }),
        "8859/1" | "ISO-8859-1" | "ISO_IR 100" => Ok(latin1(bytes)),
        "" | "ASCII" => Ok(String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| latin1(bytes))),
        other => Err(Fault::at(
            "MSH",
            18,
            code::TABLE_VALUE,
            format!("character set {other} is not supported (UNICODE UTF-8, 8859/1 or ASCII)"),
        )),
    }
}

/// The segment (name, occurrence) that byte `offset` of `text` lies in.
fn segment_at(text: &str, offset: usize) -> (String, u32) {
    let mut counts = std::collections::HashMap::<&str, u32>::new();
    let mut start = 0;
    for seg in text.split('\r') {
        let name = seg.get(..3).unwrap_or(seg);
        let n = counts.entry(name).or_default();
        *n += 1;
        if offset <= start + seg.len() {
            return (name.to_owned(), *n);
        }
        start += seg.len() + 1;
    }
    ("MSH".into(), 1)
}

/// `value` with its HL7 escape sequences decoded (`\F\ \S\ \T\ \R\ \E\`, `\X0D\`,
/// `\X0A\`, `\.br\`; any other sequence, such as formatting, leaves its text; an
/// unterminated one is dropped), as hl7-parser's `display` does. Not that `display`:
/// hl7-parser 0.3.0 slices the value at character counts as if they were byte offsets,
/// which panics, or decodes the wrong text, when a non-ASCII character (a name in
/// ISO 8859-1 or UTF-8) comes before an escape sequence (found by `fuzz/hl7_decode`).
fn unescape(value: &str, seps: &Separators) -> String {
    let mut out = String::with_capacity(value.len());
    let mut sequence: Option<usize> = None;
    for (i, c) in value.char_indices() {
        match (c == seps.escape, sequence) {
            (true, None) => sequence = Some(i + c.len_utf8()),
            (true, Some(start)) => {
                sequence = None;
                match &value[start..i] {
                    "F" => out.push(seps.field),
                    "R" => out.push(seps.repetition),
                    "S" => out.push(seps.component),
                    "T" => out.push(seps.subcomponent),
                    "E" => out.push(seps.escape),
                    "X0A" => out.push('\n'),
                    "X0D" | ".br" => out.push('\r'),
                    other => out.push_str(other),
                }
            }
            (false, None) => out.push(c),
            (false, Some(_)) => {}
        }
    }
    out
}

struct Fields<'a> {
    msg: &'a Message<'a>,
    seps: Separators,
}

impl Fields<'_> {
    /// SEG-field.component of the first repeat, escapes decoded; `None` when empty.
    fn get(&self, seg: &str, field: usize, component: usize) -> Option<String> {
        let f = self.msg.segment(seg)?.field(field)?;
        let rep = f.repeat(1)?;
        let c = rep.component(component)?;
        let v = unescape(c.raw_value(), &self.seps);
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// The patient identifier of PID-3: the repeat whose identifier type (CX-5) is MR
    /// (medical record number) when there is one, else the first with an id.
    fn patient_identifier(&self) -> Option<String> {
        let field = self.msg.segment("PID")?.field(3)?;
        let decoded = |r: &hl7_parser::message::Repeat<'_>, c: usize| {
            r.component(c)
                .map(|c| unescape(c.raw_value(), &self.seps).trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let ids: Vec<(Option<String>, Option<String>)> = field
            .repeats()
            .map(|r| (decoded(r, 1), decoded(r, 5)))
            .filter(|(id, _)| id.is_some())
            .collect();
        ids.iter()
            .find(|(_, kind)| kind.as_deref() == Some("MR"))
            .or_else(|| ids.first())
            .and_then(|(id, _)| id.clone())
    }

    fn has(&self, seg: &str) -> bool {
        self.msg.segment(seg).is_some()
    }
}

/// An HL7 timestamp as UTC (no offset given: taken as UTC).
fn timestamp(value: &str, seg: &str, field: u32) -> Result<DateTime<Utc>, Fault> {
    let bad = |why: &str| {
        Fault::at(
            seg,
            field,
            code::DATA_TYPE,
            format!(
                "{seg}-{field} is not an HL7 timestamp (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ]): {why}"
            ),
        )
    };
    let t = parse_timestamp(value, false).map_err(|e| bad(&e.to_string()))?;
    let date = NaiveDate::from_ymd_opt(
        i32::from(t.year),
        u32::from(t.month.unwrap_or(1)),
        u32::from(t.day.unwrap_or(1)),
    )
    .ok_or_else(|| bad("no such date"))?;
    let naive = date
        .and_hms_micro_opt(
            u32::from(t.hour.unwrap_or(0)),
            u32::from(t.minute.unwrap_or(0)),
            u32::from(t.second.unwrap_or(0)),
            t.microsecond.unwrap_or(0),
        )
        .ok_or_else(|| bad("no such time"))?;
    let offset_secs = t
        .offset
        .map(|o| {
            let sign = if o.hours < 0 { -1 } else { 1 };
            i32::from(o.hours) * 3600 + sign * i32::from(o.minutes) * 60
        })
        .unwrap_or(0);
    let offset = chrono::FixedOffset::east_opt(offset_secs).ok_or_else(|| bad("bad offset"))?;
    Ok(offset
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(|| bad("ambiguous"))?
        .with_timezone(&Utc))
}

fn age_group(dob: Option<DateTime<Utc>>, at: DateTime<Utc>) -> AgeGroup {
    let Some(dob) = dob else {
        return AgeGroup::Adult;
    };
    let years = at.years_since(dob).unwrap_or(0);
    match years {
        0..16 => AgeGroup::Child,
        16..75 => AgeGroup::Adult,
        _ => AgeGroup::Elderly,
    }
}

/// Decodes one frame; an admit into a managed ward without a bed is an error (AE).
pub fn decode(frame: &[u8], locations: &LocationMap) -> Decoded {
    decode_with(frame, locations, false)
}

/// Decodes one frame; with `admit_without_bed`, an admit, registration or transfer
/// (A01, A04, A02) into a managed ward without a bed is an event for the ward
/// ([`Place::Ward`]), whose bed careflow's admission workflow chooses (and a discharge,
/// update or cancel may name the ward alone).
pub fn decode_with(frame: &[u8], locations: &LocationMap, admit_without_bed: bool) -> Decoded {
    let mut header = Header {
        processing_id: "P".into(),
        version: "2.5".into(),
        ..Header::default()
    };
    let text = match decode_charset(frame) {
        Ok(t) => t,
        Err(f) => return Decoded::Reject(header, f),
    };
    // CR, LF or CRLF segment ends, as senders send them; trailing ends dropped.
    let text = text.replace("\r\n", "\r").replace('\n', "\r");
    let text = text.trim_end_matches('\r');
    if !text.starts_with("MSH") {
        return Decoded::Reject(
            header,
            Fault::at(
                "MSH",
                0,
                code::SEGMENT_SEQUENCE,
                "the message does not start with an MSH segment",
            ),
        );
    }
    let msg = match Message::parse(text) {
        Ok(m) => m,
        Err(e) => {
            let (segment, sequence, position) = match &e {
                hl7_parser::parser::ParseError::FailedToParse { position, .. } => {
                    let (s, n) = segment_at(text, *position);
                    (s, n, *position)
                }
                hl7_parser::parser::ParseError::IncompleteInput(_) => {
                    let (s, n) = segment_at(text, text.len());
                    (s, n, text.len())
                }
            };
            return Decoded::Reject(
                header,
                Fault {
                    segment,
                    sequence,
                    field: 0,
                    component: None,
                    code: code::DATA_TYPE,
                    reason: format!("the message cannot be parsed at character {position}"),
                },
            );
        }
    };
    let f = Fields {
        msg: &msg,
        seps: msg.separators,
    };
    let field = |seg: &str, n: usize| f.get(seg, n, 1);
    header.sending_application = field("MSH", 3).unwrap_or_default();
    header.sending_facility = field("MSH", 4).unwrap_or_default();
    header.receiving_application = field("MSH", 5).unwrap_or_default();
    header.receiving_facility = field("MSH", 6).unwrap_or_default();
    header.control_id = field("MSH", 10).unwrap_or_default();
    if let Some(p) = field("MSH", 11) {
        header.processing_id = p;
    }
    let version = field("MSH", 12);
    header.trigger = f.get("MSH", 9, 2).unwrap_or_default();
    match version.as_deref() {
        Some(v)
            if SUPPORTED_VERSIONS
                .iter()
                .any(|s| v == *s || v.starts_with(&format!("{s}."))) =>
        {
            header.version = v.to_owned();
        }
        Some(v) => {
            return Decoded::Reject(
                header,
                Fault::at(
                    "MSH",
                    12,
                    code::VERSION,
                    format!("version {v} is not supported (2.2 to 2.8)"),
                ),
            )
        }
        None => {
            return Decoded::Reject(
                header,
                Fault::at(
                    "MSH",
                    12,
                    code::REQUIRED_FIELD,
                    "MSH-12 (version) is required",
                ),
            )
        }
    }
    match f.get("MSH", 9, 1).as_deref() {
        Some("ADT") => {}
        Some(other) => {
            return Decoded::Reject(
                header,
                Fault::at(
                    "MSH",
                    9,
                    code::MESSAGE_TYPE,
                    format!("message type {other} is not taken (ADT only)"),
                )
                .component(1),
            )
        }
        None => {
            return Decoded::Reject(
                header,
                Fault::at(
                    "MSH",
                    9,
                    code::REQUIRED_FIELD,
                    "MSH-9 (message type) is required",
                ),
            )
        }
    }
    // Older senders put the trigger in EVN-1 only.
    if header.trigger.is_empty() {
        header.trigger = field("EVN", 1).unwrap_or_default();
    }
    let Some(event_type) = AdtEventType::parse(&header.trigger) else {
        let fault = Fault::at(
            "MSH",
            9,
            code::EVENT_CODE,
            format!(
                "trigger event '{}' is not taken (A01 A02 A03 A04 A08 A11 A12 A13)",
                header.trigger
            ),
        )
        .component(2);
        return Decoded::Reject(header, fault);
    };
    match adt(&f, &header, event_type, text, locations, admit_without_bed) {
        Ok(m) => Decoded::Adt(Box::new(m), header),
        Err(fault) => Decoded::Error(header, fault),
    }
}

/// Versions careflow takes (MSH-12; 2.3.1, 2.5.1 and the like count as their family).
pub const SUPPORTED_VERSIONS: [&str; 7] = ["2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8"];

fn adt(
    f: &Fields<'_>,
    header: &Header,
    event_type: AdtEventType,
    text: &str,
    locations: &LocationMap,
    admit_without_bed: bool,
) -> Result<AdtMessage, Fault> {
    let field = |seg: &str, n: usize| f.get(seg, n, 1);
    if header.control_id.is_empty() {
        return Err(Fault::at(
            "MSH",
            10,
            code::REQUIRED_FIELD,
            "MSH-10 (message control id) is required",
        ));
    }
    if !f.has("PID") {
        return Err(Fault::at(
            "PID",
            0,
            code::SEGMENT_SEQUENCE,
            "the PID segment is required",
        ));
    }
    let patient_ref = f.patient_identifier().ok_or_else(|| {
        Fault::at(
            "PID",
            3,
            code::REQUIRED_FIELD,
            "PID-3 (patient identifier) is required",
        )
        .component(1)
    })?;
    let needs_pv1 = !matches!(event_type, AdtEventType::A08);
    if needs_pv1 && !f.has("PV1") {
        return Err(Fault::at(
            "PV1",
            0,
            code::SEGMENT_SEQUENCE,
            format!("the PV1 segment is required in {}", event_type.as_str()),
        ));
    }
    let ts_of = |seg: &str, n: u32| -> Result<Option<DateTime<Utc>>, Fault> {
        field(seg, n as usize)
            .map(|v| timestamp(&v, seg, n))
            .transpose()
    };
    // When the event happened: the stay's own times for admits and discharges, else the
    // event segment (EVN-6 occurred, EVN-2 recorded), else the message time.
    let own = match event_type {
        AdtEventType::A01 | AdtEventType::A04 => ts_of("PV1", 44)?,
        AdtEventType::A03 => ts_of("PV1", 45)?,
        _ => None,
    };
    let event_time = match own {
        Some(t) => t,
        None => match ts_of("EVN", 6)? {
            Some(t) => t,
            None => match ts_of("EVN", 2)? {
                Some(t) => t,
                None => ts_of("MSH", 7)?.ok_or_else(|| {
                    Fault::at(
                        "EVN",
                        2,
                        code::REQUIRED_FIELD,
                        "no event time: EVN-2, EVN-6 or MSH-7 is required",
                    )
                })?,
            },
        },
    };
    let dob = ts_of("PID", 7)?;
    let sex = match field("PID", 8).as_deref() {
        Some("F") => Some(Sex::Female),
        Some("M") => Some(Sex::Male),
        _ => None,
    };
    let patient_class = field("PV1", 2).unwrap_or_default();
    let place = if f.has("PV1") {
        let poc = f.get("PV1", 3, 1);
        let room = f.get("PV1", 3, 2);
        let bed = f.get("PV1", 3, 3);
        match poc {
            None => None,
            Some(poc) => match locations.resolve(&poc, room.as_deref(), bed.as_deref()) {
                Mapped::Place(p) => Some(p),
                // An admit, registration or transfer hands the choice of the bed to
                // careflow's admission workflow; a discharge, update or cancel names the
                // ward the patient was admitted to.
                Mapped::WardWithoutBed(ward) if admit_without_bed => {
                    Some(Place::Ward { ward_id: ward })
                }
                Mapped::WardWithoutBed(ward) => {
                    return Err(Fault::at(
                        "PV1",
                        3,
                        code::REQUIRED_FIELD,
                        format!(
                            "point of care {poc} is careflow's ward {ward}, which places patients in beds: PV1-3.3 (bed) is required; \
                             admit without a bed through careflow's admission workflow"
                        ),
                    )
                    .component(3))
                }
                Mapped::UnknownBed(ward) => {
                    return Err(Fault::at(
                        "PV1",
                        3,
                        code::TABLE_VALUE,
                        format!(
                            "room {} bed {} of point of care {poc} (careflow's ward {ward}) is not in the location map",
                            room.unwrap_or_default(),
                            bed.unwrap_or_default()
                        ),
                    )
                    .component(3))
                }
            },
        }
    } else {
        None
    };
    if matches!(event_type, AdtEventType::A01 | AdtEventType::A02) && place.is_none() {
        return Err(Fault::at(
            "PV1",
            3,
            code::REQUIRED_FIELD,
            format!(
                "PV1-3 (assigned location) is required in {}",
                event_type.as_str()
            ),
        )
        .component(1));
    }
    let expected_discharge = ts_of("PV2", 9)?;
    let content_sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(AdtMessage {
        sender: format!("{}^{}", header.sending_application, header.sending_facility),
        control_id: header.control_id.clone(),
        content_sha256,
        event_type,
        event_time,
        patient_ref,
        sex,
        age_group: age_group(dob, event_time),
        patient_class,
        place,
        expected_discharge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_after_characters_outside_ascii() {
        let seps = Separators::default();
        assert_eq!(unescape(r"Zoë\F\Ñúñez\S\ÿ\T\x", &seps), "Zoë|Ñúñez^ÿ&x");
        assert_eq!(unescape(r"a\E\b\X0D\c\.br\d\X0A\", &seps), "a\\b\rc\rd\n");
        assert_eq!(unescape(r"bold \H\on\N\ off", &seps), "bold HonN off");
        assert_eq!(unescape(r"cut \F", &seps), "cut ");
        assert_eq!(unescape("ÿÿ\\ÿ", &seps), "ÿÿ");
    }

    #[test]
    fn timestamps_with_and_without_offsets() {
        let t = timestamp("202612031015", "EVN", 2).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-03T10:15:00+00:00");
        let t = timestamp("20261203101530+0100", "EVN", 2).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-03T09:15:30+00:00");
        let err = timestamp("2026-12-03", "EVN", 2).unwrap_err();
        assert_eq!((err.segment.as_str(), err.field), ("EVN", 2));
    }

    #[test]
    fn charsets() {
        let latin = b"MSH|^~\\&|A|B|C|D|20261203||ADT^A01|1|P|2.5||||||8859/1\rPID|||1||M\xfcller";
        let text = decode_charset(latin).unwrap();
        assert!(text.contains("Müller"));
        let bad_utf8 =
            b"MSH|^~\\&|A|B|C|D|20261203||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|||1||M\xfcller";
        assert_eq!(decode_charset(bad_utf8).unwrap_err().field, 18);
    }

    #[test]
    fn parse_faults_name_the_segment() {
        assert_eq!(segment_at("MSH|x\rEVN|y\rPID|z", 13), ("PID".into(), 1));
        assert_eq!(segment_at("MSH|x\rEVN|y\rPID|z", 7), ("EVN".into(), 1));
    }
}
