//! The token manager: a cached access token that is never caught out by expiry.
//!
//! Shape: callers read the current token from an [`ArcSwap`] (lock-free, never touching the
//! network; while the token is well inside its life, not even reading the clock — see
//! `TokenData::fast`). One background *driver* task per manager performs every refresh, so there is at most
//! one refresh in flight and a cancelled caller cancels nothing. Callers that find no usable token
//! record a demand under a small mutex, wake the driver and wait for the next published outcome
//! on a `watch` channel — all waiters share that one outcome, success or failure.
//!
//! Failure policy (see `RefreshError::class`): a failed refresh never replaces a valid token;
//! transient errors back off exponentially with jitter, bounded by the token's remaining life;
//! throttling backs off for Zoho's whole window; permanent errors stop automatic attempts until a
//! forced refresh or new credentials. A hard budget caps attempts per window whatever happens.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, Guard};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{Instrument, error, info, info_span, warn};

use crate::budget::RefreshBudget;
use crate::endpoints::ZohoEndpoints;
use crate::error::{FailureClass, RefreshError, TokenError};
use crate::fleet::{Ask, Fleet, Obtained};
use crate::secret::{AccessToken, Credentials};
use crate::store::{TokenStore, unix_now_ms};
use crate::telemetry;
use crate::token_endpoint::{self, Grant};

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

/// Shortest pause between two automatic attempts, so no failure mode can make the driver spin.
const MIN_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The clock-free read window of a token ends at least this long before the token stops being
/// usable (see `TokenData::fast`): the slack the driver task has to wake up and end it.
const FAST_READ_GUARD: Duration = Duration::from_secs(5);

/// Where a handed-out token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// Obtained by a refresh; its expiry is known.
    Refreshed,
    /// The configured static token (`ZOHO_DESK_ACCESS_TOKEN`); its expiry is unknown.
    Fallback,
}

/// A token handed to a caller. Keep it for the duration of one operation, and pass it back to
/// [`TokenManager::invalidate`] if Zoho rejects it.
///
/// Cheap to hold and to clone: it points at the manager's one copy of the token. Freshly read
/// from the cache it is an `arc_swap` guard, so reading it writes no reference count shared with
/// other threads; a clone holds an ordinary `Arc`.
pub struct Token {
    data: Guard<Arc<TokenData>>,
}

/// What a [`Token`] points at: one allocation per refresh, shared by every reader.
struct TokenData {
    value: AccessToken,
    source: TokenSource,
    generation: u64,
    /// The fleet's generation of this token, when it came from or was published to a store.
    shared_generation: Option<u64>,
    /// `None` for the fallback token, and for the empty cache slot.
    expires_at: Option<Instant>,
    expires_at_wall: Option<SystemTime>,
    refresh_at: Option<Instant>,
    /// The end of the clock-free read window (see [`TokenData::fast`]).
    fast_until: Option<Instant>,
    /// While set, [`TokenManager::token`] hands this token out without reading the clock. Only
    /// the driver sets it (when it installs the token, if `fast_until` is still ahead), and the
    /// driver clears it when it wakes at `fast_until` — it never sleeps past that while the flag
    /// is set — when it starts any refresh, and when it stops. `fast_until` is at the latest
    /// [`FAST_READ_GUARD`] before the token stops being usable (`expires_at − expiry_skew`), and
    /// with production settings it is the refresh time, a minute before expiry. So a read without
    /// a clock can only hand out an unusable token if the driver task is late by more than that
    /// gap (≥ 5 s; ≥ 55 s with the default margin).
    fast: AtomicBool,
}

impl TokenData {
    fn usable_for(&self, now: Instant, need: Duration) -> bool {
        self.expires_at.is_some_and(|at| at > now + need)
    }

    /// Whether this is a token, not the empty cache slot.
    fn present(&self) -> bool {
        self.source == TokenSource::Fallback || self.expires_at.is_some()
    }

    /// The empty cache slot.
    fn empty() -> Self {
        TokenData {
            value: AccessToken::new(String::new()),
            source: TokenSource::Refreshed,
            generation: 0,
            shared_generation: None,
            expires_at: None,
            expires_at_wall: None,
            refresh_at: None,
            fast_until: None,
            fast: AtomicBool::new(false),
        }
    }

    /// Ends the clock-free read window (idempotent).
    fn end_fast_reads(&self) {
        if self.fast.load(Ordering::Relaxed) {
            self.fast.store(false, Ordering::Release);
        }
    }
}

impl Clone for Token {
    fn clone(&self) -> Self {
        Token::owned(Arc::clone(&self.data))
    }
}

impl Token {
    fn owned(data: Arc<TokenData>) -> Self {
        Token {
            data: Guard::from_inner(data),
        }
    }

    /// The raw token, for the `Authorization` header only.
    pub fn expose_secret(&self) -> &str {
        self.data.value.expose_secret()
    }

    /// The token itself (what [`TokenManager::invalidate`] takes back after a 401).
    pub fn access_token(&self) -> &AccessToken {
        &self.data.value
    }

    /// `Zoho-oauthtoken <token>`.
    pub fn authorization(&self) -> String {
        self.data.value.authorization()
    }

    /// A safe preview (`1000.45a7b8cf863…`).
    pub fn preview(&self) -> String {
        self.data.value.preview()
    }

    /// Where the token came from.
    pub fn source(&self) -> TokenSource {
        self.data.source
    }

    /// Whether this is the static fallback token.
    pub fn is_fallback(&self) -> bool {
        self.data.source == TokenSource::Fallback
    }

    /// Wall-clock expiry; `None` for the fallback token, whose expiry is unknown.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.data.expires_at_wall
    }

    /// Life left; `None` for the fallback token.
    pub fn remaining(&self) -> Option<Duration> {
        self.data
            .expires_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Increases by one with every refresh of this manager (0 for the fallback token).
    pub fn generation(&self) -> u64 {
        self.data.generation
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("preview", &self.preview())
            .field("source", &self.data.source)
            .field("generation", &self.data.generation)
            .field("expires_at", &self.data.expires_at_wall)
            .finish()
    }
}

/// Why a refresh was attempted (the `reason` label of `zoho_token_refresh_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// The first token this manager obtains.
    ColdStart,
    /// Ahead of expiry, by the background schedule.
    Proactive,
    /// The token expired (e.g. refreshes failed until it ran out) and a caller needs one.
    Expired,
    /// Zoho rejected the token (a 401) and it was dropped.
    Invalidated,
    /// An operator asked for it.
    Forced,
    /// A caller needs more life than the current token has left.
    Deadline,
}

impl RefreshReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RefreshReason::ColdStart => "cold_start",
            RefreshReason::Proactive => "proactive",
            RefreshReason::Expired => "expired",
            RefreshReason::Invalidated => "invalidated",
            RefreshReason::Forced => "forced",
            RefreshReason::Deadline => "deadline",
        }
    }
}

/// The manager's state, as the gateway reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// No token yet and nothing failed (lazy cold start).
    Empty,
    /// A refreshed token is held and nothing is wrong.
    Fresh,
    /// A refresh is in flight.
    Refreshing,
    /// The last refresh failed; the next automatic attempt waits (transient error, throttling or
    /// a spent budget). A still-valid token keeps being served.
    BackingOff,
    /// The credentials failed permanently: re-consent or new credentials are needed.
    FailedPermanently,
    /// The static fallback token is being handed out.
    Fallback,
}

impl TokenState {
    /// Stable snake_case name for JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Empty => "empty",
            TokenState::Fresh => "fresh",
            TokenState::Refreshing => "refreshing",
            TokenState::BackingOff => "backing_off",
            TokenState::FailedPermanently => "failed_permanently",
            TokenState::Fallback => "fallback",
        }
    }
}

/// Attempts and their results since the manager started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshCounts {
    /// Attempts that reached (or tried to reach) Zoho.
    pub attempts: u64,
    /// Attempts that produced a token.
    pub successes: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Attempts the local budget refused to send.
    pub budget_refused: u64,
}

/// The most recent refresh attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRefresh {
    /// When it finished.
    pub at: SystemTime,
    /// What triggered it.
    pub reason: RefreshReason,
    /// `None` on success.
    pub error: Option<RefreshError>,
}

/// A snapshot for status endpoints. Contains a preview, never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    /// Whether a usable token (refreshed, or the fallback) is available right now.
    pub has_token: bool,
    /// Preview of the token callers get now.
    pub token_preview: Option<String>,
    /// Expiry of the refreshed token held, if any.
    pub expires_at: Option<SystemTime>,
    /// The state.
    pub state: TokenState,
    /// Whether the static fallback is being handed out.
    pub fallback: bool,
    /// The latest attempt.
    pub last_refresh: Option<LastRefresh>,
    /// When the next automatic attempt may happen, while backing off.
    pub retry_at: Option<SystemTime>,
    /// Counters.
    pub refreshes: RefreshCounts,
    /// Attempts left in the current budget window.
    pub budget_remaining: usize,
    /// Fleet mode only: the shared store is unavailable and this replica refreshes on its own.
    pub degraded: bool,
}

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

/// Builds a [`TokenManager`].
#[derive(Debug)]
pub struct TokenManagerBuilder {
    credentials: Credentials,
    endpoints: ZohoEndpoints,
    config: Config,
    fallback: Option<AccessToken>,
    http: Option<reqwest::Client>,
    store: Option<Arc<dyn TokenStore>>,
}

impl TokenManagerBuilder {
    /// Shares the token with every manager using the same store (fleet mode): one refresh per
    /// token lifetime for the whole fleet. Without a store the token lives in this process only.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Refresh this long before expiry (default 60 s), minus a random jitter.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.config.refresh_margin = margin;
        self
    }

    /// Upper bound of the random jitter subtracted from the refresh time (default 30 s), so
    /// processes started together do not refresh together.
    pub fn refresh_jitter(mut self, jitter: Duration) -> Self {
        self.config.refresh_jitter = jitter;
        self
    }

    /// A token with less life than this is treated as expired (default 5 s, as Zoho's SDKs do).
    pub fn expiry_skew(mut self, skew: Duration) -> Self {
        self.config.expiry_skew = skew;
        self
    }

    /// Timeout of one token request (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Exponential backoff after transient failures: first delay and cap (defaults 5 s, 5 min).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max.max(initial);
        self
    }

    /// Silence after Zoho answers "Access Denied" (default 10 min, Zoho's window).
    pub fn throttle_backoff(mut self, backoff: Duration) -> Self {
        self.config.throttle_backoff = backoff;
        self
    }

    /// The hard budget: at most `limit` attempts in any `window` (default 10 per 10 min, Zoho's
    /// limit). Forced refreshes and 401 storms count too.
    pub fn refresh_budget(mut self, limit: usize, window: Duration) -> Self {
        self.config.budget_limit = limit.max(1);
        self.config.budget_window = window;
        self
    }

    /// A static token used only while no refreshed token is available.
    pub fn fallback_token(mut self, token: Option<AccessToken>) -> Self {
        self.fallback = token;
        self
    }

    /// The HTTP client for the token endpoint (default: a fresh rustls client).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Starts the manager and its driver task. Must be called inside a tokio runtime. Nothing is
    /// fetched until a token is first needed.
    pub fn build(self) -> TokenManager {
        let config = self.config;
        let fleet = self
            .store
            .map(|store| Fleet::new(store, config.request_timeout));
        let budget = RefreshBudget::new(config.budget_limit, config.budget_window);
        let (outcomes, _) = watch::channel(0);
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            token_url: self.endpoints.token_url(),
            endpoints: self.endpoints,
            credentials: ArcSwap::from_pointee(self.credentials),
            http: self.http.unwrap_or_default(),
            current: ArcSwap::from_pointee(TokenData::empty()),
            fallback: self.fallback.map(|value| {
                Arc::new(TokenData {
                    value,
                    source: TokenSource::Fallback,
                    ..TokenData::empty()
                })
            }),
            state: Mutex::new(State {
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
            }),
            config,
            wake: wake.clone(),
            outcomes,
            generation: AtomicU64::new(0),
            fleet,
        });
        tokio::spawn(drive(Arc::downgrade(&inner), wake));
        TokenManager { inner }
    }
}

/// The access-token cache. Cheap to clone; all clones share one token and one driver task, which
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("endpoints", &self.inner.endpoints)
            .field("state", &self.status().state)
            .finish()
    }
}

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

enum Action {
    Refresh(RefreshReason),
    SleepUntil(Instant),
    Wait,
}

impl TokenManager {
    /// Starts building a manager for `credentials` against `endpoints`.
    pub fn builder(credentials: Credentials, endpoints: ZohoEndpoints) -> TokenManagerBuilder {
        TokenManagerBuilder {
            credentials,
            endpoints,
            config: Config {
                refresh_margin: DEFAULT_REFRESH_MARGIN,
                refresh_jitter: DEFAULT_REFRESH_JITTER,
                expiry_skew: DEFAULT_EXPIRY_SKEW,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                backoff_initial: DEFAULT_BACKOFF_INITIAL,
                backoff_max: DEFAULT_BACKOFF_MAX,
                throttle_backoff: DEFAULT_THROTTLE_BACKOFF,
                budget_limit: DEFAULT_REFRESH_BUDGET,
                budget_window: DEFAULT_BUDGET_WINDOW,
            },
            fallback: None,
            http: None,
            store: None,
        }
    }

    /// The endpoints this manager was built for.
    pub fn endpoints(&self) -> &ZohoEndpoints {
        &self.inner.endpoints
    }

    /// A usable token. Returns at once while a valid token is cached; waits (sharing one refresh
    /// with every other waiter) only when none is. Falls back to the static token when no
    /// refreshed token can be had.
    pub async fn token(&self) -> Result<Token, TokenError> {
        // The hot path: no clock read, no lock, no shared reference count written.
        if let Some(token) = self.inner.fast() {
            return Ok(token);
        }
        self.token_valid_for(Duration::ZERO).await
    }

    /// Like [`token`](Self::token), but the token must live at least `min_validity` more (the
    /// static fallback, whose expiry is unknown, is exempt).
    pub async fn token_valid_for(&self, min_validity: Duration) -> Result<Token, TokenError> {
        let inner = &self.inner;
        let need = min_validity.max(inner.config.expiry_skew);
        if need == inner.config.expiry_skew
            && let Some(token) = inner.fast()
        {
            return Ok(token);
        }
        if let Some(token) = inner.usable(need) {
            return Ok(token);
        }
        let mut outcomes = inner.outcomes.subscribe();
        {
            let mut state = inner.lock();
            // A refresh may have landed between the first look and the lock.
            if let Some(token) = inner.usable(need) {
                return Ok(token);
            }
            let now = Instant::now();
            match &state.phase {
                Phase::Permanent(cause) => {
                    let cause = cause.clone();
                    return inner.fallback_or(&mut state, cause, None);
                }
                Phase::BackingOff { until, cause } if now < *until => {
                    let (cause, retry) = (cause.clone(), *until - now);
                    return inner.fallback_or(&mut state, cause, Some(retry));
                }
                _ => {
                    state.demand = true;
                    state.min_validity = state.min_validity.max(need);
                    state.note_waiting_span();
                }
            }
        }
        inner.wake.notify_one();
        // The driver publishes an outcome for every demand; the sender lives as long as `inner`.
        let _ = outcomes.changed().await;
        if let Some(token) = inner.usable(need) {
            return Ok(token);
        }
        let mut state = inner.lock();
        match state
            .last_refresh
            .as_ref()
            .and_then(|last| last.error.clone())
        {
            Some(cause) => {
                let retry = inner.retry_after(&state);
                inner.fallback_or(&mut state, cause, retry)
            }
            None => match Some(inner.current.load_full()).filter(|t| t.present()) {
                Some(token) => Err(TokenError::InsufficientLifetime {
                    wanted: need,
                    available: Token::owned(token).remaining().unwrap_or_default(),
                }),
                None => inner.fallback_or(
                    &mut state,
                    RefreshError::Malformed {
                        status: 0,
                        detail: "token dropped before use",
                    },
                    None,
                ),
            },
        }
    }

    /// Refreshes now, whatever the current token's age, within the refresh budget. Refused
    /// (without calling Zoho) while Zoho is throttling or the budget is spent. Clears a permanent
    /// failure: this is how an operator retries after fixing credentials at Zoho's end.
    pub async fn force_refresh(&self) -> Result<Token, TokenError> {
        let inner = &self.inner;
        let mut outcomes = inner.outcomes.subscribe();
        {
            let mut state = inner.lock();
            let now = Instant::now();
            match &state.phase {
                Phase::BackingOff {
                    until,
                    cause: RefreshError::Throttled,
                } if now < *until => {
                    return Err(TokenError::Unavailable {
                        cause: RefreshError::Throttled,
                        retry_after: Some(*until - now),
                    });
                }
                // Already refreshing: that attempt's fresh token answers this request too.
                Phase::Refreshing => {}
                _ => {
                    if let Err(next_slot) = state.budget.check(now) {
                        state.counts.budget_refused += 1;
                        metrics::counter!(telemetry::REFRESH_BUDGET_REFUSED_TOTAL).increment(1);
                        return Err(TokenError::Unavailable {
                            cause: inner.budget_error(),
                            retry_after: Some(next_slot - now),
                        });
                    }
                    state.forced = true;
                    state.note_waiting_span();
                }
            }
        }
        inner.wake.notify_one();
        let _ = outcomes.changed().await;
        let state = inner.lock();
        match state
            .last_refresh
            .as_ref()
            .and_then(|last| last.error.clone())
        {
            None => Some(inner.current.load_full())
                .filter(|t| t.present())
                .map(Token::owned)
                .ok_or(TokenError::Unavailable {
                    cause: RefreshError::Malformed {
                        status: 0,
                        detail: "token dropped before use",
                    },
                    retry_after: None,
                }),
            Some(cause) => Err(TokenError::Unavailable {
                cause,
                retry_after: inner.retry_after(&state),
            }),
        }
    }

    /// Reports that Zoho rejected `rejected` (a 401). Drops it only if it is still the current
    /// token — never a newer one — and returns whether it was dropped. The next
    /// [`token`](Self::token) call then refreshes. A rejected fallback token is not used again.
    pub fn invalidate(&self, rejected: &AccessToken) -> bool {
        let inner = &self.inner;
        if inner
            .fallback
            .as_ref()
            .is_some_and(|f| f.value == *rejected)
        {
            let mut state = inner.lock();
            if !state.fallback_rejected {
                warn!(
                    message = "[Zoho Token] Static fallback token rejected by Zoho; no longer used"
                );
            }
            state.fallback_rejected = true;
            inner.set_fallback_active(&mut state, false);
            return false;
        }
        // Compare, then swap: a concurrent refresh that already replaced the token wins.
        let current = inner.current.load();
        let dropped = current.present() && current.value == *rejected && {
            let previous = inner
                .current
                .compare_and_swap(&*current, Arc::new(TokenData::empty()));
            previous.present() && previous.value == *rejected
        };
        if dropped {
            let mut state = inner.lock();
            state.invalidated = true;
            state.rejected_generation = current.shared_generation;
            drop(state);
            metrics::gauge!(telemetry::EXPIRY_TIMESTAMP_SECONDS).set(0.0);
        }
        let result = if dropped { "dropped" } else { "stale" };
        metrics::counter!(telemetry::INVALIDATIONS_TOTAL, "result" => result).increment(1);
        info!(
            message = "[Zoho Token] Access token rejected by Zoho",
            token = %rejected.preview(),
            result,
        );
        dropped
    }

    /// Runs `operation` with a token; if it fails with an error `is_auth_rejection` recognises
    /// (Zoho's 401 `INVALID_OAUTH`), invalidates that token, gets a fresh one and runs it exactly
    /// once more.
    pub async fn with_token<T, E, F, Fut>(
        &self,
        mut operation: F,
        is_auth_rejection: impl Fn(&E) -> bool,
    ) -> Result<T, WithTokenError<E>>
    where
        F: FnMut(Token) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let token = self.token().await.map_err(WithTokenError::Token)?;
        match operation(token.clone()).await {
            Err(error) if is_auth_rejection(&error) => {
                info!(message = "[Zoho Desk] Token expired, refreshing and retrying...", token = %token.preview());
                self.invalidate(token.access_token());
                let retry_token = self.token().await.map_err(WithTokenError::Token)?;
                let result = operation(retry_token).await;
                let recovered = !matches!(&result, Err(e) if is_auth_rejection(e));
                metrics::counter!(telemetry::AUTH_RETRIES_TOTAL, "recovered" => if recovered { "true" } else { "false" })
                    .increment(1);
                result.map_err(WithTokenError::Operation)
            }
            other => other.map_err(WithTokenError::Operation),
        }
    }

    /// Installs new credentials (e.g. after re-consent): clears a permanent failure and starts a
    /// fresh budget for the new refresh token. The current token stays until it expires.
    pub fn replace_credentials(&self, credentials: Credentials) {
        let inner = &self.inner;
        inner.credentials.store(Arc::new(credentials));
        let mut state = inner.lock();
        state.credentials_epoch += 1;
        state.budget.reset();
        state.transient_failures = 0;
        state.fallback_rejected = false;
        if matches!(state.phase, Phase::Permanent(_) | Phase::BackingOff { .. }) {
            state.phase = Phase::Idle;
        }
        metrics::gauge!(telemetry::PERMANENT_FAILURE).set(0.0);
        drop(state);
        inner.wake.notify_one();
    }

    /// A snapshot for status endpoints.
    pub fn status(&self) -> TokenStatus {
        let inner = &self.inner;
        let now = Instant::now();
        let wall = SystemTime::now();
        let current = inner.usable(inner.config.expiry_skew);
        let mut state = inner.lock();
        let (state_name, retry_at) = match &state.phase {
            Phase::Refreshing => (TokenState::Refreshing, None),
            Phase::Permanent(_) => (TokenState::FailedPermanently, None),
            Phase::BackingOff { until, .. } if *until > now => {
                (TokenState::BackingOff, Some(wall + (*until - now)))
            }
            _ if current.is_some() => (TokenState::Fresh, None),
            _ if state.fallback_active => (TokenState::Fallback, None),
            _ => (TokenState::Empty, None),
        };
        let fallback = current.is_none() && state.fallback_active;
        let shown = current.clone().or_else(|| {
            inner
                .fallback
                .clone()
                .filter(|_| fallback)
                .map(Token::owned)
        });
        TokenStatus {
            has_token: shown.is_some(),
            token_preview: shown.as_ref().map(Token::preview),
            expires_at: current.as_ref().and_then(Token::expires_at),
            state: state_name,
            fallback,
            last_refresh: state.last_refresh.clone(),
            retry_at,
            refreshes: state.counts,
            budget_remaining: state.budget.remaining(now),
            degraded: inner.fleet.as_ref().is_some_and(Fleet::is_degraded),
        }
    }
}

/// The error of [`TokenManager::with_token`].
#[derive(Debug, thiserror::Error)]
pub enum WithTokenError<E> {
    /// No token could be had.
    #[error(transparent)]
    Token(TokenError),
    /// The operation failed (after its one retry, if it was an auth rejection).
    #[error(transparent)]
    Operation(E),
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
        data.usable_for(now, need).then(|| Token { data })
    }

    /// The cached token while it is inside its clock-free read window (`TokenData::fast`): a
    /// load and a flag, no clock. Lock-free.
    #[inline]
    fn fast(&self) -> Option<Token> {
        let data = self.current.load();
        data.fast.load(Ordering::Acquire).then(|| Token { data })
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
        metrics::gauge!(telemetry::FALLBACK_ACTIVE).set(if active { 1.0 } else { 0.0 });
        if active {
            warn!(message = "[Zoho Token] Falling back to static token");
        } else {
            info!(message = "[Zoho Token] Static fallback token no longer in use");
        }
    }

    fn publish_outcome(&self, state: &mut State) {
        state.demand = false;
        state.waiting_spans.clear();
        state.min_validity = Duration::ZERO;
        self.outcomes.send_modify(|seq| *seq += 1);
    }

    /// Decides the driver's next step, and keeps the clock-free read window honest: it ends the
    /// window once its time has come or a refresh starts, and never sleeps past it while open.
    fn next_action(&self) -> Action {
        let now = Instant::now();
        let current = self.current.load_full();
        if current.fast_until.is_none_or(|until| now >= until) {
            current.end_fast_reads();
        }
        let action = self.decide(now, &current);
        let fast_until = current
            .fast_until
            .filter(|_| current.fast.load(Ordering::Relaxed));
        match (action, fast_until) {
            (Action::Refresh(reason), _) => {
                // Reads check the clock while the driver is busy refreshing.
                current.end_fast_reads();
                Action::Refresh(reason)
            }
            (Action::SleepUntil(at), Some(until)) => Action::SleepUntil(at.min(until)),
            (Action::Wait, Some(until)) => Action::SleepUntil(until),
            (action, _) => action,
        }
    }

    /// The driver's next step. Every demand ends in an attempt or a published outcome, so no
    /// waiter is left hanging.
    fn decide(&self, now: Instant, current: &Arc<TokenData>) -> Action {
        let mut state = self.lock();
        let state = &mut *state;

        if state.forced {
            // Zoho is throttling: a forced attempt would only extend the block.
            if let Phase::BackingOff {
                until,
                cause: RefreshError::Throttled,
            } = state.phase
                && now < until
            {
                state.forced = false;
                self.publish_outcome(state);
                return Action::SleepUntil(until);
            }
            return self.start_attempt(state, now, RefreshReason::Forced);
        }
        match &state.phase {
            Phase::Permanent(_) => {
                if state.demand {
                    self.publish_outcome(state);
                }
                return Action::Wait;
            }
            Phase::BackingOff { until, .. } if now < *until => return Action::SleepUntil(*until),
            _ => {}
        }

        let need = state.min_validity.max(self.config.expiry_skew);
        let valid = Some(current).filter(|t| t.usable_for(now, self.config.expiry_skew));
        match valid {
            Some(token) => {
                let refresh_at = token.refresh_at.unwrap_or(now);
                if state.demand && !token.usable_for(now, need) {
                    self.start_attempt(state, now, RefreshReason::Deadline)
                } else if now >= refresh_at {
                    self.start_attempt(state, now, RefreshReason::Proactive)
                } else {
                    if state.demand {
                        // A waiter raced with a refresh that already satisfied it.
                        self.publish_outcome(state);
                    }
                    Action::SleepUntil(refresh_at)
                }
            }
            None if state.demand => {
                let reason = if state.invalidated {
                    RefreshReason::Invalidated
                } else if state.counts.successes == 0 {
                    RefreshReason::ColdStart
                } else {
                    RefreshReason::Expired
                };
                self.start_attempt(state, now, reason)
            }
            None => Action::Wait,
        }
    }

    fn start_attempt(&self, state: &mut State, now: Instant, reason: RefreshReason) -> Action {
        state.forced = false;
        if let Err(next_slot) = state.budget.check(now) {
            state.counts.budget_refused += 1;
            metrics::counter!(telemetry::REFRESH_BUDGET_REFUSED_TOTAL).increment(1);
            warn!(
                message = "[Zoho Token] Refresh budget spent; not calling Zoho",
                reason = reason.label(),
                limit = self.config.budget_limit,
                retry_in_secs = (next_slot - now).as_secs(),
            );
            state.phase = Phase::BackingOff {
                until: next_slot,
                cause: self.budget_error(),
            };
            self.publish_outcome(state);
            return Action::SleepUntil(next_slot);
        }
        // The attempt is charged when Zoho is actually called (`mint`): in fleet mode the refresh
        // may end up adopting another replica's token instead.
        state.phase = Phase::Refreshing;
        Action::Refresh(reason)
    }

    async fn refresh(&self, reason: RefreshReason) {
        let credentials = self.credentials.load_full();
        let (epoch, waiting) = {
            let mut state = self.lock();
            (
                state.credentials_epoch,
                std::mem::take(&mut state.waiting_spans),
            )
        };
        // The driver task has no caller: the span is a root, linked to the requests that waited.
        let span = info_span!(
            parent: None,
            "zoho_token.refresh",
            reason = reason.label(),
            outcome = tracing::field::Empty
        );
        for waiter in waiting {
            span.follows_from(waiter);
        }
        let result = self
            .obtain(reason, &credentials)
            .instrument(span.clone())
            .await;
        let now = Instant::now();
        let outcome = match &result {
            Ok(Obtained::Minted { .. }) => "success",
            Ok(Obtained::Adopted(_)) => "adopted",
            Err(_) => "failure",
        };
        span.record("outcome", outcome);

        let mut state = self.lock();
        let state = &mut *state;
        match result {
            Ok(Obtained::Minted { grant, generation }) => self.install(
                state,
                grant.access_token,
                grant.expires_in,
                generation,
                reason,
                &span,
            ),
            Ok(Obtained::Adopted(record)) => {
                metrics::counter!(telemetry::STORE_ADOPTED_TOTAL).increment(1);
                let life =
                    Duration::from_millis(record.expires_at_ms.saturating_sub(unix_now_ms()));
                self.install(
                    state,
                    record.access_token,
                    life,
                    Some(record.generation),
                    reason,
                    &span,
                )
            }
            Err(error) if state.credentials_epoch != epoch => {
                // The credentials changed mid-flight: this verdict is about the old ones.
                state.phase = Phase::Idle;
                let _entered = span.enter();
                info!(message = "[Zoho Token] Discarding a refresh result for replaced credentials", error = %error);
            }
            Err(error) => self.record_failure(state, error, now, reason, &span),
        }
        self.publish_outcome(state);
    }

    /// A token for this refresh: from the fleet when a store is configured, else from Zoho.
    async fn obtain(
        &self,
        reason: RefreshReason,
        credentials: &Credentials,
    ) -> Result<Obtained, RefreshError> {
        let mint = || self.mint(reason, credentials);
        let Some(fleet) = &self.fleet else {
            return mint().await.map(|grant| Obtained::Minted {
                grant,
                generation: None,
            });
        };
        let ask = Ask {
            local_expiry: self.current.load().expires_at,
            rejected: self.lock().rejected_generation.take(),
            forced_at_ms: (reason == RefreshReason::Forced).then(unix_now_ms),
            skew: self.config.expiry_skew,
            budget: (self.config.budget_limit, self.config.budget_window),
        };
        fleet.obtain(ask, mint).await
    }

    /// One call to Zoho's token endpoint, charged to the local budget.
    async fn mint(
        &self,
        reason: RefreshReason,
        credentials: &Credentials,
    ) -> Result<Grant, RefreshError> {
        {
            let mut state = self.lock();
            let now = Instant::now();
            // Checked again here: the fleet path may have waited since the driver's check.
            if state.budget.check(now).is_err() {
                state.counts.budget_refused += 1;
                metrics::counter!(telemetry::REFRESH_BUDGET_REFUSED_TOTAL).increment(1);
                return Err(self.budget_error());
            }
            state.budget.record(now);
            state.counts.attempts += 1;
        }
        info!(
            message = "[Zoho Token] Refreshing access token...",
            reason = reason.label()
        );
        let started = Instant::now();
        let result = token_endpoint::refresh(
            &self.http,
            &self.token_url,
            credentials,
            self.config.request_timeout,
        )
        .await;
        let outcome = if result.is_ok() { "success" } else { "failure" };
        metrics::counter!(telemetry::REFRESH_TOTAL, "outcome" => outcome, "reason" => reason.label()).increment(1);
        metrics::histogram!(telemetry::REFRESH_DURATION_SECONDS, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// Makes `value`, with `life` left, the current token.
    fn install(
        &self,
        state: &mut State,
        value: AccessToken,
        life: Duration,
        shared_generation: Option<u64>,
        reason: RefreshReason,
        span: &tracing::Span,
    ) {
        let now = Instant::now();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let jitter = self.config.refresh_jitter.mul_f64(fastrand::f64());
        let lead = (self.config.refresh_margin + jitter).max(self.config.expiry_skew * 2);
        // Short-lived tokens (tests, sandboxes) refresh halfway through their usable life, so the
        // refresh always lands before the token stops being handed out.
        let refresh_in = if life > lead * 2 {
            life - lead
        } else {
            life.saturating_sub(self.config.expiry_skew) / 2
        };
        let expires_at_wall = SystemTime::now() + life;
        let expires_at = now + life;
        let refresh_at = now + refresh_in.max(MIN_RETRY_DELAY);
        // Clock-free reads until the refresh time, and never closer than FAST_READ_GUARD to the
        // end of the usable life; the driver (running this) wakes by then to end the window.
        let fast_until = expires_at
            .checked_sub(self.config.expiry_skew + FAST_READ_GUARD)
            .map(|limit| limit.min(refresh_at));
        let token = TokenData {
            value,
            source: TokenSource::Refreshed,
            generation,
            shared_generation,
            expires_at: Some(expires_at),
            expires_at_wall: Some(expires_at_wall),
            refresh_at: Some(refresh_at),
            fast_until,
            fast: AtomicBool::new(fast_until.is_some_and(|until| now < until)),
        };
        let preview = token.value.preview();
        self.current.store(Arc::new(token));

        state.phase = Phase::Idle;
        state.invalidated = false;
        state.transient_failures = 0;
        state.counts.successes += 1;
        state.last_refresh = Some(LastRefresh {
            at: SystemTime::now(),
            reason,
            error: None,
        });
        self.set_fallback_active(state, false);
        let unix = expires_at_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        metrics::gauge!(telemetry::EXPIRY_TIMESTAMP_SECONDS).set(unix.as_secs_f64());
        metrics::gauge!(telemetry::PERMANENT_FAILURE).set(0.0);
        let _entered = span.enter();
        info!(message = "[Zoho Token] ✅ Token refreshed successfully", token = %preview, generation, shared_generation);
        info!(
            message = format!(
                "[Zoho Token] New token expires in: {} seconds",
                life.as_secs()
            ),
            expires_in_secs = life.as_secs(),
            refresh_in_secs = refresh_in.as_secs(),
        );
    }

    fn record_failure(
        &self,
        state: &mut State,
        error: RefreshError,
        now: Instant,
        reason: RefreshReason,
        span: &tracing::Span,
    ) {
        state.counts.failures += 1;
        state.last_refresh = Some(LastRefresh {
            at: SystemTime::now(),
            reason,
            error: Some(error.clone()),
        });
        metrics::counter!(telemetry::REFRESH_ERRORS_TOTAL, "error" => error.metric_label())
            .increment(1);
        let class = error.class();
        let retry_in = match class {
            FailureClass::Permanent => None,
            FailureClass::Throttled => Some(self.config.throttle_backoff),
            FailureClass::Transient | FailureClass::Budget => {
                state.transient_failures += 1;
                Some(self.transient_delay(state.transient_failures, now))
            }
        };
        state.phase = match retry_in {
            None => {
                metrics::gauge!(telemetry::PERMANENT_FAILURE).set(1.0);
                Phase::Permanent(error.clone())
            }
            Some(delay) => Phase::BackingOff {
                until: now + delay,
                cause: error.clone(),
            },
        };
        let _entered = span.enter();
        let retry_in_secs = retry_in.map(|d| d.as_secs());
        if class == FailureClass::Permanent {
            error!(
                message = "[Zoho Token] ❌ Failed to refresh token",
                error = %error,
                error_kind = error.metric_label(),
                action = "re-consent in Zoho's API console and configure the new refresh token, then force a refresh",
            );
        } else {
            warn!(
                message = "[Zoho Token] ❌ Failed to refresh token",
                error = %error,
                error_kind = error.metric_label(),
                retry_in_secs,
                attempt = state.transient_failures,
            );
        }
    }

    /// Exponential backoff with jitter, capped, and bounded by half the current token's remaining
    /// life so that another try happens before it runs out — but never below the initial
    /// backoff, so attempts do not bunch up (and spend the budget) as expiry approaches.
    fn transient_delay(&self, failures: u32, now: Instant) -> Duration {
        let exponent = failures.saturating_sub(1).min(16);
        let base = self
            .config
            .backoff_initial
            .saturating_mul(1 << exponent)
            .min(self.config.backoff_max);
        let mut delay = base / 2 + (base / 2).mul_f64(fastrand::f64());
        if let Some(expires_at) = self.current.load().expires_at {
            let left = expires_at
                .saturating_duration_since(now)
                .saturating_sub(self.config.expiry_skew);
            if !left.is_zero() {
                delay = delay.min((left / 2).max(self.config.backoff_initial));
            }
        }
        delay.max(MIN_RETRY_DELAY)
    }
}

/// The driver: the only place refreshes happen. Holds a weak reference so it ends when the last
/// [`TokenManager`] clone is dropped.
async fn drive(inner: Weak<Inner>, wake: Arc<Notify>) {
    /// Ends the clock-free read window when the driver stops for any reason (its owner gone, or
    /// its runtime shut down): without a driver, nobody would end it on time.
    struct EndFastReads(Weak<Inner>);
    impl Drop for EndFastReads {
        fn drop(&mut self) {
            if let Some(inner) = self.0.upgrade() {
                inner.current.load().end_fast_reads();
            }
        }
    }
    let _end_fast_reads = EndFastReads(inner.clone());
    loop {
        let action = match inner.upgrade() {
            Some(inner) => inner.next_action(),
            None => return,
        };
        match action {
            Action::Refresh(reason) => match inner.upgrade() {
                Some(inner) => inner.refresh(reason).await,
                None => return,
            },
            Action::SleepUntil(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = wake.notified() => {}
                }
            }
            Action::Wait => wake.notified().await,
        }
    }
}
