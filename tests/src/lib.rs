//! The end-to-end harness: runs the real `zoho-gateway` binary as a child process on port 0,
//! with a clean environment and working directory, against a zoho-sim started by the test.

pub mod redis;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zoho_sim::SimHandle;

/// Real time a gateway gets to print its listening line.
const STARTUP: Duration = Duration::from_secs(30);

/// The binary built beside the caller: target/<profile>/zoho-gateway, next to a program of this
/// crate (e.g. the soak) or one level above a test executable (which lives in deps/).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("target/<profile>");
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().expect("target/<profile>")
    } else {
        dir
    };
    let binary = profile_dir.join("zoho-gateway");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p gateway --bin zoho-gateway` (cargo xtask ci does)",
        binary.display()
    );
    binary
}

/// Environment pointing a gateway at `sim`, with its seeded credentials.
pub fn zoho_env(sim: &SimHandle) -> Vec<(String, String)> {
    [
        (
            "ZOHO_DESK_CLIENT_ID",
            zoho_sim::DEFAULT_CLIENT_ID.to_owned(),
        ),
        (
            "ZOHO_DESK_CLIENT_SECRET",
            zoho_sim::DEFAULT_CLIENT_SECRET.to_owned(),
        ),
        (
            "ZOHO_DESK_REFRESH_TOKEN",
            zoho_sim::DEFAULT_REFRESH_TOKEN.to_owned(),
        ),
        ("ZOHO_DESK_ORG_ID", sim.desk_org_id()),
        ("ZOHO_ACCOUNTS_URL", sim.accounts_url()),
        ("ZOHO_DESK_API_URL", sim.desk_url()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A running gateway process. Killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:<port>` of the API listener.
    pub api: String,
    /// `http://127.0.0.1:<port>` of the admin listener.
    pub admin: String,
    output: Arc<Mutex<String>>,
    /// Whether dropping it scans the output (see the `Drop` impl); off once [`Gateway::finish`]
    /// has handed the output to the caller.
    scan_on_drop: bool,
    _workdir: TempDir,
}

impl Gateway {
    /// Starts `zoho-gateway serve` on port 0 with exactly `env` (plus PATH) and waits for it to
    /// announce its listeners.
    pub async fn start(env: &[(String, String)]) -> Gateway {
        Self::start_with_args(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ],
            env,
        )
        .await
    }

    /// Starts the binary with `args`; waits for the listening line.
    pub async fn start_with_args(args: &[&str], env: &[(String, String)]) -> Gateway {
        let workdir = TempDir::new();
        let mut child = command(&workdir.0, args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn zoho-gateway");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let sink = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("zoho-gateway listening: ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.to_owned());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let sink = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let announced = tokio::time::timeout(STARTUP, rx).await;
        let Ok(Ok(listening)) = announced else {
            let _ = child.start_kill();
            panic!("zoho-gateway did not start:\n{}", output.lock().unwrap());
        };
        let field = |name: &str| {
            listening
                .split_whitespace()
                .find_map(|part| part.strip_prefix(name))
                .map(str::to_owned)
                .expect("listening line fields")
        };
        Gateway {
            api: field("api="),
            admin: field("admin="),
            child,
            output,
            scan_on_drop: true,
            _workdir: workdir,
        }
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Sends SIGKILL (`kill -9`): no draining, no flushing.
    pub fn kill(&mut self) {
        self.child.start_kill().expect("kill");
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> ExitStatus {
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("exited in time")
            .expect("wait")
    }
}

impl Gateway {
    /// Stops the process (if still running) and returns everything it printed, leaving the
    /// secret scan to the caller (e.g. a program that reports findings instead of panicking).
    pub fn finish(mut self) -> String {
        self.stop_and_drain();
        self.scan_on_drop = false;
        self.output()
    }

    /// Kills the process and waits (up to 2 s, on a multi-threaded runtime whose workers drain
    /// the pipes) for what it printed last.
    fn stop_and_drain(&mut self) {
        let _ = self.child.start_kill();
        let workers_drain = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if workers_drain {
            // Each pipe reader holds a clone of `output` until its stream ends.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while Arc::strong_count(&self.output) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The secret scan of everything the process printed, for every test that starts a gateway:
/// the process is stopped (as `kill_on_drop` would a moment later), what it printed last is
/// collected, and [`assert_no_secrets`] runs over the whole output. Skipped while the test is
/// already panicking, so a failing test reports its own failure.
impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() || !self.scan_on_drop {
            return;
        }
        self.stop_and_drain();
        assert_no_secrets("zoho-gateway output (stdout and stderr)", &self.output());
    }
}

/// Runs the binary to completion (e.g. a configuration error); returns exit code and output.
pub async fn run(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String) {
    let workdir = TempDir::new();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        command(&workdir.0, args, env).output(),
    )
    .await
    .expect("finished in time")
    .expect("ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

fn command(dir: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// A fresh working directory (no stray `.env` files), removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates it.
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("zoho-gateway-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The secret scanner
// ---------------------------------------------------------------------------------------------

/// Secrets registered by tests (API keys, …) that must never appear anywhere.
static REGISTERED_SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds `secret` (e.g. a raw API key given to a gateway) to what [`assert_no_secrets`] looks
/// for, in every scan of this test binary from now on.
pub fn register_secret(secret: &str) {
    let mut secrets = REGISTERED_SECRETS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !secret.is_empty() && !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
    }
}

/// The first secret in `text`: what kind it is and its byte range. Looks for the emulator's
/// client secret and refresh token, every [`register_secret`]ed value, and anything of the
/// shape of a Zoho token, `1000.<32 lowercase hex>.<32 lowercase hex>` (every access token the
/// emulator mints, and its seeded refresh token).
pub fn find_secret(text: &str) -> Option<(&'static str, std::ops::Range<usize>)> {
    let exact = |needle: &str| text.find(needle).map(|at| at..at + needle.len());
    if let Some(range) = exact(zoho_sim::DEFAULT_CLIENT_SECRET) {
        return Some(("the OAuth client secret", range));
    }
    if let Some(range) = exact(zoho_sim::DEFAULT_REFRESH_TOKEN) {
        return Some(("the refresh token", range));
    }
    let registered = REGISTERED_SECRETS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(range) = registered.iter().find_map(|secret| exact(secret)) {
        return Some(("a registered secret (API key)", range));
    }
    find_token_shape(text).map(|range| ("a full Zoho token (1000.<hex>.<hex>)", range))
}

/// The first match of `1000\.[0-9a-f]{32}\.[0-9a-f]{32}` in `text`.
pub fn find_token_shape(text: &str) -> Option<std::ops::Range<usize>> {
    const PREFIX: &str = "1000.";
    const LEN: usize = PREFIX.len() + 32 + 1 + 32;
    let bytes = text.as_bytes();
    let hex = |b: &[u8]| b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    text.match_indices(PREFIX).find_map(|(at, _)| {
        let candidate = bytes.get(at..at + LEN)?;
        let rest = &candidate[PREFIX.len()..];
        (hex(&rest[..32]) && rest[32] == b'.' && hex(&rest[33..])).then_some(at..at + LEN)
    })
}

/// Fails the test if `text` holds a secret (see [`find_secret`]): a full Zoho token, the client
/// secret, the refresh token or a registered API key. The failure names `what` was scanned, the
/// kind of secret and the line it is on, with the secret itself cut to a short preview.
pub fn assert_no_secrets(what: &str, text: &str) {
    if let Some((kind, range)) = find_secret(text) {
        let line_start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[range.end..]
            .find('\n')
            .map_or(text.len(), |i| range.end + i);
        let line_number = text[..range.start].matches('\n').count() + 1;
        let preview: String = text[range.clone()].chars().take(8).collect();
        let shown = format!(
            "{}{preview}…[redacted]{}",
            &text[line_start..range.start],
            &text[range.end..line_end]
        );
        panic!("{what} contains {kind} on line {line_number}:\n{shown}");
    }
}

/// Fails the test if a header value holds a secret.
pub fn assert_no_secrets_in_headers(what: &str, headers: &reqwest::header::HeaderMap) {
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert_no_secrets(&format!("{what}: header {name}"), &value);
    }
}

/// A response read whole after its status line, headers and body passed the secret scan.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The status.
    pub status: reqwest::StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

impl Scanned {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Reads `response` whole and fails the test if its headers or body hold a secret.
pub async fn scan_response(what: &str, response: reqwest::Response) -> Scanned {
    let status = response.status();
    let headers = response.headers().clone();
    assert_no_secrets_in_headers(what, &headers);
    let bytes = response.bytes().await.expect("response body");
    let body = String::from_utf8_lossy(&bytes).into_owned();
    assert_no_secrets(&format!("{what}: body"), &body);
    Scanned {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod scanner_tests {
    use super::*;

    const TOKEN: &str = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210";

    #[test]
    fn finds_the_token_shape_and_nothing_like_it() {
        assert_eq!(
            find_token_shape(&format!("x={TOKEN};")),
            Some(2..2 + TOKEN.len())
        );
        for near_miss in [
            "1000.0123456789abcdef…", // a preview
            "1000.0123456789ABCDEF0123456789abcdef.fedcba9876543210fedcba9876543210", // upper case
            "1000.0123456789abcdef0123456789abcde.fedcba9876543210fedcba9876543210", // 31 hex
            "1000.0123456789abcdef0123456789abcdef-fedcba9876543210fedcba9876543210", // no dot
            "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba987654321", // cut short
        ] {
            assert_eq!(find_token_shape(near_miss), None, "{near_miss}");
        }
        assert!(find_secret(zoho_sim::DEFAULT_CLIENT_SECRET).is_some());
        assert_eq!(
            find_secret(zoho_sim::DEFAULT_REFRESH_TOKEN).map(|(kind, _)| kind),
            Some("the refresh token")
        );
    }

    #[test]
    fn registered_secrets_are_found_and_never_printed_whole() {
        let key = "scanner-test-key-5f0e1d2c3b4a";
        assert!(find_secret(&format!("key={key}")).is_none());
        register_secret(key);
        let text = format!("line one\nAuthorization: Bearer {key} (end)\nline three");
        let message = std::panic::catch_unwind(|| assert_no_secrets("a test text", &text))
            .expect_err("found")
            .downcast::<String>()
            .expect("a message");
        assert!(message.contains("a registered secret"), "{message}");
        assert!(message.contains("on line 2"), "{message}");
        assert!(
            message.contains("Bearer scanner-…[redacted] (end)"),
            "{message}"
        );
        assert!(!message.contains(key), "{message}");
        assert_no_secrets("clean text", "line one\nnothing here");
    }
}
