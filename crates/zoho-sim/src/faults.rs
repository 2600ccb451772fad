//! Faults the emulator can be told to inject, per route.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which of the emulator's routes a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `POST /oauth/v2/token`.
    Token,
    /// `POST /oauth/v2/token/revoke`.
    Revoke,
    /// Every Desk request (`/api/v1/…`), whatever its method and path.
    Desk,
    /// Every route except the emulator's own `/_sim` control routes.
    Any,
}

/// How the token endpoint answers a throttled refresh. Zoho has been seen doing each of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleStyle {
    /// HTTP 200, `{"error":"Access Denied","error_description":"You have made too many requests…","status":"failure"}`.
    #[default]
    Json200,
    /// The same body with HTTP 400.
    Json400,
    /// HTTP 200, the newer "Token creation throttle limit reached" wording.
    NewWording,
    /// HTTP 400 with the same keys, translated (classify by shape, not by English text).
    Localized,
    /// The browser roadblock: an HTML page, not JSON.
    Html,
}

impl ThrottleStyle {
    /// Every style, for tests that check a client copes with each (keep in step with the enum).
    pub const ALL: [ThrottleStyle; 5] = [
        ThrottleStyle::Json200,
        ThrottleStyle::Json400,
        ThrottleStyle::NewWording,
        ThrottleStyle::Localized,
        ThrottleStyle::Html,
    ];
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// Wait this long, then answer normally.
    Latency {
        /// Added delay in milliseconds.
        millis: u64,
    },
    /// Answer with this HTTP status and an HTML error page (a load balancer's 5xx).
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// Close the connection without answering.
    Drop,
    /// Answer as if the refresh token were throttled (on Desk routes: a 429
    /// `TOO_MANY_REQUESTS`).
    Throttle {
        /// The response style.
        style: ThrottleStyle,
    },
    /// Answer with exactly this status and body (e.g. `{"error":"invalid_code"}` with 200).
    Respond {
        /// The HTTP status.
        status: u16,
        /// The body, sent as `application/json` when it parses as JSON, else `text/html`.
        body: String,
    },
}

impl Fault {
    /// Added latency, as a [`Duration`].
    pub fn latency(by: Duration) -> Self {
        Fault::Latency {
            millis: by.as_millis() as u64,
        }
    }
}

/// How many requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Times {
    /// The next `n` matching requests.
    Next(u32),
    /// Every matching request until cleared.
    Always,
}

#[derive(Debug, Clone)]
struct Rule {
    route: Route,
    fault: Fault,
    times: Times,
}

/// The active fault rules, matched first-in first-out.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    rules: VecDeque<Rule>,
}

impl FaultPlan {
    pub(crate) fn push(&mut self, route: Route, fault: Fault, times: Times) {
        if times != Times::Next(0) {
            self.rules.push_back(Rule {
                route,
                fault,
                times,
            });
        }
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault for a request to `route`, consuming one use of a counted rule.
    pub(crate) fn take(&mut self, route: Route) -> Option<Fault> {
        let index = self
            .rules
            .iter()
            .position(|rule| rule.route == route || rule.route == Route::Any)?;
        let rule = &mut self.rules[index];
        let fault = rule.fault.clone();
        if let Times::Next(n) = &mut rule.times {
            *n -= 1;
            if *n == 0 {
                self.rules.remove(index);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_expire_and_always_rules_stay() {
        let mut plan = FaultPlan::default();
        plan.push(Route::Token, Fault::Drop, Times::Next(2));
        plan.push(Route::Any, Fault::Status { status: 503 }, Times::Always);
        assert_eq!(plan.take(Route::Token), Some(Fault::Drop));
        assert_eq!(
            plan.take(Route::Revoke),
            Some(Fault::Status { status: 503 })
        );
        assert_eq!(plan.take(Route::Token), Some(Fault::Drop));
        assert_eq!(plan.take(Route::Token), Some(Fault::Status { status: 503 }));
        assert_eq!(plan.take(Route::Desk), Some(Fault::Status { status: 503 }));
        plan.clear();
        assert_eq!(plan.take(Route::Token), None);
    }

    #[test]
    fn faults_round_trip_as_json() {
        let fault = Fault::Throttle {
            style: ThrottleStyle::Html,
        };
        let json = serde_json::to_string(&fault).unwrap();
        assert_eq!(json, r#"{"kind":"throttle","style":"html"}"#);
        assert_eq!(serde_json::from_str::<Fault>(&json).unwrap(), fault);
    }
}
