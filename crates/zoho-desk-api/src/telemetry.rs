//! Metric names of the Desk client (documented in docs/telemetry.md). Labels take bounded values
//! only: `endpoint` is the route template (`/tickets/{id}`), never a concrete path.

use metrics::Unit;
use zoho_auth::telemetry::{MetricDescription, MetricKind};

/// Counter: HTTP attempts, by `endpoint`, `method` and `status_class` (`2xx`, `4xx`, `5xx`, or
/// `error` when no response arrived).
pub const REQUESTS_TOTAL: &str = "zoho_desk_requests_total";
/// Histogram: duration of one HTTP attempt in seconds, by `endpoint` and `method`.
pub const REQUEST_DURATION_SECONDS: &str = "zoho_desk_request_duration_seconds";
/// Counter: calls that met a 401, by `error_code` and `recovered` (`true` when the one retry
/// with a fresh token got past it).
pub const UNAUTHORIZED_TOTAL: &str = "zoho_desk_unauthorized_total";
/// Counter: 429 answers, by `error_code` (`TOO_MANY_REQUESTS`, `THRESHOLD_EXCEEDED`).
pub const RATE_LIMITED_TOTAL: &str = "zoho_desk_rate_limited_total";
/// Counter: automatic retries, by `reason` (`rate_limited`, `server_error`, `transport`).
pub const RETRIES_TOTAL: &str = "zoho_desk_retries_total";
/// Gauge: API credits left today, from `X-Rate-Limit-Remaining-v3`.
pub const CREDITS_REMAINING: &str = "zoho_desk_credits_remaining";

/// Bucket boundaries for [`REQUEST_DURATION_SECONDS`].
pub const REQUEST_DURATION_BUCKETS: &[f64] =
    &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Every metric this crate records. A metric recorded but missing here fails the crate's
/// telemetry tests.
pub const METRICS: &[MetricDescription] = &[
    MetricDescription {
        name: REQUESTS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "HTTP attempts to Zoho Desk (retries included), by endpoint template, method and status class.",
        labels: &["endpoint", "method", "status_class"],
    },
    MetricDescription {
        name: REQUEST_DURATION_SECONDS,
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        help: "Duration of one HTTP attempt to Zoho Desk, by endpoint template and method.",
        labels: &["endpoint", "method"],
    },
    MetricDescription {
        name: UNAUTHORIZED_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Zoho Desk calls that met a 401, by error code and whether the one retry recovered.",
        labels: &["error_code", "recovered"],
    },
    MetricDescription {
        name: RATE_LIMITED_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "429 answers from Zoho Desk, by error code.",
        labels: &["error_code"],
    },
    MetricDescription {
        name: RETRIES_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Automatic retries of Zoho Desk requests, by reason.",
        labels: &["reason"],
    },
    MetricDescription {
        name: CREDITS_REMAINING,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Count),
        help: "Zoho Desk API credits left today (X-Rate-Limit-Remaining-v3).",
        labels: &[],
    },
];

/// Describes every metric of this crate ([`METRICS`]) to the installed recorder. The binary
/// calls it once, after installing its exporter (and `zoho_auth::telemetry::describe` for the
/// token metrics this client's retries record).
pub fn describe() {
    METRICS.iter().for_each(MetricDescription::describe);
}
