//! [`Config::load`]: every variable read, checked against the variable table and turned into
//! the typed configuration, with every problem reported at once.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use zoho_auth::store::EncryptionKeys;
use zoho_auth::{AccessToken, DataCentre, ZohoEndpoints};

use super::parse::{
    endpoint_message, parse_bool, parse_cors_origins, parse_data_centre, parse_integer,
    parse_org_id, parse_otlp_endpoint, parse_redis_url, parse_sentry_dsn, parse_socket_addr,
    plain_token, same_port,
};
use super::var::{self, DefaultValue, Variable};
use super::{
    Config, ConfigError, ConfigSource, LogFormat, Problem, RateLimitConfig, SecurityConfig,
    ServerConfig, TelemetryConfig, ZohoConfig,
};
use crate::auth::ApiKeys;
use crate::passthrough::Allowlist;

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
        let data_centre = r
            .or_default(var::ZOHO_DESK_DOMAIN)
            .and_then(|v| r.check(var::ZOHO_DESK_DOMAIN, &v, parse_data_centre));
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
        let refresh_margin = r.seconds(var::ZOHO_TOKEN_REFRESH_MARGIN_SECS);
        let refresh_jitter = r.seconds(var::ZOHO_TOKEN_REFRESH_JITTER_SECS);
        let expiry_skew = r.seconds(var::ZOHO_TOKEN_EXPIRY_SKEW_SECS);
        let refresh_budget = r.integer(var::ZOHO_TOKEN_REFRESH_BUDGET) as usize;
        let desk_max_concurrency = r.integer(var::ZOHO_DESK_MAX_CONCURRENCY) as usize;
        let redis_url = r
            .optional(var::REDIS_URL)
            .and_then(|v| r.check(var::REDIS_URL, &v, parse_redis_url));
        let token_encryption = r.encryption_keys();
        let allow_plaintext = r
            .or_default(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT)
            .and_then(|v| r.check(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT, &v, parse_bool));
        if redis_url.is_some()
            && token_encryption.is_none()
            && allow_plaintext != Some(true)
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
        let listen = r.socket_addr(var::GATEWAY_LISTEN);
        let admin_listen = r.socket_addr(var::GATEWAY_ADMIN_LISTEN);
        if let (Some(api), Some(admin)) = (listen, admin_listen)
            && same_port(api, admin)
        {
            r.problems.push(Problem::new(
                var::GATEWAY_ADMIN_LISTEN,
                format!("{admin} collides with GATEWAY_LISTEN {api}: use another port"),
            ));
        }
        let request_timeout = r.seconds(var::GATEWAY_REQUEST_TIMEOUT_SECS);
        let body_limit_bytes = r.integer(var::GATEWAY_BODY_LIMIT_BYTES) as usize;
        let max_connections = r.integer(var::GATEWAY_MAX_CONNECTIONS) as usize;
        let shutdown_grace = r.seconds(var::GATEWAY_SHUTDOWN_GRACE_SECS);
        let cors_origins = r
            .optional(var::GATEWAY_CORS_ORIGINS)
            .and_then(|v| r.check(var::GATEWAY_CORS_ORIGINS, &v, parse_cors_origins))
            .unwrap_or_default();
        let passthrough = r
            .optional(var::GATEWAY_PASSTHROUGH_ALLOW)
            .and_then(|v| r.check(var::GATEWAY_PASSTHROUGH_ALLOW, &v, Allowlist::parse))
            .unwrap_or_default();
        let log_format = r
            .or_default(var::GATEWAY_LOG_FORMAT)
            .and_then(|v| r.check(var::GATEWAY_LOG_FORMAT, &v, str::parse::<LogFormat>));

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
        let per_second = r.integer(var::GATEWAY_RATE_LIMIT_PER_SECOND);
        let burst = r.integer(var::GATEWAY_RATE_LIMIT_BURST);

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
            Some(log_format),
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
            log_format,
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

    /// A whole number within the bounds the variable table gives `name`, or its default (also
    /// when the value is bad: the problem is recorded).
    fn integer(&mut self, name: &'static str) -> u64 {
        let Some(Variable {
            default: DefaultValue::Number { value, min, max },
            ..
        }) = var::variable(name)
        else {
            unreachable!("{name} is a number in the variable table")
        };
        let Some(text) = self.optional(name) else {
            return *value;
        };
        self.check(name, &text, |s| parse_integer(s, *min, *max))
            .unwrap_or(*value)
    }

    fn seconds(&mut self, name: &'static str) -> Duration {
        Duration::from_secs(self.integer(name))
    }

    fn socket_addr(&mut self, name: &'static str) -> Option<SocketAddr> {
        let value = self.or_default(name)?;
        self.check(name, &value, parse_socket_addr)
    }

    /// The value of `name`, or the table's default text for it (parsed like any value).
    fn or_default(&mut self, name: &'static str) -> Option<Value> {
        self.optional(name)
            .or_else(|| match var::variable(name)?.default {
                DefaultValue::Text(text) => Some(Value {
                    text: text.to_owned(),
                    origin: "the default".to_owned(),
                }),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::config::MapSource;
    use crate::config::fixtures::{ACCESS, RAW_KEY, REFRESH, SECRET, minimal, temp_dir};

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
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.server.admin_listen.to_string(), "127.0.0.1:9090");
        assert_eq!(config.server.request_timeout, Duration::from_secs(30));
        assert_eq!(config.server.body_limit_bytes, 1_048_576);
        assert_eq!(config.server.shutdown_grace, Duration::from_secs(20));
        assert!(config.server.cors_origins.is_empty());
        assert_eq!(config.server.log_format, LogFormat::Pretty);
        assert!(config.security.api_keys.is_empty());
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
        fails_on(redis.clone(), var::ZOHO_TOKEN_ENCRYPTION_KEY);
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
            let text = fails_on(source, name);
            assert!(!text.contains(bad), "a key value was echoed: {text}");
        }
        let cluster = minimal()
            .with(
                var::REDIS_URL,
                "redis://10.0.0.1:7000,redis://10.0.0.2:7000",
            )
            .with(var::ZOHO_TOKEN_ENCRYPTION_KEY, key.as_str());
        assert!(load(cluster).is_ok());
        fails_on(
            minimal().with(var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT, "maybe"),
            var::ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT,
        );
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

    #[test]
    fn every_number_in_the_table_is_checked_against_its_range() {
        for row in var::VARIABLES {
            let DefaultValue::Number { min, max, .. } = row.default else {
                continue;
            };
            load(minimal().with(row.name, min.to_string()))
                .unwrap_or_else(|err| panic!("{}={min} is in range: {err}", row.name));
            fails_on(minimal().with(row.name, (max + 1).to_string()), row.name);
        }
    }
}
