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
        let response = client
            .get(format!("{}/api/zoho-desk/departments", replica.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(sim.stats().tokens_minted, 1, "three replicas, one refresh");
    // A rolling restart: each replica replaced by a new process, which starts warm.
    for replica in &mut replicas {
        replica.terminate();
        replica.wait().await;
        *replica = Gateway::start(&env).await;
        let response = client
            .get(format!("{}/api/zoho-desk/agents", replica.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(sim.stats().tokens_minted, 1, "restarts mint nothing");
    let status: serde_json::Value = client
        .get(format!("{}/api/zoho-desk/token", replicas[0].api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
