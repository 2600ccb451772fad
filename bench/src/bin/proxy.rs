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

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bench::{Options, free_port, median};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use zoho_sim::{
    AccountsConfig, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, SimConfig,
    SimHandle, ZohoSim,
};

const WRK_THREADS: u32 = 2;
const WRK_CONNECTIONS: u32 = 16;

/// One load target.
#[derive(Debug, Clone)]
struct Target {
    name: &'static str,
    route: &'static str,
    url: String,
    /// The process whose CPU time is charged to this target (besides the upstream).
    pids: Vec<u32>,
}

/// What one `wrk` run reported.
#[derive(Debug, Clone, Default)]
struct WrkRun {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    errors: u64,
    cpu_ms_per_1k: Option<f64>,
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Seconds with a unit as wrk prints them (`123.45us`, `1.23ms`, `1.02s`, `2.00m`) → ms.
fn parse_wrk_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(value * factor)
}

/// Parses `wrk --latency` output.
fn parse_wrk(output: &str) -> Result<WrkRun, String> {
    let mut run = WrkRun::default();
    let mut seen = (false, false, false);
    for line in output.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("50%") {
            run.p50_ms = parse_wrk_duration(rest).ok_or("bad 50% line")?;
            seen.0 = true;
        } else if let Some(rest) = line.strip_prefix("99%") {
            run.p99_ms = parse_wrk_duration(rest).ok_or("bad 99% line")?;
            seen.1 = true;
        } else if let Some(rest) = line.strip_prefix("Requests/sec:") {
            run.requests_per_second = rest.trim().parse().map_err(|_| "bad Requests/sec")?;
            seen.2 = true;
        } else if line.contains(" requests in ") {
            run.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.errors += rest.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // connect 0, read 0, write 0, timeout 0
            run.errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    if seen == (true, true, true) {
        Ok(run)
    } else {
        Err(format!("could not read wrk's output:\n{output}"))
    }
}

/// utime + stime of `pid`, in milliseconds (clock ticks assumed 100 Hz, Linux's USER_HZ).
fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}

fn cpu_ms_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| cpu_ms(*pid)).sum()
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Child processes of `pid` (nginx's workers).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_for_port(port: u16) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// A value as a double-quoted nginx string (tokens and org ids never need escaping).
fn nginx_quote(value: &str) -> String {
    assert!(
        !value.contains(['"', '\\', '$']),
        "unexpected character in an nginx header value"
    );
    format!("\"{value}\"")
}

fn nginx_common(dir: &Path, name: &str, workers: &str) -> String {
    let tmp = dir.join(format!("{name}-tmp"));
    std::fs::create_dir_all(&tmp).expect("nginx temp dir");
    let tmp = tmp.display();
    format!(
        "daemon off;\nmaster_process on;\nworker_processes {workers};\nerror_log stderr warn;\n\
         pid {dir}/{name}.pid;\nevents {{ worker_connections 4096; }}\n",
        dir = dir.display(),
    ) + &format!(
        "http {{\n  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n  \
         fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n  \
         keepalive_requests 1000000;\n"
    )
}

fn upstream_conf(dir: &Path, port: u16) -> String {
    nginx_common(dir, "upstream", "1")
        + &format!(
            "  access_log off;\n  open_file_cache max=16 inactive=300s;\n  server {{\n    \
             listen 127.0.0.1:{port};\n    root {www};\n    location / {{ default_type application/json; }}\n  }}\n}}\n",
            www = dir.join("www").display()
        )
}

fn proxy_conf(dir: &Path, port: u16, upstream: u16, token: &str, org_id: &str) -> String {
    let headers = format!(
        "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      \
         proxy_set_header Authorization {auth};\n      proxy_set_header orgId {org};\n",
        auth = nginx_quote(&format!("Zoho-oauthtoken {token}")),
        org = nginx_quote(org_id),
    );
    nginx_common(dir, "proxy", "auto")
        + &format!(
            "  access_log {log};\n  upstream desk {{ server 127.0.0.1:{upstream}; keepalive 32; keepalive_requests 1000000; }}\n  \
             server {{\n    listen 127.0.0.1:{port};\n    \
             location /api/zoho-desk/v1/ {{\n      proxy_pass http://desk/api/v1/;\n{headers}    }}\n    \
             location = /api/zoho-desk/departments {{\n      proxy_pass http://desk/api/v1/departments;\n{headers}    }}\n  }}\n}}\n",
            log = dir.join("proxy-access.log").display(),
        )
}

/// Stops an nginx master with SIGTERM when dropped (also on a panic), so its workers exit with
/// it; a plain kill of the master would leave them running.
struct NginxGuard(Option<u32>);

impl Drop for NginxGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

async fn spawn_nginx(nginx: &Path, dir: &Path, name: &str, conf: String) -> Child {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).expect("write nginx config");
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("nginx log");
    Command::new(nginx)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx")
}

/// Emulator bodies for the upstream: a page of tickets and the department list.
async fn fetch_bodies(sim: &SimHandle) -> (String, Vec<u8>, Vec<u8>) {
    let http = reqwest::Client::new();
    let token = sim
        .mint_access_token(DEFAULT_REFRESH_TOKEN)
        .expect("access token");
    let get = |path: &str| {
        http.get(format!("{}{path}", sim.desk_url()))
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .header("orgId", sim.desk_org_id())
            .send()
    };
    let tickets = get("/tickets?limit=10")
        .await
        .expect("tickets")
        .bytes()
        .await
        .expect("body");
    let departments = get("/departments")
        .await
        .expect("departments")
        .bytes()
        .await
        .expect("body");
    (token, tickets.to_vec(), departments.to_vec())
}

struct Gateway {
    child: Child,
    pid: u32,
}

async fn start_gateway(
    binary: &Path,
    env: &[(String, String)],
    dir: &Path,
    log: &str,
) -> (Gateway, Duration) {
    start_wrapped(&[], binary, env, dir, log, Duration::from_secs(30)).await
}

/// [`start_gateway`] under a wrapper command (`valgrind …`), waiting up to `patience` for it.
async fn start_wrapped(
    wrapper: &[String],
    binary: &Path,
    env: &[(String, String)],
    dir: &Path,
    log: &str,
    patience: Duration,
) -> (Gateway, Duration) {
    let admin_port = free_port();
    let log = std::fs::File::create(dir.join(log)).expect("gateway log");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let admin = format!("http://127.0.0.1:{admin_port}");
    let started = Instant::now();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    let child = command
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("GATEWAY_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start zoho-gateway");
    loop {
        let ready = http
            .get(format!("{admin}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            started.elapsed() < patience,
            "zoho-gateway did not become ready; see {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let pid = child.id().expect("running");
    (Gateway { child, pid }, elapsed)
}

async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// Runs wrk against `target` for `seconds`, sampling the gateway's RSS meanwhile.
async fn wrk(
    wrk: &Path,
    target: &Target,
    seconds: u32,
    rss_of: Option<u32>,
    peak_rss_kb: &mut u64,
) -> Result<WrkRun, String> {
    let cpu_before = cpu_ms_of(&target.pids);
    let mut child = Command::new(wrk)
        .args([
            "-t",
            &WRK_THREADS.to_string(),
            "-c",
            &WRK_CONNECTIONS.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            &target.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text).await;
        text
    });
    loop {
        if let Some(pid) = rss_of
            && let Some(kb) = status_kb(pid, "VmRSS")
        {
            *peak_rss_kb = (*peak_rss_kb).max(kb);
        }
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| e.to_string())?;
                if !status.success() {
                    return Err(format!("wrk failed ({status})"));
                }
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let output = reader.await.map_err(|e| e.to_string())?;
    let mut run = parse_wrk(&output)?;
    if let (Some(before), Some(after)) = (cpu_before, cpu_ms_of(&target.pids))
        && run.requests > 0
    {
        run.cpu_ms_per_1k = Some((after - before) / run.requests as f64 * 1000.0);
    }
    Ok(run)
}

/// `perf record` (cpu-clock samples, call graphs) of `target`'s processes during a wrk run;
/// writes `<dir>/<route>-<name>.data` and a flat report `<dir>/<route>-<name>.txt`.
async fn profile(wrk_bin: &Path, target: &Target, seconds: u32, dir: &Path) -> Result<(), String> {
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

fn summarize(runs: &[WrkRun]) -> Value {
    let rps: Vec<f64> = runs.iter().map(|r| r.requests_per_second).collect();
    let p50: Vec<f64> = runs.iter().map(|r| r.p50_ms).collect();
    let p99: Vec<f64> = runs.iter().map(|r| r.p99_ms).collect();
    let cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_ms_per_1k).collect();
    json!({
        "requests_per_second": median(&rps),
        "p50_ms": median(&p50),
        "p99_ms": median(&p99),
        "cpu_ms_per_1k_requests": if cpu.is_empty() { Value::Null } else { json!(median(&cpu)) },
        "errors": runs.iter().map(|r| r.errors).sum::<u64>(),
        "runs": runs.iter().map(|r| json!({
            "requests_per_second": r.requests_per_second,
            "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms,
            "requests": r.requests,
            "errors": r.errors,
        })).collect::<Vec<_>>(),
    })
}

async fn measure(options: &Options) -> Result<Value, String> {
    let binary = options
        .get("gateway")
        .ok_or("--gateway <path of the release zoho-gateway> is required")?;
    // Absolute: the gateway runs in its own working directory.
    let binary = std::fs::canonicalize(binary).map_err(|e| format!("{binary}: {e}"))?;
    let wrk_bin = find_tool("wrk").ok_or(
        "wrk is missing: `apt-get install -y --no-install-recommends wrk` (cargo xtask bench does it as root)",
    )?;
    let nginx_bin = find_tool("nginx").ok_or(
        "nginx is missing: `apt-get install -y --no-install-recommends nginx` (cargo xtask bench does it as root)",
    )?;
    let (rounds, seconds, starts) = if options.quick { (2, 2, 3) } else { (5, 5, 7) };
    let dir = PathBuf::from(
        options
            .get("workdir")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                std::env::temp_dir()
                    .join(format!("zoho-bench-proxy-{}", std::process::id()))
                    .display()
                    .to_string()
            }),
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www/api/v1")).map_err(|e| e.to_string())?;

    // The emulator mints the gateway's tokens; every start of the gateway refreshes once, so the
    // refresh throttle is raised for the benchmark (it is not what is measured here).
    let sim = ZohoSim::start(SimConfig {
        accounts: AccountsConfig {
            refresh_limit: 1000,
            ..AccountsConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let (token, tickets, departments) = fetch_bodies(&sim).await;
    std::fs::write(dir.join("www/api/v1/bench"), &tickets).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("www/api/v1/departments"), &departments).map_err(|e| e.to_string())?;

    let upstream_port = free_port();
    let proxy_port = free_port();
    let api_port = free_port();
    let upstream = spawn_nginx(
        &nginx_bin,
        &dir,
        "upstream",
        upstream_conf(&dir, upstream_port),
    )
    .await;
    let proxy = spawn_nginx(
        &nginx_bin,
        &dir,
        "proxy",
        proxy_conf(&dir, proxy_port, upstream_port, &token, &sim.desk_org_id()),
    )
    .await;
    wait_for_port(upstream_port).await;
    wait_for_port(proxy_port).await;
    let proxy_pid = proxy.id().ok_or("nginx proxy exited")?;
    let upstream_pid = upstream.id().ok_or("nginx upstream exited")?;
    let _guards = (NginxGuard(Some(proxy_pid)), NginxGuard(Some(upstream_pid)));

    let env: Vec<(String, String)> = [
        ("ZOHO_DESK_CLIENT_ID", DEFAULT_CLIENT_ID.to_owned()),
        ("ZOHO_DESK_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_owned()),
        ("ZOHO_DESK_REFRESH_TOKEN", DEFAULT_REFRESH_TOKEN.to_owned()),
        ("ZOHO_DESK_ORG_ID", sim.desk_org_id()),
        ("ZOHO_ACCOUNTS_URL", sim.accounts_url()),
        (
            "ZOHO_DESK_API_URL",
            format!("http://127.0.0.1:{upstream_port}/api/v1"),
        ),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{api_port}")),
        ("GATEWAY_PASSTHROUGH_ALLOW", "GET:/bench".to_owned()),
        ("GATEWAY_RATE_LIMIT_PER_SECOND", "100000".to_owned()),
        ("GATEWAY_RATE_LIMIT_BURST", "100000".to_owned()),
        ("ZOHO_DESK_MAX_CONCURRENCY", "25".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    // Start-up time: spawn → /readyz 200, several times.
    let mut startups = Vec::new();
    for i in 0..starts {
        let (gateway, elapsed) =
            start_gateway(&binary, &env, &dir, &format!("start-{i}.log")).await;
        startups.push(elapsed.as_secs_f64() * 1000.0);
        stop(gateway.child).await;
    }

    // The same gateway with logging at WARN (no per-request span or log line): how much of
    // its cost is the request log.
    let quiet_port = free_port();
    let mut quiet_env = env.clone();
    quiet_env.retain(|(k, _)| k != "GATEWAY_LISTEN");
    quiet_env.push(("GATEWAY_LISTEN".into(), format!("127.0.0.1:{quiet_port}")));
    quiet_env.push(("RUST_LOG".into(), "warn".into()));
    let (quiet, _) = start_gateway(&binary, &quiet_env, &dir, "gateway-quiet.log").await;

    let (gateway, _) = start_gateway(&binary, &env, &dir, "gateway.log").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss_kb = status_kb(gateway.pid, "VmRSS").unwrap_or(0);

    // Every route answers, with the same body where it is passed through.
    let http = reqwest::Client::new();
    let direct = format!("http://127.0.0.1:{upstream_port}/api/v1");
    let nginx = format!("http://127.0.0.1:{proxy_port}/api/zoho-desk");
    let api = format!("http://127.0.0.1:{api_port}/api/zoho-desk");
    let quiet_api = format!("http://127.0.0.1:{quiet_port}/api/zoho-desk");
    for (url, expected) in [
        (format!("{direct}/bench"), Some(&tickets)),
        (format!("{nginx}/v1/bench"), Some(&tickets)),
        (format!("{api}/v1/bench"), Some(&tickets)),
        (format!("{direct}/departments"), Some(&departments)),
        (format!("{nginx}/departments"), Some(&departments)),
        (format!("{api}/departments"), None),
    ] {
        let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() || expected.is_some_and(|e| e.as_slice() != body.as_ref()) {
            return Err(format!(
                "{url} answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
    }

    let nginx_workers = children(proxy_pid);
    let targets = [
        Target {
            name: "direct",
            route: "passthrough",
            url: format!("{direct}/bench"),
            pids: Vec::new(),
        },
        Target {
            name: "nginx",
            route: "passthrough",
            url: format!("{nginx}/v1/bench"),
            pids: nginx_workers.clone(),
        },
        Target {
            name: "gateway",
            route: "passthrough",
            url: format!("{api}/v1/bench"),
            pids: vec![gateway.pid],
        },
        Target {
            name: "gateway_quiet",
            route: "passthrough",
            url: format!("{quiet_api}/v1/bench"),
            pids: vec![quiet.pid],
        },
        Target {
            name: "direct",
            route: "typed",
            url: format!("{direct}/departments"),
            pids: Vec::new(),
        },
        Target {
            name: "nginx",
            route: "typed",
            url: format!("{nginx}/departments"),
            pids: nginx_workers.clone(),
        },
        Target {
            name: "gateway",
            route: "typed",
            url: format!("{api}/departments"),
            pids: vec![gateway.pid],
        },
        Target {
            name: "gateway_quiet",
            route: "typed",
            url: format!("{quiet_api}/departments"),
            pids: vec![quiet.pid],
        },
    ];

    let mut peak_rss_kb = idle_rss_kb;
    // Warm-up: connections, pools, caches.
    for target in &targets {
        wrk(&wrk_bin, target, 1, None, &mut peak_rss_kb).await?;
    }
    let mut results: Vec<Vec<WrkRun>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for (index, target) in targets.iter().enumerate() {
            let rss_of = (target.name == "gateway").then_some(gateway.pid);
            let run = wrk(&wrk_bin, target, seconds, rss_of, &mut peak_rss_kb).await?;
            eprintln!(
                "proxy round {} {} {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
                round + 1,
                target.route,
                target.name,
                run.requests_per_second,
                run.p50_ms,
                run.p99_ms
            );
            results[index].push(run);
        }
    }
    let after_load_rss_kb = status_kb(gateway.pid, "VmRSS").unwrap_or(0);
    if let Some(perf_dir) = options.get("perf") {
        // Where the time goes: a CPU profile of each proxy under the same load.
        for index in [1, 2, 6] {
            profile(
                &wrk_bin,
                &targets[index],
                seconds.max(5),
                Path::new(perf_dir),
            )
            .await?;
        }
    }
    let hwm_kb = status_kb(gateway.pid, "VmHWM").unwrap_or(0);

    let mut by_route = serde_json::Map::new();
    for route in ["passthrough", "typed"] {
        let mut entry = serde_json::Map::new();
        for (index, target) in targets.iter().enumerate() {
            if target.route == route {
                entry.insert(target.name.to_owned(), summarize(&results[index]));
            }
        }
        let get = |name: &str, field: &str| entry[name][field].as_f64().unwrap_or(0.0);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let throughput = ratio(
            get("gateway", "requests_per_second"),
            get("nginx", "requests_per_second"),
        );
        let p99 = ratio(get("gateway", "p99_ms"), get("nginx", "p99_ms"));
        let p50 = ratio(get("gateway", "p50_ms"), get("nginx", "p50_ms"));
        let cpu = ratio(
            get("gateway", "cpu_ms_per_1k_requests"),
            get("nginx", "cpu_ms_per_1k_requests"),
        );
        let quiet_throughput = ratio(
            get("gateway_quiet", "requests_per_second"),
            get("nginx", "requests_per_second"),
        );
        let quiet_p99 = ratio(get("gateway_quiet", "p99_ms"), get("nginx", "p99_ms"));
        let quiet_cpu = ratio(
            get("gateway_quiet", "cpu_ms_per_1k_requests"),
            get("nginx", "cpu_ms_per_1k_requests"),
        );
        entry.insert(
            "ratios".into(),
            json!({
                "gateway_over_nginx_throughput": throughput,
                "gateway_over_nginx_p50": p50,
                "gateway_over_nginx_p99": p99,
                "gateway_over_nginx_cpu_per_request": cpu,
                "gateway_quiet_over_nginx_throughput": quiet_throughput,
                "gateway_quiet_over_nginx_p99": quiet_p99,
                "gateway_quiet_over_nginx_cpu_per_request": quiet_cpu,
                "nginx_over_direct_throughput": ratio(get("nginx", "requests_per_second"), get("direct", "requests_per_second")),
                "gateway_over_direct_throughput": ratio(get("gateway", "requests_per_second"), get("direct", "requests_per_second")),
            }),
        );
        entry.insert(
            "targets_met".into(),
            json!({
                "throughput_at_least_nginx": throughput >= 1.0,
                "p99_at_most_1_2x_nginx": p99 > 0.0 && p99 <= 1.2,
            }),
        );
        by_route.insert(route.to_owned(), Value::Object(entry));
    }

    stop(gateway.child).await;
    stop(quiet.child).await;
    stop(proxy).await;
    stop(upstream).await;
    let nginx_version = std::process::Command::new(&nginx_bin)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_default();
    let wrk_version = std::process::Command::new(&wrk_bin)
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    let binary_bytes = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    Ok(json!({
        "wrk": {
            "version": wrk_version,
            "threads": WRK_THREADS,
            "connections": WRK_CONNECTIONS,
            "seconds_per_run": seconds,
            "rounds": rounds,
        },
        "nginx": {
            "version": nginx_version,
            "upstream_workers": 1,
            "proxy_workers": nginx_workers.len(),
        },
        "bodies_bytes": { "passthrough": tickets.len(), "typed": departments.len() },
        "routes": Value::Object(by_route),
        "footprint": {
            "idle_rss_mb": idle_rss_kb as f64 / 1024.0,
            "peak_rss_during_load_mb": peak_rss_kb as f64 / 1024.0,
            "after_load_rss_mb": after_load_rss_kb as f64 / 1024.0,
            "vm_hwm_mb": hwm_kb as f64 / 1024.0,
            "startup_ms_median": median(&startups),
            "startup_ms": startups,
            "binary_bytes": binary_bytes,
            "binary_mb": binary_bytes as f64 / 1_048_576.0,
            "target_rss_under_load_met": (peak_rss_kb.max(hwm_kb) as f64 / 1024.0) <= 30.0,
        },
    }))
}

/// `--callgrind <dir>`: instructions per request, the repeatable measure of CPU cost on a noisy
/// machine. The gateway (same configuration as the wrk runs: default logging, then
/// `RUST_LOG=warn`) runs under `valgrind --tool=callgrind`; per route, after a warm-up, the
/// counters are zeroed, a fixed number of requests is sent (4 connections) and the profile
/// dumped. Writes `<dir>/<route>-<logging>.out` (open with
/// `callgrind_annotate --inclusive=yes`) and returns instructions per request.
async fn callgrind(options: &Options, dir_out: &str) -> Result<Value, String> {
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
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www/api/v1")).map_err(|e| e.to_string())?;
    let sim = ZohoSim::start(SimConfig {
        accounts: AccountsConfig {
            refresh_limit: 1000,
            ..AccountsConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let (_token, tickets, departments) = fetch_bodies(&sim).await;
    std::fs::write(dir.join("www/api/v1/bench"), &tickets).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("www/api/v1/departments"), &departments).map_err(|e| e.to_string())?;
    let upstream_port = free_port();
    let upstream = spawn_nginx(
        &nginx_bin,
        &dir,
        "upstream",
        upstream_conf(&dir, upstream_port),
    )
    .await;
    wait_for_port(upstream_port).await;
    let _guard = NginxGuard(upstream.id());
    let http = reqwest::Client::new();
    let mut results = serde_json::Map::new();
    for (logging, rust_log) in [("default", None), ("warn", Some("warn"))] {
        let api_port = free_port();
        let mut env: Vec<(String, String)> = [
            ("ZOHO_DESK_CLIENT_ID", DEFAULT_CLIENT_ID.to_owned()),
            ("ZOHO_DESK_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_owned()),
            ("ZOHO_DESK_REFRESH_TOKEN", DEFAULT_REFRESH_TOKEN.to_owned()),
            ("ZOHO_DESK_ORG_ID", sim.desk_org_id()),
            ("ZOHO_ACCOUNTS_URL", sim.accounts_url()),
            (
                "ZOHO_DESK_API_URL",
                format!("http://127.0.0.1:{upstream_port}/api/v1"),
            ),
            ("GATEWAY_LISTEN", format!("127.0.0.1:{api_port}")),
            ("GATEWAY_PASSTHROUGH_ALLOW", "GET:/bench".to_owned()),
            ("GATEWAY_RATE_LIMIT_PER_SECOND", "100000".to_owned()),
            ("GATEWAY_RATE_LIMIT_BURST", "100000".to_owned()),
            ("ZOHO_DESK_MAX_CONCURRENCY", "25".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(level) = rust_log {
            env.push(("RUST_LOG".into(), level.into()));
        }
        let profile = out.join(format!("profile-{logging}.%p"));
        let wrapper: Vec<String> = vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", profile.display()),
        ];
        let (gateway, _) = start_wrapped(
            &wrapper,
            &binary,
            &env,
            &dir,
            &format!("callgrind-{logging}.log"),
            Duration::from_secs(300),
        )
        .await;
        let pid = gateway.pid.to_string();
        let control = |args: &[&str]| {
            std::process::Command::new("callgrind_control")
                .args(args)
                .arg(&pid)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("callgrind_control: {e}"))
        };
        for (route, path) in [("passthrough", "/v1/bench"), ("typed", "/departments")] {
            let url = format!("http://127.0.0.1:{api_port}/api/zoho-desk{path}");
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
        stop(gateway.child).await;
    }
    stop(upstream).await;
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

fn main() {
    let options = Options::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match options.get("callgrind") {
        Some(dir) => runtime.block_on(callgrind(&options, dir)),
        None => runtime.block_on(measure(&options)),
    };
    match result {
        Ok(result) => options.write(&result),
        Err(message) => {
            eprintln!("proxy: {message}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let output = "Running 2s test @ http://127.0.0.1:1/x
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   291.22us  180.87us   6.21ms   92.29%
    Req/Sec    27.88k     1.53k   30.46k    73.17%
  Latency Distribution
     50%  250.00us
     75%  310.00us
     90%  420.00us
     99%    1.02ms
  113321 requests in 2.10s, 28.31MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  53962.38
Transfer/sec:     13.48MB
";
        let run = parse_wrk(output).unwrap();
        assert_eq!(run.p50_ms, 0.25);
        assert_eq!(run.p99_ms, 1.02);
        assert_eq!(run.requests, 113_321);
        assert_eq!(run.errors, 7);
        assert!((run.requests_per_second - 53_962.38).abs() < 1e-9);
        assert_eq!(parse_wrk_duration("1.50s"), Some(1500.0));
    }
}
