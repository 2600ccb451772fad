//! The API router and the layer stack every request passes; the listeners are in `listen.rs`.

mod layers;
mod listen;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, patch, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{ApiKeys, RequireRole, Role, X_API_KEY, require_role, require_role_for_method};
use crate::config::{RateLimitConfig, ServerConfig};
use crate::error::{self, X_REQUEST_ID, render_errors};
use crate::rate_limit::{RateLimit, rate_limit};
use crate::state::AppState;
use crate::{admin, otel, passthrough, routes, telemetry};
use layers::{RandomRequestId, cors_layer, refuse_declared_oversize};

pub use listen::{bind, serve, shutdown_signal};

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
        .route_layer(from_fn_with_state(keys.clone(), require_role_for_method));

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
        // Writes the body of every error answer, with the request id (set just outside).
        .layer(from_fn(render_errors))
        .layer(CatchPanicLayer::custom(error::panicked))
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

/// The admin router (re-exported for the binary).
pub fn admin_router(state: &AppState, metrics: Option<PrometheusHandle>) -> Router {
    admin::router(state.tokens.clone(), metrics)
}
