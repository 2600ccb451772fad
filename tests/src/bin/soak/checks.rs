//! The checks: writes kept, Zoho's limits held, every error explained by a fault.

use serde_json::Value;
use zoho_sim::SimHandle;

use crate::load::{Create, Outcome, UpdateLog};
use crate::report::Report;
use crate::schedule::Injection;
use crate::world::World;
use crate::{ADMIN_KEY, CLIENT_TIMEOUT, GRACE};

/// Zoho's refresh throttle window, over which the fleet budget holds.
const ZOHO_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// The gateway's default fleet budget (`ZOHO_TOKEN_REFRESH_BUDGET`, which the soak leaves
/// unset): refresh attempts per refresh token per window.
const FLEET_BUDGET: u64 = 10;

/// The refresh tokens a run uses: the seeded one and the one the re-consent rolls out.
const REFRESH_TOKENS_IN_A_RUN: u64 = 2;

impl Report {
    /// Every acknowledged create is in the emulator exactly once; a failed one at most once.
    pub(crate) fn check_creates(&mut self, sim: &SimHandle, creates: &[Create]) {
        for create in creates {
            match (
                create.acknowledged,
                sim.tickets_with_subject(&create.subject),
            ) {
                (_, n) if n > 1 => self.creates_duplicated += 1,
                (true, 1) => self.creates_acknowledged += 1,
                (true, _) => self.creates_lost += 1,
                (false, 0) => self.creates_failed_absent += 1,
                (false, _) => self.creates_failed_applied += 1,
            }
        }
    }

    /// Each worker's ticket holds its last acknowledged update, or a later one it sent.
    pub(crate) async fn check_updates(&mut self, world: &World, logs: &[UpdateLog]) {
        let (_, api) = world.pool.pick(0).expect("a replica");
        for log in logs {
            let ticket: Value = world
                .admin
                .get(format!("{api}/api/zoho-desk/tickets/{}", log.ticket_id))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .expect("ticket")
                .json()
                .await
                .unwrap_or(Value::Null);
            let seen: Option<u64> = ticket["description"]
                .as_str()
                .and_then(|d| d.strip_prefix("soak update "))
                .and_then(|n| n.parse().ok());
            self.updates_checked += 1;
            let holds = match (log.last_acknowledged, seen) {
                (None, _) => true,
                (Some(acked), Some(seen)) => acked <= seen && Some(seen) <= log.last_sent,
                (Some(_), None) => false,
            };
            if !holds {
                self.updates_lost += 1;
            }
        }
    }

    /// Zoho's limits as the emulator enforces them: its own throttle (10 refreshes per refresh
    /// token per rolling 10 minutes) and the cap of 15 live tokens that evicts the oldest.
    pub(crate) fn check_zoho_limits(&mut self, world: &World) {
        let stats = world.sim.stats();
        let baseline = &world.baseline;
        self.token_requests = stats.token_requests - baseline.token_requests;
        self.tokens_minted = stats.tokens_minted - baseline.tokens_minted;
        self.token_throttled_by_zoho = stats.token_throttled - baseline.token_throttled;
        self.evicted = world.sim.evicted_tokens();
        // Every attempt the emulator saw during the run, fault-answered ones included, so a
        // backoff that hammers Accounts through an outage shows up here.
        let mut run = stats.clone();
        let before = usize::try_from(baseline.token_requests).unwrap_or(usize::MAX);
        run.token_request_times_ms
            .drain(..before.min(run.token_request_times_ms.len()));
        self.max_token_requests_10min = run.most_token_requests_within(ZOHO_WINDOW);
    }
}

impl Report {
    pub(crate) fn judge(&mut self) {
        let mut failures = Vec::new();
        if self.outcomes.is_empty() {
            failures.push("no requests were made".to_owned());
        }
        if !self.unexplained.is_empty() {
            failures.push(format!(
                "{} client-visible errors no injected fault explains",
                self.unexplained.len()
            ));
        }
        let hangs = self.outcomes.iter().filter(|o| o.code == "timeout").count();
        if hangs > 0 {
            failures.push(format!("{hangs} requests hung past {CLIENT_TIMEOUT:?}"));
        }
        if self.creates_lost > 0 {
            failures.push(format!("{} acknowledged creates lost", self.creates_lost));
        }
        if self.creates_duplicated > 0 {
            failures.push(format!("{} creates duplicated", self.creates_duplicated));
        }
        if self.updates_lost > 0 {
            failures.push(format!("{} acknowledged updates lost", self.updates_lost));
        }
        // The fleet spends at most its budget per refresh token per window (the run uses the
        // seeded refresh token and, after the re-consent, a second one); the forced refreshes
        // are charged to the same budget.
        let attempts_allowed = FLEET_BUDGET * REFRESH_TOKENS_IN_A_RUN;
        if self.max_token_requests_10min > attempts_allowed {
            failures.push(format!(
                "{} token-endpoint attempts in one 10-minute window (at most {attempts_allowed})",
                self.max_token_requests_10min
            ));
        }
        if self.token_throttled_by_zoho > 0 {
            failures.push(format!(
                "Zoho's refresh throttle answered {} times",
                self.token_throttled_by_zoho
            ));
        }
        if self.evicted > 0 {
            failures.push(format!(
                "{} live tokens evicted by Zoho's cap",
                self.evicted
            ));
        }
        if !self.secret_findings.is_empty() {
            failures.push(format!(
                "secrets found: {}",
                self.secret_findings.join("; ")
            ));
        }
        // Each fault must have reached the gateways, or the run proved nothing about it.
        for phase in &self.phases {
            let seen = |what: &str| phase.states_seen.keys().any(|s| s.contains(what));
            let effect = match phase.injection {
                Injection::DeskLatency
                | Injection::AccountsErrors
                | Injection::AccountsLatency
                | Injection::DroppedConnections
                | Injection::AccessDenied => phase.zoho.faults_injected > 0,
                Injection::DeskConcurrency => phase.zoho.desk_429_concurrency > 0,
                Injection::DailyCredits => phase.zoho.desk_429_credits > 0,
                Injection::RedisRestart => seen("degraded"),
                Injection::Revoked => phase.zoho.desk_401 > 0 && seen("fallback"),
                Injection::Reconsent => phase.zoho.tokens_minted > 0,
                // The replica was killed and a new one started and answered.
                Injection::ReplicaKill => true,
            };
            if !effect {
                failures.push(format!(
                    "{} had no visible effect (Zoho saw: {}; token states: {:?})",
                    phase.injection.name(),
                    phase.zoho.describe(),
                    phase.states_seen
                ));
            }
        }
        self.failures = failures;
    }

    /// Collects the client-visible errors no injected fault explains.
    pub(crate) fn blame(&mut self) {
        self.unexplained = self
            .outcomes
            .iter()
            .filter(|o| !(200..300).contains(&o.status) && self.cause(o).is_none())
            .cloned()
            .collect();
    }

    /// The fault that explains `outcome`, if any.
    pub(crate) fn cause(&self, outcome: &Outcome) -> Option<Injection> {
        self.phases
            .iter()
            .find(|phase| {
                outcome.at >= phase.start - 0.5
                    && outcome.at <= phase.end + GRACE.as_secs_f64()
                    && phase.injection.explains(outcome, self.killed_replica)
            })
            .map(|phase| phase.injection)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::load::Op;
    use crate::report::{PhaseRecord, ZohoCounts};

    fn outcome(at: f64, op: Op, status: u16, code: &str) -> Outcome {
        Outcome {
            at,
            op,
            replica: 1,
            status,
            code: code.to_owned(),
        }
    }

    fn report(outcomes: Vec<Outcome>) -> Report {
        let phase = |injection, start, end| PhaseRecord {
            injection,
            start,
            end,
            zoho: ZohoCounts {
                faults_injected: 1,
                desk_429_concurrency: 1,
                desk_429_credits: 1,
                ..ZohoCounts::default()
            },
            forced_refresh: None,
            states_seen: BTreeMap::new(),
        };
        let mut report = Report {
            outcomes,
            phases: vec![
                phase(Injection::DeskConcurrency, 10.0, 20.0),
                phase(Injection::DroppedConnections, 40.0, 50.0),
                phase(Injection::ReplicaKill, 60.0, 70.0),
            ],
            killed_replica: Some(1),
            ..Report::default()
        };
        report.blame();
        report.judge();
        report
    }

    #[test]
    fn more_token_attempts_in_a_window_than_the_fleet_may_spend_fail_the_run() {
        let mut report = report(vec![outcome(1.0, Op::ListTickets, 200, "")]);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        report.max_token_requests_10min = FLEET_BUDGET * REFRESH_TOKENS_IN_A_RUN + 1;
        report.judge();
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.contains("token-endpoint attempts")),
            "{:?}",
            report.failures
        );
    }

    #[test]
    fn errors_are_blamed_only_on_a_fault_that_explains_them() {
        let report = report(vec![
            outcome(1.0, Op::ListTickets, 200, ""),
            outcome(15.0, Op::ListTickets, 429, "zoho_rate_limited"),
            // Within the grace after the window.
            outcome(26.0, Op::PassAgents, 429, "TOO_MANY_REQUESTS"),
            outcome(45.0, Op::CreateTicket, 502, "zoho_unavailable"),
            outcome(61.0, Op::GetTicket, 0, "connection"),
        ]);
        assert!(report.unexplained.is_empty(), "{:?}", report.unexplained);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }

    #[test]
    fn an_error_no_fault_explains_fails_the_run() {
        for stray in [
            // A 429 long after the concurrency window closed.
            outcome(35.0, Op::ListTickets, 429, "zoho_rate_limited"),
            // A read that failed on a dropped connection: the gateway should have retried it.
            outcome(45.0, Op::GetTicket, 502, "zoho_unavailable"),
            // A 401 is never an acceptable answer.
            outcome(15.0, Op::GetTicket, 502, "zoho_unauthorized"),
            // A connection error on a replica that was not killed.
            Outcome {
                replica: 0,
                ..outcome(61.0, Op::GetTicket, 0, "connection")
            },
            // A hang, even inside a window.
            outcome(61.0, Op::GetTicket, 0, "timeout"),
        ] {
            let report = report(vec![stray.clone()]);
            assert_eq!(report.unexplained.len(), 1, "{stray:?}");
            assert!(!report.failures.is_empty(), "{stray:?}");
        }
    }

    #[test]
    fn lost_and_duplicated_writes_fail_the_run() {
        let mut report = report(vec![outcome(1.0, Op::ListTickets, 200, "")]);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        report.creates_duplicated = 1;
        report.updates_lost = 1;
        report.judge();
        assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    }

    #[test]
    fn a_fault_without_effect_fails_the_run() {
        let mut report = report(vec![outcome(1.0, Op::ListTickets, 200, "")]);
        report.phases[0].zoho.desk_429_concurrency = 0;
        report.judge();
        assert!(
            report.failures[0].starts_with("desk_429_concurrency had no visible effect"),
            "{:?}",
            report.failures
        );
    }
}
