//! The secret scanner: every output, header and body a test sees goes through it, so a token,
//! client secret, refresh token or API key that leaks anywhere fails the test that leaked it.

use std::sync::Mutex;

/// Secrets registered by tests (API keys, …) that must never appear anywhere.
static REGISTERED_SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds `secret` (e.g. a raw API key given to a gateway) to what [`assert_no_secrets`] looks
/// for, in every scan of this test binary from now on.
pub fn register_secret(secret: &str) {
    let mut secrets = REGISTERED_SECRETS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !secret.is_empty() && !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
    }
}

/// The first secret in `text`: what kind it is and its byte range. Looks for the emulator's
/// client secret and refresh token, every [`register_secret`]ed value, and anything of the
/// shape of a Zoho token, `1000.<32 lowercase hex>.<32 lowercase hex>` (every access token the
/// emulator mints, and its seeded refresh token).
pub fn find_secret(text: &str) -> Option<(&'static str, std::ops::Range<usize>)> {
    let exact = |needle: &str| text.find(needle).map(|at| at..at + needle.len());
    if let Some(range) = exact(zoho_sim::DEFAULT_CLIENT_SECRET) {
        return Some(("the OAuth client secret", range));
    }
    if let Some(range) = exact(zoho_sim::DEFAULT_REFRESH_TOKEN) {
        return Some(("the refresh token", range));
    }
    let registered = REGISTERED_SECRETS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(range) = registered.iter().find_map(|secret| exact(secret)) {
        return Some(("a registered secret (API key)", range));
    }
    find_token_shape(text).map(|range| ("a full Zoho token (1000.<hex>.<hex>)", range))
}

/// The first match of `1000\.[0-9a-f]{32}\.[0-9a-f]{32}` in `text`.
pub fn find_token_shape(text: &str) -> Option<std::ops::Range<usize>> {
    const PREFIX: &str = "1000.";
    const LEN: usize = PREFIX.len() + 32 + 1 + 32;
    let bytes = text.as_bytes();
    let hex = |b: &[u8]| b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    text.match_indices(PREFIX).find_map(|(at, _)| {
        let candidate = bytes.get(at..at + LEN)?;
        let rest = &candidate[PREFIX.len()..];
        (hex(&rest[..32]) && rest[32] == b'.' && hex(&rest[33..])).then_some(at..at + LEN)
    })
}

/// Fails the test if `text` holds a secret (see [`find_secret`]): a full Zoho token, the client
/// secret, the refresh token or a registered API key. The failure names `what` was scanned, the
/// kind of secret and the line it is on, with the secret itself cut to a short preview.
pub fn assert_no_secrets(what: &str, text: &str) {
    if let Some((kind, range)) = find_secret(text) {
        let line_start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[range.end..]
            .find('\n')
            .map_or(text.len(), |i| range.end + i);
        let line_number = text[..range.start].matches('\n').count() + 1;
        let preview: String = text[range.clone()].chars().take(8).collect();
        let shown = format!(
            "{}{preview}…[redacted]{}",
            &text[line_start..range.start],
            &text[range.end..line_end]
        );
        panic!("{what} contains {kind} on line {line_number}:\n{shown}");
    }
}

/// Fails the test if a header value holds a secret.
pub fn assert_no_secrets_in_headers(what: &str, headers: &reqwest::header::HeaderMap) {
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert_no_secrets(&format!("{what}: header {name}"), &value);
    }
}

/// A response read whole after its status line, headers and body passed the secret scan.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The status.
    pub status: reqwest::StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

impl Scanned {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Reads `response` whole and fails the test if its headers or body hold a secret.
pub async fn scan_response(what: &str, response: reqwest::Response) -> Scanned {
    let status = response.status();
    let headers = response.headers().clone();
    assert_no_secrets_in_headers(what, &headers);
    let bytes = response.bytes().await.expect("response body");
    let body = String::from_utf8_lossy(&bytes).into_owned();
    assert_no_secrets(&format!("{what}: body"), &body);
    Scanned {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod scanner_tests {
    use super::*;

    const TOKEN: &str = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210";

    #[test]
    fn finds_the_token_shape_and_nothing_like_it() {
        assert_eq!(
            find_token_shape(&format!("x={TOKEN};")),
            Some(2..2 + TOKEN.len())
        );
        for near_miss in [
            "1000.0123456789abcdef…", // a preview
            "1000.0123456789ABCDEF0123456789abcdef.fedcba9876543210fedcba9876543210", // upper case
            "1000.0123456789abcdef0123456789abcde.fedcba9876543210fedcba9876543210", // 31 hex
            "1000.0123456789abcdef0123456789abcdef-fedcba9876543210fedcba9876543210", // no dot
            "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba987654321", // cut short
        ] {
            assert_eq!(find_token_shape(near_miss), None, "{near_miss}");
        }
        assert!(find_secret(zoho_sim::DEFAULT_CLIENT_SECRET).is_some());
        assert_eq!(
            find_secret(zoho_sim::DEFAULT_REFRESH_TOKEN).map(|(kind, _)| kind),
            Some("the refresh token")
        );
    }

    #[test]
    fn registered_secrets_are_found_and_never_printed_whole() {
        let key = "scanner-test-key-5f0e1d2c3b4a";
        assert!(find_secret(&format!("key={key}")).is_none());
        register_secret(key);
        let text = format!("line one\nAuthorization: Bearer {key} (end)\nline three");
        let message = std::panic::catch_unwind(|| assert_no_secrets("a test text", &text))
            .expect_err("found")
            .downcast::<String>()
            .expect("a message");
        assert!(message.contains("a registered secret"), "{message}");
        assert!(message.contains("on line 2"), "{message}");
        assert!(
            message.contains("Bearer scanner-…[redacted] (end)"),
            "{message}"
        );
        assert!(!message.contains(key), "{message}");
        assert_no_secrets("clean text", "line one\nnothing here");
    }
}
