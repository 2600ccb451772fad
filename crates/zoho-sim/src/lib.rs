//! `zoho-sim`: a faithful, stateful emulator of Zoho Accounts for tests, benchmarks and the
//! gateway's sandbox mode.
//!
//! It behaves as `shared/zoho-spec.md` §1–2 describes the real service: the refresh grant with
//! parameters in the query, a urlencoded or a multipart body; errors with HTTP 200; the throttle of
//! 10 refreshes per refresh token per rolling 10 minutes (answered in each style Zoho has been seen
//! using); a cap on live access tokens that silently evicts the oldest; revocation. Faults can be
//! injected per route, the clock pushed forward, and every request is counted.
//!
//! It shares no code with the clients it tests, so a bug in a client cannot hide itself here.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = zoho_sim::ZohoSim::start(zoho_sim::SimConfig::default()).await?;
//! println!("token endpoint: {}/oauth/v2/token", sim.accounts_url());
//! assert_eq!(sim.stats().token_requests, 0);
//! # Ok(()) }
//! ```

mod accounts;
mod clock;
mod faults;
mod server;
mod stats;
pub mod testing;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use accounts::{
    AccountsConfig, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, OAuthClient,
    PROJECT_SCOPES, RefreshGrant, TokenStatus,
};
pub use clock::SimTime;
pub use faults::{Fault, Route, ThrottleStyle, Times};
pub use stats::SimStats;

/// Everything the emulator can be started with.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// The Accounts half: clients, grants, limits, response shapes.
    pub accounts: AccountsConfig,
    /// Address to bind; `None` binds `127.0.0.1:0`.
    pub bind: Option<SocketAddr>,
}

/// State shared by the handle and the request handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) clock: clock::SimClock,
    pub(crate) accounts: Mutex<accounts::Accounts>,
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
}
