//! Part 2 of the benchmark report: refresh coalescing.
//!
//! N callers (10, 1,000, 10,000) ask one `TokenManager` for a token at the same instant, in two
//! situations: at cold start (no token yet) and at expiry (the cached token has just become
//! unusable and no refresh has started). Real sockets to the emulator, real time, a 2-worker
//! tokio runtime as the gateway has on this machine. Reported per case: the calls that reached
//! the emulator's token endpoint (the target is 1) and the callers' wait (p50, p99, max), the
//! median over the repetitions.
//!
//! "At expiry" is produced with a 1-second token and a 500 ms expiry skew: the manager stops
//! handing the token out 0.5 s after it was minted and schedules its proactive refresh at the
//! earliest 1 s after (the manager's minimum retry delay), so callers released at 0.65 s find
//! an expired token and nothing in flight — the refresh they trigger is an `Expired` one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bench::{Options, median, ms, quantile};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use zoho_auth::{Credentials, RefreshReason, TokenManager, ZohoEndpoints};
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, SimConfig, SimHandle, ZohoSim,
};

const CALLERS: [usize; 3] = [10, 1_000, 10_000];

#[derive(Debug, Clone, Copy)]
enum Scenario {
    ColdStart,
    Expiry,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::ColdStart => "cold_start",
            Scenario::Expiry => "expiry",
        }
    }
}

/// One repetition of one case.
#[derive(Debug)]
struct Run {
    token_calls: u64,
    waits_ms: Vec<f64>,
    /// From the release of all callers to each one's token (includes waiting to be scheduled).
    served_ms: Vec<f64>,
    all_served_ms: f64,
    distinct_tokens: usize,
    reason: Option<RefreshReason>,
}

fn manager(sim: &SimHandle, scenario: Scenario) -> TokenManager {
    let endpoints = ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).expect("urls");
    let builder = TokenManager::builder(
        Credentials::new(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_REFRESH_TOKEN,
        ),
        endpoints,
    );
    match scenario {
        Scenario::ColdStart => builder.build(),
        Scenario::Expiry => builder
            .expiry_skew(Duration::from_millis(500))
            .refresh_margin(Duration::ZERO)
            .refresh_jitter(Duration::ZERO)
            .build(),
    }
}

async fn run_case(scenario: Scenario, callers: usize) -> Run {
    let mut config = SimConfig::default();
    if let Scenario::Expiry = scenario {
        config.accounts.token_lifetime = Duration::from_secs(1);
    }
    let sim = ZohoSim::start(config).await.expect("emulator starts");
    let manager = manager(&sim, scenario);
    let minted_at = match scenario {
        Scenario::ColdStart => None,
        Scenario::Expiry => {
            manager.token().await.expect("first token");
            Some(Instant::now())
        }
    };
    let calls_before = sim.token_calls();

    let (gate, gate_rx) = watch::channel(false);
    let ready = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let manager = manager.clone();
            let mut gate = gate_rx.clone();
            let ready = ready.clone();
            tokio::spawn(async move {
                ready.fetch_add(1, Ordering::Relaxed);
                let _ = gate.wait_for(|open| *open).await;
                let start = Instant::now();
                let token = manager.token().await.expect("token");
                (start.elapsed(), Instant::now(), token.generation())
            })
        })
        .collect();
    while ready.load(Ordering::Relaxed) < callers {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if let Some(minted_at) = minted_at {
        // Past the 0.5 s skew (token unusable), before the earliest proactive refresh at 1 s.
        tokio::time::sleep_until(minted_at + Duration::from_millis(650)).await;
        assert!(
            !manager.status().has_token,
            "the token should be unusable by now"
        );
    }
    let opened = Instant::now();
    gate.send_replace(true);
    let mut waits_ms = Vec::with_capacity(callers);
    let mut served_ms = Vec::with_capacity(callers);
    let mut generations = Vec::with_capacity(callers);
    for task in tasks {
        let (wait, done, generation) = task.await.expect("caller task");
        waits_ms.push(ms(wait));
        served_ms.push(ms(done - opened));
        generations.push(generation);
    }
    let all_served_ms = ms(opened.elapsed());
    generations.sort_unstable();
    generations.dedup();
    let status = manager.status();
    Run {
        token_calls: sim.token_calls() - calls_before,
        waits_ms,
        served_ms,
        all_served_ms,
        distinct_tokens: generations.len(),
        reason: status.last_refresh.map(|last| last.reason),
    }
}

async fn measure(options: &Options) -> Value {
    let repetitions = if options.quick { 2 } else { 5 };
    let mut cases = Vec::new();
    for scenario in [Scenario::ColdStart, Scenario::Expiry] {
        for callers in CALLERS {
            let mut runs = Vec::new();
            for _ in 0..repetitions {
                runs.push(run_case(scenario, callers).await);
            }
            let p50s: Vec<f64> = runs.iter().map(|r| quantile(&r.waits_ms, 0.5)).collect();
            let p99s: Vec<f64> = runs.iter().map(|r| quantile(&r.waits_ms, 0.99)).collect();
            let maxes: Vec<f64> = runs.iter().map(|r| quantile(&r.waits_ms, 1.0)).collect();
            let served: Vec<f64> = runs.iter().map(|r| r.all_served_ms).collect();
            let served_p50s: Vec<f64> = runs.iter().map(|r| quantile(&r.served_ms, 0.5)).collect();
            let served_p99s: Vec<f64> = runs.iter().map(|r| quantile(&r.served_ms, 0.99)).collect();
            let calls: Vec<u64> = runs.iter().map(|r| r.token_calls).collect();
            let max_calls = calls.iter().copied().max().unwrap_or(0);
            let case = json!({
                "scenario": scenario.label(),
                "callers": callers,
                "repetitions": repetitions,
                "token_calls": calls,
                "token_calls_max": max_calls,
                "distinct_tokens_max": runs.iter().map(|r| r.distinct_tokens).max(),
                "refresh_reason": runs.last().and_then(|r| r.reason).map(RefreshReason::label),
                "wait_p50_ms": median(&p50s),
                "wait_p99_ms": median(&p99s),
                "wait_max_ms": median(&maxes),
                "since_release_p50_ms": median(&served_p50s),
                "since_release_p99_ms": median(&served_p99s),
                "all_served_ms": median(&served),
                "target_met": max_calls == 1,
            });
            eprintln!(
                "coalescing {} x{callers}: token calls {calls:?}, wait p50 {:.3} ms p99 {:.3} ms",
                scenario.label(),
                median(&p50s),
                median(&p99s)
            );
            cases.push(case);
        }
    }
    json!({
        "runtime": "tokio multi-thread, 2 workers, emulator in-process over 127.0.0.1",
        "cases": cases,
    })
}

fn main() {
    let options = Options::from_args();
    let runtime = bench::runtime();
    let result = runtime.block_on(measure(&options));
    options.write(&result);
}
