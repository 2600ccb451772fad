//! The Desk half: Zoho Desk API v1 under `/api/v1` (`docs/zoho-behaviour.md` §4–5).
//!
//! One handler takes every `/api/v1` request through the same gate, so every endpoint enforces
//! the same rules in the same order: concurrency limit, injected fault, OAuth token (checked
//! against the Accounts half), route (404 / 405), `orgId` header, scope, daily credits, and only
//! then the endpoint itself, which validates its input. Each step answers with Zoho's status and
//! `errorCode`, and every answer carries the rate-limit headers.

mod handlers;
mod limits;
mod portal;
mod time;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Shared;
use crate::accounts::TokenStatus;
use crate::faults::{Fault, Route};
use crate::server::{ConnectionKill, Counted, fault_response, take_fault};
use handlers::Call;
pub use portal::{
    SEEDED_ACCOUNTS, SEEDED_AGENTS, SEEDED_CONTACTS, SEEDED_DEPARTMENTS, SEEDED_TICKETS,
};

/// Where the Desk API lives, relative to the emulator's base URL.
pub(crate) const PREFIX: &str = "/api/v1";
/// The seeded organization's id.
pub const DEFAULT_ORG_ID: &str = "60000000001";
/// Another organization Zoho knows, which the seeded token does not belong to: an `orgId` header
/// naming it is answered with `OAUTH_ORG_MISMATCH`.
pub const DEFAULT_OTHER_ORG_ID: &str = "60000000002";

/// Configuration of the Desk half.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    /// The portal's organization id (a string of digits), expected in the `orgId` header.
    pub org_id: String,
    /// An organization that exists but is not the token's (answered with `OAUTH_ORG_MISMATCH`).
    pub other_org_id: String,
    /// Desk requests allowed in flight at once; more are refused with `TOO_MANY_REQUESTS`. The
    /// default, 10, is Zoho's Express/Standard limit: a client that fits it fits every paid
    /// edition.
    pub concurrency_limit: usize,
    /// API credits per UTC day (default: Professional, 75,000 + 500 per seeded agent).
    pub daily_credits: u64,
    /// Seed of the generated portal data; the same seed gives the same data.
    pub seed: u64,
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            org_id: DEFAULT_ORG_ID.to_owned(),
            other_org_id: DEFAULT_OTHER_ORG_ID.to_owned(),
            concurrency_limit: 10,
            daily_credits: 75_000 + 500 * SEEDED_AGENTS as u64,
            seed: 1,
        }
    }
}

/// State of the Desk half.
#[derive(Debug)]
pub(crate) struct Desk {
    org_id: String,
    other_org_id: String,
    portal: Mutex<portal::Portal>,
    limits: Mutex<limits::Limits>,
}

impl Desk {
    pub(crate) fn new(config: DeskConfig) -> Self {
        Desk {
            portal: Mutex::new(portal::Portal::seeded(&config.org_id, config.seed)),
            limits: Mutex::new(limits::Limits::new(
                config.concurrency_limit,
                config.daily_credits,
            )),
            org_id: config.org_id,
            other_org_id: config.other_org_id,
        }
    }

    pub(crate) fn org_id(&self) -> &str {
        &self.org_id
    }

    pub(crate) fn other_org_id(&self) -> &str {
        &self.other_org_id
    }

    fn portal(&self) -> std::sync::MutexGuard<'_, portal::Portal> {
        self.portal.lock().expect("portal lock")
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, limits::Limits> {
        self.limits.lock().expect("limits lock")
    }

    pub(crate) fn set_concurrency_limit(&self, limit: usize) {
        self.limits().set_concurrency_limit(limit);
    }

    pub(crate) fn set_daily_credits(&self, credits: u64) {
        self.limits().set_daily_credits(credits);
    }

    pub(crate) fn credits_remaining(&self, wall: std::time::SystemTime) -> u64 {
        self.limits().remaining(time::epoch_ms(wall))
    }

    pub(crate) fn peak_concurrency(&self) -> usize {
        self.limits().peak()
    }

    pub(crate) fn ticket_count(&self) -> usize {
        self.portal().live_tickets().count()
    }

    pub(crate) fn tickets_with_subject(&self, subject: &str) -> usize {
        self.portal()
            .live_tickets()
            .filter(|t| portal::text(&t.fields, "subject") == subject)
            .count()
    }

    pub(crate) fn contact_count(&self) -> usize {
        self.portal().contacts.len()
    }
}

/// What an endpoint needs from a token's scopes (`Desk.<area>.<OP>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Create,
    Update,
    Delete,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "READ",
            Op::Create => "CREATE",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
        }
    }
}

type Handler = fn(&mut portal::Portal, &Call) -> handlers::Reply;

/// One Desk endpoint.
struct Endpoint {
    /// `"<METHOD> <template>"`: the route label in the counters, and the route itself.
    label: &'static str,
    /// Scopes required, all of them.
    needs: &'static [(&'static str, Op)],
    /// Credits charged (`zoho-behaviour.md` §4: 1 for a get-by-id, 3 for a list or search).
    cost: u64,
    handler: Handler,
}

const ORGANIZATIONS: &str = "GET /organizations";
const BASIC: &[(&str, Op)] = &[("basic", Op::Read)];
const TICKETS_READ: &[(&str, Op)] = &[("tickets", Op::Read)];
const CONTACTS_READ: &[(&str, Op)] = &[("contacts", Op::Read)];

/// Every endpoint. Templates with fewer `{parameters}` win, so `/tickets/search` is not a ticket id.
const ENDPOINTS: &[Endpoint] = &[
    ep(ORGANIZATIONS, BASIC, 1, handlers::organizations),
    ep("GET /tickets", TICKETS_READ, 3, handlers::list_tickets),
    ep(
        "POST /tickets",
        &[("tickets", Op::Create)],
        1,
        handlers::create_ticket,
    ),
    ep(
        "GET /tickets/search",
        &[("search", Op::Read), ("tickets", Op::Read)],
        3,
        handlers::search_tickets,
    ),
    ep(
        "POST /tickets/moveToTrash",
        &[("tickets", Op::Delete)],
        1,
        handlers::trash_tickets,
    ),
    ep("GET /tickets/{id}", TICKETS_READ, 1, handlers::get_ticket),
    ep(
        "PATCH /tickets/{id}",
        &[("tickets", Op::Update)],
        1,
        handlers::update_ticket,
    ),
    ep(
        "GET /tickets/{id}/threads",
        TICKETS_READ,
        3,
        handlers::list_threads,
    ),
    ep(
        "GET /tickets/{id}/threads/{threadId}",
        TICKETS_READ,
        1,
        handlers::get_thread,
    ),
    ep(
        "GET /tickets/{id}/comments",
        TICKETS_READ,
        3,
        handlers::list_comments,
    ),
    ep(
        "POST /tickets/{id}/comments",
        &[("tickets", Op::Create)],
        1,
        handlers::create_comment,
    ),
    ep(
        "GET /tickets/{id}/History",
        TICKETS_READ,
        3,
        handlers::history,
    ),
    ep("GET /contacts", CONTACTS_READ, 3, handlers::list_contacts),
    ep(
        "POST /contacts",
        &[("contacts", Op::Create)],
        1,
        handlers::create_contact,
    ),
    ep(
        "GET /contacts/search",
        &[("search", Op::Read), ("contacts", Op::Read)],
        3,
        handlers::search_contacts,
    ),
    ep(
        "GET /contacts/{id}",
        CONTACTS_READ,
        1,
        handlers::get_contact,
    ),
    ep(
        "PATCH /contacts/{id}",
        &[("contacts", Op::Update)],
        1,
        handlers::update_contact,
    ),
    ep("GET /accounts", CONTACTS_READ, 3, handlers::list_accounts),
    ep(
        "GET /accounts/{id}",
        CONTACTS_READ,
        1,
        handlers::get_account,
    ),
    ep("GET /agents", BASIC, 3, handlers::list_agents),
    ep("GET /agents/{id}", BASIC, 1, handlers::get_agent),
    ep("GET /departments", BASIC, 3, handlers::list_departments),
];

const fn ep(
    label: &'static str,
    needs: &'static [(&'static str, Op)],
    cost: u64,
    handler: Handler,
) -> Endpoint {
    Endpoint {
        label,
        needs,
        cost,
        handler,
    }
}

/// Where a request's method and path lead.
enum Resolved {
    Found(&'static Endpoint, Vec<String>),
    /// The path exists (this template) but not with this method.
    WrongMethod(&'static str),
    NotFound,
}

impl Resolved {
    /// The counter label: the endpoint's, or the method with the template it missed (`*` when
    /// no template matched), so labels stay a small, bounded set.
    fn label(&self, method: &str) -> Cow<'static, str> {
        match self {
            Resolved::Found(endpoint, _) => Cow::Borrowed(endpoint.label),
            Resolved::WrongMethod(template) => Cow::Owned(format!("{method} {template}")),
            Resolved::NotFound => Cow::Owned(format!("{method} *")),
        }
    }
}

/// Matches `path` (below `/api/v1`) against the endpoint table.
fn resolve(method: &str, path: &str) -> Resolved {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let matching: Vec<(&'static Endpoint, &'static str, Vec<String>)> = ENDPOINTS
        .iter()
        .filter_map(|endpoint| {
            let (_, template) = endpoint.label.split_once(' ')?;
            let params = match_template(template, &segments)?;
            Some((endpoint, template, params))
        })
        .collect();
    let Some(fewest) = matching.iter().map(|(_, _, params)| params.len()).min() else {
        return Resolved::NotFound;
    };
    let mut most_specific = matching
        .into_iter()
        .filter(|(_, _, params)| params.len() == fewest)
        .peekable();
    let template = most_specific
        .peek()
        .map_or("", |(_, template, _)| *template);
    most_specific
        .find(|(endpoint, _, _)| {
            endpoint
                .label
                .split_once(' ')
                .is_some_and(|(m, _)| m == method)
        })
        .map_or(Resolved::WrongMethod(template), |(endpoint, _, params)| {
            Resolved::Found(endpoint, params)
        })
}

/// The `{parameter}` values when `segments` fit `template`.
fn match_template(template: &str, segments: &[&str]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template.split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            params.push((*segment).to_owned());
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Holds a place in the portal's concurrency count until dropped, also when the connection is
/// dropped mid-request.
struct Slot<'a> {
    desk: &'a Desk,
    admitted: bool,
}

impl<'a> Slot<'a> {
    fn enter(desk: &'a Desk) -> Self {
        let admitted = desk.limits().enter();
        Slot { desk, admitted }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.desk.limits().leave();
    }
}

/// Every `/api/v1` request. The work runs on its own task, not on the connection's: Zoho
/// finishes what it started when a client gives up, so a create whose answer came too late for
/// the client's timeout still creates.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    match tokio::spawn(process(shared, request)).await {
        Ok(Some(response)) => response,
        // A `Drop` fault: close the connection and never answer.
        Ok(None) => {
            if let Some(kill) = kill {
                kill.kill();
            }
            std::future::pending().await
        }
        Err(_) => error(500, "INTERNAL_SERVER_ERROR", "The emulator failed.").into_response(),
    }
}

/// Counts, limits, faults and answers one request; `None` when a fault drops the connection.
async fn process(shared: Arc<Shared>, request: Request) -> Option<Response> {
    let method = request.method().as_str().to_owned();
    let path = request
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .unwrap_or_default()
        .to_owned();
    let resolved = resolve(&method, &path);
    let counted = Counted::start(&shared, resolved.label(&method));
    {
        let mut stats = shared.stats.lock().expect("stats lock");
        stats.desk_requests += 1;
        for name in request.headers().keys() {
            if !stats.desk_header_names.contains(name.as_str()) {
                stats.desk_header_names.insert(name.as_str().to_owned());
            }
        }
    }
    let slot = Slot::enter(&shared.desk);
    let mut weight = 0;
    let faulted = if slot.admitted {
        match take_fault(&shared, Route::Desk) {
            // `counted` records the request with status 0 as it drops.
            Some(Fault::Drop) => return None,
            Some(Fault::Latency { millis }) => {
                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                None
            }
            Some(fault) => fault_response(Route::Desk, fault),
            None => None,
        }
    } else {
        shared
            .stats
            .lock()
            .expect("stats lock")
            .desk_too_many_requests += 1;
        Some(too_many_requests())
    };
    let response = match faulted {
        Some(response) => response,
        None => gate(&shared, request, &resolved, &mut weight)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    };
    drop(slot);
    let remaining = shared.desk.credits_remaining(shared.clock.wall());
    Some(counted.finish(with_rate_headers(response, weight, remaining)))
}

/// The checks after concurrency and faults, in Zoho's order, then the endpoint. `weight` is set
/// to the credits charged.
async fn gate(
    shared: &Shared,
    request: Request,
    resolved: &Resolved,
    weight: &mut u64,
) -> Result<Response, Refusal> {
    let scopes = authenticate(shared, request.headers())?;
    let (endpoint, params) = match resolved {
        Resolved::Found(endpoint, params) => (*endpoint, params.clone()),
        Resolved::WrongMethod(_) => {
            return Err(error(
                405,
                "METHOD_NOT_ALLOWED",
                "The requested method is not allowed for this resource.",
            ));
        }
        Resolved::NotFound => return Err(not_found()),
    };
    if endpoint.label != ORGANIZATIONS {
        check_org(&shared.desk, request.headers())?;
    }
    check_scopes(&scopes, endpoint)?;

    let now_ms = time::epoch_ms(shared.clock.wall());
    let charged = shared.desk.limits().charge(endpoint.cost, now_ms);
    if let Err(retry_after) = charged {
        shared
            .stats
            .lock()
            .expect("stats lock")
            .desk_threshold_exceeded += 1;
        let mut refusal = error(
            429,
            "THRESHOLD_EXCEEDED",
            "The daily API credit limit of this portal has been exceeded. Please try again tomorrow.",
        );
        refusal.retry_after = Some(retry_after);
        return Err(refusal);
    }
    *weight = endpoint.cost;

    let query: HashMap<String, String> =
        Query::<Vec<(String, String)>>::try_from_uri(request.uri())
            .map(|Query(pairs)| pairs.into_iter().collect())
            .map_err(|_| {
                error(
                    422,
                    "UNPROCESSABLE_ENTITY",
                    "The query string is malformed.",
                )
            })?;
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .map_err(|_| {
            error(
                413,
                "RESOURCE_SIZE_EXCEEDED",
                "The request body exceeds the allowed size.",
            )
        })?;
    let call = Call {
        params,
        query,
        body,
        now_ms,
    };
    (endpoint.handler)(&mut shared.desk.portal(), &call)
}

/// The token's scopes, or the 401 Zoho sends: `UNAUTHORIZED` without usable credentials,
/// `INVALID_OAUTH` for a token that is not live (unknown, expired, revoked, evicted).
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Vec<String>, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Zoho-oauthtoken"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(error(
            401,
            "UNAUTHORIZED",
            "You are not authenticated to perform this operation.",
        ));
    };
    let now = shared.clock.now();
    match shared
        .accounts
        .lock()
        .expect("accounts lock")
        .introspect(token, now)
    {
        TokenStatus::Valid { scopes, .. } => Ok(scopes),
        _ => Err(error(
            401,
            "INVALID_OAUTH",
            "The OAuth Token you provided is invalid.",
        )),
    }
}

fn check_org(desk: &Desk, headers: &HeaderMap) -> Result<(), Refusal> {
    let org = headers
        .get("orgid")
        .and_then(|value| value.to_str().ok())
        .map_or("", str::trim);
    if org == desk.org_id {
        Ok(())
    } else if org.is_empty() {
        Err(error(422, "INVALID_DATA", "The orgId header is missing."))
    } else if org == desk.other_org_id {
        // 401, like the other token problems; a client must not refresh on it (`zoho-behaviour.md` §4).
        Err(error(
            401,
            "OAUTH_ORG_MISMATCH",
            "The OAuth token does not belong to the organization in the orgId header.",
        ))
    } else {
        Err(error(
            422,
            "INVALID_DATA",
            "The orgId header does not identify an organization.",
        ))
    }
}

/// 401 `SCOPE_MISMATCH` unless the token grants every scope the endpoint needs. 401 rather than
/// 403 on purpose: the client must tell it apart from `INVALID_OAUTH` by `errorCode`, not status.
fn check_scopes(scopes: &[String], endpoint: &Endpoint) -> Result<(), Refusal> {
    for (area, op) in endpoint.needs {
        if !scopes.iter().any(|scope| grants(scope, area, *op)) {
            return Err(error(
                401,
                "SCOPE_MISMATCH",
                &format!(
                    "The OAuth token does not have the scope this operation needs (Desk.{area}.{}).",
                    op.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `scope` grants `op` on `area`: ALL covers everything, WRITE every change.
fn grants(scope: &str, area: &str, op: Op) -> bool {
    let parts: Vec<&str> = scope.split('.').collect();
    let [service, scope_area, granted] = parts[..] else {
        return false;
    };
    service.eq_ignore_ascii_case("Desk")
        && scope_area.eq_ignore_ascii_case(area)
        && match granted.to_ascii_uppercase().as_str() {
            "ALL" => true,
            "WRITE" => op != Op::Read,
            granted => granted == op.name(),
        }
}

fn with_rate_headers(mut response: Response, weight: u64, remaining: u64) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-rate-limit-request-weight-v3"),
        HeaderValue::from(weight),
    );
    headers.insert(
        HeaderName::from_static("x-rate-limit-remaining-v3"),
        HeaderValue::from(remaining),
    );
    response
}

/// A JSON answer.
fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// An error answer. Kept apart from `Response` (which is large) so checks can return it in a
/// `Result` cheaply; it becomes a response at the end.
#[derive(Debug)]
struct Refusal {
    status: u16,
    body: Value,
    /// Seconds, for the `Retry-After` header.
    retry_after: Option<u64>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, self.body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Zoho's error body: `{"errorCode":…,"message":…}`.
fn error(status: u16, code: &str, message: &str) -> Refusal {
    Refusal {
        status,
        body: json!({ "errorCode": code, "message": message }),
        retry_after: None,
    }
}

fn not_found() -> Refusal {
    error(
        404,
        "URL_NOT_FOUND",
        "The requested resource could not be found.",
    )
}

/// The concurrency refusal (also what a `Throttle` fault on a Desk route answers).
pub(crate) fn too_many_requests() -> Response {
    error(
        429,
        "TOO_MANY_REQUESTS",
        "Too many requests are being processed for this portal at once. Please try again later.",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: &str, path: &str) -> Option<(&'static str, Vec<String>)> {
        match resolve(method, path) {
            Resolved::Found(endpoint, params) => Some((endpoint.label, params)),
            _ => None,
        }
    }

    #[test]
    fn static_segments_beat_parameters_and_wrong_methods_are_405() {
        assert_eq!(
            found("GET", "/tickets/search").unwrap().0,
            "GET /tickets/search"
        );
        assert_eq!(
            found("GET", "/tickets/42/threads/7"),
            Some((
                "GET /tickets/{id}/threads/{threadId}",
                vec!["42".into(), "7".into()]
            ))
        );
        assert!(matches!(
            resolve("GET", "/tickets/moveToTrash"),
            Resolved::WrongMethod("/tickets/moveToTrash")
        ));
        assert!(matches!(
            resolve("DELETE", "/tickets/42"),
            Resolved::WrongMethod("/tickets/{id}")
        ));
        assert!(matches!(resolve("GET", "/nope"), Resolved::NotFound));
        assert!(matches!(resolve("GET", "/tickets/"), Resolved::NotFound));
        assert_eq!(
            resolve("PUT", "/tickets/1").label("PUT"),
            "PUT /tickets/{id}"
        );
    }

    #[test]
    fn scopes_follow_zoho_operation_rules() {
        assert!(grants("Desk.tickets.ALL", "tickets", Op::Delete));
        assert!(grants("Desk.tickets.WRITE", "tickets", Op::Create));
        assert!(!grants("Desk.tickets.WRITE", "tickets", Op::Read));
        assert!(grants("Desk.tickets.READ", "tickets", Op::Read));
        assert!(!grants("Desk.tickets.READ", "tickets", Op::Update));
        assert!(!grants("Desk.contacts.ALL", "tickets", Op::Read));
        assert!(!grants("Desk.tickets", "tickets", Op::Read));
        assert!(grants("desk.Tickets.read", "tickets", Op::Read));
    }
}
