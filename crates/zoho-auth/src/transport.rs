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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure_that_never_reached_the_server() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let error = reqwest::get(url).await.unwrap_err();
        assert_eq!(TransportKind::of(&error), TransportKind::Connect);
        assert!(!TransportKind::Connect.maybe_delivered());
    }

    #[tokio::test]
    async fn no_answer_in_time_is_a_timeout_that_may_have_reached_the_server() {
        // Accepted by the kernel's backlog, never answered.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let error = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_millis(200))
            .send()
            .await
            .unwrap_err();
        assert_eq!(TransportKind::of(&error), TransportKind::Timeout);
        assert!(TransportKind::Timeout.maybe_delivered());
    }
}
