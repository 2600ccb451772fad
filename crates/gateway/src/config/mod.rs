//! Configuration: every setting the gateway reads, parsed once into a typed [`Config`].
//!
//! Values come from [`ConfigSource`]s rather than straight from the process environment, so tests
//! pass a [`MapSource`] and never mutate the environment. [`standard_sources`] stacks the sources
//! the binary uses, first wins:
//!
//! 1. command-line flags (converted to variable names, a [`MapSource`]);
//! 2. the process environment ([`EnvSource`]);
//! 3. `.env.local`, then `.env` ([`FileSource::dotenv`]; read without touching the environment);
//! 4. an optional TOML file named by `--config` or `ZOHO_GATEWAY_CONFIG`
//!    ([`FileSource::toml`]), whose top-level keys are the same variable names.
//!
//! [`Config::load`] validates everything and reports *all* problems at once, each naming its
//! variable; a secret's value is never repeated in a message or in `Debug` output. The binary
//! prints the [`ConfigError`] and exits with [`EXIT_CONFIG`] before binding any port.
//!
//! The variables — names, secrecy, defaults, ranges — are one table, [`var::VARIABLES`], which
//! `docs/configuration.md` reproduces. The names are those of the original Next.js integration
//! (`ZOHO_DESK_*`) plus the gateway's own (`GATEWAY_*`).
//!
//! Layout: `problem` (the error leaf: modules that report configuration problems import
//! `crate::config::problem`, not the loader), `var` (the table), `sources`,
//! `parse` (single values), `load` (the validation that builds a [`Config`]).

mod load;
mod parse;
pub(crate) mod problem;
mod sources;
pub mod var;

#[cfg(test)]
mod fixtures;

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use zoho_auth::store::EncryptionKeys;
use zoho_auth::{AccessToken, Credentials, DataCentre, ZohoEndpoints};

use crate::auth::ApiKeys;
use crate::passthrough::Allowlist;

pub use problem::{ConfigError, EXIT_CONFIG, Problem, io_error_reason};
pub use sources::{
    ConfigSource, EnvSource, FileSource, LayeredSource, MapSource, standard_sources,
};

/// Everything the gateway needs, validated.
#[derive(Clone)]
pub struct Config {
    /// Zoho credentials and endpoints.
    pub zoho: ZohoConfig,
    /// Listeners and HTTP limits.
    pub server: ServerConfig,
    /// Client API keys and rate limits.
    pub security: SecurityConfig,
    /// Error tracking and tracing exporters.
    pub telemetry: TelemetryConfig,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("zoho", &self.zoho)
            .field("server", &self.server)
            .field("security", &self.security)
            .field("telemetry", &self.telemetry)
            .finish()
    }
}

/// Zoho credentials and where to reach Zoho.
#[derive(Clone)]
pub struct ZohoConfig {
    /// OAuth client id (not a secret).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// Refresh token.
    pub refresh_token: SecretString,
    /// Static access token used only when refreshing fails (`ZOHO_DESK_ACCESS_TOKEN`).
    pub fallback_access_token: Option<AccessToken>,
    /// Desk organization id (digits).
    pub org_id: String,
    /// The data centre named by `ZOHO_DESK_DOMAIN`.
    pub data_centre: DataCentre,
    /// Accounts and Desk URLs: the data centre's, with any URL overrides applied.
    pub endpoints: ZohoEndpoints,
    /// Refresh this long before expiry.
    pub refresh_margin: Duration,
    /// Upper bound of the refresh jitter.
    pub refresh_jitter: Duration,
    /// Life below which a token counts as expired.
    pub expiry_skew: Duration,
    /// Refresh attempts allowed per 10 minutes.
    pub refresh_budget: usize,
    /// Maximum concurrent Desk API calls.
    pub desk_max_concurrency: usize,
    /// Shared token store (`REDIS_URL`): fleet mode when set.
    pub redis_url: Option<SecretString>,
    /// Keys encrypting the shared token; `None` with a `redis_url` only when plaintext storage
    /// was explicitly allowed.
    pub token_encryption: Option<EncryptionKeys>,
}

impl ZohoConfig {
    /// The OAuth credentials for [`zoho_auth::TokenManager`].
    pub fn credentials(&self) -> Credentials {
        Credentials::new(
            self.client_id.clone(),
            self.client_secret.expose_secret(),
            self.refresh_token.expose_secret(),
        )
    }
}

impl fmt::Debug for ZohoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZohoConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field(
                "fallback_access_token",
                &self.fallback_access_token.as_ref().map(|_| REDACTED),
            )
            .field("org_id", &self.org_id)
            .field("data_centre", &self.data_centre)
            .field("endpoints", &self.endpoints)
            .field("refresh_margin", &self.refresh_margin)
            .field("refresh_jitter", &self.refresh_jitter)
            .field("expiry_skew", &self.expiry_skew)
            .field("refresh_budget", &self.refresh_budget)
            .field("desk_max_concurrency", &self.desk_max_concurrency)
            .field("redis_url", &self.redis_url.as_ref().map(|_| REDACTED))
            .field("token_encryption", &self.token_encryption)
            .finish()
    }
}

const REDACTED: Redacted = Redacted;

#[derive(Clone, Copy)]
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for terminals.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("must be json or pretty, got {}", parse::quote(s))),
        }
    }
}

/// Listeners and HTTP limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// API listener.
    pub listen: SocketAddr,
    /// Admin listener: `/metrics`, `/live`, `/ready`.
    pub admin_listen: SocketAddr,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Maximum request body size.
    pub body_limit_bytes: usize,
    /// Client connections held at once; at the limit the listener stops accepting.
    pub max_connections: usize,
    /// How long in-flight requests may finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Allowed CORS origins (`scheme://host[:port]`, or the single entry `*`); empty = CORS off.
    pub cors_origins: Vec<String>,
    /// Log output format.
    pub log_format: LogFormat,
    /// Paths and methods the pass-through admits.
    pub passthrough: Allowlist,
}

/// Per-key request quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once after a quiet period.
    pub burst: NonZeroU32,
}

impl RateLimitConfig {
    /// The `governor` quota.
    pub fn quota(&self) -> governor::Quota {
        governor::Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// Client authentication and rate limits.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Client API keys; empty means loopback-only anonymous mode.
    pub api_keys: ApiKeys,
    /// Per-key quota.
    pub rate_limit: RateLimitConfig,
}

/// Error tracking (Sentry) and trace export (OTLP/HTTP), each on when configured.
#[derive(Clone)]
pub struct TelemetryConfig {
    /// Sentry DSN, checked to have the shape `https://key@host/project`.
    pub sentry_dsn: Option<SecretString>,
    /// OTLP/HTTP endpoint.
    pub otlp_endpoint: Option<String>,
}

impl fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("sentry_dsn", &self.sentry_dsn.as_ref().map(|_| REDACTED))
            .field("otlp_endpoint", &self.otlp_endpoint)
            .finish()
    }
}
