//! Wiring: from a validated [`Config`] to running listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use tracing::{info, warn};
use zoho_auth::TokenManager;
use zoho_auth::store::RedisStore;
use zoho_desk_api::DeskClient;

use crate::config::{Config, ZohoConfig};
use crate::passthrough::Allowlist;
use crate::server;
use crate::state::AppState;

/// The token manager and Desk client for `zoho`. Must be called inside a tokio runtime.
pub fn build_state(zoho: &ZohoConfig, allowlist: Allowlist) -> AppState {
    let mut tokens = TokenManager::builder(zoho.credentials(), zoho.endpoints.clone())
        .refresh_margin(zoho.refresh_margin)
        .refresh_jitter(zoho.refresh_jitter)
        .expiry_skew(zoho.expiry_skew)
        .refresh_budget(zoho.refresh_budget, zoho_auth::DEFAULT_BUDGET_WINDOW)
        .fallback_token(zoho.fallback_access_token.clone());
    if let Some(url) = &zoho.redis_url {
        // Fleet mode: one token for every replica. Config guarantees encryption unless
        // plaintext was explicitly allowed; an unreachable Redis means degraded mode, not exit.
        match RedisStore::new(
            url.expose_secret(),
            &zoho.credentials(),
            zoho.token_encryption.clone(),
        ) {
            Ok(store) => tokens = tokens.token_store(store),
            Err(error) => {
                warn!(message = "[Zoho Token] Shared token store not usable; running without it", error = %error)
            }
        }
    }
    let tokens = tokens.build();
    let desk = DeskClient::builder(
        zoho.endpoints.desk_api_url(),
        zoho.org_id.as_str(),
        tokens.clone(),
    )
    .max_concurrency(zoho.desk_max_concurrency)
    // W3C `traceparent` of the client span on every Desk call (nothing when tracing is off).
    .request_headers(crate::otel::inject_trace_context)
    .build();
    AppState {
        tokens,
        desk,
        allowlist: Arc::new(allowlist),
    }
}

/// Binds both listeners, announces them on stdout (and through `announce`), warms the token cache and serves until
/// `shutdown`; then drains for the configured grace period.
pub async fn run(
    config: Config,
    metrics: Option<PrometheusHandle>,
    announce: impl FnOnce(SocketAddr, SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    for warning in config.warnings() {
        warn!(message = %warning);
    }
    let state = build_state(&config.zoho, config.server.passthrough.clone());
    let (api_listener, admin_listener) = server::bind(&config.server).await?;
    let api_addr = api_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let api = server::api_router(
        state.clone(),
        &config.server,
        Arc::new(config.security.api_keys.clone()),
        &config.security.rate_limit,
    );
    let admin = server::admin_router(&state, metrics);
    info!(message = "[Zoho Desk] Initializing with automatic token refresh: enabled", org_id = %config.zoho.org_id, data_centre = %config.zoho.data_centre);
    // One refresh at start, so readiness turns green without waiting for a first caller.
    let tokens = state.tokens.clone();
    tokio::spawn(async move {
        if let Err(error) = tokens.token().await {
            warn!(message = "[Zoho Token] No token at start", error = %error);
        }
    });
    println!("zoho-gateway listening: api=http://{api_addr} admin=http://{admin_addr}");
    announce(api_addr, admin_addr);
    info!(message = "listening", api = %api_addr, admin = %admin_addr);
    server::serve(
        api_listener,
        admin_listener,
        api,
        admin,
        config.server.max_connections,
        config.server.shutdown_grace,
        shutdown,
    )
    .await
}
