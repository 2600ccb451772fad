//! Repository automation: `cargo xtask <command>`. Rust, not shell, so it cannot rot silently.
//!
//! - `ci`: everything CI checks, in order — a preflight for the tools (rustfmt, clippy, and
//!   Debian's `prometheus` package for `promtool` and `prometheus`, installed when running as
//!   root), the Prometheus rule checks and rule unit tests (`deploy/prometheus`), formatting,
//!   clippy with warnings denied, and the whole test suite (unit, integration including the
//!   real-Prometheus dashboard test, doc tests, and the tidy checks in this crate), the fuzz
//!   smoke (every seed through its libFuzzer target once), then a 2-minute fault-injection soak.
//! - `fuzz --smoke | <target> [--minutes N]`: the fuzz smoke alone, or one campaign (`fuzz/`).
//! - `soak [--minutes N] [--replicas N]`: the fault-injection soak alone (`tests/src/bin/soak/`).
//!
//! - `sabotage [--list | <name>...]`: deliberate one-snippet breakages, each of which must turn
//!   its guarding test red (`xtask/src/sabotage.rs`).
//!
//! Every command answers `--help` (or `-h`) with its usage and runs nothing.

use std::process::{Command, ExitCode, ExitStatus};

mod bench;
mod fuzz;
mod k8s_rules;
mod sabotage;
mod tidy;

/// One `cargo xtask` command: its name, its usage line(s) and what it does.
struct Usage {
    name: &'static str,
    synopsis: &'static str,
    summary: &'static str,
}

/// Every command, in the order `cargo xtask help` lists them.
const COMMANDS: [Usage; 6] = [
    Usage {
        name: "ci",
        synopsis: "ci",
        summary: "install prometheus/redis-server if missing, promtool checks and rule tests,\n\
                  fmt --check, clippy -D warnings, the whole test suite, fuzz smoke, 2-minute soak",
    },
    Usage {
        name: "bench",
        synopsis: "bench [--quick]",
        summary: "release benchmarks against their baselines: target/bench/report.md",
    },
    Usage {
        name: "soak",
        synopsis: "soak [--minutes N] [--replicas N]",
        summary: "fault-injection soak (default 2 minutes): target/soak/report.md",
    },
    Usage {
        name: "fuzz",
        synopsis: "fuzz --smoke | fuzz <target> [--minutes N]",
        summary: "replay every fuzz seed once through its libFuzzer target (fuzz/README.md),\n\
                  or a libFuzzer campaign (default 10 minutes) on one target",
    },
    Usage {
        name: "sabotage",
        synopsis: "sabotage [--list | <name>...]",
        summary: "break the code on purpose, one entry at a time, and check that its test fails\n\
                  (xtask/src/sabotage.rs; not part of ci)",
    },
    Usage {
        name: "k8s-rules",
        synopsis: "k8s-rules",
        summary: "regenerate deploy/k8s/base/prometheusrule.yaml from the rules file",
    },
];

/// What a command line asks for. Help is decided here, before anything runs, so that
/// `cargo xtask <command> --help` never starts the command (the bench takes eight minutes).
#[derive(Debug, PartialEq)]
enum Task {
    /// Print this text and stop.
    Help(String),
    Ci,
    Bench {
        quick: bool,
    },
    Soak(Vec<String>),
    Fuzz(Vec<String>),
    Sabotage(Vec<String>),
    K8sRules,
}

fn parse(args: &[String]) -> Result<Task, String> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Task::Help(usage()));
    };
    if matches!(command.as_str(), "help" | "--help" | "-h") {
        return Ok(Task::Help(usage()));
    }
    let Some(known) = COMMANDS.iter().find(|c| c.name == command) else {
        return Err(format!(
            "unknown command {command:?}; try `cargo xtask help`"
        ));
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Task::Help(format!(
            "usage: cargo xtask {}\n\n{}",
            known.synopsis, known.summary
        )));
    }
    Ok(match known.name {
        "ci" => Task::Ci,
        "bench" => Task::Bench {
            quick: rest.iter().any(|a| a == "--quick"),
        },
        "soak" => Task::Soak(rest.to_vec()),
        "fuzz" => Task::Fuzz(rest.to_vec()),
        "sabotage" => Task::Sabotage(rest.to_vec()),
        "k8s-rules" => Task::K8sRules,
        other => unreachable!("{other} is in COMMANDS but has no task"),
    })
}

/// The overall usage: every command's synopsis and summary.
fn usage() -> String {
    let mut text = "usage: cargo xtask <command> [--help]\n\ncommands:".to_owned();
    for command in &COMMANDS {
        text.push_str(&format!("\n  {}\n", command.synopsis));
        for line in command.summary.lines() {
            text.push_str(&format!("      {}\n", line.trim()));
        }
    }
    text.trim_end().to_owned()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&args).and_then(|task| match task {
        Task::Help(text) => {
            println!("{text}");
            Ok(())
        }
        Task::Ci => ci(),
        Task::Bench { quick } => bench::run(quick),
        Task::Soak(args) => preflight().and_then(|()| soak(&args)),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::Sabotage(args) => sabotage::run(&args),
        Task::K8sRules => k8s_rules::run(),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    preflight()?;
    prometheus_checks()?;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace", "--all-targets", "--locked"])?;
    cargo(&["test", "--workspace", "--doc", "--locked"])?;
    fuzz::smoke()?;
    soak(&["--minutes".to_owned(), "2".to_owned()])?;
    Ok(())
}

/// The fault-injection soak (`tests/src/bin/soak/`) against debug builds of the gateway, the
/// ones the test suite builds: emulator, Redis and gateway replicas on loopback.
fn soak(args: &[String]) -> Result<(), String> {
    build_gateway(&[])?;
    let mut run = vec!["run", "--locked", "-p", "e2e", "--bin", "soak", "--"];
    run.extend(args.iter().map(String::as_str));
    cargo(&run)
}

/// Stops at once, with the command to run, when a tool the suite needs is missing.
fn preflight() -> Result<(), String> {
    packages()?;
    redis()?;
    for (component, probe) in [
        ("rustfmt", ["fmt", "--version"]),
        ("clippy", ["clippy", "--version"]),
    ] {
        let ok = Command::new(cargo_bin())
            .args(probe)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return Err(format!(
                "{component} is missing: run `rustup component add {component}`"
            ));
        }
    }
    Ok(())
}

/// Builds the `zoho-gateway` binary with `profile` (`&[]` for the debug build the test suite
/// shares, `&["--release"]` for the benchmarks).
fn build_gateway(profile: &[&str]) -> Result<(), String> {
    let mut args = vec!["build"];
    args.extend_from_slice(profile);
    args.extend(["--locked", "-p", "gateway", "--bin", "zoho-gateway"]);
    cargo(&args)
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let shown = format!("cargo {}", args.join(" "));
    run_command("cargo", &shown, Command::new(cargo_bin()).args(args))
}

/// Runs `command` to its end, logging `shown` (its command line) first; an error names `program`
/// when it cannot start and `shown` when it fails. Every xtask step reports the same way.
fn run_command(program: &str, shown: &str, command: &mut Command) -> Result<(), String> {
    println!("xtask: {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not run {program}: {e}"))?;
    exited(status, shown)
}

/// `Ok` for a successful exit, else "`shown` failed (status)".
fn exited(status: ExitStatus, shown: &str) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// A Debian package the suite needs, and the tools it must put on PATH.
struct Package {
    name: &'static str,
    tools: &'static [&'static str],
    why: &'static str,
}

/// `promtool` for the rule checks and rule unit tests, `prometheus` for the end-to-end dashboard
/// test; `redis-server` for the Redis store tests that stop and restart their own Redis.
const PACKAGES: [Package; 2] = [
    Package {
        name: "prometheus",
        tools: &["promtool", "prometheus"],
        why: "rule checks and the dashboard test",
    },
    Package {
        name: "redis-server",
        tools: &["redis-server"],
        why: "the Redis token store tests",
    },
];

/// Finds each package's tools; as root installs the package when one is missing (running
/// `apt-get update` first only if the install fails); otherwise stops with the command to run.
fn packages() -> Result<(), String> {
    for package in &PACKAGES {
        let missing = || -> Vec<&str> {
            package
                .tools
                .iter()
                .copied()
                .filter(|tool| !on_path(tool))
                .collect()
        };
        if missing().is_empty() {
            continue;
        }
        let command = format!(
            "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
            package.name
        );
        if !is_root() {
            return Err(format!(
                "{} missing ({}): run `{command}`",
                missing().join(" and "),
                package.why
            ));
        }
        println!(
            "xtask: installing Debian's {} package ({})",
            package.name, package.why
        );
        let install = || apt_get(&["install", "-y", "--no-install-recommends", package.name]);
        if install().is_err() {
            apt_get(&["update"])?;
            install()?;
        }
        if !missing().is_empty() {
            return Err(format!(
                "{} still missing after installing {}: run `{command}`",
                missing().join(" and "),
                package.name
            ));
        }
    }
    Ok(())
}

/// The Redis the shared-store tests use: `REDIS_URL`, else 127.0.0.1:6379 — started here (no
/// persistence) when nothing answers there.
fn redis() -> Result<(), String> {
    if std::env::var_os("REDIS_URL").is_some() {
        return Ok(());
    }
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], 6379));
    let up = || {
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(1)).is_ok()
    };
    if up() {
        return Ok(());
    }
    println!("xtask: starting redis-server on 127.0.0.1:6379");
    let status = Command::new("redis-server")
        .args([
            "--port",
            "6379",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
        ])
        .status()
        .map_err(|e| format!("could not run redis-server: {e}"))?;
    for _ in 0..50 {
        if up() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!(
        "redis-server did not come up on {address} ({status}); start Redis or set REDIS_URL"
    ))
}

fn apt_get(args: &[&str]) -> Result<(), String> {
    let shown = format!("apt-get {}", args.join(" "));
    run_command(
        "apt-get",
        &shown,
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `promtool check rules`, `promtool test rules` and `promtool check config` on deploy/prometheus.
fn prometheus_checks() -> Result<(), String> {
    let rules = yaml_files("deploy/prometheus/rules")?;
    let tests = yaml_files("deploy/prometheus/tests")?;
    promtool(&["check", "rules"], &rules)?;
    promtool(&["test", "rules"], &tests)?;
    promtool(
        &["check", "config"],
        &["deploy/prometheus/prometheus.yml".to_owned()],
    )
}

/// The `*.yml` files of `dir` (relative to the workspace root), sorted; at least one.
fn yaml_files(dir: &str) -> Result<Vec<String>, String> {
    let mut files: Vec<String> = std::fs::read_dir(workspace_root().join(dir))
        .map_err(|e| format!("{dir}: {e}"))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.yml files in {dir}"));
    }
    Ok(files)
}

fn promtool(command: &[&str], files: &[String]) -> Result<(), String> {
    println!("xtask: promtool {} {}", command.join(" "), files.join(" "));
    let status = Command::new("promtool")
        .args(command)
        .args(files)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not run promtool: {e}"))?;
    // The log line names the files too; the error, only the command.
    exited(status, &format!("promtool {}", command.join(" ")))
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn every_command_answers_help_without_running() {
        for command in &COMMANDS {
            for flag in ["--help", "-h"] {
                let parsed = parse(&args(&format!("{} {flag}", command.name)));
                let Ok(Task::Help(text)) = parsed else {
                    panic!("`{} {flag}` runs the command: {parsed:?}", command.name);
                };
                assert!(text.contains(command.synopsis), "{text}");
            }
        }
        // After other arguments too: `bench --quick --help` must not run the bench.
        assert!(matches!(
            parse(&args("bench --quick --help")),
            Ok(Task::Help(_))
        ));
        assert!(matches!(parse(&args("fuzz config -h")), Ok(Task::Help(_))));
    }

    #[test]
    fn commands_parse_their_arguments() {
        assert_eq!(
            parse(&args("bench --quick")),
            Ok(Task::Bench { quick: true })
        );
        assert_eq!(parse(&args("bench")), Ok(Task::Bench { quick: false }));
        assert_eq!(
            parse(&args("soak --minutes 3")),
            Ok(Task::Soak(args("--minutes 3")))
        );
        assert_eq!(
            parse(&args("fuzz --smoke")),
            Ok(Task::Fuzz(args("--smoke")))
        );
        assert_eq!(parse(&args("ci")), Ok(Task::Ci));
        assert_eq!(parse(&args("k8s-rules")), Ok(Task::K8sRules));
        assert!(parse(&args("deploy")).is_err());
        for help in ["", "help", "--help", "-h"] {
            let Ok(Task::Help(text)) = parse(&args(help)) else {
                panic!("{help:?} is not help");
            };
            assert!(COMMANDS.iter().all(|c| text.contains(c.synopsis)), "{text}");
        }
    }
}
