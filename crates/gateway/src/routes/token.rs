//! `GET` and `POST /api/zoho-desk/token`: the token's status, and a forced refresh.

use std::time::SystemTime;

use axum::response::Response;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use zoho_auth::{RefreshError, TokenError, TokenStatus};

use super::{ErrorBody, ok};
use crate::error::{ErrorCode, RouteError};
use crate::state::Ctx;

/// `2025-11-11T17:00:00.000Z`, the original integration's timestamp format.
pub(crate) fn iso(time: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from(time)
        .format(&format)
        .unwrap_or_default()
}

/// `GET /api/zoho-desk/token`: the original shape plus expiry, state and refresh details.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenStatusBody {
    success: bool,
    auto_refresh_enabled: bool,
    has_token: bool,
    /// First characters of the token only.
    token_preview: Option<String>,
    timestamp: String,
    expires_at: Option<String>,
    /// `empty`, `fresh`, `refreshing`, `backing_off`, `failed_permanently` or `fallback`.
    state: String,
    last_refresh: Option<LastRefreshBody>,
    fallback: bool,
    retry_at: Option<String>,
    refreshes: RefreshCountsBody,
    budget_remaining: usize,
    /// Fleet mode: the shared token store is unavailable and this replica refreshes alone.
    degraded: bool,
}

/// The latest refresh attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastRefreshBody {
    at: String,
    reason: String,
    success: bool,
    error: Option<String>,
}

/// Refresh counters since start.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshCountsBody {
    attempts: u64,
    successes: u64,
    failures: u64,
    budget_refused: u64,
}

impl From<TokenStatus> for TokenStatusBody {
    fn from(status: TokenStatus) -> Self {
        TokenStatusBody {
            success: true,
            auto_refresh_enabled: true,
            has_token: status.has_token,
            token_preview: status.token_preview,
            timestamp: iso(SystemTime::now()),
            expires_at: status.expires_at.map(iso),
            state: status.state.as_str().to_owned(),
            last_refresh: status.last_refresh.map(|last| LastRefreshBody {
                at: iso(last.at),
                reason: last.reason.label().to_owned(),
                success: last.error.is_none(),
                error: last.error.map(|e| e.to_string()),
            }),
            fallback: status.fallback,
            retry_at: status.retry_at.map(iso),
            refreshes: RefreshCountsBody {
                attempts: status.refreshes.attempts,
                successes: status.refreshes.successes,
                failures: status.refreshes.failures,
                budget_refused: status.refreshes.budget_refused,
            },
            budget_remaining: status.budget_remaining,
            degraded: status.degraded,
        }
    }
}

/// `POST /api/zoho-desk/token`: the original shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    success: bool,
    message: String,
    token_preview: String,
    timestamp: String,
}

#[utoipa::path(get, path = "/api/zoho-desk/token", tag = "token",
    responses((status = 200, description = "Token status (preview only)", body = TokenStatusBody)))]
pub(crate) async fn token_status(ctx: Ctx) -> Response {
    ok(TokenStatusBody::from(ctx.state.tokens.status()))
}

#[utoipa::path(post, path = "/api/zoho-desk/token", tag = "token",
    responses(
        (status = 200, description = "Refreshed", body = RefreshBody),
        (status = 429, description = "Refused: Zoho is throttling or the refresh budget is spent", body = ErrorBody),
        (status = 502, description = "Zoho refused the refresh", body = ErrorBody)))]
pub(crate) async fn force_refresh(ctx: Ctx) -> Result<Response, RouteError> {
    let token = ctx
        .state
        .tokens
        .force_refresh()
        .await
        .map_err(refresh_error)?;
    Ok(ok(RefreshBody {
        success: true,
        message: "Token refreshed successfully".into(),
        token_preview: token.preview(),
        timestamp: iso(SystemTime::now()),
    }))
}

fn refresh_error(error: TokenError) -> RouteError {
    let retry_after = error.retry_after();
    let code = match error.cause() {
        Some(RefreshError::Throttled | RefreshError::BudgetExhausted { .. }) => {
            ErrorCode::RefreshRefused
        }
        Some(cause) if cause.is_permanent() => ErrorCode::CredentialsRejected,
        _ => ErrorCode::RefreshFailed,
    };
    RouteError::new(code, error.to_string()).with_retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let text =
            iso(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_762_880_400_123));
        assert_eq!(text, "2025-11-11T17:00:00.123Z");
        assert_eq!(iso(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
