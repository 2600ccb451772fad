//! The API router with its layers, both listeners, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::{info, warn};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{ApiKeys, RequireRole, Role, X_API_KEY, X_REQUEST_ID, request_id, require_role};
use crate::config::{RateLimitConfig, ServerConfig};
use crate::error::render;
use crate::rate_limit::{RateLimit, rate_limit};
use crate::state::AppState;
use crate::{admin, otel, passthrough, routes, telemetry};

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "zoho-gateway", description = "A gateway to the Zoho Desk API with a token cache that is never caught out by expiry."),
    paths(
        routes::token_status, routes::force_refresh,
        routes::list_tickets, routes::create_ticket, routes::get_ticket, routes::update_ticket,
        routes::list_threads, routes::list_comments, routes::create_comment, routes::search_tickets,
        routes::list_contacts, routes::create_contact, routes::get_contact, routes::update_contact,
        routes::search_contacts, routes::list_agents, routes::list_departments, routes::list_organizations,
    ),
    components(schemas(routes::TokenStatusBody, routes::RefreshBody, routes::ErrorBody, routes::ListBody)),
    tags((name = "token"), (name = "tickets"), (name = "contacts"), (name = "directory")),
)]
pub struct ApiDoc;

/// `x-request-id` values for requests that come without one.
#[derive(Clone, Copy, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // 32 lowercase hex digits, as `format!("{:016x}{:016x}")` wrote them, without the
        // formatting machinery.
        let mut id = [0u8; 32];
        let random = (u128::from(fastrand_u64()) << 64) | u128::from(fastrand_u64());
        for (index, digit) in id.iter_mut().enumerate() {
            *digit = HEX[((random >> (124 - 4 * index)) & 0xf) as usize];
        }
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
}

fn fastrand_u64() -> u64 {
    // std's RandomState is seeded per process from the OS; hashing a counter gives cheap,
    // unpredictable-enough ids without another dependency.
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static STATE: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    STATE
        .get_or_init(RandomState::new)
        .hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The API router: routes, roles, rate limit, and the layers every request passes.
pub fn api_router(
    state: AppState,
    server: &ServerConfig,
    keys: Arc<ApiKeys>,
    limits: &RateLimitConfig,
) -> Router {
    let role = |role: Role| from_fn_with_state(RequireRole::new(keys.clone(), role), require_role);
    let reads = Router::new()
        .route("/api/zoho-desk/token", get(routes::token_status))
        .route("/api/zoho-desk/tickets", get(routes::list_tickets))
        .route("/api/zoho-desk/tickets/search", get(routes::search_tickets))
        .route("/api/zoho-desk/tickets/{id}", get(routes::get_ticket))
        .route(
            "/api/zoho-desk/tickets/{id}/threads",
            get(routes::list_threads),
        )
        .route(
            "/api/zoho-desk/tickets/{id}/comments",
            get(routes::list_comments),
        )
        .route("/api/zoho-desk/contacts", get(routes::list_contacts))
        .route(
            "/api/zoho-desk/contacts/search",
            get(routes::search_contacts),
        )
        .route("/api/zoho-desk/contacts/{id}", get(routes::get_contact))
        .route("/api/zoho-desk/agents", get(routes::list_agents))
        .route("/api/zoho-desk/departments", get(routes::list_departments))
        .route(
            "/api/zoho-desk/organizations",
            get(routes::list_organizations),
        )
        .route_layer(role(Role::Read));
    let writes = Router::new()
        .route("/api/zoho-desk/tickets", post(routes::create_ticket))
        .route("/api/zoho-desk/tickets/{id}", patch(routes::update_ticket))
        .route(
            "/api/zoho-desk/tickets/{id}/comments",
            post(routes::create_comment),
        )
        .route("/api/zoho-desk/contacts", post(routes::create_contact))
        .route(
            "/api/zoho-desk/contacts/{id}",
            patch(routes::update_contact),
        )
        .route_layer(role(Role::Write));
    let admin = Router::new()
        .route("/api/zoho-desk/token", post(routes::force_refresh))
        .route_layer(role(Role::Admin));
    // The pass-through: reads need read, anything else write (checked per method inside).
    let passthrough = passthrough::router(axum::extract::FromRef::from_ref(&state))
        .route_layer(from_fn_with_state(keys.clone(), passthrough_role));

    let api = reads
        .merge(writes)
        .merge(admin)
        .with_state(state)
        .merge(passthrough)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()));

    let cors = cors_layer(&server.cors_origins);
    let sensitive: Arc<[HeaderName]> = Arc::new([header::AUTHORIZATION, header::COOKIE, X_API_KEY]);
    let layers = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::from_shared(sensitive))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, RandomRequestId))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            // INFO server spans (engineering.md trap 7) whose parent is the inbound W3C
            // `traceparent`, with OpenTelemetry's HTTP fields (see `otel::server_span`).
            TraceLayer::new_for_http()
                .make_span_with(otel::server_span)
                .on_response(otel::on_server_response),
        )
        .layer(from_fn_with_state(
            telemetry::HttpMetrics::new(),
            telemetry::http_metrics,
        ))
        .layer(from_fn(json_errors))
        .layer(CatchPanicLayer::custom(|_| {
            render(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
                None,
                None,
            )
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            server.request_timeout,
        ))
        // Rate limiting needs the key name, so authentication (any role) runs outside it.
        .layer(role(Role::Read))
        .layer(from_fn_with_state(RateLimit::new(limits), rate_limit))
        .layer(from_fn_with_state(
            server.body_limit_bytes,
            refuse_declared_oversize,
        ))
        .layer(DefaultBodyLimit::max(server.body_limit_bytes));
    // One `Router::layer` call for the whole stack: every call wraps each route in another boxed
    // service, cloned on every request.
    match cors {
        Some(cors) => api.layer(layers).layer(cors),
        None => api.layer(layers),
    }
}

async fn passthrough_role(
    axum::extract::State(keys): axum::extract::State<Arc<ApiKeys>>,
    request: Request,
    next: Next,
) -> Response {
    let role = if matches!(*request.method(), Method::GET | Method::HEAD) {
        Role::Read
    } else {
        Role::Write
    };
    require_role(
        axum::extract::State(RequireRole::new(keys, role)),
        request,
        next,
    )
    .await
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse::<HeaderValue>().ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PATCH])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                X_API_KEY,
                X_REQUEST_ID,
            ]),
    )
}

/// Refuses a request whose declared `Content-Length` is over the body limit before reading any
/// of it: the limit alone trips only once that many bytes have arrived, so a client declaring a
/// huge body and sending nothing would hold its connection until the request timeout. The bare
/// 413 becomes the JSON error in `json_errors`.
async fn refuse_declared_oversize(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    next.run(request).await
}

/// Answers that layers or the router produce without a body (404 for an unknown route, 405,
/// 408/504 timeouts, 413) become the same JSON error shape as everything else.
async fn json_errors(request: Request, next: Next) -> Response {
    // The header value itself (a reference count, not a copy): only an error needs it.
    let id = request.headers().get(X_REQUEST_ID).cloned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = status.canonical_reason().unwrap_or("error").to_owned();
    let (parts, _) = response.into_parts();
    let mut headers = axum::http::HeaderMap::new();
    if let Some(id) = id {
        headers.insert(X_REQUEST_ID, id);
    }
    let mut rendered = render(status, code, message, request_id(&headers), None);
    for name in [header::ALLOW, header::RETRY_AFTER, X_REQUEST_ID] {
        if let Some(value) = parts.headers.get(&name) {
            rendered.headers_mut().insert(name, value.clone());
        }
    }
    rendered.into_response()
}

/// Binds both listeners; returns their addresses (ports may be 0 in tests).
pub async fn bind(server: &ServerConfig) -> std::io::Result<(TcpListener, TcpListener)> {
    let api = TcpListener::bind(server.listen).await?;
    let admin = TcpListener::bind(server.admin_listen).await?;
    Ok((api, admin))
}

/// Serves until `shutdown` resolves, then stops accepting, drains in-flight requests for up to
/// `grace`, and returns. The API listener holds at most `max_connections` client connections.
pub async fn serve(
    api_listener: TcpListener,
    admin_listener: TcpListener,
    api: Router,
    admin: Router,
    max_connections: usize,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    /// How long a client gets to send a request's whole header block on the API listener
    /// (also how long an idle keep-alive connection stays open): hyper's own default, which
    /// `axum::serve` never applies because it gives hyper no timer. Without it a client that
    /// trickles header bytes (slowloris) holds a connection and its task forever.
    const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // The API listener: axum::serve's accept loop, by hand, so each connection's HTTP/1
    // builder gets a timer and the header read timeout. Shutdown as axum does it: stop
    // accepting, let every connection finish its in-flight request, wait for all of them.
    let api_stop = stop_rx.clone();
    let api_server = async move {
        use tower::ServiceExt as _;
        let mut listener = api_listener;
        let (closed_tx, closed_rx) = tokio::sync::watch::channel(());
        let mut stopped = std::pin::pin!(wait(api_stop.clone()));
        let connections = Arc::new(tokio::sync::Semaphore::new(max_connections));
        loop {
            // At the limit, stop accepting: new connections wait in the kernel's backlog (and
            // time out there), not as tasks and sockets here.
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => permit.expect("never closed"),
                () = &mut stopped => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = axum::serve::Listener::accept(&mut listener) => accepted,
                () = &mut stopped => break,
            };
            let service = api.clone().map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    // What `into_make_service_with_connect_info` provided: the rate limit's
                    // per-peer key for unauthenticated requests.
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
                    request
                },
            );
            let stop = wait(api_stop.clone());
            let closed = closed_rx.clone();
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                let connection = builder.serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper_util::service::TowerToHyperService::new(service),
                );
                let mut connection = std::pin::pin!(connection);
                let result = tokio::select! {
                    result = connection.as_mut() => result,
                    () = stop => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(peer = %peer, error = %error, "connection closed with an error");
                }
                drop(permit);
                drop(closed);
            });
        }
        drop(listener);
        drop(closed_rx);
        closed_tx.closed().await;
        Ok::<(), std::io::Error>(())
    };
    let admin_server = axum::serve(admin_listener, admin.into_make_service())
        .with_graceful_shutdown(wait(stop_rx));
    let servers =
        tokio::spawn(async move { tokio::try_join!(api_server, admin_server.into_future()) });
    shutdown.await;
    info!(
        message = "shutting down: no new connections, draining in-flight requests",
        grace_secs = grace.as_secs()
    );
    let _ = stop_tx.send(true);
    match tokio::time::timeout(grace, servers).await {
        Ok(Ok(result)) => result.map(|_| ()),
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => {
            warn!(
                message = "drain deadline passed; exiting with requests still in flight",
                grace_secs = grace.as_secs()
            );
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}

/// The admin router (re-exported for the binary).
pub fn admin_router(state: &AppState, metrics: Option<PrometheusHandle>) -> Router {
    admin::router(state.tokens.clone(), metrics)
}
