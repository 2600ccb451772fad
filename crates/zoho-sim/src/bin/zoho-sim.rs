//! Runs the emulator by hand: `cargo run -p zoho-sim -- --port 8700`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use zoho_sim::{AccountsConfig, DeskConfig, SimConfig, ThrottleStyle, ZohoSim};

/// A Zoho Accounts and Desk emulator on a local port, with the seeded OAuth client, refresh token
/// and Desk portal.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime_secs: u64,
    /// Answer with the legacy `expires_in_sec` + milliseconds shape.
    #[arg(long)]
    legacy_expiry: bool,
    /// Live access tokens per refresh token before the oldest is evicted.
    #[arg(long, default_value_t = 15)]
    live_token_cap: usize,
    /// Throttle response style: json200, json400, new-wording, localized, html.
    #[arg(long, default_value = "json200", value_parser = parse_style)]
    throttle_style: ThrottleStyle,
    /// The Desk organization id (the `orgId` header).
    #[arg(long, default_value = zoho_sim::DEFAULT_ORG_ID)]
    org_id: String,
    /// Desk requests allowed in flight at once.
    #[arg(long, default_value_t = DeskConfig::default().concurrency_limit)]
    concurrency_limit: usize,
    /// Desk API credits per UTC day.
    #[arg(long, default_value_t = DeskConfig::default().daily_credits)]
    daily_credits: u64,
    /// Seed of the generated Desk data.
    #[arg(long, default_value_t = DeskConfig::default().seed)]
    seed: u64,
}

fn parse_style(value: &str) -> Result<ThrottleStyle, String> {
    match value {
        "json200" => Ok(ThrottleStyle::Json200),
        "json400" => Ok(ThrottleStyle::Json400),
        "new-wording" => Ok(ThrottleStyle::NewWording),
        "localized" => Ok(ThrottleStyle::Localized),
        "html" => Ok(ThrottleStyle::Html),
        other => Err(format!("unknown throttle style {other:?}")),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = Args::parse();
    let config = SimConfig {
        accounts: AccountsConfig {
            token_lifetime: Duration::from_secs(args.token_lifetime_secs),
            legacy_expiry_shape: args.legacy_expiry,
            live_token_cap: args.live_token_cap,
            throttle_style: args.throttle_style,
            ..AccountsConfig::default()
        },
        desk: DeskConfig {
            org_id: args.org_id,
            concurrency_limit: args.concurrency_limit,
            daily_credits: args.daily_credits,
            seed: args.seed,
            ..DeskConfig::default()
        },
        bind: Some(args.listen),
    };
    let sim = ZohoSim::start(config).await?;
    println!("zoho-sim listening on {}", sim.base_url());
    println!(
        "  token endpoint:  POST {}/oauth/v2/token",
        sim.accounts_url()
    );
    println!("  client id:       {}", zoho_sim::DEFAULT_CLIENT_ID);
    println!("  client secret:   (seeded; see zoho_sim::DEFAULT_CLIENT_SECRET)");
    println!("  desk api:        {}", sim.desk_url());
    println!("  desk orgId:      {}", sim.desk_org_id());
    println!("  counters:        GET {}/_sim/stats", sim.base_url());
    println!();
    println!("  try it (with an access token from the token endpoint in $TOKEN):");
    println!(
        "    curl -H \"Authorization: Zoho-oauthtoken $TOKEN\" -H \"orgId: {}\" \"{}/tickets?limit=5\"",
        sim.desk_org_id(),
        sim.desk_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
