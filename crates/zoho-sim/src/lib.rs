//! `zoho-sim`: a faithful, stateful emulator of Zoho Accounts and Zoho Desk API v1 for tests,
//! benchmarks and the gateway's sandbox mode.
//!
//! The Accounts half behaves as `docs/zoho-behaviour.md` §1–2 describes the real service: the refresh
//! grant with parameters in the query, a urlencoded or a multipart body; errors with HTTP 200; the
//! throttle of 10 refreshes per refresh token per rolling 10 minutes (answered in each style Zoho
//! has been seen using); a cap on live access tokens that silently evicts the oldest; revocation.
//!
//! The Desk half (`/api/v1`, `docs/zoho-behaviour.md` §4–5) serves a deterministic seeded portal in Zoho's shapes
//! (string ids and counts, millisecond ISO times, fields no client knows) and enforces what Zoho
//! enforces: tokens minted by the Accounts half, the `orgId` header, scopes, `limit` ranges,
//! input validation, the concurrency limit and daily credits.
//!
//! Faults can be injected per route, the clock pushed forward, and every request is counted.
//!
//! It shares no code with the clients it tests, so a bug in a client cannot hide itself here.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = zoho_sim::ZohoSim::start(zoho_sim::SimConfig::default()).await?;
//! println!("token endpoint: {}/oauth/v2/token", sim.accounts_url());
//! println!("desk: {}/tickets with orgId {}", sim.desk_url(), sim.desk_org_id());
//! assert_eq!(sim.stats().token_requests, 0);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod accounts;
mod clock;
mod desk;
mod faults;
mod server;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use accounts::{
    AccountsConfig, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, OAuthClient,
    PROJECT_SCOPES, RefreshGrant, TokenStatus,
};
pub use clock::SimTime;
pub use desk::{
    DEFAULT_ORG_ID, DEFAULT_OTHER_ORG_ID, DeskConfig, SEEDED_ACCOUNTS, SEEDED_AGENTS,
    SEEDED_CONTACTS, SEEDED_DEPARTMENTS, SEEDED_TICKETS,
};
pub use faults::{Fault, Route, ThrottleStyle, Times};
pub use stats::SimStats;

/// Everything the emulator can be started with.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// The Accounts half: clients, grants, limits, response shapes.
    pub accounts: AccountsConfig,
    /// The Desk half: organization, limits, seed.
    pub desk: DeskConfig,
    /// Address to bind; `None` binds `127.0.0.1:0`.
    pub bind: Option<SocketAddr>,
}

/// State shared by the handle and the request handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) clock: clock::SimClock,
    pub(crate) accounts: Mutex<accounts::Accounts>,
    pub(crate) desk: desk::Desk,
    pub(crate) faults: Mutex<faults::FaultPlan>,
    pub(crate) stats: Mutex<SimStats>,
}

/// The emulator entry point.
#[derive(Debug)]
pub struct ZohoSim;

impl ZohoSim {
    /// Binds a real HTTP server (on `127.0.0.1:0` unless configured) and serves until the
    /// returned handle is dropped. Must be called inside a tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let shared = Arc::new(Shared {
            clock: clock::SimClock::new(),
            accounts: Mutex::new(accounts::Accounts::new(config.accounts)),
            desk: desk::Desk::new(config.desk),
            faults: Mutex::new(faults::FaultPlan::default()),
            stats: Mutex::new(SimStats::default()),
        });
        let bind = config
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(server::serve(listener, server::router(shared.clone())));
        Ok(SimHandle { shared, addr, task })
    }
}

/// A running emulator: its address, its control API and its counters. Dropping it stops the
/// server.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SimHandle {
    /// The socket address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the base of every route.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Accounts server URL to configure a client with (`…/oauth/v2/token` lives under it).
    pub fn accounts_url(&self) -> String {
        self.base_url()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        self.shared.stats.lock().expect("stats lock").clone()
    }

    /// Requests the token endpoint has received so far, whatever their outcome.
    pub fn token_calls(&self) -> u64 {
        self.stats().token_requests
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> u64 {
        self.stats().in_flight
    }

    /// Plans `fault` for requests to `route`.
    pub fn inject(&self, route: Route, fault: Fault, times: Times) {
        self.shared
            .faults
            .lock()
            .expect("faults lock")
            .push(route, fault, times);
    }

    /// Removes every planned fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("faults lock").clear();
    }

    /// Pushes the emulator's clock forward (tokens age, throttle windows roll).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Emulator time now.
    pub fn now(&self) -> SimTime {
        self.shared.clock.now()
    }

    /// Wall-clock time as the emulator presents it.
    pub fn wall_now(&self) -> SystemTime {
        self.shared.clock.wall()
    }

    /// What the emulator knows about `access_token` at this instant.
    pub fn introspect(&self, access_token: &str) -> TokenStatus {
        let now = self.shared.clock.now();
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .introspect(access_token, now)
    }

    /// Revokes a refresh token and every access token minted from it, as `POST …/revoke` does.
    /// Returns whether the token was known and live.
    pub fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .revoke(refresh_token)
            .status
            == 200
    }

    /// Mints an access token for `refresh_token` with the seeded client, exactly as a refresh
    /// through `POST /oauth/v2/token` would (same throttle, live-token cap and counters), for
    /// callers that need a token of their own: a static fallback, a benchmark's upstream.
    /// `None` when the emulator refuses (unknown or revoked grant, throttled).
    pub fn mint_access_token(&self, refresh_token: &str) -> Option<String> {
        let params = [
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("refresh_token", refresh_token),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let now = self.shared.clock.now();
        let (reply, outcome) = self
            .shared
            .accounts
            .lock()
            .expect("accounts lock")
            .token(&params, now);
        let mut stats = self.shared.stats.lock().expect("stats lock");
        stats.record_token_request(now);
        stats.record_token(outcome);
        drop(stats);
        match reply.body {
            accounts::Body::Json(json) => json["access_token"].as_str().map(str::to_owned),
            accounts::Body::Html(_) => None,
        }
    }

    /// Registers another refresh token.
    pub fn add_grant(&self, grant: RefreshGrant) {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .add_grant(grant);
    }

    /// Lifetime of tokens minted from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .set_token_lifetime(lifetime);
    }

    /// Whether successful refreshes use the legacy `expires_in_sec` + milliseconds shape.
    pub fn set_legacy_expiry_shape(&self, legacy: bool) {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .set_legacy_expiry_shape(legacy);
    }

    /// How throttled refreshes are answered from now on.
    pub fn set_throttle_style(&self, style: ThrottleStyle) {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .set_throttle_style(style);
    }

    /// Live (not evicted, not revoked) access tokens minted from `refresh_token`.
    pub fn live_tokens(&self, refresh_token: &str) -> usize {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .live_tokens(refresh_token)
    }

    /// Access tokens evicted so far by the live-token cap.
    pub fn evicted_tokens(&self) -> usize {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .evicted_tokens()
    }

    /// The live-token cap in force.
    pub fn live_token_cap(&self) -> usize {
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .config()
            .live_token_cap
    }

    /// Revokes every live access token, as when Zoho drops tokens server-side, while refresh
    /// tokens stay valid: the next Desk call gets `INVALID_OAUTH` and a refresh recovers.
    /// Returns how many tokens were invalidated.
    pub fn invalidate_access_tokens(&self) -> usize {
        let now = self.shared.clock.now();
        self.shared
            .accounts
            .lock()
            .expect("accounts lock")
            .invalidate_access_tokens(now)
    }

    /// `http://127.0.0.1:<port>/api/v1`: the Desk API base to configure a client with.
    pub fn desk_url(&self) -> String {
        format!("{}{}", self.base_url(), desk::PREFIX)
    }

    /// The portal's organization id, expected in the `orgId` header.
    pub fn desk_org_id(&self) -> String {
        self.shared.desk.org_id().to_owned()
    }

    /// The six variables, as zoho-gateway names them, that point a Desk client at this emulator
    /// with its seeded credentials. One list for the gateway's sandbox, the gateway's tests and
    /// test-support's environment builder, so they cannot drift apart.
    pub fn client_env(&self) -> [(&'static str, String); 6] {
        [
            ("ZOHO_DESK_CLIENT_ID", DEFAULT_CLIENT_ID.to_owned()),
            ("ZOHO_DESK_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_owned()),
            ("ZOHO_DESK_REFRESH_TOKEN", DEFAULT_REFRESH_TOKEN.to_owned()),
            ("ZOHO_DESK_ORG_ID", self.desk_org_id()),
            ("ZOHO_ACCOUNTS_URL", self.accounts_url()),
            ("ZOHO_DESK_API_URL", self.desk_url()),
        ]
    }

    /// An organization the token does not belong to (answered with `OAUTH_ORG_MISMATCH`).
    pub fn desk_other_org_id(&self) -> String {
        self.shared.desk.other_org_id().to_owned()
    }

    /// Desk requests allowed in flight at once from now on.
    pub fn set_desk_concurrency_limit(&self, limit: usize) {
        self.shared.desk.set_concurrency_limit(limit);
    }

    /// The daily credit budget from now on; today's remaining credits are reset to it.
    pub fn set_desk_daily_credits(&self, credits: u64) {
        self.shared.desk.set_daily_credits(credits);
    }

    /// Credits left today (refilled at the emulator's UTC midnight).
    pub fn desk_credits_remaining(&self) -> u64 {
        self.shared.desk.credits_remaining(self.shared.clock.wall())
    }

    /// The most Desk requests seen in flight at once, counting refused ones.
    pub fn desk_peak_concurrency(&self) -> usize {
        self.shared.desk.peak_concurrency()
    }

    /// Tickets not in the trash.
    pub fn ticket_count(&self) -> usize {
        self.shared.desk.ticket_count()
    }

    /// Tickets not in the trash whose subject is exactly `subject`.
    pub fn tickets_with_subject(&self, subject: &str) -> usize {
        self.shared.desk.tickets_with_subject(subject)
    }

    /// Contacts in the portal.
    pub fn contact_count(&self) -> usize {
        self.shared.desk.contact_count()
    }

    /// Desk requests to `route` (a label such as `"GET /tickets/{id}"`), whatever their status.
    pub fn desk_calls(&self, route: &str) -> u64 {
        self.stats().calls(route)
    }
}
