//! Every failure path of the real API router answers `{"error":{"code","message","requestId"}}`
//! with its code and status: routing, authentication and roles, rate limits, extractors, body
//! limits, pass-through refusals, timeouts. In process, against the emulator.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use gateway::config::{Config, var};

use serde_json::Value;
use tower::ServiceExt;
use zoho_sim::{Fault, Route, SimConfig, SimHandle, Times, ZohoSim};

mod support;
use support::{api_router, zoho_source};

const READ_KEY: &str = "read-key-0123456789abcdef";
const WRITE_KEY: &str = "write-key-0123456789abcdef";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Answer {
    /// Asserts the status and code, and the request id the layer must have added.
    fn assert_is(&self, status: StatusCode, code: &str) {
        let id = self.json["error"]["requestId"].as_str();
        assert!(
            self.status == status
                && self.json["error"]["code"] == code
                && id.is_some_and(|id| !id.is_empty()),
            "wanted {status} {code}, got {} {}",
            self.status,
            self.json
        );
    }
}

/// The API router on a fresh emulator, with two keys, 1 request per second (burst `burst`), a
/// body limit of 64 bytes and a request timeout of one second.
async fn api(burst: u32) -> (SimHandle, Router) {
    let sim = ZohoSim::start(SimConfig::default()).await.unwrap();
    let source = zoho_source(&sim)
        .with(
            var::GATEWAY_API_KEYS,
            format!("reader:read:{READ_KEY},writer:write:{WRITE_KEY}"),
        )
        .with(var::GATEWAY_RATE_LIMIT_PER_SECOND, "1")
        .with(var::GATEWAY_RATE_LIMIT_BURST, burst.to_string())
        .with(var::GATEWAY_BODY_LIMIT_BYTES, "64")
        .with(var::GATEWAY_REQUEST_TIMEOUT_SECS, "1");
    let config = Config::load(&source).expect("valid configuration");
    let router = api_router(&config);
    (sim, router)
}

/// One request: method, path, API key, and a body with its content type.
struct Call<'a>(Method, &'a str, Option<&'a str>, Option<(&'a str, String)>);

async fn send(app: &Router, Call(method, uri, key, body): Call<'_>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let request = match body {
        Some((content_type, body)) => request
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body)),
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
    let (sim, app) = api(100).await;
    let (read, write) = (Some(READ_KEY), Some(WRITE_KEY));
    let json = |body: &str| Some(("application/json", body.to_owned()));
    let contacts = "/api/zoho-desk/contacts";
    let long = format!("{{\"lastName\":\"{}\"}}", "x".repeat(100));
    let cases = [
        (
            Call(Method::GET, "/api/zoho-desk/tickets", None, None),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            Call(Method::POST, "/api/zoho-desk/token", write, None),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Call(Method::POST, contacts, read, json("{}")),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Call(Method::GET, "/api/nowhere", read, None),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Call(Method::DELETE, "/api/zoho-desk/tickets", write, None),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Call(Method::GET, "/api/zoho-desk/tickets?limit=lots", read, None),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Call(Method::POST, contacts, write, json("{\"lastName\":")),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Call(Method::POST, contacts, write, json("{\"lastName\":7}")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_json",
        ),
        (
            Call(
                Method::POST,
                contacts,
                write,
                Some(("text/plain", "{}".into())),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Call(Method::POST, contacts, write, json(&long)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Call(Method::DELETE, "/api/zoho-desk/v1/tickets/1", write, None),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Call(Method::GET, "/api/zoho-desk/v1/tickets/%2e%2e", read, None),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Call(Method::GET, "/api/zoho-desk/v1/organizations", read, None),
            StatusCode::NOT_FOUND,
            "not_allowed",
        ),
    ];
    for (call, status, code) in cases {
        let answer = send(&app, call).await;
        answer.assert_is(status, code);
        match code {
            "unauthorized" => assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer"),
            "method_not_allowed" => assert!(answer.headers.contains_key(header::ALLOW)),
            "invalid_request" => {
                let message = answer.json["error"]["message"].as_str().unwrap();
                assert!(message.starts_with("bad query string: "), "{message}");
            }
            _ => {}
        }
    }
    let answer = send(
        &app,
        Call(Method::DELETE, "/api/zoho-desk/v1/tickets/1", write, None),
    )
    .await;
    assert_eq!(answer.headers[header::ALLOW], "GET, POST, PATCH");
    assert_eq!(sim.stats().desk_requests, 0);
}

#[tokio::test]
async fn a_spent_rate_limit_is_429_with_retry_after() {
    let (_sim, app) = api(1).await;
    let token = || Call(Method::GET, "/api/zoho-desk/token", Some(READ_KEY), None);
    assert_eq!(send(&app, token()).await.status, StatusCode::OK);
    let answer = send(&app, token()).await;
    answer.assert_is(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(answer.headers[header::RETRY_AFTER], "1");
}

#[tokio::test]
async fn a_request_over_the_timeout_is_504_timeout() {
    let (sim, app) = api(100).await;
    sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_secs(3)),
        Times::Next(1),
    );
    let answer = send(
        &app,
        Call(Method::GET, "/api/zoho-desk/agents", Some(READ_KEY), None),
    )
    .await;
    answer.assert_is(StatusCode::GATEWAY_TIMEOUT, "timeout");
}
