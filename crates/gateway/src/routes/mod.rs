//! The `/api/zoho-desk/*` routes: token status and forced refresh (`token`: the original
//! integration's shapes, extended), and typed Desk routes over `zoho-desk-api` (`desk`).
//! Handlers take their input through `extract`'s extractors and return
//! `Result<Response, RouteError>`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

mod desk;
mod extract;
mod token;

// Globs: each handler comes with the `__path_*` item utoipa generates, which `ApiDoc` needs.
pub use desk::*;
pub use token::*;

/// An error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `{"code","message","requestId"[,"fields"]}`.
    #[schema(value_type = Object)]
    error: Value,
}

/// 201 with `value` as JSON.
fn created<T: Serialize>(value: T) -> Response {
    (StatusCode::CREATED, axum::Json(value)).into_response()
}

/// 200 with `value` as JSON.
fn ok<T: Serialize>(value: T) -> Response {
    axum::Json(value).into_response()
}
