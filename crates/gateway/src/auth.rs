//! Client authentication: API keys with roles, checked in constant time.
//!
//! Keys come from `GATEWAY_API_KEYS` (comma-separated) and/or `GATEWAY_API_KEYS_FILE` (one per
//! line, `#` comments), each entry `name:role:key` (a raw key, hashed at load, at least
//! [`MIN_RAW_KEY_LEN`] characters) or `name:role:sha256:<64 hex digits>`. Only SHA-256 digests
//! are kept. Clients present a key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
//!
//! Roles nest: [`Role::Admin`] ⊇ [`Role::Write`] ⊇ [`Role::Read`]. With no keys configured the
//! gateway runs in loopback-only anonymous mode (config refuses any other listener) and every
//! request is [`AuthenticatedKey::anonymous`], role admin.
//!
//! # Wiring
//!
//! [`require_role`] is an axum `from_fn_with_state` middleware. It authenticates the request
//! (unless an outer layer already did: it reuses an [`AuthenticatedKey`] found in the request
//! extensions), inserts the [`AuthenticatedKey`] for logging and rate limiting, and checks the
//! role:
//!
//! ```text
//! let keys = Arc::new(config.security.api_keys.clone());
//! let reads = Router::new().route("/api/zoho-desk/tickets", get(list_tickets))
//!     .route_layer(from_fn_with_state(RequireRole::new(keys.clone(), Role::Read), require_role));
//! let admin = Router::new().route("/api/zoho-desk/token", post(force_refresh))
//!     .route_layer(from_fn_with_state(RequireRole::new(keys.clone(), Role::Admin), require_role));
//! let app = reads.merge(admin)
//!     // rate limiting needs the key name, so authenticate (any role) outside it:
//!     .layer(from_fn_with_state(limit, rate_limit::rate_limit))
//!     .layer(from_fn_with_state(RequireRole::new(keys, Role::Read), require_role));
//!     // CORS (if any) goes outside authentication so preflight requests are answered.
//! ```
//!
//! Failures answer `{"error":{"code":"unauthorized"|"forbidden","message":…,"requestId":…}}`
//! (401 with `WWW-Authenticate: Bearer`, or 403). No response, log line or error message ever
//! contains a presented or configured key.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::{Problem, io_error_reason, var};

/// Shortest raw key accepted in configuration.
pub const MIN_RAW_KEY_LEN: usize = 16;

/// Longest raw key accepted (in configuration and in requests, before hashing).
pub const MAX_RAW_KEY_LEN: usize = 512;

/// The header carrying a key when `Authorization: Bearer` is not used.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The request-id header, read for error bodies.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a key may do. Ordered: `Read < Write < Admin`, and a higher role allows everything a
/// lower one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `GET` routes.
    Read,
    /// Data-changing routes (`POST`/`PATCH` on tickets, contacts, …).
    Write,
    /// Operational routes such as forcing a token refresh (`POST /api/zoho-desk/token`).
    Admin,
}

impl Role {
    /// `read`, `write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Whether a key with this role may use a route requiring `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role text was not `read`, `write` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be read, write or admin")]
pub struct InvalidRole;

impl FromStr for Role {
    type Err = InvalidRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(InvalidRole),
        }
    }
}

/// SHA-256 of a raw key: what configuration stores and requests are compared against.
pub fn hash_key(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

/// [`hash_key`] as lowercase hex, the form `name:role:sha256:<hex>` entries take. Equivalent to
/// `printf %s "$KEY" | sha256sum`.
pub fn hash_key_hex(raw: &str) -> String {
    hex::encode(hash_key(raw))
}

/// One configured key: a name (for logs and rate limiting), a role and the key's SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyEntry {
    /// Unique, non-secret name (`ci`, `voice-agent`, …).
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// SHA-256 of the raw key.
    digest: [u8; 32],
}

impl ApiKeyEntry {
    /// An entry for a raw key (hashed here; the raw key is not kept).
    pub fn from_raw(name: impl Into<String>, role: Role, raw_key: &str) -> Self {
        ApiKeyEntry::from_digest(name, role, hash_key(raw_key))
    }

    /// An entry for a key known only by its SHA-256.
    pub fn from_digest(name: impl Into<String>, role: Role, digest: [u8; 32]) -> Self {
        ApiKeyEntry {
            name: name.into(),
            role,
            digest,
        }
    }

    /// SHA-256 of the key.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

impl fmt::Debug for ApiKeyEntry {
    // The digest is left out: a digest of a weak key can be brute-forced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyEntry")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The configured client keys. Empty means loopback-only anonymous mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeys {
    entries: Vec<ApiKeyEntry>,
}

impl ApiKeys {
    /// No keys: anonymous mode.
    pub fn none() -> Self {
        ApiKeys::default()
    }

    /// Keys built in code (the sandbox, tests). Names and keys must be unique; problems are
    /// reported against `GATEWAY_API_KEYS`.
    pub fn from_entries(
        entries: impl IntoIterator<Item = ApiKeyEntry>,
    ) -> Result<Self, Vec<Problem>> {
        let mut parser = Parser::default();
        for (index, entry) in entries.into_iter().enumerate() {
            parser.add(var::GATEWAY_API_KEYS, format!("entry {}", index + 1), entry);
        }
        parser.finish()
    }

    /// Parses a `GATEWAY_API_KEYS` value: comma-separated `name:role:key` or
    /// `name:role:sha256:<64 hex>` entries (blank entries are ignored).
    pub fn parse(list: &str) -> Result<Self, Vec<Problem>> {
        ApiKeys::from_config(Some(list), None)
    }

    /// The keys from `GATEWAY_API_KEYS` (`list`) and the file named by `GATEWAY_API_KEYS_FILE`
    /// (`file`), together. Every malformed entry, duplicate name or duplicate key is a problem
    /// naming the variable and the entry's position (a duplicate also by its name), never the
    /// key.
    pub fn from_config(list: Option<&str>, file: Option<&Path>) -> Result<Self, Vec<Problem>> {
        let mut parser = Parser::default();
        if let Some(list) = list {
            let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
            for (index, text) in entries.enumerate() {
                parser.parse(var::GATEWAY_API_KEYS, format!("entry {}", index + 1), text);
            }
        }
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(contents) => {
                    for (index, line) in contents.lines().enumerate() {
                        let text = line.trim();
                        if text.is_empty() || text.starts_with('#') {
                            continue;
                        }
                        let position = format!("line {} of {}", index + 1, path.display());
                        parser.parse(var::GATEWAY_API_KEYS_FILE, position, text);
                    }
                }
                Err(err) => parser.problems.push(Problem::new(
                    var::GATEWAY_API_KEYS_FILE,
                    format!("cannot read {}: {}", path.display(), io_error_reason(&err)),
                )),
            }
        }
        parser.finish()
    }

    /// Whether no keys are configured (anonymous mode).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The configured entries.
    pub fn entries(&self) -> &[ApiKeyEntry] {
        &self.entries
    }

    /// The entry whose key is `presented`, if any.
    ///
    /// The presented key is hashed, and its digest is compared with *every* entry's digest in
    /// constant time (`subtle`), selecting the match without branching and without stopping
    /// early: the time taken depends only on the number of entries, not on which entry matched
    /// or how much of a key was right.
    pub fn authenticate(&self, presented: &str) -> Option<&ApiKeyEntry> {
        let digest = hash_key(presented);
        let mut matched = u64::MAX; // no entry has this index
        for (index, entry) in self.entries.iter().enumerate() {
            let equal = entry.digest[..].ct_eq(&digest[..]);
            matched.conditional_assign(&(index as u64), equal);
        }
        usize::try_from(matched)
            .ok()
            .and_then(|index| self.entries.get(index))
    }
}

/// Collects entries from every source, then checks names and keys are unique.
#[derive(Default)]
struct Parser {
    /// (variable, position, entry)
    entries: Vec<(&'static str, String, ApiKeyEntry)>,
    problems: Vec<Problem>,
}

impl Parser {
    fn parse(&mut self, variable: &'static str, position: String, text: &str) {
        match parse_entry(text) {
            Ok(entry) => self.add(variable, position, entry),
            Err(message) => self
                .problems
                .push(Problem::new(variable, format!("{position}: {message}"))),
        }
    }

    fn add(&mut self, variable: &'static str, position: String, entry: ApiKeyEntry) {
        let duplicate = self
            .entries
            .iter()
            .find_map(|(other_var, other_pos, other)| {
                let place = if *other_var == variable {
                    other_pos.clone()
                } else {
                    format!("{other_pos} of {other_var}")
                };
                if other.name == entry.name {
                    Some(format!("duplicate name (also {place})"))
                } else if bool::from(other.digest[..].ct_eq(&entry.digest[..])) {
                    Some(format!(
                        "same key as {:?} ({place}); give every client its own key",
                        other.name
                    ))
                } else {
                    None
                }
            });
        match duplicate {
            Some(message) => self.problems.push(Problem::new(
                variable,
                format!("{position} ({:?}): {message}", entry.name),
            )),
            None => self.entries.push((variable, position, entry)),
        }
    }

    fn finish(self) -> Result<ApiKeys, Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(ApiKeys {
                entries: self.entries.into_iter().map(|(_, _, e)| e).collect(),
            })
        } else {
            Err(self.problems)
        }
    }
}

/// Parses one entry, or says what is wrong with it. The message quotes nothing from the entry:
/// with its fields in the wrong order (`key:role:name`), the "name" or "role" could be the key.
fn parse_entry(text: &str) -> Result<ApiKeyEntry, String> {
    const SHAPE: &str = "expected name:role:key or name:role:sha256:<64 hex digits>";
    let mut parts = text.splitn(3, ':');
    let (Some(name), Some(role), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SHAPE.to_owned());
    };
    let (name, role, key) = (name.trim(), role.trim(), key.trim());
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err("the name must be 1–64 letters, digits, '-', '_' or '.'".to_owned());
    }
    let role: Role = role.parse().map_err(|e: InvalidRole| e.to_string())?;
    let digest = match key.get(..7).filter(|p| p.eq_ignore_ascii_case("sha256:")) {
        Some(_) => {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&key[7..], &mut digest)
                .map_err(|_| "the sha256 digest must be 64 hexadecimal digits".to_owned())?;
            digest
        }
        None => {
            if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("the key contains whitespace".to_owned());
            }
            let len = key.chars().count();
            if len < MIN_RAW_KEY_LEN {
                return Err(format!(
                    "the raw key is shorter than {MIN_RAW_KEY_LEN} characters"
                ));
            }
            if len > MAX_RAW_KEY_LEN {
                return Err(format!(
                    "the raw key is longer than {MAX_RAW_KEY_LEN} characters"
                ));
            }
            hash_key(key)
        }
    };
    Ok(ApiKeyEntry::from_digest(name, role, digest))
}

// ---------------------------------------------------------------------------------------------
// Middleware
// ---------------------------------------------------------------------------------------------

/// Who made a request: inserted into the request extensions by [`require_role`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthenticatedKey {
    /// The key's configured name, or `anonymous`.
    pub name: Arc<str>,
    /// The key's role.
    pub role: Role,
}

impl AuthenticatedKey {
    /// The name used in anonymous (no keys, loopback-only) mode.
    pub const ANONYMOUS: &'static str = "anonymous";

    /// The identity of every request in anonymous mode: role admin.
    pub fn anonymous() -> Self {
        // One allocation per process, not one per request.
        static NAME: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        AuthenticatedKey {
            name: NAME.get_or_init(|| Arc::from(Self::ANONYMOUS)).clone(),
            role: Role::Admin,
        }
    }
}

/// State for [`require_role`]: the keys, and the role a route needs.
#[derive(Debug, Clone)]
pub struct RequireRole {
    keys: Arc<ApiKeys>,
    role: Role,
}

impl RequireRole {
    /// Requires `role` of requests, authenticating them against `keys`.
    pub fn new(keys: Arc<ApiKeys>, role: Role) -> Self {
        RequireRole { keys, role }
    }

    /// The role required.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Authenticates a request and checks its role; `existing` is an identity an outer layer
    /// already established.
    pub fn check(
        &self,
        headers: &HeaderMap,
        existing: Option<&AuthenticatedKey>,
    ) -> Result<AuthenticatedKey, AuthError> {
        let key = match existing {
            Some(key) => key.clone(),
            None => self.identify(headers)?,
        };
        if key.role.allows(self.role) {
            Ok(key)
        } else {
            Err(AuthError::Forbidden {
                name: key.name,
                role: key.role,
                required: self.role,
            })
        }
    }

    fn identify(&self, headers: &HeaderMap) -> Result<AuthenticatedKey, AuthError> {
        if self.keys.is_empty() {
            return Ok(AuthenticatedKey::anonymous());
        }
        let presented = presented_key(headers)?;
        self.keys
            .authenticate(presented)
            .map(|entry| AuthenticatedKey {
                name: Arc::from(entry.name.as_str()),
                role: entry.role,
            })
            .ok_or(AuthError::UnknownKey)
    }
}

/// Why a request was refused. Never carries the presented key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` or `X-API-Key` header.
    #[error("missing API key: send Authorization: Bearer <key> or X-API-Key: <key>")]
    MissingKey,
    /// The `Authorization` header is not a usable `Bearer` credential.
    #[error("malformed Authorization header: use Authorization: Bearer <key>")]
    MalformedHeader,
    /// No configured key matches.
    #[error("invalid API key")]
    UnknownKey,
    /// The key is valid but its role is too low.
    #[error("API key {name:?} has role {role}; this route requires {required}")]
    Forbidden {
        /// The key's name.
        name: Arc<str>,
        /// Its role.
        role: Role,
        /// The role the route requires.
        required: Role,
    },
}

impl AuthError {
    /// 401 for authentication failures, 403 for a role too low.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// `unauthorized` or `forbidden`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Forbidden { .. } => "forbidden",
            _ => "unauthorized",
        }
    }

    /// The JSON error response, with `WWW-Authenticate: Bearer` on 401.
    pub fn into_response_with_id(self, request_id: Option<&str>) -> Response {
        let mut response = error_response(self.status(), self.code(), self.to_string(), request_id);
        if self.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The key a request presents: `Authorization: Bearer <key>` first, else `X-API-Key`.
pub fn presented_key(headers: &HeaderMap) -> Result<&str, AuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| AuthError::MalformedHeader)?
            .trim();
        if let Some((scheme, key)) = text.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !key.trim().is_empty()
        {
            return bounded(key.trim());
        }
        if headers.get(&X_API_KEY).is_none() {
            return Err(AuthError::MalformedHeader);
        }
    }
    match headers.get(&X_API_KEY) {
        Some(value) => {
            let key = value.to_str().map_err(|_| AuthError::UnknownKey)?.trim();
            if key.is_empty() {
                Err(AuthError::MissingKey)
            } else {
                bounded(key)
            }
        }
        None => Err(AuthError::MissingKey),
    }
}

fn bounded(key: &str) -> Result<&str, AuthError> {
    if key.len() > MAX_RAW_KEY_LEN {
        Err(AuthError::UnknownKey)
    } else {
        Ok(key)
    }
}

/// Axum middleware: authenticates the request (or reuses an [`AuthenticatedKey`] already in its
/// extensions), requires the role in `guard`, and inserts the [`AuthenticatedKey`] for later
/// layers and handlers. Use with `axum::middleware::from_fn_with_state(RequireRole::new(keys,
/// role), require_role)`.
pub async fn require_role(
    State(guard): State<RequireRole>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = request.extensions().get::<AuthenticatedKey>();
    let authenticated = existing.is_some();
    match guard.check(request.headers(), existing) {
        Ok(key) => {
            // An outer layer's identity is already in the extensions.
            if !authenticated {
                request.extensions_mut().insert(key);
            }
            next.run(request).await
        }
        Err(err) => {
            tracing::debug!(
                status = err.status().as_u16(),
                method = %request.method(),
                path = request.uri().path(),
                "request refused: {err}"
            );
            err.into_response_with_id(request_id(request.headers()))
        }
    }
}

/// The `x-request-id` of a request, if present and printable (at most 128 characters).
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128)
}

/// The gateway's JSON error body: `{"error":{"code":…,"message":…,"requestId":…}}`
/// (`requestId` omitted when unknown).
pub fn error_response(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
    request_id: Option<&str>,
) -> Response {
    crate::error::render(status, code, message, request_id, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use tower::ServiceExt;

    const READ_KEY: &str = "read-key-0123456789abcdef";
    const WRITE_KEY: &str = "write-key-0123456789abcdef";
    const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
    const WRONG_KEY: &str = "wrong-key-0123456789abcdef";

    fn keys() -> ApiKeys {
        ApiKeys::parse(&format!(
            "reader:read:{READ_KEY}, writer:write:sha256:{}, ops:admin:{ADMIN_KEY}",
            hash_key_hex(WRITE_KEY)
        ))
        .unwrap()
    }

    #[test]
    fn roles_nest() {
        assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
        for (role, allowed) in [
            (Role::Read, [true, false, false]),
            (Role::Write, [true, true, false]),
            (Role::Admin, [true, true, true]),
        ] {
            for (required, want) in [Role::Read, Role::Write, Role::Admin]
                .into_iter()
                .zip(allowed)
            {
                assert_eq!(role.allows(required), want, "{role} for {required}");
            }
        }
        assert_eq!("ADMIN".parse::<Role>(), Ok(Role::Admin));
        assert!("owner".parse::<Role>().is_err());
    }

    #[test]
    fn raw_and_digest_entries_authenticate() {
        let keys = keys();
        assert_eq!(keys.len(), 3);
        let who = |key: &str| keys.authenticate(key).map(|e| (e.name.as_str(), e.role));
        assert_eq!(who(READ_KEY), Some(("reader", Role::Read)));
        assert_eq!(who(WRITE_KEY), Some(("writer", Role::Write)));
        assert_eq!(who(ADMIN_KEY), Some(("ops", Role::Admin)));
        assert_eq!(who(WRONG_KEY), None);
        assert_eq!(who(""), None);
        // A prefix or an extension of a key is not the key.
        assert_eq!(who(&READ_KEY[..READ_KEY.len() - 1]), None);
        assert_eq!(who(&format!("{READ_KEY}x")), None);
        // Digests are accepted in either case; the sha256 prefix too.
        let upper = ApiKeys::parse(&format!(
            "w:write:SHA256:{}",
            hash_key_hex(WRITE_KEY).to_uppercase()
        ))
        .unwrap();
        assert!(upper.authenticate(WRITE_KEY).is_some());
        assert!(ApiKeys::none().authenticate(READ_KEY).is_none());
    }

    #[test]
    fn every_entry_is_compared() {
        // The match is selected by index with `conditional_assign`, never by returning early, so
        // with the key last or first the loop does the same work. This test pins the observable
        // half of that: a match in any position is found, and exactly one entry is returned.
        let entries: Vec<_> = (0..50)
            .map(|i| {
                ApiKeyEntry::from_raw(
                    format!("k{i}"),
                    Role::Read,
                    &format!("key-number-{i:04}-padding"),
                )
            })
            .collect();
        let keys = ApiKeys::from_entries(entries).unwrap();
        for i in [0, 1, 25, 49] {
            let found = keys
                .authenticate(&format!("key-number-{i:04}-padding"))
                .unwrap();
            assert_eq!(found.name, format!("k{i}"));
        }
        assert!(keys.authenticate("key-number-0050-padding").is_none());
    }

    #[test]
    fn malformed_entries_are_problems_that_never_show_the_key() {
        let secret = "SECRET-KEY-VALUE-0123456789";
        let cases = [
            (secret.to_owned(), "entry 1: expected name:role:key"),
            (format!("ci:{secret}:write"), "entry 1: role must be"),
            (
                format!("{secret}:write:x"),
                "entry 1: the raw key is shorter",
            ),
            (format!("{secret}!:write:x"), "entry 1: the name must be"),
            ("ci:write:short".to_owned(), "shorter than 16 characters"),
            ("ci:write:sha256:abcd".to_owned(), "64 hexadecimal digits"),
            (format!("ci:write:{secret} x"), "contains whitespace"),
            (
                format!("ci:read:{secret}, ci:write:{READ_KEY}"),
                "entry 2 (\"ci\"): duplicate name (also entry 1)",
            ),
            (
                format!("a:read:{secret},b:write:sha256:{}", hash_key_hex(secret)),
                "entry 2 (\"b\"): same key as \"a\"",
            ),
        ];
        for (value, want) in cases {
            let problems = ApiKeys::parse(&value).unwrap_err();
            let text = problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(problems.iter().all(|p| p.variable == var::GATEWAY_API_KEYS));
            assert!(text.contains(want), "{value}: wanted {want:?} in {text}");
            assert!(!text.contains(secret), "key leaked: {text}");
        }
        // All problems are reported, not only the first.
        let problems = ApiKeys::parse("a:read:short,b:owner:0123456789abcdef0123").unwrap_err();
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn keys_file_entries_and_list_entries_combine() {
        let path = std::env::temp_dir().join(format!(
            "gateway-auth-keys-{}-{}",
            std::process::id(),
            line!()
        ));
        std::fs::write(
            &path,
            format!("# ops keys\n\n  ops:admin:{ADMIN_KEY}  \nreader:read:{WRONG_KEY}\n"),
        )
        .unwrap();
        let problems = ApiKeys::from_config(Some(&format!("reader:read:{READ_KEY}")), Some(&path))
            .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].variable, var::GATEWAY_API_KEYS_FILE);
        assert!(problems[0].message.contains("line 4 of"), "{problems:?}");
        assert!(
            problems[0].message.contains("entry 1 of GATEWAY_API_KEYS"),
            "{problems:?}"
        );

        std::fs::write(&path, format!("ops:admin:{ADMIN_KEY}\n")).unwrap();
        let keys =
            ApiKeys::from_config(Some(&format!("reader:read:{READ_KEY}")), Some(&path)).unwrap();
        assert_eq!(keys.len(), 2);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn debug_shows_names_not_digests() {
        let debug = format!("{:?}", keys());
        assert!(
            debug.contains("reader") && debug.contains("Admin"),
            "{debug}"
        );
        assert!(!debug.contains(&hash_key_hex(WRITE_KEY)), "{debug}");
        assert!(!debug.contains("digest"), "{debug}");
    }

    async fn ok() -> &'static str {
        "ok"
    }

    async fn whoami(axum::Extension(key): axum::Extension<AuthenticatedKey>) -> String {
        format!("{}:{}", key.name, key.role)
    }

    fn app(keys: ApiKeys) -> Router {
        let keys = Arc::new(keys);
        let guard = |role| from_fn_with_state(RequireRole::new(keys.clone(), role), require_role);
        Router::new()
            .route("/read", get(whoami))
            .route_layer(guard(Role::Read))
            .merge(
                Router::new()
                    .route("/write", get(ok).post(ok))
                    .route_layer(guard(Role::Write)),
            )
            .merge(
                Router::new()
                    .route("/admin", get(ok))
                    .route_layer(guard(Role::Admin)),
            )
    }

    async fn call(
        app: &Router,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::builder().uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn bearer(key: &str) -> String {
        format!("Bearer {key}")
    }

    #[tokio::test]
    async fn middleware_answers_401_403_and_200() {
        let app = app(keys());

        let (status, headers, body) = call(&app, "/read", &[("x-request-id", "req-1")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["code"], "unauthorized");
        assert_eq!(json["error"]["requestId"], "req-1");
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("missing API key")
        );

        let (status, headers, body) =
            call(&app, "/read", &[("authorization", &bearer(WRONG_KEY))]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert!(!body.contains(WRONG_KEY), "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(json["error"].get("requestId").is_none());

        let (status, _, body) = call(&app, "/write", &[("x-api-key", READ_KEY)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["code"], "forbidden");
        assert!(body.contains("\\\"reader\\\" has role read"), "{body}");
        assert!(!body.contains(READ_KEY), "{body}");

        let (status, _, body) =
            call(&app, "/admin", &[("authorization", &bearer(WRITE_KEY))]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        for path in ["/read", "/write", "/admin"] {
            let (status, _, _) = call(
                &app,
                path,
                &[("Authorization", &format!("bearer {ADMIN_KEY}"))],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
        let (status, _, body) = call(&app, "/read", &[("x-api-key", READ_KEY)]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "reader:read"));
        let (status, _, _) = call(&app, "/write", &[("x-api-key", WRITE_KEY)]).await;
        assert_eq!(status, StatusCode::OK);

        // Basic auth is not an API key.
        let (status, _, body) =
            call(&app, "/read", &[("authorization", "Basic dXNlcjpwdw==")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("malformed Authorization header"), "{body}");
    }

    #[tokio::test]
    async fn no_keys_means_anonymous_admin() {
        let app = app(ApiKeys::none());
        for path in ["/write", "/admin"] {
            let (status, _, _) = call(&app, path, &[]).await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
        let (_, _, body) = call(&app, "/read", &[]).await;
        assert_eq!(body, "anonymous:admin");
    }

    #[tokio::test]
    async fn an_outer_layer_identity_is_reused() {
        // Outer layer: any valid key. Inner route layer: admin. A read key authenticates once and
        // is then refused by the inner check.
        let keys = Arc::new(keys());
        let app = Router::new()
            .route("/admin", get(ok))
            .route_layer(from_fn_with_state(
                RequireRole::new(keys.clone(), Role::Admin),
                require_role,
            ))
            .layer(from_fn_with_state(
                RequireRole::new(keys, Role::Read),
                require_role,
            ));
        let (status, _, _) = call(&app, "/admin", &[("x-api-key", READ_KEY)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = call(&app, "/admin", &[("x-api-key", ADMIN_KEY)]).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[test]
    fn errors_never_contain_the_key() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&bearer(WRONG_KEY)).unwrap(),
        );
        let guard = RequireRole::new(Arc::new(keys()), Role::Read);
        let err = guard.check(&headers, None).unwrap_err();
        assert_eq!(err, AuthError::UnknownKey);
        assert!(!format!("{err} {err:?}").contains(WRONG_KEY));
    }
}
