//! The fault-injection soak behind `cargo xtask soak --minutes N`.
//!
//! One emulator (in this process), one private `redis-server`, several real `zoho-gateway`
//! replicas sharing their token through it, and constant mixed load (reads, searches, ticket
//! creates and updates, through typed and pass-through routes) while a schedule of faults runs
//! across the whole length: Desk latency, Desk 429s (concurrency and daily credits), Accounts
//! 5xx and latency during a refresh, dropped connections, a Redis restart, a replica killed and
//! restarted, an "Access Denied" window, the refresh token revoked (a static fallback token is
//! configured) and a re-consent rolled out replica by replica.
//!
//! It then checks what the promise is about: every client-visible error is explained by the
//! fault active when it happened (one no retry could hide), every acknowledged create exists in
//! the emulator exactly once and every acknowledged update is there, Zoho's refresh limits held,
//! nothing hung, and nothing the gateways printed or answered holds a secret. Writes
//! `target/soak/report.md` and `report.json`; exits 1 when any check fails.

mod checks;
mod load;
mod report;
mod schedule;
mod world;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::report::{PhaseRecord, Report, ZohoCounts};
use crate::schedule::{Injection, SCHEDULE};
use crate::world::World;

/// API keys of the load (write role) and of the operator forcing refreshes (admin role).
const WRITE_KEY: &str = "soak-load-key-7c1e2b9a4d60f3";
const ADMIN_KEY: &str = "soak-admin-key-3f8a6c0e5b91d2";
/// Client tasks driving the load, each one request at a time with a pause between requests.
const WORKERS: usize = 6;
const THINK_TIME: Duration = Duration::from_millis(40);
/// How long after a fault window closes an error may still be blamed on it (a request that
/// started inside the window, its retries, and the gateway's backoff).
const GRACE: Duration = Duration::from_secs(8);
/// A request taking longer than this is a hang, whatever the schedule was doing.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Ample daily API credits for the run, so only the injected exhaustion runs them out.
const PLENTY_OF_CREDITS: u64 = 50_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("soak: {message}\nusage: soak [--minutes N] [--replicas N]");
            return ExitCode::from(2);
        }
    };
    let report = run(args).await;
    let markdown = report.markdown();
    println!("{markdown}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/soak");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("report.md"), &markdown))
        .and_then(|()| {
            std::fs::write(
                dir.join("report.json"),
                serde_json::to_string_pretty(&report.json()).expect("report as JSON"),
            )
        });
    if let Err(error) = written {
        eprintln!("soak: could not write {}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    eprintln!("soak: report written to {}", dir.display());
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("soak: FAILED:\n- {}", report.failures.join("\n- "));
        ExitCode::FAILURE
    }
}

struct Args {
    minutes: f64,
    replicas: usize,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            minutes: 2.0,
            replicas: 2,
        };
        let mut iter = std::env::args().skip(1);
        while let Some(flag) = iter.next() {
            let value = iter.next().ok_or(format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--minutes" => {
                    args.minutes = value
                        .parse()
                        .ok()
                        .filter(|m: &f64| (1.0..=1440.0).contains(m))
                        .ok_or(format!("--minutes {value}: a number from 1 to 1440"))?;
                }
                "--replicas" => {
                    args.replicas = value
                        .parse()
                        .ok()
                        .filter(|n| (2..=8).contains(n))
                        .ok_or(format!("--replicas {value}: 2 to 8"))?;
                }
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok(args)
    }
}

pub(crate) async fn run(args: Args) -> Report {
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    // Short enough that the run crosses several refresh points, long enough that Zoho's 10
    // refreshes per 10 minutes hold with the forced refreshes and the Redis restart on top.
    let token_lifetime = (total / 5).clamp(Duration::from_secs(60), Duration::from_secs(3600));
    let margin = token_lifetime / 4;
    let mut world = World::start(&args, total, token_lifetime, margin).await;
    let (load, update_logs) = world.prepare_load().await;
    let started = load.started;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = update_logs
        .into_iter()
        .enumerate()
        .map(|(worker, log)| tokio::spawn(load.clone().worker(worker, log, stop.clone())))
        .collect();

    let mut phases = Vec::new();
    for (injection, from, to) in SCHEDULE {
        sample_until(&world, started + total.mul_f64(from), None).await;
        let before = ZohoCounts::read(&world.sim);
        let start = started.elapsed().as_secs_f64();
        eprintln!(
            "soak: {start:7.1}s {} begins: {}",
            injection.name(),
            injection.describe()
        );
        let forced_refresh = world.begin(injection).await;
        let mut states_seen = BTreeMap::new();
        let until = started + total.mul_f64(to);
        let window = Some((injection, &mut states_seen));
        sample_until(&world, until, window).await;
        world.end(injection).await;
        phases.push(PhaseRecord {
            injection,
            start,
            end: started.elapsed().as_secs_f64(),
            zoho: ZohoCounts::read(&world.sim).since(before),
            forced_refresh,
            states_seen,
        });
    }
    sample_until(&world, started + total, None).await;
    stop.store(true, Ordering::Relaxed);
    let mut update_logs = Vec::new();
    for worker in workers {
        update_logs.push(worker.await.expect("worker"));
    }
    world.sim.clear_faults();
    eprintln!(
        "soak: {:7.1}s load stopped; checking",
        started.elapsed().as_secs_f64()
    );

    let recorder = &load.recorder;
    let mut report = Report {
        minutes: args.minutes,
        replicas: args.replicas,
        token_lifetime,
        margin,
        outcomes: recorder.outcomes.lock().unwrap().clone(),
        phases,
        killed_replica: world.killed_replica,
        secret_findings: recorder.secrets_in_responses.lock().unwrap().clone(),
        ..Report::default()
    };
    report.blame();
    report.check_creates(&world.sim, &recorder.creates.lock().unwrap());
    report.check_updates(&world, &update_logs).await;
    report.check_zoho_limits(&world);
    world.stop_replicas().await;
    report.secret_findings.append(&mut world.secret_findings);
    report.judge();
    report
}

/// Until `until`, samples the replicas' token states inside a window, ticking the window's
/// injection every 750 ms. (Token-endpoint attempts are timed by the emulator itself.)
pub(crate) async fn sample_until(
    world: &World,
    until: Instant,
    mut window: Option<(Injection, &mut BTreeMap<String, u64>)>,
) {
    const TICK: Duration = Duration::from_millis(750);
    while Instant::now() < until {
        if let Some((injection, states_seen)) = window.as_mut() {
            world.tick(*injection);
            for state in world.token_states().await {
                *states_seen.entry(state).or_insert(0) += 1;
            }
        }
        tokio::time::sleep(TICK.min(until.saturating_duration_since(Instant::now()))).await;
    }
}
