//! The gateway's own error codes: the `code` of every error body it sends, with the HTTP status
//! it normally travels with and what it means. `docs/errors.md` holds the same table for
//! callers; a test below keeps the two equal.

use axum::http::StatusCode;

/// Declares [`ErrorCode`] and its table from one list, so a code cannot exist without its
/// wire string, status and meaning, and [`ErrorCode::ALL`] cannot miss a variant.
macro_rules! error_codes {
    ($($variant:ident => ($wire:literal, $status:ident, $meaning:literal),)*) => {
        /// A stable error code of the gateway (the `code` field of an error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of `docs/errors.md`.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The wire string, e.g. `rate_limited`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire,)* }
            }

            /// The HTTP status the code is sent with (a few codes also cover neighbouring
            /// statuses; `docs/errors.md` names them).
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// One line saying what the code means.
            pub fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => $meaning,)* }
            }
        }
    };
}

error_codes! {
    InvalidRequest => ("invalid_request", BAD_REQUEST, "The request is wrong: a path or query parameter, or another client error without a more specific code."),
    InvalidJson => ("invalid_json", BAD_REQUEST, "The body is not valid JSON (400), or valid JSON of the wrong shape (422)."),
    InvalidBody => ("invalid_body", BAD_REQUEST, "The pass-through could not read the request body."),
    BodyNotAllowed => ("body_not_allowed", BAD_REQUEST, "A pass-through GET carried a body."),
    InvalidPath => ("invalid_path", BAD_REQUEST, "The pass-through path is not a clean /segment/segment path."),
    InvalidQuery => ("invalid_query", BAD_REQUEST, "The pass-through query is too long, malformed, has control characters or sets orgId."),
    Unauthorized => ("unauthorized", UNAUTHORIZED, "No API key, a malformed Authorization header, or an unknown key (with WWW-Authenticate: Bearer)."),
    Forbidden => ("forbidden", FORBIDDEN, "The API key's role is too low for the route."),
    NotFound => ("not_found", NOT_FOUND, "No such route, or Zoho Desk has no such record."),
    NotAllowed => ("not_allowed", NOT_FOUND, "The pass-through allowlist does not admit this Desk path."),
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED, "The method is not allowed on this path (with Allow)."),
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE, "The body is over GATEWAY_BODY_LIMIT_BYTES (declared or sent)."),
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "A body that is not application/json."),
    ValidationFailed => ("validation_failed", UNPROCESSABLE_ENTITY, "Zoho Desk refused the data (fields names the wrong ones)."),
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS, "The API key's own rate limit is spent (with Retry-After)."),
    ZohoRateLimited => ("zoho_rate_limited", TOO_MANY_REQUESTS, "Zoho Desk's rate or credit limit, after the client's retries (Retry-After when known)."),
    RefreshRefused => ("refresh_refused", TOO_MANY_REQUESTS, "A forced refresh refused: Zoho throttles or the refresh budget is spent (Retry-After when known)."),
    ZohoForbidden => ("zoho_forbidden", FORBIDDEN, "Zoho Desk forbids the call (permission or licence)."),
    Internal => ("internal", INTERNAL_SERVER_ERROR, "The gateway failed (a panic, or another server error without a more specific code)."),
    CredentialsRejected => ("credentials_rejected", BAD_GATEWAY, "A forced refresh failed for good: Zoho rejected the client id, secret or refresh token."),
    RefreshFailed => ("refresh_failed", BAD_GATEWAY, "A forced refresh failed for a transient reason."),
    ZohoUnauthorized => ("zoho_unauthorized", BAD_GATEWAY, "Zoho Desk refused the gateway's token even after a refresh: the gateway's credentials, not the caller's."),
    ZohoScopeMismatch => ("zoho_scope_mismatch", BAD_GATEWAY, "The gateway's token lacks the OAuth scope this call needs."),
    ZohoOrgMismatch => ("zoho_org_mismatch", BAD_GATEWAY, "The gateway's token belongs to another Desk organization."),
    ZohoUnavailable => ("zoho_unavailable", BAD_GATEWAY, "Zoho Desk could not be reached or answered with a server error."),
    ZohoBadResponse => ("zoho_bad_response", BAD_GATEWAY, "Zoho Desk answered something the gateway could not decode."),
    ZohoError => ("zoho_error", BAD_GATEWAY, "Zoho Desk refused the call for another reason."),
    TokenUnavailable => ("token_unavailable", SERVICE_UNAVAILABLE, "No Zoho access token can be had right now (Retry-After when known)."),
    ZohoTimeout => ("zoho_timeout", GATEWAY_TIMEOUT, "Zoho Desk did not answer within ZOHO_DESK_TIMEOUT_SECS."),
    Timeout => ("timeout", GATEWAY_TIMEOUT, "The request took longer than GATEWAY_REQUEST_TIMEOUT_SECS (408 when the client was too slow)."),
}

impl ErrorCode {
    /// The code of an error answer that a layer or the router produced without a body (404 for
    /// an unknown route, 405, 413, a timeout).
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of `docs/errors.md`'s table: (code, status, meaning).
    fn documented() -> Vec<(String, u16, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let text = std::fs::read_to_string(path).expect("docs/errors.md");
        text.lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line
                    .trim()
                    .strip_prefix('|')?
                    .strip_suffix('|')?
                    .split('|')
                    .map(str::trim)
                    .collect();
                let [code, status, meaning] = cells[..] else {
                    return None;
                };
                let code = code.strip_prefix('`')?.strip_suffix('`')?;
                Some((code.to_owned(), status.parse().ok()?, meaning.to_owned()))
            })
            .collect()
    }

    #[test]
    fn the_docs_table_and_the_enum_are_equal() {
        let enumerated: Vec<(String, u16, String)> = ErrorCode::ALL
            .iter()
            .map(|c| {
                (
                    c.as_str().to_owned(),
                    c.status().as_u16(),
                    c.meaning().to_owned(),
                )
            })
            .collect();
        let documented = documented();
        for row in &enumerated {
            assert!(
                documented.contains(row),
                "docs/errors.md lacks or differs from {row:?}"
            );
        }
        for row in &documented {
            assert!(
                enumerated.contains(row),
                "docs/errors.md documents {row:?}, which ErrorCode does not have"
            );
        }
        assert_eq!(
            documented.len(),
            enumerated.len(),
            "a code is documented twice"
        );
    }

    #[test]
    fn wire_strings_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let wire = code.as_str();
            assert!(seen.insert(wire), "{wire} twice");
            assert!(
                wire.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{wire}"
            );
        }
    }
}
