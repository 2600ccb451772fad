//! Zoho Accounts: the OAuth refresh grant, revocation and the limits Zoho enforces on them
//! (`docs/zoho-behaviour.md` §1–2).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::SimTime;
use crate::faults::ThrottleStyle;

/// The scopes a seeded refresh token carries: the ones this project needs (`zoho-behaviour.md` §5).
pub const PROJECT_SCOPES: &[&str] = &[
    "Desk.tickets.ALL",
    "Desk.contacts.ALL",
    "Desk.basic.READ",
    "Desk.settings.READ",
    "Desk.search.READ",
];

/// An OAuth client registered with the emulator ("Server-based Application").
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthClient {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// A refresh token the emulator will honour.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshGrant {
    /// The client the grant belongs to.
    pub client_id: String,
    /// The refresh token itself.
    pub refresh_token: String,
    /// Scopes the access tokens minted from it carry.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for RefreshGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshGrant")
            .field("client_id", &self.client_id)
            .field("refresh_token", &"[redacted]")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// What the emulator knows about an access token (used by the Desk half to authorise calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStatus {
    /// Live: issued here, unexpired, not revoked, not evicted by the live-token cap.
    Valid {
        /// The client the token was minted for.
        client_id: String,
        /// The token's scopes.
        scopes: Vec<String>,
        /// Life left.
        expires_in: Duration,
    },
    /// Issued here and past its lifetime.
    Expired,
    /// Its refresh token was revoked.
    Revoked,
    /// Silently invalidated because too many newer tokens were minted from the same refresh token.
    Evicted,
    /// Never issued here.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccessState {
    Live,
    Revoked,
    Evicted,
}

#[derive(Debug)]
struct AccessRecord {
    client_id: String,
    scopes: Vec<String>,
    expires_at: SimTime,
    state: AccessState,
}

#[derive(Debug)]
struct RefreshRecord {
    grant: RefreshGrant,
    revoked: bool,
    /// When each successful refresh in the current window happened.
    mints: VecDeque<SimTime>,
    /// Set when a refresh is refused for throttling; every refused attempt pushes it further,
    /// which is how Zoho punishes clients that keep retrying (`zoho-behaviour.md` §1).
    blocked_until: Option<SimTime>,
    /// Live access tokens, oldest first.
    live: VecDeque<String>,
}

/// Limits and response shapes of the Accounts half.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Lifetime of minted access tokens (Zoho: one hour).
    pub token_lifetime: Duration,
    /// Answer with the legacy shape: `expires_in_sec` in seconds and `expires_in` in milliseconds.
    pub legacy_expiry_shape: bool,
    /// Include a `scope` field in successful responses (Zoho sometimes does).
    pub include_scope: bool,
    /// `api_domain` in successful responses.
    pub api_domain: String,
    /// Refreshes allowed per refresh token per `refresh_window` (Zoho: 10).
    pub refresh_limit: usize,
    /// The rolling throttle window (Zoho: 10 minutes).
    pub refresh_window: Duration,
    /// How throttled refreshes are answered.
    pub throttle_style: ThrottleStyle,
    /// Live access tokens per refresh token; minting one more evicts the oldest (Zoho: 15).
    pub live_token_cap: usize,
    /// Registered OAuth clients.
    pub clients: Vec<OAuthClient>,
    /// Refresh tokens the emulator honours.
    pub grants: Vec<RefreshGrant>,
}

/// The seeded client id.
pub const DEFAULT_CLIENT_ID: &str = "1000.SIMCLIENT0000000000000000000000";
/// The seeded client secret.
pub const DEFAULT_CLIENT_SECRET: &str = "sim0client0secret0000000000000000000000000";
/// The seeded refresh token.
pub const DEFAULT_REFRESH_TOKEN: &str =
    "1000.5e1d0000000000000000000000000000.a5e00000000000000000000000000000";

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            token_lifetime: Duration::from_secs(3600),
            legacy_expiry_shape: false,
            include_scope: false,
            api_domain: "https://www.zohoapis.com".to_owned(),
            refresh_limit: 10,
            refresh_window: Duration::from_secs(600),
            throttle_style: ThrottleStyle::Json200,
            live_token_cap: 15,
            clients: vec![OAuthClient {
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            }],
            grants: vec![RefreshGrant {
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                refresh_token: DEFAULT_REFRESH_TOKEN.to_owned(),
                scopes: PROJECT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            }],
        }
    }
}

/// A response the HTTP layer sends as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Json(serde_json::Value),
    Html(String),
}

impl Reply {
    fn json(status: u16, value: serde_json::Value) -> Self {
        Reply {
            status,
            body: Body::Json(value),
        }
    }

    fn oauth_error(code: &str) -> Self {
        // Zoho answers these with HTTP 200 (`zoho-behaviour.md` §1).
        Reply::json(200, json!({ "error": code }))
    }
}

/// The outcome of one request to the token endpoint, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenOutcome {
    Minted,
    Throttled,
    Rejected,
}

/// Mutable state of the Accounts half.
#[derive(Debug)]
pub(crate) struct Accounts {
    config: AccountsConfig,
    refresh: HashMap<String, RefreshRecord>,
    access: HashMap<String, AccessRecord>,
}

impl Accounts {
    pub(crate) fn new(config: AccountsConfig) -> Self {
        let mut accounts = Accounts {
            config,
            refresh: HashMap::new(),
            access: HashMap::new(),
        };
        for grant in accounts.config.grants.clone() {
            accounts.add_grant(grant);
        }
        accounts
    }

    pub(crate) fn add_grant(&mut self, grant: RefreshGrant) {
        self.refresh.insert(
            grant.refresh_token.clone(),
            RefreshRecord {
                grant,
                revoked: false,
                mints: VecDeque::new(),
                blocked_until: None,
                live: VecDeque::new(),
            },
        );
    }

    pub(crate) fn config(&self) -> &AccountsConfig {
        &self.config
    }

    pub(crate) fn set_token_lifetime(&mut self, lifetime: Duration) {
        self.config.token_lifetime = lifetime;
    }

    pub(crate) fn set_legacy_expiry_shape(&mut self, legacy: bool) {
        self.config.legacy_expiry_shape = legacy;
    }

    pub(crate) fn set_throttle_style(&mut self, style: ThrottleStyle) {
        self.config.throttle_style = style;
    }

    /// `POST /oauth/v2/token`.
    pub(crate) fn token(
        &mut self,
        params: &HashMap<String, String>,
        now: SimTime,
    ) -> (Reply, TokenOutcome) {
        let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
        if param("grant_type") != "refresh_token" {
            return (
                Reply::oauth_error("unsupported_grant_type"),
                TokenOutcome::Rejected,
            );
        }
        let Some(client) = self
            .config
            .clients
            .iter()
            .find(|c| c.client_id == param("client_id"))
        else {
            return (Reply::oauth_error("invalid_client"), TokenOutcome::Rejected);
        };
        if client.client_secret != param("client_secret") {
            return (
                Reply::oauth_error("invalid_client_secret"),
                TokenOutcome::Rejected,
            );
        }
        let client_id = client.client_id.clone();
        let window = self.config.refresh_window;
        let Some(record) = self
            .refresh
            .get_mut(param("refresh_token"))
            .filter(|r| !r.revoked && r.grant.client_id == client_id)
        else {
            return (Reply::oauth_error("invalid_code"), TokenOutcome::Rejected);
        };

        while record
            .mints
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            record.mints.pop_front();
        }
        let blocked = record.blocked_until.is_some_and(|until| now < until);
        if blocked || record.mints.len() >= self.config.refresh_limit {
            record.blocked_until = Some(now + window);
            return (
                throttle_reply(self.config.throttle_style),
                TokenOutcome::Throttled,
            );
        }
        record.blocked_until = None;
        record.mints.push_back(now);

        // Expired tokens no longer count against the cap.
        let access = &self.access;
        record
            .live
            .retain(|t| access.get(t).is_some_and(|a| a.expires_at > now));
        let token = new_access_token();
        record.live.push_back(token.clone());
        if record.live.len() > self.config.live_token_cap
            && let Some(oldest) = record.live.pop_front()
            && let Some(old) = self.access.get_mut(&oldest)
        {
            old.state = AccessState::Evicted;
        }
        let scopes = record.grant.scopes.clone();
        self.access.insert(
            token.clone(),
            AccessRecord {
                client_id,
                scopes: scopes.clone(),
                expires_at: now + self.config.token_lifetime,
                state: AccessState::Live,
            },
        );

        let secs = self.config.token_lifetime.as_secs();
        let mut body = json!({
            "access_token": token,
            "api_domain": self.config.api_domain,
            "token_type": "Bearer",
        });
        if self.config.legacy_expiry_shape {
            body["expires_in_sec"] = json!(secs);
            body["expires_in"] = json!(secs * 1000);
        } else {
            body["expires_in"] = json!(secs);
        }
        if self.config.include_scope {
            body["scope"] = json!(scopes.join(" "));
        }
        (Reply::json(200, body), TokenOutcome::Minted)
    }

    /// `POST /oauth/v2/token/revoke`: kills the refresh token and every access token minted from it.
    pub(crate) fn revoke(&mut self, refresh_token: &str) -> Reply {
        match self.refresh.get_mut(refresh_token).filter(|r| !r.revoked) {
            Some(record) => {
                record.revoked = true;
                for token in record.live.drain(..) {
                    if let Some(access) = self.access.get_mut(&token) {
                        access.state = AccessState::Revoked;
                    }
                }
                Reply::json(200, json!({ "status": "success" }))
            }
            None => Reply::json(
                400,
                json!({ "status": "failure", "error": "invalid_token" }),
            ),
        }
    }

    pub(crate) fn introspect(&self, access_token: &str, now: SimTime) -> TokenStatus {
        match self.access.get(access_token) {
            None => TokenStatus::Unknown,
            Some(record) => match record.state {
                AccessState::Revoked => TokenStatus::Revoked,
                AccessState::Evicted => TokenStatus::Evicted,
                AccessState::Live if now >= record.expires_at => TokenStatus::Expired,
                AccessState::Live => TokenStatus::Valid {
                    client_id: record.client_id.clone(),
                    scopes: record.scopes.clone(),
                    expires_in: record.expires_at - now,
                },
            },
        }
    }

    /// Access tokens minted from `refresh_token` that count against the live-token cap: neither
    /// evicted nor revoked, and unexpired as of the latest mint.
    pub(crate) fn live_tokens(&self, refresh_token: &str) -> usize {
        self.refresh.get(refresh_token).map_or(0, |r| r.live.len())
    }

    /// Revokes every live, unexpired access token (as when Zoho drops them server-side) while
    /// their refresh tokens stay valid. Returns how many.
    pub(crate) fn invalidate_access_tokens(&mut self, now: SimTime) -> usize {
        let mut invalidated = 0;
        for access in self.access.values_mut() {
            if access.state == AccessState::Live && access.expires_at > now {
                access.state = AccessState::Revoked;
                invalidated += 1;
            }
        }
        for record in self.refresh.values_mut() {
            record.live.clear();
        }
        invalidated
    }

    /// Access tokens evicted by the live-token cap so far.
    pub(crate) fn evicted_tokens(&self) -> usize {
        self.access
            .values()
            .filter(|a| a.state == AccessState::Evicted)
            .count()
    }
}

pub(crate) fn throttle_reply(style: ThrottleStyle) -> Reply {
    const CONTINUOUS: &str =
        "You have made too many requests continuously. Please try again after some time.";
    let denied = |status: u16, description: &str, error: &str| {
        Reply::json(
            status,
            json!({ "error_description": description, "error": error, "status": "failure" }),
        )
    };
    match style {
        ThrottleStyle::Json200 => denied(200, CONTINUOUS, "Access Denied"),
        ThrottleStyle::Json400 => denied(400, CONTINUOUS, "Access Denied"),
        ThrottleStyle::NewWording => Reply::json(
            200,
            json!({
                "error_description": "Token creation throttle limit reached. Please reuse the valid tokens you currently have.",
                "error": "Access Denied",
            }),
        ),
        ThrottleStyle::Localized => denied(
            400,
            "Sie haben zu viele Anfragen hintereinander gestellt. Bitte versuchen Sie es später erneut.",
            "Zugriff verweigert",
        ),
        ThrottleStyle::Html => Reply {
            status: 200,
            body: Body::Html(
                "<!DOCTYPE html><html><head><title>Access Denied</title></head><body>\
                 <h1>Access Denied: Maximum request limit reached for your account.</h1>\
                 <p>Please try again after some time.</p></body></html>"
                    .to_owned(),
            ),
        },
    }
}

/// `1000.<32 hex>.<32 hex>`, the shape of a Zoho access token.
fn new_access_token() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!("1000.{}.{}", hex(32), hex(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refresh_params(client_id: &str, secret: &str, token: &str) -> HashMap<String, String> {
        [
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("refresh_token", token),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn default_params() -> HashMap<String, String> {
        refresh_params(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_REFRESH_TOKEN,
        )
    }

    fn access_token(reply: &Reply) -> String {
        match &reply.body {
            Body::Json(v) => v["access_token"].as_str().expect("access_token").to_owned(),
            Body::Html(_) => panic!("html reply"),
        }
    }

    #[test]
    fn credential_errors_are_http_200_with_the_zoho_codes() {
        let mut accounts = Accounts::new(AccountsConfig::default());
        let cases = [
            (
                refresh_params("nope", DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN),
                "invalid_client",
            ),
            (
                refresh_params(DEFAULT_CLIENT_ID, "wrong", DEFAULT_REFRESH_TOKEN),
                "invalid_client_secret",
            ),
            (
                refresh_params(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "1000.x.y"),
                "invalid_code",
            ),
        ];
        for (params, code) in cases {
            let (reply, outcome) = accounts.token(&params, Duration::ZERO);
            assert_eq!(reply, Reply::json(200, json!({ "error": code })));
            assert_eq!(outcome, TokenOutcome::Rejected);
        }
    }

    #[test]
    fn eleventh_refresh_in_ten_minutes_is_throttled_and_retrying_extends_the_block() {
        let mut accounts = Accounts::new(AccountsConfig::default());
        for i in 0..10 {
            let (_, outcome) = accounts.token(&default_params(), Duration::from_secs(i * 30));
            assert_eq!(outcome, TokenOutcome::Minted);
        }
        let (reply, outcome) = accounts.token(&default_params(), Duration::from_secs(301));
        assert_eq!(outcome, TokenOutcome::Throttled);
        assert_eq!(reply.status, 200);
        // The window has rolled past the first mints, but the refused attempt at 301 s blocks
        // until 901 s, and a retry at 700 s pushes that to 1300 s.
        let (_, outcome) = accounts.token(&default_params(), Duration::from_secs(700));
        assert_eq!(outcome, TokenOutcome::Throttled);
        let (_, outcome) = accounts.token(&default_params(), Duration::from_secs(1299));
        assert_eq!(outcome, TokenOutcome::Throttled);
        let (_, outcome) = accounts.token(&default_params(), Duration::from_secs(1899));
        assert_eq!(outcome, TokenOutcome::Minted);
    }

    #[test]
    fn minting_past_the_live_cap_silently_evicts_the_oldest() {
        let config = AccountsConfig {
            live_token_cap: 2,
            ..AccountsConfig::default()
        };
        let mut accounts = Accounts::new(config);
        let first = access_token(&accounts.token(&default_params(), Duration::ZERO).0);
        let second = access_token(&accounts.token(&default_params(), Duration::ZERO).0);
        let third = access_token(&accounts.token(&default_params(), Duration::ZERO).0);
        assert_eq!(
            accounts.introspect(&first, Duration::ZERO),
            TokenStatus::Evicted
        );
        assert!(matches!(
            accounts.introspect(&second, Duration::ZERO),
            TokenStatus::Valid { .. }
        ));
        assert!(matches!(
            accounts.introspect(&third, Duration::ZERO),
            TokenStatus::Valid { .. }
        ));
        assert_eq!(accounts.live_tokens(DEFAULT_REFRESH_TOKEN), 2);
        assert_eq!(accounts.evicted_tokens(), 1);
    }

    #[test]
    fn tokens_expire_and_revocation_kills_them() {
        let mut accounts = Accounts::new(AccountsConfig::default());
        let token = access_token(&accounts.token(&default_params(), Duration::ZERO).0);
        assert!(matches!(
            accounts.introspect(&token, Duration::from_secs(3599)),
            TokenStatus::Valid { expires_in, .. } if expires_in == Duration::from_secs(1)
        ));
        assert_eq!(
            accounts.introspect(&token, Duration::from_secs(3600)),
            TokenStatus::Expired
        );
        let fresh = access_token(&accounts.token(&default_params(), Duration::ZERO).0);
        assert_eq!(accounts.revoke(DEFAULT_REFRESH_TOKEN).status, 200);
        assert_eq!(
            accounts.introspect(&fresh, Duration::ZERO),
            TokenStatus::Revoked
        );
        assert_eq!(accounts.revoke(DEFAULT_REFRESH_TOKEN).status, 400);
        let (reply, _) = accounts.token(&default_params(), Duration::ZERO);
        assert_eq!(reply, Reply::json(200, json!({ "error": "invalid_code" })));
        assert_eq!(
            accounts.introspect("1000.never.issued", Duration::ZERO),
            TokenStatus::Unknown
        );
    }

    #[test]
    fn invalidating_access_tokens_keeps_the_refresh_token() {
        let mut accounts = Accounts::new(AccountsConfig::default());
        let old = access_token(&accounts.token(&default_params(), Duration::ZERO).0);
        let live = access_token(
            &accounts
                .token(&default_params(), Duration::from_secs(3000))
                .0,
        );
        // `old` has expired by 3700 s: only `live` is invalidated.
        let now = Duration::from_secs(3700);
        assert_eq!(accounts.invalidate_access_tokens(now), 1);
        assert_eq!(accounts.introspect(&live, now), TokenStatus::Revoked);
        assert_eq!(accounts.introspect(&old, now), TokenStatus::Expired);
        assert_eq!(accounts.live_tokens(DEFAULT_REFRESH_TOKEN), 0);
        let (_, outcome) = accounts.token(&default_params(), now);
        assert_eq!(outcome, TokenOutcome::Minted);
    }

    #[test]
    fn legacy_shape_reports_milliseconds_beside_seconds() {
        let config = AccountsConfig {
            legacy_expiry_shape: true,
            ..AccountsConfig::default()
        };
        let mut accounts = Accounts::new(config);
        let (reply, _) = accounts.token(&default_params(), Duration::ZERO);
        let Body::Json(body) = reply.body else {
            panic!("json expected")
        };
        assert_eq!(body["expires_in_sec"], 3600);
        assert_eq!(body["expires_in"], 3_600_000);
    }
}
