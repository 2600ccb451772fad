//! What every handler shares, and the per-request context extractor.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use zoho_auth::TokenManager;
use zoho_desk_api::DeskClient;

use crate::auth::request_id;
use crate::error::{RouteError, render};
use crate::passthrough::{Allowlist, PassthroughState};

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The token cache.
    pub tokens: TokenManager,
    /// The Desk client (uses `tokens`).
    pub desk: DeskClient,
    /// Paths and methods the pass-through admits.
    pub allowlist: Arc<Allowlist>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("desk", &self.desk)
            .finish_non_exhaustive()
    }
}

impl FromRef<AppState> for PassthroughState {
    fn from_ref(state: &AppState) -> Self {
        PassthroughState {
            desk: state.desk.clone(),
            allowlist: state.allowlist.clone(),
        }
    }
}

/// A handler's view of its request: the shared state, the request id (set by the request-id
/// layer), and the path and query as the client sent them (for `next` links).
#[derive(Debug)]
pub struct Ctx {
    /// Shared state.
    pub state: AppState,
    request_id: Option<String>,
    /// The path as the client sent it.
    pub path: String,
    /// The query string as the client sent it.
    pub query: Option<String>,
}

impl Ctx {
    /// Turns a handler's result into the response, rendering an error with the request id.
    pub fn reply(&self, result: Result<Response, RouteError>) -> Response {
        result.unwrap_or_else(|error| {
            let mut headers = HeaderMap::new();
            if let Some(id) = self.request_id.as_deref().and_then(|id| id.parse().ok()) {
                headers.insert("x-request-id", id);
            }
            error.into_response_for(&headers)
        })
    }

    /// Renders an error body directly (for layers' own failures).
    pub fn error(
        &self,
        status: axum::http::StatusCode,
        code: &'static str,
        message: String,
    ) -> Response {
        render(status, code, message, self.request_id.as_deref(), None)
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |o| &o.0);
        Ok(Ctx {
            state: state.clone(),
            request_id: request_id(&parts.headers).map(str::to_owned),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
        })
    }
}
