//! The scenario harness: the emulator on a real loopback socket, a token manager pointed at it,
//! and a frozen tokio clock that only the test moves.

#![allow(dead_code)] // each test binary uses its own subset of the harness

use std::sync::Arc;
use std::time::Duration;

use zoho_auth::{AccessToken, Credentials, TokenManager, TokenState, ZohoEndpoints};
use zoho_sim::testing::FrozenClock;
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, SimConfig, SimHandle, ZohoSim,
};

/// One metric of a `DebuggingRecorder` snapshot.
pub type SnapshotEntry = (
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    metrics_util::debugging::DebugValue,
);

pub const SECOND: Duration = Duration::from_secs(1);
pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);

/// Real time a scenario may take before the watchdog ends the test process.
const WATCHDOG: Duration = Duration::from_secs(300);

pub struct Harness {
    pub sim: Arc<SimHandle>,
    pub manager: TokenManager,
    pub clock: FrozenClock,
}

pub fn credentials(refresh_token: &str) -> Credentials {
    Credentials::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, refresh_token)
}

/// `callers` concurrent `token()` calls spread round-robin over `replicas`: the distinct tokens
/// they got (one, when the replicas act as one client).
pub async fn distinct_tokens(replicas: &[TokenManager], callers: usize) -> Vec<String> {
    let callers: Vec<_> = (0..callers)
        .map(|i| {
            let replica = replicas[i % replicas.len()].clone();
            tokio::spawn(async move { replica.token().await.map(|t| t.expose_secret().to_owned()) })
        })
        .collect();
    let mut tokens = Vec::new();
    for caller in callers {
        tokens.push(caller.await.unwrap().expect("token"));
    }
    tokens.sort();
    tokens.dedup();
    tokens
}

impl Harness {
    pub async fn start() -> Self {
        Self::custom(None, None, None).await
    }

    pub async fn with_fallback(fallback: Option<&str>) -> Self {
        Self::custom(None, None, fallback).await
    }

    pub async fn custom(
        client_id: Option<&str>,
        client_secret: Option<&str>,
        fallback: Option<&str>,
    ) -> Self {
        let clock = FrozenClock::new(WATCHDOG);
        let sim = Arc::new(
            ZohoSim::start(SimConfig::default())
                .await
                .expect("emulator starts"),
        );
        let endpoints = ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).expect("urls");
        let credentials = Credentials::new(
            client_id.unwrap_or(DEFAULT_CLIENT_ID),
            client_secret.unwrap_or(DEFAULT_CLIENT_SECRET),
            DEFAULT_REFRESH_TOKEN,
        );
        let manager = TokenManager::builder(credentials, endpoints)
            .fallback_token(fallback.map(AccessToken::new))
            .build();
        Harness {
            sim,
            manager,
            clock,
        }
    }

    /// Moves time forward a second at a time; after each step, waits (in real time) until the
    /// manager and the emulator are idle, so a refresh due at a step happens at that step.
    pub async fn advance(&self, by: Duration) {
        let mut left = by;
        while !left.is_zero() {
            let step = left.min(SECOND);
            tokio::time::advance(step).await;
            self.settle().await;
            left -= step;
        }
    }

    async fn settle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut idle_checks = 0;
        while idle_checks < 5 {
            tokio::task::yield_now().await;
            let busy =
                self.sim.in_flight() > 0 || self.manager.status().state == TokenState::Refreshing;
            idle_checks = if busy { 0 } else { idle_checks + 1 };
            assert!(
                std::time::Instant::now() < deadline,
                "manager or emulator did not settle"
            );
        }
    }

    /// One line per scenario with what reached the emulator, for the issue note.
    pub fn report(&self, scenario: &str) {
        let stats = self.sim.stats();
        println!(
            "SCENARIO {scenario}: {} token endpoint calls ({} minted, {} throttled, {} rejected)",
            stats.token_requests, stats.tokens_minted, stats.token_throttled, stats.token_rejected
        );
    }
}

/// Spends Zoho's refresh window for the seeded refresh token, as another process would.
pub async fn exhaust_zoho_window(sim: &SimHandle) {
    for _ in 0..10 {
        assert!(sim.mint_access_token(DEFAULT_REFRESH_TOKEN).is_some());
    }
    assert_eq!(sim.stats().tokens_minted, 10);
}

/// Fails unless every metric in `snapshot` is in `zoho_auth::telemetry::METRICS` with the labels
/// it was recorded with, and got its description: call `zoho_auth::telemetry::describe()` on
/// the recorder before the scenario. (A description of the wrong kind does not count: the
/// recorder files descriptions by kind.)
pub fn assert_every_metric_described(snapshot: &[SnapshotEntry]) {
    use zoho_auth::telemetry::METRICS;
    for (key, _, description, _) in snapshot {
        let key = key.key();
        let name = key.name();
        let Some(entry) = METRICS.iter().find(|m| m.name == name) else {
            panic!("{name} is recorded but missing from zoho_auth::telemetry::METRICS");
        };
        assert!(description.is_some(), "{name} is recorded undescribed");
        for label in key.labels() {
            assert!(
                entry.labels.contains(&label.key()),
                "{name} is recorded with the undeclared label {}",
                label.key()
            );
        }
    }
}
