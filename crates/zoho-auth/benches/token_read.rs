//! The hot path: a caller getting the cached token from a [`TokenManager`], against the two plain
//! alternatives a service would otherwise write, measured in the same run on the same machine:
//!
//! - `tokio_rwlock_string`: a `tokio::sync::RwLock<String>`, read and cloned;
//! - `std_mutex_arc_str`: a `std::sync::Mutex<Arc<str>>`, locked and the `Arc` cloned.
//!
//! Each runs with 1 thread and with 2 threads reading at once (the time reported is one read as
//! seen by one thread while the other reads too). Every read happens inside a tokio runtime's
//! `block_on`, as in the gateway, and the value read is dropped after use, as a caller would.
//! The manager holds a real token obtained from the emulator over a real socket.
//!
//! `cargo xtask bench` runs this and reads the medians from `target/criterion`. No timing is
//! asserted anywhere: the figures go into the report, side by side.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use zoho_auth::{Credentials, TokenManager, ZohoEndpoints};
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, SimConfig, ZohoSim,
};

/// Thread counts measured.
const THREADS: [usize; 2] = [1, 2];

/// Runs `read` `iters` times on each of `threads` threads started together; returns the longest
/// thread's time (so the figure is per read, per thread, under contention).
fn on_threads<F>(threads: usize, iters: u64, read: &F) -> Duration
where
    F: Fn(u64) -> Duration + Sync,
{
    if threads == 1 {
        return read(iters);
    }
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    read(iters)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader thread"))
            .max()
            .unwrap_or_default()
    })
}

fn token_read(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // The emulator and the manager's driver task live on the runtime for the whole benchmark.
    let (_sim, manager) = runtime.block_on(async {
        let sim = ZohoSim::start(SimConfig::default())
            .await
            .expect("emulator starts");
        let endpoints =
            ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).expect("emulator urls");
        let manager = TokenManager::builder(
            Credentials::new(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                DEFAULT_REFRESH_TOKEN,
            ),
            endpoints,
        )
        .build();
        manager.token().await.expect("first token");
        (sim, manager)
    });
    let value = runtime
        .block_on(manager.token())
        .expect("cached token")
        .expose_secret()
        .to_owned();
    let rwlock = Arc::new(tokio::sync::RwLock::new(value.clone()));
    let mutex: Arc<Mutex<Arc<str>>> = Arc::new(Mutex::new(Arc::from(value.as_str())));

    let mut group = c.benchmark_group("token_read");
    let (manager, rwlock, mutex) = (&manager, &rwlock, &mutex);
    for threads in THREADS {
        reads(
            &mut group,
            "manager",
            threads,
            &runtime,
            move || async move { manager.token().await.expect("cached token") },
        );
        reads(
            &mut group,
            "tokio_rwlock_string",
            threads,
            &runtime,
            move || async move { rwlock.read().await.clone() },
        );
        reads(
            &mut group,
            "std_mutex_arc_str",
            threads,
            &runtime,
            move || async move { mutex.lock().expect("not poisoned").clone() },
        );
    }
    group.finish();
}

/// Measures one contender: `read_once` awaited `iters` times in a row inside the runtime (the
/// value passed through `black_box`, then dropped), on `threads` threads at once. All three
/// contenders go through here, so they are timed the same way.
fn reads<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    threads: usize,
    runtime: &Runtime,
    read_once: F,
) where
    F: Fn() -> Fut + Sync,
    Fut: Future,
{
    group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &n| {
        let read = |iters: u64| {
            block_on(runtime, async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(read_once().await);
                }
                start.elapsed()
            })
        };
        b.iter_custom(|iters| on_threads(n, iters, &read));
    });
}

/// `Runtime::block_on`, callable from several plain threads at once.
fn block_on<F: Future>(runtime: &Runtime, future: F) -> F::Output {
    runtime.block_on(future)
}

criterion_group!(benches, token_read);
criterion_main!(benches);
