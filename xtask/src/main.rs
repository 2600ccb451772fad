//! Repository automation: `cargo xtask <command>`. Rust, not shell, so it cannot rot silently.
//!
//! - `ci`: everything CI checks, in order — formatting, clippy with warnings denied, and the whole
//!   test suite (unit, integration, doc tests, and the tidy checks in this crate).

use std::process::{Command, ExitCode};

mod tidy;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("help") | Some("--help") | Some("-h") | None => {
            println!(
                "usage: cargo xtask <command>\n\ncommands:\n  ci    fmt --check, clippy -D warnings, the whole test suite"
            );
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}; try `cargo xtask help`")),
    };
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
    Ok(())
}

/// Stops at once, with the command to run, when a tool the suite needs is missing.
fn preflight() -> Result<(), String> {
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

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn cargo(args: &[&str]) -> Result<(), String> {
    println!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo_bin())
        .args(args)
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}
