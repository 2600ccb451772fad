//! The driver task: the only place refreshes happen. It decides the next step from the state,
//! calls Zoho (or the fleet), installs the result or records the failure, and keeps the
//! clock-free read window honest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{Instrument, info_span};

use super::token::{TokenData, TokenOrigin};
use super::{Inner, LastRefresh, Phase, RefreshReason, State, events, schedule};
use crate::error::{FailureClass, RefreshError};
use crate::fleet::{Ask, Obtained};
use crate::secret::{AccessToken, Credentials};
use crate::store::unix_now_ms;
use crate::token_endpoint::{self, Grant};

/// The driver's next step.
enum Action {
    Refresh(RefreshReason),
    SleepUntil(Instant),
    Wait,
}

/// Runs until the last [`TokenManager`](crate::TokenManager) clone is dropped: it holds a weak
/// reference only.
pub(super) async fn drive(inner: Weak<Inner>, wake: Arc<Notify>) {
    /// Ends the clock-free read window when the driver stops for any reason (its owner gone, or
    /// its runtime shut down): without a driver, nobody would end it on time.
    struct EndFastReads(Weak<Inner>);
    impl Drop for EndFastReads {
        fn drop(&mut self) {
            if let Some(inner) = self.0.upgrade() {
                inner.current.load().end_fast_reads();
            }
        }
    }
    let _end_fast_reads = EndFastReads(inner.clone());
    loop {
        let action = match inner.upgrade() {
            Some(inner) => inner.next_action(),
            None => return,
        };
        match action {
            Action::Refresh(reason) => match inner.upgrade() {
                Some(inner) => inner.refresh(reason).await,
                None => return,
            },
            Action::SleepUntil(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = wake.notified() => {}
                }
            }
            Action::Wait => wake.notified().await,
        }
    }
}

impl Inner {
    /// Decides the driver's next step, and keeps the clock-free read window honest: it ends the
    /// window once its time has come or a refresh starts, and never sleeps past it while open.
    fn next_action(&self) -> Action {
        let now = Instant::now();
        let current = self.current.load_full();
        if current.fast_until.is_none_or(|until| now >= until) {
            current.end_fast_reads();
        }
        let action = self.decide(now, &current);
        let fast_until = current
            .fast_until
            .filter(|_| current.fast.load(Ordering::Relaxed));
        match (action, fast_until) {
            (Action::Refresh(reason), _) => {
                // Reads check the clock while the driver is busy refreshing.
                current.end_fast_reads();
                Action::Refresh(reason)
            }
            (Action::SleepUntil(at), Some(until)) => Action::SleepUntil(at.min(until)),
            (Action::Wait, Some(until)) => Action::SleepUntil(until),
            (action, _) => action,
        }
    }

    /// The driver's next step. Every demand ends in an attempt or a published outcome, so no
    /// waiter is left hanging.
    fn decide(&self, now: Instant, current: &Arc<TokenData>) -> Action {
        let mut state = self.lock();
        let state = &mut *state;

        if state.forced {
            // Zoho is throttling: a forced attempt would only extend the block.
            if let Phase::BackingOff {
                until,
                cause: RefreshError::Throttled,
            } = state.phase
                && now < until
            {
                state.forced = false;
                self.publish_outcome(state);
                return Action::SleepUntil(until);
            }
            return self.start_attempt(state, now, RefreshReason::Forced);
        }
        match &state.phase {
            Phase::Permanent(_) => {
                if state.demand {
                    self.publish_outcome(state);
                }
                return Action::Wait;
            }
            Phase::BackingOff { until, .. } if now < *until => return Action::SleepUntil(*until),
            _ => {}
        }

        let need = state.min_validity.max(self.config.expiry_skew);
        let valid = Some(current).filter(|t| t.usable_for(now, self.config.expiry_skew));
        match valid {
            Some(token) => {
                let refresh_at = token.refresh_at.unwrap_or(now);
                if state.demand && !token.usable_for(now, need) {
                    self.start_attempt(state, now, RefreshReason::Deadline)
                } else if now >= refresh_at {
                    self.start_attempt(state, now, RefreshReason::Proactive)
                } else {
                    if state.demand {
                        // A waiter raced with a refresh that already satisfied it.
                        self.publish_outcome(state);
                    }
                    Action::SleepUntil(refresh_at)
                }
            }
            None if state.demand => {
                let reason = if state.invalidated {
                    RefreshReason::Invalidated
                } else if state.counts.successes == 0 {
                    RefreshReason::ColdStart
                } else {
                    RefreshReason::Expired
                };
                self.start_attempt(state, now, reason)
            }
            None => Action::Wait,
        }
    }

    fn start_attempt(&self, state: &mut State, now: Instant, reason: RefreshReason) -> Action {
        state.forced = false;
        if let Err(next_slot) = state.budget.check(now) {
            state.counts.budget_refused += 1;
            events::scheduled_refresh_refused(reason, self.config.budget_limit, next_slot - now);
            state.phase = Phase::BackingOff {
                until: next_slot,
                cause: self.budget_error(),
            };
            self.publish_outcome(state);
            return Action::SleepUntil(next_slot);
        }
        // The attempt is charged when Zoho is actually called (`mint`): in fleet mode the refresh
        // may end up adopting another replica's token instead.
        state.phase = Phase::Refreshing;
        Action::Refresh(reason)
    }

    async fn refresh(&self, reason: RefreshReason) {
        let credentials = self.credentials.load_full();
        let (epoch, waiting) = {
            let mut state = self.lock();
            (
                state.credentials_epoch,
                std::mem::take(&mut state.waiting_spans),
            )
        };
        // The driver task has no caller: the span is a root, linked to the requests that waited.
        let span = info_span!(
            parent: None,
            "zoho_token.refresh",
            reason = reason.label(),
            outcome = tracing::field::Empty
        );
        for waiter in waiting {
            span.follows_from(waiter);
        }
        let result = self
            .obtain(reason, &credentials)
            .instrument(span.clone())
            .await;
        let now = Instant::now();
        let outcome = match &result {
            Ok(Obtained::Minted { .. }) => "success",
            Ok(Obtained::Adopted(_)) => "adopted",
            Err(_) => "failure",
        };
        span.record("outcome", outcome);

        let mut state = self.lock();
        let state = &mut *state;
        let _entered = span.enter();
        match result {
            Ok(Obtained::Minted { grant, generation }) => self.install(
                state,
                grant.access_token,
                grant.expires_in,
                generation,
                reason,
            ),
            Ok(Obtained::Adopted(record)) => {
                events::adopted();
                let life =
                    Duration::from_millis(record.expires_at_ms.saturating_sub(unix_now_ms()));
                self.install(
                    state,
                    record.access_token,
                    life,
                    Some(record.generation),
                    reason,
                )
            }
            Err(error) if state.credentials_epoch != epoch => {
                // The credentials changed mid-flight: this verdict is about the old ones.
                state.phase = Phase::Idle;
                events::stale_result_discarded(&error);
            }
            Err(error) => self.record_failure(state, error, now, reason),
        }
        self.publish_outcome(state);
    }

    /// A token for this refresh: from the fleet when a store is configured, else from Zoho.
    async fn obtain(
        &self,
        reason: RefreshReason,
        credentials: &Credentials,
    ) -> Result<Obtained, RefreshError> {
        let mint = || self.mint(reason, credentials);
        let Some(fleet) = &self.fleet else {
            return mint().await.map(|grant| Obtained::Minted {
                grant,
                generation: None,
            });
        };
        let ask = Ask {
            local_expiry: self.current.load().expires_at,
            rejected: self.lock().rejected_generation.take(),
            forced_at_ms: (reason == RefreshReason::Forced).then(unix_now_ms),
            skew: self.config.expiry_skew,
            budget: (self.config.budget_limit, self.config.budget_window),
        };
        fleet.obtain(ask, mint).await
    }

    /// One call to Zoho's token endpoint, charged to the local budget.
    async fn mint(
        &self,
        reason: RefreshReason,
        credentials: &Credentials,
    ) -> Result<Grant, RefreshError> {
        {
            let mut state = self.lock();
            let now = Instant::now();
            // Checked again here: the fleet path may have waited since the driver's check.
            if state.budget.check(now).is_err() {
                state.counts.budget_refused += 1;
                events::budget_refused();
                return Err(self.budget_error());
            }
            state.budget.record(now);
            state.counts.attempts += 1;
        }
        events::refresh_sent(reason);
        let started = Instant::now();
        let result = token_endpoint::refresh(
            &self.http,
            &self.token_url,
            credentials,
            self.config.request_timeout,
        )
        .await;
        events::refresh_answered(reason, result.is_ok(), started.elapsed());
        result
    }

    /// Makes `value`, with `life` left, the current token.
    fn install(
        &self,
        state: &mut State,
        value: AccessToken,
        life: Duration,
        shared_generation: Option<u64>,
        reason: RefreshReason,
    ) {
        let now = Instant::now();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let config = &self.config;
        let jitter = config.refresh_jitter.mul_f64(fastrand::f64());
        let plan = schedule::plan(life, config.refresh_margin, jitter, config.expiry_skew);
        let expires_at_wall = SystemTime::now() + life;
        let fast_until = plan.fast_for.map(|fast_for| now + fast_for);
        let token = TokenData {
            value,
            origin: TokenOrigin::Refreshed,
            generation,
            shared_generation,
            expires_at: Some(now + life),
            expires_at_wall: Some(expires_at_wall),
            refresh_at: Some(now + plan.refresh_in),
            fast_until,
            fast: AtomicBool::new(fast_until.is_some_and(|until| now < until)),
        };
        let token = Arc::new(token);
        self.current.store(token.clone());

        state.phase = Phase::Idle;
        state.invalidated = false;
        state.transient_failures = 0;
        state.counts.successes += 1;
        state.last_refresh = Some(LastRefresh {
            at: SystemTime::now(),
            reason,
            error: None,
        });
        self.set_fallback_active(state, false);
        events::installed(
            &token.value,
            generation,
            shared_generation,
            life,
            plan.refresh_in,
            expires_at_wall,
        );
    }

    fn record_failure(
        &self,
        state: &mut State,
        error: RefreshError,
        now: Instant,
        reason: RefreshReason,
    ) {
        state.counts.failures += 1;
        state.last_refresh = Some(LastRefresh {
            at: SystemTime::now(),
            reason,
            error: Some(error.clone()),
        });
        let retry_in = match error.class() {
            FailureClass::Permanent => None,
            FailureClass::Throttled => Some(self.config.throttle_backoff),
            FailureClass::Transient | FailureClass::Budget => {
                state.transient_failures += 1;
                Some(self.transient_delay(state.transient_failures, now))
            }
        };
        events::refresh_failed(&error, retry_in, state.transient_failures);
        state.phase = match retry_in {
            None => Phase::Permanent(error),
            Some(delay) => Phase::BackingOff {
                until: now + delay,
                cause: error,
            },
        };
    }

    /// The backoff after the `failures`-th transient failure in a row (see
    /// [`schedule::transient_delay`]), bounded by the current token's usable life.
    fn transient_delay(&self, failures: u32, now: Instant) -> Duration {
        let usable_left = self.current.load().expires_at.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(now)
                .saturating_sub(self.config.expiry_skew)
        });
        schedule::transient_delay(
            failures,
            self.config.backoff_initial,
            self.config.backoff_max,
            fastrand::f64(),
            usable_left,
        )
    }
}
