//! Configuration: every setting the gateway reads, parsed once into a typed [`Config`].
//!
//! Values come from [`ConfigSource`]s rather than straight from the process environment, so tests
//! pass a [`MapSource`] and never mutate the environment. [`standard_sources`] stacks the sources
//! the binary uses, first wins:
//!
//! 1. command-line flags (converted to variable names, a [`MapSource`]);
//! 2. the process environment ([`EnvSource`]);
//! 3. `.env.local`, then `.env` ([`DotenvSource`]; read without touching the environment);
//! 4. an optional TOML file named by `--config` or `ZOHO_GATEWAY_CONFIG` ([`TomlSource`]), whose
//!    top-level keys are the same variable names.
//!
//! [`Config::load`] validates everything and reports *all* problems at once, each naming its
//! variable; a secret's value is never repeated in a message or in `Debug` output. The binary
//! prints the [`ConfigError`] and exits with [`EXIT_CONFIG`] before binding any port.
//!
//! The variable names are those of the original Next.js integration (`ZOHO_DESK_*`) plus the
//! gateway's own (`GATEWAY_*`); see [`var`] and `docs/configuration.md`.

use crate::passthrough::Allowlist;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zoho_auth::store::EncryptionKeys;

use secrecy::{ExposeSecret, SecretString};
use zoho_auth::{AccessToken, Credentials, DataCentre, ZohoEndpoints};

use crate::auth::ApiKeys;

/// Exit code for invalid configuration (`EX_CONFIG` in `sysexits.h`).
pub const EXIT_CONFIG: i32 = 64;

/// The names of every variable the gateway reads.
pub mod var {
    /// OAuth client id of the Zoho "Server-based Application". Required.
    pub const ZOHO_DESK_CLIENT_ID: &str = "ZOHO_DESK_CLIENT_ID";
    /// OAuth client secret. Required; secret.
    pub const ZOHO_DESK_CLIENT_SECRET: &str = "ZOHO_DESK_CLIENT_SECRET";
    /// Long-lived refresh token. Required; secret.
    pub const ZOHO_DESK_REFRESH_TOKEN: &str = "ZOHO_DESK_REFRESH_TOKEN";
    /// Static access token used only when refreshing fails. Optional; secret.
    pub const ZOHO_DESK_ACCESS_TOKEN: &str = "ZOHO_DESK_ACCESS_TOKEN";
    /// Desk organization id (digits), sent as the `orgId` header. Required.
    pub const ZOHO_DESK_ORG_ID: &str = "ZOHO_DESK_ORG_ID";
    /// Desk domain or data-centre name; default `desk.zoho.com`.
    pub const ZOHO_DESK_DOMAIN: &str = "ZOHO_DESK_DOMAIN";
    /// Overrides the Accounts server root (emulator, proxy).
    pub const ZOHO_ACCOUNTS_URL: &str = "ZOHO_ACCOUNTS_URL";
    /// Overrides the Desk API base URL (emulator, proxy).
    pub const ZOHO_DESK_API_URL: &str = "ZOHO_DESK_API_URL";
    /// Seconds before expiry at which a token is refreshed; default 60.
    pub const ZOHO_TOKEN_REFRESH_MARGIN_SECS: &str = "ZOHO_TOKEN_REFRESH_MARGIN_SECS";
    /// Upper bound of the random jitter subtracted from the refresh time; default 30.
    pub const ZOHO_TOKEN_REFRESH_JITTER_SECS: &str = "ZOHO_TOKEN_REFRESH_JITTER_SECS";
    /// A token with less life than this is treated as expired; default 5.
    pub const ZOHO_TOKEN_EXPIRY_SKEW_SECS: &str = "ZOHO_TOKEN_EXPIRY_SKEW_SECS";
    /// Refresh attempts allowed per 10 minutes (per replica, and for the fleet in fleet mode);
    /// default 10, Zoho's own limit.
    pub const ZOHO_TOKEN_REFRESH_BUDGET: &str = "ZOHO_TOKEN_REFRESH_BUDGET";
    /// Maximum concurrent Desk API calls; default 10.
    pub const ZOHO_DESK_MAX_CONCURRENCY: &str = "ZOHO_DESK_MAX_CONCURRENCY";
    /// API listener; default `127.0.0.1:3000`.
    pub const GATEWAY_LISTEN: &str = "GATEWAY_LISTEN";
    /// Admin listener (metrics, health); default `127.0.0.1:9090`.
    pub const GATEWAY_ADMIN_LISTEN: &str = "GATEWAY_ADMIN_LISTEN";
    /// Per-request timeout in seconds; default 30.
    pub const GATEWAY_REQUEST_TIMEOUT_SECS: &str = "GATEWAY_REQUEST_TIMEOUT_SECS";
    /// Request body limit in bytes; default 1 MiB.
    pub const GATEWAY_BODY_LIMIT_BYTES: &str = "GATEWAY_BODY_LIMIT_BYTES";
    /// Client connections the API listener holds at once; default 1024.
    pub const GATEWAY_MAX_CONNECTIONS: &str = "GATEWAY_MAX_CONNECTIONS";
    /// Seconds in-flight requests get to finish on shutdown; default 20.
    pub const GATEWAY_SHUTDOWN_GRACE_SECS: &str = "GATEWAY_SHUTDOWN_GRACE_SECS";
    /// Comma-separated CORS origins; default empty (CORS off).
    pub const GATEWAY_CORS_ORIGINS: &str = "GATEWAY_CORS_ORIGINS";
    /// `pretty` (default) or `json`.
    pub const GATEWAY_LOG_FORMAT: &str = "GATEWAY_LOG_FORMAT";
    /// What the pass-through admits (see `crate::passthrough`); default: its built-in list.
    pub const GATEWAY_PASSTHROUGH_ALLOW: &str = crate::passthrough::ALLOW_VAR;
    /// Comma-separated client API keys (`name:role:key` or `name:role:sha256:<hex>`); secret.
    pub const GATEWAY_API_KEYS: &str = "GATEWAY_API_KEYS";
    /// A file with one API key entry per line.
    pub const GATEWAY_API_KEYS_FILE: &str = "GATEWAY_API_KEYS_FILE";
    /// Requests per second each API key may make; default 20.
    pub const GATEWAY_RATE_LIMIT_PER_SECOND: &str = "GATEWAY_RATE_LIMIT_PER_SECOND";
    /// Burst each API key may make; default 40.
    pub const GATEWAY_RATE_LIMIT_BURST: &str = "GATEWAY_RATE_LIMIT_BURST";
    /// Sentry DSN; secret.
    pub const SENTRY_DSN: &str = "SENTRY_DSN";
    /// OTLP/HTTP endpoint for traces.
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// Redis URL for the shared token store (several comma-separated node URLs for a
    /// cluster); secret (may hold a password).
    pub const REDIS_URL: &str = "REDIS_URL";
    /// 32-byte key (64 hex digits or base64) encrypting the shared token in Redis; secret.
    pub const ZOHO_TOKEN_ENCRYPTION_KEY: &str = "ZOHO_TOKEN_ENCRYPTION_KEY";
    /// The previous key during a rotation (still decrypts); secret.
    pub const ZOHO_TOKEN_ENCRYPTION_KEY_PREVIOUS: &str = "ZOHO_TOKEN_ENCRYPTION_KEY_PREVIOUS";
    /// `true` to keep the shared token in Redis unencrypted (no key); default `false`.
    pub const ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT: &str = "ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT";
    /// Path of the optional TOML configuration file (environment, flags or `.env` only).
    pub const ZOHO_GATEWAY_CONFIG: &str = "ZOHO_GATEWAY_CONFIG";

    /// Every variable [`Config::load`](super::Config::load) reads, in documentation order.
    /// (`ZOHO_GATEWAY_CONFIG` is read by [`standard_sources`](super::standard_sources) instead.)
    pub const ALL: [&str; 32] = [
        ZOHO_DESK_CLIENT_ID,
        ZOHO_DESK_CLIENT_SECRET,
        ZOHO_DESK_REFRESH_TOKEN,
        ZOHO_DESK_ACCESS_TOKEN,
        ZOHO_DESK_ORG_ID,
        ZOHO_DESK_DOMAIN,
        ZOHO_ACCOUNTS_URL,
        ZOHO_DESK_API_URL,
        ZOHO_TOKEN_REFRESH_MARGIN_SECS,
        ZOHO_TOKEN_REFRESH_JITTER_SECS,
        ZOHO_TOKEN_EXPIRY_SKEW_SECS,
        ZOHO_TOKEN_REFRESH_BUDGET,
        ZOHO_DESK_MAX_CONCURRENCY,
        GATEWAY_LISTEN,
        GATEWAY_ADMIN_LISTEN,
        GATEWAY_REQUEST_TIMEOUT_SECS,
        GATEWAY_BODY_LIMIT_BYTES,
        GATEWAY_MAX_CONNECTIONS,
        GATEWAY_SHUTDOWN_GRACE_SECS,
        GATEWAY_CORS_ORIGINS,
        GATEWAY_PASSTHROUGH_ALLOW,
        GATEWAY_LOG_FORMAT,
        GATEWAY_API_KEYS,
        GATEWAY_API_KEYS_FILE,
        GATEWAY_RATE_LIMIT_PER_SECOND,
        GATEWAY_RATE_LIMIT_BURST,
        SENTRY_DSN,
        OTEL_EXPORTER_OTLP_ENDPOINT,
        REDIS_URL,
        ZOHO_TOKEN_ENCRYPTION_KEY,
        ZOHO_TOKEN_ENCRYPTION_KEY_PREVIOUS,
        ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT,
    ];

    /// Variables whose values are never echoed.
    pub const SECRETS: [&str; 8] = [
        ZOHO_DESK_CLIENT_SECRET,
        ZOHO_DESK_REFRESH_TOKEN,
        ZOHO_DESK_ACCESS_TOKEN,
        GATEWAY_API_KEYS,
        SENTRY_DSN,
        REDIS_URL,
        ZOHO_TOKEN_ENCRYPTION_KEY,
        ZOHO_TOKEN_ENCRYPTION_KEY_PREVIOUS,
    ];
}

/// Defaults, in one place for the docs and the sandbox.
pub mod defaults {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    /// `ZOHO_DESK_DOMAIN`.
    pub const DESK_DOMAIN: &str = "desk.zoho.com";
    /// `ZOHO_TOKEN_REFRESH_MARGIN_SECS`.
    pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
    /// `ZOHO_DESK_MAX_CONCURRENCY`.
    pub const DESK_MAX_CONCURRENCY: usize = 10;
    /// `GATEWAY_LISTEN`.
    pub const LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 3000);
    /// `GATEWAY_ADMIN_LISTEN`.
    pub const ADMIN_LISTEN: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9090);
    /// `GATEWAY_REQUEST_TIMEOUT_SECS`.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// `GATEWAY_BODY_LIMIT_BYTES`.
    pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;
    /// `GATEWAY_MAX_CONNECTIONS`.
    pub const MAX_CONNECTIONS: usize = 1024;
    /// `GATEWAY_SHUTDOWN_GRACE_SECS`.
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
    /// `GATEWAY_RATE_LIMIT_PER_SECOND`.
    pub const RATE_LIMIT_PER_SECOND: u32 = 20;
    /// `GATEWAY_RATE_LIMIT_BURST`.
    pub const RATE_LIMIT_BURST: u32 = 40;
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/// Somewhere configuration values come from.
pub trait ConfigSource {
    /// The raw value of `name`, if this source sets it.
    fn get(&self, name: &str) -> Option<String>;

    /// Where the values come from, for messages (`the environment`, a file path, …).
    fn describe(&self) -> String;

    /// The value of `name` and a description of the source that set it. Layered sources name
    /// the layer that won.
    fn lookup(&self, name: &str) -> Option<(String, String)> {
        self.get(name).map(|value| (value, self.describe()))
    }
}

/// The process environment. Values that are not valid UTF-8 are converted lossily (and then
/// usually fail validation).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSource;

impl ConfigSource for EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
    }

    fn describe(&self) -> String {
        "the environment".to_owned()
    }
}

/// Values given explicitly: command-line flags converted to variable names, or a test's map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapSource(pub BTreeMap<String, String>);

impl MapSource {
    /// An empty source.
    pub fn new() -> Self {
        MapSource::default()
    }

    /// Sets `name` (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Sets `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapSource {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        MapSource(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl ConfigSource for MapSource {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn describe(&self) -> String {
        "command-line flags".to_owned()
    }
}

/// A `.env`-style file, parsed with `dotenvy` without touching the process environment. A
/// missing file is an empty source. When a name appears twice, the first wins (as in dotenvy).
#[derive(Clone)]
pub struct DotenvSource {
    path: PathBuf,
    values: BTreeMap<String, String>,
}

impl DotenvSource {
    /// Reads `path`. A missing file gives an empty source; an unreadable or malformed one is a
    /// problem (the offending line's content is never shown: it may hold a secret).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut source = DotenvSource {
            path: path.to_owned(),
            values: BTreeMap::new(),
        };
        // Read the bytes ourselves (rather than `dotenvy::from_path_iter`) to drop a UTF-8
        // byte-order mark, which dotenvy's line parser rejects and Windows editors add.
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(source),
            Err(err) => {
                return Err(ConfigError::single(
                    DOTENV,
                    format!("cannot read {}: {}", path.display(), io_error_reason(&err)),
                ));
            }
        };
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let iter = dotenvy::from_read_iter(text);
        let mut problems = Vec::new();
        let mut previous: Option<String> = None;
        for item in iter {
            match item {
                Ok((name, value)) => {
                    previous = Some(name.clone());
                    source.values.entry(name).or_insert(value);
                }
                Err(err) => {
                    let after = previous.as_deref().map_or_else(
                        || "at the start of the file".to_owned(),
                        |name| format!("after {name}"),
                    );
                    let what = match err {
                        dotenvy::Error::LineParse(..) => "cannot parse the line",
                        dotenvy::Error::EnvVar(_) => "cannot substitute a variable in the line",
                        _ => "cannot read the line",
                    };
                    problems.push(Problem::new(
                        DOTENV,
                        format!(
                            "{}: {what} {after} (its content is not shown)",
                            path.display()
                        ),
                    ));
                    if !matches!(err, dotenvy::Error::LineParse(..)) {
                        break;
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(source)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The file this source was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for DotenvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DotenvSource")
            .field("path", &self.path)
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigSource for DotenvSource {
    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// A TOML file whose top-level keys are the variable names themselves:
///
/// ```toml
/// ZOHO_DESK_ORG_ID = "123456789"
/// ZOHO_DESK_DOMAIN = "desk.zoho.eu"
/// GATEWAY_RATE_LIMIT_PER_SECOND = 50
/// GATEWAY_CORS_ORIGINS = ["https://app.example.com", "https://admin.example.com"]
/// ```
///
/// Strings are taken as they are, integers, floats and booleans as their text, arrays of those
/// are joined with commas. Unknown keys (and tables) are problems, so a typo cannot pass silently.
#[derive(Clone)]
pub struct TomlSource {
    path: PathBuf,
    values: BTreeMap<String, String>,
}

impl TomlSource {
    /// Reads and checks `path`; the file must exist.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ConfigError::single(
                var::ZOHO_GATEWAY_CONFIG,
                format!("cannot read {}: {}", path.display(), io_error_reason(&err)),
            )
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let label = path.display();
        let table: toml::Table = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| {
                text.bytes()
                    .take(span.start)
                    .filter(|b| *b == b'\n')
                    .count()
                    + 1
            });
            let at = line.map_or_else(String::new, |line| format!(" at line {line}"));
            ConfigError::single(
                var::ZOHO_GATEWAY_CONFIG,
                format!("{label}: invalid TOML{at}: {}", err.message().trim()),
            )
        })?;
        let mut problems = Vec::new();
        let mut values = BTreeMap::new();
        for (key, value) in table {
            let Some(name) = var::ALL.iter().find(|name| **name == key) else {
                let upper = key.to_ascii_uppercase();
                let hint = if upper == var::ZOHO_GATEWAY_CONFIG {
                    " (a configuration file cannot name another one)".to_owned()
                } else if var::ALL.contains(&upper.as_str()) {
                    format!(" (keys are the variable names: did you mean {upper}?)")
                } else {
                    " (keys are the variable names listed in docs/configuration.md)".to_owned()
                };
                problems.push(Problem::new(
                    var::ZOHO_GATEWAY_CONFIG,
                    format!("{label}: unknown key {key:?}{hint}"),
                ));
                continue;
            };
            match toml_text(&value) {
                Some(text) => {
                    values.insert((*name).to_owned(), text);
                }
                None => problems.push(Problem::new(
                    var::ZOHO_GATEWAY_CONFIG,
                    format!(
                        "{label}: {name} must be a string, number, boolean or an array of those"
                    ),
                )),
            }
        }
        if problems.is_empty() {
            Ok(TomlSource {
                path: path.to_owned(),
                values,
            })
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The file this source was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn toml_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(n) => Some(n.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::Array(_) => None,
                other => toml_text(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        toml::Value::Datetime(_) | toml::Value::Table(_) => None,
    }
}

impl fmt::Debug for TomlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TomlSource")
            .field("path", &self.path)
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigSource for TomlSource {
    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    fn describe(&self) -> String {
        format!("TOML file {}", self.path.display())
    }
}

/// Sources stacked in precedence order: the first that sets a variable wins.
pub struct LayeredSource(pub Vec<Box<dyn ConfigSource>>);

impl LayeredSource {
    /// An empty stack.
    pub fn new() -> Self {
        LayeredSource(Vec::new())
    }

    /// Adds a source below the existing ones (lower precedence).
    pub fn push(&mut self, source: impl ConfigSource + 'static) {
        self.0.push(Box::new(source));
    }
}

impl Default for LayeredSource {
    fn default() -> Self {
        LayeredSource::new()
    }
}

impl fmt::Debug for LayeredSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LayeredSource")
            .field(&self.0.iter().map(|s| s.describe()).collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigSource for LayeredSource {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find_map(|source| source.get(name))
    }

    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|source| source.describe())
            .collect::<Vec<_>>()
            .join(", then ")
    }

    fn lookup(&self, name: &str) -> Option<(String, String)> {
        self.0.iter().find_map(|source| source.lookup(name))
    }
}

/// The sources the binary uses, in precedence order: `flags` > the process environment >
/// `dir/.env.local` > `dir/.env` > the TOML file. The TOML file is `toml_path` if given (the
/// `--config` flag), else the value of `ZOHO_GATEWAY_CONFIG` found in the layers above; a named
/// file must exist. Relative paths are relative to the working directory.
pub fn standard_sources(
    flags: MapSource,
    toml_path: Option<&Path>,
    dir: &Path,
) -> Result<LayeredSource, ConfigError> {
    layered_sources(flags, Box::new(EnvSource), toml_path, dir)
}

fn layered_sources(
    flags: MapSource,
    env: Box<dyn ConfigSource>,
    toml_path: Option<&Path>,
    dir: &Path,
) -> Result<LayeredSource, ConfigError> {
    let mut problems = Vec::new();
    let mut layers = LayeredSource(vec![Box::new(flags), env]);
    for name in [".env.local", ".env"] {
        match DotenvSource::load(&dir.join(name)) {
            Ok(source) => layers.push(source),
            Err(err) => problems.extend(err.problems),
        }
    }
    let toml_path = toml_path.map(Path::to_owned).or_else(|| {
        layers
            .get(var::ZOHO_GATEWAY_CONFIG)
            .map(|path| path.trim().to_owned())
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = toml_path {
        match TomlSource::load(&path) {
            Ok(source) => layers.push(source),
            Err(err) => problems.extend(err.problems),
        }
    }
    if problems.is_empty() {
        Ok(layers)
    } else {
        Err(ConfigError { problems })
    }
}

/// The `variable` of problems found in a `.env` file (the message names the file).
const DOTENV: &str = ".env";

pub(crate) fn io_error_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::InvalidData => "not valid UTF-8".to_owned(),
        kind => kind.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable (or file) at fault.
    pub variable: &'static str,
    /// What is wrong, without the value when the variable is a secret.
    pub message: String,
}

impl Problem {
    /// A problem with `variable`.
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Problem {
            variable,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Everything wrong with the configuration; the binary prints it and exits with
/// [`EXIT_CONFIG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Each problem, in the order found.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    fn single(variable: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem::new(variable, message)],
        }
    }

    /// The process exit code for this error: [`EXIT_CONFIG`].
    pub fn exit_code(&self) -> i32 {
        EXIT_CONFIG
    }

    /// Whether some problem concerns `variable`.
    pub fn mentions(&self, variable: &str) -> bool {
        self.problems.iter().any(|p| p.variable == variable)
    }
}

impl From<Vec<Problem>> for ConfigError {
    fn from(problems: Vec<Problem>) -> Self {
        ConfigError { problems }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------------------------
// The typed configuration
// ---------------------------------------------------------------------------------------------

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for terminals.
    #[default]
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
            _ => Err(format!("must be json or pretty, got {}", quote(s))),
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

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: defaults::LISTEN,
            admin_listen: defaults::ADMIN_LISTEN,
            request_timeout: defaults::REQUEST_TIMEOUT,
            body_limit_bytes: defaults::BODY_LIMIT_BYTES,
            max_connections: defaults::MAX_CONNECTIONS,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
            cors_origins: Vec::new(),
            log_format: LogFormat::default(),
            passthrough: Allowlist::default(),
        }
    }
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

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: NonZeroU32::new(defaults::RATE_LIMIT_PER_SECOND).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(defaults::RATE_LIMIT_BURST).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Client authentication and rate limits.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// Client API keys; empty means loopback-only anonymous mode.
    pub api_keys: ApiKeys,
    /// Per-key quota.
    pub rate_limit: RateLimitConfig,
}

/// Error tracking (Sentry) and trace export (OTLP/HTTP), each on when configured.
#[derive(Clone, Default)]
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

impl Config {
    /// Reads and validates every variable from `source`, reporting all problems at once.
    pub fn load(source: &dyn ConfigSource) -> Result<Config, ConfigError> {
        let mut r = Reader {
            source,
            problems: Vec::new(),
        };

        // Zoho.
        let client_id = r
            .required(var::ZOHO_DESK_CLIENT_ID)
            .and_then(|v| r.check(var::ZOHO_DESK_CLIENT_ID, &v, plain_token));
        let client_secret = r
            .required(var::ZOHO_DESK_CLIENT_SECRET)
            .and_then(|v| r.secret(var::ZOHO_DESK_CLIENT_SECRET, v));
        let refresh_token = r
            .required(var::ZOHO_DESK_REFRESH_TOKEN)
            .and_then(|v| r.secret(var::ZOHO_DESK_REFRESH_TOKEN, v));
        let fallback_access_token = r
            .optional(var::ZOHO_DESK_ACCESS_TOKEN)
            .and_then(|v| r.secret(var::ZOHO_DESK_ACCESS_TOKEN, v))
            .map(|s| AccessToken::new(s.expose_secret()));
        let org_id = r
            .required(var::ZOHO_DESK_ORG_ID)
            .and_then(|v| r.check(var::ZOHO_DESK_ORG_ID, &v, parse_org_id));
        let data_centre = match r.optional(var::ZOHO_DESK_DOMAIN) {
            None => Some(DataCentre::Us),
            Some(v) => r.check(var::ZOHO_DESK_DOMAIN, &v, |s| {
                s.parse::<DataCentre>().map_err(|_| {
                    format!(
                        "{} is not a Zoho Desk domain or data centre: use e.g. desk.zoho.com, \
                         desk.zoho.eu, desk.zoho.in, desk.zoho.com.au, desk.zohocloud.ca, or a \
                         name such as US or EU",
                        quote(s)
                    )
                })
            }),
        };
        let mut endpoints = ZohoEndpoints::for_data_centre(data_centre.unwrap_or(DataCentre::Us));
        if let Some(v) = r.optional(var::ZOHO_ACCOUNTS_URL) {
            match endpoints.clone().with_accounts_url(&v.text) {
                Ok(e) => endpoints = e,
                Err(_) => r.bad(var::ZOHO_ACCOUNTS_URL, &v, endpoint_message(&v.text)),
            }
        }
        if let Some(v) = r.optional(var::ZOHO_DESK_API_URL) {
            match endpoints.clone().with_desk_api_url(&v.text) {
                Ok(e) => endpoints = e,
                Err(_) => r.bad(var::ZOHO_DESK_API_URL, &v, endpoint_message(&v.text)),
            }
        }
        let refresh_margin = r.seconds(
            var::ZOHO_TOKEN_REFRESH_MARGIN_SECS,
            defaults::REFRESH_MARGIN,
            1,
            2999,
        );
        let refresh_jitter = r.seconds(
            var::ZOHO_TOKEN_REFRESH_JITTER_SECS,
            Duration::from_secs(30),
            0,
            600,
        );
        let expiry_skew = r.seconds(
            var::ZOHO_TOKEN_EXPIRY_SKEW_SECS,
            Duration::from_secs(5),
            0,
            300,
        );
        let refresh_budget = r.integer(var::ZOHO_TOKEN_REFRESH_BUDGET, 10, 1, 1000) as usize;
        let desk_max_concurrency = r.integer(
            var::ZOHO_DESK_MAX_CONCURRENCY,
            defaults::DESK_MAX_CONCURRENCY as u64,
            1,
            25,
        ) as usize;
        let redis_url = r
            .optional(var::REDIS_URL)
            .and_then(|v| r.check(var::REDIS_URL, &v, parse_redis_url));
        let token_encryption = r.encryption_keys();
        let allow_plaintext = r
            .optional(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT)
            .and_then(|v| r.check(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT, &v, parse_bool))
            .unwrap_or(false);
        if redis_url.is_some()
            && token_encryption.is_none()
            && !allow_plaintext
            && !r.mentions(var::ZOHO_TOKEN_ENCRYPTION_KEY)
        {
            r.problems.push(Problem::new(
                var::ZOHO_TOKEN_ENCRYPTION_KEY,
                "REDIS_URL is set, so the shared token must be encrypted at rest: set a 32-byte key \
                 (64 hex digits or base64, e.g. from `openssl rand -hex 32`), or set \
                 ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT=true to store it unencrypted",
            ));
        }

        // Server.
        let listen = r.socket_addr(var::GATEWAY_LISTEN, defaults::LISTEN);
        let admin_listen = r.socket_addr(var::GATEWAY_ADMIN_LISTEN, defaults::ADMIN_LISTEN);
        if let (Some(api), Some(admin)) = (listen, admin_listen)
            && same_port(api, admin)
        {
            r.problems.push(Problem::new(
                var::GATEWAY_ADMIN_LISTEN,
                format!("{admin} collides with GATEWAY_LISTEN {api}: use another port"),
            ));
        }
        let request_timeout = r.seconds(
            var::GATEWAY_REQUEST_TIMEOUT_SECS,
            defaults::REQUEST_TIMEOUT,
            1,
            600,
        );
        let body_limit_bytes = r.integer(
            var::GATEWAY_BODY_LIMIT_BYTES,
            defaults::BODY_LIMIT_BYTES as u64,
            1,
            64 * 1024 * 1024,
        ) as usize;
        let max_connections = r.integer(
            var::GATEWAY_MAX_CONNECTIONS,
            defaults::MAX_CONNECTIONS as u64,
            1,
            1_000_000,
        ) as usize;
        let shutdown_grace = r.seconds(
            var::GATEWAY_SHUTDOWN_GRACE_SECS,
            defaults::SHUTDOWN_GRACE,
            0,
            300,
        );
        let cors_origins = r
            .optional(var::GATEWAY_CORS_ORIGINS)
            .and_then(|v| r.check(var::GATEWAY_CORS_ORIGINS, &v, parse_cors_origins))
            .unwrap_or_default();
        let passthrough = r
            .optional(var::GATEWAY_PASSTHROUGH_ALLOW)
            .and_then(|v| r.check(var::GATEWAY_PASSTHROUGH_ALLOW, &v, Allowlist::parse))
            .unwrap_or_default();
        let log_format = r
            .optional(var::GATEWAY_LOG_FORMAT)
            .and_then(|v| r.check(var::GATEWAY_LOG_FORMAT, &v, str::parse::<LogFormat>))
            .unwrap_or_default();

        // Security.
        let key_list = r.optional(var::GATEWAY_API_KEYS);
        let key_file = r.optional(var::GATEWAY_API_KEYS_FILE);
        let api_keys = match ApiKeys::from_config(
            key_list.as_ref().map(|v| v.text.as_str()),
            key_file.as_ref().map(|v| Path::new(v.text.as_str())),
        ) {
            Ok(keys) => Some(keys),
            Err(problems) => {
                r.problems.extend(problems);
                None
            }
        };
        if let (Some(keys), Some(listen)) = (&api_keys, listen)
            && keys.is_empty()
            && !listen.ip().is_loopback()
        {
            r.problems.push(Problem::new(
                var::GATEWAY_LISTEN,
                format!(
                    "refusing to serve without API keys on a non-loopback address ({listen}); \
                     set GATEWAY_API_KEYS (or GATEWAY_API_KEYS_FILE), or listen on 127.0.0.1"
                ),
            ));
        }
        let per_second = r.integer(
            var::GATEWAY_RATE_LIMIT_PER_SECOND,
            u64::from(defaults::RATE_LIMIT_PER_SECOND),
            1,
            100_000,
        );
        let burst = r.integer(
            var::GATEWAY_RATE_LIMIT_BURST,
            u64::from(defaults::RATE_LIMIT_BURST),
            1,
            100_000,
        );

        // Telemetry.
        let sentry_dsn = r
            .optional(var::SENTRY_DSN)
            .and_then(|v| r.check(var::SENTRY_DSN, &v, parse_sentry_dsn));
        let otlp_endpoint = r
            .optional(var::OTEL_EXPORTER_OTLP_ENDPOINT)
            .and_then(|v| r.check(var::OTEL_EXPORTER_OTLP_ENDPOINT, &v, parse_otlp_endpoint));

        let problems = std::mem::take(&mut r.problems);
        let (
            Some(client_id),
            Some(client_secret),
            Some(refresh_token),
            Some(org_id),
            Some(data_centre),
            Some(listen),
            Some(admin_listen),
            Some(api_keys),
            true,
        ) = (
            client_id,
            client_secret,
            refresh_token,
            org_id,
            data_centre,
            listen,
            admin_listen,
            api_keys,
            problems.is_empty(),
        )
        else {
            debug_assert!(
                !problems.is_empty(),
                "a missing value must come with a problem"
            );
            return Err(ConfigError { problems });
        };
        let rate_limit = RateLimitConfig {
            per_second: NonZeroU32::new(per_second as u32).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(burst as u32).unwrap_or(NonZeroU32::MIN),
        };
        Ok(Config {
            zoho: ZohoConfig {
                client_id,
                client_secret,
                refresh_token,
                fallback_access_token,
                org_id,
                data_centre,
                endpoints,
                refresh_margin,
                refresh_jitter,
                expiry_skew,
                refresh_budget,
                desk_max_concurrency,
                redis_url,
                token_encryption,
            },
            server: ServerConfig {
                listen,
                admin_listen,
                request_timeout,
                body_limit_bytes,
                max_connections,
                shutdown_grace,
                cors_origins,
                log_format,
                passthrough,
            },
            security: SecurityConfig {
                api_keys,
                rate_limit,
            },
            telemetry: TelemetryConfig {
                sentry_dsn,
                otlp_endpoint,
            },
        })
    }

    /// Things worth a warning at startup (the config is valid, but an operator should know).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.security.api_keys.is_empty() {
            warnings.push(format!(
                "no API keys configured: serving on loopback {} only, every request is treated \
                 as admin; set GATEWAY_API_KEYS before exposing the gateway",
                self.server.listen
            ));
        }
        if self.server.cors_origins.iter().any(|o| o == "*") {
            warnings.push("GATEWAY_CORS_ORIGINS=* lets any web page call the gateway".to_owned());
        }
        warnings
    }
}

/// A value read from a source, with where it came from.
struct Value {
    text: String,
    origin: String,
}

struct Reader<'a> {
    source: &'a dyn ConfigSource,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    /// The value of `name`; an empty or all-blank value counts as unset.
    fn optional(&mut self, name: &'static str) -> Option<Value> {
        let (text, origin) = self.source.lookup(name)?;
        if text.trim().is_empty() {
            return None;
        }
        Some(Value { text, origin })
    }

    /// The value of `name`, or a problem saying it is missing.
    fn required(&mut self, name: &'static str) -> Option<Value> {
        match self.source.lookup(name) {
            None => {
                self.problems.push(Problem::new(name, "is not set"));
                None
            }
            Some((text, origin)) if text.trim().is_empty() => {
                self.problems
                    .push(Problem::new(name, format!("is empty (from {origin})")));
                None
            }
            Some((text, origin)) => Some(Value { text, origin }),
        }
    }

    fn bad(&mut self, name: &'static str, value: &Value, message: String) {
        self.problems.push(Problem::new(
            name,
            format!("{message} (from {})", value.origin),
        ));
    }

    fn check<T>(
        &mut self,
        name: &'static str,
        value: &Value,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&value.text) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.bad(name, value, message);
                None
            }
        }
    }

    /// A secret: checked for shape only, never quoted.
    fn secret(&mut self, name: &'static str, value: Value) -> Option<SecretString> {
        let problem = if value.text.chars().any(char::is_whitespace) {
            Some("contains whitespace (a trailing newline from a secrets file?)")
        } else if value.text.chars().any(char::is_control) {
            Some("contains control characters")
        } else {
            None
        };
        match problem {
            Some(message) => {
                self.bad(name, &value, message.to_owned());
                None
            }
            None => Some(SecretString::from(value.text)),
        }
    }

    /// The shared-token encryption keys, each checked on its own so a problem names its variable
    /// (never its value).
    fn encryption_keys(&mut self) -> Option<EncryptionKeys> {
        let mut parsed = |name: &'static str| -> Option<SecretString> {
            let value = self.optional(name)?;
            let secret = self.secret(name, value)?;
            match EncryptionKeys::parse(secret.expose_secret(), None) {
                Ok(_) => Some(secret),
                Err(error) => {
                    self.problems.push(Problem::new(name, error.to_string()));
                    None
                }
            }
        };
        let primary = parsed(var::ZOHO_TOKEN_ENCRYPTION_KEY);
        let previous = parsed(var::ZOHO_TOKEN_ENCRYPTION_KEY_PREVIOUS);
        let primary = primary?;
        EncryptionKeys::parse(
            primary.expose_secret(),
            previous.as_ref().map(|p| p.expose_secret()),
        )
        .ok()
    }

    fn mentions(&self, name: &str) -> bool {
        self.problems.iter().any(|p| p.variable == name)
    }

    fn integer(&mut self, name: &'static str, default: u64, min: u64, max: u64) -> u64 {
        let Some(value) = self.optional(name) else {
            return default;
        };
        self.check(name, &value, |s| match s.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(format!("must be between {min} and {max}, got {}", quote(s))),
            Err(_) => Err(format!("must be a whole number, got {}", quote(s))),
        })
        .unwrap_or(default)
    }

    fn seconds(&mut self, name: &'static str, default: Duration, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.integer(name, default.as_secs(), min, max))
    }

    fn socket_addr(&mut self, name: &'static str, default: SocketAddr) -> Option<SocketAddr> {
        let Some(value) = self.optional(name) else {
            return Some(default);
        };
        self.check(name, &value, |s| {
            s.trim().parse::<SocketAddr>().map_err(|_| {
                format!(
                    "must be an IP address and port such as 127.0.0.1:3000, 0.0.0.0:3000 or \
                     [::1]:3000 (host names are not resolved), got {}",
                    quote(s)
                )
            })
        })
    }
}

/// `value` in quotes, shortened; only for variables that are not secrets.
fn quote(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() > MAX {
        let head: String = value.chars().take(MAX).collect();
        format!("{:?}", format!("{head}…"))
    } else {
        format!("{value:?}")
    }
}

fn plain_token(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!("must not contain whitespace, got {}", quote(s)))
    } else {
        Ok(s.to_owned())
    }
}

fn parse_org_id(s: &str) -> Result<String, String> {
    let trimmed = s.trim();
    if !trimmed.is_empty() && trimmed.len() <= 32 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "must be the numeric Desk organization id (digits only), got {}",
            quote(s)
        ))
    }
}

fn endpoint_message(value: &str) -> String {
    let shown = if value.contains('@') {
        String::new()
    } else {
        format!(", got {}", quote(value))
    };
    format!(
        "must be an absolute http(s) URL without credentials, query or fragment, such as \
         http://127.0.0.1:8700{shown}"
    )
}

/// `scheme://[userinfo@]host…`, split; `None` unless the scheme is one of `schemes`.
fn split_url<'a>(value: &'a str, schemes: &[&str]) -> Option<(Option<&'a str>, &'a str, &'a str)> {
    let (scheme, rest) = value.split_once("://")?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    let host_name = host.strip_prefix('[').map_or_else(
        || host.split(':').next().unwrap_or(""),
        |h| h.split(']').next().unwrap_or(""),
    );
    if host_name.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some((userinfo, host, path))
}

fn parse_sentry_dsn(s: &str) -> Result<SecretString, String> {
    const SHAPE: &str = "must have the shape https://<public key>@<host>/<project id>";
    let (userinfo, _host, path) = split_url(s.trim(), &["https", "http"]).ok_or(SHAPE)?;
    let key_ok = userinfo.is_some_and(|u| !u.split(':').next().unwrap_or("").is_empty());
    let project = path
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    if key_ok && !project.is_empty() {
        Ok(SecretString::from(s.trim().to_owned()))
    } else {
        Err(SHAPE.to_owned())
    }
}

fn parse_otlp_endpoint(s: &str) -> Result<String, String> {
    match split_url(s.trim(), &["http", "https"]) {
        Some((None, _, _)) => Ok(s.trim().trim_end_matches('/').to_owned()),
        Some((Some(_), _, _)) => {
            Err("must not contain credentials; use OTEL_EXPORTER_OTLP_HEADERS".to_owned())
        }
        None if s.contains('@') => {
            Err("must be an http(s) URL such as http://127.0.0.1:4318".to_owned())
        }
        None => Err(format!(
            "must be an http(s) URL such as http://127.0.0.1:4318, got {}",
            quote(s)
        )),
    }
}

fn parse_redis_url(s: &str) -> Result<SecretString, String> {
    // Several comma-separated node URLs address a Redis Cluster.
    let nodes: Vec<&str> = s.split(',').map(str::trim).collect();
    if nodes
        .iter()
        .all(|node| split_url(node, &["redis", "rediss"]).is_some())
    {
        Ok(SecretString::from(nodes.join(",")))
    } else {
        Err("must be a redis:// or rediss:// URL with a host (or several, comma-separated, for a cluster)".to_owned())
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(format!("must be true or false, got {}", quote(other))),
    }
}

fn parse_cors_origins(s: &str) -> Result<Vec<String>, String> {
    let entries: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.contains(&"*") {
        return if entries.len() == 1 {
            Ok(vec!["*".to_owned()])
        } else {
            Err("\"*\" must be the only entry when given".to_owned())
        };
    }
    let mut origins = Vec::with_capacity(entries.len());
    for entry in entries {
        let normalised = entry.trim_end_matches('/');
        match split_url(normalised, &["http", "https"]) {
            Some((None, _, "")) => origins.push(normalised.to_ascii_lowercase()),
            _ => {
                return Err(format!(
                    "{} is not an origin: use scheme://host[:port] such as \
                     https://app.example.com, without a path",
                    quote(entry)
                ));
            }
        }
    }
    Ok(origins)
}

fn same_port(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SECRET: &str = "client-secret-VALUE-7f3a9c";
    const REFRESH: &str = "1000.refresh-token-VALUE.8e2b4d";
    const ACCESS: &str = "1000.access-token-VALUE.2c9d1e0f7a6b5c4d3e2f1a0b9c8d7e6f";
    const RAW_KEY: &str = "raw-api-key-VALUE-0123456789";

    fn minimal() -> MapSource {
        MapSource::new()
            .with(var::ZOHO_DESK_CLIENT_ID, "1000.CLIENTID")
            .with(var::ZOHO_DESK_CLIENT_SECRET, SECRET)
            .with(var::ZOHO_DESK_REFRESH_TOKEN, REFRESH)
            .with(var::ZOHO_DESK_ORG_ID, "123456789")
    }

    fn load(source: MapSource) -> Result<Config, ConfigError> {
        Config::load(&source)
    }

    /// Asserts loading fails with a problem on `variable`, and returns the error text.
    fn fails_on(source: MapSource, variable: &str) -> String {
        let err = load(source).expect_err("config should be rejected");
        assert!(
            err.mentions(variable),
            "expected a problem on {variable}, got:\n{err}"
        );
        err.to_string()
    }

    fn temp_dir(name: &str) -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gateway-config-{}-{name}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn defaults() {
        let config = load(minimal()).unwrap();
        assert_eq!(config.zoho.client_id, "1000.CLIENTID");
        assert_eq!(config.zoho.client_secret.expose_secret(), SECRET);
        assert_eq!(config.zoho.refresh_token.expose_secret(), REFRESH);
        assert!(config.zoho.fallback_access_token.is_none());
        assert_eq!(config.zoho.org_id, "123456789");
        assert_eq!(config.zoho.data_centre, DataCentre::Us);
        assert_eq!(
            config.zoho.endpoints.token_url(),
            "https://accounts.zoho.com/oauth/v2/token"
        );
        assert_eq!(
            config.zoho.endpoints.desk_api_url(),
            "https://desk.zoho.com/api/v1"
        );
        assert_eq!(config.zoho.refresh_margin, Duration::from_secs(60));
        assert_eq!(config.zoho.desk_max_concurrency, 10);
        assert!(config.zoho.redis_url.is_none());
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.server.admin_listen.to_string(), "127.0.0.1:9090");
        assert_eq!(config.server.request_timeout, Duration::from_secs(30));
        assert_eq!(config.server.body_limit_bytes, 1_048_576);
        assert_eq!(config.server.shutdown_grace, Duration::from_secs(20));
        assert!(config.server.cors_origins.is_empty());
        assert_eq!(config.server.log_format, LogFormat::Pretty);
        assert!(config.security.api_keys.is_empty());
        assert_eq!(config.security.rate_limit, RateLimitConfig::default());
        assert_eq!(config.security.rate_limit.per_second.get(), 20);
        assert_eq!(config.security.rate_limit.burst.get(), 40);
        assert!(config.telemetry.sentry_dsn.is_none());
        assert!(config.telemetry.otlp_endpoint.is_none());
        assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
    }

    #[test]
    fn every_value_can_be_set() {
        let source = minimal()
            .with(var::ZOHO_DESK_ACCESS_TOKEN, ACCESS)
            .with(var::ZOHO_DESK_DOMAIN, "desk.zoho.in")
            .with(var::ZOHO_ACCOUNTS_URL, "http://127.0.0.1:8700/")
            .with(var::ZOHO_DESK_API_URL, "http://127.0.0.1:8700/api/v1")
            .with(var::ZOHO_TOKEN_REFRESH_MARGIN_SECS, "300")
            .with(var::ZOHO_DESK_MAX_CONCURRENCY, "25")
            .with(var::GATEWAY_LISTEN, "0.0.0.0:8080")
            .with(var::GATEWAY_ADMIN_LISTEN, "[::1]:9091")
            .with(var::GATEWAY_REQUEST_TIMEOUT_SECS, "5")
            .with(var::GATEWAY_BODY_LIMIT_BYTES, "2048")
            .with(var::GATEWAY_MAX_CONNECTIONS, "64")
            .with(var::GATEWAY_SHUTDOWN_GRACE_SECS, "0")
            .with(
                var::GATEWAY_CORS_ORIGINS,
                "https://app.example.com/, http://localhost:5173",
            )
            .with(var::GATEWAY_LOG_FORMAT, "JSON")
            .with(
                var::GATEWAY_API_KEYS,
                format!("ci:write:{RAW_KEY},ops:admin:sha256:{}", "ab".repeat(32)),
            )
            .with(var::GATEWAY_RATE_LIMIT_PER_SECOND, "5")
            .with(var::GATEWAY_RATE_LIMIT_BURST, "7")
            .with(var::SENTRY_DSN, "https://abc123@o1.ingest.sentry.io/42")
            .with(var::OTEL_EXPORTER_OTLP_ENDPOINT, "http://otel:4318/")
            .with(var::REDIS_URL, "rediss://:pw@redis.internal:6380/0")
            .with(var::ZOHO_TOKEN_ENCRYPTION_KEY, "cd".repeat(32));
        let config = load(source).unwrap();
        assert_eq!(
            config
                .zoho
                .fallback_access_token
                .as_ref()
                .map(AccessToken::expose_secret),
            Some(ACCESS)
        );
        assert_eq!(config.zoho.data_centre, DataCentre::In);
        assert_eq!(
            config.zoho.endpoints.token_url(),
            "http://127.0.0.1:8700/oauth/v2/token"
        );
        assert_eq!(
            config.zoho.endpoints.desk_api_url(),
            "http://127.0.0.1:8700/api/v1"
        );
        assert_eq!(config.zoho.refresh_margin, Duration::from_secs(300));
        assert_eq!(config.zoho.desk_max_concurrency, 25);
        assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(config.server.admin_listen.to_string(), "[::1]:9091");
        assert_eq!(config.server.request_timeout, Duration::from_secs(5));
        assert_eq!(config.server.body_limit_bytes, 2048);
        assert_eq!(config.server.max_connections, 64);
        assert_eq!(config.server.shutdown_grace, Duration::ZERO);
        assert_eq!(
            config.server.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert_eq!(config.server.log_format, LogFormat::Json);
        assert_eq!(config.security.api_keys.len(), 2);
        assert_eq!(
            config
                .security
                .api_keys
                .authenticate(RAW_KEY)
                .map(|k| k.role),
            Some(Role::Write)
        );
        assert_eq!(config.security.rate_limit.per_second.get(), 5);
        assert_eq!(config.security.rate_limit.burst.get(), 7);
        assert!(config.telemetry.sentry_dsn.is_some());
        assert_eq!(
            config.telemetry.otlp_endpoint.as_deref(),
            Some("http://otel:4318")
        );
        assert!(config.zoho.redis_url.is_some());
        assert!(config.warnings().is_empty());
        assert_eq!(config.zoho.credentials().client_id(), "1000.CLIENTID");
    }

    #[test]
    fn each_missing_required_variable_is_named_once() {
        let err = load(MapSource::new()).unwrap_err();
        let required = [
            var::ZOHO_DESK_CLIENT_ID,
            var::ZOHO_DESK_CLIENT_SECRET,
            var::ZOHO_DESK_REFRESH_TOKEN,
            var::ZOHO_DESK_ORG_ID,
        ];
        assert_eq!(err.problems.len(), required.len(), "{err}");
        for name in required {
            let count = err.problems.iter().filter(|p| p.variable == name).count();
            assert_eq!(count, 1, "{name} in:\n{err}");
            assert!(
                err.to_string().contains(&format!("{name}: is not set")),
                "{err}"
            );
        }
        assert_eq!(err.exit_code(), 64);
    }

    #[test]
    fn an_empty_required_variable_is_reported_as_empty() {
        let text = fails_on(
            minimal().with(var::ZOHO_DESK_REFRESH_TOKEN, "  "),
            var::ZOHO_DESK_REFRESH_TOKEN,
        );
        assert!(text.contains("ZOHO_DESK_REFRESH_TOKEN: is empty"), "{text}");
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases: &[(&str, &str)] = &[
            (var::ZOHO_DESK_DOMAIN, "desk.zoho.ca"),
            (var::ZOHO_DESK_DOMAIN, "mars"),
            (var::ZOHO_ACCOUNTS_URL, "accounts.zoho.com"),
            (var::ZOHO_ACCOUNTS_URL, "http://user:pw@proxy"),
            (var::ZOHO_DESK_API_URL, "ftp://desk.zoho.com/api/v1"),
            (var::ZOHO_DESK_ORG_ID, "12ab"),
            (var::ZOHO_DESK_CLIENT_ID, "1000 CLIENT"),
            (var::ZOHO_TOKEN_REFRESH_MARGIN_SECS, "0"),
            (var::ZOHO_TOKEN_REFRESH_MARGIN_SECS, "3000"),
            (
                var::ZOHO_TOKEN_REFRESH_MARGIN_SECS,
                "99999999999999999999999",
            ),
            (var::ZOHO_TOKEN_REFRESH_MARGIN_SECS, "sixty"),
            (var::ZOHO_TOKEN_REFRESH_MARGIN_SECS, "-5"),
            (var::ZOHO_DESK_MAX_CONCURRENCY, "0"),
            (var::ZOHO_DESK_MAX_CONCURRENCY, "26"),
            (var::GATEWAY_LISTEN, "localhost:3000"),
            (var::GATEWAY_LISTEN, "127.0.0.1"),
            (var::GATEWAY_ADMIN_LISTEN, "127.0.0.1:99999"),
            (var::GATEWAY_ADMIN_LISTEN, "127.0.0.1:3000"),
            (var::GATEWAY_REQUEST_TIMEOUT_SECS, "0"),
            (var::GATEWAY_BODY_LIMIT_BYTES, "1MB"),
            (var::GATEWAY_MAX_CONNECTIONS, "0"),
            (var::GATEWAY_SHUTDOWN_GRACE_SECS, "1000"),
            (var::GATEWAY_CORS_ORIGINS, "app.example.com"),
            (var::GATEWAY_CORS_ORIGINS, "https://app.example.com/path"),
            (var::GATEWAY_CORS_ORIGINS, "*,https://app.example.com"),
            (var::GATEWAY_LOG_FORMAT, "xml"),
            (var::GATEWAY_API_KEYS, "ci:write:short"),
            (var::GATEWAY_API_KEYS_FILE, "/nonexistent/gateway-keys"),
            (var::GATEWAY_RATE_LIMIT_PER_SECOND, "0"),
            (var::GATEWAY_RATE_LIMIT_BURST, "lots"),
            (var::SENTRY_DSN, "https://o1.ingest.sentry.io/42"),
            (var::SENTRY_DSN, "sentry.io"),
            (var::SENTRY_DSN, "https://key@o1.ingest.sentry.io/"),
            (var::OTEL_EXPORTER_OTLP_ENDPOINT, "otel:4318"),
            (var::OTEL_EXPORTER_OTLP_ENDPOINT, "grpc://otel:4317"),
            (var::REDIS_URL, "http://redis:6379"),
            (var::REDIS_URL, "redis://"),
        ];
        for (name, value) in cases {
            let err = load(minimal().with(*name, *value))
                .expect_err(&format!("{name}={value} should be rejected"));
            assert!(
                err.mentions(name),
                "{name}={value}: expected a problem naming it, got:\n{err}"
            );
            assert!(
                err.to_string().contains(&format!("{name}: ")),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn all_problems_are_reported_together() {
        let source = minimal()
            .with(var::ZOHO_DESK_DOMAIN, "mars")
            .with(var::GATEWAY_LOG_FORMAT, "xml")
            .with(var::ZOHO_TOKEN_REFRESH_MARGIN_SECS, "0");
        let err = load(source).unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        assert!(
            err.to_string()
                .starts_with("invalid configuration (3 problems):")
        );
    }

    #[test]
    fn non_secret_bad_values_are_quoted_with_their_origin() {
        let text = fails_on(
            minimal().with(var::GATEWAY_LOG_FORMAT, "xml"),
            var::GATEWAY_LOG_FORMAT,
        );
        assert!(
            text.contains(
                r#"GATEWAY_LOG_FORMAT: must be json or pretty, got "xml" (from command-line flags)"#
            ),
            "{text}"
        );
    }

    #[test]
    fn no_api_keys_refuses_a_non_loopback_listener() {
        let text = fails_on(
            minimal().with(var::GATEWAY_LISTEN, "0.0.0.0:3000"),
            var::GATEWAY_LISTEN,
        );
        assert!(
            text.contains("refusing to serve without API keys on a non-loopback address"),
            "{text}"
        );
        assert!(text.contains("set GATEWAY_API_KEYS"), "{text}");
        // Loopback (v4 or v6) is fine without keys, with a warning.
        for listen in ["127.0.0.1:3000", "[::1]:3000", "127.0.0.1:0"] {
            let config = load(minimal().with(var::GATEWAY_LISTEN, listen)).unwrap();
            assert!(config.warnings()[0].contains("no API keys"));
        }
        // With keys, any address is fine.
        load(
            minimal()
                .with(var::GATEWAY_LISTEN, "0.0.0.0:3000")
                .with(var::GATEWAY_API_KEYS, format!("ci:read:{RAW_KEY}")),
        )
        .unwrap();
    }

    #[test]
    fn admin_listener_must_not_collide() {
        fails_on(
            minimal()
                .with(var::GATEWAY_LISTEN, "127.0.0.1:8000")
                .with(var::GATEWAY_ADMIN_LISTEN, "127.0.0.1:8000"),
            var::GATEWAY_ADMIN_LISTEN,
        );
        // Port 0 twice is fine: the OS picks two ports.
        load(
            minimal()
                .with(var::GATEWAY_LISTEN, "127.0.0.1:0")
                .with(var::GATEWAY_ADMIN_LISTEN, "127.0.0.1:0"),
        )
        .unwrap();
    }

    #[test]
    fn empty_optional_values_count_as_unset() {
        // The original integration's `.env` templates leave the static token empty.
        let config = load(
            minimal()
                .with(var::ZOHO_DESK_ACCESS_TOKEN, "")
                .with(var::ZOHO_DESK_DOMAIN, "")
                .with(var::GATEWAY_API_KEYS, ""),
        )
        .unwrap();
        assert!(config.zoho.fallback_access_token.is_none());
        assert_eq!(config.zoho.data_centre, DataCentre::Us);
    }

    #[test]
    fn original_integration_domains_select_the_data_centre() {
        let cases = [
            (
                "desk.zoho.eu",
                "https://accounts.zoho.eu",
                "https://desk.zoho.eu/api/v1",
            ),
            (
                "desk.zoho.com",
                "https://accounts.zoho.com",
                "https://desk.zoho.com/api/v1",
            ),
            (
                "EU",
                "https://accounts.zoho.eu",
                "https://desk.zoho.eu/api/v1",
            ),
            (
                "desk.zoho.com.au",
                "https://accounts.zoho.com.au",
                "https://desk.zoho.com.au/api/v1",
            ),
            (
                "desk.zohocloud.ca",
                "https://accounts.zohocloud.ca",
                "https://desk.zohocloud.ca/api/v1",
            ),
        ];
        for (domain, accounts, desk) in cases {
            let config = load(minimal().with(var::ZOHO_DESK_DOMAIN, domain)).unwrap();
            assert_eq!(config.zoho.endpoints.accounts_url(), accounts, "{domain}");
            assert_eq!(config.zoho.endpoints.desk_api_url(), desk, "{domain}");
        }
        let config = load(minimal().with(var::ZOHO_DESK_DOMAIN, "desk.zoho.eu")).unwrap();
        assert_eq!(config.zoho.data_centre, DataCentre::Eu);
        // An override replaces one URL only.
        let config = load(
            minimal()
                .with(var::ZOHO_DESK_DOMAIN, "desk.zoho.eu")
                .with(var::ZOHO_ACCOUNTS_URL, "http://127.0.0.1:8700"),
        )
        .unwrap();
        assert_eq!(
            config.zoho.endpoints.accounts_url(),
            "http://127.0.0.1:8700"
        );
        assert_eq!(
            config.zoho.endpoints.desk_api_url(),
            "https://desk.zoho.eu/api/v1"
        );
    }

    #[test]
    fn fleet_mode_requires_an_encryption_key_unless_plaintext_is_allowed() {
        let redis = minimal().with(var::REDIS_URL, "redis://127.0.0.1:6379");
        let error = load(redis.clone()).unwrap_err();
        assert!(error.mentions(var::ZOHO_TOKEN_ENCRYPTION_KEY), "{error}");
        let allowed = load(
            redis
                .clone()
                .with(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT, "true"),
        )
        .unwrap();
        assert!(allowed.zoho.redis_url.is_some() && allowed.zoho.token_encryption.is_none());
        let key = "ab".repeat(32);
        let keyed = load(
            redis
                .clone()
                .with(var::ZOHO_TOKEN_ENCRYPTION_KEY, key.as_str()),
        )
        .unwrap();
        assert!(keyed.zoho.token_encryption.is_some());
        assert!(
            !format!("{keyed:?}").contains(&key),
            "the key never shows in Debug"
        );
        for (name, bad) in [
            (var::ZOHO_TOKEN_ENCRYPTION_KEY, "too-short-key-value"),
            (
                var::ZOHO_TOKEN_ENCRYPTION_KEY_PREVIOUS,
                "another-bad-key-value",
            ),
        ] {
            let source = redis
                .clone()
                .with(var::ZOHO_TOKEN_ENCRYPTION_KEY, key.as_str())
                .with(name, bad);
            let error = load(source).unwrap_err();
            assert!(error.mentions(name), "{error}");
            assert!(
                !error.to_string().contains(bad),
                "a key value was echoed: {error}"
            );
        }
        let cluster = minimal()
            .with(
                var::REDIS_URL,
                "redis://10.0.0.1:7000,redis://10.0.0.2:7000",
            )
            .with(var::ZOHO_TOKEN_ENCRYPTION_KEY, key.as_str());
        assert!(load(cluster).is_ok());
        let error =
            load(minimal().with(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT, "maybe")).unwrap_err();
        assert!(error.mentions(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT));
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug() {
        // Valid secrets: Debug must redact them.
        let full = minimal()
            .with(var::ZOHO_DESK_ACCESS_TOKEN, ACCESS)
            .with(var::GATEWAY_API_KEYS, format!("ci:write:{RAW_KEY}"))
            .with(
                var::SENTRY_DSN,
                "https://dsnkeyVALUE@o1.ingest.sentry.io/42",
            )
            .with(var::REDIS_URL, "redis://:redispwVALUE@localhost:6379")
            .with(var::ZOHO_TOKEN_ENCRYPTION_KEY, "ef".repeat(32));
        let config = load(full).unwrap();
        let debug = format!("{config:?} {:#?}", config);
        for secret in [
            SECRET,
            REFRESH,
            ACCESS,
            RAW_KEY,
            "dsnkeyVALUE",
            "redispwVALUE",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked in Debug: {debug}");
        }
        assert!(debug.contains("1000.CLIENTID") && debug.contains("[redacted]"));

        // Malformed secrets: the error names the variable but never shows the value.
        let bad = MapSource::new()
            .with(var::ZOHO_DESK_CLIENT_ID, "1000.CLIENTID")
            .with(var::ZOHO_DESK_CLIENT_SECRET, format!("{SECRET}\n"))
            .with(var::ZOHO_DESK_REFRESH_TOKEN, format!("{REFRESH} x"))
            .with(var::ZOHO_DESK_ACCESS_TOKEN, format!("{ACCESS}\t"))
            .with(var::ZOHO_DESK_ORG_ID, "1")
            .with(
                var::GATEWAY_API_KEYS,
                format!("{RAW_KEY},ci:owner:{RAW_KEY}"),
            )
            .with(var::SENTRY_DSN, "dsnkeyVALUE@nowhere")
            .with(var::REDIS_URL, "http://:redispwVALUE@localhost")
            .with(var::ZOHO_ACCOUNTS_URL, "http://user:proxypwVALUE@proxy?x");
        let err = load(bad).unwrap_err();
        let text = format!("{err} {err:?}");
        for name in [
            var::ZOHO_DESK_CLIENT_SECRET,
            var::ZOHO_DESK_REFRESH_TOKEN,
            var::ZOHO_DESK_ACCESS_TOKEN,
            var::GATEWAY_API_KEYS,
            var::SENTRY_DSN,
            var::REDIS_URL,
            var::ZOHO_ACCOUNTS_URL,
        ] {
            assert!(err.mentions(name), "{name} missing from:\n{text}");
        }
        for secret in [
            SECRET,
            REFRESH,
            ACCESS,
            RAW_KEY,
            "dsnkeyVALUE",
            "redispwVALUE",
            "proxypwVALUE",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in:\n{text}");
        }
        assert!(text.contains("contains whitespace"), "{text}");
    }

    #[test]
    fn precedence_is_flags_env_dotenv_local_dotenv_toml() {
        let dir = temp_dir("precedence");
        let toml_path = dir.join("gateway.toml");
        std::fs::write(
            &toml_path,
            "ZOHO_DESK_ORG_ID = \"5\"\nZOHO_DESK_CLIENT_ID = \"toml\"\n\
             ZOHO_DESK_DOMAIN = \"desk.zoho.jp\"\nGATEWAY_LOG_FORMAT = \"pretty\"\n\
             GATEWAY_RATE_LIMIT_BURST = 5\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(".env"),
            "# the original integration's file\nZOHO_DESK_ORG_ID=4\n\
             ZOHO_DESK_CLIENT_ID=dotenv\nZOHO_DESK_DOMAIN=desk.zoho.in\nGATEWAY_LOG_FORMAT=json\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(".env.local"),
            "ZOHO_DESK_ORG_ID=3\nZOHO_DESK_CLIENT_ID=local\nZOHO_DESK_DOMAIN=\"desk.zoho.eu\"\n",
        )
        .unwrap();
        let env = MapSource::new()
            .with(var::ZOHO_DESK_ORG_ID, "2")
            .with(var::ZOHO_DESK_CLIENT_ID, "env")
            .with(var::ZOHO_GATEWAY_CONFIG, toml_path.display().to_string());
        let flags = MapSource::new().with(var::ZOHO_DESK_ORG_ID, "1");
        let layers = layered_sources(flags, Box::new(env), None, &dir).unwrap();

        assert_eq!(layers.get(var::ZOHO_DESK_ORG_ID).as_deref(), Some("1"));
        assert_eq!(layers.get(var::ZOHO_DESK_CLIENT_ID).as_deref(), Some("env"));
        assert_eq!(
            layers.get(var::ZOHO_DESK_DOMAIN).as_deref(),
            Some("desk.zoho.eu")
        );
        assert_eq!(layers.get(var::GATEWAY_LOG_FORMAT).as_deref(), Some("json"));
        assert_eq!(
            layers.get(var::GATEWAY_RATE_LIMIT_BURST).as_deref(),
            Some("5")
        );
        assert_eq!(layers.get(var::GATEWAY_LISTEN), None);
        let (_, origin) = layers.lookup(var::GATEWAY_LOG_FORMAT).unwrap();
        assert!(origin.ends_with(".env"), "{origin}");
        let (_, origin) = layers.lookup(var::GATEWAY_RATE_LIMIT_BURST).unwrap();
        assert!(origin.starts_with("TOML file"), "{origin}");

        // An explicit --config path wins over ZOHO_GATEWAY_CONFIG, and a missing one is an error.
        let missing = dir.join("missing.toml");
        let err = layered_sources(
            MapSource::new(),
            Box::new(MapSource::new()),
            Some(&missing),
            &dir,
        )
        .unwrap_err();
        assert!(err.mentions(var::ZOHO_GATEWAY_CONFIG), "{err}");
        assert!(err.to_string().contains("no such file"), "{err}");

        // A bad value reports the file it came from.
        std::fs::write(dir.join(".env"), "GATEWAY_LOG_FORMAT=xml\n").unwrap();
        let layers = layered_sources(MapSource::new(), Box::new(minimal()), None, &dir).unwrap();
        let err = Config::load(&layers).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("(from {})", dir.join(".env").display())),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_dotenv_files_are_empty_sources() {
        let dir = temp_dir("no-dotenv");
        let layers = layered_sources(MapSource::new(), Box::new(minimal()), None, &dir).unwrap();
        assert_eq!(layers.0.len(), 4);
        Config::load(&layers).unwrap();

        // A byte-order mark does not hide the first variable.
        std::fs::write(dir.join(".env"), "\u{feff}ZOHO_DESK_ORG_ID=77\n").unwrap();
        let source = DotenvSource::load(&dir.join(".env")).unwrap();
        assert_eq!(source.get(var::ZOHO_DESK_ORG_ID).as_deref(), Some("77"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn malformed_dotenv_lines_are_reported_without_their_content() {
        let dir = temp_dir("bad-dotenv");
        std::fs::write(
            dir.join(".env"),
            format!("ZOHO_DESK_ORG_ID=1\nZOHO_DESK_CLIENT_SECRET='{SECRET}\n"),
        )
        .unwrap();
        let err =
            layered_sources(MapSource::new(), Box::new(MapSource::new()), None, &dir).unwrap_err();
        let text = err.to_string();
        assert!(err.mentions(".env"), "{text}");
        assert!(text.contains("after ZOHO_DESK_ORG_ID"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn toml_files_use_the_variable_names_and_reject_unknown_keys() {
        let path = Path::new("/etc/zoho-gateway/gateway.toml");
        let source = TomlSource::parse(
            path,
            "ZOHO_DESK_ORG_ID = 123\nGATEWAY_CORS_ORIGINS = [\"https://a.example\", \
             \"https://b.example\"]\nGATEWAY_LOG_FORMAT = \"json\"\n",
        )
        .unwrap();
        assert_eq!(source.get(var::ZOHO_DESK_ORG_ID).as_deref(), Some("123"));
        assert_eq!(
            source.get(var::GATEWAY_CORS_ORIGINS).as_deref(),
            Some("https://a.example,https://b.example")
        );

        let err = TomlSource::parse(path, "zoho_desk_org_id = \"1\"\nTYPO = 1\n").unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 2, "{text}");
        assert!(text.contains("did you mean ZOHO_DESK_ORG_ID?"), "{text}");
        assert!(text.contains("unknown key \"TYPO\""), "{text}");

        let err = TomlSource::parse(path, "[zoho]\nZOHO_DESK_ORG_ID = 1\n").unwrap_err();
        assert!(err.mentions(var::ZOHO_GATEWAY_CONFIG), "{err}");

        let err = TomlSource::parse(
            path,
            &format!("ZOHO_DESK_ORG_ID = \"1\"\nZOHO_DESK_CLIENT_SECRET = \"{SECRET}\n"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("invalid TOML at line 2"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
    }

    #[test]
    fn api_keys_file_is_read() {
        let dir = temp_dir("keys-file");
        let path = dir.join("keys");
        std::fs::write(
            &path,
            format!(
                "# client keys\n\nci:read:{RAW_KEY}\nops:admin:sha256:{}\n",
                "0f".repeat(32)
            ),
        )
        .unwrap();
        let config = load(
            minimal()
                .with(var::GATEWAY_API_KEYS_FILE, path.display().to_string())
                .with(var::GATEWAY_LISTEN, "0.0.0.0:3000"),
        )
        .unwrap();
        assert_eq!(config.security.api_keys.len(), 2);
        assert_eq!(
            config
                .security
                .api_keys
                .authenticate(RAW_KEY)
                .map(|k| k.name.as_str()),
            Some("ci")
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
