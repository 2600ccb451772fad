//! The `zoho-gateway` binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use gateway::config::{
    self, Config, ConfigError, ConfigSource, EXIT_CONFIG, LayeredSource, MapSource,
};
#[cfg(feature = "sandbox")]
use gateway::sandbox::Sandbox;
use gateway::{alerts, app, otel, server, telemetry};
use secrecy::ExposeSecret;
use zoho_auth::TokenManager;
use zoho_desk_api::DeskClient;

/// A gateway to the Zoho Desk API whose access-token cache is never caught out by expiry.
///
/// Configuration comes from flags, then environment variables, then `.env.local` and `.env` in
/// the working directory, then the TOML file named by --config or ZOHO_GATEWAY_CONFIG (see
/// docs/configuration.md). A bad configuration exits with code 64 before any port is bound.
#[derive(Debug, Parser)]
#[command(name = "zoho-gateway", version)]
struct Cli {
    /// TOML configuration file (keys are the environment variable names).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the admin listener until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Validate the configuration, refresh one token and list the organizations it can reach.
    ///
    /// Prints the outcome with a token preview only. Exits 0 when Zoho accepted everything, 64
    /// for a bad configuration, 77 when Zoho rejected the credentials (re-consent needed), 69
    /// when Zoho could not be reached or answered with another error.
    Check,
    /// Talk to a running gateway's token routes.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Run against a built-in Zoho emulator with a seeded portal; needs no other configuration.
    ///
    /// The emulator supplies the Zoho credentials and URLs; every other setting (API keys, rate
    /// limits, CORS, Sentry, OTLP, …) is read and checked as without --sandbox.
    #[arg(long)]
    sandbox: bool,
    /// Token lifetime in the sandbox, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS", requires = "sandbox")]
    sandbox_token_lifetime: u64,
    /// API listen address (GATEWAY_LISTEN).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Admin listen address for /healthz, /readyz, /metrics (GATEWAY_ADMIN_LISTEN).
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<String>,
    /// Log format: json or pretty (GATEWAY_LOG_FORMAT).
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Show the token status (GET /api/zoho-desk/token).
    Status(RemoteArgs),
    /// Force a refresh (POST /api/zoho-desk/token; needs an admin key).
    Refresh(RemoteArgs),
}

#[derive(Debug, Args)]
struct RemoteArgs {
    /// The gateway's base URL.
    #[arg(long, env = "GATEWAY_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// An API key for the gateway.
    #[arg(long, env = "GATEWAY_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// Exit code when Zoho rejects the credentials (EX_NOPERM).
const EXIT_CREDENTIALS: u8 = 77;
/// Exit code when Zoho is unreachable or fails otherwise (EX_UNAVAILABLE).
const EXIT_UNAVAILABLE: u8 = 69;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("zoho-gateway: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(cli.config, args).await,
            Command::Check => check(cli.config).await,
            Command::Token(TokenCommand::Status(args)) => remote(reqwest::Method::GET, args).await,
            Command::Token(TokenCommand::Refresh(args)) => {
                remote(reqwest::Method::POST, args).await
            }
        }
    })
}

/// Flags as configuration variables, so they win over every other source.
fn flag_source(args: &ServeArgs) -> MapSource {
    let mut flags = MapSource::new();
    for (name, value) in [
        (config::var::GATEWAY_LISTEN, &args.listen),
        (config::var::GATEWAY_ADMIN_LISTEN, &args.admin_listen),
        (config::var::GATEWAY_LOG_FORMAT, &args.log_format),
    ] {
        if let Some(value) = value {
            flags.insert(name, value.clone());
        }
    }
    flags
}

fn load_config(flags: MapSource, file: Option<PathBuf>) -> Result<Config, ExitCode> {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    config::standard_sources(flags, file.as_deref(), &dir)
        .and_then(|sources| Config::load(&sources))
        .map_err(|error| config_error(&error))
}

fn config_error(error: &ConfigError) -> ExitCode {
    eprintln!("zoho-gateway: invalid configuration:\n{error}");
    ExitCode::from(EXIT_CONFIG as u8)
}

/// Without the feature there is no emulator, and `--sandbox` is refused.
#[cfg(not(feature = "sandbox"))]
enum Sandbox {}

#[cfg(not(feature = "sandbox"))]
impl Sandbox {
    fn banner(&self, _api: std::net::SocketAddr, _admin: std::net::SocketAddr) -> String {
        match *self {}
    }
}

/// Starts the emulator and overlays its Zoho values on `sources`.
#[cfg(feature = "sandbox")]
async fn start_sandbox(
    args: &ServeArgs,
    sources: LayeredSource,
) -> Result<(LayeredSource, Sandbox), ExitCode> {
    match Sandbox::start(Duration::from_secs(args.sandbox_token_lifetime)).await {
        Ok(sandbox) => Ok((sandbox.sources(sources), sandbox)),
        Err(error) => {
            eprintln!("zoho-gateway: cannot start the sandbox emulator: {error}");
            Err(ExitCode::FAILURE)
        }
    }
}

#[cfg(not(feature = "sandbox"))]
async fn start_sandbox(
    _args: &ServeArgs,
    _sources: LayeredSource,
) -> Result<(LayeredSource, Sandbox), ExitCode> {
    eprintln!(
        "zoho-gateway: --sandbox needs the built-in emulator, and this binary was built without \
         it (the `sandbox` cargo feature); rebuild with default features"
    );
    Err(ExitCode::FAILURE)
}

async fn serve(file: Option<PathBuf>, args: ServeArgs) -> ExitCode {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let sources = match config::standard_sources(flag_source(&args), file.as_deref(), &dir) {
        Ok(sources) => sources,
        Err(error) => return config_error(&error),
    };
    let (sources, emulator) = if args.sandbox {
        match start_sandbox(&args, sources).await {
            Ok((sources, emulator)) => (sources, Some(emulator)),
            Err(code) => return code,
        }
    } else {
        (sources, None)
    };
    let config = match Config::load(&sources) {
        Ok(config) => config,
        Err(error) => return config_error(&error),
    };
    // Traces and alerts before the subscriber, which composes their layers.
    let traces = config
        .telemetry
        .otlp_endpoint
        .as_deref()
        .and_then(|endpoint| {
            otel::init(endpoint)
                .inspect_err(|error| eprintln!("zoho-gateway: traces disabled: {error}"))
                .ok()
        });
    let (alerts, alert_layer) = match &config.telemetry.sentry_dsn {
        Some(dsn) => match alerts::init(dsn.expose_secret(), secrets(&sources)) {
            Ok((guard, layer)) => {
                guard.bind_main_hub();
                (Some(guard), Some(layer))
            }
            Err(error) => {
                eprintln!("zoho-gateway: invalid configuration:\n{error}");
                return ExitCode::from(EXIT_CONFIG as u8);
            }
        },
        None => (None, None),
    };
    telemetry::init_logging(
        config.server.log_format,
        traces.as_ref().map(otel::TracesGuard::provider),
        alert_layer,
    );
    let metrics = match telemetry::install_metrics() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(message = "metrics recorder not installed", error = %error);
            None
        }
    };
    let announce = |api, admin| {
        if let Some(emulator) = &emulator {
            println!("{}", emulator.banner(api, admin));
        }
    };
    let result = app::run(config, metrics, announce, server::shutdown_signal()).await;
    // Flush the last spans and events; both block, so off the async workers.
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(traces) = traces {
            traces.shutdown();
        }
        if let Some(alerts) = alerts {
            alerts.shutdown();
        }
    })
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zoho-gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The values Sentry events must never contain: the value of every secret variable of the
/// table as configured, and each comma-separated part of it on its own (a Redis node URL, an API
/// key entry).
fn secrets(sources: &dyn ConfigSource) -> Vec<String> {
    config::var::SECRETS
        .iter()
        .filter_map(|name| sources.get(name))
        .flat_map(|value| {
            let parts: Vec<String> = value.split(',').map(|p| p.trim().to_owned()).collect();
            std::iter::once(value.trim().to_owned()).chain(parts)
        })
        .collect()
}

async fn check(file: Option<PathBuf>) -> ExitCode {
    let config = match load_config(MapSource::new(), file) {
        Ok(config) => config,
        Err(code) => return code,
    };
    println!(
        "configuration: ok (data centre {}, org {})",
        config.zoho.data_centre, config.zoho.org_id
    );
    let tokens =
        TokenManager::builder(config.zoho.credentials(), config.zoho.endpoints.clone()).build();
    let token = match tokens.token().await {
        Ok(token) => token,
        Err(error) => {
            eprintln!("token refresh: FAILED: {error}");
            let permanent = error.cause().is_some_and(|c| c.is_permanent());
            return ExitCode::from(if permanent {
                EXIT_CREDENTIALS
            } else {
                EXIT_UNAVAILABLE
            });
        }
    };
    let expires = token
        .remaining()
        .map_or_else(|| "unknown".to_owned(), |r| format!("{} s", r.as_secs()));
    println!(
        "token refresh: ok (token {}, expires in {expires})",
        token.preview()
    );
    let desk = DeskClient::builder(
        config.zoho.endpoints.desk_api_url(),
        config.zoho.org_id.as_str(),
        tokens,
    )
    .build();
    match desk.organizations().await {
        Ok(organizations) => {
            let found = organizations.iter().any(|o| {
                o.id.as_ref()
                    .is_some_and(|id| id.as_str() == config.zoho.org_id)
            });
            for org in &organizations {
                println!(
                    "organization: {} {}",
                    org.id.as_ref().map_or("?", |id| id.as_str()),
                    org.company_name.as_deref().unwrap_or("")
                );
            }
            if found {
                println!(
                    "GET /organizations: ok (configured org {} is reachable)",
                    config.zoho.org_id
                );
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "GET /organizations: the token does not reach org {} (ZOHO_DESK_ORG_ID)",
                    config.zoho.org_id
                );
                ExitCode::from(EXIT_CREDENTIALS)
            }
        }
        Err(error) => {
            eprintln!("GET /organizations: FAILED: {error}");
            let permanent = error.status() == Some(401) || error.status() == Some(403);
            ExitCode::from(if permanent {
                EXIT_CREDENTIALS
            } else {
                EXIT_UNAVAILABLE
            })
        }
    }
}

async fn remote(method: reqwest::Method, args: RemoteArgs) -> ExitCode {
    let url = format!("{}/api/zoho-desk/token", args.url.trim_end_matches('/'));
    let mut request = reqwest::Client::new()
        .request(method, &url)
        .timeout(Duration::from_secs(30));
    if let Some(key) = &args.api_key {
        request = request.header("x-api-key", key);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let pretty = serde_json::from_str::<serde_json::Value>(&body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(body);
            println!("{pretty}");
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("zoho-gateway: cannot reach {url}: {}", error.without_url());
            ExitCode::from(EXIT_UNAVAILABLE)
        }
    }
}
