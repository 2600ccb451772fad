//! Part 4 of the benchmark report: fleet efficiency with a shared Redis.
//!
//! **Managers over token lifetimes (virtual time).** 1, 4 and 16 `TokenManager`s, each with its
//! own `RedisStore` (its own Redis connections, as separate gateway processes have), share one
//! real Redis (`REDIS_URL`, else 127.0.0.1:6379) and one emulator minting one-hour tokens. The
//! managers run the production settings (refresh 60 s before expiry minus up to 30 s of jitter,
//! 5 s skew). The tokio clock is paused and held (`zoho_sim::testing::FrozenClock`): virtual time
//! moves a second at a time, and after each step the program waits in real time until every
//! manager and the emulator are idle, so Redis and HTTP I/O are real while hours of token life
//! pass in seconds. Counted: tokens minted at cold start (all managers asking at once; target 1),
//! refreshes during K lifetimes (target K: with a refresh every 3,510–3,540 s, a fleet that
//! refreshes once per lifetime makes exactly K refreshes in K hours for K < 40), and tokens
//! minted across a rolling restart (each manager replaced in turn by a new one that starts
//! cold, 10 s apart; target 0).
//!
//! **Real processes (`--gateway <path>`).** 1, 4 and 16 `zoho-gateway serve` processes with
//! `REDIS_URL`, started at once (tokens minted: target 1), then restarted one by one (SIGTERM,
//! wait for exit, start the replacement, wait for `/readyz`; tokens minted: target 0). Real time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bench::Options;
use serde_json::{Value, json};
use test_support::{Env, Launch};
use zoho_auth::store::{EncryptionKeys, RedisStore, TokenStore};
use zoho_auth::{Credentials, TokenManager, TokenState, ZohoEndpoints};
use zoho_sim::testing::FrozenClock;
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, RefreshGrant, SimConfig, SimHandle, ZohoSim,
};

const SIZES: [usize; 3] = [1, 4, 16];
const HOUR: Duration = Duration::from_secs(3600);
const SECOND: Duration = Duration::from_secs(1);
/// Real time a gateway process gets from its listening line to `/readyz` answering 200.
const READY: Duration = Duration::from_secs(30);
/// The shared record's encryption key (a benchmark key, as every replica must share one).
const KEY: &str = "abababababababababababababababababababababababababababababababab";

fn redis_url() -> Result<String, String> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // redis://[user:password@]host:port[/db]
    let host = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let reachable = host
        .parse::<std::net::SocketAddr>()
        .ok()
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if reachable {
        Ok(url)
    } else {
        Err(format!(
            "no Redis at {url}: start one (`apt-get install redis-server`, then `redis-server --daemonize yes`) or set REDIS_URL"
        ))
    }
}

/// A refresh token of this run's own, so its record in a shared Redis is its own.
fn unique_grant(sim: &SimHandle) -> String {
    let refresh_token = format!("1000.bench{:016x}.fleet", fastrand::u64(..));
    sim.add_grant(RefreshGrant {
        client_id: DEFAULT_CLIENT_ID.into(),
        refresh_token: refresh_token.clone(),
        scopes: zoho_sim::PROJECT_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    });
    refresh_token
}

struct VirtualFleet {
    sim: SimHandle,
    url: String,
    refresh_token: String,
    managers: Vec<TokenManager>,
    /// Checks (once a virtual minute) at which some replica held no usable token.
    gaps: std::cell::Cell<u64>,
}

impl VirtualFleet {
    /// A new replica: its own store (own connections), production refresh settings.
    fn replica(&self) -> TokenManager {
        let credentials = Credentials::new(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            &self.refresh_token,
        );
        let keys = EncryptionKeys::parse(KEY, None).expect("benchmark key");
        let store: Arc<dyn TokenStore> =
            RedisStore::new(&self.url, &credentials, Some(keys)).expect("Redis store");
        let endpoints =
            ZohoEndpoints::custom(&self.sim.accounts_url(), &self.sim.desk_url()).expect("urls");
        TokenManager::builder(credentials, endpoints)
            .token_store(store)
            .build()
    }

    fn minted(&self) -> u64 {
        self.sim.stats().tokens_minted
    }

    /// Waits (real time) until the emulator and every manager are idle. A replica waiting for
    /// another's token sleeps on a virtual timer (its poll) — after a while the clock must move
    /// for it, so the wait is bounded.
    async fn settle(&self) {
        let deadline = std::time::Instant::now() + Duration::from_millis(300);
        let mut idle = 0;
        while idle < 5 && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
            let busy = self.sim.in_flight() > 0
                || self
                    .managers
                    .iter()
                    .any(|m| m.status().state == TokenState::Refreshing);
            idle = if busy { 0 } else { idle + 1 };
        }
    }

    async fn advance(&self, by: Duration) {
        let mut left = by;
        while !left.is_zero() {
            let step = left.min(SECOND);
            tokio::time::advance(step).await;
            self.settle().await;
            left -= step;
            if left.as_secs().is_multiple_of(60)
                && self.managers.iter().any(|m| !m.status().has_token)
            {
                self.gaps.set(self.gaps.get() + 1);
            }
        }
    }
}

async fn virtual_fleet(size: usize, lifetimes: u32, url: &str) -> Value {
    let _clock = FrozenClock::new(Duration::from_secs(900));
    let sim = ZohoSim::start(SimConfig::default())
        .await
        .expect("emulator starts");
    let refresh_token = unique_grant(&sim);
    let mut fleet = VirtualFleet {
        sim,
        url: url.to_owned(),
        refresh_token,
        managers: Vec::new(),
        gaps: std::cell::Cell::new(0),
    };
    for _ in 0..size {
        let replica = fleet.replica();
        fleet.managers.push(replica);
    }
    let real = std::time::Instant::now();

    // Cold start: every replica asks at once.
    let askers: Vec<_> = fleet
        .managers
        .iter()
        .map(|m| {
            let m = m.clone();
            tokio::spawn(async move { m.token().await.map(|t| t.expose_secret().to_owned()) })
        })
        .collect();
    let mut tokens = Vec::new();
    for asker in askers {
        tokens.push(asker.await.expect("task").expect("cold-start token"));
    }
    tokens.sort();
    tokens.dedup();
    let cold_start_minted = fleet.minted();

    // K lifetimes of one hour.
    fleet.advance(HOUR * lifetimes).await;
    let refreshes = fleet.minted() - cold_start_minted;
    let degraded = fleet.managers.iter().any(|m| m.status().degraded);
    let refreshes_per_lifetime = refreshes as f64 / f64::from(lifetimes);

    // Rolling restart: each replica replaced by a new one that starts cold, 10 s apart.
    let before_restart = fleet.minted();
    for index in 0..size {
        let replacement = fleet.replica();
        fleet.managers[index] = replacement.clone();
        replacement.token().await.expect("token after restart");
        fleet.advance(10 * SECOND).await;
    }
    let restart_minted = fleet.minted() - before_restart;
    let result = json!({
        "replicas": size,
        "lifetimes": lifetimes,
        "cold_start_minted": cold_start_minted,
        "cold_start_distinct_tokens": tokens.len(),
        "refreshes": refreshes,
        "refreshes_per_lifetime": refreshes_per_lifetime,
        "rolling_restart_minted": restart_minted,
        "degraded": degraded,
        "minutes_with_a_replica_lacking_a_token": fleet.gaps.get(),
        "real_seconds": real.elapsed().as_secs_f64(),
        "target_met": cold_start_minted == 1
            && refreshes == u64::from(lifetimes)
            && restart_minted == 0
            && fleet.gaps.get() == 0,
    });
    eprintln!(
        "fleet (virtual) {size} replicas: cold start {cold_start_minted} minted, {refreshes} refreshes in {lifetimes} lifetimes, restart minted {restart_minted}"
    );
    result
}

async fn process_fleet(binary: &Path, size: usize, url: &str) -> Value {
    let sim = ZohoSim::start(SimConfig::default())
        .await
        .expect("emulator starts");
    let refresh_token = unique_grant(&sim);
    let env = Env::zoho(&sim)
        .with("ZOHO_DESK_REFRESH_TOKEN", refresh_token)
        .with("REDIS_URL", url)
        .with("ZOHO_TOKEN_ENCRYPTION_KEY", KEY)
        .with("RUST_LOG", "warn");
    let launch = Launch::serve(&env).binary(binary);

    let started = std::time::Instant::now();
    let mut processes = futures_join((0..size).map(|_| launch.clone().start())).await;
    for process in &processes {
        process.ready(READY).await;
    }
    let cold_start_seconds = started.elapsed().as_secs_f64();
    let cold_start_minted = sim.stats().tokens_minted;

    let restart = std::time::Instant::now();
    for slot in processes.iter_mut() {
        let replacement = launch.clone().start().await;
        let old = std::mem::replace(slot, replacement);
        old.stop().await;
        slot.ready(READY).await;
    }
    let restart_minted = sim.stats().tokens_minted - cold_start_minted;
    let restart_seconds = restart.elapsed().as_secs_f64();
    for process in processes {
        process.stop().await;
    }
    eprintln!(
        "fleet (processes) {size}: cold start {cold_start_minted} minted, rolling restart {restart_minted} minted"
    );
    json!({
        "processes": size,
        "cold_start_minted": cold_start_minted,
        "cold_start_seconds": cold_start_seconds,
        "rolling_restart_minted": restart_minted,
        "rolling_restart_seconds": restart_seconds,
        "target_met": cold_start_minted == 1 && restart_minted == 0,
    })
}

/// Starts every future at once and collects their outputs in order.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

fn main() {
    let options = Options::from_args();
    let url = match redis_url() {
        Ok(url) => url,
        Err(message) => {
            eprintln!("fleet: {message}");
            std::process::exit(2);
        }
    };
    let lifetimes = if options.quick { 3 } else { 12 };
    let mut virtual_runs = Vec::new();
    for size in SIZES {
        // A paused current-thread runtime per size: virtual time is the tokio clock.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        virtual_runs.push(runtime.block_on(virtual_fleet(size, lifetimes, &url)));
    }
    let mut process_runs = Vec::new();
    if let Some(binary) = options.get("gateway") {
        // Absolute: each process runs in its own working directory.
        let binary = std::fs::canonicalize(binary).unwrap_or_else(|e| panic!("{binary}: {e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        for size in SIZES {
            process_runs.push(runtime.block_on(process_fleet(&binary, size, &url)));
        }
    }
    options.write(&json!({
        "redis": "one real Redis; each replica its own RedisStore and connections",
        "token_lifetime_seconds": HOUR.as_secs(),
        "virtual_time": virtual_runs,
        "processes": process_runs,
    }));
}
