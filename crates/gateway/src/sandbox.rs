//! `zoho-gateway serve --sandbox`: the gateway against an in-process Zoho emulator with a seeded
//! portal, so it runs on a fresh machine with no Zoho account.
//!
//! The sandbox changes where Zoho is, nothing else: [`sources`] puts the emulator's credentials
//! and URLs above the usual sources and the same [`Config::load`](crate::config::Config::load)
//! runs, so API keys, rate limits, CORS, Sentry, OTLP and every other variable behave exactly as
//! in production (including the rule that anonymous mode needs a loopback listener).

use std::net::SocketAddr;
use std::time::Duration;

use zoho_sim::{AccountsConfig, SimConfig, SimHandle, ZohoSim};

use crate::config::{ConfigSource, LayeredSource, MapSource, var};

/// Shortest token lifetime the sandbox accepts: the refresh margin needs room below it.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(30);

/// The running emulator and the token lifetime it issues.
#[derive(Debug)]
pub struct Sandbox {
    sim: SimHandle,
    token_lifetime: Duration,
}

impl Sandbox {
    /// Starts the emulator, issuing tokens that live `token_lifetime` (at least
    /// [`MIN_TOKEN_LIFETIME`]).
    pub async fn start(token_lifetime: Duration) -> std::io::Result<Sandbox> {
        let token_lifetime = token_lifetime.max(MIN_TOKEN_LIFETIME);
        let sim = ZohoSim::start(SimConfig {
            accounts: AccountsConfig {
                token_lifetime,
                ..AccountsConfig::default()
            },
            ..SimConfig::default()
        })
        .await?;
        Ok(Sandbox {
            sim,
            token_lifetime,
        })
    }

    /// `usual` with the emulator's Zoho values above it (they win over flags, the environment
    /// and files, so a real `.env` cannot send the emulator's credentials to real Zoho) and,
    /// below it, a refresh margin scaled to the token lifetime for when none is configured (the
    /// production default of 60 s would exceed a short sandbox token's life).
    pub fn sources(&self, usual: LayeredSource) -> LayeredSource {
        let emulator = MapSource::from_iter(self.sim.client_env());
        let margin = zoho_auth::DEFAULT_REFRESH_MARGIN.min(self.token_lifetime / 4);
        let fallback = MapSource::new().with(
            var::ZOHO_TOKEN_REFRESH_MARGIN_SECS,
            margin.as_secs().to_string(),
        );
        let mut layers = LayeredSource::new();
        layers.push(Labelled("the sandbox emulator", emulator));
        layers.push(usual);
        layers.push(Labelled("the sandbox's defaults", fallback));
        layers
    }

    /// What to try, printed at start.
    pub fn banner(&self, api: SocketAddr, admin: SocketAddr) -> String {
        format!(
            "\nzoho-gateway sandbox: a seeded Zoho Desk portal is emulated at {emulator} (tokens live {lifetime}).\n\
             Try:\n\
             \x20 curl -s http://{api}/api/zoho-desk/token\n\
             \x20 curl -s 'http://{api}/api/zoho-desk/tickets?limit=5'\n\
             \x20 curl -s 'http://{api}/api/zoho-desk/contacts?limit=5'\n\
             \x20 curl -s -X POST http://{api}/api/zoho-desk/token\n\
             \x20 curl -s http://{admin}/metrics | grep zoho_token\n\
             \x20 open http://{api}/docs   (OpenAPI: http://{api}/openapi.json)\n",
            emulator = self.sim.base_url(),
            lifetime = lifetime_text(self.token_lifetime),
        )
    }
}

/// A source named for messages by where its values come from.
#[derive(Debug)]
struct Labelled(&'static str, MapSource);

impl ConfigSource for Labelled {
    fn get(&self, name: &str) -> Option<String> {
        self.1.get(name)
    }

    fn describe(&self) -> String {
        self.0.to_owned()
    }
}

/// `5 minutes`, `1 minute`, `90 seconds`.
fn lifetime_text(lifetime: Duration) -> String {
    let secs = lifetime.as_secs();
    match (secs % 60, secs / 60) {
        (0, 1) => "1 minute".to_owned(),
        (0, minutes) => format!("{minutes} minutes"),
        _ => format!("{secs} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_lifetime_reads_as_written() {
        assert_eq!(lifetime_text(Duration::from_secs(300)), "5 minutes");
        assert_eq!(lifetime_text(Duration::from_secs(60)), "1 minute");
        assert_eq!(lifetime_text(Duration::from_secs(90)), "90 seconds");
    }

    #[tokio::test]
    async fn the_emulator_wins_and_every_other_variable_is_read() {
        let sandbox = Sandbox::start(Duration::ZERO).await.unwrap();
        let mut usual = LayeredSource::new();
        usual.push(
            MapSource::new()
                .with(var::ZOHO_DESK_CLIENT_ID, "real-client")
                .with(var::ZOHO_ACCOUNTS_URL, "https://accounts.zoho.eu")
                .with(var::GATEWAY_RATE_LIMIT_BURST, "3"),
        );
        let config = Config::load(&sandbox.sources(usual)).unwrap();
        let sim = &sandbox.sim;
        assert_eq!(config.zoho.client_id, zoho_sim::DEFAULT_CLIENT_ID);
        assert_eq!(config.zoho.endpoints.accounts_url(), sim.accounts_url());
        assert_eq!(config.zoho.endpoints.desk_api_url(), sim.desk_url());
        assert_eq!(config.security.rate_limit.burst.get(), 3);
        // Raised to 30 s tokens; the margin is a quarter of their life, not the production minute.
        assert_eq!(config.zoho.refresh_margin, Duration::from_secs(7));
    }
}
