//! The end-to-end harness: runs the real `zoho-gateway` binary as a child process on port 0,
//! with a clean environment and working directory, against a zoho-sim started by the test.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zoho_sim::SimHandle;

/// Real time a gateway gets to print its listening line.
const STARTUP: Duration = Duration::from_secs(30);

/// The binary built by `cargo test --workspace` (target/<profile>/zoho-gateway, beside deps/).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
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

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> ExitStatus {
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("exited in time")
            .expect("wait")
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
