//! How an HTTP request that got no answer failed, in words callers match on. Shared by the token
//! endpoint and the Desk client (which re-exports it), so no caller compares message text.

use std::fmt;

/// The kind of a transport failure: no (complete) answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// No connection was made: the server never saw the request.
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke while the response was read.
    Body,
    /// The request failed after the connection was made (closed or reset).
    Request,
    /// Any other failure of the HTTP client (e.g. a redirect loop).
    Other,
}

impl TransportKind {
    /// Classifies an HTTP client error. Only `reqwest`'s predicates are read, never its message,
    /// which can hold the URL.
    pub fn of(error: &reqwest::Error) -> Self {
        if error.is_connect() {
            TransportKind::Connect
        } else if error.is_timeout() {
            TransportKind::Timeout
        } else if error.is_body() || error.is_decode() {
            TransportKind::Body
        } else if error.is_request() {
            TransportKind::Request
        } else {
            TransportKind::Other
        }
    }

    /// Whether the server may have received (and acted on) the request: only a failed connect
    /// proves it did not.
    pub fn maybe_delivered(self) -> bool {
        self != TransportKind::Connect
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connection failed",
            TransportKind::Timeout => "timed out",
            TransportKind::Body => "connection broke while reading the response",
            TransportKind::Request => "request failed (connection closed or reset)",
            TransportKind::Other => "HTTP error",
        })
    }
}
