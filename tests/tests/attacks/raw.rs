//! Raw HTTP/1.1: what reqwest refuses to send, over a plain `TcpStream`.

use std::time::Duration;

use e2e::{Gateway, assert_no_secrets};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ADMIN_KEY;

/// A response read off a raw socket.
#[derive(Debug)]
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Raw {
    pub(crate) fn parse(bytes: &[u8]) -> Option<Raw> {
        let text = String::from_utf8_lossy(bytes);
        assert_no_secrets("a raw response", &text);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some(Raw {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    }
}

pub(crate) fn socket_addr(gateway: &Gateway) -> &str {
    gateway.api.strip_prefix("http://").expect("http URL")
}

/// Reads until the peer closes (every raw request here says `Connection: close`), an error, or
/// `within` passes; returns what was read.
pub(crate) async fn read_all(
    stream: &mut (impl AsyncReadExt + Unpin),
    within: Duration,
) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    buffer
}

/// Sends `request` as it is and reads the answer (within 10 s).
pub(crate) async fn raw(gateway: &Gateway, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(socket_addr(gateway)).await.unwrap();
    // An overlong request may be refused before it is all written: then the write fails.
    let _ = stream.write_all(request).await;
    let bytes = read_all(&mut stream, Duration::from_secs(10)).await;
    Raw::parse(&bytes).unwrap_or_else(|| {
        panic!(
            "no HTTP answer to {:?}: {:?}",
            excerpt(request),
            String::from_utf8_lossy(&bytes)
        )
    })
}

pub(crate) fn excerpt(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    text.chars().take(120).collect()
}

/// A raw request: `method target`, authenticated with `key`, optional JSON body.
pub(crate) fn request(method: &str, target: &str, key: &str, body: Option<&str>) -> Vec<u8> {
    let mut text = format!(
        "{method} {target} HTTP/1.1\r\nHost: gateway.test\r\nX-API-Key: {key}\r\nConnection: close\r\n"
    );
    if let Some(body) = body {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        text.push_str("\r\n");
    }
    text.into_bytes()
}

pub(crate) fn get(target: &str) -> Vec<u8> {
    request("GET", target, ADMIN_KEY, None)
}
