//! `cargo xtask bench [--quick]`: every benchmark of the project in one run on one machine, so
//! that each figure stands next to its baseline measured minutes apart, never from another day.
//!
//! 1. Builds in release: the `zoho-gateway` binary, then the `bench` programs — in two cargo
//!    invocations, because the benchmark programs enable tokio's `test-util` (the fleet's
//!    virtual clock) and building both in one invocation would unify that feature into the
//!    gateway binary being measured.
//! 2. Runs criterion's `token_read` (crates/zoho-auth/benches) and reads the medians from
//!    `target/criterion`.
//! 3. Runs `coalescing`, `fleet` and `proxy` (bench/src/bin), each writing its JSON.
//! 4. Writes `target/bench/report.json` and `target/bench/report.md`: ratios, medians, targets
//!    met or not, and the machine they were measured on.
//!
//! `wrk` and `nginx` come from Debian's packages, installed here when missing and running as
//! root (otherwise it stops with the command); Redis as for `cargo xtask ci`. Nothing here
//! asserts a timing: a missed target is reported, not failed. A benchmark program that fails is
//! reported and makes the command fail after the report is written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use super::{
    apt_get, build_gateway, cargo, cargo_bin, is_root, on_path, redis, run_command, workspace_root,
};

/// Criterion's benchmark functions (`token_read/<name>/<threads>`).
const READS: [&str; 3] = ["manager", "tokio_rwlock_string", "std_mutex_arc_str"];
const THREADS: [u32; 2] = [1, 2];

pub fn run(quick: bool) -> Result<(), String> {
    let started = Instant::now();
    tools()?;
    redis()?;
    let root = workspace_root();
    let target = target_dir(&root);
    let out = target.join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    build_gateway(&["--release"])?;
    cargo(&["build", "--release", "--locked", "-p", "bench", "--bins"])?;
    let built = Instant::now();
    let release = target.join("release");
    let gateway = release.join("zoho-gateway");

    let mut failures = Vec::new();
    let token_read = criterion(&root, &target, quick).unwrap_or_else(|e| {
        failures.push(format!("token_read: {e}"));
        Value::Null
    });
    let mut program = |name: &str, extra: &[String]| -> Value {
        let file = out.join(format!("{name}.json"));
        let _ = std::fs::remove_file(&file);
        let mut args: Vec<String> = vec!["--out".into(), file.display().to_string()];
        if quick {
            args.push("--quick".into());
        }
        args.extend(extra.iter().cloned());
        println!("xtask: bench {name} {}", args.join(" "));
        let status = Command::new(release.join(name))
            .args(&args)
            .current_dir(&root)
            .status();
        let read = || -> Result<Value, String> {
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            serde_json::from_str(&text).map_err(|e| e.to_string())
        };
        match status {
            Ok(s) if s.success() => read().unwrap_or_else(|e| {
                failures.push(format!("{name}: unreadable result: {e}"));
                Value::Null
            }),
            Ok(s) => {
                failures.push(format!("{name} failed ({s})"));
                Value::Null
            }
            Err(e) => {
                failures.push(format!("{name} could not run: {e}"));
                Value::Null
            }
        }
    };
    let gateway_arg = ["--gateway".to_owned(), gateway.display().to_string()];
    let coalescing = program("coalescing", &[]);
    let fleet = program("fleet", &gateway_arg);
    let proxy_work = out.join("proxy-work");
    let proxy = program(
        "proxy",
        &[
            gateway_arg[0].clone(),
            gateway_arg[1].clone(),
            "--workdir".into(),
            proxy_work.display().to_string(),
        ],
    );

    let report = json!({
        "mode": if quick { "quick" } else { "full" },
        "date": command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "git": command_line("git", &["describe", "--always", "--dirty"]),
        "machine": machine(),
        "build_seconds": (built - started).as_secs_f64(),
        "measure_seconds": built.elapsed().as_secs_f64(),
        "token_read": token_read,
        "coalescing": coalescing,
        "proxy": proxy,
        "fleet": fleet,
        "failures": failures,
    });
    let json_path = out.join("report.json");
    let md_path = out.join("report.md");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| format!("{}: {e}", json_path.display()))?;
    let markdown = render(&report);
    std::fs::write(&md_path, &markdown).map_err(|e| format!("{}: {e}", md_path.display()))?;
    println!("{markdown}");
    println!(
        "xtask: bench report in {} and {} (measured in {:.0} s after the build)",
        md_path.display(),
        json_path.display(),
        built.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("benchmarks failed: {}", failures.join("; ")))
    }
}

/// `wrk` and `nginx`, from Debian's packages when missing (as root).
fn tools() -> Result<(), String> {
    let sbin = |tool: &str| {
        on_path(tool)
            || ["/usr/sbin", "/usr/local/sbin"]
                .iter()
                .any(|dir| Path::new(dir).join(tool).is_file())
    };
    let missing: Vec<&str> = [("wrk", "wrk"), ("nginx", "nginx")]
        .into_iter()
        .filter(|(tool, _)| !sbin(tool))
        .map(|(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let command = format!(
        "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "{} missing (the proxy benchmark): run `{command}`",
            missing.join(" and ")
        ));
    }
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&missing);
    if apt_get(&args).is_err() {
        apt_get(&["update"])?;
        apt_get(&args)?;
    }
    if ["wrk", "nginx"].iter().all(|t| sbin(t)) {
        Ok(())
    } else {
        Err(format!("still missing after installing: run `{command}`"))
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// Runs criterion's `token_read` and collects the medians (ns) and their ratios.
fn criterion(root: &Path, target: &Path, quick: bool) -> Result<Value, String> {
    let estimates = target.join("criterion").join("token_read");
    let _ = std::fs::remove_dir_all(&estimates);
    let timing: &[&str] = if quick {
        &["--warm-up-time", "0.5", "--measurement-time", "1.5"]
    } else {
        &["--warm-up-time", "3", "--measurement-time", "10"]
    };
    let mut args = vec![
        "bench",
        "--locked",
        "-p",
        "zoho-auth",
        "--bench",
        "token_read",
        "--",
        "--noplot",
    ];
    args.extend_from_slice(timing);
    let shown = format!("cargo {}", args.join(" "));
    run_command(
        "cargo",
        &shown,
        Command::new(cargo_bin()).args(&args).current_dir(root),
    )?;
    let mut by_threads = Vec::new();
    for threads in THREADS {
        let mut row = serde_json::Map::new();
        row.insert("threads".into(), json!(threads));
        for read in READS {
            let path = estimates
                .join(read)
                .join(threads.to_string())
                .join("new/estimates.json");
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let median = &value["median"];
            row.insert(
                read.into(),
                json!({
                    "median_ns": median["point_estimate"],
                    "ci95_ns": [
                        median["confidence_interval"]["lower_bound"],
                        median["confidence_interval"]["upper_bound"],
                    ],
                }),
            );
        }
        let ns = |read: &str| row[read]["median_ns"].as_f64().unwrap_or(f64::NAN);
        let manager = ns("manager");
        let rwlock = ns("tokio_rwlock_string");
        let mutex = ns("std_mutex_arc_str");
        row.insert(
            "ratios".into(),
            json!({
                "manager_over_tokio_rwlock": manager / rwlock,
                "manager_over_std_mutex": manager / mutex,
            }),
        );
        row.insert(
            "targets_met".into(),
            json!({
                "median_at_most_50ns": manager <= 50.0,
                "faster_than_both": manager < rwlock && manager < mutex,
            }),
        );
        by_threads.push(Value::Object(row));
    }
    Ok(json!({
        "unit": "ns per read, per thread (criterion median)",
        "measurement": if quick { "warm-up 0.5 s, measurement 1.5 s" } else { "warm-up 3 s, measurement 10 s" },
        "results": by_threads,
    }))
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| kb / 1_048_576.0);
    json!({
        "cpus": command_line("nproc", &[]),
        "cpu_model": model,
        "memory_gib": memory_gib,
        "kernel": command_line("uname", &["-sr"]),
        "rustc": command_line("rustc", &["--version"]),
        "os": std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned()),
    })
}

fn f(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

fn yes(met: &Value) -> &'static str {
    match met.as_bool() {
        Some(true) => "**yes**",
        Some(false) => "**no**",
        None => "n/a",
    }
}

/// The Markdown report.
pub fn render(report: &Value) -> String {
    let mut md = String::new();
    let m = &report["machine"];
    let git = report["git"].as_str().unwrap_or("?");
    let _ = writeln!(
        md,
        "# Benchmark report ({} mode)\n\n`cargo xtask bench{}` at {} on `{git}`{}.\n",
        report["mode"].as_str().unwrap_or("?"),
        if report["mode"] == "quick" {
            " --quick"
        } else {
            ""
        },
        report["date"].as_str().unwrap_or("?"),
        if git.ends_with("-dirty") {
            " (with uncommitted changes)"
        } else {
            ""
        },
    );
    let _ = writeln!(
        md,
        "**Machine**: {} CPUs ({}), {:.1} GiB memory, {}, {}, {}. Shared and noisy: \
         compare the ratios and medians measured side by side in this run, not absolute times \
         across runs.\n",
        m["cpus"].as_str().unwrap_or("?"),
        m["cpu_model"].as_str().unwrap_or("?"),
        f(&m["memory_gib"]),
        m["os"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or("?"),
        m["rustc"].as_str().unwrap_or("?"),
    );

    // Part 1.
    let _ = writeln!(md, "## 1. Token read, the hot path (criterion)\n");
    if let Some(rows) = report["token_read"]["results"].as_array() {
        let _ = writeln!(
            md,
            "Median ns per read, per thread ({}). Baselines in the same run: \
             `tokio::sync::RwLock<String>` read and cloned, `std::sync::Mutex<Arc<str>>` locked \
             and the `Arc` cloned.\n",
            report["token_read"]["measurement"].as_str().unwrap_or("")
        );
        let _ = writeln!(
            md,
            "| threads | TokenManager::token | tokio RwLock<String> | std Mutex<Arc<str>> | manager ÷ RwLock | manager ÷ Mutex | ≤ 50 ns | faster than both |\n|---|---|---|---|---|---|---|---|"
        );
        for row in rows {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2}× | {} | {} |",
                row["threads"],
                f(&row["manager"]["median_ns"]),
                f(&row["tokio_rwlock_string"]["median_ns"]),
                f(&row["std_mutex_arc_str"]["median_ns"]),
                f(&row["ratios"]["manager_over_tokio_rwlock"]),
                f(&row["ratios"]["manager_over_std_mutex"]),
                yes(&row["targets_met"]["median_at_most_50ns"]),
                yes(&row["targets_met"]["faster_than_both"]),
            );
        }
        md.push('\n');
    } else {
        md.push_str("Not measured (see failures).\n\n");
    }

    // Part 2.
    let _ = writeln!(md, "## 2. Refresh coalescing (emulator over 127.0.0.1)\n");
    if let Some(cases) = report["coalescing"]["cases"].as_array() {
        let _ = writeln!(
            md,
            "N callers released at once on one manager ({}). Token-endpoint calls per \
             repetition (target 1 in every case) and the callers' wait, median over the \
             repetitions.\n",
            report["coalescing"]["runtime"].as_str().unwrap_or("")
        );
        let _ = writeln!(
            md,
            "| situation | callers | token calls (each rep.) | refresh reason | wait in token() p50 / p99 / max ms | since release p50 / p99 ms | all served ms | 1 call |\n|---|---|---|---|---|---|---|---|"
        );
        for case in cases {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.3} / {:.3} / {:.3} | {:.3} / {:.3} | {:.1} | {} |",
                case["scenario"].as_str().unwrap_or("?").replace('_', " "),
                case["callers"],
                case["token_calls"],
                case["refresh_reason"].as_str().unwrap_or("?"),
                f(&case["wait_p50_ms"]),
                f(&case["wait_p99_ms"]),
                f(&case["wait_max_ms"]),
                f(&case["since_release_p50_ms"]),
                f(&case["since_release_p99_ms"]),
                f(&case["all_served_ms"]),
                yes(&case["target_met"]),
            );
        }
        md.push('\n');
    } else {
        md.push_str("Not measured (see failures).\n\n");
    }

    // Part 3.
    let proxy = &report["proxy"];
    let _ = writeln!(md, "## 3. Proxy overhead against nginx (wrk)\n");
    if proxy["routes"].is_object() {
        let w = &proxy["wrk"];
        let _ = writeln!(
            md,
            "`{}`, {} threads, {} connections, {} s per run, {} rounds alternating direct → nginx → \
             gateway; medians over the rounds. Upstream: {} with 1 worker serving static JSON \
             ({} bytes pass-through body: 10 emulator tickets; {} bytes typed body: the \
             departments list). nginx proxy: `proxy_pass` with upstream keepalive, adding \
             `Authorization` and `orgId`, {} workers, access log on. Gateway: release build, \
             default logging (one INFO line per request), 16 connections stay under its Desk \
             concurrency cap (25).\n",
            w["version"].as_str().unwrap_or("wrk"),
            w["threads"],
            w["connections"],
            w["seconds_per_run"],
            w["rounds"],
            proxy["nginx"]["version"].as_str().unwrap_or("nginx"),
            proxy["bodies_bytes"]["passthrough"],
            proxy["bodies_bytes"]["typed"],
            proxy["nginx"]["proxy_workers"],
        );
        for (route, title) in [
            ("passthrough", "Pass-through `/api/zoho-desk/v1/bench`"),
            (
                "typed",
                "Typed route `/api/zoho-desk/departments` (decoded and re-encoded)",
            ),
        ] {
            let r = &proxy["routes"][route];
            let _ = writeln!(
                md,
                "**{title}**\n\n| target | requests/s | p50 ms | p99 ms | CPU ms per 1k requests |\n|---|---|---|---|---|"
            );
            for (name, label) in [
                ("direct", "direct (upstream)"),
                ("nginx", "nginx proxy"),
                ("gateway", "gateway"),
                ("gateway_quiet", "gateway, `RUST_LOG=warn`"),
            ] {
                let t = &r[name];
                let cpu = t["cpu_ms_per_1k_requests"]
                    .as_f64()
                    .map_or("–".to_owned(), |v| format!("{v:.1}"));
                let _ = writeln!(
                    md,
                    "| {label} | {:.0} | {:.3} | {:.3} | {cpu} |",
                    f(&t["requests_per_second"]),
                    f(&t["p50_ms"]),
                    f(&t["p99_ms"]),
                );
            }
            let ratios = &r["ratios"];
            let _ = writeln!(
                md,
                "\nRatios gateway ÷ nginx: throughput **{:.2}×** (target ≥ 1.0: {}), p50 {:.2}×, \
                 p99 **{:.2}×** (target ≤ 1.2: {}), CPU per request {:.2}×. nginx ÷ direct \
                 throughput {:.2}×; gateway ÷ direct {:.2}×. Without the request log \
                 (`RUST_LOG=warn`) gateway ÷ nginx: throughput {:.2}×, p99 {:.2}×, CPU per \
                 request {:.2}×.\n",
                f(&ratios["gateway_over_nginx_throughput"]),
                yes(&r["targets_met"]["throughput_at_least_nginx"]),
                f(&ratios["gateway_over_nginx_p50"]),
                f(&ratios["gateway_over_nginx_p99"]),
                yes(&r["targets_met"]["p99_at_most_1_2x_nginx"]),
                f(&ratios["gateway_over_nginx_cpu_per_request"]),
                f(&ratios["nginx_over_direct_throughput"]),
                f(&ratios["gateway_over_direct_throughput"]),
                f(&ratios["gateway_quiet_over_nginx_throughput"]),
                f(&ratios["gateway_quiet_over_nginx_p99"]),
                f(&ratios["gateway_quiet_over_nginx_cpu_per_request"]),
            );
        }
    } else {
        md.push_str("Not measured (see failures).\n\n");
    }

    // Part 4.
    let fleet = &report["fleet"];
    let _ = writeln!(md, "## 4. Fleet efficiency (shared Redis)\n");
    if let Some(runs) = fleet["virtual_time"].as_array() {
        let _ = writeln!(
            md,
            "In-process replicas: each a `TokenManager` with its own `RedisStore` (own Redis \
             connections) on one real Redis, standing for 1, 4 and 16 gateway processes; \
             production refresh settings and one-hour tokens, with tokio's clock paused and \
             stepped a second at a time (Redis and HTTP I/O are real). A fleet that refreshes \
             once per lifetime makes exactly K refreshes in K lifetimes.\n"
        );
        let _ = writeln!(
            md,
            "| replicas | lifetimes K | minted at cold start | refreshes | refreshes per lifetime | minted in rolling restart | minutes a replica lacked a token | degraded | target met |\n|---|---|---|---|---|---|---|---|---|"
        );
        for run in runs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |",
                run["replicas"],
                run["lifetimes"],
                run["cold_start_minted"],
                run["refreshes"],
                f(&run["refreshes_per_lifetime"]),
                run["rolling_restart_minted"],
                run["minutes_with_a_replica_lacking_a_token"],
                run["degraded"],
                yes(&run["target_met"]),
            );
        }
        md.push('\n');
    }
    if let Some(runs) = fleet["processes"].as_array().filter(|r| !r.is_empty()) {
        let _ = writeln!(
            md,
            "Real `zoho-gateway` processes sharing the same Redis (real time): all started at \
             once, then each replaced in turn (SIGTERM, exit, start, `/readyz`).\n\n\
             | processes | minted at cold start | cold start s | minted in rolling restart | restart s | target met |\n|---|---|---|---|---|---|"
        );
        for run in runs {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {} | {:.2} | {} |",
                run["processes"],
                run["cold_start_minted"],
                f(&run["cold_start_seconds"]),
                run["rolling_restart_minted"],
                f(&run["rolling_restart_seconds"]),
                yes(&run["target_met"]),
            );
        }
        md.push('\n');
    }
    if !fleet.is_object() {
        md.push_str("Not measured (see failures).\n\n");
    }

    // Part 5.
    let fp = &proxy["footprint"];
    let _ = writeln!(md, "## 5. Footprint (release `zoho-gateway`)\n");
    if fp.is_object() {
        let _ = writeln!(
            md,
            "| idle RSS | peak RSS under load | RSS after load | VmHWM | start-up to ready (median) | binary size | RSS under load ≤ 30 MB |\n|---|---|---|---|---|---|---|\n\
             | {:.1} MB | {:.1} MB | {:.1} MB | {:.1} MB | {:.0} ms | {:.1} MB | {} |\n\n\
             RSS from `/proc/<pid>/status` (MB = 2^20 bytes): idle 0.5 s after ready, sampled \
             every 100 ms under the wrk runs. Start-up: spawn → `/readyz` 200, including the first \
             token refresh from the emulator, over {} starts ({:?} ms). The binary is not \
             stripped.\n",
            f(&fp["idle_rss_mb"]),
            f(&fp["peak_rss_during_load_mb"]),
            f(&fp["after_load_rss_mb"]),
            f(&fp["vm_hwm_mb"]),
            f(&fp["startup_ms_median"]),
            f(&fp["binary_mb"]),
            yes(&fp["target_rss_under_load_met"]),
            fp["startup_ms"].as_array().map_or(0, Vec::len),
            fp["startup_ms"]
                .as_array()
                .map(|v| v.iter().map(|x| f(x).round() as i64).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
    } else {
        md.push_str("Not measured (see failures).\n\n");
    }
    if let Some(failures) = report["failures"].as_array().filter(|f| !f.is_empty()) {
        let _ = writeln!(md, "## Failures\n");
        for failure in failures {
            let _ = writeln!(md, "- {}", failure.as_str().unwrap_or("?"));
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "Build {:.0} s, measurements {:.0} s.",
        f(&report["build_seconds"]),
        f(&report["measure_seconds"])
    );
    md
}
