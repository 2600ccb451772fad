//! OpenTelemetry traces: the OTLP/HTTP exporter, the W3C trace-context propagator, the server
//! span of every API request and the hook that sends `traceparent` to Zoho.
//!
//! The libraries emit `tracing` spans only (`zoho_token.refresh`, `zoho_desk.request`); this
//! module turns them into OpenTelemetry spans through `tracing-opentelemetry` when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is configured, and exports them in batches over OTLP/HTTP
//! (protobuf, `POST {endpoint}/v1/traces`). [`TracesGuard::shutdown`] flushes what is left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::field::Empty;
use tracing::{Level, Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The `service.name` of every exported span.
pub const SERVICE_NAME: &str = "zoho-gateway";

/// How long [`TracesGuard::shutdown`] waits for the last batch to be exported.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the tracer provider exporting to `{endpoint}/v1/traces` (OTLP/HTTP, protobuf) with a
/// batch processor, and installs the W3C trace-context propagator. `endpoint` is the base URL
/// from `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://127.0.0.1:4318`), already validated.
pub fn init(endpoint: &str) -> Result<TracesGuard, String> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the OTLP/HTTP span exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    install_propagator();
    Ok(TracesGuard { provider })
}

/// The resource every span carries: `service.name` and `service.version`.
pub fn resource() -> Resource {
    Resource::builder()
        .with_service_name(SERVICE_NAME)
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// Installs the W3C `traceparent`/`tracestate` propagator as the global one (what
/// [`server_span`] extracts with and [`inject_trace_context`] injects with).
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// Whether an OpenTelemetry layer was ever built in this process ([`layer`]). Until then there is
/// no trace to continue or propagate, so the per-request OpenTelemetry work — the span's
/// OpenTelemetry fields, extracting `traceparent`, injecting it into Desk calls — is skipped.
static TRACING: AtomicBool = AtomicBool::new(false);

fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    TRACING.store(true, Ordering::Relaxed);
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_tracked_inactivity(false)
        .with_threads(false)
}

/// Keeps the tracer provider; [`shutdown`](Self::shutdown) flushes it.
#[derive(Debug)]
pub struct TracesGuard {
    provider: SdkTracerProvider,
}

impl TracesGuard {
    /// The provider, for [`layer`].
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Exports the spans still buffered and stops the exporter. Blocks (up to 5 s): call it from
    /// a blocking context (`spawn_blocking`) or outside the runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            eprintln!("zoho-gateway: flushing traces failed: {error}");
        }
    }
}

/// The Desk client's header hook (`DeskClientBuilder::request_headers`): injects the W3C trace
/// context of the current span — the `zoho_desk.request` client span — so Zoho's side of the
/// call joins the trace. Adds nothing when tracing is off.
pub fn inject_trace_context(headers: &mut HeaderMap) {
    if !tracing_enabled() {
        return;
    }
    let context = Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// The server span of one API request (`TraceLayer::make_span_with`): an INFO span named
/// `request` with the fields the logs always had (`method`, `uri` — the path, without the query —,
/// `version`), the `request_id`, OpenTelemetry's
/// `otel.kind = "server"`, `otel.name = "<METHOD> <route template>"`, `http.request.method`,
/// `http.route` and (on response) `http.response.status_code`; its parent is the W3C trace
/// context of the incoming `traceparent`, when there is one.
///
/// Without OpenTelemetry (no `OTEL_EXPORTER_OTLP_ENDPOINT`) the span has the log fields only —
/// `method`, `uri`, `request_id`, `version` — so the log output does not pay for formatting
/// fields only an exporter reads.
pub fn server_span<B>(request: &Request<B>) -> Span {
    let method = crate::labels::method_label(request.method());
    // `info_span!` needs its field names at compile time, so the log fields both spans carry are
    // written once here and each span adds its own after them.
    macro_rules! request_span {
        ($($otel:tt)*) => {
            tracing::info_span!(
                // tower-http's own target, so `RUST_LOG` directives for it keep working.
                target: "tower_http::trace::make_span",
                "request",
                method,
                // The path only: query strings carry customer data (emails, phone numbers).
                uri = %request.uri().path(),
                // Set (or propagated) by the request-id layer, which runs before this span is made.
                request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or(""),
                version = ?request.version(),
                $($otel)*
            )
        };
    }
    if !tracing_enabled() {
        return request_span!();
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = request_span!(
        otel.kind = "server",
        otel.name = name.as_str(),
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Fails only when no OpenTelemetry layer is installed (tracing off): nothing to link then.
    let _ = span.set_parent(parent);
    span
}

/// `TraceLayer::on_response`: records the status on the server span (5xx marks it as an
/// error), then logs the response as before.
pub fn on_server_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status();
    // As i64: tracing-opentelemetry exports u64 fields as strings.
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    DefaultOnResponse::new()
        .level(Level::INFO)
        .on_response(response, latency, span);
}

/// Reads propagation headers from an HTTP header map.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes propagation headers into an HTTP header map.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}
