//! Logs and metrics for the binary: the subscriber (JSON or pretty), the Prometheus recorder
//! with real histogram buckets, and the server's own request metrics.
//!
//! The recorder also describes every metric the process records (so each has `# HELP`, which
//! `promtool check metrics` requires) and creates, at zero, every series of the bounded label sets
//! that alerts and dashboards divide or take `increase()` of: a counter that first appears at 1
//! shows no increase to Prometheus, so the first failed refresh or unrecovered 401 would
//! otherwise go unnoticed. Documented in docs/telemetry.md.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::time::Instant;
use tracing_subscriber::EnvFilter;
use zoho_auth::RefreshReason;
use zoho_auth::telemetry as auth;
use zoho_desk_api::ErrorCode;
use zoho_desk_api::telemetry as desk;

use crate::config::LogFormat;
use crate::labels::method_label;
use crate::rate_limit::RATE_LIMITED_TOTAL;

/// Counter: requests served, by `route` (the matched template), `method` and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "http_server_requests_total";
/// Histogram: request duration in seconds, by `route` and `method`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_server_request_duration_seconds";
/// Gauge: requests being served.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_server_requests_in_flight";
/// Gauge: always 1, by `version` (the crate version of the running binary).
pub const BUILD_INFO: &str = "zoho_gateway_build_info";

/// Buckets for every `*_seconds` histogram: from a fast cache hit to a slow Zoho call.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the global log subscriber: the log output, filtered by `RUST_LOG` (default `info`);
/// with `traces`, OpenTelemetry spans of that provider (same filter, see `otel`); with `alerts`,
/// the Sentry alert layer under its own filter (`alerts::filter`), so a quiet `RUST_LOG` cannot
/// hide the events that open and close its failure streaks.
pub fn init_logging(
    format: LogFormat,
    traces: Option<&opentelemetry_sdk::trace::SdkTracerProvider>,
    alerts: Option<crate::alerts::AlertLayer>,
) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal; log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let output = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(ansi);
    let output = match format {
        LogFormat::Json => output
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        // The same text as the default field formatter without colours, written directly.
        LogFormat::Pretty if !ansi => output.fmt_fields(PlainFields).boxed(),
        LogFormat::Pretty => output.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(alerts.map(|layer| layer.with_filter(crate::alerts::filter())))
        .with(traces.map(|provider| crate::otel::layer(provider).with_filter(filter())))
        .with(output.with_filter(filter()))
        .try_init();
}

/// Plain-text field formatting: what `tracing-subscriber`'s default formatter writes when colours
/// are off (`name=value` separated by spaces, string values quoted, the message bare with
/// terminal control characters escaped), written straight to the buffer instead of through its
/// styling layer — every request's span and log line pass through here.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: tracing_subscriber::fmt::format::Writer<'writer>,
    first: bool,
    result: std::fmt::Result,
}

impl PlainVisitor<'_> {
    /// The separator, then the field name and `=` (nothing before the message); `false` for
    /// fields that are not written.
    fn start(&mut self, name: &str) -> bool {
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        if !self.first {
            self.result = self.writer.write_char(' ');
        }
        self.first = false;
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

impl tracing::field::Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write as _;
        if !self.start(field.name()) {
            return;
        }
        self.result = if field.name() == "message" {
            Escaping(&mut self.writer).write_str(value)
        } else {
            write!(self.writer, "{value:?}")
        };
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if !self.start(field.name()) {
            return;
        }
        self.result = if field.name() == "message" {
            write!(Escaping(&mut self.writer), "{value:?}")
        } else {
            write!(self.writer, "{value:?}")
        };
    }
}

/// Escapes the control characters a terminal could act on (ESC, BEL, BS, FF, DEL and the C1
/// range), as `tracing-subscriber` does for messages.
struct Escaping<'a, W>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let risky = |c: char| {
            matches!(
                c,
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
            )
        };
        if !text.contains(risky) {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c if risky(c) => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The Prometheus exporter as this binary configures it: every `*_seconds` histogram gets real
/// buckets (without them the exporter renders summaries).
fn prometheus_builder() -> Result<PrometheusBuilder, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .map_err(|e| e.to_string())
}

/// Installs the global Prometheus recorder and keeps its histograms trimmed. Call once.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = prometheus_builder()?
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
    describe_metrics();
    initialize_series();
    Ok(handle)
}

/// `# HELP` (and unit) for every metric this process records: the refresh core's, the Desk
/// client's and the server's own.
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};

    // The libraries describe their own metrics, so one added there cannot miss its `# HELP`.
    auth::describe();
    desk::describe();
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        Unit::Count,
        "Requests served by the gateway API, by matched route template, method and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time the gateway API took to answer, by matched route template and method."
    );
    describe_gauge!(
        HTTP_REQUESTS_IN_FLIGHT,
        Unit::Count,
        "Requests the gateway API is serving right now."
    );
    describe_counter!(
        RATE_LIMITED_TOTAL,
        Unit::Count,
        "Requests the gateway refused with 429 by its per-key rate limit."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label names the running build."
    );
}

/// Every `reason` label of `zoho_token_refresh_total`. The match below stops compiling when
/// `RefreshReason` gains a variant, so this list cannot fall behind.
const REFRESH_REASONS: [RefreshReason; 6] = [
    RefreshReason::ColdStart,
    RefreshReason::Proactive,
    RefreshReason::Expired,
    RefreshReason::Invalidated,
    RefreshReason::Forced,
    RefreshReason::Deadline,
];

const _: fn(RefreshReason) = |reason| match reason {
    RefreshReason::ColdStart
    | RefreshReason::Proactive
    | RefreshReason::Expired
    | RefreshReason::Invalidated
    | RefreshReason::Forced
    | RefreshReason::Deadline => {}
};

/// The `error` labels of `zoho_token_refresh_errors_total` (`RefreshError::metric_label`).
const REFRESH_ERRORS: [&str; 10] = [
    "invalid_code",
    "invalid_client",
    "invalid_client_secret",
    "throttled",
    "timeout",
    "transport",
    "server_error",
    "malformed",
    "rejected",
    "budget_exhausted",
];

/// Creates, at zero, the series of bounded label sets that alerts and panels need from the first
/// scrape, and the state gauges. Adding zero never overwrites what a library already recorded.
fn initialize_series() {
    for outcome in ["success", "failure"] {
        for reason in REFRESH_REASONS {
            metrics::counter!(auth::REFRESH_TOTAL, "outcome" => outcome, "reason" => reason.label())
                .increment(0);
        }
    }
    for error in REFRESH_ERRORS {
        metrics::counter!(auth::REFRESH_ERRORS_TOTAL, "error" => error).increment(0);
    }
    metrics::counter!(auth::REFRESH_BUDGET_REFUSED_TOTAL).increment(0);
    for result in ["dropped", "stale"] {
        metrics::counter!(auth::INVALIDATIONS_TOTAL, "result" => result).increment(0);
    }
    for recovered in ["true", "false"] {
        metrics::counter!(auth::AUTH_RETRIES_TOTAL, "recovered" => recovered).increment(0);
    }
    metrics::gauge!(auth::FALLBACK_ACTIVE).increment(0.0);
    metrics::gauge!(auth::PERMANENT_FAILURE).increment(0.0);
    // Fleet mode (zero, and staying zero, without REDIS_URL).
    for result in ["acquired", "contended"] {
        metrics::counter!(auth::STORE_LOCK_TOTAL, "result" => result).increment(0);
    }
    metrics::counter!(auth::STORE_LOCK_LOST_TOTAL).increment(0);
    metrics::counter!(auth::STORE_ERRORS_TOTAL).increment(0);
    metrics::counter!(auth::STORE_ADOPTED_TOTAL).increment(0);
    metrics::gauge!(auth::STORE_DEGRADED).increment(0.0);

    let unknown = ErrorCode::Unknown(String::new());
    for code in [
        ErrorCode::InvalidOauth,
        ErrorCode::Unauthorized,
        ErrorCode::ScopeMismatch,
        ErrorCode::OauthOrgMismatch,
        unknown.clone(),
    ] {
        for recovered in ["true", "false"] {
            metrics::counter!(
                desk::UNAUTHORIZED_TOTAL,
                "error_code" => code.metric_label(),
                "recovered" => recovered,
            )
            .increment(0);
        }
    }
    for code in [
        ErrorCode::TooManyRequests,
        ErrorCode::ThresholdExceeded,
        unknown,
    ] {
        metrics::counter!(desk::RATE_LIMITED_TOTAL, "error_code" => code.metric_label())
            .increment(0);
    }
    for reason in ["rate_limited", "server_error", "transport"] {
        metrics::counter!(desk::RETRIES_TOTAL, "reason" => reason).increment(0);
    }

    metrics::counter!(RATE_LIMITED_TOTAL).increment(0);
    metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT).increment(0.0);
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// The handles of the server's request metrics, resolved once per route, method and status
/// rather than looked up by freshly built labels on every request. Cheap to clone (shared). The
/// labels are bounded as before: matched route templates (or `unmatched`), [`method_label`]s and
/// status codes.
#[derive(Clone)]
pub struct HttpMetrics {
    inner: Arc<HttpMetricsInner>,
}

struct HttpMetricsInner {
    in_flight: Gauge,
    /// Route template → its methods' handles.
    routes: RwLock<HashMap<String, Vec<Arc<RouteMetrics>>>>,
}

/// One route and method: the duration histogram and a counter per status seen.
struct RouteMetrics {
    route: String,
    method: &'static str,
    duration: Histogram,
    statuses: RwLock<Vec<(u16, Counter)>>,
}

impl RouteMetrics {
    fn count(&self, status: u16) {
        let known = self
            .statuses
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, counter)| counter.increment(1));
        if known.is_none() {
            let counter = metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => self.route.clone(), "method" => self.method, "status" => status.to_string());
            counter.increment(1);
            let mut statuses = self
                .statuses
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if !statuses.iter().any(|(s, _)| *s == status) {
                statuses.push((status, counter));
            }
        }
    }
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

impl HttpMetrics {
    /// Handles from the recorder installed now (the global one in the binary).
    pub fn new() -> Self {
        HttpMetrics {
            inner: Arc::new(HttpMetricsInner {
                in_flight: metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT),
                routes: RwLock::new(HashMap::new()),
            }),
        }
    }

    fn route(&self, route: &str, method: &'static str) -> Arc<RouteMetrics> {
        let routes = &self.inner.routes;
        if let Some(found) = routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
            .and_then(|methods| methods.iter().find(|m| m.method == method))
        {
            return found.clone();
        }
        let mut routes = routes.write().unwrap_or_else(PoisonError::into_inner);
        let methods = routes.entry(route.to_owned()).or_default();
        if let Some(found) = methods.iter().find(|m| m.method == method) {
            return found.clone();
        }
        let created = Arc::new(RouteMetrics {
            route: route.to_owned(),
            method,
            duration: metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "route" => route.to_owned(), "method" => method),
            statuses: RwLock::new(Vec::new()),
        });
        methods.push(created.clone());
        created
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

/// Middleware (`from_fn_with_state(HttpMetrics::new(), http_metrics)`): counts and times every
/// request by its matched route template (never the raw path, which would make label values
/// unbounded).
pub async fn http_metrics(
    State(handles): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = handles.route(
        request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str),
        method_label(request.method()),
    );
    let started = Instant::now();
    handles.inner.in_flight.increment(1.0);
    let response = next.run(request).await;
    handles.inner.in_flight.decrement(1.0);
    route.duration.record(started.elapsed().as_secs_f64());
    route.count(response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Log lines written with [`PlainFields`] and with `tracing-subscriber`'s default field
    /// formatter (colours off), for the same spans and events.
    fn log_lines(plain: bool) -> String {
        use tracing_subscriber::layer::SubscriberExt as _;

        #[derive(Clone, Default)]
        struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = {
            let buffer = buffer.clone();
            move || buffer.clone()
        };
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(writer);
        let emit = || {
            let span = tracing::info_span!(
                "request",
                method = "GET",
                uri = %"/api/zoho-desk/v1/tickets",
                request_id = "e2e-request-42",
                version = ?axum::http::Version::HTTP_11,
                status = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("status", 200_i64);
            tracing::info!(latency = %"3 ms", status = 200, "finished processing request");
            tracing::info!(message = "[Zoho Token] ✅ Token refreshed successfully", token = %"1000.45a7b8cf863…", generation = 2_u64, shared_generation = Option::<u64>::None);
            tracing::warn!(flag = true, r#type = "x", "escaped \x1b[31m\u{9b}red {}", 1);
        };
        if plain {
            tracing::subscriber::with_default(
                tracing_subscriber::registry().with(layer.fmt_fields(PlainFields)),
                emit,
            );
        } else {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
        }
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn plain_fields_write_what_the_default_formatter_writes_without_colours() {
        let plain = log_lines(true);
        assert_eq!(plain, log_lines(false));
        assert!(plain.contains("request_id=\"e2e-request-42\""), "{plain}");
        assert!(!plain.contains('\x1b'), "{plain}");
    }

    /// What a scrape shows right after start-up: every series of the bounded label sets at
    /// zero, each metric with `# HELP` and `# TYPE` exactly once.
    #[test]
    fn a_fresh_scrape_describes_every_metric_and_holds_the_zero_series() {
        let recorder = prometheus_builder().unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_metrics();
            initialize_series();
            // A library recording the same series afterwards adds to the zero, never duplicates.
            metrics::counter!(auth::REFRESH_TOTAL, "outcome" => "success", "reason" => "cold_start")
                .increment(1);
            metrics::counter!(desk::UNAUTHORIZED_TOTAL, "error_code" => "INVALID_OAUTH", "recovered" => "false")
                .increment(1);
        });
        let text = handle.render();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        let distinct: BTreeSet<&str> = series
            .iter()
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect();
        assert_eq!(distinct.len(), series.len(), "duplicate series:\n{text}");
        assert!(
            series
                .contains(&r#"zoho_token_refresh_total{outcome="success",reason="cold_start"} 1"#)
        );
        assert!(
            series.contains(&r#"zoho_token_refresh_total{outcome="failure",reason="forced"} 0"#)
        );
        assert!(series.contains(
            &r#"zoho_desk_unauthorized_total{error_code="INVALID_OAUTH",recovered="false"} 1"#
        ));
        assert!(series.contains(
            &r#"zoho_desk_unauthorized_total{error_code="SCOPE_MISMATCH",recovered="false"} 0"#
        ));
        assert!(
            series.contains(&r#"zoho_desk_rate_limited_total{error_code="THRESHOLD_EXCEEDED"} 0"#)
        );
        assert!(series.contains(&"zoho_token_permanent_failure 0"));
        assert!(series.contains(&"zoho_token_fallback_active 0"));
        assert!(series.contains(&"http_server_rate_limited_total 0"));
        let names: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        for name in &names {
            assert_eq!(
                text.matches(&format!("# HELP {name} ")).count(),
                1,
                "{name} needs exactly one HELP line:\n{text}"
            );
        }
        assert!(names.len() >= 13, "{names:?}");
    }
}
