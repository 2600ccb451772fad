//! `cargo xtask sabotage [--list | <name>...]`: proves that tests can fail. Each entry breaks the
//! code in one small, deliberate way (one snippet of one file replaced), runs the test that guards
//! the behaviour, expects it to FAIL, and restores the file whatever happens. A sabotage whose test
//! still passes is reported as a survivor: that test guards nothing.
//!
//! Not part of `cargo xtask ci` (each entry rebuilds a crate); run it after changing a guarded
//! behaviour or its test. Add an entry with every test written for a named defect.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One deliberate breakage and the test that must catch it.
struct Sabotage {
    /// Short, stable name (`cargo xtask sabotage <name>`).
    name: &'static str,
    /// The behaviour the test guards, in a few words.
    guards: &'static str,
    /// The file broken, relative to the workspace root.
    file: &'static str,
    /// Text that occurs exactly once in `file`.
    original: &'static str,
    /// What replaces it.
    broken: &'static str,
    /// `cargo test` arguments that run the guarding test.
    test: &'static [&'static str],
}

const SABOTAGES: &[Sabotage] = &[
    Sabotage {
        name: "retry-after-trusted",
        guards: "Zoho's Retry-After is clamped, never trusted",
        file: "crates/zoho-desk-api/src/client.rs",
        original: ".map(retry_after_from_secs)",
        broken: ".map(Duration::from_secs_f64)",
        test: &[
            "-p",
            "zoho-desk-api",
            "--test",
            "headers",
            "an_absurd_retry_after",
        ],
    },
    Sabotage {
        name: "sim-faulted-token-uncounted",
        guards: "the emulator counts token attempts a fault answered",
        file: "crates/zoho-sim/src/server.rs",
        original: "        armed: true,",
        broken: "        armed: false,",
        test: &[
            "-p",
            "zoho-sim",
            "--test",
            "accounts_http",
            "every_token_attempt",
        ],
    },
    Sabotage {
        name: "sim-desk-headers-unrecorded",
        guards: "the emulator records every header name reaching Desk",
        file: "crates/zoho-sim/src/desk/mod.rs",
        original: "stats.desk_header_names.insert(name.as_str().to_owned());",
        broken: "let _ = name;",
        test: &["-p", "zoho-sim", "--test", "desk_http", "every_header_name"],
    },
    Sabotage {
        name: "ci-runs-another-command",
        guards: ".ci/run runs exactly the README's test command",
        file: ".ci/run",
        original: "\ncargo xtask ci\n",
        broken: "\ncargo test --workspace\ncargo xtask ci\n",
        test: &["-p", "xtask", "ci_runs_exactly_the_readme_test_command"],
    },
    Sabotage {
        name: "sim-depends-on-a-client",
        guards: "zoho-sim shares no code with the clients",
        file: "crates/zoho-sim/Cargo.toml",
        original: "[dev-dependencies]\n",
        broken: "[dev-dependencies]\nzoho-auth.workspace = true\n",
        test: &["-p", "xtask", "zoho_sim_depends_on_no_client_crate"],
    },
    Sabotage {
        name: "gateway-import-cycle",
        guards: "gateway modules import one way (leaves by their own path)",
        file: "crates/gateway/src/auth/keys.rs",
        original: "use crate::config::problem::{Problem, io_error_reason};",
        broken: "use crate::config::{Problem, io_error_reason};",
        test: &["-p", "xtask", "gateway_imports_have_no_cycle"],
    },
    Sabotage {
        name: "architecture-names-a-missing-file",
        guards: "every path ARCHITECTURE.md names exists",
        file: "docs/ARCHITECTURE.md",
        original: "`config/load.rs` — `Config::load`",
        broken: "`config/loader.rs` — `Config::load`",
        test: &["-p", "xtask", "architecture_doc_names_what_exists"],
    },
    Sabotage {
        name: "behaviour-cites-a-missing-test",
        guards: "every test zoho-behaviour.md cites exists",
        file: "docs/zoho-behaviour.md",
        original: "scenarios.rs::a_day_at_steady_load_refreshes_once_an_hour",
        broken: "scenarios.rs::a_day_at_steady_load_refreshes_twice_an_hour",
        test: &["-p", "xtask", "zoho_behaviour_cites_tests_that_exist"],
    },
    Sabotage {
        name: "metric-documented-but-gone",
        guards: "every documented metric exists in the code",
        file: "docs/telemetry.md",
        original: "| `http_server_requests_in_flight` | gauge |",
        broken: "| `http_server_requests_in_flight` | gauge |\n| `http_server_requests_dropped_total` | counter |",
        test: &["-p", "xtask", "every_metric_is_documented_and"],
    },
    Sabotage {
        name: "metric-recorded-but-undocumented",
        guards: "every metric the code records is documented, wherever it is declared",
        file: "docs/telemetry.md",
        original: "| `http_server_rate_limited_total` | counter |",
        broken: "| `http_server_rate_limited` | counter |",
        test: &["-p", "xtask", "every_metric_is_documented_and"],
    },
    Sabotage {
        name: "fleet-budget-too-stingy",
        guards: "the fleet spends its whole refresh budget under a storm, not less",
        file: "crates/zoho-auth/src/store/mod.rs",
        original: "            if s.attempts.len() >= limit {",
        broken: "            if s.attempts.len() >= limit / 2 {",
        test: &[
            "-p",
            "zoho-auth",
            "--test",
            "fleet",
            "a_forced_refresh_storm",
        ],
    },
    Sabotage {
        name: "rate-limit-refuses-everything",
        guards: "the per-key limiter admits the burst before it refuses",
        file: "crates/gateway/src/rate_limit.rs",
        original: ".map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))",
        broken: ".map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))\n            .and(Err(Duration::from_secs(1)))",
        test: &[
            "-p",
            "e2e",
            "--test",
            "gateway",
            "a_burst_past_the_rate_limit",
        ],
    },
    Sabotage {
        name: "unrecovered-401-becomes-500",
        guards: "an unrecovered Zoho 401 answers 502 zoho_unauthorized (the old check took any non-200)",
        file: "crates/gateway/src/error/code.rs",
        original: "ZohoUnauthorized => (\"zoho_unauthorized\", BAD_GATEWAY,",
        broken: "ZohoUnauthorized => (\"zoho_unauthorized\", INTERNAL_SERVER_ERROR,",
        test: &["-p", "e2e", "--test", "prometheus", "every_dashboard_panel"],
    },
    Sabotage {
        name: "a-client-header-reaches-zoho",
        guards: "no header of the client's reaches Zoho (the old test could not see headers)",
        file: "crates/gateway/src/otel.rs",
        original: "pub fn inject_trace_context(headers: &mut HeaderMap) {\n",
        broken: "pub fn inject_trace_context(headers: &mut HeaderMap) {\n    headers.insert(\"x-forwarded-for\", \"203.0.113.9\".parse().unwrap());\n",
        test: &[
            "-p",
            "e2e",
            "--test",
            "attacks",
            "client_credentials_and_headers",
        ],
    },
    Sabotage {
        name: "publish-without-owner-check",
        guards: "only the lease holder publishes, even when the generation matches",
        file: "crates/zoho-auth/src/store/redis.rs",
        original: "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\nlocal current",
        broken: "local current",
        test: &[
            "-p",
            "zoho-auth",
            "--all-features",
            "--test",
            "redis_store",
            "owner_check",
        ],
    },
    Sabotage {
        name: "patch-counted-idempotent",
        guards: "PATCH is never resent after a 5xx or a dropped connection",
        file: "crates/zoho-desk-api/src/client.rs",
        original: "Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS",
        broken: "Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::PATCH",
        test: &[
            "-p",
            "zoho-desk-api",
            "--test",
            "behaviour",
            "patch_and_post",
        ],
    },
    Sabotage {
        name: "invalidate-without-compare",
        guards: "a 401 on an old token never drops a newer one",
        file: "crates/zoho-auth/src/manager/handle.rs",
        original: "let dropped = current.present() && current.value == *rejected && {",
        broken: "let dropped = current.present() && {",
        test: &[
            "-p",
            "zoho-auth",
            "--test",
            "scenarios",
            "a_401_on_an_old_token",
        ],
    },
    Sabotage {
        name: "expiry-gauge-in-milliseconds",
        guards: "the expiry gauge the critical alert uses is a unix time in seconds",
        file: "crates/zoho-auth/src/manager/events.rs",
        original: "gauge!(telemetry::EXPIRY_TIMESTAMP_SECONDS).set(unix.as_secs_f64());",
        broken: "gauge!(telemetry::EXPIRY_TIMESTAMP_SECONDS).set(unix.as_millis() as f64);",
        test: &["-p", "e2e", "--test", "prometheus", "every_dashboard_panel"],
    },
    Sabotage {
        name: "refused-requests-uncounted",
        guards: "requests refused before routing are still counted (as one bounded series)",
        file: "crates/gateway/src/telemetry.rs",
        original: "    route.count(response.status().as_u16());\n",
        broken: "    if response.status() != 401 {\n        route.count(response.status().as_u16());\n    }\n",
        test: &["-p", "e2e", "--test", "attacks", "invented_methods"],
    },
    Sabotage {
        name: "degraded-probe-slowed",
        guards: "a degraded replica reads the store every 5 s (the old test only said 'within a minute')",
        file: "crates/zoho-auth/src/fleet.rs",
        original: "const RECOVERY_PROBE_EVERY: Duration = Duration::from_secs(5);",
        broken: "const RECOVERY_PROBE_EVERY: Duration = Duration::from_secs(30);",
        test: &[
            "-p",
            "zoho-auth",
            "--test",
            "fleet",
            "when_the_store_is_down",
        ],
    },
    Sabotage {
        name: "zoho-auth-logs-as-desk",
        guards: "zoho-auth carries no Desk wording",
        file: "crates/zoho-auth/src/manager/events.rs",
        original: "\"[Zoho Token] Refreshing access token...\"",
        broken: "\"[Zoho Desk] Refreshing access token...\"",
        test: &["-p", "xtask", "zoho_auth_speaks_of_no_product"],
    },
    Sabotage {
        name: "retry-after-overflows",
        guards: "the gateway's Retry-After rounding saturates instead of overflowing",
        file: "crates/gateway/src/error/mod.rs",
        original: "        .saturating_add(u64::from(wait.subsec_nanos() > 0));",
        broken: "        + u64::from(wait.subsec_nanos() > 0);",
        test: &["-p", "gateway", "--lib", "error::tests"],
    },
];

pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--list") {
        for s in SABOTAGES {
            println!("{:36} {} ({})", s.name, s.guards, s.file);
        }
        return Ok(());
    }
    let chosen: Vec<&Sabotage> = if args.is_empty() {
        SABOTAGES.iter().collect()
    } else {
        args.iter()
            .map(|name| {
                SABOTAGES
                    .iter()
                    .find(|s| s.name == name)
                    .ok_or_else(|| format!("no sabotage named {name:?}; try --list"))
            })
            .collect::<Result<_, _>>()?
    };
    let root = workspace_root();
    let mut survivors = Vec::new();
    for sabotage in &chosen {
        let caught = attempt(&root, sabotage)?;
        println!(
            "xtask sabotage: {:36} {}",
            sabotage.name,
            if caught { "caught" } else { "SURVIVED" }
        );
        if !caught {
            survivors.push(sabotage.name);
        }
    }
    println!(
        "xtask sabotage: {} tried, {} caught, {} survived",
        chosen.len(),
        chosen.len() - survivors.len(),
        survivors.len()
    );
    if survivors.is_empty() {
        Ok(())
    } else {
        Err(format!("these sabotages went unnoticed: {survivors:?}"))
    }
}

/// Breaks the file, runs the test, restores the file. `Ok(true)` when the test failed.
fn attempt(root: &Path, sabotage: &Sabotage) -> Result<bool, String> {
    let path = root.join(sabotage.file);
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", sabotage.file))?;
    if text.matches(sabotage.original).count() != 1 {
        return Err(format!(
            "sabotage {}: {:?} must occur exactly once in {} (did the code move?)",
            sabotage.name, sabotage.original, sabotage.file
        ));
    }
    // The end-to-end tests run the built binary, not the library: build it broken, and
    // rebuild it whole afterwards so no later run meets the sabotaged binary. Declared before
    // the restores, so it is dropped after them.
    let end_to_end = sabotage.test.contains(&"e2e");
    let _rebuild = end_to_end.then(|| RebuildGateway(root.to_path_buf()));
    // A manifest sabotage rewrites the lock file too: restore both.
    let lock = root.join("Cargo.lock");
    let _restore_lock = Restore::snapshot(&lock)?;
    let _restore = Restore::snapshot(&path)?;
    fs::write(&path, text.replacen(sabotage.original, sabotage.broken, 1))
        .map_err(|e| format!("{}: {e}", sabotage.file))?;
    if end_to_end && !cargo(root, &["build", "-p", "gateway", "--bin", "zoho-gateway"])? {
        return Err(format!(
            "sabotage {} breaks the gateway's build",
            sabotage.name
        ));
    }
    // A sabotage that does not build proves nothing about the test.
    if !cargo_test(root, sabotage.test, true)? {
        return Err(format!(
            "sabotage {} breaks the build; it must compile and misbehave",
            sabotage.name
        ));
    }
    Ok(!cargo_test(root, sabotage.test, false)?)
}

/// `cargo test <args>` (only building it with `build_only`): did it succeed?
fn cargo_test(root: &Path, args: &[&str], build_only: bool) -> Result<bool, String> {
    let mut full = vec!["test"];
    if build_only {
        full.push("--no-run");
    }
    full.extend_from_slice(args);
    cargo(root, &full)
}

/// `cargo <args>`, quietly: did it succeed?
fn cargo(root: &Path, args: &[&str]) -> Result<bool, String> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(args)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    Ok(status.success())
}

/// Rebuilds the gateway binary when dropped.
struct RebuildGateway(PathBuf);

impl Drop for RebuildGateway {
    fn drop(&mut self) {
        if !matches!(
            cargo(
                &self.0,
                &["build", "-p", "gateway", "--bin", "zoho-gateway"]
            ),
            Ok(true)
        ) {
            eprintln!(
                "xtask sabotage: rebuild the gateway: cargo build -p gateway --bin zoho-gateway"
            );
        }
    }
}

/// Puts a file's original text back when dropped, even when the run stops on an error.
struct Restore {
    path: PathBuf,
    text: String,
}

impl Restore {
    fn snapshot(path: &Path) -> Result<Self, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Restore {
            path: path.to_path_buf(),
            text,
        })
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Err(e) = fs::write(&self.path, &self.text) {
            eprintln!(
                "xtask sabotage: could not restore {}: {e}",
                self.path.display()
            );
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sabotage still applies: its snippet occurs exactly once in its file.
    #[test]
    fn every_sabotage_still_applies() {
        let root = workspace_root();
        for s in SABOTAGES {
            let text = fs::read_to_string(root.join(s.file)).unwrap();
            assert_eq!(
                text.matches(s.original).count(),
                1,
                "sabotage {}: snippet not found once in {}",
                s.name,
                s.file
            );
            assert_ne!(s.original, s.broken, "sabotage {} changes nothing", s.name);
        }
        let mut names: Vec<_> = SABOTAGES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SABOTAGES.len(), "sabotage names are unique");
    }
}
