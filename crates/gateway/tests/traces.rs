//! Traces, with the SDK's in-memory exporter: a request through the real router (on a real
//! socket, with zoho-sim as Zoho) becomes a server span under the inbound `traceparent`, its Desk
//! call a client span under it, and the token refresh it waited for a root span linked to it; the
//! client span's context is what goes to Zoho as `traceparent`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::config::Config;
use gateway::otel;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use test_support::raw_http::{read_request_head, write_json_answer};
use tokio::net::TcpListener;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use zoho_auth::{AccessToken, TokenError};
use zoho_desk_api::{DeskClient, PageRequest, TicketFilter, TokenSource};
use zoho_sim::{SimConfig, SimHandle, ZohoSim};

mod support;
use support::{api_router, zoho_source};

const DEADLINE: Duration = Duration::from_secs(20);
const INBOUND_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{INBOUND_TRACE}-{INBOUND_SPAN}-01")
}

/// A provider exporting synchronously into memory, and its exporter.
fn in_memory() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_resource(otel::resource())
        .build();
    otel::install_propagator();
    (provider, exporter)
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| &kv.value)
}

fn config_for(sim: &SimHandle) -> Config {
    Config::load(&zoho_source(sim)).expect("valid configuration")
}

/// Serves the real API router on 127.0.0.1:0; returns its base URL.
async fn serve_api(config: &Config) -> String {
    let router = api_router(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future(),
    );
    format!("http://{addr}")
}

/// Waits (bounded) until `done` holds for the finished spans; returns them.
async fn finished_spans(
    exporter: &InMemorySpanExporter,
    done: impl Fn(&[SpanData]) -> bool,
) -> Vec<SpanData> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let spans = exporter.get_finished_spans().unwrap();
        if done(&spans) {
            return spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans did not arrive in time: {:#?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// A current-thread runtime: the router, the token driver and the emulator all run on the test's
// thread, where the test's subscriber is the default.
#[tokio::test]
async fn a_request_continues_the_inbound_trace_and_links_the_refresh_it_waited_for() {
    let (provider, exporter) = in_memory();
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(otel::layer(&provider)),
    );
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let api = serve_api(&config_for(&sim)).await;
    let http = reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .unwrap();

    // First request: no token yet, so it waits for the cold-start refresh.
    let response = http
        .get(format!("{api}/api/zoho-desk/tickets?limit=2"))
        .header("traceparent", traceparent())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    // Second request: no traceparent, cached token.
    let response = http
        .get(format!("{api}/api/zoho-desk/agents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    let spans = finished_spans(&exporter, |spans| {
        spans
            .iter()
            .filter(|s| s.span_kind == SpanKind::Server)
            .count()
            == 2
    })
    .await;
    let named =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };

    let servers = named("GET /api/zoho-desk/tickets");
    assert_eq!(servers.len(), 1, "{spans:#?}");
    let server = servers[0];
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(
        server.span_context.trace_id(),
        TraceId::from_hex(INBOUND_TRACE).unwrap(),
        "the server span continues the inbound trace"
    );
    assert_eq!(
        server.parent_span_id,
        SpanId::from_hex(INBOUND_SPAN).unwrap()
    );
    assert!(server.parent_span_is_remote);
    assert_eq!(
        attribute(server, "http.request.method"),
        Some(&Value::from("GET"))
    );
    assert_eq!(
        attribute(server, "http.route"),
        Some(&Value::from("/api/zoho-desk/tickets"))
    );
    assert_eq!(
        attribute(server, "http.response.status_code"),
        Some(&Value::I64(200))
    );

    let clients = named("GET /tickets");
    assert_eq!(clients.len(), 1, "one Desk call: {spans:#?}");
    let client = clients[0];
    assert_eq!(client.span_kind, SpanKind::Client);
    assert_eq!(
        client.span_context.trace_id(),
        server.span_context.trace_id()
    );
    assert_eq!(
        client.parent_span_id,
        server.span_context.span_id(),
        "the Desk call is a child of the request"
    );
    assert_eq!(
        attribute(client, "url.template"),
        Some(&Value::from("/tickets"))
    );
    // zoho-desk-api records the status as a u16, which tracing-opentelemetry exports as text.
    assert_eq!(
        attribute(client, "http.response.status_code").map(Value::as_str),
        Some("200".into())
    );

    let refreshes = named("zoho_token.refresh");
    assert_eq!(
        refreshes.len(),
        1,
        "one refresh for two requests: {spans:#?}"
    );
    let refresh = refreshes[0];
    assert_eq!(
        refresh.parent_span_id,
        SpanId::INVALID,
        "the refresh is a root span"
    );
    assert_ne!(
        refresh.span_context.trace_id(),
        server.span_context.trace_id()
    );
    let links: Vec<_> = refresh
        .links
        .iter()
        .map(|link| (link.span_context.trace_id(), link.span_context.span_id()))
        .collect();
    assert_eq!(
        links,
        [(
            server.span_context.trace_id(),
            server.span_context.span_id()
        )],
        "the refresh links to the request that waited for it"
    );
    assert_eq!(attribute(refresh, "outcome"), Some(&Value::from("success")));

    // Without a traceparent the request starts its own trace.
    let agents = named("GET /api/zoho-desk/agents");
    assert_eq!(agents.len(), 1, "{spans:#?}");
    assert_eq!(agents[0].parent_span_id, SpanId::INVALID);
    assert_ne!(
        agents[0].span_context.trace_id(),
        server.span_context.trace_id()
    );
    let agent_calls = named("GET /agents");
    assert_eq!(agent_calls.len(), 1);
    assert_eq!(
        agent_calls[0].parent_span_id,
        agents[0].span_context.span_id()
    );
}

/// A token source that always hands out the same token.
struct StaticTokens;

impl TokenSource for StaticTokens {
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + '_>> {
        Box::pin(async {
            Ok(AccessToken::new(
                "1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef",
            ))
        })
    }

    fn reject(&self, _token: &AccessToken) {}
}

/// Answers every request with `{"data":[]}` and records the `traceparent` header of each.
async fn recording_desk() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let head = read_request_head(&mut socket).await;
            let traceparent = head.lines().find_map(|line| {
                line.strip_prefix("traceparent:")
                    .map(|v| v.trim().to_owned())
            });
            record.lock().unwrap().push(traceparent);
            write_json_answer(&mut socket, "200 OK", "", r#"{"data":[]}"#).await;
        }
    });
    (url, seen)
}

#[tokio::test]
async fn the_desk_call_sends_its_client_span_as_traceparent() {
    let (provider, exporter) = in_memory();
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(otel::layer(&provider)),
    );
    let (url, seen) = recording_desk().await;
    let desk = DeskClient::builder(url, "123456", StaticTokens)
        .request_headers(otel::inject_trace_context)
        .build();
    let parent = tracing::info_span!("caller");
    tokio::time::timeout(
        DEADLINE,
        desk.list_tickets(&TicketFilter::default(), PageRequest::first(5))
            .instrument(parent.clone()),
    )
    .await
    .expect("answered in time")
    .expect("empty page");
    drop(parent);

    let spans = finished_spans(&exporter, |spans| spans.len() == 2).await;
    let client = spans
        .iter()
        .find(|s| s.name == "GET /tickets")
        .expect("client span");
    let caller = spans
        .iter()
        .find(|s| s.name == "caller")
        .expect("caller span");
    assert_eq!(client.parent_span_id, caller.span_context.span_id());
    let sent = seen.lock().unwrap().clone();
    assert_eq!(
        sent,
        [Some(format!(
            "00-{}-{}-01",
            client.span_context.trace_id(),
            client.span_context.span_id()
        ))],
        "Zoho receives the client span's own context"
    );
}

#[test]
fn without_tracing_the_hook_adds_nothing() {
    // No OpenTelemetry layer in this thread's subscriber: no context, no header.
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());
    otel::install_propagator();
    let span = tracing::info_span!("plain");
    let mut headers = axum::http::HeaderMap::new();
    span.in_scope(|| otel::inject_trace_context(&mut headers));
    assert!(headers.is_empty(), "{headers:?}");
}
