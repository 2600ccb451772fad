//! How failures become HTTP answers: `{"error":{"code","message","requestId"[,"fields"]}}` with a
//! stable [`ErrorCode`], the status that tells the client what to do, and `Retry-After` when
//! known. Every failure path returns a [`RouteError`]; its `IntoResponse` sets the status and
//! headers, and [`render_errors`] (one layer) writes the body with the request id.
//! Messages never carry a token or secret: they come from types whose Display is already clean.
//!
//! A leaf: imports nothing of the crate.

mod code;
mod layer;
mod request_id;
mod zoho;

use std::time::Duration;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use code::ErrorCode;
pub use layer::render_errors;
pub use request_id::X_REQUEST_ID;

/// A failure of a gateway route, a layer or an extractor.
#[derive(Debug, Clone)]
pub struct RouteError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<Duration>,
    /// The methods for `Allow` on a 405.
    allow: Vec<Method>,
}

/// What an error body says. Travels in the response extensions from [`RouteError`]'s
/// `IntoResponse` to [`render_errors`], which knows the request id.
#[derive(Debug, Clone)]
struct ErrorBody {
    code: ErrorCode,
    message: String,
    fields: Option<serde_json::Value>,
}

impl RouteError {
    /// A failure with this code (and its status) and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RouteError {
            status: code.status(),
            body: ErrorBody {
                code,
                message: message.into(),
                fields: None,
            },
            retry_after: None,
            allow: Vec::new(),
        }
    }

    /// The caller's request was wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        RouteError::new(ErrorCode::InvalidRequest, message)
    }

    /// The error for an answer that a layer or the router gave without a body: the code for
    /// its status ([`ErrorCode::for_status`]) and the status's reason as the message.
    pub fn for_status(status: StatusCode) -> Self {
        let message = status.canonical_reason().unwrap_or("error");
        RouteError::new(ErrorCode::for_status(status), message).with_status(status)
    }

    /// Sends the error with `status` instead of its code's usual one (`invalid_json` as 422,
    /// a bare answer's own status).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds `Retry-After` (rounded up to whole seconds when sent).
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// Adds `Allow` with these methods.
    pub fn with_allow(mut self, methods: Vec<Method>) -> Self {
        self.allow = methods;
        self
    }

    /// Adds Zoho's field errors (`fields` in the body).
    pub fn with_fields(mut self, fields: serde_json::Value) -> Self {
        self.body.fields = Some(fields);
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.body.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.body.message
    }
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.body.code,
            self.body.message
        )
    }
}

impl IntoResponse for RouteError {
    /// The status and headers; the body is written by [`render_errors`].
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        let headers = response.headers_mut();
        if let Some(wait) = self.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(wait)),
            );
        }
        if !self.allow.is_empty() {
            let allow: Vec<&str> = self.allow.iter().map(Method::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                headers.insert(header::ALLOW, value);
            }
        }
        if self.body.code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(self.body);
        response
    }
}

/// The panic catcher's answer (`CatchPanicLayer::custom(error::panicked)`): 500 `internal`,
/// and nothing of the panic's message, which could hold anything.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    RouteError::new(ErrorCode::Internal, "internal error").into_response()
}

/// `Retry-After` seconds for a wait: rounded up, at least 1 (a client told "0" retries at once).
pub fn retry_after_secs(wait: Duration) -> u64 {
    // Saturating: a wait is at most what `Duration` holds, never a panic on the way out.
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    secs.max(1)
}

#[cfg(test)]
mod tests;
