//! The one place error bodies are written: a middleware that turns every error answer into
//! `{"error":{"code","message","requestId"[,"fields"]}}` with the request's id.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::request_id::{X_REQUEST_ID, printable};
use super::{ErrorBody, RouteError};

/// Axum middleware (`from_fn(render_errors)`): renders the [`RouteError`] a handler or an inner
/// layer answered with, and gives answers that a layer or the router produced without a body
/// (404 for an unknown route, 405, a timeout) the same shape. JSON answers pass unchanged: they
/// are Zoho's, relayed by the pass-through.
pub async fn render_errors(request: Request, next: Next) -> Response {
    // The header value itself (a reference count, not a copy): only an error needs it.
    let id = request.headers().get(X_REQUEST_ID).cloned();
    let mut response = next.run(request).await;
    let body = match response.extensions_mut().remove::<ErrorBody>() {
        Some(body) => body,
        None if is_bare_error(&response) => RouteError::for_status(response.status()).body,
        None => return response,
    };
    let (mut parts, _) = response.into_parts();
    let mut error = serde_json::Map::new();
    error.insert("code".to_owned(), body.code.as_str().into());
    error.insert("message".to_owned(), body.message.into());
    if let Some(id) = id.as_ref().and_then(printable) {
        error.insert("requestId".to_owned(), id.into());
    }
    if let Some(fields) = body.fields {
        // Zoho's field errors on a 422, so the caller can point at the wrong field.
        error.insert("fields".to_owned(), fields);
    }
    let bytes = serde_json::to_vec(&json!({ "error": error })).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}

fn is_bare_error(response: &Response) -> bool {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    (status.is_client_error() || status.is_server_error()) && !is_json
}
