//! Metric names and the label values they take. Recorded through the `metrics` facade only; the
//! binary that embeds this crate chooses the exporter. Documented in docs/telemetry.md.

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
