//! Step 1 of the pass-through: the raw path remainder, accepted only in its one canonical form.

use crate::error::ErrorCode;

/// Longest path remainder accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 512;

/// Most path segments accepted.
pub const MAX_SEGMENTS: usize = 12;

/// Why [`normalize_path`] refused a path. Messages never repeat the path, at most one offending
/// printable ASCII character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRejection {
    /// Nothing after the prefix.
    #[error("the path is empty")]
    Empty,
    /// Longer than [`MAX_PATH_BYTES`].
    #[error("the path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    /// A byte outside ASCII.
    #[error("the path contains non-ASCII characters")]
    NonAscii,
    /// A control character or a space.
    #[error("the path contains a control character or whitespace (0x{0:02x})")]
    ControlOrSpace(u8),
    /// `scheme://` or a leading `//` (a network path naming a host).
    #[error("the path names a scheme or host")]
    SchemeOrHost,
    /// Does not start with `/`.
    #[error("the path must start with '/'")]
    NotAbsolute,
    /// A `%` escape; Desk paths never need one, and decoding invites `%2f`/`%2e` tricks.
    #[error("percent-encoded characters are not allowed in the path")]
    Encoded,
    /// A backslash, which some servers treat as `/`.
    #[error("backslashes are not allowed in the path")]
    Backslash,
    /// A `.` or `..` segment.
    #[error("'.' and '..' segments are not allowed")]
    DotSegment,
    /// `//` inside the path, or a trailing `/`.
    #[error("empty path segments are not allowed")]
    EmptySegment,
    /// A character outside `[A-Za-z0-9_-]`.
    #[error("character {0:?} is not allowed in a path segment")]
    ForbiddenChar(char),
    /// More than [`MAX_SEGMENTS`] segments.
    #[error("the path has more than {MAX_SEGMENTS} segments")]
    TooManySegments,
}

impl PathRejection {
    /// The stable error code of every path rejection: `invalid_path`.
    pub fn code(&self) -> &'static str {
        ErrorCode::InvalidPath.as_str()
    }

    /// A bounded label saying which rule refused the path (for logs and metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            PathRejection::Empty => "empty",
            PathRejection::TooLong => "too_long",
            PathRejection::NonAscii => "non_ascii",
            PathRejection::ControlOrSpace(_) => "control_or_space",
            PathRejection::SchemeOrHost => "scheme_or_host",
            PathRejection::NotAbsolute => "not_absolute",
            PathRejection::Encoded => "encoded",
            PathRejection::Backslash => "backslash",
            PathRejection::DotSegment => "dot_segment",
            PathRejection::EmptySegment => "empty_segment",
            PathRejection::ForbiddenChar(_) => "forbidden_char",
            PathRejection::TooManySegments => "too_many_segments",
        }
    }
}

/// Checks the raw (still percent-encoded) path remainder after `/api/zoho-desk/v1` and returns it
/// as a clean `/seg/seg…` path, or says why not.
///
/// Nothing is decoded or rewritten: a path either already is in the one canonical form Zoho's
/// API uses, or it is refused. So what was checked is exactly what is sent.
pub fn normalize_path(raw: &str) -> Result<String, PathRejection> {
    // Cheap whole-string checks first, so the specific messages win over "forbidden char".
    if raw.is_empty() {
        return Err(PathRejection::Empty);
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathRejection::TooLong);
    }
    if !raw.is_ascii() {
        return Err(PathRejection::NonAscii);
    }
    if let Some(byte) = raw.bytes().find(|b| b.is_ascii_control() || *b == b' ') {
        return Err(PathRejection::ControlOrSpace(byte));
    }
    if raw.contains("://") || raw.starts_with("//") {
        return Err(PathRejection::SchemeOrHost);
    }
    if raw.contains('%') {
        return Err(PathRejection::Encoded);
    }
    if raw.contains('\\') {
        return Err(PathRejection::Backslash);
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathRejection::NotAbsolute);
    };
    for (index, segment) in rest.split('/').enumerate() {
        if index >= MAX_SEGMENTS {
            return Err(PathRejection::TooManySegments);
        }
        match segment {
            "" => return Err(PathRejection::EmptySegment),
            "." | ".." => return Err(PathRejection::DotSegment),
            _ => {
                if let Some(c) = segment.chars().find(|c| !is_segment_char(*c)) {
                    return Err(PathRejection::ForbiddenChar(c));
                }
            }
        }
    }
    Ok(raw.to_owned())
}

fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Whether `path` is `prefix` or below it, on a segment boundary.
pub(super) fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    // -- normalize_path ------------------------------------------------------------------------

    /// Every attack, and the rule expected to refuse it.
    pub(in crate::passthrough) fn attacks() -> Vec<(String, PathRejection)> {
        use PathRejection::*;
        let mut table: Vec<(String, PathRejection)> = [
            ("..", NotAbsolute),
            ("/..", DotSegment),
            ("/.", DotSegment),
            (".", NotAbsolute),
            ("/../x", DotSegment),
            ("/tickets/../../oauth/v2/token", DotSegment),
            ("/tickets/./1", DotSegment),
            ("/%2e%2e", Encoded),
            ("/%2E%2E/x", Encoded),
            ("/tickets/%2e%2e%2f%2e%2e", Encoded),
            ("/tickets%2f..%2forganizations", Encoded),
            ("/tickets%2F1", Encoded),
            ("/%252e%252e", Encoded),
            ("/tickets/%5c..", Encoded),
            ("/tickets%00", Encoded),
            ("/tickets%0d%0aX-Injected:%201", Encoded),
            ("/%41gents", Encoded),
            ("/tickets\\..\\x", Backslash),
            ("\\\\evil.com\\x", Backslash),
            ("//evil.com/x", SchemeOrHost),
            ("http://evil.com", SchemeOrHost),
            ("/http://evil.com", SchemeOrHost),
            ("/@evil.com", ForbiddenChar('@')),
            ("/tasks@evil", ForbiddenChar('@')),
            ("/tasks:443", ForbiddenChar(':')),
            ("/tasks;jsessionid=1", ForbiddenChar(';')),
            ("/tickets?x=1", ForbiddenChar('?')),
            ("/tickets#frag", ForbiddenChar('#')),
            ("/tickets/1.json", ForbiddenChar('.')),
            ("/tickets/~agent", ForbiddenChar('~')),
            ("/tasks\0", ControlOrSpace(0)),
            ("/tasks\r\nX-Injected: 1", ControlOrSpace(b'\r')),
            ("/tasks\n", ControlOrSpace(b'\n')),
            ("/tasks\t", ControlOrSpace(b'\t')),
            ("/tasks x", ControlOrSpace(b' ')),
            ("/tasks\x7f", ControlOrSpace(0x7f)),
            ("/tickets/ü", NonAscii),
            ("/tickets/\u{2025}", NonAscii),
            ("/tickets/\u{ff0e}\u{ff0e}", NonAscii),
            ("tickets", NotAbsolute),
            ("", Empty),
            ("/", EmptySegment),
            ("/tickets/", EmptySegment),
            ("/tickets//1", EmptySegment),
        ]
        .into_iter()
        .map(|(path, why)| (path.to_owned(), why))
        .collect();
        table.push((format!("/{}", "a".repeat(MAX_PATH_BYTES)), TooLong));
        table.push(("/a".repeat(MAX_SEGMENTS + 1), TooManySegments));
        table
    }

    #[test]
    fn every_path_attack_is_rejected_for_its_reason() {
        for (path, expected) in attacks() {
            let result = normalize_path(&path);
            assert_eq!(result, Err(expected), "{path:?}");
            let rejection = result.unwrap_err();
            assert_eq!(rejection.code(), "invalid_path");
            // Messages never repeat the input beyond one printable character.
            let message = rejection.to_string();
            assert!(message.len() < 80, "{message}");
            assert!(!message.contains("evil"), "{message}");
        }
    }

    #[test]
    fn clean_paths_pass_unchanged() {
        for path in [
            "/tickets",
            "/tickets/1892000000042034",
            "/tickets/1892000000042034/History",
            "/tickets/1/threads/2/attachments",
            "/kbRootCategories",
            "/organizationFields",
            "/a_b-c/D9",
        ] {
            assert_eq!(normalize_path(path).as_deref(), Ok(path));
        }
        let longest = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
        assert_eq!(normalize_path(&longest).as_deref(), Ok(longest.as_str()));
        let deepest = "/a".repeat(MAX_SEGMENTS);
        assert_eq!(normalize_path(&deepest).as_deref(), Ok(deepest.as_str()));
    }
}
