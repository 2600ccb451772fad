//! What the in-process tests share.

use std::sync::Arc;

use axum::Router;
use gateway::config::{Config, MapSource, var};
use gateway::{app, server};
use zoho_sim::SimHandle;

/// The real API router for `config`, as `app::run` builds it.
pub fn api_router(config: &Config) -> Router {
    let state = app::build_state(&config.zoho, config.server.passthrough.clone());
    server::api_router(
        state,
        &config.server,
        Arc::new(config.security.api_keys.clone()),
        &config.security.rate_limit,
    )
}

/// The emulator's Zoho values, as the gateway's variables.
pub fn zoho_source(sim: &SimHandle) -> MapSource {
    MapSource::from_iter(sim.client_env())
        .with(var::GATEWAY_LISTEN, "127.0.0.1:0")
        .with(var::GATEWAY_ADMIN_LISTEN, "127.0.0.1:0")
}
