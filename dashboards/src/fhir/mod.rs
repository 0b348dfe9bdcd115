//! FHIR R4 view of careflow at `/fhir/r4` (JSON): `metadata` (the CapabilityStatement,
//! readable without login as FHIR servers do) and read and search of the hospital's
//! Locations (site, wards, rooms, beds with their operational status).
//!
//! Resources are the typed models of the `fhir-model` crate (its R4B models: for the
//! resources served here R4B is R4, and `fhirVersion` says 4.0.1). Every error is an
//! OperationOutcome whose `expression` names the element or search parameter at
//! fault, with the status code the FHIR RESTful API gives it.

mod encounter;
mod location;
mod scheduling;
mod search;
mod service_request;
mod staff;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fhir_model::r4b::codes::{
    BundleType, CapabilityStatementKind, FHIRVersion, IssueSeverity, IssueType, PublicationStatus,
    ResourceType, RestfulCapabilityMode, SearchEntryMode, SearchParamType,
};
use fhir_model::r4b::resources::{
    Bundle, BundleEntry, BundleEntrySearch, BundleLink, CapabilityStatement,
    CapabilityStatementRest, CapabilityStatementRestInteraction, CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction, CapabilityStatementRestResourceSearchParam,
    CapabilityStatementSoftware, OperationOutcome, OperationOutcomeIssue, Resource,
};
use fhir_model::{DateTime, Instant};

use careflow_store::users::{self, User};
use careflow_types::Role;

use crate::AppState;

/// The media type of FHIR JSON.
pub(crate) const FHIR_JSON: &str = "application/fhir+json";

/// The largest page a search returns, whatever `_count` asks for.
const MAX_COUNT: usize = 500;
/// The page size when `_count` is not given.
const DEFAULT_COUNT: usize = 50;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/metadata", get(metadata))
        .route("/Location", get(location::search).post(read_only))
        .route("/Location/{id}", get(location::read))
        .route("/Encounter", get(encounter::search).post(read_only))
        .route("/Encounter/{id}", get(encounter::read))
        .route(
            "/Appointment",
            get(scheduling::search_appointments).post(read_only),
        )
        .route("/Appointment/{id}", get(scheduling::read_appointment))
        .route("/Slot", get(scheduling::search_slots).post(read_only))
        .route("/Slot/{id}", get(scheduling::read_slot))
        .route(
            "/Schedule",
            get(scheduling::search_schedules).post(read_only),
        )
        .route("/Schedule/{id}", get(scheduling::read_schedule))
        .route(
            "/Practitioner",
            get(staff::search_practitioners).post(read_only),
        )
        .route("/Practitioner/{id}", get(staff::read_practitioner))
        .route(
            "/PractitionerRole",
            get(staff::search_roles).post(read_only),
        )
        .route("/PractitionerRole/{id}", get(staff::read_role))
        .route(
            "/ServiceRequest",
            get(service_request::search).post(service_request::create),
        )
        .route("/ServiceRequest/{id}", get(service_request::read))
        .route("/", axum::routing::post(service_request::transaction))
        .fallback(unknown_path)
}

/// `POST` of a type careflow only serves: the resource is not imported.
async fn read_only(uri: axum::http::Uri) -> FhirError {
    let type_name = uri.path().rsplit('/').next().unwrap_or("").to_owned();
    FhirError::not_supported(
        &type_name,
        format!(
            "careflow does not create {type_name} resources: they come from its own processes \
             (read and search only); ServiceRequest is the resource it takes"
        ),
    )
}

/// Any other path under `/fhir/r4`.
async fn unknown_path(uri: axum::http::Uri) -> FhirError {
    FhirError::not_found(format!(
        "{} is not a resource or interaction this server offers (see /fhir/r4/metadata)",
        uri.path()
    ))
}

/// A FHIR error: answered as an OperationOutcome.
#[derive(Debug)]
pub(crate) struct FhirError {
    status: StatusCode,
    code: IssueType,
    diagnostics: String,
    /// The element or search parameter at fault (FHIRPath or parameter name).
    expression: Option<String>,
}

impl FhirError {
    pub(crate) fn invalid(expression: &str, diagnostics: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: IssueType::Invalid,
            diagnostics: diagnostics.into(),
            expression: Some(expression.to_owned()),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: IssueType::NotFound,
            diagnostics: what.into(),
            expression: None,
        }
    }

    pub(crate) fn forbidden(what: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: IssueType::Forbidden,
            diagnostics: what.into(),
            expression: None,
        }
    }

    /// Valid FHIR that careflow's processes cannot take (422).
    pub(crate) fn unprocessable(expression: &str, diagnostics: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: IssueType::BusinessRule,
            diagnostics: diagnostics.into(),
            expression: Some(expression.to_owned()),
        }
    }

    /// The same order is already stored (409).
    pub(crate) fn duplicate(expression: &str, diagnostics: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: IssueType::Duplicate,
            diagnostics: diagnostics.into(),
            expression: Some(expression.to_owned()),
        }
    }

    /// An interaction this server does not offer for a type (405).
    pub(crate) fn not_supported(expression: &str, diagnostics: impl Into<String>) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: IssueType::NotSupported,
            diagnostics: diagnostics.into(),
            expression: Some(expression.to_owned()),
        }
    }

    fn login() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: IssueType::Login,
            diagnostics:
                "authentication required: Authorization: Bearer TOKEN from POST /api/login".into(),
            expression: None,
        }
    }

    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        // The detail is logged, never shown: it may name tables or values.
        tracing::error!(%detail, "FHIR request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: IssueType::Exception,
            diagnostics: "internal error".into(),
            expression: None,
        }
    }

    fn outcome(&self) -> Result<OperationOutcome, fhir_model::BuilderError> {
        let issue = OperationOutcomeIssue::builder()
            .severity(IssueSeverity::Error)
            .code(self.code)
            .diagnostics(self.diagnostics.clone())
            .expression(self.expression.iter().cloned().map(Some).collect())
            .build()?;
        OperationOutcome::builder().issue(vec![Some(issue)]).build()
    }
}

impl From<careflow_store::Error> for FhirError {
    fn from(e: careflow_store::Error) -> Self {
        match e {
            careflow_store::Error::NotFound(what) => Self::not_found(format!("{what} not found")),
            other => Self::internal(other),
        }
    }
}

impl From<fhir_model::BuilderError> for FhirError {
    fn from(e: fhir_model::BuilderError) -> Self {
        Self::internal(format!("building a FHIR resource: {e}"))
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        match self.outcome() {
            Ok(outcome) => fhir_json(self.status, &Resource::from(outcome)),
            Err(e) => {
                tracing::error!(%e, "building an OperationOutcome");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// A FHIR resource as `application/fhir+json`.
pub(crate) fn fhir_json(status: StatusCode, resource: &Resource) -> Response {
    match serde_json::to_vec(resource) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            body,
        )
            .into_response(),
        Err(e) => FhirError::internal(format!("serialising a FHIR resource: {e}")).into_response(),
    }
}

/// The signed-in user of a FHIR request (the same bearer tokens as `/api`).
pub(crate) async fn caller(state: &AppState, headers: &HeaderMap) -> Result<User, FhirError> {
    let token = crate::api::bearer(headers).ok_or_else(FhirError::login)?;
    users::authenticate(&state.db, token)
        .await?
        .ok_or_else(FhirError::login)
}

/// The signed-in user of a FHIR request, who must hold one of `allowed` (403 otherwise).
pub(crate) async fn caller_in(
    state: &AppState,
    headers: &HeaderMap,
    allowed: &[Role],
) -> Result<User, FhirError> {
    let user = caller(state, headers).await?;
    if allowed.contains(&user.role) {
        Ok(user)
    } else {
        Err(FhirError::forbidden(format!(
            "role {} may not do this (allowed: {})",
            user.role,
            allowed
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// The system of careflow's pseudonymous patient keys.
pub(crate) const PATIENT_KEY_SYSTEM: &str = "urn:careflow:patient-key";
/// The system of the hospital numbers careflow keeps (only in its patients table).
pub(crate) const MRN_SYSTEM: &str = "urn:careflow:mrn";

/// How a caller sees patients: by hospital number (a role whose work needs it), by
/// pseudonymous key (everyone else), or not at all (the auditor).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatientView {
    Identified,
    Pseudonymous,
    Withheld,
}

impl PatientView {
    pub(crate) fn for_role(role: Role, identified: &[Role]) -> Self {
        if role == Role::Auditor {
            PatientView::Withheld
        } else if identified.contains(&role) {
            PatientView::Identified
        } else {
            PatientView::Pseudonymous
        }
    }

    /// The view with the hospital numbers of `keys` looked up where it shows them.
    pub(crate) async fn resolve(
        self,
        state: &AppState,
        keys: &[&str],
    ) -> Result<ResolvedView, FhirError> {
        let numbers = if self == PatientView::Identified {
            careflow_store::views::patient_refs(&state.db, keys).await?
        } else {
            std::collections::HashMap::new()
        };
        Ok(ResolvedView {
            view: self,
            numbers,
        })
    }
}

/// A [`PatientView`] ready to write patient references.
pub(crate) struct ResolvedView {
    view: PatientView,
    numbers: std::collections::HashMap<String, String>,
}

impl ResolvedView {
    /// The reference to the patient of `key` as this view shows it (a logical
    /// reference by identifier: careflow serves no Patient resource).
    pub(crate) fn reference(&self, key: &str) -> serde_json::Value {
        match (self.view, self.numbers.get(key)) {
            (PatientView::Withheld, _) => serde_json::json!({"display": "withheld"}),
            (PatientView::Identified, Some(mrn)) => {
                serde_json::json!({"identifier": {"system": MRN_SYSTEM, "value": mrn}})
            }
            _ => serde_json::json!({"identifier": {"system": PATIENT_KEY_SYSTEM, "value": key}}),
        }
    }
}

/// A stable FHIR id (`[A-Za-z0-9.-]{1,64}`) for a thing named by several ids.
pub(crate) fn compound_id(prefix: &str, parts: &[&str]) -> String {
    format!(
        "{prefix}-{}",
        &careflow_store::audit::sha256_json(&parts)[..24]
    )
}

/// `_count` and the page offset of a search, checked.
pub(crate) struct Paging {
    pub(crate) count: usize,
    pub(crate) offset: usize,
}

impl Paging {
    pub(crate) fn parse(count: Option<&str>, offset: Option<&str>) -> Result<Self, FhirError> {
        let number = |name: &str, v: &str| {
            v.parse::<usize>().map_err(|_| {
                FhirError::invalid(
                    name,
                    format!("{name} must be a whole number >= 0, not {v:?}"),
                )
            })
        };
        let count = match count {
            Some(v) => number("_count", v)?.min(MAX_COUNT),
            None => DEFAULT_COUNT,
        };
        let offset = match offset {
            Some(v) => number("_offset", v)?,
            None => 0,
        };
        Ok(Self { count, offset })
    }
}

/// A searchset Bundle of `page` (already cut from `total` matches), with self, first,
/// next and previous links that repeat the query (`base` is the resource type's URL,
/// `query` the search parameters other than paging).
pub(crate) fn searchset_page(
    base: &str,
    query: &[(String, String)],
    paging: &Paging,
    total: usize,
    page: Vec<(String, Resource)>,
) -> Result<Bundle, FhirError> {
    let link = |relation: &str, offset: usize| -> Result<Option<BundleLink>, FhirError> {
        let mut pairs: Vec<(String, String)> = query.to_vec();
        pairs.push(("_count".into(), paging.count.to_string()));
        pairs.push(("_offset".into(), offset.to_string()));
        let qs = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Ok(Some(
            BundleLink::builder()
                .relation(relation.to_owned())
                .url(format!("{base}?{qs}"))
                .build()?,
        ))
    };
    let mut links = vec![link("self", paging.offset)?, link("first", 0)?];
    if paging.offset + paging.count < total && paging.count > 0 {
        links.push(link("next", paging.offset + paging.count)?);
    }
    if paging.offset > 0 {
        links.push(link(
            "previous",
            paging.offset.saturating_sub(paging.count.max(1)),
        )?);
    }
    let mut entries = Vec::new();
    for (url, resource) in page {
        entries.push(Some(
            BundleEntry::builder()
                .full_url(url)
                .resource(resource)
                .search(
                    BundleEntrySearch::builder()
                        .mode(SearchEntryMode::Match)
                        .build()?,
                )
                .build()?,
        ));
    }
    Ok(Bundle::builder()
        .r#type(BundleType::Searchset)
        .total(u32::try_from(total).unwrap_or(u32::MAX))
        .link(links)
        .entry(entries)
        .build()?)
}

/// The server's base URL as the client reached it (`Host` header), for fullUrl and
/// paging links.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/fhir/r4")
}

/// `GET /fhir/r4/metadata`: what this server supports. No login: clients read it to
/// find out how to log in and what they may ask.
async fn metadata(State(_state): State<AppState>) -> Result<Response, FhirError> {
    let interaction = |code: &str| {
        CapabilityStatementRestResourceInteraction::builder()
            .code(code.to_owned())
            .build()
            .map(Some)
    };
    let param = |name: &str, kind: SearchParamType| {
        CapabilityStatementRestResourceSearchParam::builder()
            .name(name.to_owned())
            .r#type(kind)
            .build()
            .map(Some)
    };
    let resource = |kind: ResourceType, create: bool, params: &[(&str, SearchParamType)]| {
        let mut interactions = vec![interaction("read")?, interaction("search-type")?];
        if create {
            interactions.push(interaction("create")?);
        }
        let mut search = Vec::new();
        for (name, t) in params {
            search.push(param(name, *t)?);
        }
        search.push(param("_count", SearchParamType::Number)?);
        CapabilityStatementRestResource::builder()
            .r#type(kind)
            .interaction(interactions)
            .search_param(search)
            .build()
            .map(Some)
    };
    use SearchParamType::{Date, Reference, Token};
    let resources = vec![
        resource(
            ResourceType::Location,
            false,
            &[
                ("_id", Token),
                ("identifier", Token),
                ("status", Token),
                ("partof", Reference),
                ("operational-status", Token),
            ],
        )?,
        resource(
            ResourceType::Encounter,
            false,
            &[
                ("_id", Token),
                ("identifier", Token),
                ("status", Token),
                ("date", Date),
                ("location", Reference),
                ("partof", Reference),
            ],
        )?,
        resource(
            ResourceType::Appointment,
            false,
            &[
                ("_id", Token),
                ("identifier", Token),
                ("status", Token),
                ("date", Date),
                ("location", Reference),
                ("based-on", Reference),
                ("slot", Reference),
            ],
        )?,
        resource(
            ResourceType::Slot,
            false,
            &[
                ("_id", Token),
                ("identifier", Token),
                ("status", Token),
                ("start", Date),
                ("schedule", Reference),
            ],
        )?,
        resource(
            ResourceType::Schedule,
            false,
            &[
                ("_id", Token),
                ("identifier", Token),
                ("date", Date),
                ("actor", Reference),
            ],
        )?,
        resource(
            ResourceType::Practitioner,
            false,
            &[("_id", Token), ("identifier", Token)],
        )?,
        resource(
            ResourceType::PractitionerRole,
            false,
            &[
                ("_id", Token),
                ("identifier", Token),
                ("date", Date),
                ("practitioner", Reference),
            ],
        )?,
        resource(
            ResourceType::ServiceRequest,
            true,
            &[
                ("_id", Token),
                ("identifier", Token),
                ("status", Token),
                ("date", Date),
                ("category", Token),
            ],
        )?,
    ];
    let rest = CapabilityStatementRest::builder()
        .mode(RestfulCapabilityMode::Server)
        .documentation(
            "Bearer tokens from POST /api/login; roles as the rest of careflow's API.".into(),
        )
        .resource(resources)
        .interaction(vec![Some(
            CapabilityStatementRestInteraction::builder()
                .code("transaction".to_owned())
                .build()?,
        )])
        .build()?;
    let now = Instant(
        fhir_model::time::OffsetDateTime::from_unix_timestamp(chrono::Utc::now().timestamp())
            .map_err(FhirError::internal)?,
    );
    let statement = CapabilityStatement::builder()
        .status(PublicationStatus::Active)
        .date(DateTime::DateTime(now))
        .kind(CapabilityStatementKind::Instance)
        .name("careflow".into())
        .software(
            CapabilityStatementSoftware::builder()
                .name("careflow".into())
                .version(env!("CARGO_PKG_VERSION").into())
                .build()?,
        )
        .fhir_version(FHIRVersion::N401)
        .format(vec![Some("json".into()), Some(FHIR_JSON.into())])
        .rest(vec![Some(rest)])
        .build()?;
    Ok(fhir_json(StatusCode::OK, &Resource::from(statement)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A bad search parameter is answered as an OperationOutcome naming it, with 400.
    #[tokio::test]
    async fn errors_are_operation_outcomes_naming_the_element() {
        let resp = FhirError::invalid("_count", "must be a number").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["resourceType"], "OperationOutcome");
        assert_eq!(v["issue"][0]["severity"], "error");
        assert_eq!(v["issue"][0]["code"], "invalid");
        assert_eq!(v["issue"][0]["expression"][0], "_count");
    }

    // Pages: total counts every match, next only while more remain, previous after the first.
    #[test]
    fn searchset_pages_with_links() {
        let paging = Paging::parse(Some("2"), Some("2")).unwrap();
        let matches = (0..5)
            .map(|i| {
                let loc = fhir_model::r4b::resources::Location::builder()
                    .id(format!("B{i}"))
                    .build()
                    .unwrap();
                (
                    format!("http://h/fhir/r4/Location/B{i}"),
                    Resource::from(loc),
                )
            })
            .collect();
        let q = vec![("partof".to_owned(), "Location/W 1".to_owned())];
        let matches: Vec<(String, Resource)> = matches;
        let total = matches.len();
        let page = matches.into_iter().skip(2).take(2).collect();
        let bundle = searchset_page("http://h/fhir/r4/Location", &q, &paging, total, page).unwrap();
        let v = serde_json::to_value(Resource::from(bundle)).unwrap();
        assert_eq!(v["type"], "searchset");
        assert_eq!(v["total"], 5);
        assert_eq!(v["entry"].as_array().unwrap().len(), 2);
        assert_eq!(v["entry"][0]["resource"]["id"], "B2");
        let rel: Vec<&str> = v["link"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["relation"].as_str().unwrap())
            .collect();
        assert_eq!(rel, ["self", "first", "next", "previous"]);
        assert_eq!(
            v["link"][2]["url"],
            "http://h/fhir/r4/Location?partof=Location%2FW+1&_count=2&_offset=4"
        );
        assert!(Paging::parse(Some("x"), None).is_err());
    }
}
