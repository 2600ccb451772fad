//! The hard local refresh budget: at most `limit` attempts per refresh token in any `window`,
//! whatever callers do. Zoho allows 10 per 10 minutes; going over locks the refresh token out.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct RefreshBudget {
    limit: usize,
    window: Duration,
    attempts: VecDeque<Instant>,
}

impl RefreshBudget {
    pub(crate) fn new(limit: usize, window: Duration) -> Self {
        RefreshBudget {
            limit,
            window,
            attempts: VecDeque::with_capacity(limit),
        }
    }

    fn prune(&mut self, now: Instant) {
        while self
            .attempts
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.attempts.pop_front();
        }
    }

    /// `Ok` when an attempt may start now, else the instant the next slot frees.
    pub(crate) fn check(&mut self, now: Instant) -> Result<(), Instant> {
        self.prune(now);
        match self.attempts.front() {
            Some(oldest) if self.attempts.len() >= self.limit => Err(*oldest + self.window),
            _ => Ok(()),
        }
    }

    /// Records an attempt; call only after [`check`](Self::check) said yes.
    pub(crate) fn record(&mut self, now: Instant) {
        self.attempts.push_back(now);
    }

    pub(crate) fn remaining(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.limit.saturating_sub(self.attempts.len())
    }

    /// A new refresh token starts with a full budget.
    pub(crate) fn reset(&mut self) {
        self.attempts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_limit_in_any_window() {
        let mut budget = RefreshBudget::new(3, Duration::from_secs(600));
        let start = Instant::now();
        for i in 0..3 {
            let now = start + Duration::from_secs(i * 10);
            budget.check(now).unwrap();
            budget.record(now);
        }
        assert_eq!(
            budget.check(start + Duration::from_secs(599)),
            Err(start + Duration::from_secs(600))
        );
        assert_eq!(budget.remaining(start + Duration::from_secs(600)), 1);
        assert!(budget.check(start + Duration::from_secs(600)).is_ok());
    }
}
