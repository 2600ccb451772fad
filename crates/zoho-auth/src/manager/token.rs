//! What a caller holds: a [`Token`], pointing at the manager's one copy of the token data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::Guard;
use tokio::time::Instant;

use crate::secret::AccessToken;

/// Where a handed-out token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOrigin {
    /// Obtained by a refresh; its expiry is known.
    Refreshed,
    /// The static fallback token the manager was built with; its expiry is unknown.
    Fallback,
}

/// A token handed to a caller. Keep it for the duration of one operation, and pass it back to
/// [`TokenManager::invalidate`](crate::TokenManager::invalidate) if Zoho rejects it.
///
/// Cheap to hold and to clone: it points at the manager's one copy of the token. Freshly read
/// from the cache it is an `arc_swap` guard, so reading it writes no reference count shared with
/// other threads; a clone holds an ordinary `Arc`.
pub struct Token {
    data: Guard<Arc<TokenData>>,
}

/// What a [`Token`] points at: one allocation per refresh, shared by every reader.
pub(super) struct TokenData {
    pub(super) value: AccessToken,
    pub(super) origin: TokenOrigin,
    pub(super) generation: u64,
    /// The fleet's generation of this token, when it came from or was published to a store.
    pub(super) shared_generation: Option<u64>,
    /// `None` for the fallback token, and for the empty cache slot.
    pub(super) expires_at: Option<Instant>,
    pub(super) expires_at_wall: Option<SystemTime>,
    pub(super) refresh_at: Option<Instant>,
    /// The end of the clock-free read window (see [`TokenData::fast`]).
    pub(super) fast_until: Option<Instant>,
    /// While set, [`TokenManager::token`](crate::TokenManager::token) hands this token out
    /// without reading the clock. Only the driver sets it (when it installs the token, if
    /// `fast_until` is still ahead), and the driver clears it when it wakes at `fast_until` — it
    /// never sleeps past that while the flag is set — when it starts any refresh, and when it
    /// stops. `fast_until` is at the latest `FAST_READ_GUARD` (see `schedule`) before the token
    /// stops being usable (`expires_at − expiry_skew`), and with production settings it is the
    /// refresh time, a minute before expiry. So a read without a clock can only hand out an
    /// unusable token if the driver task is late by more than that gap (≥ 5 s; ≥ 55 s with the
    /// default margin).
    pub(super) fast: AtomicBool,
}

impl TokenData {
    pub(super) fn usable_for(&self, now: Instant, need: Duration) -> bool {
        self.expires_at.is_some_and(|at| at > now + need)
    }

    /// Whether this is a token, not the empty cache slot.
    pub(super) fn present(&self) -> bool {
        self.origin == TokenOrigin::Fallback || self.expires_at.is_some()
    }

    /// The empty cache slot.
    pub(super) fn empty() -> Self {
        TokenData {
            value: AccessToken::new(String::new()),
            origin: TokenOrigin::Refreshed,
            generation: 0,
            shared_generation: None,
            expires_at: None,
            expires_at_wall: None,
            refresh_at: None,
            fast_until: None,
            fast: AtomicBool::new(false),
        }
    }

    /// Whether the clock-free read window is open.
    #[inline]
    pub(super) fn is_fast(&self) -> bool {
        self.fast.load(Ordering::Acquire)
    }

    /// Ends the clock-free read window (idempotent).
    pub(super) fn end_fast_reads(&self) {
        if self.fast.load(Ordering::Relaxed) {
            self.fast.store(false, Ordering::Release);
        }
    }
}

impl Clone for Token {
    fn clone(&self) -> Self {
        Token::owned(Arc::clone(&self.data))
    }
}

impl Token {
    /// A token straight from the cache: an `arc_swap` guard, no shared reference count written.
    pub(super) fn loaded(data: Guard<Arc<TokenData>>) -> Self {
        Token { data }
    }

    pub(super) fn owned(data: Arc<TokenData>) -> Self {
        Token {
            data: Guard::from_inner(data),
        }
    }

    /// The raw token, for the `Authorization` header only.
    pub fn expose_secret(&self) -> &str {
        self.data.value.expose_secret()
    }

    /// The token itself (what [`TokenManager::invalidate`](crate::TokenManager::invalidate)
    /// takes back after a 401).
    pub fn access_token(&self) -> &AccessToken {
        &self.data.value
    }

    /// `Zoho-oauthtoken <token>`.
    pub fn authorization(&self) -> String {
        self.data.value.authorization()
    }

    /// A safe preview (`1000.45a7b8cf863…`).
    pub fn preview(&self) -> String {
        self.data.value.preview()
    }

    /// Where the token came from.
    pub fn origin(&self) -> TokenOrigin {
        self.data.origin
    }

    /// Whether this is the static fallback token.
    pub fn is_fallback(&self) -> bool {
        self.data.origin == TokenOrigin::Fallback
    }

    /// Wall-clock expiry; `None` for the fallback token, whose expiry is unknown.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.data.expires_at_wall
    }

    /// Life left; `None` for the fallback token.
    pub fn remaining(&self) -> Option<Duration> {
        self.data
            .expires_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Increases by one with every refresh of this manager (0 for the fallback token).
    pub fn generation(&self) -> u64 {
        self.data.generation
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("preview", &self.preview())
            .field("origin", &self.data.origin)
            .field("generation", &self.data.generation)
            .field("expires_at", &self.data.expires_at_wall)
            .finish()
    }
}
