//! `gateway::passthrough::normalize_path`: the raw path a client asks the pass-through to send
//! to Zoho.
//!
//! Input: the path remainder after `/api/zoho-desk/v1`, as UTF-8 (what axum hands over).
//!
//! The function promises (its docs and the module docs): only `/seg/seg…` with segments of
//! `[A-Za-z0-9_-]`, at most `MAX_SEGMENTS` segments and `MAX_PATH_BYTES` bytes, passes, and
//! nothing is decoded or rewritten — what was checked is what is sent. So this target checks the
//! verdict against an independent reading of that rule, that an accepted path comes back
//! unchanged (hence normalising is idempotent), and that a refusal repeats at most one printable
//! character of the path.

#![no_main]

use gateway::passthrough::{MAX_PATH_BYTES, MAX_SEGMENTS, PathRejection, normalize_path};
use libfuzzer_sys::fuzz_target;

/// The documented rule, written independently of the implementation.
fn canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    path.len() <= MAX_PATH_BYTES
        && segments.len() <= MAX_SEGMENTS
        && segments.iter().all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let verdict = normalize_path(raw);
    assert_eq!(
        verdict.is_ok(),
        canonical(raw),
        "{raw:?} -> {verdict:?} disagrees with the documented rule"
    );
    match verdict {
        Ok(path) => {
            assert_eq!(path, raw, "an accepted path was rewritten");
            // Implied by the rule; spelled out because these are the attacks it exists for.
            for bad in ["..", "//", "\\", "%", "@", ":", "?", "#"] {
                assert!(!path.contains(bad), "{path:?} contains {bad:?}");
            }
            assert_eq!(normalize_path(&path), Ok(path.clone()), "not idempotent");
        }
        Err(rejection) => {
            match rejection {
                PathRejection::ForbiddenChar(c) => assert!(c.is_ascii_graphic(), "{c:?}"),
                PathRejection::ControlOrSpace(b) => assert!(b.is_ascii_control() || b == b' '),
                _ => {}
            }
            assert_eq!(rejection.code(), "invalid_path");
            let _ = (rejection.reason(), rejection.to_string());
        }
    }
});
