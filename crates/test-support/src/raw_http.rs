//! The two halves of a hand-written HTTP/1.1 server, for tests that stand in for Zoho at the
//! socket level to see exactly which headers a client sends.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The head of one request read from `socket`: up to its blank line (or whatever came before the
/// peer closed), lower-cased so header names can be matched as they are written in the tests.
pub async fn read_request_head<S: AsyncRead + Unpin>(socket: &mut S) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

/// Answers with `HTTP/1.1 {status}`, `extra_headers` (each ending in `\r\n`) and the JSON `body`,
/// then closes the connection. Write errors are ignored: a client that gave up is not a failure.
pub async fn write_json_answer<S: AsyncWrite + Unpin>(
    socket: &mut S,
    status: &str,
    extra_headers: &str,
    body: &str,
) {
    let response = format!(
        "HTTP/1.1 {status}\r\n{extra_headers}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}
