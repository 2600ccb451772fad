//! The admin listener: liveness, readiness and metrics, apart from the API so probes and scrapes
//! never compete with (or need the keys of) API traffic.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use zoho_auth::{TokenManager, TokenState};

#[derive(Clone)]
struct AdminState {
    tokens: TokenManager,
    metrics: Option<PrometheusHandle>,
}

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router(tokens: TokenManager, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { (StatusCode::OK, axum::Json(json!({ "status": "ok" }))) }),
        )
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(AdminState { tokens, metrics })
}

/// Ready while a usable token is held — the static fallback counts; a permanent credential
/// failure without a usable token does not.
async fn ready(State(state): State<AdminState>) -> Response {
    let status = state.tokens.status();
    let ready = status.has_token;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "state": status.state.as_str(),
        "fallback": status.fallback,
        "degraded": status.degraded,
        "credentialsFailed": status.state == TokenState::FailedPermanently,
    });
    (code, axum::Json(body)).into_response()
}

async fn render_metrics(State(state): State<AdminState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics recorder not installed").into_response(),
    }
}
