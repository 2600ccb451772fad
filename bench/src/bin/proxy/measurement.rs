//! The measurement proper: the stage both measurements stand on (emulator, bodies, nginx
//! upstream), the gateways under test, and the wrk rounds with the footprint around them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bench::{Options, median};
use serde_json::{Value, json};
use test_support::{Env, Gateway, Launch, free_port};
use tokio::process::Child;
use zoho_sim::{AccountsConfig, DEFAULT_REFRESH_TOKEN, SimConfig, SimHandle, ZohoSim};

use crate::find_tool;
use crate::nginx::{NginxGuard, proxy_conf, spawn_nginx, stop, upstream_conf, wait_for_port};
use crate::procfs::{children, status_kb};
use crate::profile::profile;
use crate::wrk::{Target, WRK_CONNECTIONS, WRK_THREADS, WrkRun, summarize, wrk};

/// What both measurements stand on: a fresh working directory, the emulator, its bodies
/// served by a one-worker nginx upstream.
pub struct Stage {
    pub dir: PathBuf,
    pub sim: SimHandle,
    /// An access token the emulator minted, for the nginx proxy's `Authorization` header.
    pub token: String,
    /// A page of 10 tickets, served as `/api/v1/bench`.
    pub tickets: Vec<u8>,
    /// The department list, served as `/api/v1/departments`.
    pub departments: Vec<u8>,
    pub upstream_port: u16,
    upstream: Child,
    _guard: NginxGuard,
}

impl Stage {
    /// Empties `dir`, starts the emulator and the upstream, and waits until it listens.
    pub async fn new(nginx_bin: &Path, dir: PathBuf) -> Result<Stage, String> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("www/api/v1")).map_err(|e| e.to_string())?;
        // The emulator mints the gateway's tokens; every start of the gateway refreshes once, so
        // the refresh throttle is raised for the benchmark (it is not what is measured here).
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
        std::fs::write(dir.join("www/api/v1/departments"), &departments)
            .map_err(|e| e.to_string())?;
        let upstream_port = free_port();
        let upstream = spawn_nginx(
            nginx_bin,
            &dir,
            "upstream",
            upstream_conf(&dir, upstream_port),
        )
        .await;
        wait_for_port(upstream_port).await;
        let _guard = NginxGuard(Some(upstream.id().ok_or("nginx upstream exited")?));
        Ok(Stage {
            dir,
            sim,
            token,
            tickets,
            departments,
            upstream_port,
            upstream,
            _guard,
        })
    }

    /// `http://127.0.0.1:<port>/api/v1` of the upstream.
    pub fn upstream_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1", self.upstream_port)
    }

    /// The gateway's environment: tokens from the emulator, Desk calls to the upstream, the
    /// bench route passed through, limits out of the way of the load.
    pub fn gateway_env(&self) -> Env {
        Env::zoho(&self.sim)
            .with("ZOHO_DESK_API_URL", self.upstream_url())
            .with("GATEWAY_PASSTHROUGH_ALLOW", "GET:/bench")
            .with("GATEWAY_RATE_LIMIT_PER_SECOND", "100000")
            .with("GATEWAY_RATE_LIMIT_BURST", "100000")
            .with("ZOHO_DESK_MAX_CONCURRENCY", "25")
    }

    /// Stops the upstream; the working directory stays, with the logs.
    pub async fn stop(self) {
        stop(self.upstream).await;
    }
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

/// Starts a gateway and waits until `/readyz` answers 200; returns it with the time from spawn
/// to ready (each start includes the first token refresh against the emulator).
pub async fn start_gateway(launch: Launch) -> (Gateway, Duration) {
    start_within(launch, Duration::from_secs(30)).await
}

/// [`start_gateway`] waiting up to `patience` (a gateway under valgrind takes minutes).
pub async fn start_within(launch: Launch, patience: Duration) -> (Gateway, Duration) {
    let started = Instant::now();
    let gateway = launch.startup_timeout(patience).start().await;
    gateway
        .ready(patience.saturating_sub(started.elapsed()))
        .await;
    (gateway, started.elapsed())
}

pub async fn measure(options: &Options) -> Result<Value, String> {
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
    let dir = match options.get("workdir") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("zoho-bench-proxy-{}", std::process::id())),
    };
    let stage = Stage::new(&nginx_bin, dir).await?;
    let dir = &stage.dir;
    let proxy_port = free_port();
    let proxy = spawn_nginx(
        &nginx_bin,
        dir,
        "proxy",
        proxy_conf(
            dir,
            proxy_port,
            stage.upstream_port,
            &stage.token,
            &stage.sim.desk_org_id(),
        ),
    )
    .await;
    wait_for_port(proxy_port).await;
    let proxy_pid = proxy.id().ok_or("nginx proxy exited")?;
    let _guard = NginxGuard(Some(proxy_pid));
    let env = stage.gateway_env();
    let launch = |env: &Env, log: &str| Launch::serve(env).binary(&binary).log_file(&dir.join(log));

    // Start-up time: spawn → /readyz 200, several times.
    let mut startups = Vec::new();
    for i in 0..starts {
        let (gateway, elapsed) = start_gateway(launch(&env, &format!("start-{i}.log"))).await;
        startups.push(elapsed.as_secs_f64() * 1000.0);
        gateway.stop().await;
    }

    // The same gateway with logging at WARN (no per-request span or log line): how much of
    // its cost is the request log.
    let quiet_env = env.clone().with("RUST_LOG", "warn");
    let (quiet, _) = start_gateway(launch(&quiet_env, "gateway-quiet.log")).await;
    let (gateway, _) = start_gateway(launch(&env, "gateway.log")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss_kb = status_kb(gateway.pid(), "VmRSS").unwrap_or(0);

    // Every route answers, with the same body where it is passed through.
    let (tickets, departments) = (&stage.tickets, &stage.departments);
    let http = reqwest::Client::new();
    let direct = stage.upstream_url();
    let nginx = format!("http://127.0.0.1:{proxy_port}/api/zoho-desk");
    let api = format!("{}/api/zoho-desk", gateway.api);
    let quiet_api = format!("{}/api/zoho-desk", quiet.api);
    for (url, expected) in [
        (format!("{direct}/bench"), Some(tickets)),
        (format!("{nginx}/v1/bench"), Some(tickets)),
        (format!("{api}/v1/bench"), Some(tickets)),
        (format!("{direct}/departments"), Some(departments)),
        (format!("{nginx}/departments"), Some(departments)),
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
            pids: vec![gateway.pid()],
        },
        Target {
            name: "gateway_quiet",
            route: "passthrough",
            url: format!("{quiet_api}/v1/bench"),
            pids: vec![quiet.pid()],
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
            pids: vec![gateway.pid()],
        },
        Target {
            name: "gateway_quiet",
            route: "typed",
            url: format!("{quiet_api}/departments"),
            pids: vec![quiet.pid()],
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
            let rss_of = (target.name == "gateway").then_some(gateway.pid());
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
    let after_load_rss_kb = status_kb(gateway.pid(), "VmRSS").unwrap_or(0);
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
    let hwm_kb = status_kb(gateway.pid(), "VmHWM").unwrap_or(0);

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

    gateway.stop().await;
    quiet.stop().await;
    stop(proxy).await;
    let bodies_bytes = json!({ "passthrough": tickets.len(), "typed": departments.len() });
    stage.stop().await;
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
        "bodies_bytes": bodies_bytes,
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
