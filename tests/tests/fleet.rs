//! Fleet mode end to end: several real `zoho-gateway` processes sharing one token through Redis
//! (`REDIS_URL` if set, else 127.0.0.1:6379).

use std::time::Duration;

use e2e::{Gateway, zoho_env};
use zoho_sim::{SimConfig, ZohoSim};

fn redis_url() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let address = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    assert!(
        std::net::TcpStream::connect_timeout(
            &address.parse().expect("REDIS_URL host:port"),
            Duration::from_secs(2)
        )
        .is_ok(),
        "no Redis at {url}: start one (`apt-get install redis-server`) or set REDIS_URL"
    );
    url
}

/// Replaces each replica in turn (SIGTERM, exit, start) and checks the new one serves.
async fn rolling_restart(
    replicas: &mut [Gateway],
    env: &[(String, String)],
    client: &reqwest::Client,
) {
    for replica in replicas.iter_mut() {
        replica.terminate();
        replica.wait().await;
        *replica = Gateway::start(env).await;
        assert_serves(client, replica, "/api/zoho-desk/agents").await;
    }
}

/// Fails unless `GET <path>` on the replica's API listener answers 200.
async fn assert_serves(client: &reqwest::Client, replica: &Gateway, path: &str) {
    let response = client
        .get(format!("{}{path}", replica.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The replica's token status, as `GET /api/zoho-desk/token` reports it.
async fn token_status(client: &reqwest::Client, replica: &Gateway) -> serde_json::Value {
    client
        .get(format!("{}/api/zoho-desk/token", replica.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `done` every `every` until it holds; fails with `what` once `within` has passed.
async fn wait_until(within: Duration, every: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(every).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_and_their_replacements_share_one_token() {
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    // A refresh token of its own, so this test's record is its own in a shared Redis.
    let refresh_token = format!("1000.fleet{:016x}.e2e", std::process::id() as u64 * 7919);
    sim.add_grant(zoho_sim::RefreshGrant {
        client_id: zoho_sim::DEFAULT_CLIENT_ID.into(),
        refresh_token: refresh_token.clone(),
        scopes: zoho_sim::PROJECT_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    });
    let mut env: Vec<_> = zoho_env(&sim)
        .into_iter()
        .filter(|(k, _)| k != "ZOHO_DESK_REFRESH_TOKEN")
        .collect();
    env.push(("ZOHO_DESK_REFRESH_TOKEN".into(), refresh_token));
    env.push(("REDIS_URL".into(), redis_url()));
    env.push(("ZOHO_TOKEN_ENCRYPTION_KEY".into(), "ab".repeat(32)));

    let client = reqwest::Client::new();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Gateway::start(&env).await);
    }
    for replica in &replicas {
        assert_serves(&client, replica, "/api/zoho-desk/departments").await;
    }
    assert_eq!(sim.stats().tokens_minted, 1, "three replicas, one refresh");
    // A rolling restart: each replica replaced by a new process, which starts warm.
    rolling_restart(&mut replicas, &env, &client).await;
    assert_eq!(sim.stats().tokens_minted, 1, "restarts mint nothing");
    let status = token_status(&client, &replicas[0]).await;
    assert_eq!(status["degraded"], false);
    println!(
        "E2E fleet: 3 replicas + 3 restarts, {} token minted",
        sim.stats().tokens_minted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_without_an_encryption_key_is_refused_at_start() {
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let mut env = zoho_env(&sim);
    env.push(("REDIS_URL".into(), "redis://127.0.0.1:6379".into()));
    let (code, output) = e2e::run(&["serve", "--admin-listen", "127.0.0.1:0"], &env).await;
    assert_eq!(code, Some(64), "{output}");
    assert!(output.contains("ZOHO_TOKEN_ENCRYPTION_KEY"), "{output}");
    env.push(("ZOHO_TOKEN_ENCRYPTION_KEY".into(), "not-a-key".into()));
    let (code, output) = e2e::run(&["serve", "--admin-listen", "127.0.0.1:0"], &env).await;
    assert_eq!(code, Some(64), "{output}");
    assert!(
        output.contains("ZOHO_TOKEN_ENCRYPTION_KEY") && !output.contains("not-a-key"),
        "{output}"
    );
}

/// Client loops spreading GETs over the replicas until stopped; counts answers by status.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<std::collections::BTreeMap<u16, u64>>>,
}

impl Load {
    fn start(apis: &[String], clients: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|i| {
                let (stop, apis) = (stop.clone(), apis.to_vec());
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(60))
                        .build()
                        .unwrap();
                    let mut counts = std::collections::BTreeMap::new();
                    let mut n = i;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let path = if n % 2 == 0 {
                            "departments"
                        } else {
                            "v1/agents"
                        };
                        let status = match client
                            .get(format!("{}/api/zoho-desk/{path}", apis[n % apis.len()]))
                            .send()
                            .await
                        {
                            Ok(response) => response.status().as_u16(),
                            Err(_) => 0,
                        };
                        *counts.entry(status).or_insert(0) += 1;
                        n += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    counts
                })
            })
            .collect();
        Load { stop, tasks }
    }

    async fn finish(self) -> std::collections::BTreeMap<u16, u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut total = std::collections::BTreeMap::new();
        for task in self.tasks {
            for (status, n) in task.await.unwrap() {
                *total.entry(status).or_insert(0) += n;
            }
        }
        total
    }
}

fn errors(counts: &std::collections::BTreeMap<u16, u64>) -> u64 {
    counts
        .iter()
        .filter(|(status, _)| **status != 200)
        .map(|(_, n)| n)
        .sum()
}

/// Waits (bounded) until the emulator has minted more than `minted` tokens.
async fn next_mint(sim: &zoho_sim::SimHandle, minted: u64, within: Duration) {
    wait_until(
        within,
        Duration::from_millis(50),
        &format!("no refresh within {within:?}"),
        || sim.stats().tokens_minted > minted,
    )
    .await;
}

/// Four real gateways, one emulator, one Redis, 30-second tokens: ten lifetimes under load, two
/// rolling restarts within one lifetime, `kill -9` of the lock holder mid-refresh, and Redis
/// down for 30 seconds. Real time: about seven minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_under_load_restarts_a_killed_holder_and_a_redis_outage() {
    const LIFETIME: Duration = Duration::from_secs(30);
    let mut redis = e2e::redis::PrivateRedis::start();
    // 30-second tokens refresh far more often than Zoho's 10 per 10 minutes allows, so this
    // emulator and these gateways get a larger budget; production tokens live an hour.
    let sim = ZohoSim::start(SimConfig {
        accounts: zoho_sim::AccountsConfig {
            token_lifetime: LIFETIME,
            refresh_limit: 1000,
            ..zoho_sim::AccountsConfig::default()
        },
        // Seven minutes of load spend more than a day's API credits of the default portal.
        desk: zoho_sim::DeskConfig {
            daily_credits: 10_000_000,
            ..zoho_sim::DeskConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut env = zoho_env(&sim);
    for (name, value) in [
        ("REDIS_URL", redis.url()),
        ("ZOHO_TOKEN_ENCRYPTION_KEY", "cd".repeat(32)),
        ("ZOHO_TOKEN_REFRESH_MARGIN_SECS", "2".into()),
        ("ZOHO_TOKEN_REFRESH_JITTER_SECS", "0".into()),
        ("ZOHO_TOKEN_EXPIRY_SKEW_SECS", "1".into()),
        ("ZOHO_TOKEN_REFRESH_BUDGET", "1000".into()),
        ("GATEWAY_REQUEST_TIMEOUT_SECS", "60".into()),
        // The portal allows 10 concurrent calls; 4 replicas × 2 stay below it.
        ("ZOHO_DESK_MAX_CONCURRENCY", "2".into()),
        ("GATEWAY_RATE_LIMIT_PER_SECOND", "10000".into()),
        ("GATEWAY_RATE_LIMIT_BURST", "10000".into()),
    ] {
        env.push((name.to_owned(), value));
    }
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(Gateway::start(&env).await);
    }
    let apis = |replicas: &[Gateway]| replicas.iter().map(|r| r.api.clone()).collect::<Vec<_>>();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap();

    // 1. Ten lifetimes under load.
    let load = Load::start(&apis(&replicas), 8);
    next_mint(&sim, 0, Duration::from_secs(10)).await;
    let started_minted = sim.stats().tokens_minted;
    let started = std::time::Instant::now();
    tokio::time::sleep(LIFETIME * 10).await;
    let counts = load.finish().await;
    let refreshes = sim.stats().tokens_minted - started_minted;
    let lifetimes = started.elapsed().as_secs_f64() / LIFETIME.as_secs_f64();
    println!(
        "E2E fleet load: 4 replicas, {lifetimes:.1} lifetimes, {refreshes} refreshes, requests by status {counts:?}, evicted {}",
        sim.evicted_tokens()
    );
    assert_eq!(errors(&counts), 0, "client-visible errors: {counts:?}");
    assert!(
        (refreshes as f64 - lifetimes).abs() <= 1.5,
        "{refreshes} refreshes over {lifetimes:.1} lifetimes"
    );
    assert_eq!(sim.evicted_tokens(), 0, "the live-token cap was hit");

    // 2. Right after a refresh, restart every replica twice: all start warm, nothing is minted.
    let minted = sim.stats().tokens_minted;
    next_mint(&sim, minted, LIFETIME).await;
    let minted = sim.stats().tokens_minted;
    let restart_started = std::time::Instant::now();
    for _ in 0..2 {
        rolling_restart(&mut replicas, &env, &client).await;
    }
    let restart_took = restart_started.elapsed();
    assert!(
        restart_took < LIFETIME - Duration::from_secs(3),
        "restarts took {restart_took:?}"
    );
    assert_eq!(
        sim.stats().tokens_minted,
        minted,
        "8 restarts within one lifetime minted tokens"
    );
    println!("E2E fleet restarts: 8 restarts in {restart_took:?}, 0 tokens minted");

    // 3. `kill -9` the lock holder while Zoho is answering its refresh; another replica takes
    //    over once the lease (2 × the 15 s token request timeout) runs out.
    sim.inject(
        zoho_sim::Route::Token,
        zoho_sim::Fault::latency(Duration::from_secs(5)),
        zoho_sim::Times::Next(1),
    );
    let holder_url = format!("{}/api/zoho-desk/token", replicas[0].api);
    let holder = tokio::spawn({
        let client = client.clone();
        async move { client.post(holder_url).send().await.map(|r| r.status()) }
    });
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(10),
        "the holder never called Zoho",
        || sim.stats().in_flight > 0,
    )
    .await;
    let locked_at = std::time::Instant::now();
    replicas[0].kill();
    replicas[0].wait().await;
    assert!(
        holder.await.unwrap().is_err(),
        "the killed holder never answered"
    );
    let response = client
        .post(format!("{}/api/zoho-desk/token", replicas[1].api))
        .send()
        .await
        .unwrap();
    let took_over = locked_at.elapsed();
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    assert!(
        took_over <= Duration::from_secs(31),
        "took over after {took_over:?} (lease 30 s)"
    );
    println!(
        "E2E fleet kill -9: the next replica completed the refresh {took_over:?} after the holder took the lock"
    );
    replicas[0] = Gateway::start(&env).await;

    // 4. Redis down for 30 seconds under load, then back (empty).
    let load = Load::start(&apis(&replicas), 8);
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during = sim.stats().tokens_minted;
    redis.restart();
    // The first refresh after Redis returns; the other replicas reach their refresh points
    // within moments of it and must adopt its token, not mint their own.
    next_mint(&sim, during, LIFETIME + Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = sim.stats().tokens_minted - during;
    let counts = load.finish().await;
    println!(
        "E2E fleet Redis outage: requests by status {counts:?}, {after} token(s) minted at the first refresh point after Redis returned"
    );
    assert_eq!(
        errors(&counts),
        0,
        "client-visible errors during the outage: {counts:?}"
    );
    assert_eq!(
        after, 1,
        "{after} tokens minted at the first refresh after Redis returned"
    );
    let status = token_status(&client, &replicas[2]).await;
    assert_eq!(status["degraded"], false, "rejoined: {status}");
}
