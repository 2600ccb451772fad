//! Where the time goes: `perf record` profiles under wrk load (`--perf <dir>`), and callgrind's
//! instruction counts per request (`--callgrind <dir>`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bench::Options;
use serde_json::{Value, json};
use test_support::Launch;
use tokio::process::Command;

use crate::find_tool;
use crate::measurement::{Stage, start_within};
use crate::wrk::{Target, wrk};

/// `perf record` (cpu-clock samples, call graphs) of `target`'s processes during a wrk run;
/// writes `<dir>/<route>-<name>.data` and a flat report `<dir>/<route>-<name>.txt`.
pub async fn profile(
    wrk_bin: &Path,
    target: &Target,
    seconds: u32,
    dir: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let name = format!("{}-{}", target.route, target.name);
    let data = dir.join(format!("{name}.data"));
    let pids: Vec<String> = target.pids.iter().map(u32::to_string).collect();
    let mut perf = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "1999", "-g", "-p"])
        .arg(pids.join(","))
        .arg("-o")
        .arg(&data)
        .args(["--", "sleep", &seconds.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    let mut peak = 0;
    let run = wrk(wrk_bin, target, seconds, None, &mut peak).await?;
    let _ = perf.wait().await;
    let report = Command::new("perf")
        .args(["report", "--stdio", "--no-children", "-g", "none"])
        .args(["--sort", "dso,symbol", "--percent-limit", "0.5", "-i"])
        .arg(&data)
        .output()
        .await
        .map_err(|e| format!("cannot run perf report: {e}"))?;
    let text = format!(
        "# {name}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms during the profile\n{}",
        run.requests_per_second,
        run.p50_ms,
        run.p99_ms,
        String::from_utf8_lossy(&report.stdout)
    );
    std::fs::write(dir.join(format!("{name}.txt")), text).map_err(|e| e.to_string())?;
    eprintln!("proxy: profile of {name} in {}", dir.display());
    Ok(())
}

/// `--callgrind <dir>`: instructions per request, the repeatable measure of CPU cost on a noisy
/// machine. The gateway (same configuration as the wrk runs: default logging, then
/// `RUST_LOG=warn`) runs under `valgrind --tool=callgrind`; per route, after a warm-up, the
/// counters are zeroed, a fixed number of requests is sent (4 connections) and the profile
/// dumped. Writes `<dir>/<route>-<logging>.out` (open with
/// `callgrind_annotate --inclusive=yes`) and returns instructions per request.
pub async fn callgrind(options: &Options, dir_out: &str) -> Result<Value, String> {
    let binary = options
        .get("gateway")
        .ok_or("--gateway <path of the release zoho-gateway> is required")?;
    let binary = std::fs::canonicalize(binary).map_err(|e| format!("{binary}: {e}"))?;
    let nginx_bin = find_tool("nginx").ok_or("nginx is missing")?;
    let requests: u64 = options
        .get("requests")
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let out = std::fs::canonicalize(".")
        .map_err(|e| e.to_string())?
        .join(dir_out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("zoho-bench-callgrind-{}", std::process::id()));
    let stage = Stage::new(&nginx_bin, dir).await?;
    let http = reqwest::Client::new();
    let mut results = serde_json::Map::new();
    for (logging, rust_log) in [("default", None), ("warn", Some("warn"))] {
        let mut env = stage.gateway_env();
        if let Some(level) = rust_log {
            env = env.with("RUST_LOG", level);
        }
        let profile = out.join(format!("profile-{logging}.%p"));
        let wrapper: Vec<String> = vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", profile.display()),
        ];
        let launch = Launch::serve(&env)
            .binary(&binary)
            .wrapper(&wrapper)
            .log_file(&stage.dir.join(format!("callgrind-{logging}.log")));
        let (gateway, _) = start_within(launch, Duration::from_secs(300)).await;
        let pid = gateway.pid().to_string();
        let control = |args: &[&str]| {
            std::process::Command::new("callgrind_control")
                .args(args)
                .arg(&pid)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("callgrind_control: {e}"))
        };
        for (route, path) in [("passthrough", "/v1/bench"), ("typed", "/departments")] {
            let url = format!("{}/api/zoho-desk{path}", gateway.api);
            // Warm-up: connections, pools, lazily built state.
            send_fixed(&http, &url, 200).await?;
            control(&["--zero"])?;
            send_fixed(&http, &url, requests).await?;
            control(&[&format!("--dump={route}-{logging}")])?;
            // The dump is the newest `profile-<logging>.<pid>.<n>` file.
            let dump = std::fs::read_dir(&out)
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("profile-{logging}.")))
                })
                .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
                .ok_or("callgrind wrote no dump")?;
            let text = std::fs::read_to_string(&dump).map_err(|e| e.to_string())?;
            let total: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("summary:").or(l.strip_prefix("totals:")))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            let name = format!("{route}-{logging}");
            std::fs::rename(&dump, out.join(format!("{name}.out"))).map_err(|e| e.to_string())?;
            eprintln!(
                "proxy callgrind {name}: {:.0} instructions per request",
                total as f64 / requests as f64
            );
            results.insert(
                name,
                json!({
                    "instructions": total,
                    "requests": requests,
                    "instructions_per_request": total as f64 / requests as f64,
                }),
            );
        }
        gateway.stop().await;
    }
    let dir = stage.dir.clone();
    stage.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Value::Object(results))
}

/// `count` GETs of `url` over 4 connections, each answered 200.
async fn send_fixed(http: &reqwest::Client, url: &str, count: u64) -> Result<(), String> {
    const CONNECTIONS: u64 = 4;
    let mut tasks = Vec::new();
    for worker in 0..CONNECTIONS {
        let (http, url) = (http.clone(), url.to_owned());
        let share = count / CONNECTIONS + u64::from(worker < count % CONNECTIONS);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                response.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("{url} answered {status}"));
                }
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}
