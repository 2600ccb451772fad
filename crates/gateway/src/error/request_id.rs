//! The request id: the `x-request-id` header that every error body repeats as `requestId`.

use axum::http::{HeaderName, HeaderValue};

/// The request-id header (set by the request-id layer when the client sends none).
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An `x-request-id` value as text, if printable, non-blank and at most 128 characters.
pub fn printable(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128)
}
