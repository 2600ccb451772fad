//! zoho-gateway: the HTTP gateway to Zoho Desk. The only crate that reads configuration, installs
//! exporters or binds ports.
//!
//! Public: what the binary, the tests and the fuzz targets use — configuration, wiring (`app`,
//! `server`), telemetry and alerts, the sandbox, the pass-through's path rules — and the
//! request-handling modules whose types those signatures carry. The routes, the admin handlers
//! and the shared label helpers are the crate's own.

#![warn(missing_docs)]

pub mod alerts;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod otel;
pub mod passthrough;
pub mod rate_limit;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod state;
pub mod telemetry;

mod admin;
mod labels;
mod routes;
