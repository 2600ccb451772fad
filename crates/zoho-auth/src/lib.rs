//! `zoho-auth`: the Zoho OAuth refresh core.
//!
//! A [`TokenManager`] holds one access token per refresh token and makes its expiry invisible to
//! callers: reading the cached token is lock-free and never waits on the network; a background
//! task refreshes ahead of expiry; callers wait only when no valid token exists, and then all of
//! them share one refresh. Zoho's limits (10 refreshes per refresh token per 10 minutes, a cap on
//! live access tokens) are respected by a hard local budget, and every Zoho error is classified
//! ([`RefreshError`]) so that transient trouble is retried, throttling waits out Zoho's window,
//! and dead credentials stop the retries until a person acts.
//!
//! This crate knows OAuth and Zoho Accounts, nothing about Desk or serving HTTP. Telemetry goes
//! through the `tracing` and `metrics` facades (names in [`telemetry`]); no token or secret ever
//! reaches them except as a short preview.
//!
//! ```no_run
//! use zoho_auth::{Credentials, DataCentre, TokenManager, ZohoEndpoints};
//!
//! # async fn demo() -> Result<(), zoho_auth::TokenError> {
//! let credentials = Credentials::new("1000.CLIENTID", "client-secret", "1000.refresh.token");
//! let endpoints = ZohoEndpoints::for_data_centre("desk.zoho.eu".parse::<DataCentre>().unwrap());
//! let manager = TokenManager::builder(credentials, endpoints).build();
//! let token = manager.token().await?;
//! println!("Authorization header ready, token {}", token.preview());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod budget;
mod endpoints;
mod error;
mod fleet;
mod manager;
mod secret;
pub mod store;
pub mod telemetry;
mod token_endpoint;
mod transport;

pub use endpoints::{DataCentre, InvalidEndpoint, UnknownDataCentre, ZohoEndpoints};
pub use error::{FailureClass, RefreshError, TokenError};
pub use manager::{
    AuthRetry, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_BUDGET_WINDOW,
    DEFAULT_EXPIRY_SKEW, DEFAULT_REFRESH_BUDGET, DEFAULT_REFRESH_JITTER, DEFAULT_REFRESH_MARGIN,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_THROTTLE_BACKOFF, LastRefresh, RefreshCounts, RefreshReason,
    Token, TokenManager, TokenManagerBuilder, TokenOrigin, TokenState, TokenStatus, WithTokenError,
};
pub use secret::{AccessToken, Credentials, PREVIEW_CHARS, preview};
pub use token_endpoint::{DEFAULT_TOKEN_LIFETIME, Grant, classify as classify_token_response};
pub use transport::TransportKind;
