//! Rate limits: a burst held to the limit, other keys unaffected.

use std::time::Instant;

use e2e::scan_response;

use crate::{READER_KEY, WRITER_KEY, code, http, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_held_to_the_limit_and_other_keys_are_unaffected() {
    const RATE: u64 = 5;
    const BURST: u64 = 10;
    let (sim, gateway) = start(&[
        ("GATEWAY_RATE_LIMIT_PER_SECOND", "5"),
        ("GATEWAY_RATE_LIMIT_BURST", "10"),
    ])
    .await;
    let client = http();
    let before = sim.stats();
    let url = format!("{}/api/zoho-desk/agents", gateway.api);
    let started = Instant::now();
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..200 {
        let request = client.get(&url).bearer_auth(READER_KEY).send();
        burst.spawn(async move { (i, scan_response("the burst", request.await.unwrap()).await) });
    }
    // Another client, during the burst, spends its own budget only.
    let mut other = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let request = client.get(&url).header("x-api-key", WRITER_KEY).send();
        other.spawn(async move { scan_response("another key", request.await.unwrap()).await });
    }
    let (mut allowed, mut limited) = (0u64, 0u64);
    while let Some(result) = burst.join_next().await {
        let (i, answer) = result.unwrap();
        match answer.status.as_u16() {
            200 => allowed += 1,
            429 => {
                limited += 1;
                let retry_after: u64 = answer.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry_after >= 1, "request {i}: Retry-After {retry_after}");
                assert_eq!(code(&answer.json()), "rate_limited", "request {i}");
            }
            other => panic!("request {i}: {other} {}", answer.body),
        }
    }
    let elapsed = started.elapsed();
    while let Some(result) = other.join_next().await {
        let answer = result.unwrap();
        assert_eq!(
            answer.status, 200,
            "the other key was limited: {}",
            answer.body
        );
    }
    // The burst, plus whatever refilled while the 200 requests were being answered.
    let refilled = (elapsed.as_secs_f64() * RATE as f64).ceil() as u64;
    println!(
        "burst of 200 in {elapsed:?}: {allowed} allowed, {limited} limited (bound {})",
        BURST + refilled
    );
    assert!(
        (BURST..=BURST + refilled).contains(&allowed),
        "{allowed} allowed in {elapsed:?}"
    );
    assert_eq!(allowed + limited, 200);
    assert_eq!(
        sim.stats().calls("GET /agents") - before.calls("GET /agents"),
        allowed + BURST,
        "limited requests never reached Zoho"
    );
}
