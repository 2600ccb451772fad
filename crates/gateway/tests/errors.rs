//! Every failure path of the real API router answers `{"error":{"code","message","requestId"}}`
//! with its code and status: routing, authentication and roles, rate limits, extractors, body
//! limits, pass-through refusals, timeouts. In process, against the emulator.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use gateway::config::{Config, MapSource, var};
use gateway::{app, server};
use serde_json::Value;
use tower::ServiceExt;
use zoho_sim::{Fault, Route, SimConfig, SimHandle, Times, ZohoSim};

const READ_KEY: &str = "read-key-0123456789abcdef";
const WRITE_KEY: &str = "write-key-0123456789abcdef";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// Status and code, with the request id the layer must have added.
    fn is(&self, status: StatusCode, code: &str) -> bool {
        self.status == status
            && self.code() == code
            && self.json["error"]["requestId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
    }
}

/// The API router on the emulator, with two keys, 1 request per second (burst `burst`), a body
/// limit of 64 bytes and a request timeout of one second.
async fn api(sim: &SimHandle, burst: u32) -> Router {
    let source = MapSource::new()
        .with(var::ZOHO_DESK_CLIENT_ID, zoho_sim::DEFAULT_CLIENT_ID)
        .with(
            var::ZOHO_DESK_CLIENT_SECRET,
            zoho_sim::DEFAULT_CLIENT_SECRET,
        )
        .with(
            var::ZOHO_DESK_REFRESH_TOKEN,
            zoho_sim::DEFAULT_REFRESH_TOKEN,
        )
        .with(var::ZOHO_DESK_ORG_ID, sim.desk_org_id())
        .with(var::ZOHO_ACCOUNTS_URL, sim.accounts_url())
        .with(var::ZOHO_DESK_API_URL, sim.desk_url())
        .with(var::GATEWAY_LISTEN, "127.0.0.1:0")
        .with(var::GATEWAY_ADMIN_LISTEN, "127.0.0.1:0")
        .with(
            var::GATEWAY_API_KEYS,
            format!("reader:read:{READ_KEY},writer:write:{WRITE_KEY}"),
        )
        .with(var::GATEWAY_RATE_LIMIT_PER_SECOND, "1")
        .with(var::GATEWAY_RATE_LIMIT_BURST, burst.to_string())
        .with(var::GATEWAY_BODY_LIMIT_BYTES, "64")
        .with(var::GATEWAY_REQUEST_TIMEOUT_SECS, "1");
    let config = Config::load(&source).expect("valid configuration");
    let state = app::build_state(&config.zoho, config.server.passthrough.clone());
    server::api_router(
        state,
        &config.server,
        Arc::new(config.security.api_keys.clone()),
        &config.security.rate_limit,
    )
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    key: Option<&str>,
    body: Option<(&str, &str)>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let request = match body {
        Some((content_type, body)) => request
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned())),
        None => request.body(Body::empty()),
    };
    let response = app.clone().oneshot(request.unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn every_refusal_has_its_code_status_and_request_id() {
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let app = api(&sim, 100).await;
    let get = |uri: &'static str, key| send(&app, Method::GET, uri, key, None);
    let write = Some(WRITE_KEY);

    let answer = get("/api/zoho-desk/tickets", None).await;
    assert!(
        answer.is(StatusCode::UNAUTHORIZED, "unauthorized"),
        "{}",
        answer.json
    );
    assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    let answer = send(&app, Method::POST, "/api/zoho-desk/token", write, None).await;
    assert!(
        answer.is(StatusCode::FORBIDDEN, "forbidden"),
        "{}",
        answer.json
    );

    assert!(
        get("/api/nowhere", write)
            .await
            .is(StatusCode::NOT_FOUND, "not_found")
    );
    let answer = send(&app, Method::DELETE, "/api/zoho-desk/tickets", write, None).await;
    assert!(
        answer.is(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        "{}",
        answer.json
    );
    assert!(answer.headers.contains_key(header::ALLOW));

    let answer = get("/api/zoho-desk/tickets?limit=lots", write).await;
    assert!(
        answer.is(StatusCode::BAD_REQUEST, "invalid_request"),
        "{}",
        answer.json
    );
    assert!(
        answer.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("bad query string: ")
    );

    let post = |body| {
        send(
            &app,
            Method::POST,
            "/api/zoho-desk/contacts",
            write,
            Some(body),
        )
    };
    let answer = post(("application/json", "{\"lastName\":")).await;
    assert!(
        answer.is(StatusCode::BAD_REQUEST, "invalid_json"),
        "{}",
        answer.json
    );
    let answer = post(("application/json", "{\"lastName\":7}")).await;
    assert!(
        answer.is(StatusCode::UNPROCESSABLE_ENTITY, "invalid_json"),
        "{}",
        answer.json
    );
    let answer = post(("text/plain", "{}")).await;
    assert!(
        answer.is(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        "{}",
        answer.json
    );
    let answer = post((
        "application/json",
        &format!("{{\"lastName\":\"{}\"}}", "x".repeat(100)),
    ))
    .await;
    assert!(
        answer.is(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{}",
        answer.json
    );

    let answer = send(
        &app,
        Method::DELETE,
        "/api/zoho-desk/v1/tickets/1",
        write,
        None,
    )
    .await;
    assert!(
        answer.is(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        "{}",
        answer.json
    );
    assert_eq!(answer.headers[header::ALLOW], "GET, POST, PATCH");
    let answer = get("/api/zoho-desk/v1/tickets/%2e%2e", write).await;
    assert!(
        answer.is(StatusCode::BAD_REQUEST, "invalid_path"),
        "{}",
        answer.json
    );
    assert_eq!(sim.stats().desk_requests, 0);
}

#[tokio::test]
async fn a_spent_rate_limit_is_429_with_retry_after() {
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let app = api(&sim, 1).await;
    let first = send(
        &app,
        Method::GET,
        "/api/zoho-desk/token",
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let answer = send(
        &app,
        Method::GET,
        "/api/zoho-desk/token",
        Some(READ_KEY),
        None,
    )
    .await;
    assert!(
        answer.is(StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{}",
        answer.json
    );
    assert_eq!(answer.headers[header::RETRY_AFTER], "1");
}

#[tokio::test]
async fn a_request_over_the_timeout_is_504_timeout() {
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let app = api(&sim, 100).await;
    sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_secs(3)),
        Times::Next(1),
    );
    let answer = send(
        &app,
        Method::GET,
        "/api/zoho-desk/agents",
        Some(READ_KEY),
        None,
    )
    .await;
    assert!(
        answer.is(StatusCode::GATEWAY_TIMEOUT, "timeout"),
        "{}",
        answer.json
    );
}
