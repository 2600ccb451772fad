//! Fleet mode: several managers ("replicas") sharing one token through a store behave as one
//! client — one refresh per token lifetime, whatever the number of replicas, restarts or 401s.
//! The in-memory store runs here with a frozen clock; `redis_store.rs` runs the same rules
//! against a real Redis.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use harness::{HOUR, MINUTE, SECOND, credentials, distinct_tokens};
use zoho_auth::store::{
    InMemoryStore, SharedRecord, Snapshot, StoreError, StoreFuture, TokenStore,
};
use zoho_auth::{RefreshError, TokenError, TokenManager, ZohoEndpoints};
use zoho_sim::testing::FrozenClock;
use zoho_sim::{DEFAULT_REFRESH_TOKEN, SimConfig, SimHandle, TokenStatus, ZohoSim};

struct Fleet {
    sim: Arc<SimHandle>,
    store: Arc<dyn TokenStore>,
    replicas: Vec<TokenManager>,
    /// Held for the test's duration: virtual time moves only when `advance` says so.
    _clock: FrozenClock,
}

impl Fleet {
    async fn start(replicas: usize, store: Arc<dyn TokenStore>) -> Fleet {
        let clock = FrozenClock::new(Duration::from_secs(300));
        let sim = Arc::new(ZohoSim::start(SimConfig::default()).await.unwrap());
        let mut fleet = Fleet {
            sim,
            store,
            replicas: Vec::new(),
            _clock: clock,
        };
        for _ in 0..replicas {
            fleet.add_replica();
        }
        fleet
    }

    fn add_replica(&mut self) -> TokenManager {
        let endpoints =
            ZohoEndpoints::custom(&self.sim.accounts_url(), &self.sim.desk_url()).unwrap();
        let replica = TokenManager::builder(credentials(DEFAULT_REFRESH_TOKEN), endpoints)
            .token_store(self.store.clone())
            .build();
        self.replicas.push(replica.clone());
        replica
    }

    /// Advances a second at a time, letting each replica's refresh (and the waits on the store)
    /// finish at that step.
    async fn advance(&self, by: Duration) {
        let mut left = by;
        while !left.is_zero() {
            let step = left.min(SECOND);
            tokio::time::advance(step).await;
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
            left -= step;
        }
    }

    fn minted(&self) -> u64 {
        self.sim.stats().tokens_minted
    }
}

#[tokio::test(start_paused = true)]
async fn five_replicas_cold_start_with_200_callers_make_one_refresh() {
    let fleet = Fleet::start(5, Arc::new(InMemoryStore::new())).await;
    let tokens = distinct_tokens(&fleet.replicas, 200).await;
    assert_eq!(tokens.len(), 1, "every replica serves the one shared token");
    assert_eq!(fleet.sim.token_calls(), 1);
    println!(
        "SCENARIO fleet cold start, 5 replicas x 200 callers: {} token calls",
        fleet.sim.token_calls()
    );
}

#[tokio::test(start_paused = true)]
async fn a_rolling_restart_of_12_replicas_mints_nothing() {
    let mut fleet = Fleet::start(1, Arc::new(InMemoryStore::new())).await;
    fleet.replicas[0].token().await.unwrap();
    for _ in 0..12 {
        // Each new pod starts from the shared token: a warm start.
        let pod = fleet.add_replica();
        pod.token().await.unwrap();
        fleet.advance(10 * SECOND).await;
    }
    assert_eq!(fleet.sim.token_calls(), 1);
    println!(
        "SCENARIO fleet rolling restart of 12 pods: {} token calls",
        fleet.sim.token_calls()
    );
}

#[tokio::test(start_paused = true)]
async fn three_replicas_for_24_hours_refresh_once_per_lifetime_for_the_fleet() {
    let fleet = Fleet::start(3, Arc::new(InMemoryStore::new())).await;
    for replica in &fleet.replicas {
        replica.token().await.unwrap();
    }
    for _ in 0..(24 * 360) {
        fleet.advance(10 * SECOND).await;
        for replica in &fleet.replicas {
            let token = replica
                .token()
                .now_or_never()
                .expect("no caller waits")
                .expect("token");
            assert!(matches!(
                fleet.sim.introspect(token.expose_secret()),
                TokenStatus::Valid { .. }
            ));
        }
    }
    let refreshes = fleet.minted() - 1;
    assert!(
        (23..=25).contains(&refreshes),
        "{refreshes} refreshes for 3 replicas in 24 h, want 24 ± 1"
    );
    assert_eq!(fleet.sim.evicted_tokens(), 0);
    println!(
        "SCENARIO fleet 3 replicas 24 h: {} token calls ({refreshes} refreshes)",
        fleet.sim.token_calls()
    );
}

#[tokio::test(start_paused = true)]
async fn a_401_seen_by_every_replica_makes_one_refresh() {
    let fleet = Fleet::start(4, Arc::new(InMemoryStore::new())).await;
    let mut tokens = Vec::new();
    for replica in &fleet.replicas {
        tokens.push(replica.token().await.unwrap());
    }
    // Zoho stops accepting the shared token; every replica sees a 401 on it.
    fleet.sim.invalidate_access_tokens();
    let retries: Vec<_> = fleet
        .replicas
        .iter()
        .zip(tokens)
        .map(|(replica, token)| {
            let replica = replica.clone();
            tokio::spawn(async move {
                replica.invalidate(token.access_token());
                replica.token().await.map(|t| t.expose_secret().to_owned())
            })
        })
        .collect();
    let mut fresh = Vec::new();
    for retry in retries {
        fresh.push(retry.await.unwrap().unwrap());
    }
    fresh.dedup();
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        fleet.sim.token_calls(),
        2,
        "the first token and exactly one refresh"
    );
    println!(
        "SCENARIO fleet 401 on 4 replicas: {} token calls",
        fleet.sim.token_calls()
    );
}

#[tokio::test(start_paused = true)]
async fn a_forced_refresh_storm_across_replicas_stays_within_the_fleet_budget() {
    let fleet = Fleet::start(3, Arc::new(InMemoryStore::new())).await;
    for _ in 0..600 {
        for replica in &fleet.replicas {
            match replica.force_refresh().await {
                Ok(_)
                | Err(TokenError::Unavailable {
                    cause: RefreshError::BudgetExhausted { .. },
                    ..
                }) => {}
                Err(other) => panic!("{other}"),
            }
        }
        fleet.advance(SECOND).await;
    }
    let calls = fleet.sim.token_calls();
    // Exactly the fleet budget: fewer would mean a budget that refuses what it may spend.
    assert_eq!(calls, 10, "{calls} calls in 10 minutes from 3 replicas");
    assert_eq!(fleet.sim.stats().token_throttled, 0);
    println!("SCENARIO fleet forced storm, 3 replicas 10 min: {calls} token calls");
}

/// A store that can be switched off, as a Redis outage would.
#[derive(Debug)]
struct Flaky {
    inner: InMemoryStore,
    down: AtomicBool,
    /// Operations refused while down: what the replicas tried against a dead store.
    refused: AtomicUsize,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::Relaxed) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Err(StoreError("connection refused".into()))
        } else {
            Ok(())
        }
    }
}

macro_rules! guarded {
    ($self:ident, $call:expr) => {{
        match $self.check() {
            Ok(()) => $call,
            Err(error) => Box::pin(std::future::ready(Err(error))),
        }
    }};
}

impl TokenStore for Flaky {
    fn load(&self) -> StoreFuture<'_, Snapshot> {
        guarded!(self, self.inner.load())
    }
    fn try_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool> {
        guarded!(self, self.inner.try_lock(owner, lease))
    }
    fn renew_lock<'a>(&'a self, owner: &'a str, lease: Duration) -> StoreFuture<'a, bool> {
        guarded!(self, self.inner.renew_lock(owner, lease))
    }
    fn unlock<'a>(&'a self, owner: &'a str) -> StoreFuture<'a, ()> {
        guarded!(self, self.inner.unlock(owner))
    }
    fn publish<'a>(
        &'a self,
        record: &'a SharedRecord,
        expected: u64,
        owner: &'a str,
    ) -> StoreFuture<'a, bool> {
        guarded!(self, self.inner.publish(record, expected, owner))
    }
    fn invalidate(&self, generation: u64) -> StoreFuture<'_, bool> {
        guarded!(self, self.inner.invalidate(generation))
    }
    fn acquire_budget(
        &self,
        now_ms: u64,
        limit: usize,
        window: Duration,
    ) -> StoreFuture<'_, Option<Duration>> {
        guarded!(self, self.inner.acquire_budget(now_ms, limit, window))
    }
    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes()
    }
}

#[tokio::test(start_paused = true)]
async fn when_the_store_is_down_replicas_keep_serving_and_rejoin_without_a_burst() {
    let flaky = Arc::new(Flaky {
        inner: InMemoryStore::new(),
        down: AtomicBool::new(false),
        refused: AtomicUsize::new(0),
    });
    let fleet = Fleet::start(3, flaky.clone()).await;
    for replica in &fleet.replicas {
        replica.token().await.unwrap();
    }
    assert_eq!(fleet.sim.token_calls(), 1);
    // Redis goes away for two hours: each replica refreshes its own token, once per lifetime.
    flaky.down.store(true, Ordering::Relaxed);
    for _ in 0..(2 * 360) {
        fleet.advance(10 * SECOND).await;
        for replica in &fleet.replicas {
            replica
                .token()
                .now_or_never()
                .expect("no caller waits")
                .expect("served while degraded");
        }
    }
    assert!(
        fleet.replicas.iter().all(|r| r.status().degraded),
        "degraded mode reported"
    );
    let during = fleet.sim.token_calls() - 1;
    // Each of the 3 replicas refreshes on its own once per 1-hour lifetime (at about 59 and
    // 118 minutes): exactly 2 each. Fewer would mean a replica stopped refreshing.
    assert_eq!(
        during,
        3 * 2,
        "each replica refreshed once per lifetime while degraded"
    );
    // While degraded, each replica reads the store every 5 s and nothing more (no refresh is
    // due in this minute): 12 reads per replica per minute, 13 if a read falls on both ends.
    flaky.refused.store(0, Ordering::Relaxed);
    fleet.advance(MINUTE).await;
    let probes = flaky.refused.load(Ordering::Relaxed);
    assert!(
        (3 * 12..=3 * 13).contains(&probes),
        "3 degraded replicas probing every 5 s made {probes} reads in a minute"
    );
    // Redis returns: no burst; the next refresh goes through the lock and the fleet converges.
    flaky.down.store(false, Ordering::Relaxed);
    let before = fleet.sim.token_calls();
    fleet.advance(MINUTE).await;
    assert_eq!(
        fleet.sim.token_calls(),
        before,
        "rejoining mints nothing by itself"
    );
    // …and is reported within seconds (a probe reads the store), not at the next refresh.
    assert!(
        fleet.replicas.iter().all(|r| !r.status().degraded),
        "rejoined a minute after the store returned"
    );
    fleet.advance(2 * HOUR).await;
    for replica in &fleet.replicas {
        replica.token().now_or_never().expect("no wait").unwrap();
        assert!(!replica.status().degraded, "rejoined");
    }
    let after = fleet.sim.token_calls() - before;
    assert_eq!(
        after, 2,
        "back to one refresh per lifetime for the whole fleet: {after} in 2 h"
    );
    println!(
        "SCENARIO fleet store outage 2 h: {during} token calls while degraded, {after} in the 2 h after"
    );
}
