//! The fault-injection soak behind `cargo xtask soak --minutes N`.
//!
//! One emulator (in this process), one private `redis-server`, several real `zoho-gateway`
//! replicas sharing their token through it, and constant mixed load (reads, searches, ticket
//! creates and updates, through typed and pass-through routes) while a schedule of faults runs
//! across the whole length: Desk latency, Desk 429s (concurrency and daily credits), Accounts
//! 5xx and latency during a refresh, dropped connections, a Redis restart, a replica killed and
//! restarted, an "Access Denied" window, the refresh token revoked (a static fallback token is
//! configured) and a re-consent rolled out replica by replica.
//!
//! It then checks what the promise is about: every client-visible error is explained by the
//! fault active when it happened (one no retry could hide), every acknowledged create exists in
//! the emulator exactly once and every acknowledged update is there, Zoho's refresh limits held,
//! nothing hung, and nothing the gateways printed or answered holds a secret. Writes
//! `target/soak/report.md` and `report.json`; exits 1 when any check fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use e2e::redis::PrivateRedis;
use e2e::{Gateway, find_secret, register_secret, zoho_env};
use serde_json::{Value, json};
use zoho_sim::{Fault, RefreshGrant, Route, SimConfig, SimHandle, Times, ZohoSim};

/// API keys of the load (write role) and of the operator forcing refreshes (admin role).
const WRITE_KEY: &str = "soak-load-key-7c1e2b9a4d60f3";
const ADMIN_KEY: &str = "soak-admin-key-3f8a6c0e5b91d2";
/// Client tasks driving the load, each one request at a time with a pause between requests.
const WORKERS: usize = 6;
const THINK_TIME: Duration = Duration::from_millis(40);
/// How long after a fault window closes an error may still be blamed on it (a request that
/// started inside the window, its retries, and the gateway's backoff).
const GRACE: Duration = Duration::from_secs(8);
/// A request taking longer than this is a hang, whatever the schedule was doing.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// Ample daily API credits for the run, so only the injected exhaustion runs them out.
const PLENTY_OF_CREDITS: u64 = 50_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("soak: {message}\nusage: soak [--minutes N] [--replicas N]");
            return ExitCode::from(2);
        }
    };
    let report = run(args).await;
    let markdown = report.markdown();
    println!("{markdown}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/soak");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("report.md"), &markdown))
        .and_then(|()| {
            std::fs::write(
                dir.join("report.json"),
                serde_json::to_string_pretty(&report.json()).expect("report as JSON"),
            )
        });
    if let Err(error) = written {
        eprintln!("soak: could not write {}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    eprintln!("soak: report written to {}", dir.display());
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("soak: FAILED:\n- {}", report.failures.join("\n- "));
        ExitCode::FAILURE
    }
}

struct Args {
    minutes: f64,
    replicas: usize,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            minutes: 2.0,
            replicas: 2,
        };
        let mut iter = std::env::args().skip(1);
        while let Some(flag) = iter.next() {
            let value = iter.next().ok_or(format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--minutes" => {
                    args.minutes = value
                        .parse()
                        .ok()
                        .filter(|m: &f64| (1.0..=1440.0).contains(m))
                        .ok_or(format!("--minutes {value}: a number from 1 to 1440"))?;
                }
                "--replicas" => {
                    args.replicas = value
                        .parse()
                        .ok()
                        .filter(|n| (2..=8).contains(n))
                        .ok_or(format!("--replicas {value}: 2 to 8"))?;
                }
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok(args)
    }
}

// ---------------------------------------------------------------------------------------------
// The fault schedule
// ---------------------------------------------------------------------------------------------

/// One kind of trouble the outside world makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injection {
    DeskLatency,
    DeskConcurrency,
    AccountsErrors,
    AccountsLatency,
    DroppedConnections,
    RedisRestart,
    ReplicaKill,
    DailyCredits,
    AccessDenied,
    Revoked,
    Reconsent,
}

/// When each fault is active, as fractions of the run. Windows never overlap, so each error
/// has at most one suspect.
const SCHEDULE: [(Injection, f64, f64); 11] = [
    (Injection::DeskLatency, 0.05, 0.11),
    (Injection::DeskConcurrency, 0.13, 0.19),
    (Injection::AccountsErrors, 0.21, 0.26),
    (Injection::AccountsLatency, 0.28, 0.33),
    (Injection::DroppedConnections, 0.35, 0.41),
    (Injection::RedisRestart, 0.43, 0.48),
    (Injection::ReplicaKill, 0.50, 0.55),
    (Injection::DailyCredits, 0.57, 0.62),
    (Injection::AccessDenied, 0.64, 0.69),
    (Injection::Revoked, 0.71, 0.82),
    (Injection::Reconsent, 0.84, 0.95),
];

impl Injection {
    fn name(self) -> &'static str {
        match self {
            Injection::DeskLatency => "desk_latency",
            Injection::DeskConcurrency => "desk_429_concurrency",
            Injection::AccountsErrors => "accounts_5xx",
            Injection::AccountsLatency => "accounts_latency",
            Injection::DroppedConnections => "desk_dropped_connections",
            Injection::RedisRestart => "redis_restart",
            Injection::ReplicaKill => "replica_kill",
            Injection::DailyCredits => "desk_429_daily_credits",
            Injection::AccessDenied => "accounts_access_denied",
            Injection::Revoked => "refresh_token_revoked",
            Injection::Reconsent => "reconsent_rollout",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Injection::DeskLatency => "every Desk call 500 ms slower",
            Injection::DeskConcurrency => {
                "the portal's concurrency limit cut from 10 to 2, Desk calls 300 ms slower"
            }
            Injection::AccountsErrors => "the token endpoint answers 503 (HTML); a refresh forced",
            Injection::AccountsLatency => "the token endpoint 3 s slower; a refresh forced",
            Injection::DroppedConnections => {
                "a Desk connection dropped without an answer every 750 ms"
            }
            Injection::RedisRestart => "Redis stopped; a refresh forced; Redis restarted empty",
            Injection::ReplicaKill => "one replica killed with SIGKILL, restarted at the end",
            Injection::DailyCredits => "the portal's daily API credits run out",
            Injection::AccessDenied => {
                "the token endpoint answers \"Access Denied\" (HTTP 200); a refresh forced"
            }
            Injection::Revoked => {
                "the refresh token revoked with its access tokens; the static fallback configured"
            }
            Injection::Reconsent => {
                "a new refresh token rolled out: each replica restarted (SIGTERM) in turn"
            }
        }
    }

    /// Whether this fault explains a client-visible error: only answers no retry could turn
    /// into a success while the fault lasts.
    fn explains(self, error: &Outcome, killed_replica: Option<usize>) -> bool {
        match self {
            // Zoho refuses the call; retrying inside the window only spends more credits.
            Injection::DeskConcurrency | Injection::DailyCredits => error.status == 429,
            // A write whose connection dropped may or may not have happened: the gateway must
            // not repeat it, so the client sees the failure (and no duplicate appears).
            Injection::DroppedConnections => {
                error.status == 502 && error.code == "zoho_unavailable" && error.op.is_write()
            }
            // Requests in flight on the process that was killed.
            Injection::ReplicaKill => {
                error.status == 0
                    && Some(error.replica) == killed_replica
                    && error.code != "timeout"
            }
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    ListTickets,
    GetTicket,
    SearchTickets,
    ListContacts,
    PassListTickets,
    PassAgents,
    CreateTicket,
    PassCreateTicket,
    UpdateTicket,
    PassUpdateTicket,
}

/// The mix each worker cycles through (from its own offset): 14 reads, 3 creates, 3 updates.
const MIX: [Op; 20] = [
    Op::ListTickets,
    Op::GetTicket,
    Op::UpdateTicket,
    Op::PassAgents,
    Op::SearchTickets,
    Op::CreateTicket,
    Op::ListContacts,
    Op::PassListTickets,
    Op::GetTicket,
    Op::PassUpdateTicket,
    Op::ListTickets,
    Op::PassCreateTicket,
    Op::GetTicket,
    Op::PassAgents,
    Op::SearchTickets,
    Op::UpdateTicket,
    Op::ListContacts,
    Op::CreateTicket,
    Op::PassListTickets,
    Op::GetTicket,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::ListTickets => "GET /tickets",
            Op::GetTicket => "GET /tickets/{id}",
            Op::SearchTickets => "GET /tickets/search",
            Op::ListContacts => "GET /contacts",
            Op::PassListTickets => "GET /v1/tickets (pass-through)",
            Op::PassAgents => "GET /v1/agents (pass-through)",
            Op::CreateTicket => "POST /tickets",
            Op::PassCreateTicket => "POST /v1/tickets (pass-through)",
            Op::UpdateTicket => "PATCH /tickets/{id}",
            Op::PassUpdateTicket => "PATCH /v1/tickets/{id} (pass-through)",
        }
    }

    fn is_write(self) -> bool {
        matches!(
            self,
            Op::CreateTicket | Op::PassCreateTicket | Op::UpdateTicket | Op::PassUpdateTicket
        )
    }
}

/// One request's result as the client saw it.
#[derive(Debug, Clone)]
struct Outcome {
    /// Seconds since the load started.
    at: f64,
    op: Op,
    replica: usize,
    /// HTTP status; 0 when no answer came (connection refused or reset, or the client timeout).
    status: u16,
    /// The error code from the body (`error.code` of the gateway, `errorCode` of a Zoho body
    /// passed through), `connection` or `timeout`; empty on success.
    code: String,
}

/// The replicas' API addresses as the load balancer sees them: `None` while one is out.
#[derive(Default)]
struct Pool {
    apis: RwLock<Vec<Option<String>>>,
}

impl Pool {
    fn pick(&self, n: usize) -> Option<(usize, String)> {
        let apis = self.apis.read().unwrap();
        let up: Vec<(usize, &String)> = apis
            .iter()
            .enumerate()
            .filter_map(|(i, api)| api.as_ref().map(|api| (i, api)))
            .collect();
        let (i, api) = up.get(n % up.len().max(1))?;
        Some((*i, (*api).clone()))
    }

    fn set(&self, replica: usize, api: Option<String>) {
        self.apis.write().unwrap()[replica] = api;
    }
}

/// A ticket create as the client saw it.
#[derive(Debug, Clone)]
struct Create {
    subject: String,
    acknowledged: bool,
}

/// One worker's ticket and the updates it sent: `description` = `soak update <n>`.
#[derive(Debug, Clone, Default)]
struct UpdateLog {
    ticket_id: String,
    last_acknowledged: Option<u64>,
    last_sent: Option<u64>,
}

/// What the load collects.
#[derive(Default)]
struct Recorder {
    outcomes: Mutex<Vec<Outcome>>,
    creates: Mutex<Vec<Create>>,
    secrets_in_responses: Mutex<Vec<String>>,
}

struct Load {
    pool: Arc<Pool>,
    recorder: Arc<Recorder>,
    started: Instant,
    department_id: String,
    contact_id: String,
    ticket_ids: Vec<String>,
    run: String,
}

impl Load {
    async fn worker(
        self: Arc<Self>,
        worker: usize,
        mut updates: UpdateLog,
        stop: Arc<AtomicBool>,
    ) -> UpdateLog {
        let client = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client");
        let mut n = worker * 7;
        let mut sequence = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let op = MIX[n % MIX.len()];
            n += 1;
            sequence += 1;
            let Some((replica, api)) = self.pool.pick(n) else {
                tokio::time::sleep(THINK_TIME).await;
                continue;
            };
            let base = format!("{api}/api/zoho-desk");
            let seeded = &self.ticket_ids[n % self.ticket_ids.len()];
            let subject = format!("soak {} w{worker} n{sequence}", self.run);
            let new_ticket = json!({
                "subject": subject,
                "departmentId": self.department_id,
                "contactId": self.contact_id,
            });
            let update = json!({ "description": format!("soak update {sequence}") });
            let request = match op {
                Op::ListTickets => client.get(format!("{base}/tickets?limit=10")),
                Op::GetTicket => client.get(format!("{base}/tickets/{seeded}")),
                Op::SearchTickets => client.get(format!("{base}/tickets/search?subject=soak")),
                Op::ListContacts => client.get(format!("{base}/contacts?limit=5")),
                Op::PassListTickets => client.get(format!("{base}/v1/tickets?limit=5")),
                Op::PassAgents => client.get(format!("{base}/v1/agents")),
                Op::CreateTicket => client.post(format!("{base}/tickets")).json(&new_ticket),
                Op::PassCreateTicket => client.post(format!("{base}/v1/tickets")).json(&new_ticket),
                Op::UpdateTicket => client
                    .patch(format!("{base}/tickets/{}", updates.ticket_id))
                    .json(&update),
                Op::PassUpdateTicket => client
                    .patch(format!("{base}/v1/tickets/{}", updates.ticket_id))
                    .json(&update),
            };
            if matches!(op, Op::UpdateTicket | Op::PassUpdateTicket) {
                updates.last_sent = Some(sequence);
            }
            let at = self.started.elapsed().as_secs_f64();
            let (status, code) = match request.bearer_auth(WRITE_KEY).send().await {
                Ok(response) => self.read(op, response).await,
                Err(error) if error.is_timeout() => (0, "timeout".to_owned()),
                Err(_) => (0, "connection".to_owned()),
            };
            let ok = (200..300).contains(&status);
            match op {
                Op::CreateTicket | Op::PassCreateTicket => {
                    self.recorder.creates.lock().unwrap().push(Create {
                        subject,
                        acknowledged: ok,
                    });
                }
                Op::UpdateTicket | Op::PassUpdateTicket if ok => {
                    updates.last_acknowledged = Some(sequence);
                }
                _ => {}
            }
            self.recorder.outcomes.lock().unwrap().push(Outcome {
                at,
                op,
                replica,
                status,
                code,
            });
            tokio::time::sleep(THINK_TIME).await;
        }
        updates
    }

    /// Reads a response whole, checks it for secrets, and returns its status and error code.
    async fn read(&self, op: Op, response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let headers: String = response
            .headers()
            .iter()
            .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
            .collect();
        let body = response.bytes().await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        for (part, text) in [("headers", headers.as_str()), ("body", &body)] {
            if let Some((kind, _)) = find_secret(text) {
                self.recorder
                    .secrets_in_responses
                    .lock()
                    .unwrap()
                    .push(format!(
                        "{kind} in the {part} of a {status} to {}",
                        op.name()
                    ));
            }
        }
        if (200..300).contains(&status) {
            return (status, String::new());
        }
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let code = json["error"]["code"]
            .as_str()
            .or(json["errorCode"].as_str())
            .map_or_else(|| format!("http_{status}"), str::to_owned);
        (status, code)
    }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// The emulator's token-endpoint counter, sampled every tick.
#[derive(Debug, Clone, Default)]
struct Sample {
    at: f64,
    token_requests: u64,
}

/// What the emulator counted, for differences across a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ZohoCounts {
    faults_injected: u64,
    token_requests: u64,
    tokens_minted: u64,
    desk_401: u64,
    desk_429_concurrency: u64,
    desk_429_credits: u64,
}

impl ZohoCounts {
    fn read(sim: &SimHandle) -> ZohoCounts {
        let stats = sim.stats();
        ZohoCounts {
            faults_injected: stats.faults_injected,
            token_requests: stats.token_requests,
            tokens_minted: stats.tokens_minted,
            // Desk routes are labelled `<METHOD> <path>`; Accounts routes have no path.
            desk_401: stats
                .by_route_status
                .iter()
                .filter(|(route, _)| route.contains('/'))
                .filter_map(|(_, statuses)| statuses.get(&401))
                .sum(),
            desk_429_concurrency: stats.desk_too_many_requests,
            desk_429_credits: stats.desk_threshold_exceeded,
        }
    }

    fn since(self, before: ZohoCounts) -> ZohoCounts {
        ZohoCounts {
            faults_injected: self.faults_injected - before.faults_injected,
            token_requests: self.token_requests - before.token_requests,
            tokens_minted: self.tokens_minted - before.tokens_minted,
            desk_401: self.desk_401 - before.desk_401,
            desk_429_concurrency: self.desk_429_concurrency - before.desk_429_concurrency,
            desk_429_credits: self.desk_429_credits - before.desk_429_credits,
        }
    }

    fn describe(self) -> String {
        let parts: Vec<String> = [
            ("faults injected", self.faults_injected),
            ("token requests", self.token_requests),
            ("minted", self.tokens_minted),
            ("Desk 401", self.desk_401),
            ("Desk 429 concurrency", self.desk_429_concurrency),
            ("Desk 429 credits", self.desk_429_credits),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
        if parts.is_empty() {
            "–".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What happened in one fault window.
#[derive(Debug, Clone)]
struct PhaseRecord {
    injection: Injection,
    start: f64,
    end: f64,
    /// What Zoho (the emulator) saw from the window's start to its end.
    zoho: ZohoCounts,
    /// The forced refresh's answer, for the Accounts faults.
    forced_refresh: Option<String>,
    /// Token states the replicas reported during the window (state, fallback, degraded).
    states_seen: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Report {
    minutes: f64,
    replicas: usize,
    token_lifetime: Duration,
    margin: Duration,
    outcomes: Vec<Outcome>,
    phases: Vec<PhaseRecord>,
    killed_replica: Option<usize>,
    unexplained: Vec<Outcome>,
    creates_acknowledged: usize,
    creates_failed_absent: usize,
    creates_failed_applied: usize,
    creates_lost: usize,
    creates_duplicated: usize,
    updates_checked: usize,
    updates_lost: usize,
    token_requests: u64,
    tokens_minted: u64,
    token_throttled_by_zoho: u64,
    evicted: usize,
    max_token_requests_10min: u64,
    secret_findings: Vec<String>,
    failures: Vec<String>,
}

/// The scenario around the load: everything a phase needs to act.
struct World {
    sim: SimHandle,
    /// The emulator's counters before the replicas started (the fallback's mint excluded).
    baseline: zoho_sim::SimStats,
    redis: PrivateRedis,
    env: Vec<(String, String)>,
    replicas: Vec<Option<Gateway>>,
    pool: Arc<Pool>,
    admin: reqwest::Client,
    primary_refresh_token: String,
    killed_replica: Option<usize>,
    /// Secrets found in the output of replicas already stopped.
    secret_findings: Vec<String>,
}

impl World {
    async fn start_replica(&mut self, index: usize) {
        let gateway = Gateway::start(&self.env).await;
        self.pool.set(index, Some(gateway.api.clone()));
        if let Some(old) = self.replicas[index].replace(gateway) {
            self.retire(old);
        }
    }

    /// Scans what a stopped replica printed.
    fn retire(&mut self, gateway: Gateway) {
        if let Some((kind, _)) = find_secret(&gateway.finish()) {
            self.secret_findings
                .push(format!("{kind} in the output of a replica"));
        }
    }

    async fn force_refresh(&self) -> String {
        let Some((_, api)) = self.pool.pick(0) else {
            return "no replica up".into();
        };
        let response = self
            .admin
            .post(format!("{api}/api/zoho-desk/token"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let detail = body["error"]["code"]
                    .as_str()
                    .or(body["message"].as_str())
                    .unwrap_or("");
                format!("{status} {detail}")
            }
            Err(error) => format!("no answer ({error})"),
        }
    }

    async fn begin(&mut self, injection: Injection) -> Option<String> {
        let sim = &self.sim;
        match injection {
            Injection::DeskLatency => sim.inject(
                Route::Desk,
                Fault::latency(Duration::from_millis(500)),
                Times::Always,
            ),
            Injection::DeskConcurrency => {
                // Slower calls overlap more, so the clients' calls do exceed the cut limit.
                sim.set_desk_concurrency_limit(2);
                sim.inject(
                    Route::Desk,
                    Fault::latency(Duration::from_millis(300)),
                    Times::Always,
                );
            }
            Injection::AccountsErrors => {
                sim.inject(Route::Token, Fault::Status { status: 503 }, Times::Always);
                return Some(self.force_refresh().await);
            }
            Injection::AccountsLatency => {
                sim.inject(
                    Route::Token,
                    Fault::latency(Duration::from_secs(3)),
                    Times::Always,
                );
                return Some(self.force_refresh().await);
            }
            // Driven by the scheduler's ticks (one drop per tick).
            Injection::DroppedConnections => {}
            Injection::RedisRestart => {
                self.redis.stop();
                // A refresh while the store is gone: the replica must fall back to refreshing
                // on its own (degraded) and keep serving.
                return Some(self.force_refresh().await);
            }
            Injection::ReplicaKill => {
                let index = self.replicas.len() - 1;
                self.pool.set(index, None);
                self.killed_replica = Some(index);
                if let Some(mut gateway) = self.replicas[index].take() {
                    gateway.kill();
                    gateway.wait().await;
                    self.retire(gateway);
                }
            }
            Injection::DailyCredits => sim.set_desk_daily_credits(0),
            Injection::AccessDenied => {
                sim.inject(
                    Route::Token,
                    Fault::Throttle {
                        style: zoho_sim::ThrottleStyle::Json200,
                    },
                    Times::Always,
                );
                return Some(self.force_refresh().await);
            }
            Injection::Revoked => {
                assert!(
                    sim.revoke_refresh_token(&self.primary_refresh_token),
                    "the refresh token was live"
                );
            }
            Injection::Reconsent => {
                let fresh = token_shaped("c0");
                register_secret(&fresh);
                sim.add_grant(grant(&fresh));
                for (name, value) in &mut self.env {
                    if name == "ZOHO_DESK_REFRESH_TOKEN" {
                        *value = fresh.clone();
                    }
                }
                for index in 0..self.replicas.len() {
                    self.pool.set(index, None);
                    if let Some(mut old) = self.replicas[index].take() {
                        // Requests already sent are answered during the drain.
                        old.terminate();
                        old.wait().await;
                        self.retire(old);
                    }
                    self.start_replica(index).await;
                }
            }
        }
        None
    }

    /// Repeated while a window is open (every 750 ms).
    fn tick(&self, injection: Injection) {
        if injection == Injection::DroppedConnections {
            self.sim.inject(Route::Desk, Fault::Drop, Times::Next(1));
        }
    }

    async fn end(&mut self, injection: Injection) {
        match injection {
            Injection::DeskConcurrency => self.sim.set_desk_concurrency_limit(10),
            Injection::DailyCredits => self.sim.set_desk_daily_credits(PLENTY_OF_CREDITS),
            Injection::RedisRestart => self.redis.restart(),
            Injection::ReplicaKill => {
                let index = self.killed_replica.expect("a replica was killed");
                self.start_replica(index).await;
            }
            _ => {}
        }
        self.sim.clear_faults();
    }

    /// `state[/fallback][/degraded]` of each replica up.
    async fn token_states(&self) -> Vec<String> {
        let apis: Vec<String> = self
            .pool
            .apis
            .read()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect();
        let mut states = Vec::new();
        for api in apis {
            let Ok(response) = self
                .admin
                .get(format!("{api}/api/zoho-desk/token"))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
            else {
                continue;
            };
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let mut state = body["state"].as_str().unwrap_or("?").to_owned();
            if body["fallback"] == true {
                state.push_str("/fallback");
            }
            if body["degraded"] == true {
                state.push_str("/degraded");
            }
            states.push(state);
        }
        states
    }
}

/// A string of the shape of a Zoho refresh token, unique to this run and `tag`.
fn token_shaped(tag: &str) -> String {
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "1000.{tag}{pid:08x}{:022x}.{:032x}",
        nanos & ((1 << 88) - 1),
        nanos
    )
}

fn grant(refresh_token: &str) -> RefreshGrant {
    RefreshGrant {
        client_id: zoho_sim::DEFAULT_CLIENT_ID.into(),
        refresh_token: refresh_token.to_owned(),
        scopes: zoho_sim::PROJECT_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

async fn run(args: Args) -> Report {
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    // Short enough that the run crosses several refresh points, long enough that Zoho's 10
    // refreshes per 10 minutes hold with the forced refreshes and the Redis restart on top.
    let token_lifetime = (total / 5).clamp(Duration::from_secs(60), Duration::from_secs(3600));
    let margin = token_lifetime / 4;
    let mut world = World::start(&args, total, token_lifetime, margin).await;
    let (load, update_logs) = world.prepare_load().await;
    let started = load.started;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = update_logs
        .into_iter()
        .enumerate()
        .map(|(worker, log)| tokio::spawn(load.clone().worker(worker, log, stop.clone())))
        .collect();

    let mut samples = Vec::new();
    let mut phases = Vec::new();
    for (injection, from, to) in SCHEDULE {
        sample_until(
            &world,
            &mut samples,
            started,
            started + total.mul_f64(from),
            None,
        )
        .await;
        let before = ZohoCounts::read(&world.sim);
        let start = started.elapsed().as_secs_f64();
        eprintln!(
            "soak: {start:7.1}s {} begins: {}",
            injection.name(),
            injection.describe()
        );
        let forced_refresh = world.begin(injection).await;
        let mut states_seen = BTreeMap::new();
        let until = started + total.mul_f64(to);
        let window = Some((injection, &mut states_seen));
        sample_until(&world, &mut samples, started, until, window).await;
        world.end(injection).await;
        phases.push(PhaseRecord {
            injection,
            start,
            end: started.elapsed().as_secs_f64(),
            zoho: ZohoCounts::read(&world.sim).since(before),
            forced_refresh,
            states_seen,
        });
    }
    sample_until(&world, &mut samples, started, started + total, None).await;
    stop.store(true, Ordering::Relaxed);
    let mut update_logs = Vec::new();
    for worker in workers {
        update_logs.push(worker.await.expect("worker"));
    }
    world.sim.clear_faults();
    eprintln!(
        "soak: {:7.1}s load stopped; checking",
        started.elapsed().as_secs_f64()
    );

    let recorder = &load.recorder;
    let mut report = Report {
        minutes: args.minutes,
        replicas: args.replicas,
        token_lifetime,
        margin,
        outcomes: recorder.outcomes.lock().unwrap().clone(),
        phases,
        killed_replica: world.killed_replica,
        secret_findings: recorder.secrets_in_responses.lock().unwrap().clone(),
        ..Report::default()
    };
    report.blame();
    report.check_creates(&world.sim, &recorder.creates.lock().unwrap());
    report.check_updates(&world, &update_logs).await;
    report.check_zoho_limits(&world, &samples);
    world.stop_replicas().await;
    report.secret_findings.append(&mut world.secret_findings);
    report.judge();
    report
}

impl World {
    /// The emulator with a static fallback token minted to outlive the run, a private Redis,
    /// and the replicas, started and serving.
    async fn start(
        args: &Args,
        total: Duration,
        token_lifetime: Duration,
        margin: Duration,
    ) -> World {
        let sim = ZohoSim::start(SimConfig {
            desk: zoho_sim::DeskConfig {
                daily_credits: PLENTY_OF_CREDITS,
                ..zoho_sim::DeskConfig::default()
            },
            ..SimConfig::default()
        })
        .await
        .expect("emulator");
        register_secret(WRITE_KEY);
        register_secret(ADMIN_KEY);
        let admin = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client");

        // The fallback comes from a grant of its own, as an operator would paste a token from
        // the API console; the primary grant's revocation does not touch it.
        let fallback_grant = token_shaped("fb");
        register_secret(&fallback_grant);
        sim.add_grant(grant(&fallback_grant));
        sim.set_token_lifetime(total + Duration::from_secs(3600));
        let fallback = sim
            .mint_access_token(&fallback_grant)
            .expect("a fallback token");
        register_secret(&fallback);
        sim.set_token_lifetime(token_lifetime);

        let redis = PrivateRedis::start();
        let mut env = zoho_env(&sim);
        for (name, value) in [
            ("REDIS_URL", redis.url()),
            ("ZOHO_TOKEN_ENCRYPTION_KEY", "5a".repeat(32)),
            ("ZOHO_DESK_ACCESS_TOKEN", fallback),
            (
                "ZOHO_TOKEN_REFRESH_MARGIN_SECS",
                margin.as_secs().to_string(),
            ),
            (
                "ZOHO_TOKEN_REFRESH_JITTER_SECS",
                (margin.as_secs() / 5).to_string(),
            ),
            (
                "GATEWAY_API_KEYS",
                format!("soak-load:write:{WRITE_KEY},soak-ops:admin:{ADMIN_KEY}"),
            ),
            // Rate limiting is the attack suite's subject; here it would only add noise.
            ("GATEWAY_RATE_LIMIT_PER_SECOND", "100000".into()),
            ("GATEWAY_RATE_LIMIT_BURST", "100000".into()),
            // The portal allows 10 calls at once; the replicas together stay below it.
            (
                "ZOHO_DESK_MAX_CONCURRENCY",
                (10 / args.replicas).to_string(),
            ),
        ] {
            env.push((name.to_owned(), value));
        }
        let pool = Arc::new(Pool::default());
        *pool.apis.write().unwrap() = vec![None; args.replicas];
        let mut world = World {
            baseline: sim.stats(),
            primary_refresh_token: zoho_sim::DEFAULT_REFRESH_TOKEN.to_owned(),
            sim,
            redis,
            env,
            replicas: (0..args.replicas).map(|_| None).collect(),
            pool,
            admin,
            killed_replica: None,
            secret_findings: Vec::new(),
        };
        for index in 0..args.replicas {
            world.start_replica(index).await;
        }
        world
    }

    /// The seeded ids the load reads and links to, and one ticket per worker to update.
    async fn prepare_load(&self) -> (Arc<Load>, Vec<UpdateLog>) {
        let (_, api) = self.pool.pick(0).expect("a replica");
        let call = |request: reqwest::RequestBuilder| async move {
            let response = request
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .expect("gateway");
            response.json::<Value>().await.expect("JSON")
        };
        let page = call(
            self.admin
                .get(format!("{api}/api/zoho-desk/tickets?limit=20")),
        )
        .await;
        let seeded = page["data"].as_array().expect("a page of tickets");
        let field = |name: &str| seeded[0][name].as_str().expect(name).to_owned();
        let (department_id, contact_id) = (field("departmentId"), field("contactId"));
        let run = format!("{:08x}", std::process::id());
        let mut logs = Vec::new();
        for worker in 0..WORKERS {
            let ticket = json!({
                "subject": format!("soak {run} updates of w{worker}"),
                "departmentId": department_id,
                "contactId": contact_id,
            });
            let created = call(
                self.admin
                    .post(format!("{api}/api/zoho-desk/tickets"))
                    .json(&ticket),
            )
            .await;
            logs.push(UpdateLog {
                ticket_id: created["id"].as_str().expect("ticket id").to_owned(),
                ..UpdateLog::default()
            });
        }
        let load = Load {
            pool: self.pool.clone(),
            recorder: Arc::default(),
            started: Instant::now(),
            ticket_ids: seeded
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect(),
            department_id,
            contact_id,
            run,
        };
        (Arc::new(load), logs)
    }

    /// Stops every replica still running (SIGTERM) and scans what each printed.
    async fn stop_replicas(&mut self) {
        for index in 0..self.replicas.len() {
            if let Some(mut gateway) = self.replicas[index].take() {
                gateway.terminate();
                gateway.wait().await;
                self.retire(gateway);
            }
        }
    }
}

impl Report {
    /// Every acknowledged create is in the emulator exactly once; a failed one at most once.
    fn check_creates(&mut self, sim: &SimHandle, creates: &[Create]) {
        for create in creates {
            match (
                create.acknowledged,
                sim.tickets_with_subject(&create.subject),
            ) {
                (_, n) if n > 1 => self.creates_duplicated += 1,
                (true, 1) => self.creates_acknowledged += 1,
                (true, _) => self.creates_lost += 1,
                (false, 0) => self.creates_failed_absent += 1,
                (false, _) => self.creates_failed_applied += 1,
            }
        }
    }

    /// Each worker's ticket holds its last acknowledged update, or a later one it sent.
    async fn check_updates(&mut self, world: &World, logs: &[UpdateLog]) {
        let (_, api) = world.pool.pick(0).expect("a replica");
        for log in logs {
            let ticket: Value = world
                .admin
                .get(format!("{api}/api/zoho-desk/tickets/{}", log.ticket_id))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .expect("ticket")
                .json()
                .await
                .unwrap_or(Value::Null);
            let seen: Option<u64> = ticket["description"]
                .as_str()
                .and_then(|d| d.strip_prefix("soak update "))
                .and_then(|n| n.parse().ok());
            self.updates_checked += 1;
            let holds = match (log.last_acknowledged, seen) {
                (None, _) => true,
                (Some(acked), Some(seen)) => acked <= seen && Some(seen) <= log.last_sent,
                (Some(_), None) => false,
            };
            if !holds {
                self.updates_lost += 1;
            }
        }
    }

    /// Zoho's limits as the emulator enforces them: its own throttle (10 refreshes per refresh
    /// token per rolling 10 minutes) and the cap of 15 live tokens that evicts the oldest.
    fn check_zoho_limits(&mut self, world: &World, samples: &[Sample]) {
        let stats = world.sim.stats();
        let baseline = &world.baseline;
        self.token_requests = stats.token_requests - baseline.token_requests;
        self.tokens_minted = stats.tokens_minted - baseline.tokens_minted;
        self.token_throttled_by_zoho = stats.token_throttled - baseline.token_throttled;
        self.evicted = world.sim.evicted_tokens();
        self.max_token_requests_10min = samples
            .iter()
            .map(|from| {
                let last = samples
                    .iter()
                    .take_while(|s| s.at < from.at + 600.0)
                    .last()
                    .map_or(from.token_requests, |s| s.token_requests);
                last - from.token_requests
            })
            .max()
            .unwrap_or(0);
    }
}

/// Samples the emulator and (inside a window) the replicas' token states until `until`,
/// ticking the window's injection every 750 ms.
async fn sample_until(
    world: &World,
    samples: &mut Vec<Sample>,
    started: Instant,
    until: Instant,
    mut window: Option<(Injection, &mut BTreeMap<String, u64>)>,
) {
    const TICK: Duration = Duration::from_millis(750);
    while Instant::now() < until {
        let stats = world.sim.stats();
        samples.push(Sample {
            at: started.elapsed().as_secs_f64(),
            token_requests: stats.token_requests,
        });
        if let Some((injection, states_seen)) = window.as_mut() {
            world.tick(*injection);
            for state in world.token_states().await {
                *states_seen.entry(state).or_insert(0) += 1;
            }
        }
        tokio::time::sleep(TICK.min(until.saturating_duration_since(Instant::now()))).await;
    }
}

impl Report {
    fn judge(&mut self) {
        let mut failures = Vec::new();
        if self.outcomes.is_empty() {
            failures.push("no requests were made".to_owned());
        }
        if !self.unexplained.is_empty() {
            failures.push(format!(
                "{} client-visible errors no injected fault explains",
                self.unexplained.len()
            ));
        }
        let hangs = self.outcomes.iter().filter(|o| o.code == "timeout").count();
        if hangs > 0 {
            failures.push(format!("{hangs} requests hung past {CLIENT_TIMEOUT:?}"));
        }
        if self.creates_lost > 0 {
            failures.push(format!("{} acknowledged creates lost", self.creates_lost));
        }
        if self.creates_duplicated > 0 {
            failures.push(format!("{} creates duplicated", self.creates_duplicated));
        }
        if self.updates_lost > 0 {
            failures.push(format!("{} acknowledged updates lost", self.updates_lost));
        }
        if self.token_throttled_by_zoho > 0 {
            failures.push(format!(
                "Zoho's refresh throttle answered {} times",
                self.token_throttled_by_zoho
            ));
        }
        if self.evicted > 0 {
            failures.push(format!(
                "{} live tokens evicted by Zoho's cap",
                self.evicted
            ));
        }
        if !self.secret_findings.is_empty() {
            failures.push(format!(
                "secrets found: {}",
                self.secret_findings.join("; ")
            ));
        }
        // Each fault must have reached the gateways, or the run proved nothing about it.
        for phase in &self.phases {
            let seen = |what: &str| phase.states_seen.keys().any(|s| s.contains(what));
            let effect = match phase.injection {
                Injection::DeskLatency
                | Injection::AccountsErrors
                | Injection::AccountsLatency
                | Injection::DroppedConnections
                | Injection::AccessDenied => phase.zoho.faults_injected > 0,
                Injection::DeskConcurrency => phase.zoho.desk_429_concurrency > 0,
                Injection::DailyCredits => phase.zoho.desk_429_credits > 0,
                Injection::RedisRestart => seen("degraded"),
                Injection::Revoked => phase.zoho.desk_401 > 0 && seen("fallback"),
                Injection::Reconsent => phase.zoho.tokens_minted > 0,
                // The replica was killed and a new one started and answered.
                Injection::ReplicaKill => true,
            };
            if !effect {
                failures.push(format!(
                    "{} had no visible effect (Zoho saw: {}; token states: {:?})",
                    phase.injection.name(),
                    phase.zoho.describe(),
                    phase.states_seen
                ));
            }
        }
        self.failures = failures;
    }

    fn by_op_and_status(&self) -> BTreeMap<(Op, String), u64> {
        let mut table = BTreeMap::new();
        for outcome in &self.outcomes {
            let key = if outcome.code.is_empty() {
                outcome.status.to_string()
            } else {
                format!("{} {}", outcome.status, outcome.code)
            };
            *table.entry((outcome.op, key)).or_insert(0) += 1;
        }
        table
    }

    /// Collects the client-visible errors no injected fault explains.
    fn blame(&mut self) {
        self.unexplained = self
            .outcomes
            .iter()
            .filter(|o| !(200..300).contains(&o.status) && self.cause(o).is_none())
            .cloned()
            .collect();
    }

    /// The fault that explains `outcome`, if any.
    fn cause(&self, outcome: &Outcome) -> Option<Injection> {
        self.phases
            .iter()
            .find(|phase| {
                outcome.at >= phase.start - 0.5
                    && outcome.at <= phase.end + GRACE.as_secs_f64()
                    && phase.injection.explains(outcome, self.killed_replica)
            })
            .map(|phase| phase.injection)
    }

    /// Client-visible errors by the fault that explains them ("unexplained" for the rest).
    fn errors_by_cause(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        let mut table: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
        for outcome in self
            .outcomes
            .iter()
            .filter(|o| !(200..300).contains(&o.status))
        {
            let phase = self.cause(outcome).map_or("unexplained", Injection::name);
            let key = format!(
                "{} {} on {}",
                outcome.status,
                outcome.code,
                outcome.op.name()
            );
            *table.entry(phase).or_default().entry(key).or_insert(0) += 1;
        }
        table
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let total = self.outcomes.len();
        let ok = self
            .outcomes
            .iter()
            .filter(|o| (200..300).contains(&o.status))
            .count();
        let _ = writeln!(
            md,
            "# Soak report\n\n{} minutes, {} gateway replicas sharing one Redis, {WORKERS} clients; token lifetime {} s, refresh margin {} s; Zoho's limits unchanged (10 refreshes per refresh token per 10 minutes, 15 live tokens).\n",
            self.minutes,
            self.replicas,
            self.token_lifetime.as_secs(),
            self.margin.as_secs()
        );
        let _ = writeln!(
            md,
            "**Result: {}**\n",
            if self.failures.is_empty() {
                "pass".to_owned()
            } else {
                format!("FAIL — {}", self.failures.join("; "))
            }
        );
        let _ = writeln!(
            md,
            "## Requests by outcome\n\n{total} requests, {ok} answered 2xx, {} errors ({} explained by an injected fault, {} unexplained).\n\n| request | outcome | count |\n|---|---|---|",
            total - ok,
            total - ok - self.unexplained.len(),
            self.unexplained.len()
        );
        for ((op, outcome), n) in self.by_op_and_status() {
            let _ = writeln!(md, "| {} | {outcome} | {n} |", op.name());
        }
        let _ = writeln!(
            md,
            "\n## Fault schedule\n\nEach window as the emulator saw it, the answer to the refresh forced in it, the token states the replicas reported (samples), and the client-visible errors it explains (within {} s of its end).\n\n| fault | what | window s | Zoho saw | forced refresh | token states | client errors explained |\n|---|---|---|---|---|---|---|",
            GRACE.as_secs()
        );
        let errors = self.errors_by_cause();
        for phase in &self.phases {
            let states: Vec<String> = phase
                .states_seen
                .iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect();
            let errs: Vec<String> = errors
                .get(phase.injection.name())
                .map(|m| m.iter().map(|(k, n)| format!("{k} ×{n}")).collect())
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {} | {:.0}–{:.0} | {} | {} | {} | {} |",
                phase.injection.name(),
                phase.injection.describe(),
                phase.start,
                phase.end,
                phase.zoho.describe(),
                phase.forced_refresh.as_deref().unwrap_or("–"),
                states.join(", "),
                if errs.is_empty() {
                    "none".to_owned()
                } else {
                    errs.join("; ")
                }
            );
        }
        if let Some(unexplained) = errors.get("unexplained") {
            let _ = writeln!(md, "\nUnexplained: {unexplained:?}");
        }
        let _ = writeln!(
            md,
            "\n## Writes\n\n- creates acknowledged and found exactly once: {}\n- creates acknowledged but not found (lost): {}\n- creates found more than once (duplicated): {}\n- creates that failed and are absent: {}\n- creates that failed but were applied: {}\n- tickets updated: {} checked, {} lost an acknowledged update\n",
            self.creates_acknowledged,
            self.creates_lost,
            self.creates_duplicated,
            self.creates_failed_absent,
            self.creates_failed_applied,
            self.updates_checked,
            self.updates_lost
        );
        let _ = writeln!(
            md,
            "## Zoho's limits\n\n- token-endpoint requests: {} (most in any 10 minutes: {}, all refresh tokens and fault-answered calls included)\n- tokens minted: {}\n- refreshes Zoho's throttle refused: {}\n- live tokens evicted by the cap: {}\n",
            self.token_requests,
            self.max_token_requests_10min,
            self.tokens_minted,
            self.token_throttled_by_zoho,
            self.evicted
        );
        let _ = writeln!(
            md,
            "## Secrets\n\nEvery response (headers and body) and everything every replica printed, scanned for the client secret, the refresh tokens, the fallback token, any full access token and the API keys: {}.",
            if self.secret_findings.is_empty() {
                "none found".to_owned()
            } else {
                self.secret_findings.join("; ")
            }
        );
        if !self.unexplained.is_empty() {
            let _ = writeln!(md, "\n## Unexplained errors (first 20)\n");
            for outcome in self.unexplained.iter().take(20) {
                let _ = writeln!(
                    md,
                    "- {:.1} s, replica {}: {} → {} {}",
                    outcome.at,
                    outcome.replica,
                    outcome.op.name(),
                    outcome.status,
                    outcome.code
                );
            }
        }
        md
    }

    fn json(&self) -> Value {
        json!({
            "minutes": self.minutes,
            "replicas": self.replicas,
            "token_lifetime_secs": self.token_lifetime.as_secs(),
            "requests": self.outcomes.len(),
            "by_outcome": self.by_op_and_status().into_iter().map(|((op, outcome), n)| json!({"request": op.name(), "outcome": outcome, "count": n})).collect::<Vec<_>>(),
            "errors_by_fault": self.errors_by_cause(),
            "unexplained": self.unexplained.iter().map(|o| json!({"at": o.at, "request": o.op.name(), "replica": o.replica, "status": o.status, "code": o.code})).collect::<Vec<_>>(),
            "phases": self.phases.iter().map(|p| json!({"fault": p.injection.name(), "start": p.start, "end": p.end, "zoho_saw": p.zoho.describe(), "forced_refresh": p.forced_refresh, "states_seen": p.states_seen})).collect::<Vec<_>>(),
            "writes": {
                "creates_acknowledged": self.creates_acknowledged,
                "creates_lost": self.creates_lost,
                "creates_duplicated": self.creates_duplicated,
                "creates_failed_absent": self.creates_failed_absent,
                "creates_failed_applied": self.creates_failed_applied,
                "updates_checked": self.updates_checked,
                "updates_lost": self.updates_lost,
            },
            "zoho_limits": {
                "token_requests": self.token_requests,
                "max_token_requests_10min": self.max_token_requests_10min,
                "tokens_minted": self.tokens_minted,
                "throttled_by_zoho": self.token_throttled_by_zoho,
                "evicted": self.evicted,
            },
            "secret_findings": self.secret_findings,
            "failures": self.failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(at: f64, op: Op, status: u16, code: &str) -> Outcome {
        Outcome {
            at,
            op,
            replica: 1,
            status,
            code: code.to_owned(),
        }
    }

    fn report(outcomes: Vec<Outcome>) -> Report {
        let phase = |injection, start, end| PhaseRecord {
            injection,
            start,
            end,
            zoho: ZohoCounts {
                faults_injected: 1,
                desk_429_concurrency: 1,
                desk_429_credits: 1,
                ..ZohoCounts::default()
            },
            forced_refresh: None,
            states_seen: BTreeMap::new(),
        };
        let mut report = Report {
            outcomes,
            phases: vec![
                phase(Injection::DeskConcurrency, 10.0, 20.0),
                phase(Injection::DroppedConnections, 40.0, 50.0),
                phase(Injection::ReplicaKill, 60.0, 70.0),
            ],
            killed_replica: Some(1),
            ..Report::default()
        };
        report.blame();
        report.judge();
        report
    }

    #[test]
    fn errors_are_blamed_only_on_a_fault_that_explains_them() {
        let report = report(vec![
            outcome(1.0, Op::ListTickets, 200, ""),
            outcome(15.0, Op::ListTickets, 429, "zoho_rate_limited"),
            // Within the grace after the window.
            outcome(26.0, Op::PassAgents, 429, "TOO_MANY_REQUESTS"),
            outcome(45.0, Op::CreateTicket, 502, "zoho_unavailable"),
            outcome(61.0, Op::GetTicket, 0, "connection"),
        ]);
        assert!(report.unexplained.is_empty(), "{:?}", report.unexplained);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }

    #[test]
    fn an_error_no_fault_explains_fails_the_run() {
        for stray in [
            // A 429 long after the concurrency window closed.
            outcome(35.0, Op::ListTickets, 429, "zoho_rate_limited"),
            // A read that failed on a dropped connection: the gateway should have retried it.
            outcome(45.0, Op::GetTicket, 502, "zoho_unavailable"),
            // A 401 is never an acceptable answer.
            outcome(15.0, Op::GetTicket, 502, "zoho_unauthorized"),
            // A connection error on a replica that was not killed.
            Outcome {
                replica: 0,
                ..outcome(61.0, Op::GetTicket, 0, "connection")
            },
            // A hang, even inside a window.
            outcome(61.0, Op::GetTicket, 0, "timeout"),
        ] {
            let report = report(vec![stray.clone()]);
            assert_eq!(report.unexplained.len(), 1, "{stray:?}");
            assert!(!report.failures.is_empty(), "{stray:?}");
        }
    }

    #[test]
    fn lost_and_duplicated_writes_fail_the_run() {
        let mut report = report(vec![outcome(1.0, Op::ListTickets, 200, "")]);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        report.creates_duplicated = 1;
        report.updates_lost = 1;
        report.judge();
        assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    }

    #[test]
    fn a_fault_without_effect_fails_the_run() {
        let mut report = report(vec![outcome(1.0, Op::ListTickets, 200, "")]);
        report.phases[0].zoho.desk_429_concurrency = 0;
        report.judge();
        assert!(
            report.failures[0].starts_with("desk_429_concurrency had no visible effect"),
            "{:?}",
            report.failures
        );
    }
}
