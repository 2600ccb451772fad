//! The report: what was counted, per fault window and in total, as Markdown and JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use zoho_sim::SimHandle;

use crate::load::{Op, Outcome};
use crate::schedule::Injection;
use crate::{GRACE, WORKERS};

/// What the emulator counted, for differences across a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ZohoCounts {
    pub(crate) faults_injected: u64,
    pub(crate) token_requests: u64,
    pub(crate) tokens_minted: u64,
    pub desk_401: u64,
    pub desk_429_concurrency: u64,
    pub desk_429_credits: u64,
}

impl ZohoCounts {
    pub(crate) fn read(sim: &SimHandle) -> ZohoCounts {
        let stats = sim.stats();
        ZohoCounts {
            faults_injected: stats.faults_injected,
            token_requests: stats.token_requests,
            tokens_minted: stats.tokens_minted,
            // Desk routes are labelled `<METHOD> <path>`; Accounts routes have no path.
            desk_401: stats
                .by_route_status
                .iter()
                .filter(|(route, _)| route.contains('/'))
                .filter_map(|(_, statuses)| statuses.get(&401))
                .sum(),
            desk_429_concurrency: stats.desk_too_many_requests,
            desk_429_credits: stats.desk_threshold_exceeded,
        }
    }

    pub(crate) fn since(self, before: ZohoCounts) -> ZohoCounts {
        ZohoCounts {
            faults_injected: self.faults_injected - before.faults_injected,
            token_requests: self.token_requests - before.token_requests,
            tokens_minted: self.tokens_minted - before.tokens_minted,
            desk_401: self.desk_401 - before.desk_401,
            desk_429_concurrency: self.desk_429_concurrency - before.desk_429_concurrency,
            desk_429_credits: self.desk_429_credits - before.desk_429_credits,
        }
    }

    pub(crate) fn describe(self) -> String {
        let parts: Vec<String> = [
            ("faults injected", self.faults_injected),
            ("token requests", self.token_requests),
            ("minted", self.tokens_minted),
            ("Desk 401", self.desk_401),
            ("Desk 429 concurrency", self.desk_429_concurrency),
            ("Desk 429 credits", self.desk_429_credits),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
        if parts.is_empty() {
            "–".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What happened in one fault window.
#[derive(Debug, Clone)]
pub(crate) struct PhaseRecord {
    pub(crate) injection: Injection,
    pub(crate) start: f64,
    pub(crate) end: f64,
    /// What Zoho (the emulator) saw from the window's start to its end.
    pub(crate) zoho: ZohoCounts,
    /// The forced refresh's answer, for the Accounts faults.
    pub(crate) forced_refresh: Option<String>,
    /// Token states the replicas reported during the window (state, fallback, degraded).
    pub(crate) states_seen: BTreeMap<String, u64>,
}

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) minutes: f64,
    pub(crate) replicas: usize,
    pub(crate) token_lifetime: Duration,
    pub(crate) margin: Duration,
    pub(crate) outcomes: Vec<Outcome>,
    pub(crate) phases: Vec<PhaseRecord>,
    pub(crate) killed_replica: Option<usize>,
    pub(crate) unexplained: Vec<Outcome>,
    pub(crate) creates_acknowledged: usize,
    pub(crate) creates_failed_absent: usize,
    pub(crate) creates_failed_applied: usize,
    pub(crate) creates_lost: usize,
    pub(crate) creates_duplicated: usize,
    pub(crate) updates_checked: usize,
    pub(crate) updates_lost: usize,
    pub(crate) token_requests: u64,
    pub(crate) tokens_minted: u64,
    pub(crate) token_throttled_by_zoho: u64,
    pub(crate) evicted: usize,
    pub max_token_requests_10min: u64,
    pub(crate) secret_findings: Vec<String>,
    pub(crate) failures: Vec<String>,
}

impl Report {
    pub(crate) fn by_op_and_status(&self) -> BTreeMap<(Op, String), u64> {
        let mut table = BTreeMap::new();
        for outcome in &self.outcomes {
            let key = if outcome.code.is_empty() {
                outcome.status.to_string()
            } else {
                format!("{} {}", outcome.status, outcome.code)
            };
            *table.entry((outcome.op, key)).or_insert(0) += 1;
        }
        table
    }

    /// Client-visible errors by the fault that explains them ("unexplained" for the rest).
    pub(crate) fn errors_by_cause(&self) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
        let mut table: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
        for outcome in self
            .outcomes
            .iter()
            .filter(|o| !(200..300).contains(&o.status))
        {
            let phase = self.cause(outcome).map_or("unexplained", Injection::name);
            let key = format!(
                "{} {} on {}",
                outcome.status,
                outcome.code,
                outcome.op.name()
            );
            *table.entry(phase).or_default().entry(key).or_insert(0) += 1;
        }
        table
    }

    pub(crate) fn markdown(&self) -> String {
        let mut md = String::new();
        let total = self.outcomes.len();
        let ok = self
            .outcomes
            .iter()
            .filter(|o| (200..300).contains(&o.status))
            .count();
        let _ = writeln!(
            md,
            "# Soak report\n\n{} minutes, {} gateway replicas sharing one Redis, {WORKERS} clients; token lifetime {} s, refresh margin {} s; Zoho's limits unchanged (10 refreshes per refresh token per 10 minutes, 15 live tokens).\n",
            self.minutes,
            self.replicas,
            self.token_lifetime.as_secs(),
            self.margin.as_secs()
        );
        let _ = writeln!(
            md,
            "**Result: {}**\n",
            if self.failures.is_empty() {
                "pass".to_owned()
            } else {
                format!("FAIL — {}", self.failures.join("; "))
            }
        );
        let _ = writeln!(
            md,
            "## Requests by outcome\n\n{total} requests, {ok} answered 2xx, {} errors ({} explained by an injected fault, {} unexplained).\n\n| request | outcome | count |\n|---|---|---|",
            total - ok,
            total - ok - self.unexplained.len(),
            self.unexplained.len()
        );
        for ((op, outcome), n) in self.by_op_and_status() {
            let _ = writeln!(md, "| {} | {outcome} | {n} |", op.name());
        }
        let _ = writeln!(
            md,
            "\n## Fault schedule\n\nEach window as the emulator saw it, the answer to the refresh forced in it, the token states the replicas reported (samples), and the client-visible errors it explains (within {} s of its end).\n\n| fault | what | window s | Zoho saw | forced refresh | token states | client errors explained |\n|---|---|---|---|---|---|---|",
            GRACE.as_secs()
        );
        let errors = self.errors_by_cause();
        for phase in &self.phases {
            let states: Vec<String> = phase
                .states_seen
                .iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect();
            let errs: Vec<String> = errors
                .get(phase.injection.name())
                .map(|m| m.iter().map(|(k, n)| format!("{k} ×{n}")).collect())
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| {} | {} | {:.0}–{:.0} | {} | {} | {} | {} |",
                phase.injection.name(),
                phase.injection.describe(),
                phase.start,
                phase.end,
                phase.zoho.describe(),
                phase.forced_refresh.as_deref().unwrap_or("–"),
                states.join(", "),
                if errs.is_empty() {
                    "none".to_owned()
                } else {
                    errs.join("; ")
                }
            );
        }
        if let Some(unexplained) = errors.get("unexplained") {
            let _ = writeln!(md, "\nUnexplained: {unexplained:?}");
        }
        let _ = writeln!(
            md,
            "\n## Writes\n\n- creates acknowledged and found exactly once: {}\n- creates acknowledged but not found (lost): {}\n- creates found more than once (duplicated): {}\n- creates that failed and are absent: {}\n- creates that failed but were applied: {}\n- tickets updated: {} checked, {} lost an acknowledged update\n",
            self.creates_acknowledged,
            self.creates_lost,
            self.creates_duplicated,
            self.creates_failed_absent,
            self.creates_failed_applied,
            self.updates_checked,
            self.updates_lost
        );
        let _ = writeln!(
            md,
            "## Zoho's limits\n\n- token-endpoint requests: {} (most in any 10 minutes: {}, all refresh tokens and fault-answered calls included)\n- tokens minted: {}\n- refreshes Zoho's throttle refused: {}\n- live tokens evicted by the cap: {}\n",
            self.token_requests,
            self.max_token_requests_10min,
            self.tokens_minted,
            self.token_throttled_by_zoho,
            self.evicted
        );
        let _ = writeln!(
            md,
            "## Secrets\n\nEvery response (headers and body) and everything every replica printed, scanned for the client secret, the refresh tokens, the fallback token, any full access token and the API keys: {}.",
            if self.secret_findings.is_empty() {
                "none found".to_owned()
            } else {
                self.secret_findings.join("; ")
            }
        );
        if !self.unexplained.is_empty() {
            let _ = writeln!(md, "\n## Unexplained errors (first 20)\n");
            for outcome in self.unexplained.iter().take(20) {
                let _ = writeln!(
                    md,
                    "- {:.1} s, replica {}: {} → {} {}",
                    outcome.at,
                    outcome.replica,
                    outcome.op.name(),
                    outcome.status,
                    outcome.code
                );
            }
        }
        md
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "minutes": self.minutes,
            "replicas": self.replicas,
            "token_lifetime_secs": self.token_lifetime.as_secs(),
            "requests": self.outcomes.len(),
            "by_outcome": self.by_op_and_status().into_iter().map(|((op, outcome), n)| json!({"request": op.name(), "outcome": outcome, "count": n})).collect::<Vec<_>>(),
            "errors_by_fault": self.errors_by_cause(),
            "unexplained": self.unexplained.iter().map(|o| json!({"at": o.at, "request": o.op.name(), "replica": o.replica, "status": o.status, "code": o.code})).collect::<Vec<_>>(),
            "phases": self.phases.iter().map(|p| json!({"fault": p.injection.name(), "start": p.start, "end": p.end, "zoho_saw": p.zoho.describe(), "forced_refresh": p.forced_refresh, "states_seen": p.states_seen})).collect::<Vec<_>>(),
            "writes": {
                "creates_acknowledged": self.creates_acknowledged,
                "creates_lost": self.creates_lost,
                "creates_duplicated": self.creates_duplicated,
                "creates_failed_absent": self.creates_failed_absent,
                "creates_failed_applied": self.creates_failed_applied,
                "updates_checked": self.updates_checked,
                "updates_lost": self.updates_lost,
            },
            "zoho_limits": {
                "token_requests": self.token_requests,
                "max_token_requests_10min": self.max_token_requests_10min,
                "tokens_minted": self.tokens_minted,
                "throttled_by_zoho": self.token_throttled_by_zoho,
                "evicted": self.evicted,
            },
            "secret_findings": self.secret_findings,
            "failures": self.failures,
        })
    }
}
