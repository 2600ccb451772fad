//! The pass-through: `/api/zoho-desk/v1/{*path}` forwards the rest of Zoho Desk v1 — the parts
//! the typed routes do not cover — under the same rules as every typed call.
//!
//! # What a request goes through, in order
//!
//! 1. **Path** ([`normalize_path`]): the remainder after `/api/zoho-desk/v1`, taken *raw* from
//!    the request URI (a decoded path would hide `%2f`). Only `/seg/seg…` with segment characters
//!    `[A-Za-z0-9_-]` passes: no percent escapes at all (Zoho's paths never need one), no `.` or
//!    `..`, no empty segments, no `\`, `@`, `:`, `;`, controls, whitespace or non-ASCII, at most
//!    [`MAX_PATH_BYTES`] bytes and [`MAX_SEGMENTS`] segments. Failure: 400 `invalid_path`.
//! 2. **Allowlist** ([`Allowlist`]): the path must sit under an allowed prefix (else 404
//!    `not_allowed`) with an allowed method (else 405 `method_not_allowed` with `Allow`).
//! 3. **Query**: at most [`MAX_QUERY_BYTES`], decoded into pairs; no control characters, no empty
//!    names, no `orgId` (the gateway sets the organization). Failure: 400 `invalid_query`.
//! 4. **Body**: buffered whole (the size limit is a layer outside this router), so a 401 retry can
//!    resend it. None on `GET` (400 `body_not_allowed`); otherwise JSON only (415
//!    `unsupported_media_type`, 400 `invalid_json`).
//! 5. **Forward** with [`DeskClient::send_raw`], which adds Zoho's `Authorization` and `orgId`,
//!    refreshes and retries once on `INVALID_OAUTH`, and applies the concurrency cap and retry
//!    policy. Nothing of the client's headers is forwarded — [`RawRequest`] has no header field,
//!    so the client's `Authorization`, cookies and hop-by-hop headers cannot reach Zoho — except
//!    that a JSON body is sent as `application/json`.
//! 6. **Answer**: Zoho's status, body, `Content-Type` and `Retry-After`, nothing else of Zoho's
//!    headers. One exception: a 401 from Zoho (left after the retry) means the *gateway's*
//!    credentials failed, not the caller's, so it becomes 502 `zoho_unauthorized` (or
//!    `zoho_scope_mismatch`, `zoho_org_mismatch`); a 401 from the gateway only ever means "your
//!    API key". No answer at all: 502 `zoho_unavailable`, 504 `zoho_timeout`, 503
//!    `token_unavailable` (with `Retry-After` when known).
//!
//! Every refusal in steps 1–4 happens before anything is sent to Zoho.
//!
//! # `GATEWAY_PASSTHROUGH_ALLOW`
//!
//! Replaces the [default allowlist](Allowlist::default). Entries separated by `;`, whitespace
//! around tokens ignored, empty entries skipped:
//!
//! - `METHOD[,METHOD…]:/prefix` admits those methods (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`,
//!   any case) on `/prefix` and every path below it (whole segments: `/tasks` admits `/tasks` and
//!   `/tasks/1/x`, not `/tasksx`). Rules add up.
//! - `!/prefix` denies `/prefix` and everything below it, whatever the rules admit.
//!
//! Example: `GET,POST:/tasks; GET:/products; !/tasks/moveToTrash`. An empty value admits nothing
//! (the pass-through then answers 404 to everything).

mod allowlist;
mod handler;
mod path;

pub use allowlist::{Allowlist, Rule};
pub use handler::{MAX_QUERY_BYTES, PREFIX, PassthroughState, ROUTE, handle, router};
pub use path::{MAX_PATH_BYTES, MAX_SEGMENTS, PathRejection, normalize_path};
