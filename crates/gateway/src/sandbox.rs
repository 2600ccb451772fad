//! `zoho-gateway serve --sandbox`: the gateway against an in-process Zoho emulator with a seeded
//! portal, so it runs on a fresh machine with no Zoho account and no configuration.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use zoho_auth::{DataCentre, ZohoEndpoints};
use zoho_sim::{AccountsConfig, SimConfig, SimHandle, ZohoSim};

use crate::config::{Config, SecurityConfig, ServerConfig, TelemetryConfig, ZohoConfig};

/// Token lifetime in the sandbox: short, so refreshes show within a demo.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Starts the emulator and returns it with a configuration pointing at it. `server` carries the
/// listen addresses and other server settings (defaults unless flags said otherwise).
pub async fn start(
    server: ServerConfig,
    token_lifetime: Duration,
) -> std::io::Result<(SimHandle, Config)> {
    let sim = ZohoSim::start(SimConfig {
        accounts: AccountsConfig {
            token_lifetime,
            ..AccountsConfig::default()
        },
        ..SimConfig::default()
    })
    .await?;
    let endpoints = ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let zoho = ZohoConfig {
        client_id: zoho_sim::DEFAULT_CLIENT_ID.to_owned(),
        client_secret: SecretString::from(zoho_sim::DEFAULT_CLIENT_SECRET),
        refresh_token: SecretString::from(zoho_sim::DEFAULT_REFRESH_TOKEN),
        fallback_access_token: None,
        org_id: sim.desk_org_id(),
        data_centre: DataCentre::Us,
        endpoints,
        // A 5-minute token refreshed 60 s (plus jitter) before expiry.
        refresh_margin: Duration::from_secs(60).min(token_lifetime / 4),
        refresh_jitter: Duration::from_secs(30),
        expiry_skew: Duration::from_secs(5),
        refresh_budget: 10,
        desk_max_concurrency: 10,
        redis_url: None,
        token_encryption: None,
    };
    let config = Config {
        zoho,
        server,
        security: SecurityConfig::default(),
        telemetry: TelemetryConfig::default(),
    };
    Ok((sim, config))
}

/// What to try, printed at start.
pub fn banner(api: SocketAddr, admin: SocketAddr, sim: &SimHandle) -> String {
    format!(
        "\nzoho-gateway sandbox: a seeded Zoho Desk portal is emulated at {emulator} (tokens live 5 minutes).\n\
         Try:\n\
         \x20 curl -s http://{api}/api/zoho-desk/token\n\
         \x20 curl -s 'http://{api}/api/zoho-desk/tickets?limit=5'\n\
         \x20 curl -s 'http://{api}/api/zoho-desk/contacts?limit=5'\n\
         \x20 curl -s -X POST http://{api}/api/zoho-desk/token\n\
         \x20 curl -s http://{admin}/metrics | grep zoho_token\n\
         \x20 open http://{api}/docs   (OpenAPI: http://{api}/openapi.json)\n",
        emulator = sim.base_url(),
    )
}
