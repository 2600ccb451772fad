//! The authentication middleware: who a request is, and whether its role suffices.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::keys::{ApiKeys, MAX_RAW_KEY_LEN, Role};
use crate::error::{ErrorCode, RouteError};

/// The header carrying a key when `Authorization: Bearer` is not used.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

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
    /// `forbidden` for a role too low, else `unauthorized`.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Forbidden { .. } => ErrorCode::Forbidden,
            _ => ErrorCode::Unauthorized,
        }
    }
}

impl From<AuthError> for RouteError {
    /// 401 (with `WWW-Authenticate: Bearer`) or 403.
    fn from(error: AuthError) -> Self {
        RouteError::new(error.code(), error.to_string())
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
) -> Result<Response, RouteError> {
    let existing = request.extensions().get::<AuthenticatedKey>();
    let authenticated = existing.is_some();
    match guard.check(request.headers(), existing) {
        Ok(key) => {
            // An outer layer's identity is already in the extensions.
            if !authenticated {
                request.extensions_mut().insert(key);
            }
            Ok(next.run(request).await)
        }
        Err(err) => {
            tracing::debug!(
                status = err.code().status().as_u16(),
                method = %request.method(),
                path = request.uri().path(),
                "request refused: {err}"
            );
            Err(err.into())
        }
    }
}

/// Axum middleware for routes serving any method (the pass-through): `GET` and `HEAD` need
/// [`Role::Read`], anything else [`Role::Write`]. Use with
/// `from_fn_with_state(keys, require_role_for_method)`.
pub async fn require_role_for_method(
    State(keys): State<Arc<ApiKeys>>,
    request: Request,
    next: Next,
) -> Result<Response, RouteError> {
    let role = if matches!(*request.method(), Method::GET | Method::HEAD) {
        Role::Read
    } else {
        Role::Write
    };
    require_role(State(RequireRole::new(keys, role)), request, next).await
}
