//! [`TokenManager`], the public handle: hand out tokens, take back rejected ones, force a
//! refresh, swap credentials, report status.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::token::TokenData;
use super::{AuthRetry, Inner, Phase, Token, TokenStatus, events};
use crate::endpoints::ZohoEndpoints;
use crate::error::{RefreshError, TokenError};
use crate::secret::{AccessToken, Credentials};

/// The access-token cache. Cheap to clone; all clones share one token and one driver task, which
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct TokenManager {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("endpoints", &self.inner.endpoints)
            .field("state", &self.status().state)
            .finish()
    }
}

/// What a waiter finds when the refresh it waited for ended without an error but also without
/// a token: a concurrent invalidation dropped it.
const DROPPED_BEFORE_USE: RefreshError = RefreshError::Malformed {
    status: 0,
    detail: "token dropped before use",
};

impl TokenManager {
    /// The endpoints this manager was built for.
    pub fn endpoints(&self) -> &ZohoEndpoints {
        &self.inner.endpoints
    }

    /// A usable token. Returns at once while a valid token is cached; waits (sharing one refresh
    /// with every other waiter) only when none is. Falls back to the static token when no
    /// refreshed token can be had.
    pub async fn token(&self) -> Result<Token, TokenError> {
        // The hot path: no clock read, no lock, no shared reference count written.
        if let Some(token) = self.inner.fast() {
            return Ok(token);
        }
        self.token_valid_for(Duration::ZERO).await
    }

    /// Like [`token`](Self::token), but the token must live at least `min_validity` more (the
    /// static fallback, whose expiry is unknown, is exempt).
    pub async fn token_valid_for(&self, min_validity: Duration) -> Result<Token, TokenError> {
        let inner = &self.inner;
        let need = min_validity.max(inner.config.expiry_skew);
        if need == inner.config.expiry_skew
            && let Some(token) = inner.fast()
        {
            return Ok(token);
        }
        if let Some(token) = inner.usable(need) {
            return Ok(token);
        }
        let mut outcomes = inner.outcomes.subscribe();
        {
            let mut state = inner.lock();
            // A refresh may have landed between the first look and the lock.
            if let Some(token) = inner.usable(need) {
                return Ok(token);
            }
            let now = Instant::now();
            match &state.phase {
                Phase::Permanent(cause) => {
                    let cause = cause.clone();
                    return inner.fallback_or(&mut state, cause, None);
                }
                Phase::BackingOff { until, cause } if now < *until => {
                    let (cause, retry) = (cause.clone(), *until - now);
                    return inner.fallback_or(&mut state, cause, Some(retry));
                }
                _ => {
                    state.demand = true;
                    state.min_validity = state.min_validity.max(need);
                    state.note_waiting_span();
                }
            }
        }
        inner.wake.notify_one();
        // The driver publishes an outcome for every demand; the sender lives as long as `inner`.
        let _ = outcomes.changed().await;
        if let Some(token) = inner.usable(need) {
            return Ok(token);
        }
        let mut state = inner.lock();
        match state
            .last_refresh
            .as_ref()
            .and_then(|last| last.error.clone())
        {
            Some(cause) => {
                let retry = inner.retry_after(&state);
                inner.fallback_or(&mut state, cause, retry)
            }
            None => match Some(inner.current.load_full()).filter(|t| t.present()) {
                Some(token) => Err(TokenError::InsufficientLifetime {
                    wanted: need,
                    available: Token::owned(token).remaining().unwrap_or_default(),
                }),
                None => inner.fallback_or(&mut state, DROPPED_BEFORE_USE, None),
            },
        }
    }

    /// Refreshes now, whatever the current token's age, within the refresh budget. Refused
    /// (without calling Zoho) while Zoho is throttling or the budget is spent. Clears a permanent
    /// failure: this is how an operator retries after fixing credentials at Zoho's end.
    pub async fn force_refresh(&self) -> Result<Token, TokenError> {
        let inner = &self.inner;
        let mut outcomes = inner.outcomes.subscribe();
        {
            let mut state = inner.lock();
            let now = Instant::now();
            match &state.phase {
                Phase::BackingOff {
                    until,
                    cause: RefreshError::Throttled,
                } if now < *until => {
                    return Err(TokenError::Unavailable {
                        cause: RefreshError::Throttled,
                        retry_after: Some(*until - now),
                    });
                }
                // Already refreshing: that attempt's fresh token answers this request too.
                Phase::Refreshing => {}
                _ => {
                    if let Err(next_slot) = state.budget.check(now) {
                        state.counts.budget_refused += 1;
                        events::budget_refused();
                        return Err(TokenError::Unavailable {
                            cause: inner.budget_error(),
                            retry_after: Some(next_slot - now),
                        });
                    }
                    state.forced = true;
                    state.note_waiting_span();
                }
            }
        }
        inner.wake.notify_one();
        let _ = outcomes.changed().await;
        let state = inner.lock();
        match state
            .last_refresh
            .as_ref()
            .and_then(|last| last.error.clone())
        {
            None => Some(inner.current.load_full())
                .filter(|t| t.present())
                .map(Token::owned)
                .ok_or(TokenError::Unavailable {
                    cause: DROPPED_BEFORE_USE,
                    retry_after: None,
                }),
            Some(cause) => Err(TokenError::Unavailable {
                cause,
                retry_after: inner.retry_after(&state),
            }),
        }
    }

    /// Reports that Zoho rejected `rejected` (a 401). Drops it only if it is still the current
    /// token — never a newer one — and returns whether it was dropped. The next
    /// [`token`](Self::token) call then refreshes. A rejected fallback token is not used again.
    pub fn invalidate(&self, rejected: &AccessToken) -> bool {
        let inner = &self.inner;
        if inner
            .fallback
            .as_ref()
            .is_some_and(|f| f.value == *rejected)
        {
            let mut state = inner.lock();
            if !state.fallback_rejected {
                events::fallback_rejected();
            }
            state.fallback_rejected = true;
            inner.set_fallback_active(&mut state, false);
            return false;
        }
        // Compare, then swap: a concurrent refresh that already replaced the token wins.
        let current = inner.current.load();
        let dropped = current.present() && current.value == *rejected && {
            let previous = inner
                .current
                .compare_and_swap(&*current, Arc::new(TokenData::empty()));
            previous.present() && previous.value == *rejected
        };
        if dropped {
            let mut state = inner.lock();
            state.invalidated = true;
            state.rejected_generation = current.shared_generation;
        }
        events::token_rejected(rejected, dropped);
        dropped
    }

    /// Runs `operation` with a token under the 401 rule ([`AuthRetry`]): if it fails with an
    /// error `is_auth_rejection` recognises (Zoho's 401 `INVALID_OAUTH`), invalidates that token,
    /// gets a fresh one and runs it exactly once more.
    pub async fn with_token<T, E, F, Fut>(
        &self,
        mut operation: F,
        is_auth_rejection: impl Fn(&E) -> bool,
    ) -> Result<T, WithTokenError<E>>
    where
        F: FnMut(Token) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut rule = AuthRetry::new();
        loop {
            let token = self.token().await.map_err(WithTokenError::Token)?;
            let result = operation(token.clone()).await;
            let rejected = matches!(&result, Err(error) if is_auth_rejection(error));
            if !rule.after_attempt(rejected) {
                return result.map_err(WithTokenError::Operation);
            }
            events::auth_retry_started(token.access_token());
            self.invalidate(token.access_token());
        }
    }

    /// Installs new credentials (e.g. after re-consent): clears a permanent failure and starts a
    /// fresh budget for the new refresh token. The current token stays until it expires.
    pub fn replace_credentials(&self, credentials: Credentials) {
        let inner = &self.inner;
        inner.credentials.store(Arc::new(credentials));
        let mut state = inner.lock();
        state.credentials_epoch += 1;
        state.budget.reset();
        state.transient_failures = 0;
        state.fallback_rejected = false;
        if matches!(state.phase, Phase::Permanent(_) | Phase::BackingOff { .. }) {
            state.phase = Phase::Idle;
        }
        events::credentials_replaced();
        drop(state);
        inner.wake.notify_one();
    }

    /// A snapshot for status endpoints.
    pub fn status(&self) -> TokenStatus {
        self.inner.status()
    }
}

/// The error of [`TokenManager::with_token`].
#[derive(Debug, thiserror::Error)]
pub enum WithTokenError<E> {
    /// No token could be had.
    #[error(transparent)]
    Token(TokenError),
    /// The operation failed (after its one retry, if it was an auth rejection).
    #[error(transparent)]
    Operation(E),
}
