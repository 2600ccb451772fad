//! Metric names and the label values they take. Recorded through the `metrics` facade only; the
//! binary that embeds this crate chooses the exporter. Documented in docs/telemetry.md.

use metrics::Unit;

/// Counter: refresh attempts that reached Zoho, by `outcome` (`success`, `failure`) and `reason`
/// (what triggered the attempt: see [`crate::RefreshReason::label`]).
pub const REFRESH_TOTAL: &str = "zoho_token_refresh_total";
/// Counter: failed refresh attempts by `error` (see [`crate::RefreshError::metric_label`]).
pub const REFRESH_ERRORS_TOTAL: &str = "zoho_token_refresh_errors_total";
/// Histogram: duration of refresh attempts in seconds, by `outcome`.
pub const REFRESH_DURATION_SECONDS: &str = "zoho_token_refresh_duration_seconds";
/// Counter: refreshes the local budget refused to send to Zoho.
pub const REFRESH_BUDGET_REFUSED_TOTAL: &str = "zoho_token_refresh_budget_refused_total";
/// Gauge: unix time (seconds) at which the current refreshed token expires; 0 without one.
pub const EXPIRY_TIMESTAMP_SECONDS: &str = "zoho_token_expiry_timestamp_seconds";
/// Gauge: 1 while the static fallback token is being handed out.
pub const FALLBACK_ACTIVE: &str = "zoho_token_fallback_active";
/// Gauge: 1 while the credentials have failed permanently (re-consent needed).
pub const PERMANENT_FAILURE: &str = "zoho_token_permanent_failure";
/// Counter: invalidation requests after a 401, by `result` (`dropped`: the rejected token was
/// current and was dropped; `stale`: a newer token was already in place).
pub const INVALIDATIONS_TOTAL: &str = "zoho_token_invalidations_total";
/// Counter: operations retried once after an auth rejection, by `recovered` (`true`, `false`).
pub const AUTH_RETRIES_TOTAL: &str = "zoho_token_auth_retries_total";

/// Bucket boundaries for [`REFRESH_DURATION_SECONDS`], for exporters that need them.
pub const REFRESH_DURATION_BUCKETS: &[f64] =
    &[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Counter: attempts to take the fleet's refresh lock, by `result` (`acquired`, `contended`).
pub const STORE_LOCK_TOTAL: &str = "zoho_token_store_lock_total";
/// Counter: refresh locks lost (lease expired or renewal failed) while refreshing.
pub const STORE_LOCK_LOST_TOTAL: &str = "zoho_token_store_lock_lost_total";
/// Histogram: seconds a replica waited for another replica's refresh.
pub const STORE_WAIT_SECONDS: &str = "zoho_token_store_wait_seconds";
/// Counter: failed token-store operations.
pub const STORE_ERRORS_TOTAL: &str = "zoho_token_store_errors_total";
/// Gauge: 1 while the token store is unavailable and this replica refreshes on its own.
pub const STORE_DEGRADED: &str = "zoho_token_store_degraded";
/// Counter: tokens adopted from the fleet instead of refreshing.
pub const STORE_ADOPTED_TOTAL: &str = "zoho_token_store_adopted_total";

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// Set to the current value.
    Gauge,
    /// Samples, exported with buckets.
    Histogram,
}

/// A metric a library records, as the exporter describes it (`# HELP`, unit) and as the label
/// tidy checks read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDescription {
    /// The metric name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The unit, when it has one.
    pub unit: Option<Unit>,
    /// One line for `# HELP`.
    pub help: &'static str,
    /// The label keys it is recorded with (the values are bounded; see docs/telemetry.md).
    pub labels: &'static [&'static str],
}

impl MetricDescription {
    /// Describes this metric to the installed recorder.
    pub fn describe(&self) {
        let (name, help) = (self.name, self.help);
        match (self.kind, self.unit) {
            (MetricKind::Counter, Some(unit)) => metrics::describe_counter!(name, unit, help),
            (MetricKind::Counter, None) => metrics::describe_counter!(name, help),
            (MetricKind::Gauge, Some(unit)) => metrics::describe_gauge!(name, unit, help),
            (MetricKind::Gauge, None) => metrics::describe_gauge!(name, help),
            (MetricKind::Histogram, Some(unit)) => metrics::describe_histogram!(name, unit, help),
            (MetricKind::Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
}

/// Every metric this crate records. A metric recorded but missing here fails the crate's
/// telemetry tests.
pub const METRICS: &[MetricDescription] = &[
    MetricDescription {
        name: REFRESH_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Token refresh attempts sent to Zoho, by outcome and reason.",
        labels: &["outcome", "reason"],
    },
    MetricDescription {
        name: REFRESH_ERRORS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Failed token refresh attempts, by classified error.",
        labels: &["error"],
    },
    MetricDescription {
        name: REFRESH_DURATION_SECONDS,
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        help: "Duration of one token refresh attempt, by outcome.",
        labels: &["outcome"],
    },
    MetricDescription {
        name: REFRESH_BUDGET_REFUSED_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Token refreshes the local refresh budget refused to send to Zoho.",
        labels: &[],
    },
    MetricDescription {
        name: EXPIRY_TIMESTAMP_SECONDS,
        kind: MetricKind::Gauge,
        unit: Some(Unit::Seconds),
        help: "Unix time at which the current refreshed access token expires; 0 without one.",
        labels: &[],
    },
    MetricDescription {
        name: FALLBACK_ACTIVE,
        kind: MetricKind::Gauge,
        unit: None,
        help: "1 while the static fallback access token is handed out, else 0.",
        labels: &[],
    },
    MetricDescription {
        name: PERMANENT_FAILURE,
        kind: MetricKind::Gauge,
        unit: None,
        help: "1 while the Zoho credentials have failed permanently (re-consent needed), else 0.",
        labels: &[],
    },
    MetricDescription {
        name: INVALIDATIONS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Access tokens reported rejected by Zoho (401), by result (dropped or stale).",
        labels: &["result"],
    },
    MetricDescription {
        name: AUTH_RETRIES_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Operations retried once after an auth rejection, by whether the retry recovered.",
        labels: &["recovered"],
    },
    MetricDescription {
        name: STORE_LOCK_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Attempts to take the fleet's refresh lock in the shared token store, by result.",
        labels: &["result"],
    },
    MetricDescription {
        name: STORE_LOCK_LOST_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Fleet refresh locks lost (lease expired or renewal failed) while refreshing.",
        labels: &[],
    },
    MetricDescription {
        name: STORE_WAIT_SECONDS,
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        help: "Time a replica waited for another replica's refresh.",
        labels: &[],
    },
    MetricDescription {
        name: STORE_ERRORS_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Failed shared token store operations.",
        labels: &[],
    },
    MetricDescription {
        name: STORE_DEGRADED,
        kind: MetricKind::Gauge,
        unit: None,
        help: "1 while the shared token store is unavailable and this replica refreshes on its own.",
        labels: &[],
    },
    MetricDescription {
        name: STORE_ADOPTED_TOTAL,
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        help: "Tokens adopted from the fleet's shared store instead of refreshing.",
        labels: &[],
    },
];

/// Describes every metric of this crate ([`METRICS`]) to the installed recorder. The binary
/// calls it once, after installing its exporter.
pub fn describe() {
    METRICS.iter().for_each(MetricDescription::describe);
}
