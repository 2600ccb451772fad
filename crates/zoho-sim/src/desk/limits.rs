//! The two limits Zoho puts on a portal (`zoho-behaviour.md` §4 "Concurrency and credits"): concurrent calls,
//! and daily API credits that come back at UTC midnight.

use super::time::DAY_MS;

/// Concurrency and credit accounting for one portal.
#[derive(Debug)]
pub(crate) struct Limits {
    concurrency_limit: usize,
    in_flight: usize,
    peak: usize,
    daily_credits: u64,
    remaining: u64,
    /// The UTC day (days since the epoch) `remaining` belongs to; `None` until first used.
    day: Option<u64>,
}

impl Limits {
    pub(crate) fn new(concurrency_limit: usize, daily_credits: u64) -> Self {
        Limits {
            concurrency_limit,
            in_flight: 0,
            peak: 0,
            daily_credits,
            remaining: daily_credits,
            day: None,
        }
    }

    /// A request arrives. Returns whether it fits under the limit. Every arrival counts towards
    /// the peak, admitted or not: the peak measures what the client sent at once, which is what a
    /// test of a client's own concurrency control wants to see.
    pub(crate) fn enter(&mut self) -> bool {
        self.in_flight += 1;
        self.peak = self.peak.max(self.in_flight);
        self.in_flight <= self.concurrency_limit
    }

    /// A request (admitted or refused) is done.
    pub(crate) fn leave(&mut self) {
        self.in_flight -= 1;
    }

    pub(crate) fn peak(&self) -> usize {
        self.peak
    }

    pub(crate) fn set_concurrency_limit(&mut self, limit: usize) {
        self.concurrency_limit = limit;
    }

    /// A new budget, in force from now: remaining credits are reset to it.
    pub(crate) fn set_daily_credits(&mut self, credits: u64) {
        self.daily_credits = credits;
        self.remaining = credits;
    }

    /// Credits left at `now_ms` (wall time), after any midnight refill.
    pub(crate) fn remaining(&mut self, now_ms: u64) -> u64 {
        let today = now_ms / DAY_MS;
        if self.day.is_some_and(|day| day != today) {
            self.remaining = self.daily_credits;
        }
        self.day = Some(today);
        self.remaining
    }

    /// Takes `cost` credits, or refuses with the seconds until they come back (the next UTC
    /// midnight) when fewer are left.
    pub(crate) fn charge(&mut self, cost: u64, now_ms: u64) -> Result<(), u64> {
        if self.remaining(now_ms) < cost {
            return Err((DAY_MS - now_ms % DAY_MS).div_ceil(1000));
        }
        self.remaining -= cost;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_counts_every_arrival_and_admits_up_to_the_limit() {
        let mut limits = Limits::new(2, 10);
        assert!(limits.enter());
        assert!(limits.enter());
        assert!(!limits.enter());
        limits.leave();
        limits.leave();
        assert!(limits.enter());
        assert_eq!(limits.peak(), 3);
    }

    #[test]
    fn credits_run_out_and_refill_at_utc_midnight() {
        let noon = 20_000 * DAY_MS + DAY_MS / 2;
        let mut limits = Limits::new(10, 4);
        assert_eq!(limits.charge(3, noon), Ok(()));
        assert_eq!(limits.charge(3, noon), Err(43_200));
        assert_eq!(limits.charge(1, noon), Ok(()));
        assert_eq!(limits.remaining(noon), 0);
        assert_eq!(limits.remaining(noon + DAY_MS / 2), 4);
    }
}
