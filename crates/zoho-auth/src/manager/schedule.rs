//! The timing rules, as pure functions of durations: when to refresh a new token, how long reads
//! may skip the clock, how long to back off after a failure. No clock and no randomness here —
//! the driver draws the random parts and passes them in — so every edge case is a unit test.

use std::time::Duration;

/// Shortest pause between two automatic attempts, so no failure mode can make the driver spin.
pub(super) const MIN_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The clock-free read window of a token ends at least this long before the token stops being
/// usable (see `TokenData::fast`): the slack the driver task has to wake up and end it.
pub(super) const FAST_READ_GUARD: Duration = Duration::from_secs(5);

/// When a token is refreshed and how long reads of it may skip the clock, counted from the
/// moment it is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Refresh this long after installing.
    pub(super) refresh_in: Duration,
    /// Reads skip the clock for this long; `None` when the token is too short-lived for it.
    pub(super) fast_for: Option<Duration>,
}

/// The plan for a token that lives `life`, refreshed `margin` plus `jitter` (the random spread
/// drawn for this token) before expiry, and treated as expired `skew` early.
pub(super) fn plan(life: Duration, margin: Duration, jitter: Duration, skew: Duration) -> Plan {
    let lead = (margin + jitter).max(skew * 2);
    // Short-lived tokens (tests, sandboxes) refresh halfway through their usable life, so the
    // refresh always lands before the token stops being handed out.
    let refresh_in = if life > lead * 2 {
        life - lead
    } else {
        life.saturating_sub(skew) / 2
    }
    .max(MIN_RETRY_DELAY);
    // Clock-free reads until the refresh time, and never closer than FAST_READ_GUARD to the end
    // of the usable life; the driver wakes by then to end the window.
    let fast_for = life
        .checked_sub(skew + FAST_READ_GUARD)
        .map(|limit| limit.min(refresh_in));
    Plan {
        refresh_in,
        fast_for,
    }
}

/// The pause after the `failures`-th transient failure in a row: exponential from `initial`,
/// capped at `max`, spread by `spread` (drawn in `0.0..1.0`) over the upper half. While the
/// current token still has `usable_left` (its life minus the skew), the pause is at most half of
/// that so another try happens before it runs out — but never below `initial`, so attempts do
/// not bunch up (and spend the budget) as expiry approaches.
pub(super) fn transient_delay(
    failures: u32,
    initial: Duration,
    max: Duration,
    spread: f64,
    usable_left: Duration,
) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = initial.saturating_mul(1 << exponent).min(max);
    let mut delay = base / 2 + (base / 2).mul_f64(spread);
    if !usable_left.is_zero() {
        delay = delay.min((usable_left / 2).max(initial));
    }
    delay.max(MIN_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn a_long_token_refreshes_margin_plus_jitter_before_expiry() {
        let plan = plan(s(3600), s(60), s(20), s(5));
        assert_eq!(plan.refresh_in, s(3520));
        assert_eq!(plan.fast_for, Some(s(3520)));
    }

    #[test]
    fn zero_jitter_refreshes_exactly_the_margin_before_expiry() {
        assert_eq!(
            plan(s(3600), s(60), Duration::ZERO, s(5)).refresh_in,
            s(3540)
        );
        // A margin below twice the skew is raised to it: the refresh never lands in the skew.
        assert_eq!(
            plan(s(3600), s(2), Duration::ZERO, s(5)).refresh_in,
            s(3590)
        );
    }

    #[test]
    fn a_token_shorter_than_the_margin_refreshes_halfway_through_its_usable_life() {
        let plan = plan(s(30), s(60), s(30), s(5));
        assert_eq!(plan.refresh_in, ms(12_500));
        assert!(plan.refresh_in < s(30) - s(5));
        assert_eq!(plan.fast_for, Some(ms(12_500)));
    }

    #[test]
    fn margin_plus_jitter_longer_than_the_life_still_refreshes_before_the_skew() {
        // 60 s + 50 s of lead on a 100 s token: the lead alone would refresh in the past.
        let plan = plan(s(100), s(60), s(50), s(5));
        assert_eq!(plan.refresh_in, ms(47_500));
        // Just above twice the lead, the ordinary rule applies again.
        assert_eq!(super::plan(s(221), s(60), s(50), s(5)).refresh_in, s(111));
    }

    #[test]
    fn the_clock_free_window_ends_a_guard_before_the_usable_life_ends() {
        // No margin and a 1 s skew on a 30 s token: the refresh is at 28 s, but reads check the
        // clock from 24 s on (29 s of usable life, minus the guard).
        let plan = plan(s(30), Duration::ZERO, Duration::ZERO, s(1));
        assert_eq!(plan.refresh_in, s(28));
        assert_eq!(plan.fast_for, Some(s(24)));
        let plan = super::plan(s(12), Duration::ZERO, Duration::ZERO, s(5));
        assert_eq!(plan.fast_for, Some(s(2)));
        // Too short for any clock-free window.
        assert_eq!(super::plan(s(9), s(60), s(30), s(5)).fast_for, None);
    }

    #[test]
    fn a_token_about_to_expire_is_not_refreshed_in_a_spin() {
        let plan = plan(ms(1500), s(60), s(30), s(5));
        assert_eq!(plan.refresh_in, MIN_RETRY_DELAY);
        assert_eq!(plan.fast_for, None);
    }

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_cap() {
        let delay =
            |failures, spread| transient_delay(failures, s(5), s(300), spread, Duration::ZERO);
        assert_eq!(delay(1, 0.0), ms(2500));
        assert_eq!(delay(1, 1.0), s(5));
        assert_eq!(delay(2, 1.0), s(10));
        assert_eq!(delay(3, 0.5), s(15));
        assert_eq!(delay(9, 1.0), s(300));
        assert_eq!(delay(u32::MAX, 1.0), s(300));
    }

    #[test]
    fn remaining_life_below_the_retry_delay_shortens_the_wait_but_not_below_the_initial_delay() {
        // 40 s of backoff, 60 s of usable life left: retry within half of it.
        assert_eq!(transient_delay(4, s(5), s(300), 1.0, s(60)), s(30));
        // 4 s left, less than the initial delay: wait the initial delay, not 2 s.
        assert_eq!(transient_delay(4, s(5), s(300), 1.0, s(4)), s(5));
        // A sub-second initial delay is still raised to the spin guard.
        assert_eq!(
            transient_delay(1, ms(100), s(300), 1.0, ms(800)),
            MIN_RETRY_DELAY
        );
        // No life left (or no token): the ordinary backoff.
        assert_eq!(transient_delay(4, s(5), s(300), 1.0, Duration::ZERO), s(40));
    }
}
