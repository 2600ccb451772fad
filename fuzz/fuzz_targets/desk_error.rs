//! `zoho_desk_api::ApiError::from_response`: Zoho Desk's error bodies, or whatever a proxy in
//! between answered instead (HTML, nothing, garbage).
//!
//! Input: the HTTP status as two big-endian bytes, one byte of `Retry-After` seconds (0: none),
//! then the body.
//!
//! Invariants beyond "never panics": status and `Retry-After` are kept as given; the message is
//! at most 500 characters; an unknown code is at most 64 printable ASCII characters and its
//! metric label is the bounded `unknown`; a body serde_json cannot read at all gives no code and
//! a message of our own; and the `DeskError` built from it answers consistently.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use zoho_desk_api::{ApiError, DeskError, ErrorCode, Side};

fuzz_target!(|data: &[u8]| {
    let [hi, lo, retry, body @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*hi, *lo]);
    let retry_after = (*retry != 0).then(|| Duration::from_secs(u64::from(*retry)));
    let error = ApiError::from_response(status, body, retry_after);

    assert_eq!(error.status, status);
    assert_eq!(error.retry_after, retry_after);
    assert!(error.message.chars().count() <= 500, "unbounded message");
    match &error.code {
        ErrorCode::Unknown(code) => {
            assert!(code.chars().count() <= 64, "unbounded code {code:?}");
            assert!(
                code.bytes().all(|b| b.is_ascii_graphic()),
                "unprintable code {code:?}"
            );
            assert_eq!(error.code.metric_label(), "unknown");
        }
        known => assert_eq!(known.as_str(), known.metric_label()),
    }
    // Not JSON even to serde_json's lenient reading of values it skips (it does not check the
    // UTF-8 of an ignored field's string, so `Value` would be too strict a judge).
    if serde_json::from_slice::<IgnoredAny>(body).is_err() {
        assert_eq!(error.code, ErrorCode::Unknown(String::new()));
        assert_eq!(
            error.message,
            format!("HTTP {status} without a Zoho error body")
        );
    }

    let desk = DeskError::Api(error.clone());
    assert_eq!(desk.side(), Side::Zoho);
    assert_eq!(desk.status(), Some(status));
    assert_eq!(desk.code(), Some(&error.code));
    assert_eq!(desk.retry_after(), retry_after);
    let _ = desk.is_retryable();
    let _ = format!("{desk} {desk:?}");
});
