//! Steps 3 to 6 of the pass-through: the route, query and body checks, the forward, and the
//! answer.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, OriginalUri, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;
use zoho_desk_api::{ApiError, DeskClient, DeskError, RawRequest, RawResponse};

use super::allowlist::{Allowlist, Rule};
use super::path::normalize_path;
use crate::error::{ErrorCode, RouteError, retry_after_secs};

/// The route this module serves.
pub const ROUTE: &str = "/api/zoho-desk/v1/{*path}";

/// The part of the gateway path that maps to Zoho's `/api/v1`.
pub const PREFIX: &str = "/api/zoho-desk/v1";

/// Longest raw query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 2048;

/// The only content type forwarded with a body.
const JSON: &str = "application/json";

/// What the pass-through needs.
#[derive(Debug, Clone)]
pub struct PassthroughState {
    /// The Desk client (auth, `orgId`, 401 rule, concurrency cap, retries).
    pub desk: DeskClient,
    /// What may be forwarded.
    pub allowlist: Arc<Allowlist>,
}

/// The pass-through router: [`ROUTE`] for any method (plus the bare [`PREFIX`] with or without
/// a trailing `/`, refused with `invalid_path` like any empty path). Merge it into the app
/// inside the authentication, rate-limit and body-limit layers, and inside
/// [`render_errors`](crate::error::render_errors), which writes its error bodies.
pub fn router(state: PassthroughState) -> Router {
    Router::new()
        .route(ROUTE, any(handle))
        // A catch-all never matches an empty remainder: route the bare prefix (with and without
        // the slash) too, so it gets the same `invalid_path` answer as any other bad path.
        .route(PREFIX, any(handle))
        .route("/api/zoho-desk/v1/", any(handle))
        .with_state(state)
}

/// The pass-through handler (for routing it by hand in a router whose state converts to
/// [`PassthroughState`]).
pub async fn handle(
    State(state): State<PassthroughState>,
    request: Request,
) -> Result<Response, RouteError> {
    let (parts, body) = request.into_parts();
    // The URI as the client sent it: a layer or `nest` may have rewritten `parts.uri`.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let method = parts.method.clone();
    // What is needed of the headers after the body is taken: a reference count, not a copy of
    // the whole map.
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();

    let refused = |error: RouteError| refused(error, &method);
    let (path, rule) = admit(&state.allowlist, &method, uri).map_err(refused)?;
    let query = parse_query(uri).map_err(refused)?;
    // Only now read the body: refused paths never get buffered.
    let bytes = Bytes::from_request(Request::from_parts(parts, body), &())
        .await
        .map_err(|rejection| {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::PayloadTooLarge
            } else {
                ErrorCode::InvalidBody
            };
            RouteError::new(code, "the request body could not be read").with_status(status)
        })?;
    let body = check_body(&method, content_type.as_ref(), bytes).map_err(refused)?;

    let raw = RawRequest {
        method,
        path,
        query,
        body,
        route_label: rule.route_label(),
    };
    match state.desk.send_raw(raw).await {
        Ok(answer) => relay(answer),
        Err(error) => Err(desk_error(error)),
    }
}

/// Logs a refusal of steps 1–4, which happen before anything reaches Zoho.
fn refused(error: RouteError, method: &Method) -> RouteError {
    tracing::info!(
        status = error.status().as_u16(),
        code = error.code().as_str(),
        method = %method,
        "pass-through request refused: {}",
        error.message()
    );
    error
}

/// Steps 1–2: the clean path and the rule admitting it.
fn admit<'a>(
    allowlist: &'a Allowlist,
    method: &Method,
    uri: &Uri,
) -> Result<(String, &'a Rule), RouteError> {
    // The remainder after the first occurrence of the prefix; when this router is nested the
    // original path carries the outer prefix first. Everything after it is checked strictly.
    let remainder = uri
        .path()
        .split_once(PREFIX)
        .map_or("", |(_, remainder)| remainder);
    let path = normalize_path(remainder)
        .map_err(|rejection| RouteError::new(ErrorCode::InvalidPath, rejection.to_string()))?;
    if let Some(rule) = allowlist.admits(method, &path) {
        return Ok((path, rule));
    }
    let allow = allowlist.allowed_methods(&path);
    if allow.is_empty() {
        Err(RouteError::new(
            ErrorCode::NotAllowed,
            "this Desk path is not available through the gateway",
        ))
    } else {
        Err(RouteError::new(
            ErrorCode::MethodNotAllowed,
            format!("method {method} is not allowed on this Desk path"),
        )
        .with_allow(allow))
    }
}

/// Step 3: the query as pairs, decoded once (the Desk client re-encodes them).
fn parse_query(uri: &Uri) -> Result<Vec<(String, String)>, RouteError> {
    let invalid = |message: &str| RouteError::new(ErrorCode::InvalidQuery, message);
    let Some(raw) = uri.query() else {
        return Ok(Vec::new());
    };
    if raw.len() > MAX_QUERY_BYTES {
        return Err(invalid("the query string is longer than 2048 bytes"));
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| invalid("the query string is malformed"))?;
    for (name, value) in &pairs {
        if name.is_empty() {
            return Err(invalid("a query parameter has no name"));
        }
        // Decoded `%0d%0a` and friends: harmless once re-encoded, but never legitimate.
        if name.chars().chain(value.chars()).any(char::is_control) {
            return Err(invalid("the query string contains control characters"));
        }
        // The organization is the gateway's choice, never the caller's.
        if name.eq_ignore_ascii_case("orgId") {
            return Err(invalid("orgId is set by the gateway"));
        }
    }
    Ok(pairs)
}

/// Step 4: the body to forward, if any, as JSON.
fn check_body(
    method: &Method,
    content_type: Option<&HeaderValue>,
    bytes: Bytes,
) -> Result<Option<(Vec<u8>, String)>, RouteError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    if method == Method::GET {
        return Err(RouteError::new(
            ErrorCode::BodyNotAllowed,
            "a GET request must not have a body",
        ));
    }
    let is_json = content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(JSON));
    if !is_json {
        return Err(RouteError::new(
            ErrorCode::UnsupportedMediaType,
            "a request body must be application/json",
        ));
    }
    // Malformed JSON would only cost a Zoho call and credits to be refused there.
    // A full parse: it validates UTF-8 in strings and bounds nesting (128 levels), which a
    // skim does not; Zoho is never sent what it would refuse anyway.
    if serde_json::from_slice::<serde_json::Value>(&bytes).is_err() {
        return Err(RouteError::new(
            ErrorCode::InvalidJson,
            "the request body is not valid JSON",
        ));
    }
    Ok(Some((bytes.to_vec(), JSON.to_owned())))
}

/// Step 6: Zoho's answer, minus everything but status, body, `Content-Type` and `Retry-After`.
fn relay(answer: RawResponse) -> Result<Response, RouteError> {
    if answer.status == 401 {
        return Err(zoho_unauthorized(&answer));
    }
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    if let Some(value) = answer
        .content_type
        .and_then(|content_type| HeaderValue::from_str(&content_type).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(wait) = answer.retry_after {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs(wait)),
        );
    }
    Ok(response)
}

/// A 401 that survived the refresh-and-retry: the gateway's Zoho credentials are at fault.
fn zoho_unauthorized(answer: &RawResponse) -> RouteError {
    let api = ApiError::from_response(answer.status, &answer.body, answer.retry_after);
    tracing::warn!(
        error_code = api.code.metric_label(),
        "Zoho Desk refused the gateway's credentials on a pass-through call"
    );
    RouteError::new(
        ErrorCode::refused_credentials(&api.code),
        // `as_str` of an unknown code is already limited to 64 printable characters.
        format!(
            "Zoho Desk refused the gateway's credentials ({})",
            api.code.as_str()
        ),
    )
}

/// A call that got no answer from Zoho (`send_raw` returns every answer, whatever its status).
fn desk_error(error: DeskError) -> RouteError {
    // Every `DeskError` message is free of tokens and URLs by construction.
    let message = error.to_string();
    let route = RouteError::from(error);
    tracing::warn!(
        status = route.status().as_u16(),
        code = route.code().as_str(),
        "pass-through call failed: {message}"
    );
    route
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::render_errors;
    use crate::passthrough::path::tests::attacks;
    use axum::http::HeaderMap;
    use axum::middleware::from_fn;

    use std::time::Duration;

    use axum::http::Request;
    use tower::ServiceExt;
    use zoho_auth::{Credentials, TokenManager, ZohoEndpoints};
    use zoho_desk_api::DeskClientBuilder;
    use zoho_sim::{
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, Fault, Route, SimHandle,
        Times, ZohoSim,
    };

    struct Harness {
        sim: SimHandle,
        tokens: TokenManager,
        app: Router,
    }

    struct Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Answer {
        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).expect("a JSON body")
        }

        fn error_code(&self) -> String {
            self.json()["error"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        }

        /// Whether `secret` appears anywhere in the answer.
        fn contains(&self, secret: &str) -> bool {
            String::from_utf8_lossy(&self.body).contains(secret)
                || self
                    .headers
                    .iter()
                    .any(|(_, value)| String::from_utf8_lossy(value.as_bytes()).contains(secret))
        }
    }

    /// The pass-through with the default allowlist, and the layer that writes error bodies.
    fn app(desk: DeskClient) -> Router {
        router(PassthroughState {
            desk,
            allowlist: Arc::new(Allowlist::default()),
        })
        .layer(from_fn(render_errors))
    }

    async fn harness() -> Harness {
        harness_with(DEFAULT_REFRESH_TOKEN, None, |builder| builder).await
    }

    /// A gateway on the emulator; `desk_url` overrides the Desk base URL (a dead port).
    async fn harness_with(
        refresh_token: &str,
        desk_url: Option<String>,
        configure: impl FnOnce(DeskClientBuilder) -> DeskClientBuilder,
    ) -> Harness {
        let sim = ZohoSim::start(Default::default()).await.expect("emulator");
        let endpoints = ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).expect("urls");
        let tokens = TokenManager::builder(
            Credentials::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, refresh_token),
            endpoints.clone(),
        )
        .build();
        let base = desk_url.unwrap_or_else(|| endpoints.desk_api_url().to_string());
        let desk = configure(
            DeskClient::builder(base, sim.desk_org_id(), tokens.clone())
                .timeout(Duration::from_secs(10)),
        )
        .build();
        Harness {
            sim,
            tokens,
            app: app(desk),
        }
    }

    impl Harness {
        async fn send(&self, request: Request<Body>) -> Answer {
            let response = self.app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let headers = response.headers().clone();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body")
                .to_vec();
            Answer {
                status,
                headers,
                body,
            }
        }

        async fn get(&self, uri: &str) -> Answer {
            self.send(Request::get(uri).body(Body::empty()).unwrap())
                .await
        }

        fn desk_requests(&self) -> u64 {
            self.sim.stats().desk_requests
        }

        async fn token(&self) -> String {
            self.tokens
                .token()
                .await
                .expect("token")
                .expose_secret()
                .to_owned()
        }
    }

    #[tokio::test]
    async fn lists_tickets_without_forwarding_client_credentials() {
        let h = harness().await;
        let request = Request::get("/api/zoho-desk/v1/tickets?limit=5")
            .header(header::AUTHORIZATION, "Bearer client-key")
            .header(header::COOKIE, "session=client-cookie")
            .header("x-api-key", "client-key")
            // Forwarded, these would make the emulator refuse the call.
            .header("orgId", h.sim.desk_other_org_id())
            .header(header::CONNECTION, "keep-alive, x-hop")
            .header("x-hop", "1")
            .header("x-request-id", "req-1")
            .body(Body::empty())
            .unwrap();
        let answer = h.send(request).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(answer.json()["data"].as_array().unwrap().len(), 5);
        assert_eq!(
            answer.headers.get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        // Only Content-Type of Zoho's headers comes back (not its rate-limit headers).
        assert!(
            answer
                .headers
                .keys()
                .all(|name| name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH),
            "{:?}",
            answer.headers
        );
        assert_eq!(h.sim.stats().count("GET /tickets", 200), 1);
        assert!(!answer.contains(&h.token().await));
    }

    #[tokio::test]
    async fn path_attacks_never_reach_zoho() {
        let h = harness().await;
        let mut sent = 0;
        for (attack, _) in attacks() {
            // In a request target `?` and `#` end the path, so those are no path attacks there;
            // without a leading `/` the route itself does not match (checked below).
            if attack.contains(['?', '#']) || !attack.starts_with('/') {
                continue;
            }
            // Some attacks cannot even be written as a request target; hyper refuses those.
            let Ok(uri) = Uri::try_from(format!("{PREFIX}{attack}?limit=1")) else {
                continue;
            };
            sent += 1;
            let answer = h.send(Request::get(uri).body(Body::empty()).unwrap()).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{attack:?}");
            assert_eq!(answer.error_code(), "invalid_path", "{attack:?}");
        }
        for uri in ["/api/zoho-desk/v1..", "/api/zoho-desk/v1tickets"] {
            assert_eq!(h.get(uri).await.status, StatusCode::NOT_FOUND, "{uri}");
        }
        assert!(sent >= 25, "only {sent} attacks were sendable");
        for uri in [PREFIX, "/api/zoho-desk/v1/"] {
            let answer = h.get(uri).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(answer.error_code(), "invalid_path");
        }
        assert_eq!(h.desk_requests(), 0);
        assert_eq!(h.sim.token_calls(), 0);
    }

    #[tokio::test]
    async fn methods_and_paths_off_the_allowlist_never_reach_zoho() {
        let h = harness().await;
        let delete = Request::delete("/api/zoho-desk/v1/tickets/1")
            .header("x-request-id", "req-405")
            .body(Body::empty())
            .unwrap();
        let answer = h.send(delete).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(answer.error_code(), "method_not_allowed");
        assert_eq!(answer.json()["error"]["requestId"], "req-405");
        assert_eq!(
            answer.headers.get(header::ALLOW).unwrap(),
            "GET, POST, PATCH"
        );

        for (method, uri) in [
            (Method::PUT, "/api/zoho-desk/v1/tickets/1"),
            (Method::HEAD, "/api/zoho-desk/v1/tickets"),
            (Method::POST, "/api/zoho-desk/v1/products"),
        ] {
            let request = Request::builder().method(method).uri(uri);
            let answer = h.send(request.body(Body::empty()).unwrap()).await;
            assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        }
        for uri in [
            "/api/zoho-desk/v1/organizations",
            "/api/zoho-desk/v1/ticketsx",
            "/api/zoho-desk/v1/oauth/v2/token",
        ] {
            let answer = h.get(uri).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(answer.error_code(), "not_allowed");
        }
        let trash = Request::post("/api/zoho-desk/v1/tickets/moveToTrash")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"ticketIds":["1"]}"#))
            .unwrap();
        assert_eq!(h.send(trash).await.status, StatusCode::NOT_FOUND);
        assert_eq!(h.desk_requests(), 0);
    }

    #[tokio::test]
    async fn bad_queries_and_bodies_never_reach_zoho() {
        let h = harness().await;
        for (query, code) in [
            ("orgId=60000000002", "invalid_query"),
            ("ORGID=1", "invalid_query"),
            ("x=%0d%0aInjected:%201", "invalid_query"),
            ("x%00=1", "invalid_query"),
            ("=1", "invalid_query"),
        ] {
            let answer = h.get(&format!("/api/zoho-desk/v1/tickets?{query}")).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(answer.error_code(), code, "{query}");
        }
        let long = format!(
            "/api/zoho-desk/v1/tickets?x={}",
            "a".repeat(MAX_QUERY_BYTES)
        );
        assert_eq!(h.get(&long).await.error_code(), "invalid_query");

        let get_with_body = Request::get("/api/zoho-desk/v1/tickets")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(h.send(get_with_body).await.error_code(), "body_not_allowed");
        for content_type in [Some("text/plain"), Some("application/jsonx"), None] {
            let mut request = Request::post("/api/zoho-desk/v1/contacts");
            if let Some(content_type) = content_type {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let answer = h
                .send(request.body(Body::from(r#"{"lastName":"x"}"#)).unwrap())
                .await;
            assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert_eq!(answer.error_code(), "unsupported_media_type");
        }
        let broken = Request::post("/api/zoho-desk/v1/contacts")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"lastName\":"))
            .unwrap();
        assert_eq!(h.send(broken).await.error_code(), "invalid_json");
        assert_eq!(h.desk_requests(), 0);
    }

    #[tokio::test]
    async fn creates_a_contact_and_passes_zoho_errors_through() {
        let h = harness().await;
        let before = h.sim.contact_count();
        let create = Request::post("/api/zoho-desk/v1/contacts")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(header::AUTHORIZATION, "Bearer client-key")
            .body(Body::from(
                r#"{"lastName":"Passthrough","email":"pass@example.com"}"#,
            ))
            .unwrap();
        let answer = h.send(create).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(answer.json()["lastName"], "Passthrough");
        assert_eq!(h.sim.contact_count(), before + 1);

        // Zoho's validation error comes back unchanged.
        let invalid = Request::post("/api/zoho-desk/v1/contacts")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"email":"pass@example.com"}"#))
            .unwrap();
        let answer = h.send(invalid).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            answer.json()["errorCode"].is_string(),
            "{:?}",
            answer.json()
        );
        assert_eq!(h.sim.contact_count(), before + 1);

        // An admitted path the emulator does not know: Zoho's 404, passed through.
        let answer = h.get("/api/zoho-desk/v1/tasks?limit=5").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.json()["errorCode"], "URL_NOT_FOUND");
        assert_eq!(h.desk_requests(), 3);
        assert!(!answer.contains(&h.token().await));
    }

    #[tokio::test]
    async fn an_invalidated_token_is_refreshed_once_and_never_returned() {
        let h = harness().await;
        let first = h.get("/api/zoho-desk/v1/agents").await;
        assert_eq!(first.status, StatusCode::OK);
        let old_token = h.token().await;
        let refreshes = h.sim.token_calls();
        assert!(h.sim.invalidate_access_tokens() > 0);

        let answer = h.get("/api/zoho-desk/v1/tickets?limit=2").await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json());
        assert_eq!(h.sim.token_calls(), refreshes + 1);
        let new_token = h.token().await;
        assert_ne!(new_token, old_token);
        for response in [&first, &answer] {
            assert!(!response.contains(&old_token) && !response.contains(&new_token));
            assert!(!response.contains("Zoho-oauthtoken"));
        }
    }

    #[tokio::test]
    async fn zoho_401s_are_the_gateways_problem_not_the_callers() {
        let h = harness().await;
        // A token that belongs to another organization: permanent, no refresh loop.
        let desk = DeskClient::builder(
            h.sim.desk_url(),
            h.sim.desk_other_org_id(),
            h.tokens.clone(),
        )
        .build();
        let h = Harness {
            app: app(desk),
            ..h
        };
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        assert_eq!(answer.error_code(), "zoho_org_mismatch");
        assert!(answer.headers.get(header::WWW_AUTHENTICATE).is_none());
        assert!(!answer.contains(&h.token().await));
    }

    #[tokio::test]
    async fn retry_after_is_passed_through() {
        let h = harness().await;
        h.sim.set_desk_daily_credits(0);
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.json()["errorCode"], "THRESHOLD_EXCEEDED");
        let wait: u64 = answer.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait >= 1);
    }

    #[tokio::test]
    async fn no_answer_maps_to_gateway_errors() {
        // Nothing listens on the Desk URL: 502.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_url = format!("http://{}/api/v1", dead.local_addr().unwrap());
        drop(dead);
        let h = harness_with(DEFAULT_REFRESH_TOKEN, Some(dead_url), |b| b.max_retries(0)).await;
        let request = Request::get("/api/zoho-desk/v1/tickets")
            .header("x-request-id", "req-502")
            .body(Body::empty())
            .unwrap();
        let answer = h.send(request).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        assert_eq!(answer.error_code(), "zoho_unavailable");
        assert_eq!(answer.json()["error"]["requestId"], "req-502");

        // Zoho too slow: 504.
        let h = harness_with(DEFAULT_REFRESH_TOKEN, None, |b| {
            b.timeout(Duration::from_millis(200)).max_retries(0)
        })
        .await;
        h.sim.inject(
            Route::Desk,
            Fault::latency(Duration::from_secs(2)),
            Times::Next(1),
        );
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(answer.error_code(), "zoho_timeout");

        // No token to be had: 503, and no Desk call.
        let h = harness_with("1000.not-a-refresh-token", None, |b| b).await;
        let answer = h.get("/api/zoho-desk/v1/tickets").await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.error_code(), "token_unavailable");
        assert_eq!(h.desk_requests(), 0);
        assert!(!answer.contains("not-a-refresh-token"));
    }
}
