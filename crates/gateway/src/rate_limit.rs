//! Per-client rate limiting with `governor` (GCRA).
//!
//! Each client gets its own budget of `GATEWAY_RATE_LIMIT_PER_SECOND` requests per second with
//! bursts of up to `GATEWAY_RATE_LIMIT_BURST`. A client is the API key that authenticated the
//! request (the [`AuthenticatedKey`] that [`crate::auth::require_role`] inserts), so clients
//! behind one ingress do not share a budget; without one, the peer IP from
//! `ConnectInfo<SocketAddr>`; without that, one shared "unidentified" budget. In anonymous mode
//! every request is the key `anonymous` and shares one budget.
//!
//! Install it *inside* the authenticating layer so the key name is known:
//!
//! ```text
//! let limit = RateLimit::new(&config.security.rate_limit);
//! app.layer(from_fn_with_state(limit, rate_limit::rate_limit))
//!    .layer(from_fn_with_state(RequireRole::new(keys, Role::Read), auth::require_role))
//! ```
//!
//! Refusals answer 429 `{"error":{"code":"rate_limited",…}}` with `Retry-After` in whole seconds
//! (at least 1), and count `http_server_rate_limited_total` (no labels: key names are not a
//! bounded label set).

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use governor::RateLimiter;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use crate::auth::AuthenticatedKey;
use crate::config::RateLimitConfig;
use crate::error::{ErrorCode, RouteError, retry_after_secs};

/// Counter of requests refused with 429.
pub const RATE_LIMITED_TOTAL: &str = "http_server_rate_limited_total";

/// Forget idle clients' state every this many checks, so per-IP state cannot grow forever.
const HOUSEKEEPING_EVERY: u64 = 4096;

/// Whose budget a request spends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// An authenticated API key, by name.
    ApiKey(Arc<str>),
    /// An unauthenticated peer, by IP address.
    Peer(IpAddr),
    /// Neither known (no `ConnectInfo`): one shared budget.
    Unidentified,
}

impl RateKey {
    /// The key for a request: its [`AuthenticatedKey`] name, else the peer IP.
    pub fn for_request(request: &Request) -> RateKey {
        let extensions = request.extensions();
        if let Some(key) = extensions.get::<AuthenticatedKey>() {
            RateKey::ApiKey(key.name.clone())
        } else if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() {
            RateKey::Peer(peer.ip())
        } else {
            RateKey::Unidentified
        }
    }
}

impl fmt::Display for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateKey::ApiKey(name) => write!(f, "key {name}"),
            RateKey::Peer(ip) => write!(f, "peer {ip}"),
            RateKey::Unidentified => f.write_str("unidentified client"),
        }
    }
}

type Limiter<C> =
    RateLimiter<RateKey, DefaultKeyedStateStore<RateKey>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A keyed rate limiter; cheap to clone (shared state). `C` is the clock: the default in
/// production, `governor::clock::FakeRelativeClock` in tests.
pub struct RateLimit<C: Clock = DefaultClock> {
    limiter: Arc<Limiter<C>>,
    checks: Arc<AtomicU64>,
    config: RateLimitConfig,
}

impl RateLimit<DefaultClock> {
    /// A limiter with `config`'s quota per client.
    pub fn new(config: &RateLimitConfig) -> Self {
        RateLimit::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock> RateLimit<C> {
    /// A limiter reading time from `clock`.
    pub fn with_clock(config: &RateLimitConfig, clock: C) -> Self {
        RateLimit {
            limiter: Arc::new(RateLimiter::new(
                config.quota(),
                DefaultKeyedStateStore::default(),
                clock,
            )),
            checks: Arc::new(AtomicU64::new(0)),
            config: *config,
        }
    }

    /// Spends one unit of `key`'s budget, or says how long until one is available.
    pub fn check(&self, key: &RateKey) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY
            == HOUSEKEEPING_EVERY - 1
        {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// How many clients currently have state (the tests check that idle state is forgotten).
    #[cfg(test)]
    fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }
}

impl<C: Clock> Clone for RateLimit<C> {
    fn clone(&self) -> Self {
        RateLimit {
            limiter: self.limiter.clone(),
            checks: self.checks.clone(),
            config: self.config,
        }
    }
}

impl<C: Clock> fmt::Debug for RateLimit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_second", &self.config.per_second)
            .field("burst", &self.config.burst)
            .field("tracked_clients", &self.limiter.len())
            .finish()
    }
}

/// Axum middleware: spends one unit of the client's budget, or answers 429 with `Retry-After`.
/// Use with `axum::middleware::from_fn_with_state(limit, rate_limit)`.
pub async fn rate_limit<C>(
    State(limit): State<RateLimit<C>>,
    request: Request,
    next: Next,
) -> Result<Response, RouteError>
where
    C: Clock + Send + Sync + 'static,
{
    let key = RateKey::for_request(&request);
    let Err(wait) = limit.check(&key) else {
        return Ok(next.run(request).await);
    };
    let secs = retry_after_secs(wait);
    metrics::counter!(RATE_LIMITED_TOTAL).increment(1);
    tracing::debug!(client = %key, retry_after_secs = secs, "rate limited");
    let message = format!(
        "rate limit of {} requests per second (burst {}) exceeded; retry after {secs} s",
        limit.config.per_second, limit.config.burst
    );
    Err(RouteError::new(ErrorCode::RateLimited, message).with_retry_after(Some(wait)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{StatusCode, header};
    use axum::middleware::{from_fn, from_fn_with_state};
    use axum::routing::get;
    use governor::clock::FakeRelativeClock;
    use std::num::NonZeroU32;
    use tower::ServiceExt;

    fn quota(per_second: u32, burst: u32) -> RateLimitConfig {
        RateLimitConfig {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    fn app(limit: RateLimit<FakeRelativeClock>) -> Router {
        Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(from_fn_with_state(limit, rate_limit))
            .layer(from_fn(crate::error::render_errors))
    }

    async fn call(app: &Router, key: Option<&str>, peer: Option<&str>) -> Response {
        let mut request = Request::builder()
            .uri("/")
            .header("x-request-id", "req-7")
            .body(Body::empty())
            .unwrap();
        if let Some(name) = key {
            request.extensions_mut().insert(AuthenticatedKey {
                name: Arc::from(name),
                role: Role::Read,
            });
        }
        if let Some(peer) = peer {
            request
                .extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        app.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_burst_beyond_the_quota_gets_429_with_retry_after() {
        let clock = FakeRelativeClock::default();
        let app = app(RateLimit::with_clock(&quota(1, 3), clock.clone()));
        for _ in 0..3 {
            assert_eq!(call(&app, Some("ci"), None).await.status(), StatusCode::OK);
        }
        let response = call(&app, Some("ci"), None).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "rate_limited");
        assert_eq!(json["error"]["requestId"], "req-7");

        // One request's worth of budget comes back after a second.
        clock.advance(Duration::from_secs(1));
        assert_eq!(call(&app, Some("ci"), None).await.status(), StatusCode::OK);
        assert_eq!(
            call(&app, Some("ci"), None).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        // At 2 per second with no burst, the second request waits half a second: Retry-After
        // says 1 (whole seconds, rounded up, never 0).
        let limit = RateLimit::with_clock(&quota(2, 1), FakeRelativeClock::default());
        assert!(limit.check(&RateKey::Unidentified).is_ok());
        let wait = limit.check(&RateKey::Unidentified).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
    }

    #[tokio::test]
    async fn keys_have_independent_budgets() {
        let app = app(RateLimit::with_clock(
            &quota(1, 2),
            FakeRelativeClock::default(),
        ));
        for _ in 0..2 {
            assert_eq!(call(&app, Some("a"), None).await.status(), StatusCode::OK);
        }
        assert_eq!(
            call(&app, Some("a"), None).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // Key "b" is untouched by "a" spending its budget, even from the same peer.
        for _ in 0..2 {
            let response = call(&app, Some("b"), Some("10.0.0.1:5000")).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert_eq!(
            call(&app, Some("b"), None).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[tokio::test]
    async fn without_a_key_the_peer_ip_is_the_client() {
        let app = app(RateLimit::with_clock(
            &quota(1, 1),
            FakeRelativeClock::default(),
        ));
        let status = |r: Response| r.status();
        assert_eq!(
            status(call(&app, None, Some("10.0.0.1:1000")).await),
            StatusCode::OK
        );
        // Same IP, other port: same client.
        assert_eq!(
            status(call(&app, None, Some("10.0.0.1:2000")).await),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            status(call(&app, None, Some("10.0.0.2:1000")).await),
            StatusCode::OK
        );
        assert_eq!(status(call(&app, None, None).await), StatusCode::OK);
        assert_eq!(
            status(call(&app, None, None).await),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[tokio::test]
    async fn refusals_are_counted_without_labels() {
        let recorder = CountingRecorder::default();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let app = app(RateLimit::with_clock(
            &quota(1, 1),
            FakeRelativeClock::default(),
        ));
        call(&app, Some("a"), None).await;
        call(&app, Some("a"), None).await;
        call(&app, Some("a"), None).await;
        assert_eq!(recorder.count(), 2);
        assert_eq!(*recorder.labels.lock().unwrap(), vec![0, 0]);
    }

    #[test]
    fn idle_state_is_forgotten() {
        let clock = FakeRelativeClock::default();
        let limit = RateLimit::with_clock(&quota(10, 1), clock.clone());
        for i in 0..100u8 {
            limit
                .check(&RateKey::Peer(IpAddr::from([10, 0, 0, i])))
                .unwrap();
        }
        assert_eq!(limit.tracked_clients(), 100);
        clock.advance(Duration::from_secs(10));
        for _ in 0..HOUSEKEEPING_EVERY {
            limit.check(&RateKey::Unidentified).ok();
        }
        assert!(limit.tracked_clients() <= 1, "{}", limit.tracked_clients());
    }

    /// Counts `http_server_rate_limited_total` increments and records each registration's
    /// label count.
    #[derive(Default)]
    struct CountingRecorder {
        counter: Arc<AtomicU64>,
        labels: std::sync::Mutex<Vec<usize>>,
    }

    impl CountingRecorder {
        fn count(&self) -> u64 {
            self.counter.load(Ordering::Relaxed)
        }
    }

    impl metrics::Recorder for CountingRecorder {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }

        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            if key.name() == RATE_LIMITED_TOTAL {
                self.labels.lock().unwrap().push(key.labels().count());
                metrics::Counter::from_arc(self.counter.clone())
            } else {
                metrics::Counter::noop()
            }
        }

        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }

        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }
}
