//! What every handler shares, and the per-request context extractor.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use zoho_auth::TokenManager;
use zoho_desk_api::DeskClient;

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

/// A handler's view of its request: the shared state, and the path and query as the client
/// sent them (for `next` links).
#[derive(Debug)]
pub struct Ctx {
    /// Shared state.
    pub state: AppState,
    /// The path as the client sent it.
    pub path: String,
    /// The query string as the client sent it.
    pub query: Option<String>,
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
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
        })
    }
}
