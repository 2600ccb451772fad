//! The gateway launcher: the real `zoho-gateway` binary as a child process, with a clean
//! environment and working directory, its listeners read from the line it prints once bound.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::{TempDir, assert_no_secrets};

/// What the gateway prints on stdout once both listeners are bound.
const LISTENING: &str = "zoho-gateway listening: ";

/// The binary built beside the caller: target/<profile>/zoho-gateway, next to a program of this
/// workspace (e.g. the soak) or one level above a test executable (which lives in deps/).
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

/// How to start a gateway: [`Launch::serve`] or [`Launch::with_args`], adjusted, then
/// [`Launch::start`].
#[derive(Debug, Clone)]
pub struct Launch {
    binary: Option<PathBuf>,
    wrapper: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log_file: Option<PathBuf>,
    startup: Duration,
}

impl Launch {
    /// `zoho-gateway serve` with both listeners on port 0 and exactly `env` (plus PATH).
    pub fn serve(env: &[(String, String)]) -> Launch {
        Launch::with_args(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ],
            env,
        )
    }

    /// `zoho-gateway <args>` with exactly `env` (plus PATH).
    pub fn with_args(args: &[&str], env: &[(String, String)]) -> Launch {
        Launch {
            binary: None,
            wrapper: Vec::new(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env.to_vec(),
            log_file: None,
            startup: Duration::from_secs(30),
        }
    }

    /// Runs this binary instead of [`binary()`] (e.g. a release build a benchmark measures).
    /// Absolute: the process runs in a directory of its own.
    pub fn binary(mut self, path: &Path) -> Launch {
        self.binary = Some(path.to_owned());
        self
    }

    /// Runs the binary under `command` (`valgrind --tool=callgrind …`).
    pub fn wrapper(mut self, command: &[String]) -> Launch {
        self.wrapper = command.to_vec();
        self
    }

    /// Sends stdout and stderr to `path` instead of collecting them, for output too large to
    /// hold (a benchmark's request log). The secret scan on drop is then the caller's.
    pub fn log_file(mut self, path: &Path) -> Launch {
        self.log_file = Some(path.to_owned());
        self
    }

    /// How long (real time) the process gets to print its listening line; 30 s unless set.
    pub fn startup_timeout(mut self, patience: Duration) -> Launch {
        self.startup = patience;
        self
    }

    /// Spawns the process and waits for its listening line.
    pub async fn start(self) -> Gateway {
        let workdir = TempDir::new();
        let binary = self.binary.clone().unwrap_or_else(binary);
        let argv = self
            .wrapper
            .iter()
            .map(Into::into)
            .chain([binary.into_os_string()])
            .chain(self.args.iter().map(Into::into));
        let mut command = command(argv, &workdir.0, &self.env);
        command.stdin(Stdio::null()).kill_on_drop(true);
        let output = match &self.log_file {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                command
                    .stdout(file.try_clone().expect("log handle"))
                    .stderr(file);
                Output::File(path.clone())
            }
            None => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
                Output::Collected(Arc::new(Mutex::new(String::new())))
            }
        };
        let mut child = command.spawn().expect("spawn zoho-gateway");
        let listening = match &output {
            Output::Collected(sink) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                collect(child.stdout.take().expect("stdout"), sink.clone(), Some(tx));
                collect(child.stderr.take().expect("stderr"), sink.clone(), None);
                tokio::time::timeout(self.startup, rx)
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Output::File(path) => tokio::time::timeout(self.startup, listening_in(path))
                .await
                .ok(),
        };
        let mut gateway = Gateway {
            api: String::new(),
            admin: String::new(),
            child,
            scan_on_drop: matches!(output, Output::Collected(_)),
            output,
            _workdir: workdir,
        };
        let Some(listening) = listening else {
            let _ = gateway.child.start_kill();
            panic!("zoho-gateway did not start:\n{}", gateway.output());
        };
        let field = |name: &str| {
            listening
                .split_whitespace()
                .find_map(|part| part.strip_prefix(name))
                .map(str::to_owned)
                .expect("listening line fields")
        };
        gateway.api = field("api=");
        gateway.admin = field("admin=");
        gateway
    }
}

/// Appends every line of `stream` to `sink`; the first listening line also goes to `announce`.
fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    sink: Arc<Mutex<String>>,
    mut announce: Option<tokio::sync::oneshot::Sender<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix(LISTENING)
                && let Some(tx) = announce.take()
            {
                let _ = tx.send(rest.to_owned());
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
}

/// Polls the log file until it holds a complete listening line; returns what follows the prefix.
async fn listening_in(path: &Path) -> String {
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found = text
            .split_inclusive('\n')
            .find_map(|line| line.strip_prefix(LISTENING)?.strip_suffix('\n'));
        if let Some(rest) = found {
            return rest.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Where a gateway's output goes.
#[derive(Debug)]
enum Output {
    /// Collected in memory by the pipe readers (each holds a clone until its stream ends).
    Collected(Arc<Mutex<String>>),
    /// Written to a file.
    File(PathBuf),
}

/// A running gateway process. Killed when dropped; see the `Drop` impl for the secret scan.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:<port>` of the API listener.
    pub api: String,
    /// `http://127.0.0.1:<port>` of the admin listener.
    pub admin: String,
    output: Output,
    /// Whether dropping it scans the output (see the `Drop` impl): only collected output, and
    /// not once [`Gateway::finish`] has handed it to the caller.
    scan_on_drop: bool,
    _workdir: TempDir,
}

impl Gateway {
    /// Starts `zoho-gateway serve` on port 0 with exactly `env` (plus PATH) and waits for it to
    /// announce its listeners.
    pub async fn start(env: &[(String, String)]) -> Gateway {
        Launch::serve(env).start().await
    }

    /// Starts the binary with `args`; waits for the listening line.
    pub async fn start_with_args(args: &[&str], env: &[(String, String)]) -> Gateway {
        Launch::with_args(args, env).start().await
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        match &self.output {
            Output::Collected(sink) => sink.lock().unwrap().clone(),
            Output::File(path) => std::fs::read_to_string(path).unwrap_or_default(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Waits (real time, up to `within`) until `GET /readyz` on the admin listener answers 200.
    pub async fn ready(&self, within: Duration) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ready = http
                .get(format!("{}/readyz", self.admin))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "zoho-gateway at {} did not become ready",
                self.admin
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// One scrape of `GET /metrics` on the admin listener, as text (the e2e tests read it).
    pub async fn metrics(&self) -> String {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        http.get(format!("{}/metrics", self.admin))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("scrape body")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
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

    /// Stops it the way an orchestrator does: SIGTERM, up to 30 s to drain, then SIGKILL. The
    /// secret scan runs as the value drops.
    pub async fn stop(mut self) {
        if self.child.id().is_some() {
            self.terminate();
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

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
        let Output::Collected(sink) = &self.output else {
            return;
        };
        let workers_drain = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if workers_drain {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while Arc::strong_count(sink) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The secret scan of everything the process printed, for every test that starts a gateway:
/// the process is stopped (as `kill_on_drop` would a moment later), what it printed last is
/// collected, and [`assert_no_secrets`] runs over the whole output. Skipped while the test is
/// already panicking, so a failing test reports its own failure, and for output sent to a file.
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
    let argv = std::iter::once(binary().into_os_string()).chain(args.iter().map(Into::into));
    let mut command = command(argv, &workdir.0, env);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("finished in time")
        .expect("ran");
    let text = crate::combined_output(&output);
    (output.status.code(), text)
}

/// `argv` run in `dir` with exactly `env` plus PATH: nothing of the caller's environment leaks
/// into the gateway's configuration.
fn command(
    mut argv: impl Iterator<Item = std::ffi::OsString>,
    dir: &Path,
    env: &[(String, String)],
) -> Command {
    let mut command = Command::new(argv.next().expect("a program"));
    command
        .args(argv)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}
