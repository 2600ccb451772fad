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
//! Failures are [`RouteError`](crate::error::RouteError)s `unauthorized` (401 with
//! `WWW-Authenticate: Bearer`) or `forbidden` (403), whose body
//! [`render_errors`](crate::error::render_errors), outside these layers, writes. No response,
//! log line or error message ever contains a presented or configured key.
//!
//! `keys` holds the keys and roles (what configuration builds); `middleware` the request side.

mod keys;
mod middleware;

pub use keys::{ApiKeys, Role};
pub use middleware::{
    AuthenticatedKey, RequireRole, X_API_KEY, require_role, require_role_for_method,
};

#[cfg(test)]
mod tests;
