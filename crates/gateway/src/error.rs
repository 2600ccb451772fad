//! How failures become HTTP answers: `{"error":{"code","message","requestId"}}` with a stable
//! `code` per failure, the status that tells the client what to do, and `Retry-After` when known.
//! Messages never carry a token or secret: they come from types whose Display is already clean.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use zoho_auth::TokenError;
use zoho_desk_api::{DeskError, ErrorCode, TransportKind};

use crate::auth::request_id;

/// A failure of a gateway route.
#[derive(Debug)]
pub struct RouteError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    fields: Option<serde_json::Value>,
}

impl RouteError {
    /// A failure with this status, stable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        RouteError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            fields: None,
        }
    }

    /// The caller's request was wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        RouteError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// Adds `Retry-After`.
    pub fn with_retry_after(mut self, after: Option<std::time::Duration>) -> Self {
        self.retry_after = after.map(|d| d.as_secs());
        self
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Renders the error with the id of the request it answers.
    pub fn into_response_for(self, headers: &HeaderMap) -> Response {
        let mut response = render(
            self.status,
            self.code,
            self.message,
            request_id(headers),
            self.fields,
        );
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// The one renderer of error bodies: `{"error":{"code","message","requestId"[,"fields"]}}`.
pub fn render(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
    request_id: Option<&str>,
    fields: Option<serde_json::Value>,
) -> Response {
    let mut error = serde_json::Map::new();
    error.insert("code".to_owned(), code.into());
    error.insert(
        "message".to_owned(),
        serde_json::Value::String(message.into()),
    );
    if let Some(id) = request_id {
        error.insert("requestId".to_owned(), id.into());
    }
    if let Some(fields) = fields {
        // Zoho's field errors on a 422, so the caller can point at the wrong field.
        error.insert("fields".to_owned(), fields);
    }
    (status, axum::Json(json!({ "error": error }))).into_response()
}

impl From<TokenError> for RouteError {
    fn from(error: TokenError) -> Self {
        let mut route = RouteError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "token_unavailable",
            error.to_string(),
        );
        route.retry_after = error.retry_after().map(|d| d.as_secs());
        route
    }
}

impl From<DeskError> for RouteError {
    fn from(error: DeskError) -> Self {
        let message = error.to_string();
        match error {
            DeskError::Token(token) => token.into(),
            DeskError::InvalidInput(_) => {
                RouteError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
            }
            DeskError::Decode { .. } => {
                RouteError::new(StatusCode::BAD_GATEWAY, "zoho_bad_response", message)
            }
            DeskError::Transport {
                kind: TransportKind::Timeout,
            } => RouteError::new(StatusCode::GATEWAY_TIMEOUT, "zoho_timeout", message),
            DeskError::Transport { .. } => {
                RouteError::new(StatusCode::BAD_GATEWAY, "zoho_unavailable", message)
            }
            DeskError::Api(api) => {
                let (status, code) = match &api.code {
                    ErrorCode::UrlNotFound => (StatusCode::NOT_FOUND, "not_found"),
                    ErrorCode::InvalidData | ErrorCode::UnprocessableEntity => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                    }
                    ErrorCode::TooManyRequests | ErrorCode::ThresholdExceeded => {
                        (StatusCode::TOO_MANY_REQUESTS, "zoho_rate_limited")
                    }
                    ErrorCode::Forbidden | ErrorCode::LicenseAccessLimited => {
                        (StatusCode::FORBIDDEN, "zoho_forbidden")
                    }
                    // The gateway's own credentials are wrong for this call: not the caller's fault.
                    ErrorCode::ScopeMismatch => (StatusCode::BAD_GATEWAY, "zoho_scope_mismatch"),
                    ErrorCode::OauthOrgMismatch => (StatusCode::BAD_GATEWAY, "zoho_org_mismatch"),
                    ErrorCode::InvalidOauth | ErrorCode::Unauthorized => {
                        (StatusCode::BAD_GATEWAY, "zoho_unauthorized")
                    }
                    _ if api.status >= 500 => (StatusCode::BAD_GATEWAY, "zoho_unavailable"),
                    _ => (StatusCode::BAD_GATEWAY, "zoho_error"),
                };
                let mut route = RouteError::new(status, code, message);
                route.retry_after = api.retry_after.map(|d| d.as_secs());
                if !api.field_errors.is_empty() {
                    route.fields = serde_json::to_value(&api.field_errors).ok();
                }
                route
            }
        }
    }
}
