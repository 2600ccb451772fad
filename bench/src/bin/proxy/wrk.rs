//! `wrk`: the load, its output parsed, its runs summarised.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bench::median;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::procfs::{cpu_ms_of, status_kb};

pub const WRK_THREADS: u32 = 2;
pub const WRK_CONNECTIONS: u32 = 16;

/// One load target.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    pub route: &'static str,
    pub url: String,
    /// The process whose CPU time is charged to this target (besides the upstream).
    pub pids: Vec<u32>,
}

/// What one `wrk` run reported.
#[derive(Debug, Clone, Default)]
pub struct WrkRun {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub errors: u64,
    pub cpu_ms_per_1k: Option<f64>,
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

/// Runs wrk against `target` for `seconds`, sampling the gateway's RSS meanwhile.
pub async fn wrk(
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

pub fn summarize(runs: &[WrkRun]) -> Value {
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
