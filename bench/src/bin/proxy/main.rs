//! Parts 3 and 5 of the benchmark report: proxy overhead against nginx, and the gateway's
//! footprint.
//!
//! A fast upstream — nginx, one worker, serving two static JSON bodies taken from the emulator
//! (`/api/v1/bench`: a page of 10 tickets; `/api/v1/departments`: the department list) — is
//! measured with `wrk` at fixed concurrency three ways, alternating in every round:
//!
//! - `direct`: the upstream itself;
//! - `nginx`: an nginx reverse proxy (`proxy_pass` with upstream keepalive, adding the
//!   `Authorization: Zoho-oauthtoken …` and `orgId` headers, access log on), with as many workers
//!   as the machine has cores, like the gateway's tokio runtime;
//! - `gateway`: the release `zoho-gateway serve` pass-through route `/api/zoho-desk/v1/bench`
//!   (`GATEWAY_PASSTHROUGH_ALLOW=GET:/bench`), the token from an emulator refreshed as in
//!   production, default logging (one INFO line per request, to a file).
//!
//! - `gateway_quiet`: the same with `RUST_LOG=warn`, to show what the request log costs;
//!
//! and the same for the typed route (`/api/zoho-desk/departments`: JSON decoded into typed
//! models and encoded again) against nginx proxying the same path. `wrk` runs with 16
//! connections on 2 threads: below the gateway's Desk concurrency cap (`ZOHO_DESK_MAX_CONCURRENCY`,
//! at most 25), so the gateway never queues on its own limit.
//!
//! Footprint: the gateway's resident memory (`VmRSS` from /proc) idle and right after the load,
//! its peak (`VmHWM`), the time from spawn to `/readyz` answering 200 (median of several starts,
//! each including the first token refresh against the emulator), and the release binary's size.
//! CPU time per request (from /proc/<pid>/stat) of the gateway and of the nginx proxy workers is
//! recorded too: on a shared 2-core machine where `wrk` and the upstream take their share, it
//! is the steadier measure of cost.
//!
//! `--perf <dir>` adds CPU profiles (`perf record -e cpu-clock -g`) of the nginx proxy and the
//! gateway under the same load, with flat reports by symbol, for finding where the time goes.

mod measurement;
mod nginx;
mod procfs;
mod profile;
mod wrk;

use std::path::PathBuf;

use bench::Options;

pub(crate) fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn main() {
    let options = Options::from_args();
    let runtime = bench::runtime();
    let result = match options.get("callgrind") {
        Some(dir) => runtime.block_on(profile::callgrind(&options, dir)),
        None => runtime.block_on(measurement::measure(&options)),
    };
    match result {
        Ok(result) => options.write(&result),
        Err(message) => {
            eprintln!("proxy: {message}");
            std::process::exit(1);
        }
    }
}
