//! What the manager reports about itself: [`TokenStatus`] and its parts. Previews only, never a
//! token.

use std::time::SystemTime;

use tokio::time::Instant;

use super::{Inner, Phase, Token};
use crate::error::RefreshError;
use crate::fleet::Fleet;

/// Why a refresh was attempted (the `reason` label of `zoho_token_refresh_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// The first token this manager obtains.
    ColdStart,
    /// Ahead of expiry, by the background schedule.
    Proactive,
    /// The token expired (e.g. refreshes failed until it ran out) and a caller needs one.
    Expired,
    /// Zoho rejected the token (a 401) and it was dropped.
    Invalidated,
    /// An operator asked for it.
    Forced,
    /// A caller needs more life than the current token has left.
    Deadline,
}

impl RefreshReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RefreshReason::ColdStart => "cold_start",
            RefreshReason::Proactive => "proactive",
            RefreshReason::Expired => "expired",
            RefreshReason::Invalidated => "invalidated",
            RefreshReason::Forced => "forced",
            RefreshReason::Deadline => "deadline",
        }
    }
}

/// The manager's state, as the gateway reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// No token yet and nothing failed (lazy cold start).
    Empty,
    /// A refreshed token is held and nothing is wrong.
    Fresh,
    /// A refresh is in flight.
    Refreshing,
    /// The last refresh failed; the next automatic attempt waits (transient error, throttling or
    /// a spent budget). A still-valid token keeps being served.
    BackingOff,
    /// The credentials failed permanently: re-consent or new credentials are needed.
    FailedPermanently,
    /// The static fallback token is being handed out.
    Fallback,
}

impl TokenState {
    /// Stable snake_case name for JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Empty => "empty",
            TokenState::Fresh => "fresh",
            TokenState::Refreshing => "refreshing",
            TokenState::BackingOff => "backing_off",
            TokenState::FailedPermanently => "failed_permanently",
            TokenState::Fallback => "fallback",
        }
    }
}

/// Attempts and their results since the manager started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshCounts {
    /// Attempts that reached (or tried to reach) Zoho.
    pub attempts: u64,
    /// Attempts that produced a token.
    pub successes: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Attempts the local budget refused to send.
    pub budget_refused: u64,
}

/// The most recent refresh attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRefresh {
    /// When it finished.
    pub at: SystemTime,
    /// What triggered it.
    pub reason: RefreshReason,
    /// `None` on success.
    pub error: Option<RefreshError>,
}

/// A snapshot for status endpoints. Contains a preview, never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    /// Whether a usable token (refreshed, or the fallback) is available right now.
    pub has_token: bool,
    /// Preview of the token callers get now.
    pub token_preview: Option<String>,
    /// Expiry of the refreshed token held, if any.
    pub expires_at: Option<SystemTime>,
    /// The state.
    pub state: TokenState,
    /// Whether the static fallback is being handed out.
    pub fallback: bool,
    /// The latest attempt.
    pub last_refresh: Option<LastRefresh>,
    /// When the next automatic attempt may happen, while backing off.
    pub retry_at: Option<SystemTime>,
    /// Counters.
    pub refreshes: RefreshCounts,
    /// Attempts left in the current budget window.
    pub budget_remaining: usize,
    /// Fleet mode only: the shared store is unavailable and this replica refreshes on its own.
    pub degraded: bool,
}

impl Inner {
    /// The snapshot behind [`TokenManager::status`](crate::TokenManager::status).
    pub(super) fn status(&self) -> TokenStatus {
        let now = Instant::now();
        let wall = SystemTime::now();
        let current = self.usable(self.config.expiry_skew);
        let mut state = self.lock();
        let (state_name, retry_at) = match &state.phase {
            Phase::Refreshing => (TokenState::Refreshing, None),
            Phase::Permanent(_) => (TokenState::FailedPermanently, None),
            Phase::BackingOff { until, .. } if *until > now => {
                (TokenState::BackingOff, Some(wall + (*until - now)))
            }
            _ if current.is_some() => (TokenState::Fresh, None),
            _ if state.fallback_active => (TokenState::Fallback, None),
            _ => (TokenState::Empty, None),
        };
        let fallback = current.is_none() && state.fallback_active;
        let shown = current
            .clone()
            .or_else(|| self.fallback.clone().filter(|_| fallback).map(Token::owned));
        TokenStatus {
            has_token: shown.is_some(),
            token_preview: shown.as_ref().map(Token::preview),
            expires_at: current.as_ref().and_then(Token::expires_at),
            state: state_name,
            fallback,
            last_refresh: state.last_refresh.clone(),
            retry_at,
            refreshes: state.counts,
            budget_remaining: state.budget.remaining(now),
            degraded: self.fleet.as_ref().is_some_and(Fleet::is_degraded),
        }
    }
}
