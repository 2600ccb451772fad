//! One error type for every Desk call: which side failed, whether a retry can help, Zoho's
//! `errorCode` and field errors. No message ever contains a token.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use zoho_auth::{TokenError, TransportKind};

/// Zoho Desk's `errorCode` (`zoho-behaviour.md` §4), with an arm for codes this client does not know yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 401: token invalid or expired — refresh once and retry.
    InvalidOauth,
    /// 401: no or unusable credentials.
    Unauthorized,
    /// 401/403: the token lacks the scope — permanent.
    ScopeMismatch,
    /// 401/403: the token belongs to another organization — permanent configuration error.
    OauthOrgMismatch,
    /// 403: the user lacks permission.
    Forbidden,
    /// 403: the edition lacks the feature.
    LicenseAccessLimited,
    /// 404.
    UrlNotFound,
    /// 405.
    MethodNotAllowed,
    /// 413.
    ResourceSizeExceeded,
    /// 415.
    UnsupportedMediaType,
    /// 422: validation failed (see the field errors).
    InvalidData,
    /// 422: e.g. `limit` out of range.
    UnprocessableEntity,
    /// 429: too many concurrent calls for the portal's edition.
    TooManyRequests,
    /// 429: the day's API credits are spent.
    ThresholdExceeded,
    /// Any other code, as Zoho spelled it.
    Unknown(String),
}

impl ErrorCode {
    /// Every code this client knows.
    const KNOWN: [ErrorCode; 14] = [
        ErrorCode::InvalidOauth,
        ErrorCode::Unauthorized,
        ErrorCode::ScopeMismatch,
        ErrorCode::OauthOrgMismatch,
        ErrorCode::Forbidden,
        ErrorCode::LicenseAccessLimited,
        ErrorCode::UrlNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::ResourceSizeExceeded,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InvalidData,
        ErrorCode::UnprocessableEntity,
        ErrorCode::TooManyRequests,
        ErrorCode::ThresholdExceeded,
    ];

    /// Parses Zoho's spelling.
    pub fn parse(code: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|known| known.metric_label() == code)
            .unwrap_or_else(|| {
                ErrorCode::Unknown(
                    code.chars()
                        .filter(|c| c.is_ascii_graphic())
                        .take(64)
                        .collect(),
                )
            })
    }

    /// Zoho's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Unknown(code) => code,
            known => known.metric_label(),
        }
    }

    /// A bounded metric label: known codes as Zoho spells them, anything else `unknown`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ErrorCode::InvalidOauth => "INVALID_OAUTH",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::ScopeMismatch => "SCOPE_MISMATCH",
            ErrorCode::OauthOrgMismatch => "OAUTH_ORG_MISMATCH",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::LicenseAccessLimited => "LICENSE_ACCESS_LIMITED",
            ErrorCode::UrlNotFound => "URL_NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::ResourceSizeExceeded => "RESOURCE_SIZE_EXCEEDED",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::InvalidData => "INVALID_DATA",
            ErrorCode::UnprocessableEntity => "UNPROCESSABLE_ENTITY",
            ErrorCode::TooManyRequests => "TOO_MANY_REQUESTS",
            ErrorCode::ThresholdExceeded => "THRESHOLD_EXCEEDED",
            ErrorCode::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a validation error's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// A JSON Pointer to the field, e.g. `/contactId`.
    #[serde(default)]
    pub field_name: String,
    /// `missing`, `duplicate` or `invalid`.
    #[serde(default)]
    pub error_type: String,
    /// Zoho's message.
    #[serde(default)]
    pub error_message: String,
}

/// An error answered by Zoho Desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// Zoho's `errorCode` (`Unknown("")` when the body had none).
    pub code: ErrorCode,
    /// Zoho's `message`.
    pub message: String,
    /// Validation errors, when Zoho listed them.
    pub field_errors: Vec<FieldError>,
    /// `Retry-After`, when Zoho sent one.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Reads Zoho's error body; tolerates anything (an HTML page from a proxy included).
    pub fn from_response(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            #[serde(default)]
            error_code: Option<String>,
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            errors: Vec<FieldError>,
        }
        let parsed = serde_json::from_slice::<Body>(body).ok();
        let code = parsed
            .as_ref()
            .and_then(|b| b.error_code.as_deref())
            .map_or(ErrorCode::Unknown(String::new()), ErrorCode::parse);
        let message = parsed
            .as_ref()
            .and_then(|b| b.message.clone())
            .unwrap_or_else(|| format!("HTTP {status} without a Zoho error body"));
        ApiError {
            status,
            code,
            message: message.chars().take(500).collect(),
            field_errors: parsed.map(|b| b.errors).unwrap_or_default(),
            retry_after,
        }
    }
}

/// Which side of the call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Zoho answered with an error.
    Zoho,
    /// The network: connection refused, reset, timed out.
    Transport,
    /// The caller's input was refused before anything was sent.
    Caller,
    /// Zoho's answer could not be decoded.
    Decode,
    /// No access token could be had (see `zoho-auth`).
    Auth,
}

/// The error of every Desk call.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// Zoho Desk answered with an error status.
    #[error("Zoho Desk answered HTTP {} {}: {}", .0.status, .0.code, .0.message)]
    Api(ApiError),
    /// The request did not complete. [`DeskError::maybe_delivered`] tells whether Zoho may have
    /// acted on it.
    #[error("Zoho Desk request failed ({}){}", transport_detail(*.kind), if .kind.maybe_delivered() { "; it may have reached Zoho" } else { "" })]
    Transport {
        /// How it failed.
        kind: TransportKind,
    },
    /// Refused before sending: the input breaks a rule Zoho would enforce.
    #[error("invalid Desk request: {0}")]
    InvalidInput(String),
    /// Zoho's answer did not match the expected shape.
    #[error("could not decode Zoho Desk's answer (HTTP {status}): {detail}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// The decoder's message (about the shape, not the body's content).
        detail: String,
    },
    /// No usable access token.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl DeskError {
    /// Which side failed.
    pub fn side(&self) -> Side {
        match self {
            DeskError::Api(_) => Side::Zoho,
            DeskError::Transport { .. } => Side::Transport,
            DeskError::InvalidInput(_) => Side::Caller,
            DeskError::Decode { .. } => Side::Decode,
            DeskError::Token(_) => Side::Auth,
        }
    }

    /// Whether trying the same call again later can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeskError::Api(api) => {
                api.status >= 500
                    || matches!(
                        api.code,
                        ErrorCode::TooManyRequests | ErrorCode::ThresholdExceeded
                    )
            }
            DeskError::Transport { .. } => true,
            DeskError::InvalidInput(_) | DeskError::Decode { .. } => false,
            DeskError::Token(error) => !error.cause().is_some_and(|c| c.is_permanent()),
        }
    }

    /// The HTTP status Zoho answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DeskError::Api(api) => Some(api.status),
            DeskError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Zoho's error code, if Zoho answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            DeskError::Api(api) => Some(&api.code),
            _ => None,
        }
    }

    /// Whether a request that got no answer may have been processed by Zoho (never retried
    /// automatically then, for non-idempotent methods). `false` for every other error.
    pub fn maybe_delivered(&self) -> bool {
        matches!(self, DeskError::Transport { kind } if kind.maybe_delivered())
    }

    /// How long to wait before retrying, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeskError::Api(api) => api.retry_after,
            DeskError::Token(error) => error.retry_after(),
            _ => None,
        }
    }
}

/// The words of [`DeskError::Transport`]'s message: the Desk client has always said "closed or
/// reset" for every failure after the connection was made.
fn transport_detail(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Connect => "connection failed",
        TransportKind::Timeout => "timed out",
        TransportKind::Body => "connection broke while reading the response",
        TransportKind::Request | TransportKind::Other => "connection closed or reset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zoho_error_bodies() {
        let body = br#"{"errorCode":"INVALID_DATA","message":"An invalid value was passed","errors":[{"fieldName":"/contactId","errorType":"missing","errorMessage":"contactId is required"}]}"#;
        let error = ApiError::from_response(422, body, None);
        assert_eq!(error.code, ErrorCode::InvalidData);
        assert_eq!(error.field_errors[0].field_name, "/contactId");
        assert_eq!(error.field_errors[0].error_type, "missing");
        let unknown =
            ApiError::from_response(400, br#"{"errorCode":"NEW_CODE","message":"m"}"#, None);
        assert_eq!(unknown.code, ErrorCode::Unknown("NEW_CODE".into()));
        assert_eq!(unknown.code.metric_label(), "unknown");
        let html = ApiError::from_response(502, b"<html>bad gateway</html>", None);
        assert_eq!(html.code, ErrorCode::Unknown(String::new()));
        assert!(DeskError::Api(html).is_retryable());
    }

    #[test]
    fn every_known_code_round_trips() {
        for code in [
            "INVALID_OAUTH",
            "UNAUTHORIZED",
            "SCOPE_MISMATCH",
            "OAUTH_ORG_MISMATCH",
            "FORBIDDEN",
            "LICENSE_ACCESS_LIMITED",
            "URL_NOT_FOUND",
            "METHOD_NOT_ALLOWED",
            "RESOURCE_SIZE_EXCEEDED",
            "UNSUPPORTED_MEDIA_TYPE",
            "INVALID_DATA",
            "UNPROCESSABLE_ENTITY",
            "TOO_MANY_REQUESTS",
            "THRESHOLD_EXCEEDED",
        ] {
            let parsed = ErrorCode::parse(code);
            assert!(!matches!(parsed, ErrorCode::Unknown(_)), "{code}");
            assert_eq!(parsed.as_str(), code);
            assert_eq!(parsed.metric_label(), code);
        }
    }
}
