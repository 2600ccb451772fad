//! Every way a refresh can fail, classified by what the caller should do about it.

use std::time::Duration;

use crate::transport::TransportKind;

/// What a refresh failure means for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Network trouble, a 5xx, a malformed body: retry with exponential backoff.
    Transient,
    /// Zoho is throttling this refresh token: stay silent for the rest of its window.
    Throttled,
    /// The credentials are dead or wrong: retrying cannot help until a person acts.
    Permanent,
    /// The local refresh budget is spent: wait for the next slot.
    Budget,
}

/// Why a refresh did not produce a token. Messages never contain token material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// `invalid_code`: the refresh token was revoked or never existed.
    #[error(
        "Zoho rejected the refresh token (invalid_code): it was revoked or never existed; a person must re-consent and configure a new refresh token"
    )]
    RevokedRefreshToken,
    /// `invalid_client`: unknown client id, often the wrong data centre.
    #[error(
        "Zoho does not know this client id (invalid_client): check the client id and the data centre"
    )]
    InvalidClient,
    /// `invalid_client_secret`.
    #[error("Zoho rejected the client secret (invalid_client_secret): check the client secret")]
    InvalidClientSecret,
    /// "Access Denied": too many refreshes for this refresh token.
    #[error("Zoho is throttling token refreshes for this refresh token (Access Denied)")]
    Throttled,
    /// The request did not complete in time.
    #[error("the token request timed out after {0:?}")]
    Timeout(Duration),
    /// The token endpoint could not be reached or the connection broke.
    #[error("could not reach the Zoho token endpoint: {0}")]
    Transport(TransportKind),
    /// Fleet mode: the shared store's protocol left this replica without a token (another
    /// replica held the lock and published nothing, or the store failed mid-refresh).
    #[error("could not reach the Zoho token endpoint: {0}")]
    Fleet(&'static str),
    /// An HTTP 5xx.
    #[error("the Zoho token endpoint answered HTTP {status}")]
    ServerError {
        /// The HTTP status.
        status: u16,
    },
    /// A body with neither a token nor a known error.
    #[error("the Zoho token endpoint answered HTTP {status} without an access token ({detail})")]
    Malformed {
        /// The HTTP status.
        status: u16,
        /// What was wrong with the body (never the body itself).
        detail: &'static str,
    },
    /// An `error` code this client does not know.
    #[error("Zoho refused the refresh with error {code:?}")]
    Rejected {
        /// The code, sanitised and truncated.
        code: String,
    },
    /// The local guard refused to call Zoho: the refresh budget for the window is spent.
    #[error(
        "the local refresh budget is spent ({limit} refreshes per {window:?}); not calling Zoho"
    )]
    BudgetExhausted {
        /// Refreshes allowed per window.
        limit: usize,
        /// The window.
        window: Duration,
    },
}

impl RefreshError {
    /// What the failure means for the next attempt.
    pub fn class(&self) -> FailureClass {
        match self {
            RefreshError::RevokedRefreshToken
            | RefreshError::InvalidClient
            | RefreshError::InvalidClientSecret => FailureClass::Permanent,
            RefreshError::Throttled => FailureClass::Throttled,
            RefreshError::BudgetExhausted { .. } => FailureClass::Budget,
            RefreshError::Timeout(_)
            | RefreshError::Transport(_)
            | RefreshError::Fleet(_)
            | RefreshError::ServerError { .. }
            | RefreshError::Malformed { .. }
            | RefreshError::Rejected { .. } => FailureClass::Transient,
        }
    }

    /// Whether only a person (new credentials, re-consent) can fix this.
    pub fn is_permanent(&self) -> bool {
        self.class() == FailureClass::Permanent
    }

    /// A bounded label for metrics (`error` label of `zoho_token_refresh_errors_total`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            RefreshError::RevokedRefreshToken => "invalid_code",
            RefreshError::InvalidClient => "invalid_client",
            RefreshError::InvalidClientSecret => "invalid_client_secret",
            RefreshError::Throttled => "throttled",
            RefreshError::Timeout(_) => "timeout",
            RefreshError::Transport(_) | RefreshError::Fleet(_) => "transport",
            RefreshError::ServerError { .. } => "server_error",
            RefreshError::Malformed { .. } => "malformed",
            RefreshError::Rejected { .. } => "rejected",
            RefreshError::BudgetExhausted { .. } => "budget_exhausted",
        }
    }
}

/// Why [`crate::TokenManager::token`] could not hand out a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No valid token and the refresh failed (or is backing off after a failure).
    #[error("no usable Zoho access token: {cause}")]
    Unavailable {
        /// The refresh failure.
        cause: RefreshError,
        /// When trying again can help, if known.
        retry_after: Option<Duration>,
    },
    /// A fresh token was obtained but lives shorter than the caller asked for.
    #[error(
        "the freshest Zoho access token lives {available:?}, less than the {wanted:?} asked for"
    )]
    InsufficientLifetime {
        /// The lifetime asked for.
        wanted: Duration,
        /// The lifetime left on the freshest token.
        available: Duration,
    },
}

impl TokenError {
    /// The refresh failure behind this error, if any.
    pub fn cause(&self) -> Option<&RefreshError> {
        match self {
            TokenError::Unavailable { cause, .. } => Some(cause),
            TokenError::InsufficientLifetime { .. } => None,
        }
    }

    /// When trying again can help, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenError::Unavailable { retry_after, .. } => *retry_after,
            TokenError::InsufficientLifetime { .. } => None,
        }
    }
}
