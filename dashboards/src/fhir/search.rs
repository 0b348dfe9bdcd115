//! The search parameters every resource type here shares (`_id`, `identifier`,
//! `status`, `date`, reference parameters such as `location` and `partof`, `_count`
//! and `_offset`), checked by name and value, applied to the candidates a type lists,
//! and the page answered as a searchset Bundle.
//!
//! A type lists its candidates cheaply with what its parameters match on and a closure
//! that builds the resource; only the page's resources are built and read back through
//! `fhir-model`'s types, so a search over a year of bookings builds only those it returns.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use fhir_model::r4b::resources::Resource;
use serde_json::Value;

use crate::fhir::{base_url, fhir_json, searchset_page, FhirError, Paging};

/// One resource a search may return, with what the parameters match on.
pub(crate) struct Candidate {
    /// Logical id.
    pub id: String,
    /// (system, value) of each identifier.
    pub identifiers: Vec<(String, String)>,
    /// The `status` token ("" where the type has none).
    pub status: String,
    /// The period `date` compares with: start and end (inclusive); `None`: no date.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Reference parameters (name, `Type/id`), e.g. ("location", "Location/W1").
    pub refs: Vec<(&'static str, String)>,
    /// Builds the resource as FHIR JSON: only for the page a search returns.
    pub resource: Box<dyn FnOnce() -> Value + Send>,
}

/// A resource already built, as a [`Candidate::resource`].
pub(crate) fn ready(resource: Value) -> Box<dyn FnOnce() -> Value + Send> {
    Box::new(move || resource)
}

/// What one resource type accepts.
pub(crate) struct Spec {
    /// `Encounter`...
    pub type_name: &'static str,
    /// Parameters besides `_count` and `_offset`.
    pub params: &'static [&'static str],
    /// Status codes the type's `status` takes.
    pub statuses: &'static [&'static str],
    /// The parameter with date semantics (`date`, or `start` for Slot).
    pub date_param: &'static str,
}

/// The resource as `fhir-model` reads it: what is served is what the model accepts.
pub(crate) fn typed(resource: Value) -> Result<Resource, FhirError> {
    serde_json::from_value(resource).map_err(|e| FhirError::internal(format!("model: {e}")))
}

/// A date or dateTime as a search value or stored value: the instant range it covers.
pub(crate) fn date_range(v: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        let t = t.with_timezone(&Utc);
        return Some((t, t));
    }
    let day = |y: i32, m: u32, d: u32| {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|n| Utc.from_utc_datetime(&n))
    };
    let end = |next: DateTime<Utc>| next - Duration::microseconds(1);
    let parts: Vec<&str> = v.split('-').collect();
    let num = |s: &str| s.parse::<u32>().ok();
    match parts.as_slice() {
        [y] if y.len() == 4 => {
            let y = y.parse().ok()?;
            Some((day(y, 1, 1)?, end(day(y + 1, 1, 1)?)))
        }
        [y, m] if y.len() == 4 && m.len() == 2 => {
            let (y, m) = (y.parse().ok()?, num(m)?);
            let next = if m == 12 {
                day(y + 1, 1, 1)?
            } else {
                day(y, m + 1, 1)?
            };
            Some((day(y, m, 1)?, end(next)))
        }
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            let start = day(y.parse().ok()?, num(m)?, num(d)?)?;
            Some((start, end(start + Duration::days(1))))
        }
        _ => None,
    }
}

/// One `date` criterion: prefix and range.
struct DateCriterion {
    prefix: String,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
}

impl DateCriterion {
    fn parse(name: &str, v: &str) -> Result<Self, FhirError> {
        let (prefix, rest) = match v.get(..2) {
            Some(p @ ("eq" | "ne" | "gt" | "lt" | "ge" | "le" | "sa" | "eb" | "ap")) => {
                (p.to_owned(), &v[2..])
            }
            _ => ("eq".to_owned(), v),
        };
        let (lo, hi) = date_range(rest).ok_or_else(|| {
            FhirError::invalid(
                name,
                format!("{name} must be [prefix]YYYY[-MM[-DD[Thh:mm:ss+zz:zz]]], not {v:?}"),
            )
        })?;
        Ok(Self { prefix, lo, hi })
    }

    /// The FHIR comparison of the target range (s, e) with the search range.
    fn matches(&self, (s, e): (DateTime<Utc>, DateTime<Utc>)) -> bool {
        let eq = s >= self.lo && e <= self.hi;
        match self.prefix.as_str() {
            "eq" => eq,
            "ne" => !eq,
            "gt" => e > self.hi,
            "lt" => s < self.lo,
            "ge" => e >= self.lo,
            "le" => s <= self.hi,
            "sa" => s > self.hi,
            "eb" => e < self.lo,
            _ => s <= self.hi && e >= self.lo,
        }
    }
}

/// A parsed query: checked parameters and the pairs to repeat in paging links.
pub(crate) struct Query {
    values: HashMap<String, Vec<String>>,
    dates: Vec<DateCriterion>,
    pub(crate) paging: Paging,
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `raw` for `spec`: an unknown parameter, a repeated one (other than the date
    /// parameter, whose repeats bound a range), a bad status or date is refused by name.
    pub(crate) fn parse(spec: &Spec, raw: Option<&str>) -> Result<Self, FhirError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut dates = Vec::new();
        let (mut count, mut offset) = (None, None);
        for (k, v) in &pairs {
            match k.as_str() {
                "_count" => count = Some(v.as_str()),
                "_offset" => offset = Some(v.as_str()),
                name if name == spec.date_param && spec.params.contains(&name) => {
                    dates.push(DateCriterion::parse(name, v)?);
                }
                name if spec.params.contains(&name) => {
                    if values.contains_key(name) {
                        return Err(FhirError::invalid(
                            name,
                            format!("search parameter {name:?} given twice (use a comma for OR)"),
                        ));
                    }
                    let list: Vec<String> = v.split(',').map(str::to_owned).collect();
                    if name == "status" {
                        if let Some(bad) =
                            list.iter().find(|s| !spec.statuses.contains(&s.as_str()))
                        {
                            return Err(FhirError::invalid(
                                "status",
                                format!(
                                    "status of {} must be one of {}, not {bad:?}",
                                    spec.type_name,
                                    spec.statuses.join(", ")
                                ),
                            ));
                        }
                    }
                    values.insert(name.to_owned(), list);
                }
                other => {
                    let mut known: Vec<&str> = spec.params.to_vec();
                    known.extend(["_count", "_offset"]);
                    return Err(FhirError::invalid(
                        other,
                        format!(
                            "unknown search parameter {other:?} for {} (supported: {})",
                            spec.type_name,
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        let paging = Paging::parse(count, offset)?;
        let pairs = pairs
            .into_iter()
            .filter(|(k, _)| k != "_count" && k != "_offset")
            .collect();
        Ok(Self {
            values,
            dates,
            paging,
            pairs,
        })
    }

    fn matches(&self, c: &Candidate) -> bool {
        for (name, wanted) in &self.values {
            let ok = match name.as_str() {
                "_id" => wanted.contains(&c.id),
                "identifier" => wanted.iter().any(|tok| match tok.split_once('|') {
                    Some((sys, val)) => c
                        .identifiers
                        .iter()
                        .any(|(s, v)| v == val && (sys.is_empty() || s == sys)),
                    None => c.identifiers.iter().any(|(_, v)| v == tok),
                }),
                "status" => wanted.contains(&c.status),
                reference => wanted.iter().any(|w| {
                    // A token parameter (category) may carry its system: `system|code`.
                    let w = &w.rsplit('|').next().unwrap_or(w).to_owned();
                    c.refs.iter().any(|(n, r)| {
                        *n == reference
                            && (r == w || r.rsplit_once('/').is_some_and(|(_, id)| id == w))
                    })
                }),
            };
            if !ok {
                return false;
            }
        }
        self.dates
            .iter()
            .all(|d| c.period.is_some_and(|p| d.matches(p)))
    }
}

/// Answers a search over `candidates` as a searchset Bundle (one page).
pub(crate) fn respond(
    spec: &Spec,
    headers: &HeaderMap,
    query: &Query,
    candidates: Vec<Candidate>,
) -> Result<Response, FhirError> {
    let base = base_url(headers);
    let matching: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| query.matches(c))
        .collect();
    let total = matching.len();
    let mut page = Vec::new();
    // Only the page is read through the model; the rest only counts.
    for c in matching
        .into_iter()
        .skip(query.paging.offset)
        .take(query.paging.count)
    {
        let url = format!("{base}/{}/{}", spec.type_name, c.id);
        page.push((url, typed((c.resource)())?));
    }
    let bundle = searchset_page(
        &format!("{base}/{}", spec.type_name),
        &query.pairs,
        &query.paging,
        total,
        page,
    )?;
    Ok(fhir_json(StatusCode::OK, &Resource::from(bundle)))
}

/// Answers a read of `id` among `candidates`.
pub(crate) fn read(
    spec: &Spec,
    id: &str,
    candidates: Vec<Candidate>,
) -> Result<Response, FhirError> {
    let c = candidates
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| FhirError::not_found(format!("{}/{id} is not known", spec.type_name)))?;
    Ok(fhir_json(StatusCode::OK, &typed((c.resource)())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: &str, b: &str) -> (DateTime<Utc>, DateTime<Utc>) {
        (date_range(a).unwrap().0, date_range(b).unwrap().1)
    }

    // The prefixes compare the target's period with the range the value covers at its
    // precision (a day, a month, a year, an instant).
    #[test]
    fn date_prefixes_compare_ranges() {
        let stay = range("2026-12-01T08:00:00Z", "2026-12-03T10:00:00Z");
        let yes = |v: &str| DateCriterion::parse("date", v).unwrap().matches(stay);
        assert!(yes("2026-12"), "within the month");
        assert!(!yes("2026-12-01"), "not within the day");
        assert!(yes("ne2026-12-01"));
        assert!(yes("ge2026-12-03") && !yes("ge2026-12-04"));
        assert!(yes("le2026-12-01") && !yes("le2026-11-30"));
        assert!(yes("gt2026-12-02") && !yes("gt2026-12-03"));
        assert!(yes("lt2026-12-02") && !yes("lt2026-12-01"));
        assert!(yes("sa2026-11-30") && !yes("sa2026-12-01"));
        assert!(yes("eb2026-12-04") && !yes("eb2026-12-03"));
        assert!(yes("ap2026-12-02"));
        assert!(yes("2026") && !yes("2025"));
        assert!(DateCriterion::parse("date", "ge2026-13-01").is_err());
        assert!(DateCriterion::parse("date", "tomorrow").is_err());
    }
}
