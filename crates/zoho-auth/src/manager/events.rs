//! Every log line and metric the manager emits, in one place, so operators' words and series
//! are read and changed together (names in [`crate::telemetry`], documented in
//! docs/telemetry.md). Previews only, never a token.

use std::time::{Duration, SystemTime};

use tracing::{error, info, warn};

use super::RefreshReason;
use crate::error::{FailureClass, RefreshError};
use crate::secret::AccessToken;
use crate::telemetry;

/// The local budget refused an attempt.
pub(super) fn budget_refused() {
    metrics::counter!(telemetry::REFRESH_BUDGET_REFUSED_TOTAL).increment(1);
}

/// The driver found the budget spent when a refresh was due.
pub(super) fn scheduled_refresh_refused(reason: RefreshReason, limit: usize, retry_in: Duration) {
    budget_refused();
    warn!(
        message = "[Zoho Token] Refresh budget spent; not calling Zoho",
        reason = reason.label(),
        limit,
        retry_in_secs = retry_in.as_secs(),
    );
}

/// A call to the token endpoint is about to be sent.
pub(super) fn refresh_sent(reason: RefreshReason) {
    info!(
        message = "[Zoho Token] Refreshing access token...",
        reason = reason.label()
    );
}

/// The token endpoint answered (or failed to) after `elapsed`.
pub(super) fn refresh_answered(reason: RefreshReason, ok: bool, elapsed: Duration) {
    let outcome = if ok { "success" } else { "failure" };
    metrics::counter!(telemetry::REFRESH_TOTAL, "outcome" => outcome, "reason" => reason.label())
        .increment(1);
    metrics::histogram!(telemetry::REFRESH_DURATION_SECONDS, "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}

/// Another replica's token was adopted from the shared store.
pub(super) fn adopted() {
    metrics::counter!(telemetry::STORE_ADOPTED_TOTAL).increment(1);
}

/// A refresh failed for credentials that were replaced while it ran.
pub(super) fn stale_result_discarded(error: &RefreshError) {
    info!(message = "[Zoho Token] Discarding a refresh result for replaced credentials", error = %error);
}

/// A new token is current.
pub(super) fn installed(
    token: &AccessToken,
    generation: u64,
    shared_generation: Option<u64>,
    life: Duration,
    refresh_in: Duration,
    expires_at: SystemTime,
) {
    let unix = expires_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    metrics::gauge!(telemetry::EXPIRY_TIMESTAMP_SECONDS).set(unix.as_secs_f64());
    metrics::gauge!(telemetry::PERMANENT_FAILURE).set(0.0);
    info!(message = "[Zoho Token] ✅ Token refreshed successfully", token = %token.preview(), generation, shared_generation);
    info!(
        message = format!(
            "[Zoho Token] New token expires in: {} seconds",
            life.as_secs()
        ),
        expires_in_secs = life.as_secs(),
        refresh_in_secs = refresh_in.as_secs(),
    );
}

/// A refresh failed; the next automatic attempt is in `retry_in` (never, if permanent).
pub(super) fn refresh_failed(error: &RefreshError, retry_in: Option<Duration>, attempt: u32) {
    metrics::counter!(telemetry::REFRESH_ERRORS_TOTAL, "error" => error.metric_label())
        .increment(1);
    if error.class() == FailureClass::Permanent {
        metrics::gauge!(telemetry::PERMANENT_FAILURE).set(1.0);
        error!(
            message = "[Zoho Token] ❌ Failed to refresh token",
            error = %error,
            error_kind = error.metric_label(),
            action = "re-consent in Zoho's API console and configure the new refresh token, then force a refresh",
        );
    } else {
        warn!(
            message = "[Zoho Token] ❌ Failed to refresh token",
            error = %error,
            error_kind = error.metric_label(),
            retry_in_secs = retry_in.map(|d| d.as_secs()),
            attempt,
        );
    }
}

/// New credentials were installed.
pub(super) fn credentials_replaced() {
    metrics::gauge!(telemetry::PERMANENT_FAILURE).set(0.0);
}

/// The static fallback token started or stopped being handed out.
pub(super) fn fallback_in_use(active: bool) {
    metrics::gauge!(telemetry::FALLBACK_ACTIVE).set(if active { 1.0 } else { 0.0 });
    if active {
        warn!(message = "[Zoho Token] Falling back to static token");
    } else {
        info!(message = "[Zoho Token] Static fallback token no longer in use");
    }
}

/// Zoho rejected the static fallback token for the first time.
pub(super) fn fallback_rejected() {
    warn!(message = "[Zoho Token] Static fallback token rejected by Zoho; no longer used");
}

/// Zoho rejected a refreshed token; `dropped` when it was still the current one.
pub(super) fn token_rejected(token: &AccessToken, dropped: bool) {
    if dropped {
        metrics::gauge!(telemetry::EXPIRY_TIMESTAMP_SECONDS).set(0.0);
    }
    let result = if dropped { "dropped" } else { "stale" };
    metrics::counter!(telemetry::INVALIDATIONS_TOTAL, "result" => result).increment(1);
    info!(
        message = "[Zoho Token] Access token rejected by Zoho",
        token = %token.preview(),
        result,
    );
}

/// An operation is retried once after Zoho rejected its token.
pub(super) fn auth_retry_started(token: &AccessToken) {
    info!(message = "[Zoho Token] Access token rejected; refreshing and retrying once...", token = %token.preview());
}

/// The retried operation ended: `recovered` unless Zoho rejected the fresh token too. (Each
/// client logs a rejection that persists in its own words, with its own context.)
pub(super) fn auth_retry_ended(recovered: bool) {
    metrics::counter!(telemetry::AUTH_RETRIES_TOTAL, "recovered" => if recovered { "true" } else { "false" })
        .increment(1);
}
