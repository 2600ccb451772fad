//! Logs and metrics for the binary: the subscriber (JSON or pretty), the Prometheus recorder
//! with real histogram buckets, and the server's own request metrics.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::time::Instant;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Counter: requests served, by `route` (the matched template), `method` and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "http_server_requests_total";
/// Histogram: request duration in seconds, by `route` and `method`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_server_request_duration_seconds";
/// Gauge: requests being served.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_server_requests_in_flight";

/// Buckets for every `*_seconds` histogram: from a fast cache hit to a slow Zoho call.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the global log subscriber. `RUST_LOG` overrides the default `info` filter.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Installs the global Prometheus recorder and keeps its histograms trimmed. Call once.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    metrics::gauge!("zoho_gateway_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// Middleware: counts and times every request by its matched route template (never the raw
/// path, which would make label values unbounded).
pub async fn http_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT).increment(1.0);
    let response = next.run(request).await;
    metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT).decrement(1.0);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route, "method" => method, "status" => response.status().as_u16().to_string())
        .increment(1);
    response
}
