//! The Redis token store against a real Redis: `REDIS_URL` if set, else 127.0.0.1:6379, and a
//! private `redis-server` on a free port for the tests that stop and restart it.

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{credentials, distinct_tokens};
use test_support::redis::PrivateRedis;
use zoho_auth::store::{EncryptionKeys, RedisStore, SharedRecord, TokenStore, unix_now_ms};
use zoho_auth::{AccessToken, TokenManager, ZohoEndpoints};
use zoho_sim::{DEFAULT_CLIENT_ID, RefreshGrant, SimConfig, SimHandle, ZohoSim};

const KEY_1: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const KEY_2: &str = "0202020202020202020202020202020202020202020202020202020202020202";

fn shared_redis_url() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL parses");
    let reachable = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .is_ok();
    assert!(
        reachable,
        "no Redis at {url}: start one (`redis-server`, `apt-get install redis-server`) or set REDIS_URL"
    );
    url
}

/// A fresh refresh token per test, so tests sharing one Redis use different records.
async fn sim_with_unique_grant() -> (SimHandle, String) {
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let refresh_token = format!("1000.redis{:016x}.test", fastrand::u64(..));
    sim.add_grant(RefreshGrant {
        client_id: DEFAULT_CLIENT_ID.into(),
        refresh_token: refresh_token.clone(),
        scopes: vec![],
    });
    (sim, refresh_token)
}

fn replica(sim: &SimHandle, refresh_token: &str, store: Arc<dyn TokenStore>) -> TokenManager {
    let endpoints = ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).unwrap();
    TokenManager::builder(credentials(refresh_token), endpoints)
        .token_store(store)
        .build()
}

fn store(url: &str, refresh_token: &str, keys: &EncryptionKeys) -> Arc<dyn TokenStore> {
    RedisStore::new(url, &credentials(refresh_token), Some(keys.clone())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_encrypted_record_and_refresh_once() {
    let url = shared_redis_url();
    let (sim, refresh_token) = sim_with_unique_grant().await;
    let keys = EncryptionKeys::parse(KEY_1, None).unwrap();
    // Each replica has its own store, i.e. its own connections, as separate processes would.
    let replicas: Vec<_> = (0..3)
        .map(|_| replica(&sim, &refresh_token, store(&url, &refresh_token, &keys)))
        .collect();
    let tokens = distinct_tokens(&replicas, 90).await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        sim.stats().tokens_minted,
        1,
        "one refresh for three replicas"
    );

    // What Redis holds: a hash-tagged key that names neither token, and a ciphertext.
    let mut redis = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys_found: Vec<String> = redis::cmd("KEYS")
        .arg("zoho-gateway:*")
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut found_ours = false;
    for key in keys_found.iter().filter(|k| k.ends_with(":token")) {
        assert!(!key.contains(&refresh_token) && key.contains('{'), "{key}");
        let data: Option<String> = redis::cmd("HGET")
            .arg(key)
            .arg("data")
            .query_async(&mut redis)
            .await
            .unwrap();
        if let Some(data) = data {
            assert!(
                !data.contains(&tokens[0]),
                "the token is stored in plain text"
            );
            found_ours |= data.starts_with("v1.");
        }
    }
    assert!(
        found_ours,
        "an encrypted record exists among {keys_found:?}"
    );
}

/// The shared record is at `generation` and holds `token`.
async fn assert_holds(store: &dyn TokenStore, generation: u64, token: &str) {
    let snapshot = store.load().await.unwrap();
    assert_eq!(snapshot.generation, generation);
    let record = snapshot.record.expect("a shared token");
    assert_eq!(record.access_token.expose_secret(), token);
}

/// Two replicas' stores over the shared Redis, for one fresh record.
async fn two_replicas_of_one_record() -> (SimHandle, Arc<dyn TokenStore>, Arc<dyn TokenStore>) {
    let url = shared_redis_url();
    let (sim, refresh_token) = sim_with_unique_grant().await;
    let keys = EncryptionKeys::parse(KEY_1, None).unwrap();
    let a = store(&url, &refresh_token, &keys);
    let b = store(&url, &refresh_token, &keys);
    (sim, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_expired_cannot_overwrite_a_newer_token() {
    let (_sim, a, b) = two_replicas_of_one_record().await;
    assert!(
        a.try_lock("replica-a", Duration::from_millis(150))
            .await
            .unwrap()
    );
    assert!(
        !b.try_lock("replica-b", Duration::from_secs(5))
            .await
            .unwrap(),
        "the lock is exclusive"
    );
    tokio::time::sleep(Duration::from_millis(300)).await; // A stalls past its lease
    assert!(
        b.try_lock("replica-b", Duration::from_secs(5))
            .await
            .unwrap()
    );
    let record = |generation, token: &str| SharedRecord {
        generation,
        access_token: AccessToken::new(token),
        expires_at_ms: unix_now_ms() + 3_600_000,
        obtained_at_ms: unix_now_ms(),
    };
    assert!(
        b.publish(&record(1, "1000.from.b"), 0, "replica-b")
            .await
            .unwrap()
    );
    // A wakes up and tries to write what it minted: refused twice over (lock and generation).
    assert!(
        !a.publish(&record(1, "1000.from.a"), 0, "replica-a")
            .await
            .unwrap()
    );
    assert!(
        !a.renew_lock("replica-a", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert_holds(&*a, 1, "1000.from.b").await;
    // A 401 on generation 1 drops the token but keeps the generation.
    assert!(!a.invalidate(7).await.unwrap());
    assert!(a.invalidate(1).await.unwrap());
    let snapshot = b.load().await.unwrap();
    assert_eq!((snapshot.generation, snapshot.record), (1, None));
}

/// The lease-owner check on its own: the new holder has not published yet, so the generation
/// still matches what the stale holder expects, and only the owner check refuses its write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_holder_is_refused_by_the_owner_check_when_the_generation_still_matches() {
    let (_sim, a, b) = two_replicas_of_one_record().await;
    assert!(
        a.try_lock("replica-a", Duration::from_millis(100))
            .await
            .unwrap()
    );
    // Synchronise on the event itself: B holds the lock once A's lease has lapsed in Redis.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !b
        .try_lock("replica-b", Duration::from_secs(30))
        .await
        .unwrap()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A's 100 ms lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record = |token: &str| SharedRecord {
        generation: 1,
        access_token: AccessToken::new(token),
        expires_at_ms: unix_now_ms() + 3_600_000,
        obtained_at_ms: unix_now_ms(),
    };
    assert_eq!(
        a.load().await.unwrap().generation,
        0,
        "nothing published yet"
    );
    assert!(
        !a.publish(&record("1000.from.a"), 0, "replica-a")
            .await
            .unwrap(),
        "a holder whose lease lapsed must not publish, though the generation matches"
    );
    assert!(
        b.publish(&record("1000.from.b"), 0, "replica-b")
            .await
            .unwrap()
    );
    assert_holds(&*a, 1, "1000.from.b").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_budget_is_shared_by_every_replica() {
    let url = shared_redis_url();
    let (_sim, refresh_token) = sim_with_unique_grant().await;
    let keys = EncryptionKeys::parse(KEY_1, None).unwrap();
    let stores: Vec<_> = (0..3).map(|_| store(&url, &refresh_token, &keys)).collect();
    let now = unix_now_ms();
    let window = Duration::from_secs(600);
    let mut granted = 0;
    for i in 0..30 {
        if stores[i % 3]
            .acquire_budget(now + i as u64, 10, window)
            .await
            .unwrap()
            .is_none()
        {
            granted += 1;
        }
    }
    assert_eq!(granted, 10);
    let wait = stores[0]
        .acquire_budget(now + 100, 10, window)
        .await
        .unwrap()
        .expect("refused");
    assert!(
        wait > Duration::from_secs(590) && wait <= window,
        "{wait:?}"
    );
    assert!(
        stores[1]
            .acquire_budget(now + 600_001, 10, window)
            .await
            .unwrap()
            .is_none(),
        "the window rolls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_without_an_outage_and_a_wrong_key_degrades_instead_of_failing() {
    let url = shared_redis_url();
    let (sim, refresh_token) = sim_with_unique_grant().await;
    let old = EncryptionKeys::parse(KEY_1, None).unwrap();
    let rotated = EncryptionKeys::parse(KEY_2, Some(KEY_1)).unwrap();
    let wrong = EncryptionKeys::parse(KEY_2, None).unwrap();
    let first = replica(&sim, &refresh_token, store(&url, &refresh_token, &old));
    let token = first.token().await.unwrap();
    // A replica deployed with the new key (old one as previous) adopts the record.
    let second = replica(&sim, &refresh_token, store(&url, &refresh_token, &rotated));
    assert_eq!(
        second.token().await.unwrap().expose_secret(),
        token.expose_secret()
    );
    assert_eq!(sim.stats().tokens_minted, 1);
    // A replica that cannot read the record still serves, degraded, with a token of its own.
    let third = replica(&sim, &refresh_token, store(&url, &refresh_token, &wrong));
    third.token().await.expect("served while degraded");
    assert!(third.status().degraded);
    assert_eq!(sim.stats().tokens_minted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_degrades_then_rejoins() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let (sim, refresh_token) = sim_with_unique_grant().await;
    let keys = EncryptionKeys::parse(KEY_1, None).unwrap();
    let a = replica(&sim, &refresh_token, store(&url, &refresh_token, &keys));
    let b = replica(&sim, &refresh_token, store(&url, &refresh_token, &keys));
    a.token().await.unwrap();
    b.token().await.unwrap();
    assert_eq!(sim.stats().tokens_minted, 1);

    redis.stop();
    let refreshed = a
        .force_refresh()
        .await
        .expect("a refresh while Redis is down still works");
    assert!(a.status().degraded, "degraded mode reported");
    assert!(!refreshed.expose_secret().is_empty());
    assert_eq!(sim.stats().tokens_minted, 2);

    redis.restart();
    let rejoined = a
        .force_refresh()
        .await
        .expect("refresh after Redis returned");
    assert!(!a.status().degraded, "rejoined");
    assert_eq!(sim.stats().tokens_minted, 3);
    // B reconnects on its first call and publishes its forced refresh; a new replica starts
    // warm from it.
    let forced = b.force_refresh().await.unwrap();
    assert!(!b.status().degraded);
    assert_ne!(
        forced.expose_secret(),
        rejoined.expose_secret(),
        "a forced refresh mints a new one"
    );
    let c = replica(&sim, &refresh_token, store(&url, &refresh_token, &keys));
    assert_eq!(
        c.token().await.unwrap().expose_secret(),
        forced.expose_secret(),
        "warm start from Redis"
    );
    assert_eq!(sim.stats().tokens_minted, 4);
}
