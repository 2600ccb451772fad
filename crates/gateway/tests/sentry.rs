//! Sentry alerts against a local HTTP server acting as Sentry: a real DSN pointing at
//! 127.0.0.1, the real reqwest transport, and assertions on the envelopes received. The events
//! are the real ones: a token manager and a Desk client talking to zoho-sim with faults injected.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use gateway::alerts::{self, AlertsGuard};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use zoho_auth::{AccessToken, Credentials, TokenManager, ZohoEndpoints};
use zoho_desk_api::{DeskClient, PageRequest, TicketFilter};
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, Fault, Route, SimConfig,
    SimHandle, Times, ZohoSim,
};

const DEADLINE: Duration = Duration::from_secs(20);
const FALLBACK_TOKEN: &str =
    "1000.fa11bac0000000000000000000000000.fa11bac0000000000000000000000000";

/// One envelope POST as Sentry would receive it.
#[derive(Debug, Clone)]
struct Received {
    project: String,
    auth: String,
    body: String,
}

/// A local Sentry: accepts envelope POSTs on `/api/<project>/envelope/`, on its own thread and
/// runtime (so a blocking flush on the test's thread cannot starve it).
struct FakeSentry {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeSentry {
    fn start() -> FakeSentry {
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route("/api/{project}/envelope/", post(receive))
                    .with_state(store);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(DEADLINE).expect("fake Sentry bound");
        FakeSentry { addr, received }
    }

    fn dsn(&self) -> String {
        format!("http://publickey@{}/1", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn receive(
    State(store): State<Arc<Mutex<Vec<Received>>>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let auth = headers
        .get("x-sentry-auth")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    store.lock().unwrap().push(Received {
        project,
        auth,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    "{}"
}

/// The items of type `event` in an envelope body (header line, then item header + payload pairs;
/// a payload is `length` bytes when the item header says so, else one line).
fn events_in(body: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut rest = body.split_once('\n').map_or("", |(_, rest)| rest);
    while let Some((header, after)) = rest.split_once('\n') {
        if header.trim().is_empty() {
            rest = after;
            continue;
        }
        let header: Value = serde_json::from_str(header).expect("item header is JSON");
        let (payload, after) = match header["length"].as_u64() {
            Some(length) => {
                let length = length as usize;
                (&after[..length], after[length..].trim_start_matches('\n'))
            }
            None => after.split_once('\n').unwrap_or((after, "")),
        };
        if header["type"] == "event" {
            events.push(serde_json::from_str(payload).expect("event payload is JSON"));
        }
        rest = after;
    }
    events
}

/// Collects every log message the process emits (the streak-end line included).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Logs {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        struct Message(String);
        impl Visit for Message {
            fn record_str(&mut self, field: &Field, value: &str) {
                if field.name() == "message" {
                    self.0 = value.to_owned();
                }
            }
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
}

/// The fake Sentry, the alerts client and layer installed as this thread's subscriber, and the
/// emulator with a token manager and a Desk client.
struct Harness {
    sentry: FakeSentry,
    alerts: AlertsGuard,
    logs: Logs,
    sim: SimHandle,
    tokens: TokenManager,
    desk: DeskClient,
    _subscriber: DefaultGuard,
}

async fn harness(fallback: Option<&str>) -> Harness {
    let sentry = FakeSentry::start();
    let mut secrets = vec![DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN];
    secrets.extend(fallback);
    let (alerts, layer) = alerts::init(&sentry.dsn(), secrets).expect("valid DSN");
    let logs = Logs::default();
    let subscriber = tracing_subscriber::registry()
        .with(layer.with_filter(alerts::filter()))
        .with(logs.clone());
    let guard = tracing::subscriber::set_default(subscriber);
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let endpoints =
        ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).expect("emulator URLs");
    let tokens = TokenManager::builder(
        Credentials::new(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_REFRESH_TOKEN,
        ),
        endpoints.clone(),
    )
    .refresh_budget(100, Duration::from_secs(600))
    .fallback_token(fallback.map(AccessToken::new))
    .build();
    let desk = DeskClient::builder(endpoints.desk_api_url(), sim.desk_org_id(), tokens.clone())
        .timeout(Duration::from_secs(10))
        .build();
    Harness {
        sentry,
        alerts,
        logs,
        sim,
        tokens,
        desk,
        _subscriber: guard,
    }
}

impl Harness {
    /// Waits until every captured event has been delivered; returns all events received so far.
    async fn events(&self) -> Vec<Value> {
        let alerts = self.alerts.clone();
        let flushed = tokio::task::spawn_blocking(move || alerts.flush(DEADLINE))
            .await
            .unwrap();
        assert!(flushed, "the Sentry queue emptied in time");
        let received = self.sentry.received();
        for envelope in &received {
            assert_eq!(envelope.project, "1");
            assert!(
                envelope.auth.contains("sentry_key=publickey"),
                "{}",
                envelope.auth
            );
        }
        received.iter().flat_map(|r| events_in(&r.body)).collect()
    }

    /// Fails unless no envelope body contains any of `values`.
    fn assert_clean(&self, values: &[&str]) {
        let received = self.sentry.received();
        assert!(!received.is_empty(), "nothing was sent");
        for envelope in &received {
            for value in values {
                assert!(
                    !envelope.body.contains(value),
                    "{value} leaked to Sentry: {}",
                    envelope.body
                );
            }
        }
    }

    /// `n` refresh attempts that fail with an HTTP 500 from Accounts.
    async fn failing_refreshes(&self, n: u32) {
        let before = self.sim.token_calls();
        self.sim
            .inject(Route::Token, Fault::Status { status: 500 }, Times::Always);
        for _ in 0..n {
            let result = tokio::time::timeout(DEADLINE, self.tokens.force_refresh())
                .await
                .expect("refresh answered in time");
            assert!(result.is_err(), "the refresh fails");
        }
        self.sim.clear_faults();
        assert_eq!(self.sim.token_calls() - before, u64::from(n));
    }

    /// A successful refresh; returns the access token, which must never reach Sentry.
    async fn good_refresh(&self) -> String {
        let token = tokio::time::timeout(DEADLINE, self.tokens.force_refresh())
            .await
            .expect("refresh answered in time")
            .expect("refresh succeeds");
        token.expose_secret().to_owned()
    }

    /// Log lines emitted so far that start with `prefix`.
    fn logged(&self, prefix: &str) -> Vec<String> {
        self.logs
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// An event's level; the protocol leaves out the default one, `error`.
fn level(event: &Value) -> &str {
    match &event["level"] {
        Value::Null => "error",
        level => level.as_str().expect("a level is a string"),
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["tags"]["alert.kind"].as_str().unwrap_or("?"))
        .collect()
}

/// Waits (bounded) until `f` holds; the streak-end line is logged from a spawned task.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_streak_of_failed_refreshes_sends_one_warning_and_the_next_streak_another() {
    let h = harness(None).await;
    let first_token = h.good_refresh().await;
    h.failing_refreshes(4).await;
    let events = h.events().await;
    assert_eq!(kinds(&events), ["refresh_failed"], "4 failures, 1 event");
    let event = &events[0];
    assert_eq!(level(event), "warning");
    let message = event["message"].as_str().unwrap();
    assert!(
        message.starts_with("[Zoho Token] ❌ Failed to refresh token"),
        "{message}"
    );
    assert_eq!(event["extra"]["streak_count"], 1);
    assert!(event["extra"].get("previous_streak_count").is_none());
    assert_eq!(
        event["fingerprint"],
        serde_json::json!(["zoho-gateway", "refresh_failed"])
    );

    // A success ends the streak: nothing sent, one line logged.
    let second_token = h.good_refresh().await;
    eventually("the streak-end line", || {
        h.logged("failure streak ended").len() == 1
    })
    .await;
    assert_eq!(
        h.logged("failure streak ended"),
        ["failure streak ended after 4 failures"]
    );
    assert_eq!(h.events().await.len(), 1, "a success sends nothing");

    // A new streak sends a new event that remembers the previous one.
    h.failing_refreshes(2).await;
    let events = h.events().await;
    assert_eq!(kinds(&events), ["refresh_failed", "refresh_failed"]);
    assert_eq!(events[1]["extra"]["previous_streak_count"], 4);
    let breadcrumbs: Vec<&str> = events[1]["breadcrumbs"]["values"]
        .as_array()
        .expect("breadcrumbs")
        .iter()
        .filter_map(|b| b["message"].as_str())
        .collect();
    assert!(
        breadcrumbs.contains(&"failure streak ended after 4 failures"),
        "{breadcrumbs:?}"
    );
    h.assert_clean(&[
        &first_token,
        &second_token,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_REFRESH_TOKEN,
    ]);
}

#[tokio::test]
async fn permanently_rejected_credentials_send_one_error_with_the_re_consent_action() {
    let h = harness(None).await;
    let token = h.good_refresh().await;
    assert!(h.sim.revoke_refresh_token(DEFAULT_REFRESH_TOKEN));
    for _ in 0..3 {
        let result = tokio::time::timeout(DEADLINE, h.tokens.force_refresh())
            .await
            .expect("answered in time");
        let error = result.expect_err("the revoked refresh token is refused");
        assert!(error.cause().is_some_and(|c| c.is_permanent()), "{error}");
    }
    let events = h.events().await;
    assert_eq!(
        kinds(&events),
        ["credentials_rejected"],
        "3 failures, 1 event"
    );
    let event = &events[0];
    assert_eq!(level(event), "error");
    let message = event["message"].as_str().unwrap();
    assert!(message.contains("re-consent"), "{message}");
    assert!(message.contains("permanent"), "{message}");
    h.assert_clean(&[&token, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN]);
}

#[tokio::test]
async fn the_static_fallback_taking_over_sends_a_warning() {
    let h = harness(Some(FALLBACK_TOKEN)).await;
    h.sim
        .inject(Route::Token, Fault::Status { status: 500 }, Times::Always);
    for _ in 0..3 {
        let token = tokio::time::timeout(DEADLINE, h.tokens.token())
            .await
            .expect("answered in time")
            .expect("the fallback token is handed out");
        assert!(token.is_fallback());
    }
    let events = h.events().await;
    let kinds: BTreeSet<&str> = kinds(&events).into_iter().collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["fallback_active", "refresh_failed"]),
        "one event per kind: {events:#?}"
    );
    assert_eq!(events.len(), 2, "{events:#?}");
    let fallback = events
        .iter()
        .find(|e| e["tags"]["alert.kind"] == "fallback_active")
        .unwrap();
    assert_eq!(level(fallback), "warning");
    assert!(
        fallback["message"]
            .as_str()
            .unwrap()
            .starts_with("[Zoho Token] Falling back to static token")
    );
    h.assert_clean(&[FALLBACK_TOKEN, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN]);
}

#[tokio::test]
async fn a_401_that_survives_its_retry_sends_one_error_per_streak() {
    let h = harness(None).await;
    let rejected = || Fault::Respond {
        status: 401,
        body:
            r#"{"errorCode":"INVALID_OAUTH","message":"The OAuth Token you provided is invalid."}"#
                .into(),
    };
    let filter = TicketFilter::default();
    let list = || {
        tokio::time::timeout(
            DEADLINE,
            h.desk.list_tickets(&filter, PageRequest::first(2)),
        )
    };
    h.sim.inject(Route::Desk, rejected(), Times::Always);
    for _ in 0..3 {
        let error = list().await.expect("answered in time").unwrap_err();
        assert_eq!(error.status(), Some(401));
    }
    let events = h.events().await;
    assert_eq!(
        kinds(&events),
        ["unauthorized_persisted"],
        "3 calls, 1 event"
    );
    let event = &events[0];
    assert_eq!(level(event), "error");
    assert_eq!(event["tags"]["error_code"], "INVALID_OAUTH");
    assert_eq!(event["tags"]["endpoint"], "/tickets");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("[Zoho Desk] 401 persisted after refresh and retry")
    );

    // A 2xx on the endpoint ends the streak; the next 401 starts a new one.
    h.sim.clear_faults();
    list()
        .await
        .expect("answered in time")
        .expect("Zoho answers again");
    eventually("the streak-end line", || {
        h.logged("failure streak ended").len() == 1
    })
    .await;
    assert_eq!(
        h.logged("failure streak ended"),
        ["failure streak ended after 3 failures"]
    );
    h.sim.inject(Route::Desk, rejected(), Times::Always);
    list().await.expect("answered in time").unwrap_err();
    let events = h.events().await;
    assert_eq!(
        kinds(&events),
        ["unauthorized_persisted", "unauthorized_persisted"]
    );
    assert_eq!(events[1]["extra"]["previous_streak_count"], 3);
    let token = h
        .tokens
        .token()
        .await
        .expect("a token")
        .expose_secret()
        .to_owned();
    h.assert_clean(&[&token, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN]);
}

#[tokio::test]
async fn tokens_and_secrets_are_scrubbed_before_sending() {
    let h = harness(Some(FALLBACK_TOKEN)).await;
    let minted = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210";
    // A failure event whose fields carry every kind of secret (no real event does; this checks
    // the last line of defence).
    tracing::warn!(
        target: "zoho_auth::manager",
        message = alerts::messages::REFRESH_FAILED,
        error = %format!("Zoho said no to {minted} with {DEFAULT_CLIENT_SECRET}"),
        refresh_token = DEFAULT_REFRESH_TOKEN,
        fallback = FALLBACK_TOKEN,
    );
    let events = h.events().await;
    assert_eq!(kinds(&events), ["refresh_failed"]);
    let event = &events[0];
    assert_eq!(
        event["message"],
        "[Zoho Token] ❌ Failed to refresh token: Zoho said no to [redacted] with [redacted]"
    );
    assert_eq!(event["extra"]["refresh_token"], "[redacted]");
    assert_eq!(event["extra"]["fallback"], "[redacted]");
    h.assert_clean(&[
        minted,
        "0123456789abcdef0123456789abcdef",
        DEFAULT_CLIENT_SECRET,
        DEFAULT_REFRESH_TOKEN,
        FALLBACK_TOKEN,
    ]);
    for envelope in h.sentry.received() {
        // send_default_pii is off: no user, no IP.
        assert!(!envelope.body.contains("ip_address"), "{}", envelope.body);
    }
}

#[test]
fn a_dsn_sentry_cannot_parse_is_an_error_not_a_panic() {
    let error = alerts::init("not a dsn", Vec::<String>::new()).unwrap_err();
    assert!(error.contains("SENTRY_DSN"), "{error}");
}

#[tokio::test]
async fn an_unreachable_token_store_sends_one_warning_per_outage() {
    let h = harness(None).await;
    // Fleet mode with a Redis that refuses connections: the replica degrades and keeps serving.
    let store = zoho_auth::store::RedisStore::new(
        "redis://127.0.0.1:9",
        &Credentials::new(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_REFRESH_TOKEN,
        ),
        None,
    )
    .expect("a valid URL");
    let endpoints = ZohoEndpoints::custom(&h.sim.accounts_url(), &h.sim.desk_url()).unwrap();
    let replica = TokenManager::builder(
        Credentials::new(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_REFRESH_TOKEN,
        ),
        endpoints,
    )
    .refresh_budget(100, Duration::from_secs(600))
    .token_store(store)
    .build();
    for _ in 0..3 {
        tokio::time::timeout(DEADLINE, replica.force_refresh())
            .await
            .expect("answered in time")
            .expect("served while degraded");
    }
    assert!(replica.status().degraded);
    let events = h.events().await;
    assert_eq!(kinds(&events), ["store_degraded"], "{events:#?}");
    assert_eq!(level(&events[0]), "warning");
    let message = events[0]["logentry"]["message"]
        .as_str()
        .or(events[0]["message"].as_str())
        .unwrap_or_default();
    assert!(message.contains("refreshes on its own"), "{message}");
}
