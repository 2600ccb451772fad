//! The table of every variable the gateway reads: name, whether it is a secret, its default (and
//! range, for numbers) and a one-line meaning. Validation takes its defaults and bounds from
//! here, [`SECRETS`] and [`ALL`] are derived from it, and the table in `docs/configuration.md` is
//! checked equal to it, so a variable cannot be added in one place and missed in another.

use zoho_auth::{
    DEFAULT_EXPIRY_SKEW, DEFAULT_REFRESH_BUDGET, DEFAULT_REFRESH_JITTER, DEFAULT_REFRESH_MARGIN,
};

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The variable's name, the same in the environment, `.env` files and the TOML file.
    pub name: &'static str,
    /// Whether its value is never echoed (messages, `Debug`, logs, alerts).
    pub secret: bool,
    /// What applies when it is unset.
    pub default: DefaultValue,
    /// What it means, in one line (Markdown).
    pub doc: &'static str,
}

/// What an unset variable means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// Must be set.
    Required,
    /// Nothing: the feature is off or derived from elsewhere, as the text says (Markdown).
    Unset(&'static str),
    /// A whole number, which a value must also be, within `min..=max`.
    Number {
        /// Used when unset.
        value: u64,
        /// Smallest value accepted.
        min: u64,
        /// Largest value accepted.
        max: u64,
    },
    /// Text parsed exactly like a configured value, so the default passes the same checks.
    Text(&'static str),
}

/// Declares the name constants and [`VARIABLES`] from one list, so a name cannot exist without
/// its row.
macro_rules! variables {
    ($($name:ident: $secret:literal, $default:expr, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub const $name: &str = stringify!($name);
        )*

        /// Every variable, in documentation order.
        pub const VARIABLES: &[Variable] = &[$(Variable {
            name: $name,
            secret: $secret,
            default: $default,
            doc: $doc,
        }),*];
    };
}

use DefaultValue::{Number, Required, Text, Unset};

const fn secs(default: std::time::Duration, min: u64, max: u64) -> DefaultValue {
    Number {
        value: default.as_secs(),
        min,
        max,
    }
}

variables! {
    ZOHO_DESK_CLIENT_ID: false, Required,
        "OAuth client id of the Zoho \"Server-based Application\"; no whitespace";
    ZOHO_DESK_CLIENT_SECRET: true, Required,
        "OAuth client secret; no whitespace (a trailing newline from a secrets file is reported)";
    ZOHO_DESK_REFRESH_TOKEN: true, Required,
        "long-lived refresh token; no whitespace";
    ZOHO_DESK_ACCESS_TOKEN: true, Unset("unset"),
        "static token used only while refreshing fails (it expires within the hour)";
    ZOHO_DESK_ORG_ID: false, Required,
        "Desk organization id, digits only; sent as the `orgId` header";
    ZOHO_DESK_DOMAIN: false, Text("desk.zoho.com"),
        "a Desk domain (`desk.zoho.eu`, `desk.zoho.in`, `desk.zoho.com.au`, `desk.zoho.jp`, `desk.zohocloud.ca`, `desk.zoho.sa`, `desk.zoho.uk`, `desk.zoho.com.cn`, `desk.zoho.sg`, `desk.zoho.ae`) or a data-centre name (`US`, `EU`, `IN`, `AU`, `JP`, `CA`, `SA`, `UK`, `CN`, `SG`, `AE`); selects the Accounts and Desk hosts";
    ZOHO_ACCOUNTS_URL: false, Unset("from the domain"),
        "absolute `http(s)` URL without credentials, query or fragment: the Accounts root (token endpoint `…/oauth/v2/token`). For the emulator or a proxy";
    ZOHO_DESK_API_URL: false, Unset("from the domain"),
        "same rules: the Desk API base (`…/api/v1`)";
    ZOHO_TOKEN_REFRESH_MARGIN_SECS: false, secs(DEFAULT_REFRESH_MARGIN, 1, 2999),
        "refresh this many seconds before expiry";
    ZOHO_TOKEN_REFRESH_JITTER_SECS: false, secs(DEFAULT_REFRESH_JITTER, 0, 600),
        "a random part of this is subtracted from each refresh time, so replicas started together do not refresh together";
    ZOHO_TOKEN_EXPIRY_SKEW_SECS: false, secs(DEFAULT_EXPIRY_SKEW, 0, 300),
        "a token with less life left is treated as expired (Zoho's SDKs use 5 s)";
    ZOHO_TOKEN_REFRESH_BUDGET: false,
        Number { value: DEFAULT_REFRESH_BUDGET as u64, min: 1, max: 1000 },
        "refresh attempts per 10 minutes, per replica and, with `REDIS_URL`, for the whole fleet. Zoho allows 10: raise it only against an emulator or a proxy";
    ZOHO_DESK_MAX_CONCURRENCY: false, Number { value: 10, min: 1, max: 25 },
        "concurrent Desk API calls";
    GATEWAY_LISTEN: false, Text("127.0.0.1:3000"),
        "API listener, `IP:port` (`[::1]:3000` for IPv6; host names are not resolved). Without API keys it must be a loopback address";
    GATEWAY_ADMIN_LISTEN: false, Text("127.0.0.1:9090"),
        "admin listener (`/metrics`, `/healthz`, `/readyz`); must not use the same port as `GATEWAY_LISTEN` (port 0 excepted)";
    GATEWAY_REQUEST_TIMEOUT_SECS: false, Number { value: 30, min: 1, max: 600 },
        "per-request timeout";
    GATEWAY_BODY_LIMIT_BYTES: false, Number { value: 1024 * 1024, min: 1, max: 64 * 1024 * 1024 },
        "request body limit";
    GATEWAY_MAX_CONNECTIONS: false, Number { value: 1024, min: 1, max: 1_000_000 },
        "client connections the API listener holds at once. At the limit it stops accepting until one closes (new connections wait in the kernel's backlog). Keep it under the process's open-file limit";
    GATEWAY_SHUTDOWN_GRACE_SECS: false, Number { value: 20, min: 0, max: 300 },
        "time in-flight requests get after SIGTERM";
    GATEWAY_CORS_ORIGINS: false, Unset("empty (CORS off)"),
        "comma-separated origins `scheme://host[:port]` (no path; a trailing `/` is dropped), or `*` alone (logged as a warning)";
    GATEWAY_PASSTHROUGH_ALLOW: false, Unset("the built-in list (below)"),
        "what `/api/zoho-desk/v1/{*path}` admits: entries separated by `;`, each `METHODS:/prefix` (e.g. `GET,POST:/tasks`; a prefix admits itself and everything below it, on whole segments) or `!/prefix` to deny a prefix whatever the rules say";
    GATEWAY_LOG_FORMAT: false, Text("pretty"),
        "`pretty` or `json`";
    GATEWAY_API_KEYS: true, Unset("unset (anonymous mode)"),
        "comma-separated client API keys, see below";
    GATEWAY_API_KEYS_FILE: false, Unset("unset"),
        "a file with one key entry per line; blank lines and lines starting with `#` are ignored. Used together with `GATEWAY_API_KEYS`";
    GATEWAY_RATE_LIMIT_PER_SECOND: false, Number { value: 20, min: 1, max: 100_000 },
        "requests per second per client";
    GATEWAY_RATE_LIMIT_BURST: false, Number { value: 40, min: 1, max: 100_000 },
        "burst per client";
    SENTRY_DSN: true, Unset("unset (alerts off)"),
        "Sentry DSN, shape `https://<public key>@<host>/<project id>`";
    OTEL_EXPORTER_OTLP_ENDPOINT: false, Unset("unset (traces off)"),
        "`http(s)` URL of an OTLP/HTTP collector, e.g. `http://127.0.0.1:4318`; no credentials (use `OTEL_EXPORTER_OTLP_HEADERS`)";
    REDIS_URL: true, Unset("unset (one replica)"),
        "fleet mode: the replicas share one token through this Redis (the URL may hold a password); a `redis://` or `rediss://` URL with a host, or several comma-separated node URLs for a Redis Cluster. Requires `ZOHO_TOKEN_ENCRYPTION_KEY` unless `ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT=true`";
    ZOHO_TOKEN_ENCRYPTION_KEY: true, Unset("unset"),
        "32 bytes as 64 hex digits or base64 (`openssl rand -hex 32`); encrypts the shared token in Redis (AES-256-GCM). Every replica needs the same key";
    ZOHO_TOKEN_ENCRYPTION_KEY_PREVIOUS: true, Unset("unset"),
        "the key being rotated out: still decrypts. Rotate by deploying the new key as primary and the old one here, then removing it after one token lifetime";
    ZOHO_TOKEN_STORE_ALLOW_PLAINTEXT: false, Text("false"),
        "`true` lets `REDIS_URL` work without a key: anyone who can read Redis can then read the token";
    ZOHO_GATEWAY_CONFIG: false, Unset("unset"),
        "path of the TOML file (environment, flags or `.env` only; a TOML file cannot name another)";
}

/// Every variable's name, in documentation order.
pub const ALL: [&str; VARIABLES.len()] = names(false);

/// Variables whose values are never echoed.
pub const SECRETS: [&str; count_secrets()] = names(true);

/// The names of the rows (only the secret ones if `secrets_only`).
const fn names<const N: usize>(secrets_only: bool) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut row, mut i) = (0, 0);
    while row < VARIABLES.len() {
        if VARIABLES[row].secret || !secrets_only {
            out[i] = VARIABLES[row].name;
            i += 1;
        }
        row += 1;
    }
    out
}

const fn count_secrets() -> usize {
    let (mut row, mut n) = (0, 0);
    while row < VARIABLES.len() {
        if VARIABLES[row].secret {
            n += 1;
        }
        row += 1;
    }
    n
}

/// The row of `name`, if it is a variable of the table.
pub fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|row| row.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Markdown table `docs/configuration.md` must hold, row for row.
    fn markdown_table() -> String {
        let mut table = String::from(
            "| variable | secret | default | range | meaning |\n|---|---|---|---|---|\n",
        );
        for row in VARIABLES {
            let (default, range) = match row.default {
                Required => ("**required**".to_owned(), String::new()),
                Unset(text) => (text.to_owned(), String::new()),
                Number { value, min, max } => (format!("`{value}`"), format!("{min}–{max}")),
                Text(text) => (format!("`{text}`"), String::new()),
            };
            let secret = if row.secret { "yes" } else { "" };
            table.push_str(&format!(
                "| `{}` | {secret} | {default} | {range} | {} |\n",
                row.name, row.doc
            ));
        }
        table
    }

    #[test]
    fn the_documentation_table_is_the_variable_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let docs = std::fs::read_to_string(path).expect("docs/configuration.md");
        let expected = markdown_table();
        assert!(
            docs.contains(&expected),
            "docs/configuration.md must contain the variable table as rendered from \
             crates/gateway/src/config/var.rs; paste:\n\n{expected}"
        );
    }

    #[test]
    fn derived_lists_follow_the_table() {
        assert_eq!(ALL.len(), VARIABLES.len());
        assert!(
            ALL.iter()
                .zip(VARIABLES)
                .all(|(name, row)| *name == row.name)
        );
        let secrets: Vec<&str> = VARIABLES
            .iter()
            .filter(|row| row.secret)
            .map(|row| row.name)
            .collect();
        assert_eq!(SECRETS.as_slice(), secrets.as_slice());
        assert!(SECRETS.contains(&GATEWAY_API_KEYS) && !SECRETS.contains(&ZOHO_DESK_ORG_ID));
    }

    #[test]
    fn numeric_defaults_lie_in_their_ranges() {
        for row in VARIABLES {
            if let Number { value, min, max } = row.default {
                assert!((min..=max).contains(&value), "{}", row.name);
            }
        }
    }
}
