//! `zoho-desk-api`: a typed, lossless Zoho Desk v1 client.
//!
//! - **Typed yet lossless**: models with id newtypes, real date-times and string counts; every
//!   field the client does not know is kept in `extra` and written back unchanged.
//! - **Honest errors**: one [`DeskError`] that says which [`Side`] failed, whether a retry can
//!   help, Zoho's [`ErrorCode`] and field errors — and never contains a token.
//! - **Safe with Zoho's limits**: a 401 `INVALID_OAUTH` invalidates that exact token, refreshes and
//!   retries once; `SCOPE_MISMATCH` and `OAUTH_ORG_MISMATCH` never trigger a refresh; a
//!   client-side concurrency cap keeps Zoho from answering `TOO_MANY_REQUESTS`; 429s honour
//!   `Retry-After`; only idempotent methods are retried after a request may have reached Zoho, so
//!   a timed-out ticket creation is never duplicated.
//! - **Pagination**: one call per page ([`PageRequest`], `limit` checked before sending) or a
//!   `Stream` over every page; HTTP 204 and `{"data":[]}` both mean empty.
//!
//! Tokens come from a [`TokenSource`]; `zoho_auth::TokenManager` is one. Telemetry goes through the
//! `tracing` and `metrics` facades (names in [`telemetry`]).
//!
//! ```
//! use futures::TryStreamExt;
//! use zoho_auth::{Credentials, TokenManager, ZohoEndpoints};
//! use zoho_desk_api::{DeskClient, PageRequest, TicketFilter};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The emulator stands in for Zoho here; against Zoho use ZohoEndpoints::for_data_centre.
//! let zoho = zoho_sim::ZohoSim::start(Default::default()).await?;
//! let endpoints = ZohoEndpoints::custom(&zoho.accounts_url(), &zoho.desk_url())?;
//! let credentials = Credentials::new(
//!     zoho_sim::DEFAULT_CLIENT_ID,
//!     zoho_sim::DEFAULT_CLIENT_SECRET,
//!     zoho_sim::DEFAULT_REFRESH_TOKEN,
//! );
//! let tokens = TokenManager::builder(credentials, endpoints.clone()).build();
//! let desk = DeskClient::builder(endpoints.desk_api_url(), zoho.desk_org_id(), tokens).build();
//!
//! let first_page = desk.list_tickets(&TicketFilter::default(), PageRequest::first(10)).await?;
//! assert_eq!(first_page.data.len(), 10);
//! let every_ticket: Vec<_> = desk.tickets(&TicketFilter::default(), 100).try_collect().await?;
//! assert_eq!(every_ticket.len(), zoho.ticket_count());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod client;
mod endpoints;
mod error;
mod ids;
mod models;
mod pagination;
pub mod telemetry;
mod time;

pub use client::{DeskClient, DeskClientBuilder, RawRequest, RawResponse, TokenSource};
pub use endpoints::{ContactSearch, MAX_LIMIT, MAX_THREAD_LIMIT, TicketFilter, TicketSearch};
pub use error::{ApiError, DeskError, ErrorCode, FieldError, Side};
pub use ids::{
    AccountId, AgentId, CommentId, ContactId, DepartmentId, OrganizationId, ThreadId, TicketId,
};
pub use models::{
    Account, Agent, Comment, Contact, ContactUpdate, Department, Extra, HistoryEvent, NewComment,
    NewContact, NewTicket, Organization, Thread, Ticket, TicketContact, TicketUpdate,
};
pub use pagination::{Page, PageRequest};
pub use reqwest::Method;
pub use time::{Count, ZohoTime};
/// How a request that got no answer failed (defined in `zoho-auth`, shared with its token
/// endpoint).
pub use zoho_auth::TransportKind;
