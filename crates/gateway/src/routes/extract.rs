//! axum's `Json`, `Query` and `Path` extractors with [`RouteError`] as their rejection, so a
//! handler's bad input answers like every other failure and handlers never see a rejection.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

use crate::error::{ErrorCode, RouteError};

/// A JSON request body.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(RouteError))]
pub struct Json<T>(pub T);

/// The query string, decoded.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(RouteError))]
pub struct Query<T>(pub T);

/// The path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(RouteError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for RouteError {
    /// 415 without a JSON content type, 413 over the body limit, else `invalid_json` with
    /// axum's status (400 for a syntax error, 422 for JSON of the wrong shape).
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::InvalidJson,
        };
        RouteError::new(code, rejection.body_text()).with_status(status)
    }
}

impl From<QueryRejection> for RouteError {
    fn from(rejection: QueryRejection) -> Self {
        RouteError::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for RouteError {
    fn from(rejection: PathRejection) -> Self {
        RouteError::bad_request(rejection.body_text())
    }
}
