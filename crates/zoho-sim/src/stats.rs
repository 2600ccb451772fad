//! Call counters: tests assert on what reached the emulator, not on what a client believes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

/// A snapshot of everything the emulator has counted since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Requests received on the Zoho routes (control routes excluded).
    pub requests: u64,
    /// Requests by route label and HTTP status; a dropped connection counts with status 0.
    pub by_route_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Requests to the token endpoint (every one, whatever the outcome: `tokens_minted`,
    /// `token_throttled`, `token_rejected` and `token_faulted` add up to it once each answered).
    pub token_requests: u64,
    /// When each token request arrived, in milliseconds of emulator time since it started (so
    /// a test can judge attempts in any window, including those an injected fault answered).
    pub token_request_times_ms: Vec<u64>,
    /// Access tokens minted.
    pub tokens_minted: u64,
    /// Token requests refused for throttling.
    pub token_throttled: u64,
    /// Token requests refused for bad credentials or an unknown or revoked refresh token.
    pub token_rejected: u64,
    /// Token requests answered by an injected fault, before the Accounts logic saw them.
    pub token_faulted: u64,
    /// Every request header name (lower-case) that reached a Desk route: what a client let
    /// through, so a test can prove a header was never forwarded.
    pub desk_header_names: BTreeSet<String>,
    /// Requests to the Desk API (`/api/v1/…`), whatever their outcome.
    pub desk_requests: u64,
    /// Desk requests refused with 429 `TOO_MANY_REQUESTS` (over the concurrency limit).
    pub desk_too_many_requests: u64,
    /// Desk requests refused with 429 `THRESHOLD_EXCEEDED` (daily credits spent).
    pub desk_threshold_exceeded: u64,
    /// Requests answered by an injected fault.
    pub faults_injected: u64,
    /// Requests being handled right now.
    pub in_flight: u64,
}

impl SimStats {
    /// Requests to `route` (e.g. `"token"`, `"GET /tickets"`) answered with `status`.
    pub fn count(&self, route: &str, status: u16) -> u64 {
        self.by_route_status
            .get(route)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Requests to `route` (e.g. `"GET /tickets/{id}"`), whatever their status.
    pub fn calls(&self, route: &str) -> u64 {
        self.by_route_status
            .get(route)
            .map_or(0, |by_status| by_status.values().sum())
    }

    /// The most token requests that arrived within any `window` (a sliding window anchored at
    /// each request), whatever their outcome.
    pub fn most_token_requests_within(&self, window: Duration) -> u64 {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let times = &self.token_request_times_ms;
        (0..times.len())
            .map(|start| {
                let end = times[start].saturating_add(window_ms);
                times[start..].iter().take_while(|&&t| t < end).count() as u64
            })
            .max()
            .unwrap_or(0)
    }

    /// Token requests refused, for any reason: throttled, rejected or answered by a fault.
    pub fn token_refused(&self) -> u64 {
        self.token_throttled + self.token_rejected + self.token_faulted
    }

    /// Counts one token request arriving at emulator time `now`.
    pub(crate) fn record_token_request(&mut self, now: Duration) {
        self.token_requests += 1;
        self.token_request_times_ms
            .push(u64::try_from(now.as_millis()).unwrap_or(u64::MAX));
    }

    /// Counts what the Accounts logic did with one refresh.
    pub(crate) fn record_token(&mut self, outcome: crate::accounts::TokenOutcome) {
        use crate::accounts::TokenOutcome;
        match outcome {
            TokenOutcome::Minted => self.tokens_minted += 1,
            TokenOutcome::Throttled => self.token_throttled += 1,
            TokenOutcome::Rejected => self.token_rejected += 1,
        }
    }

    pub(crate) fn record(&mut self, route: &str, status: u16) {
        *self
            .by_route_status
            .entry(route.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
}
