//! The fault schedule: the kinds of trouble, when each runs, and which client-visible errors
//! each one explains.

use crate::load::Outcome;

/// One kind of trouble the outside world makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injection {
    DeskLatency,
    DeskConcurrency,
    AccountsErrors,
    AccountsLatency,
    DroppedConnections,
    RedisRestart,
    ReplicaKill,
    DailyCredits,
    AccessDenied,
    Revoked,
    Reconsent,
}

/// When each fault is active, as fractions of the run. Windows never overlap, so each error
/// has at most one suspect.
pub(crate) const SCHEDULE: [(Injection, f64, f64); 11] = [
    (Injection::DeskLatency, 0.05, 0.11),
    (Injection::DeskConcurrency, 0.13, 0.19),
    (Injection::AccountsErrors, 0.21, 0.26),
    (Injection::AccountsLatency, 0.28, 0.33),
    (Injection::DroppedConnections, 0.35, 0.41),
    (Injection::RedisRestart, 0.43, 0.48),
    (Injection::ReplicaKill, 0.50, 0.55),
    (Injection::DailyCredits, 0.57, 0.62),
    (Injection::AccessDenied, 0.64, 0.69),
    (Injection::Revoked, 0.71, 0.82),
    (Injection::Reconsent, 0.84, 0.95),
];

impl Injection {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Injection::DeskLatency => "desk_latency",
            Injection::DeskConcurrency => "desk_429_concurrency",
            Injection::AccountsErrors => "accounts_5xx",
            Injection::AccountsLatency => "accounts_latency",
            Injection::DroppedConnections => "desk_dropped_connections",
            Injection::RedisRestart => "redis_restart",
            Injection::ReplicaKill => "replica_kill",
            Injection::DailyCredits => "desk_429_daily_credits",
            Injection::AccessDenied => "accounts_access_denied",
            Injection::Revoked => "refresh_token_revoked",
            Injection::Reconsent => "reconsent_rollout",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Injection::DeskLatency => "every Desk call 500 ms slower",
            Injection::DeskConcurrency => {
                "the portal's concurrency limit cut from 10 to 2, Desk calls 300 ms slower"
            }
            Injection::AccountsErrors => "the token endpoint answers 503 (HTML); a refresh forced",
            Injection::AccountsLatency => "the token endpoint 3 s slower; a refresh forced",
            Injection::DroppedConnections => {
                "a Desk connection dropped without an answer every 750 ms"
            }
            Injection::RedisRestart => "Redis stopped; a refresh forced; Redis restarted empty",
            Injection::ReplicaKill => "one replica killed with SIGKILL, restarted at the end",
            Injection::DailyCredits => "the portal's daily API credits run out",
            Injection::AccessDenied => {
                "the token endpoint answers \"Access Denied\" (HTTP 200); a refresh forced"
            }
            Injection::Revoked => {
                "the refresh token revoked with its access tokens; the static fallback configured"
            }
            Injection::Reconsent => {
                "a new refresh token rolled out: each replica restarted (SIGTERM) in turn"
            }
        }
    }

    /// Whether this fault explains a client-visible error: only answers no retry could turn
    /// into a success while the fault lasts.
    pub(crate) fn explains(self, error: &Outcome, killed_replica: Option<usize>) -> bool {
        match self {
            // Zoho refuses the call; retrying inside the window only spends more credits.
            Injection::DeskConcurrency | Injection::DailyCredits => error.status == 429,
            // A write whose connection dropped may or may not have happened: the gateway must
            // not repeat it, so the client sees the failure (and no duplicate appears).
            Injection::DroppedConnections => {
                error.status == 502 && error.code == "zoho_unavailable" && error.op.is_write()
            }
            // Requests in flight on the process that was killed.
            Injection::ReplicaKill => {
                error.status == 0
                    && Some(error.replica) == killed_replica
                    && error.code != "timeout"
            }
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load
