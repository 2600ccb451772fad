//! What Zoho-side failures mean to the gateway's callers: token and Desk client errors as
//! [`RouteError`]s.

use zoho_auth::TokenError;
use zoho_desk_api::{DeskError, ErrorCode as ZohoCode, TransportKind};

use super::{ErrorCode, RouteError};

impl From<TokenError> for RouteError {
    fn from(error: TokenError) -> Self {
        let retry_after = error.retry_after();
        RouteError::new(ErrorCode::TokenUnavailable, error.to_string())
            .with_retry_after(retry_after)
    }
}

impl From<DeskError> for RouteError {
    fn from(error: DeskError) -> Self {
        let message = error.to_string();
        match error {
            DeskError::Token(token) => token.into(),
            DeskError::InvalidInput(_) => RouteError::new(ErrorCode::InvalidRequest, message),
            DeskError::Decode { .. } => RouteError::new(ErrorCode::ZohoBadResponse, message),
            DeskError::Transport {
                kind: TransportKind::Timeout,
            } => RouteError::new(ErrorCode::ZohoTimeout, message),
            DeskError::Transport { .. } => RouteError::new(ErrorCode::ZohoUnavailable, message),
            DeskError::Api(api) => {
                let code = match &api.code {
                    ZohoCode::UrlNotFound => ErrorCode::NotFound,
                    ZohoCode::InvalidData | ZohoCode::UnprocessableEntity => {
                        ErrorCode::ValidationFailed
                    }
                    ZohoCode::TooManyRequests | ZohoCode::ThresholdExceeded => {
                        ErrorCode::ZohoRateLimited
                    }
                    ZohoCode::Forbidden | ZohoCode::LicenseAccessLimited => {
                        ErrorCode::ZohoForbidden
                    }
                    // The gateway's own credentials are wrong for this call: not the caller's fault.
                    ZohoCode::InvalidOauth
                    | ZohoCode::Unauthorized
                    | ZohoCode::ScopeMismatch
                    | ZohoCode::OauthOrgMismatch => ErrorCode::refused_credentials(&api.code),
                    _ if api.status >= 500 => ErrorCode::ZohoUnavailable,
                    _ => ErrorCode::ZohoError,
                };
                let mut route = RouteError::new(code, message).with_retry_after(api.retry_after);
                if !api.field_errors.is_empty()
                    && let Ok(fields) = serde_json::to_value(&api.field_errors)
                {
                    route = route.with_fields(fields);
                }
                route
            }
        }
    }
}

impl ErrorCode {
    /// The code for Zoho refusing the gateway's credentials (a 401 left after the refresh and
    /// retry): the scope or organization when Zoho says which, else `zoho_unauthorized`.
    pub fn refused_credentials(zoho: &ZohoCode) -> ErrorCode {
        match zoho {
            ZohoCode::ScopeMismatch => ErrorCode::ZohoScopeMismatch,
            ZohoCode::OauthOrgMismatch => ErrorCode::ZohoOrgMismatch,
            _ => ErrorCode::ZohoUnauthorized,
        }
    }
}
