//! zoho-gateway: the HTTP gateway to Zoho Desk. The only crate that reads configuration, installs
//! exporters or binds ports.

#![warn(missing_docs)]

pub mod admin;
pub mod alerts;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod otel;
pub mod passthrough;
pub mod rate_limit;
pub mod routes;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod server;
pub mod state;
pub mod telemetry;
