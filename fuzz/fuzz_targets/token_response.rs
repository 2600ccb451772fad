//! `zoho_auth::classify_token_response`: whatever Zoho Accounts answers a refresh with.
//!
//! Input: the HTTP status as two big-endian bytes, then the body.
//!
//! Invariants beyond "never panics": a success carries a non-empty token and a positive
//! lifetime; an unknown error code stays short and printable (it reaches logs and status
//! responses); and no rendering of the result (`Debug`, `Display`) contains the access token
//! the body carried, only its preview.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zoho_auth::{PREVIEW_CHARS, RefreshError, classify_token_response};

fuzz_target!(|data: &[u8]| {
    let [hi, lo, body @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*hi, *lo]);
    let result = classify_token_response(status, body);

    // The token as serde_json reads it, the same parser the library uses.
    let json = serde_json::from_slice::<Value>(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(Value::as_str)
    };
    let token = field("access_token").unwrap_or("");

    let mut rendered = format!("{result:?}");
    match &result {
        Ok(grant) => {
            assert!(!token.is_empty(), "a grant without a token in the body");
            assert_eq!(grant.access_token.expose_secret(), token);
            assert!(
                !grant.expires_in.is_zero(),
                "a grant that is already expired"
            );
        }
        Err(error) => {
            rendered.push_str(&error.to_string());
            if let RefreshError::Rejected { code } = error {
                assert!(code.chars().count() <= 64, "unbounded error code {code:?}");
                assert!(
                    code.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-. ".contains(c)),
                    "unsanitised error code {code:?}"
                );
            }
        }
    }
    // A preview shows at most PREVIEW_CHARS characters, so a longer token must not appear whole
    // — unless the body also put it in `api_domain`, which `Grant` shows as it is.
    if token.chars().count() > PREVIEW_CHARS && !field("api_domain").unwrap_or("").contains(token) {
        assert!(
            !rendered.contains(token),
            "the access token leaked into {rendered:?}"
        );
    }
});
