//! zoho-gateway: the HTTP gateway to Zoho Desk. The only crate that reads configuration, installs
//! exporters or binds ports.
//!
//! Public: what the binary, the tests and the fuzz targets use — configuration, wiring (`app`,
//! `server`), telemetry and alerts, the sandbox, the pass-through's path rules. Authentication,
//! errors, rate limiting, the shared state, the routes, the admin handlers and the label helpers
//! are the crate's own.

#![warn(missing_docs)]

pub mod alerts;
pub mod app;
pub mod config;
pub mod otel;
pub mod passthrough;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod telemetry;

mod admin;
mod auth;
mod error;
mod labels;
mod rate_limit;
mod routes;
mod state;
