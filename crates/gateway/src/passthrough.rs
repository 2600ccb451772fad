//! The pass-through: `/api/zoho-desk/v1/{*path}` forwards the rest of Zoho Desk v1 — the parts
//! the typed routes do not cover — under the same rules as every typed call.
//!
//! # What a request goes through, in order
//!
//! 1. **Path** ([`normalize_path`]): the remainder after `/api/zoho-desk/v1`, taken *raw* from
//!    the request URI (a decoded path would hide `%2f`). Only `/seg/seg…` with segment characters
//!    `[A-Za-z0-9_-]` passes: no percent escapes at all (Zoho's paths never need one), no `.` or
//!    `..`, no empty segments, no `\`, `@`, `:`, `;`, controls, whitespace or non-ASCII, at most
//!    [`MAX_PATH_BYTES`] bytes and [`MAX_SEGMENTS`] segments. Failure: 400 `invalid_path`.
//! 2. **Allowlist** ([`Allowlist`]): the path must sit under an allowed prefix (else 404
//!    `not_allowed`) with an allowed method (else 405 `method_not_allowed` with `Allow`).
//! 3. **Query**: at most [`MAX_QUERY_BYTES`], decoded into pairs; no control characters, no empty
//!    names, no `orgId` (the gateway sets the organization). Failure: 400 `invalid_query`.
//! 4. **Body**: buffered whole (the size limit is a layer outside this router), so a 401 retry can
//!    resend it. None on `GET` (400 `body_not_allowed`); otherwise JSON only (415
//!    `unsupported_media_type`, 400 `invalid_json`).
//! 5. **Forward** with [`DeskClient::send_raw`], which adds Zoho's `Authorization` and `orgId`,
//!    refreshes and retries once on `INVALID_OAUTH`, and applies the concurrency cap and retry
//!    policy. Nothing of the client's headers is forwarded — [`RawRequest`] has no header field,
//!    so the client's `Authorization`, cookies and hop-by-hop headers cannot reach Zoho — except
//!    that a JSON body is sent as `application/json`.
//! 6. **Answer**: Zoho's status, body, `Content-Type` and `Retry-After`, nothing else of Zoho's
//!    headers. One exception: a 401 from Zoho (left after the retry) means the *gateway's*
//!    credentials failed, not the caller's, so it becomes 502 `zoho_unauthorized` (or
//!    `zoho_scope_mismatch`, `zoho_org_mismatch`); a 401 from the gateway only ever means "your
//!    API key". No answer at all: 502 `zoho_unavailable`, 504 `zoho_timeout`, 503
//!    `token_unavailable` (with `Retry-After` when known).
//!
//! Every refusal in steps 1–4 happens before anything is sent to Zoho.
//!
//! # `GATEWAY_PASSTHROUGH_ALLOW`
//!
//! Replaces the [default allowlist](Allowlist::default). Entries separated by `;`, whitespace
//! around tokens ignored, empty entries skipped:
//!
//! - `METHOD[,METHOD…]:/prefix` admits those methods (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`,
//!   any case) on `/prefix` and every path below it (whole segments: `/tasks` admits `/tasks` and
//!   `/tasks/1/x`, not `/tasksx`). Rules add up.
//! - `!/prefix` denies `/prefix` and everything below it, whatever the rules admit.
//!
//! Example: `GET,POST:/tasks; GET:/products; !/tasks/moveToTrash`. An empty value admits nothing
//! (the pass-through then answers 404 to everything).

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, OriginalUri, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;
use zoho_desk_api::{
    ApiError, DeskClient, DeskError, ErrorCode, RawRequest, RawResponse, TransportKind,
};

use crate::auth::{X_REQUEST_ID, error_response, request_id};
use crate::config::Problem;

/// The route this module serves.
pub const ROUTE: &str = "/api/zoho-desk/v1/{*path}";

/// The part of the gateway path that maps to Zoho's `/api/v1`.
pub const PREFIX: &str = "/api/zoho-desk/v1";

/// The variable holding an allowlist spec (see the module docs).
pub const ALLOW_VAR: &str = "GATEWAY_PASSTHROUGH_ALLOW";

/// Longest path remainder accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 512;

/// Most path segments accepted.
pub const MAX_SEGMENTS: usize = 12;

/// Longest raw query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 2048;

/// The only content type forwarded with a body.
const JSON: &str = "application/json";

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// Why [`normalize_path`] refused a path. Messages never repeat the path, at most one offending
/// printable ASCII character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRejection {
    /// Nothing after the prefix.
    #[error("the path is empty")]
    Empty,
    /// Longer than [`MAX_PATH_BYTES`].
    #[error("the path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    /// A byte outside ASCII.
    #[error("the path contains non-ASCII characters")]
    NonAscii,
    /// A control character or a space.
    #[error("the path contains a control character or whitespace (0x{0:02x})")]
    ControlOrSpace(u8),
    /// `scheme://` or a leading `//` (a network path naming a host).
    #[error("the path names a scheme or host")]
    SchemeOrHost,
    /// Does not start with `/`.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// A `%` escape; Desk paths never need one, and decoding invites `%2f`/`%2e` tricks.
    #[error("percent-encoded characters are not allowed in the path")]
    Encoded,
    /// A backslash, which some servers treat as `/`.
    #[error("backslashes are not allowed in the path")]
    Backslash,
    /// A `.` or `..` segment.
    #[error("'.' and '..' segments are not allowed")]
    DotSegment,
    /// `//` inside the path, or a trailing `/`.
    #[error("empty path segments are not allowed")]
    EmptySegment,
    /// A character outside `[A-Za-z0-9_-]`.
    #[error("character {0:?} is not allowed in a path segment")]
    ForbiddenChar(char),
    /// More than [`MAX_SEGMENTS`] segments.
    #[error("the path has more than {MAX_SEGMENTS} segments")]
    TooManySegments,
}

impl PathRejection {
    /// The stable error code of every path rejection: `invalid_path`.
    pub fn code(&self) -> &'static str {
        "invalid_path"
    }

    /// A bounded label saying which rule refused the path (for logs and metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            PathRejection::Empty => "empty",
            PathRejection::TooLong => "too_long",
            PathRejection::NonAscii => "non_ascii",
            PathRejection::ControlOrSpace(_) => "control_or_space",
            PathRejection::SchemeOrHost => "scheme_or_host",
            PathRejection::NotAbsolute => "not_absolute",
            PathRejection::Encoded => "encoded",
            PathRejection::Backslash => "backslash",
            PathRejection::DotSegment => "dot_segment",
            PathRejection::EmptySegment => "empty_segment",
            PathRejection::ForbiddenChar(_) => "forbidden_char",
            PathRejection::TooManySegments => "too_many_segments",
        }
    }
}

/// Checks the raw (still percent-encoded) path remainder after `/api/zoho-desk/v1` and returns it
/// as a clean `/seg/seg…` path, or says why not.
///
/// Nothing is decoded or rewritten: a path either already is in the one canonical form Zoho's
/// API uses, or it is refused. So what was checked is exactly what is sent.
pub fn normalize_path(raw: &str) -> Result<String, PathRejection> {
    // Cheap whole-string checks first, so the specific messages win over "forbidden char".
    if raw.is_empty() {
        return Err(PathRejection::Empty);
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathRejection::TooLong);
    }
    if !raw.is_ascii() {
        return Err(PathRejection::NonAscii);
    }
    if let Some(byte) = raw.bytes().find(|b| b.is_ascii_control() || *b == b' ') {
        return Err(PathRejection::ControlOrSpace(byte));
    }
    if raw.contains("://") || raw.starts_with("//") {
        return Err(PathRejection::SchemeOrHost);
    }
    if raw.contains('%') {
        return Err(PathRejection::Encoded);
    }
    if raw.contains('\\') {
        return Err(PathRejection::Backslash);
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathRejection::NotAbsolute);
    };
    for (index, segment) in rest.split('/').enumerate() {
        if index >= MAX_SEGMENTS {
            return Err(PathRejection::TooManySegments);
        }
        match segment {
            "" => return Err(PathRejection::EmptySegment),
            "." | ".." => return Err(PathRejection::DotSegment),
            _ => {
                if let Some(c) = segment.chars().find(|c| !is_segment_char(*c)) {
                    return Err(PathRejection::ForbiddenChar(c));
                }
            }
        }
    }
    Ok(raw.to_owned())
}

fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Whether `path` is `prefix` or below it, on a segment boundary.
fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

// ---------------------------------------------------------------------------------------------
// Allowlist
// ---------------------------------------------------------------------------------------------

/// The methods an allowlist may name: Zoho Desk's (spec §4).
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// One allowlist rule: these methods on this prefix and everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A normalised path, e.g. `/tasks`.
    pub prefix: String,
    /// The methods admitted.
    pub methods: Vec<Method>,
}

impl Rule {
    /// Whether the rule's prefix covers `path` (whole segments).
    pub fn covers(&self, path: &str) -> bool {
        is_under(path, &self.prefix)
    }

    /// The bounded route label for spans and metrics: the prefix plus `/*`, e.g. `/tasks/*`.
    pub fn route_label(&self) -> String {
        format!("{}/*", self.prefix)
    }
}

/// Which paths and methods the pass-through forwards: additive [`Rule`]s plus denied prefixes
/// that override them. See the module docs for the `GATEWAY_PASSTHROUGH_ALLOW` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    rules: Vec<Rule>,
    denied: Vec<String>,
}

/// Areas readable through the pass-through by default.
const DEFAULT_READ: &[&str] = &[
    "/tasks",
    "/calls",
    "/events",
    "/tickets",
    "/contacts",
    "/accounts",
    "/products",
    "/articles",
    "/kbRootCategories",
    "/teams",
    "/views",
    "/layouts",
    "/agents",
    "/departments",
    "/organizationFields",
];

/// Areas also writable (POST, PATCH) by default.
const DEFAULT_WRITE: &[&str] = &[
    "/tasks",
    "/calls",
    "/events",
    "/tickets",
    "/contacts",
    "/accounts",
];

impl Default for Allowlist {
    /// Read (`GET`) on the Desk areas a help-desk integration needs — tasks, calls, events,
    /// tickets, contacts, accounts, products, articles, `kbRootCategories`, teams, views,
    /// layouts, agents, departments, `organizationFields` — and create/update (`POST`, `PATCH`)
    /// on tasks, calls, events, tickets, contacts and accounts. Nothing deletes by default: no
    /// `DELETE`, no `PUT`, and each writable area's `moveToTrash` action (a delete sent as
    /// `POST`) is denied.
    fn default() -> Self {
        let rules = DEFAULT_READ
            .iter()
            .map(|prefix| {
                let mut methods = vec![Method::GET];
                if DEFAULT_WRITE.contains(prefix) {
                    methods.extend([Method::POST, Method::PATCH]);
                }
                Rule {
                    prefix: (*prefix).to_owned(),
                    methods,
                }
            })
            .collect();
        let denied = DEFAULT_WRITE
            .iter()
            .map(|area| format!("{area}/moveToTrash"))
            .collect();
        Allowlist { rules, denied }
    }
}

impl Allowlist {
    /// An allowlist that admits nothing.
    pub fn empty() -> Self {
        Allowlist {
            rules: Vec::new(),
            denied: Vec::new(),
        }
    }

    /// An allowlist from rules and denied prefixes; every prefix must pass [`normalize_path`] and
    /// every rule name at least one of Desk's methods.
    pub fn new(rules: Vec<Rule>, denied: Vec<String>) -> Result<Self, String> {
        for rule in &rules {
            check_prefix(&rule.prefix)?;
            if rule.methods.is_empty() {
                return Err(format!("the rule for {} names no method", rule.prefix));
            }
            if let Some(method) = rule.methods.iter().find(|m| !METHODS.contains(m)) {
                return Err(format!(
                    "method {method} is not one of GET, POST, PUT, PATCH, DELETE"
                ));
            }
        }
        for prefix in &denied {
            check_prefix(prefix)?;
        }
        Ok(Allowlist { rules, denied })
    }

    /// Parses a `GATEWAY_PASSTHROUGH_ALLOW` spec (syntax in the module docs).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut denied = Vec::new();
        for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(prefix) = entry.strip_prefix('!') {
                denied.push(prefix.trim().to_owned());
                continue;
            }
            let Some((methods, prefix)) = entry.split_once(':') else {
                return Err(format!(
                    "entry {} is not METHODS:/prefix or !/prefix",
                    excerpt(entry)
                ));
            };
            let mut parsed: Vec<Method> = Vec::new();
            for name in methods.split(',').map(str::trim) {
                let method = METHODS
                    .iter()
                    .find(|m| m.as_str().eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        format!(
                            "{} in entry {} is not one of GET, POST, PUT, PATCH, DELETE",
                            excerpt(name),
                            excerpt(entry)
                        )
                    })?;
                if !parsed.contains(method) {
                    parsed.push(method.clone());
                }
            }
            rules.push(Rule {
                prefix: prefix.trim().to_owned(),
                methods: parsed,
            });
        }
        Allowlist::new(rules, denied)
    }

    /// The allowlist named by `GATEWAY_PASSTHROUGH_ALLOW`'s value: the default when unset.
    pub fn from_config(value: Option<&str>) -> Result<Self, Problem> {
        match value {
            None => Ok(Allowlist::default()),
            Some(spec) => {
                Allowlist::parse(spec).map_err(|message| Problem::new(ALLOW_VAR, message))
            }
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The denied prefixes.
    pub fn denied(&self) -> &[String] {
        &self.denied
    }

    /// The rule that admits `method` on `path` (a [`normalize_path`] result), the one with the
    /// longest prefix when several do; `None` when the path is denied or no rule admits it.
    pub fn admits(&self, method: &Method, path: &str) -> Option<&Rule> {
        if self.is_denied(path) {
            return None;
        }
        self.rules
            .iter()
            .filter(|rule| rule.covers(path) && rule.methods.contains(method))
            .max_by_key(|rule| rule.prefix.len())
    }

    /// Every method some rule admits on `path` (for `Allow`), in Desk's order; empty when the
    /// path is denied or no rule covers it.
    pub fn allowed_methods(&self, path: &str) -> Vec<Method> {
        if self.is_denied(path) {
            return Vec::new();
        }
        METHODS
            .iter()
            .filter(|method| {
                self.rules
                    .iter()
                    .any(|rule| rule.covers(path) && rule.methods.contains(method))
            })
            .cloned()
            .collect()
    }

    fn is_denied(&self, path: &str) -> bool {
        self.denied.iter().any(|prefix| is_under(path, prefix))
    }
}

/// The spec syntax, which [`Allowlist::parse`] reads back.
impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<String> = self
            .rules
            .iter()
            .map(|rule| {
                let methods: Vec<&str> = rule.methods.iter().map(Method::as_str).collect();
                format!("{}:{}", methods.join(","), rule.prefix)
            })
            .collect();
        entries.extend(self.denied.iter().map(|prefix| format!("!{prefix}")));
        f.write_str(&entries.join(";"))
    }
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    normalize_path(prefix)
        .map(drop)
        .map_err(|rejection| format!("prefix {}: {rejection}", excerpt(prefix)))
}

/// A short, printable excerpt of config text for error messages.
fn excerpt(text: &str) -> String {
    let shown: String = text
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.chars().count() > 40 {
        format!("{shown:?}…")
    } else {
        format!("{shown:?}")
    }
}

// ---------------------------------------------------------------------------------------------
// The route
// ---------------------------------------------------------------------------------------------

/// What the pass-through needs.
#[derive(Debug, Clone)]
pub struct PassthroughState {
    /// The Desk client (auth, `orgId`, 401 rule, concurrency cap, retries).
    pub desk: DeskClient,
    /// What may be forwarded.
    pub allowlist: Arc<Allowlist>,
}

/// The pass-through router: [`ROUTE`] for any method (plus the bare [`PREFIX`] with or without
/// a trailing `/`, refused with `invalid_path` like any empty path). Merge it into the app
/// inside the authentication, rate-limit and body-limit layers.
pub fn router(state: PassthroughState) -> Router {
    Router::new()
        .route(ROUTE, any(handle))
        // A catch-all never matches an empty remainder: route the bare prefix (with and without
        // the slash) too, so it gets the same `invalid_path` answer as any other bad path.
        .route(PREFIX, any(handle))
        .route("/api/zoho-desk/v1/", any(handle))
        .with_state(state)
}

/// The pass-through handler (for routing it by hand in a router whose state converts to
/// [`PassthroughState`]).
pub async fn handle(State(state): State<PassthroughState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The URI as the client sent it: a layer or `nest` may have rewritten `parts.uri`.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let method = parts.method.clone();
    // What is needed of the headers after the body is taken: reference counts, not a copy of
    // the whole map.
    let kept = {
        let mut kept = HeaderMap::new();
        for name in [header::CONTENT_TYPE, X_REQUEST_ID] {
            if let Some(value) = parts.headers.get(&name) {
                kept.insert(name, value.clone());
            }
        }
        kept
    };
    let headers = &kept;
    let id = request_id(headers);

    let (path, rule) = match admit(&state.allowlist, &method, uri) {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(&method, id),
    };
    let query = match parse_query(uri) {
        Ok(query) => query,
        Err(refusal) => return refusal.into_response(&method, id),
    };
    // Only now read the body: refused paths never get buffered.
    let bytes = match Bytes::from_request(Request::from_parts(parts, body), &()).await {
        Ok(bytes) => bytes,
        Err(rejection) => {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "payload_too_large"
            } else {
                "invalid_body"
            };
            return error_response(status, code, "the request body could not be read", id);
        }
    };
    let body = match check_body(&method, headers, bytes) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(&method, id),
    };

    let raw = RawRequest {
        method,
        path,
        query,
        body,
        route_label: rule.route_label(),
    };
    match state.desk.send_raw(raw).await {
        Ok(answer) => relay(answer, id),
        Err(error) => desk_error(error, id),
    }
}

/// A refusal before anything reaches Zoho.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The methods for `Allow` on a 405.
    allow: Vec<Method>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            allow: Vec::new(),
        }
    }

    fn into_response(self, method: &Method, request_id: Option<&str>) -> Response {
        tracing::info!(
            status = self.status.as_u16(),
            code = self.code,
            method = %method,
            "pass-through request refused: {}",
            self.message
        );
        let mut response = error_response(self.status, self.code, self.message, request_id);
        if !self.allow.is_empty() {
            let allow: Vec<&str> = self.allow.iter().map(Method::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        response
    }
}

/// Steps 1–2: the clean path and the rule admitting it.
fn admit<'a>(
    allowlist: &'a Allowlist,
    method: &Method,
    uri: &Uri,
) -> Result<(String, &'a Rule), Refusal> {
    // The remainder after the first occurrence of the prefix; when this router is nested the
    // original path carries the outer prefix first. Everything after it is checked strictly.
    let remainder = uri
        .path()
        .split_once(PREFIX)
        .map_or("", |(_, remainder)| remainder);
    let path = normalize_path(remainder).map_err(|rejection| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            rejection.code(),
            rejection.to_string(),
        )
    })?;
    if let Some(rule) = allowlist.admits(method, &path) {
        return Ok((path, rule));
    }
    let allow = allowlist.allowed_methods(&path);
    if allow.is_empty() {
        Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_allowed",
            "this Desk path is not available through the gateway",
        ))
    } else {
        let mut refusal = Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("method {method} is not allowed on this Desk path"),
        );
        refusal.allow = allow;
        Err(refusal)
    }
}

/// Step 3: the query as pairs, decoded once (the Desk client re-encodes them).
fn parse_query(uri: &Uri) -> Result<Vec<(String, String)>, Refusal> {
    let invalid =
        |message: &str| Refusal::new(StatusCode::BAD_REQUEST, "invalid_query", message.to_owned());
    let Some(raw) = uri.query() else {
        return Ok(Vec::new());
    };
    if raw.len() > MAX_QUERY_BYTES {
        return Err(invalid("the query string is longer than 2048 bytes"));
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| invalid("the query string is malformed"))?;
    for (name, value) in &pairs {
        if name.is_empty() {
            return Err(invalid("a query parameter has no name"));
        }
        // Decoded `%0d%0a` and friends: harmless once re-encoded, but never legitimate.
        if name.chars().chain(value.chars()).any(char::is_control) {
            return Err(invalid("the query string contains control characters"));
        }
        // The organization is the gateway's choice, never the caller's.
        if name.eq_ignore_ascii_case("orgId") {
            return Err(invalid("orgId is set by the gateway"));
        }
    }
    Ok(pairs)
}

/// Step 4: the body to forward, if any, as JSON.
fn check_body(
    method: &Method,
    headers: &HeaderMap,
    bytes: Bytes,
) -> Result<Option<(Vec<u8>, String)>, Refusal> {
    if bytes.is_empty() {
        return Ok(None);
    }
    if method == Method::GET {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "body_not_allowed",
            "a GET request must not have a body",
        ));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(JSON));
    if !is_json {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a request body must be application/json",
        ));
    }
    // Malformed JSON would only cost a Zoho call and credits to be refused there.
    // A full parse: it validates UTF-8 in strings and bounds nesting (128 levels), which a
    // skim does not; Zoho is never sent what it would refuse anyway.
    if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body is not valid JSON",
        ));
    }
    Ok(Some((bytes.to_vec(), JSON.to_owned())))
}

/// Step 6: Zoho's answer, minus everything but status, body, `Content-Type` and `Retry-After`.
fn relay(answer: RawResponse, request_id: Option<&str>) -> Response {
    if answer.status == 401 {
        return zoho_unauthorized(&answer, request_id);
    }
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    if let Some(value) = answer
        .content_type
        .and_then(|content_type| HeaderValue::from_str(&content_type).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(wait) = answer.retry_after {
        headers.insert(header::RETRY_AFTER, retry_after_secs(wait.as_secs_f64()));
    }
    response
}

/// A 401 that survived the refresh-and-retry: the gateway's Zoho credentials are at fault.
fn zoho_unauthorized(answer: &RawResponse, request_id: Option<&str>) -> Response {
    let api = ApiError::from_response(answer.status, &answer.body, answer.retry_after);
    let code = match api.code {
        ErrorCode::ScopeMismatch => "zoho_scope_mismatch",
        ErrorCode::OauthOrgMismatch => "zoho_org_mismatch",
        _ => "zoho_unauthorized",
    };
    tracing::warn!(
        error_code = api.code.metric_label(),
        "Zoho Desk refused the gateway's credentials on a pass-through call"
    );
    error_response(
        StatusCode::BAD_GATEWAY,
        code,
        // `as_str` of an unknown code is already limited to 64 printable characters.
        format!(
            "Zoho Desk refused the gateway's credentials ({})",
            api.code.as_str()
        ),
        request_id,
    )
}

/// A call that got no answer from Zoho.
fn desk_error(error: DeskError, request_id: Option<&str>) -> Response {
    let retry_after = error.retry_after();
    // Every `DeskError` message is free of tokens and URLs by construction.
    let message = error.to_string();
    let (status, code) = match &error {
        DeskError::Token(_) => (StatusCode::SERVICE_UNAVAILABLE, "token_unavailable"),
        DeskError::Transport {
            kind: TransportKind::Timeout,
        } => (StatusCode::GATEWAY_TIMEOUT, "zoho_timeout"),
        DeskError::Transport { .. } => (StatusCode::BAD_GATEWAY, "zoho_unavailable"),
        DeskError::Decode { .. } => (StatusCode::BAD_GATEWAY, "zoho_bad_response"),
        DeskError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        DeskError::Api(_) => (StatusCode::BAD_GATEWAY, "zoho_error"),
    };
    tracing::warn!(
        status = status.as_u16(),
        code,
        "pass-through call failed: {message}"
    );
    let mut response = error_response(status, code, message, request_id);
    if let Some(wait) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after_secs(wait.as_secs_f64()));
    }
    response
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_secs(secs: f64) -> HeaderValue {
    HeaderValue::from(secs.ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- normalize_path ------------------------------------------------------------------------

    /// Every attack, and the rule expected to refuse it.
    fn attacks() -> Vec<(String, PathRejection)> {
        use PathRejection::*;
        let mut table: Vec<(String, PathRejection)> = [
            ("..", NotAbsolute),
            ("/..", DotSegment),
            ("/.", DotSegment),
            (".", NotAbsolute),
            ("/../x", DotSegment),
            ("/tickets/../../oauth/v2/token", DotSegment),
            ("/tickets/./1", DotSegment),
            ("/%2e%2e", Encoded),
            ("/%2E%2E/x", Encoded),
            ("/tickets/%2e%2e%2f%2e%2e", Encoded),
            ("/tickets%2f..%2forganizations", Encoded),
            ("/tickets%2F1", Encoded),
            ("/%252e%252e", Encoded),
            ("/tickets/%5c..", Encoded),
            ("/tickets%00", Encoded),
            ("/tickets%0d%0aX-Injected:%201", Encoded),
            ("/%41gents", Encoded),
            ("/tickets\\..\\x", Backslash),
            ("\\\\evil.com\\x", Backslash),
            ("//evil.com/x", SchemeOrHost),
            ("http://evil.com", SchemeOrHost),
            ("/http://evil.com", SchemeOrHost),
            ("/@evil.com", ForbiddenChar('@')),
            ("/tasks@evil", ForbiddenChar('@')),
            ("/tasks:443", ForbiddenChar(':')),
            ("/tasks;jsessionid=1", ForbiddenChar(';')),
            ("/tickets?x=1", ForbiddenChar('?')),
            ("/tickets#frag", ForbiddenChar('#')),
            ("/tickets/1.json", ForbiddenChar('.')),
            ("/tickets/~agent", ForbiddenChar('~')),
            ("/tasks\0", ControlOrSpace(0)),
            ("/tasks\r\nX-Injected: 1", ControlOrSpace(b'\r')),
            ("/tasks\n", ControlOrSpace(b'\n')),
            ("/tasks\t", ControlOrSpace(b'\t')),
            ("/tasks x", ControlOrSpace(b' ')),
            ("/tasks\x7f", ControlOrSpace(0x7f)),
            ("/tickets/ü", NonAscii),
            ("/tickets/\u{2025}", NonAscii),
            ("/tickets/\u{ff0e}\u{ff0e}", NonAscii),
            ("tickets", NotAbsolute),
            ("", Empty),
            ("/", EmptySegment),
            ("/tickets/", EmptySegment),
            ("/tickets//1", EmptySegment),
        ]
        .into_iter()
        .map(|(path, why)| (path.to_owned(), why))
        .collect();
        table.push((format!("/{}", "a".repeat(MAX_PATH_BYTES)), TooLong));
        table.push(("/a".repeat(MAX_SEGMENTS + 1), TooManySegments));
        table
    }

    #[test]
    fn every_path_attack_is_rejected_for_its_reason() {
        for (path, expected) in attacks() {
            let result = normalize_path(&path);
            assert_eq!(result, Err(expected), "{path:?}");
            let rejection = result.unwrap_err();
            assert_eq!(rejection.code(), "invalid_path");
            // Messages never repeat the input beyond one printable character.
            let message = rejection.to_string();
            assert!(message.len() < 80, "{message}");
            assert!(!message.contains("evil"), "{message}");
        }
    }

    #[test]
    fn clean_paths_pass_unchanged() {
        for path in [
            "/tickets",
            "/tickets/1892000000042034",
            "/tickets/1892000000042034/History",
            "/tickets/1/threads/2/attachments",
            "/kbRootCategories",
            "/organizationFields",
            "/a_b-c/D9",
        ] {
            assert_eq!(normalize_path(path).as_deref(), Ok(path));
        }
        let longest = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
        assert_eq!(normalize_path(&longest).as_deref(), Ok(longest.as_str()));
        let deepest = "/a".repeat(MAX_SEGMENTS);
        assert_eq!(normalize_path(&deepest).as_deref(), Ok(deepest.as_str()));
    }

    // -- allowlist ------------------------------------------------------------------------------

    #[test]
    fn rules_match_whole_segments_and_methods() {
        let list = Allowlist::parse("GET,POST:/tasks; get:/products ;!/tasks/moveToTrash").unwrap();
        let get = &Method::GET;
        assert_eq!(list.admits(get, "/tasks").unwrap().prefix, "/tasks");
        assert_eq!(
            list.admits(get, "/tasks/123/x").unwrap().route_label(),
            "/tasks/*"
        );
        assert!(list.admits(get, "/tasksx").is_none());
        assert!(list.admits(get, "/task").is_none());
        assert!(list.admits(get, "/other/tasks").is_none());
        assert!(list.admits(&Method::POST, "/tasks/1").is_some());
        assert!(list.admits(&Method::POST, "/products").is_none());
        assert!(list.admits(&Method::DELETE, "/tasks/1").is_none());
        assert_eq!(list.allowed_methods("/products/1"), vec![Method::GET]);
        assert_eq!(
            list.allowed_methods("/tasks"),
            vec![Method::GET, Method::POST]
        );
        assert!(list.allowed_methods("/unknown").is_empty());
        // Denied prefixes override the rules, on segment boundaries too.
        assert!(list.admits(&Method::POST, "/tasks/moveToTrash").is_none());
        assert!(list.admits(&Method::POST, "/tasks/moveToTrash/x").is_none());
        assert!(list.allowed_methods("/tasks/moveToTrash").is_empty());
        assert!(list.admits(&Method::POST, "/tasks/moveToTrashX").is_some());
    }

    #[test]
    fn the_longest_admitting_prefix_labels_the_route() {
        let list = Allowlist::parse("GET:/tickets;GET:/tickets/search").unwrap();
        let rule = list.admits(&Method::GET, "/tickets/search").unwrap();
        assert_eq!(rule.route_label(), "/tickets/search/*");
        assert_eq!(
            list.admits(&Method::GET, "/tickets/1")
                .unwrap()
                .route_label(),
            "/tickets/*"
        );
    }

    #[test]
    fn the_default_reads_widely_writes_narrowly_and_never_deletes() {
        let list = Allowlist::default();
        for area in DEFAULT_READ {
            assert!(
                list.admits(&Method::GET, &format!("{area}/1")).is_some(),
                "{area}"
            );
        }
        for area in DEFAULT_WRITE {
            assert!(list.admits(&Method::POST, area).is_some(), "{area}");
            assert!(
                list.admits(&Method::PATCH, &format!("{area}/1")).is_some(),
                "{area}"
            );
            assert!(
                list.admits(&Method::POST, &format!("{area}/moveToTrash"))
                    .is_none()
            );
        }
        assert!(list.admits(&Method::POST, "/products").is_none());
        assert!(list.admits(&Method::GET, "/organizations").is_none());
        for path in ["/tickets/1", "/tasks/1", "/contacts/1"] {
            assert!(list.admits(&Method::DELETE, path).is_none());
            assert!(list.admits(&Method::PUT, path).is_none());
        }
        // The spec form reads back to the same list.
        assert_eq!(Allowlist::parse(&list.to_string()), Ok(list));
    }

    #[test]
    fn parse_reports_syntax_errors() {
        for (spec, needle) in [
            ("/tasks", "not METHODS:/prefix"),
            ("GET /tasks", "not METHODS:/prefix"),
            ("FETCH:/tasks", "is not one of"),
            ("GET,:/tasks", "is not one of"),
            (":/tasks", "is not one of"),
            ("HEAD:/tasks", "is not one of"),
            ("GET:tasks", "must start with '/'"),
            ("GET:/", "empty path segments"),
            ("GET:/tasks/", "empty path segments"),
            ("GET:/tasks/../x", "'.' and '..'"),
            ("GET:/tas%6bs", "percent-encoded"),
            ("GET://evil.com", "scheme or host"),
            ("GET:", "the path is empty"),
            ("!", "the path is empty"),
            ("!/a/../b", "'.' and '..'"),
        ] {
            let error = Allowlist::parse(spec).unwrap_err();
            assert!(error.contains(needle), "{spec:?}: {error}");
        }
        // Empty entries are skipped; an empty spec admits nothing.
        assert_eq!(Allowlist::parse(" ; "), Ok(Allowlist::empty()));
        assert_eq!(
            Allowlist::parse("get , PATCH : /tasks ;").unwrap().rules(),
            &[Rule {
                prefix: "/tasks".into(),
                methods: vec![Method::GET, Method::PATCH],
            }]
        );
        assert_eq!(Allowlist::from_config(None), Ok(Allowlist::default()));
        let problem = Allowlist::from_config(Some("nope")).unwrap_err();
        assert_eq!(problem.variable, ALLOW_VAR);
        // Long or binary config text is shown only as a short printable excerpt.
        let error = Allowlist::parse(&format!("GET\u{7}{}", "x".repeat(200))).unwrap_err();
        assert!(error.len() < 120 && !error.contains('\u{7}'), "{error}");
    }

    #[test]
    fn new_checks_rules() {
        let rule = |prefix: &str, methods: Vec<Method>| Rule {
            prefix: prefix.into(),
            methods,
        };
        assert!(Allowlist::new(vec![rule("/tasks", vec![])], vec![]).is_err());
        assert!(Allowlist::new(vec![rule("/tasks", vec![Method::HEAD])], vec![]).is_err());
        assert!(Allowlist::new(vec![rule("/tasks/", vec![Method::GET])], vec![]).is_err());
        assert!(Allowlist::new(vec![], vec!["x".into()]).is_err());
        assert!(Allowlist::new(vec![rule("/tasks", vec![Method::GET])], vec![]).is_ok());
    }

    // -- end to end through the router, with the emulator as Zoho --------------------------------

    use std::time::Duration;

    use axum::http::Request;
    use tower::ServiceExt;
    use zoho_auth::{Credentials, TokenManager, ZohoEndpoints};
    use zoho_desk_api::DeskClientBuilder;
    use zoho_sim::{
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, Fault, Route, SimHandle,
        Times, ZohoSim,
    };

    struct Harness {
        sim: SimHandle,
        tokens: TokenManager,
        app: Router,
    }

    struct Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Answer {
        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).expect("a JSON body")
        }

        fn error_code(&self) -> String {
            self.json()["error"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        }

        /// Whether `secret` appears anywhere in the answer.
        fn contains(&self, secret: &str) -> bool {
            String::from_utf8_lossy(&self.body).contains(secret)
                || self
                    .headers
                    .iter()
                    .any(|(_, value)| String::from_utf8_lossy(value.as_bytes()).contains(secret))
        }
    }

    async fn harness() -> Harness {
        harness_with(DEFAULT_REFRESH_TOKEN, None, |builder| builder).await
    }

    /// A gateway on the emulator; `desk_url` overrides the Desk base URL (a dead port).
    async fn harness_with(
        refresh_token: &str,
        desk_url: Option<String>,
        configure: impl FnOnce(DeskClientBuilder) -> DeskClientBuilder,
    ) -> Harness {
        let sim = ZohoSim::start(Default::default()).await.expect("emulator");
        let endpoints = ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).expect("urls");
        let tokens = TokenManager::builder(
            Credentials::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, refresh_token),
            endpoints.clone(),
        )
        .build();
        let base = desk_url.unwrap_or_else(|| endpoints.desk_api_url().to_string());
        let desk = configure(
            DeskClient::builder(base, sim.desk_org_id(), tokens.clone())
                .timeout(Duration::from_secs(10)),
        )
        .build();
        let app = router(PassthroughState {
            desk,
            allowlist: Arc::new(Allowlist::default()),
        });
        Harness { sim, tokens, app }
    }

    impl Harness {
        async fn send(&self, request: Request<Body>) -> Answer {
            let response = self.app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let headers = response.headers().clone();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body")
                .to_vec();
            Answer {
                status,
                headers,
                body,
            }
        }

        async fn get(&self, uri: &str) -> Answer {
            self.send(Request::get(uri).body(Body::empty()).unwrap())
                .await
        }

        fn desk_requests(&self) -> u64 {
            self.sim.stats().desk_requests
        }

        async fn token(&self) -> String {
            self.tokens
                .token()
                .await
                .expect("token")
                .expose_secret()
                .to_owned()
        }
    }

    #[tokio::test]
    async fn lists_tickets_without_forwarding_client_credentials() {
        let h = harness().await;
        let request = Request::get("/api/zoho-desk/v1/tickets?limit=5")
            .header(header::AUTHORIZATION, "Bearer client-key")
            .header(header::COOKIE, "session=client-cookie")
            .header("x-api-key", "client-key")
            // Forwarded, these would make the emulator refuse the call.
            .header("orgId", h.sim.desk_other_org_id())
            .header(header::CONNECTION, "keep-alive, x-hop")
            .header("x-hop", "1")
            .header("x-request-id", "req-1")
            .body(Body::empty())
            .unwrap();
        let answer = h.send(request).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(answer.json()["data"].as_array().unwrap().len(), 5);
        assert_eq!(
            answer.headers.get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        // Only Content-Type of Zoho's headers comes back (not its rate-limit headers).
        assert!(
            answer
                .headers
                .keys()
                .all(|name| name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH),
            "{:?}",
            answer.headers
        );
        assert_eq!(h.sim.stats().count("GET /tickets", 200), 1);
        assert!(!answer.contains(&h.token().await));
    }

    #[tokio::test]
    async fn path_attacks_never_reach_zoho() {
        let h = harness().await;
        let mut sent = 0;
        for (attack, _) in attacks() {
            // In a request target `?` and `#` end the path, so those are no path attacks there;
            // without a leading `/` the route itself does not match (checked below).
            if attack.contains(['?', '#']) || !attack.starts_with('/') {
                continue;
            }
            // Some attacks cannot even be written as a request target; hyper refuses those.
            let Ok(uri) = Uri::try_from(format!("{PREFIX}{attack}?limit=1")) else {
                continue;
            };
            sent += 1;
            let answer = h.send(Request::get(uri).body(Body::empty()).unwrap()).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{attack:?}");
            assert_eq!(answer.error_code(), "invalid_path", "{attack:?}");
        }
        for uri in ["/api/zoho-desk/v1..", "/api/zoho-desk/v1tickets"] {
            assert_eq!(h.get(uri).await.status, StatusCode::NOT_FOUND, "{uri}");
        }
        assert!(sent >= 25, "only {sent} attacks were sendable");
        for uri in [PREFIX, "/api/zoho-desk/v1/"] {
            let answer = h.get(uri).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(answer.error_code(), "invalid_path");
        }
        assert_eq!(h.desk_requests(), 0);
        assert_eq!(h.sim.token_calls(), 0);
    }

    #[tokio::test]
    async fn methods_and_paths_off_the_allowlist_never_reach_zoho() {
        let h = harness().await;
        let delete = Request::delete("/api/zoho-desk/v1/tickets/1")
            .header("x-request-id", "req-405")
            .body(Body::empty())
            .unwrap();
        let answer = h.send(delete).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(answer.error_code(), "method_not_allowed");
        assert_eq!(answer.json()["error"]["requestId"], "req-405");
        assert_eq!(
            answer.headers.get(header::ALLOW).unwrap(),
            "GET, POST, PATCH"
        );

        for (method, uri) in [
            (Method::PUT, "/api/zoho-desk/v1/tickets/1"),
            (Method::HEAD, "/api/zoho-desk/v1/tickets"),
            (Method::POST, "/api/zoho-desk/v1/products"),
        ] {
            let request = Request::builder().method(method).uri(uri);
            let answer = h.send(request.body(Body::empty()).unwrap()).await;
            assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        }
        for uri in [
            "/api/zoho-desk/v1/organizations",
            "/api/zoho-desk/v1/ticketsx",
            "/api/zoho-desk/v1/oauth/v2/token",
        ] {
            let answer = h.get(uri).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(answer.error_code(), "not_allowed");
        }
        let trash = Request::post("/api/zoho-desk/v1/tickets/moveToTrash")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"ticketIds":["1"]}"#))
            .unwrap();
        assert_eq!(h.send(trash).await.status, StatusCode::NOT_FOUND);
        assert_eq!(h.desk_requests(), 0);
    }

    #[tokio::test]
    async fn bad_queries_and_bodies_never_reach_zoho() {
        let h = harness().await;
        for (query, code) in [
            ("orgId=60000000002", "invalid_query"),
            ("ORGID=1", "invalid_query"),
            ("x=%0d%0aInjected:%201", "invalid_query"),
            ("x%00=1", "invalid_query"),
            ("=1", "invalid_query"),
        ] {
            let answer = h.get(&format!("/api/zoho-desk/v1/tickets?{query}")).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(answer.error_code(), code, "{query}");
        }
        let long = format!(
            "/api/zoho-desk/v1/tickets?x={}",
            "a".repeat(MAX_QUERY_BYTES)
        );
        assert_eq!(h.get(&long).await.error_code(), "invalid_query");

        let get_with_body = Request::get("/api/zoho-desk/v1/tickets")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(h.send(get_with_body).await.error_code(), "body_not_allowed");
        for content_type in [Some("text/plain"), Some("application/jsonx"), None] {
            let mut request = Request::post("/api/zoho-desk/v1/contacts");
            if let Some(content_type) = content_type {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let answer = h
                .send(request.body(Body::from(r#"{"lastName":"x"}"#)).unwrap())
                .await;
            assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert_eq!(answer.error_code(), "unsupported_media_type");
        }
        let broken = Request::post("/api/zoho-desk/v1/contacts")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"lastName\":"))
            .unwrap();
        assert_eq!(h.send(broken).await.error_code(), "invalid_json");
        assert_eq!(h.desk_requests(), 0);
    }

    #[tokio::test]
    async fn creates_a_contact_and_passes_zoho_errors_through() {
        let h = harness().await;
        let before = h.sim.contact_count();
        let create = Request::post("/api/zoho-desk/v1/contacts")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(header::AUTHORIZATION, "Bearer client-key")
            .body(Body::from(
                r#"{"lastName":"Passthrough","email":"pass@example.com"}"#,
            ))
            .unwrap();
        let answer = h.send(create).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(answer.json()["lastName"], "Passthrough");
        assert_eq!(h.sim.contact_count(), before + 1);

        // Zoho's validation error comes back unchanged.
        let invalid = Request::post("/api/zoho-desk/v1/contacts")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"email":"pass@example.com"}"#))
            .unwrap();
        let answer = h.send(invalid).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            answer.json()["errorCode"].is_string(),
            "{:?}",
            answer.json()
        );
        assert_eq!(h.sim.contact_count(), before + 1);

        // An admitted path the emulator does not know: Zoho's 404, passed through.
        let answer = h.get("/api/zoho-desk/v1/tasks?limit=5").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.json()["errorCode"], "URL_NOT_FOUND");
        assert_eq!(h.desk_requests(), 3);
        assert!(!answer.contains(&h.token().await));
    }

    #[tokio::test]
    async fn an_invalidated_token_is_refreshed_once_and_never_returned() {
        let h = harness().await;
        let first = h.get("/api/zoho-desk/v1/agents").await;
        assert_eq!(first.status, StatusCode::OK);
        let old_token = h.token().await;
        let refreshes = h.sim.token_calls();
        assert!(h.sim.invalidate_access_tokens() > 0);

        let answer = h.get("/api/zoho-desk/v1/tickets?limit=2").await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(h.sim.token_calls(), refreshes + 1);
        let new_token = h.token().await;
        assert_ne!(new_token, old_token);
        for response in [&first, &answer] {
            assert!(!response.contains(&old_token) && !response.contains(&new_token));
            assert!(!response.contains("Zoho-oauthtoken"));
        }
    }

    #[tokio::test]
    async fn zoho_401s_are_the_gateways_problem_not_the_callers() {
        let h = harness().await;
        // A token that belongs to another organization: permanent, no refresh loop.
        let desk = DeskClient::builder(
            h.sim.desk_url(),
            h.sim.desk_other_org_id(),
            h.tokens.clone(),
        )
        .build();
        let app = router(PassthroughState {
            desk,
            allowlist: Arc::new(Allowlist::default()),
        });
        let h = Harness { app, ..h };
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        assert_eq!(answer.error_code(), "zoho_org_mismatch");
        assert!(answer.headers.get(header::WWW_AUTHENTICATE).is_none());
        assert!(!answer.contains(&h.token().await));
    }

    #[tokio::test]
    async fn retry_after_is_passed_through() {
        let h = harness().await;
        h.sim.set_desk_daily_credits(0);
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.json()["errorCode"], "THRESHOLD_EXCEEDED");
        let wait: u64 = answer.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait >= 1);
    }

    #[tokio::test]
    async fn no_answer_maps_to_gateway_errors() {
        // Nothing listens on the Desk URL: 502.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_url = format!("http://{}/api/v1", dead.local_addr().unwrap());
        drop(dead);
        let h = harness_with(DEFAULT_REFRESH_TOKEN, Some(dead_url), |b| b.max_retries(0)).await;
        let request = Request::get("/api/zoho-desk/v1/tickets")
            .header("x-request-id", "req-502")
            .body(Body::empty())
            .unwrap();
        let answer = h.send(request).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        assert_eq!(answer.error_code(), "zoho_unavailable");
        assert_eq!(answer.json()["error"]["requestId"], "req-502");

        // Zoho too slow: 504.
        let h = harness_with(DEFAULT_REFRESH_TOKEN, None, |b| {
            b.timeout(Duration::from_millis(200)).max_retries(0)
        })
        .await;
        h.sim.inject(
            Route::Desk,
            Fault::latency(Duration::from_secs(2)),
            Times::Next(1),
        );
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(answer.error_code(), "zoho_timeout");

        // No token to be had: 503, and no Desk call.
        let h = harness_with("1000.not-a-refresh-token", None, |b| b).await;
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.error_code(), "token_unavailable");
        assert_eq!(h.desk_requests(), 0);
        assert!(!answer.contains("not-a-refresh-token"));
    }
}
