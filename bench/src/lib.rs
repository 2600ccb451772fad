//! Shared helpers of the benchmark programs run by `cargo xtask bench`.
//!
//! Every program takes `--quick` (fewer repetitions, shorter runs) and `--out <file>` (where its
//! JSON result goes; stdout otherwise), prints progress on stderr, and asserts no timing: the
//! figures are for the report, which compares them side by side.

use std::time::Duration;

use serde_json::Value;

/// Command-line options common to the benchmark programs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fewer repetitions and shorter runs (`cargo xtask bench --quick`).
    pub quick: bool,
    /// Where to write the JSON result.
    pub out: Option<String>,
    /// `--name value` options this program knows itself.
    pub extra: Vec<(String, String)>,
}

impl Options {
    /// Parses `std::env::args()`.
    pub fn from_args() -> Options {
        let mut options = Options::default();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--out" => options.out = args.next(),
                name if name.starts_with("--") => {
                    let value = args.next().unwrap_or_default();
                    options
                        .extra
                        .push((name.trim_start_matches("--").to_owned(), value));
                }
                other => eprintln!("ignoring argument {other:?}"),
            }
        }
        options
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Writes `result` to `--out` (or stdout).
    pub fn write(&self, result: &Value) {
        let text = serde_json::to_string_pretty(result).expect("JSON");
        match &self.out {
            Some(path) => std::fs::write(path, text + "\n")
                .unwrap_or_else(|e| panic!("cannot write {path}: {e}")),
            None => println!("{text}"),
        }
    }
}

/// The runtime the wall-clock programs measure on: tokio multi-thread with 2 workers, the same
/// as the gateway has on this machine, so every program's figures compare.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The `q` quantile (0.0–1.0) of `values` by the nearest-rank method; 0 when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of `values` (mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Milliseconds as a float.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_medians() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
