//! `cargo xtask fuzz`: the libFuzzer targets in `fuzz/` (see `fuzz/README.md`).
//!
//! - `--smoke` replays every seed of `fuzz/corpus/<target>/` through its target once and fails on
//!   any crash. It builds with `--dev` and no sanitizer: an unoptimised build is several times
//!   quicker to compile than cargo-fuzz's release build, and a replay of a few dozen inputs does
//!   not need the speed.
//! - `<target> [--minutes N]` runs a real campaign (default 10 minutes) at the lowest CPU
//!   priority: release build with AddressSanitizer, new corpus entries under
//!   `fuzz/target/corpus/<target>/` (the seeds stay as they are), crashes under
//!   `fuzz/artifacts/<target>/`, the log under `fuzz/target/logs/<target>.log`.
//!
//! Only stable Rust is needed: cargo-fuzz is installed when missing, and `RUSTC_BOOTSTRAP=1` lets
//! stable rustc accept the `-Zsanitizer` flag a campaign build uses.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{cargo_bin, exited, on_path, run_command, workspace_root};

/// Every target: `fuzz/fuzz_targets/<name>.rs`, seeds in `fuzz/corpus/<name>/`.
const TARGETS: [&str; 4] = ["token_response", "desk_error", "config", "passthrough_path"];

/// The cargo-fuzz release installed when none is found (the one these targets were built with).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

const DEFAULT_MINUTES: u64 = 10;

const USAGE: &str = "usage: cargo xtask fuzz --smoke | cargo xtask fuzz <target> [--minutes N]";

pub fn run(args: &[String]) -> Result<(), String> {
    match args {
        [flag] if flag == "--smoke" => smoke(),
        [target, rest @ ..] if !target.starts_with('-') => {
            let minutes = match rest {
                [] => DEFAULT_MINUTES,
                [flag, n] if flag == "--minutes" => {
                    n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("--minutes wants a whole number above 0, got {n:?}")
                    })?
                }
                _ => return Err(USAGE.to_owned()),
            };
            campaign(target, minutes)
        }
        _ => Err(USAGE.to_owned()),
    }
}

/// Replays every seed through its target once; any crash fails.
pub fn smoke() -> Result<(), String> {
    let dir = fuzz_dir();
    for target in TARGETS {
        // An empty seed directory would replay nothing and pass.
        let seeds = std::fs::read_dir(dir.join("corpus").join(target))
            .map(|entries| entries.count())
            .unwrap_or(0);
        if seeds == 0 {
            return Err(format!("no seeds in fuzz/corpus/{target}/"));
        }
    }
    ensure_cargo_fuzz()?;
    cargo_fuzz(&["build", "--dev", "-s", "none"])?;
    for target in TARGETS {
        let seeds = format!("corpus/{target}");
        cargo_fuzz(&[
            "run", "--dev", "-s", "none", target, &seeds, "--", "-runs=0",
        ])?;
    }
    println!("xtask: fuzz smoke passed: every seed of {TARGETS:?} replayed without a crash");
    Ok(())
}

/// One libFuzzer campaign of `minutes` on `target`, one job, at the lowest CPU priority.
fn campaign(target: &str, minutes: u64) -> Result<(), String> {
    if !TARGETS.contains(&target) {
        return Err(format!(
            "unknown fuzz target {target:?}; targets: {TARGETS:?}"
        ));
    }
    ensure_cargo_fuzz()?;
    let dir = fuzz_dir();
    // The first corpus directory receives what the campaign finds; keep it out of the seeds.
    let grown = format!("target/corpus/{target}");
    let logs = dir.join("target/logs");
    for path in [dir.join(&grown), logs.clone()] {
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let seeds = format!("corpus/{target}");
    let max_time = format!("-max_total_time={}", minutes * 60);
    let mut args = vec![
        "run",
        "-s",
        "address",
        target,
        &grown,
        &seeds,
        "--",
        &max_time,
        "-print_final_stats=1",
    ];
    let dict_path = format!("dicts/{target}.dict");
    let dict = format!("-dict={dict_path}");
    if dir.join(&dict_path).is_file() {
        args.push(&dict);
    }
    let log = logs.join(format!("{target}.log"));
    let result = cargo_fuzz_logged(&args, &log);
    println!("xtask: campaign log: {}", log.display());
    result
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

/// Installs cargo-fuzz when `cargo fuzz` is not available.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new(cargo_bin())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    crate::cargo(&[
        "install",
        "cargo-fuzz",
        "--locked",
        "--version",
        CARGO_FUZZ_VERSION,
    ])
}

/// `cargo fuzz <args>` in `fuzz/`, optionally at the lowest CPU priority.
fn cargo_fuzz_command(args: &[&str], nice: bool) -> Command {
    let mut command = if nice && on_path("nice") {
        let mut nice = Command::new("nice");
        nice.args(["-n", "19"]).arg(cargo_bin());
        nice
    } else {
        Command::new(cargo_bin())
    };
    command
        .arg("fuzz")
        .args(args)
        .current_dir(fuzz_dir())
        // Stable rustc refuses `-Z` flags (here `-Zsanitizer`) without it.
        .env("RUSTC_BOOTSTRAP", "1");
    command
}

fn cargo_fuzz(args: &[&str]) -> Result<(), String> {
    let shown = format!("cargo fuzz {}", args.join(" "));
    run_command("cargo fuzz", &shown, &mut cargo_fuzz_command(args, false))
}

/// Like [`cargo_fuzz`], niced, with libFuzzer's output (on stderr) also written to `log`.
fn cargo_fuzz_logged(args: &[&str], log: &Path) -> Result<(), String> {
    println!("xtask: nice -n 19 cargo fuzz {}", args.join(" "));
    let mut file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut child = cargo_fuzz_command(args, true)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run cargo fuzz: {e}"))?;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line);
            eprintln!("{line}");
            // The log is a convenience: a full disk must not stop the campaign.
            let _ = writeln!(file, "{line}");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo fuzz did not finish: {e}"))?;
    exited(status, &format!("cargo fuzz {}", args.join(" ")))
        .map_err(|e| format!("{e}; a crash input is under fuzz/artifacts/"))
}
