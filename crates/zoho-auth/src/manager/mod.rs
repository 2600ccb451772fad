//! The token manager: a cached access token that is never caught out by expiry.
//!
//! Shape: callers read the current token from an [`ArcSwap`] (lock-free, never touching the
//! network; while the token is well inside its life, not even reading the clock — see
//! `TokenData::fast`). One background *driver* task per manager performs every refresh, so there
//! is at most one refresh in flight and a cancelled caller cancels nothing. Callers that find no
//! usable token record a demand under a small mutex, wake the driver and wait for the next
//! published outcome on a `watch` channel — all waiters share that one outcome, success or
//! failure.
//!
//! Failure policy (see `RefreshError::class`): a failed refresh never replaces a valid token;
//! transient errors back off exponentially with jitter, bounded by the token's remaining life;
//! throttling backs off for Zoho's whole window; permanent errors stop automatic attempts until a
//! forced refresh or new credentials. A hard budget caps attempts per window whatever happens.
//!
//! Files: `handle` (the public [`TokenManager`] API), `token` (what callers hold), `status`
//! (what status endpoints report), `builder`, `driver` (the task that refreshes), `schedule`
//! (the pure timing rules), `auth_retry` (the 401 rule), `events` (every log line and metric).

mod auth_retry;
mod builder;
mod driver;
mod events;
mod handle;
mod schedule;
mod status;
mod token;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

pub use auth_retry::AuthRetry;
pub use builder::TokenManagerBuilder;
pub use handle::{TokenManager, WithTokenError};
pub use status::{LastRefresh, RefreshCounts, RefreshReason, TokenState, TokenStatus};
pub use token::{Token, TokenOrigin};

use crate::budget::RefreshBudget;
use crate::endpoints::ZohoEndpoints;
use crate::error::{RefreshError, TokenError};
use crate::fleet::Fleet;
use crate::secret::Credentials;
use token::TokenData;

/// Default refresh margin: refresh this long before a token expires.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Default random spread added to the refresh time, so replicas do not refresh in step.
pub const DEFAULT_REFRESH_JITTER: Duration = Duration::from_secs(30);
/// Default allowance for clock difference with Zoho: a token counts as expired this much early.
pub const DEFAULT_EXPIRY_SKEW: Duration = Duration::from_secs(5);
/// Default timeout of one call to the token endpoint.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Default first delay after a transient refresh failure.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(5);
/// Default longest delay between transient-failure retries.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Default wait after Zoho throttles refreshes ("Access Denied"): its 10-minute window.
pub const DEFAULT_THROTTLE_BACKOFF: Duration = Duration::from_secs(600);
/// Default hard budget: at most this many refresh attempts per [`DEFAULT_BUDGET_WINDOW`].
pub const DEFAULT_REFRESH_BUDGET: usize = 10;
/// Default sliding window of the refresh budget (Zoho's throttle window).
pub const DEFAULT_BUDGET_WINDOW: Duration = Duration::from_secs(600);

/// Tunables. The defaults suit production Zoho.
#[derive(Debug, Clone)]
struct Config {
    refresh_margin: Duration,
    refresh_jitter: Duration,
    expiry_skew: Duration,
    request_timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    throttle_backoff: Duration,
    budget_limit: usize,
    budget_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            refresh_jitter: DEFAULT_REFRESH_JITTER,
            expiry_skew: DEFAULT_EXPIRY_SKEW,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            backoff_initial: DEFAULT_BACKOFF_INITIAL,
            backoff_max: DEFAULT_BACKOFF_MAX,
            throttle_backoff: DEFAULT_THROTTLE_BACKOFF,
            budget_limit: DEFAULT_REFRESH_BUDGET,
            budget_window: DEFAULT_BUDGET_WINDOW,
        }
    }
}

/// What every [`TokenManager`] clone and the driver task share.
struct Inner {
    endpoints: ZohoEndpoints,
    token_url: String,
    credentials: ArcSwap<Credentials>,
    http: reqwest::Client,
    /// The current token, or the empty slot (`TokenData::present` false).
    current: ArcSwap<TokenData>,
    fallback: Option<Arc<TokenData>>,
    state: Mutex<State>,
    config: Config,
    wake: Arc<Notify>,
    /// Bumped after every attempt (or refusal to attempt) that waiters may be waiting for.
    outcomes: watch::Sender<u64>,
    generation: AtomicU64,
    /// The shared store, in fleet mode.
    fleet: Option<Fleet>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the driver notice that its owner is gone.
        self.wake.notify_one();
    }
}

#[derive(Debug, Clone)]
enum Phase {
    Idle,
    Refreshing,
    BackingOff { until: Instant, cause: RefreshError },
    Permanent(RefreshError),
}

/// The mutable part of the manager, behind the small mutex.
#[derive(Debug)]
struct State {
    phase: Phase,
    /// A caller is waiting for a token the current one cannot satisfy.
    demand: bool,
    /// The most life any waiting caller asked for.
    min_validity: Duration,
    forced: bool,
    /// The last token was dropped because Zoho rejected it.
    invalidated: bool,
    budget: RefreshBudget,
    transient_failures: u32,
    last_refresh: Option<LastRefresh>,
    counts: RefreshCounts,
    fallback_active: bool,
    fallback_rejected: bool,
    /// Bumped by `replace_credentials`, so a result for old credentials is not misread.
    credentials_epoch: u64,
    /// Spans of callers waiting for the next refresh; the refresh span links to them, so a trace
    /// of a slow request shows the refresh it waited for.
    waiting_spans: Vec<tracing::Id>,
    /// The shared generation of a token Zoho rejected, for the fleet path to invalidate.
    rejected_generation: Option<u64>,
}

impl State {
    fn new(budget: RefreshBudget) -> Self {
        State {
            phase: Phase::Idle,
            demand: false,
            min_validity: Duration::ZERO,
            forced: false,
            invalidated: false,
            budget,
            transient_failures: 0,
            last_refresh: None,
            counts: RefreshCounts::default(),
            fallback_active: false,
            fallback_rejected: false,
            credentials_epoch: 0,
            waiting_spans: Vec::new(),
            rejected_generation: None,
        }
    }

    /// Remembers the current span (bounded: a storm of waiters links to its first few).
    fn note_waiting_span(&mut self) {
        const MAX_LINKS: usize = 16;
        if self.waiting_spans.len() < MAX_LINKS
            && let Some(id) = tracing::Span::current().id()
            && !self.waiting_spans.contains(&id)
        {
            self.waiting_spans.push(id);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written in a way that
        // matters more than stopping token service, so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached token if it lives longer than `need`. Lock-free.
    fn usable(&self, need: Duration) -> Option<Token> {
        let now = Instant::now();
        let data = self.current.load();
        data.usable_for(now, need).then(|| Token::loaded(data))
    }

    /// The cached token while it is inside its clock-free read window (`TokenData::fast`): a
    /// load and a flag, no clock. Lock-free.
    #[inline]
    fn fast(&self) -> Option<Token> {
        let data = self.current.load();
        data.is_fast().then(|| Token::loaded(data))
    }

    fn budget_error(&self) -> RefreshError {
        RefreshError::BudgetExhausted {
            limit: self.config.budget_limit,
            window: self.config.budget_window,
        }
    }

    fn retry_after(&self, state: &State) -> Option<Duration> {
        match &state.phase {
            Phase::BackingOff { until, .. } => {
                Some(until.saturating_duration_since(Instant::now()))
            }
            _ => None,
        }
    }

    /// The fallback token when one is configured and not rejected, else the error.
    fn fallback_or(
        &self,
        state: &mut State,
        cause: RefreshError,
        retry_after: Option<Duration>,
    ) -> Result<Token, TokenError> {
        match &self.fallback {
            Some(fallback) if !state.fallback_rejected => {
                self.set_fallback_active(state, true);
                Ok(Token::owned(fallback.clone()))
            }
            _ => Err(TokenError::Unavailable { cause, retry_after }),
        }
    }

    fn set_fallback_active(&self, state: &mut State, active: bool) {
        if state.fallback_active == active {
            return;
        }
        state.fallback_active = active;
        events::fallback_in_use(active);
    }

    fn publish_outcome(&self, state: &mut State) {
        state.demand = false;
        state.waiting_spans.clear();
        state.min_validity = Duration::ZERO;
        self.outcomes.send_modify(|seq| *seq += 1);
    }
}
