//! [`TokenManagerBuilder`]: the tunables, and starting the manager and its driver task.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};

use super::token::{TokenData, TokenOrigin};
use super::{Config, Inner, State, TokenManager, driver};
use crate::budget::RefreshBudget;
use crate::endpoints::ZohoEndpoints;
use crate::fleet::Fleet;
use crate::secret::{AccessToken, Credentials};
use crate::store::TokenStore;

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

impl TokenManager {
    /// Starts building a manager for `credentials` against `endpoints`.
    pub fn builder(credentials: Credentials, endpoints: ZohoEndpoints) -> TokenManagerBuilder {
        TokenManagerBuilder {
            credentials,
            endpoints,
            config: Config::default(),
            fallback: None,
            http: None,
            store: None,
        }
    }
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
                    origin: TokenOrigin::Fallback,
                    ..TokenData::empty()
                })
            }),
            state: Mutex::new(State::new(budget)),
            config,
            wake: wake.clone(),
            outcomes,
            generation: AtomicU64::new(0),
            fleet,
        });
        tokio::spawn(driver::drive(Arc::downgrade(&inner), wake));
        TokenManager { inner }
    }
}
