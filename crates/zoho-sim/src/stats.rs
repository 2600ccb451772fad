//! Call counters: tests assert on what reached the emulator, not on what a client believes.

use std::collections::BTreeMap;

use serde::Serialize;

/// A snapshot of everything the emulator has counted since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Requests received on the Zoho routes (control routes excluded).
    pub requests: u64,
    /// Requests by route label and HTTP status; a dropped connection counts with status 0.
    pub by_route_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Requests to the token endpoint (every one, whatever the outcome).
    pub token_requests: u64,
    /// Access tokens minted.
    pub tokens_minted: u64,
    /// Token requests refused for throttling.
    pub token_throttled: u64,
    /// Token requests refused for bad credentials or an unknown or revoked refresh token.
    pub token_rejected: u64,
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
