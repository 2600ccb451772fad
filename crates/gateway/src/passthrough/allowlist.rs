//! Step 2 of the pass-through: which methods on which Desk paths are forwarded, and the
//! `GATEWAY_PASSTHROUGH_ALLOW` syntax that configures it.

use std::fmt;

use axum::http::Method;

use super::path::{is_under, normalize_path};
use crate::config::problem::Problem;
use crate::config::var::GATEWAY_PASSTHROUGH_ALLOW;

/// The methods an allowlist may name: Zoho Desk's (`zoho-behaviour.md` §4).
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// One allowlist rule: these methods on this prefix and everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A normalised path, e.g. `/tasks`.
    pub prefix: String,
    /// The methods admitted.
    pub methods: Vec<Method>,
}

impl Rule {
    /// Whether the rule's prefix covers `path` (whole segments).
    pub fn covers(&self, path: &str) -> bool {
        is_under(path, &self.prefix)
    }

    /// The bounded route label for spans and metrics: the prefix plus `/*`, e.g. `/tasks/*`.
    pub fn route_label(&self) -> String {
        format!("{}/*", self.prefix)
    }
}

/// Which paths and methods the pass-through forwards: additive [`Rule`]s plus denied prefixes
/// that override them. See the module docs for the `GATEWAY_PASSTHROUGH_ALLOW` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    rules: Vec<Rule>,
    denied: Vec<String>,
}

/// Areas readable and writable (GET, POST, PATCH) by default.
const DEFAULT_WRITE: &[&str] = &[
    "/tasks",
    "/calls",
    "/events",
    "/tickets",
    "/contacts",
    "/accounts",
];

/// Areas only readable (GET) by default. Kept apart from [`DEFAULT_WRITE`] so no area is listed
/// twice: everything readable is [`default_read`].
const DEFAULT_READ_ONLY: &[&str] = &[
    "/products",
    "/articles",
    "/kbRootCategories",
    "/teams",
    "/views",
    "/layouts",
    "/agents",
    "/departments",
    "/organizationFields",
];

/// Every area readable by default: the writable ones, then the read-only ones.
fn default_read() -> impl Iterator<Item = &'static str> {
    DEFAULT_WRITE.iter().chain(DEFAULT_READ_ONLY).copied()
}

impl Default for Allowlist {
    /// Read (`GET`) on the Desk areas a help-desk integration needs — tasks, calls, events,
    /// tickets, contacts, accounts, products, articles, `kbRootCategories`, teams, views,
    /// layouts, agents, departments, `organizationFields` — and create/update (`POST`, `PATCH`)
    /// on tasks, calls, events, tickets, contacts and accounts. Nothing deletes by default: no
    /// `DELETE`, no `PUT`, and each writable area's `moveToTrash` action (a delete sent as
    /// `POST`) is denied.
    fn default() -> Self {
        let rules = default_read()
            .map(|prefix| {
                let mut methods = vec![Method::GET];
                if DEFAULT_WRITE.contains(&prefix) {
                    methods.extend([Method::POST, Method::PATCH]);
                }
                Rule {
                    prefix: prefix.to_owned(),
                    methods,
                }
            })
            .collect();
        let denied = DEFAULT_WRITE
            .iter()
            .map(|area| format!("{area}/moveToTrash"))
            .collect();
        Allowlist { rules, denied }
    }
}

impl Allowlist {
    /// An allowlist that admits nothing.
    pub fn empty() -> Self {
        Allowlist {
            rules: Vec::new(),
            denied: Vec::new(),
        }
    }

    /// An allowlist from rules and denied prefixes; every prefix must pass [`normalize_path`] and
    /// every rule name at least one of Desk's methods.
    pub fn new(rules: Vec<Rule>, denied: Vec<String>) -> Result<Self, String> {
        for rule in &rules {
            check_prefix(&rule.prefix)?;
            if rule.methods.is_empty() {
                return Err(format!("the rule for {} names no method", rule.prefix));
            }
            if let Some(method) = rule.methods.iter().find(|m| !METHODS.contains(m)) {
                return Err(format!(
                    "method {method} is not one of GET, POST, PUT, PATCH, DELETE"
                ));
            }
        }
        for prefix in &denied {
            check_prefix(prefix)?;
        }
        Ok(Allowlist { rules, denied })
    }

    /// Parses a `GATEWAY_PASSTHROUGH_ALLOW` spec (syntax in the module docs).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut denied = Vec::new();
        for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(prefix) = entry.strip_prefix('!') {
                denied.push(prefix.trim().to_owned());
                continue;
            }
            let Some((methods, prefix)) = entry.split_once(':') else {
                return Err(format!(
                    "entry {} is not METHODS:/prefix or !/prefix",
                    excerpt(entry)
                ));
            };
            let mut parsed: Vec<Method> = Vec::new();
            for name in methods.split(',').map(str::trim) {
                let method = METHODS
                    .iter()
                    .find(|m| m.as_str().eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        format!(
                            "{} in entry {} is not one of GET, POST, PUT, PATCH, DELETE",
                            excerpt(name),
                            excerpt(entry)
                        )
                    })?;
                if !parsed.contains(method) {
                    parsed.push(method.clone());
                }
            }
            rules.push(Rule {
                prefix: prefix.trim().to_owned(),
                methods: parsed,
            });
        }
        Allowlist::new(rules, denied)
    }

    /// The allowlist named by `GATEWAY_PASSTHROUGH_ALLOW`'s value: the default when unset.
    pub fn from_config(value: Option<&str>) -> Result<Self, Problem> {
        match value {
            None => Ok(Allowlist::default()),
            Some(spec) => Allowlist::parse(spec)
                .map_err(|message| Problem::new(GATEWAY_PASSTHROUGH_ALLOW, message)),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The denied prefixes.
    pub fn denied(&self) -> &[String] {
        &self.denied
    }

    /// The rule that admits `method` on `path` (a [`normalize_path`] result), the one with the
    /// longest prefix when several do; `None` when the path is denied or no rule admits it.
    pub fn admits(&self, method: &Method, path: &str) -> Option<&Rule> {
        if self.is_denied(path) {
            return None;
        }
        self.rules
            .iter()
            .filter(|rule| rule.covers(path) && rule.methods.contains(method))
            .max_by_key(|rule| rule.prefix.len())
    }

    /// Every method some rule admits on `path` (for `Allow`), in Desk's order; empty when the
    /// path is denied or no rule covers it.
    pub fn allowed_methods(&self, path: &str) -> Vec<Method> {
        if self.is_denied(path) {
            return Vec::new();
        }
        METHODS
            .iter()
            .filter(|method| {
                self.rules
                    .iter()
                    .any(|rule| rule.covers(path) && rule.methods.contains(method))
            })
            .cloned()
            .collect()
    }

    fn is_denied(&self, path: &str) -> bool {
        self.denied.iter().any(|prefix| is_under(path, prefix))
    }
}

/// The spec syntax, which [`Allowlist::parse`] reads back.
impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<String> = self
            .rules
            .iter()
            .map(|rule| {
                let methods: Vec<&str> = rule.methods.iter().map(Method::as_str).collect();
                format!("{}:{}", methods.join(","), rule.prefix)
            })
            .collect();
        entries.extend(self.denied.iter().map(|prefix| format!("!{prefix}")));
        f.write_str(&entries.join(";"))
    }
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    normalize_path(prefix)
        .map(drop)
        .map_err(|rejection| format!("prefix {}: {rejection}", excerpt(prefix)))
}

/// A short, printable excerpt of config text for error messages.
fn excerpt(text: &str) -> String {
    let shown: String = text
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.chars().count() > 40 {
        format!("{shown:?}…")
    } else {
        format!("{shown:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- allowlist ------------------------------------------------------------------------------

    #[test]
    fn rules_match_whole_segments_and_methods() {
        let list = Allowlist::parse("GET,POST:/tasks; get:/products ;!/tasks/moveToTrash").unwrap();
        let get = &Method::GET;
        assert_eq!(list.admits(get, "/tasks").unwrap().prefix, "/tasks");
        assert_eq!(
            list.admits(get, "/tasks/123/x").unwrap().route_label(),
            "/tasks/*"
        );
        assert!(list.admits(get, "/tasksx").is_none());
        assert!(list.admits(get, "/task").is_none());
        assert!(list.admits(get, "/other/tasks").is_none());
        assert!(list.admits(&Method::POST, "/tasks/1").is_some());
        assert!(list.admits(&Method::POST, "/products").is_none());
        assert!(list.admits(&Method::DELETE, "/tasks/1").is_none());
        assert_eq!(list.allowed_methods("/products/1"), vec![Method::GET]);
        assert_eq!(
            list.allowed_methods("/tasks"),
            vec![Method::GET, Method::POST]
        );
        assert!(list.allowed_methods("/unknown").is_empty());
        // Denied prefixes override the rules, on segment boundaries too.
        assert!(list.admits(&Method::POST, "/tasks/moveToTrash").is_none());
        assert!(list.admits(&Method::POST, "/tasks/moveToTrash/x").is_none());
        assert!(list.allowed_methods("/tasks/moveToTrash").is_empty());
        assert!(list.admits(&Method::POST, "/tasks/moveToTrashX").is_some());
    }

    #[test]
    fn the_longest_admitting_prefix_labels_the_route() {
        let list = Allowlist::parse("GET:/tickets;GET:/tickets/search").unwrap();
        let rule = list.admits(&Method::GET, "/tickets/search").unwrap();
        assert_eq!(rule.route_label(), "/tickets/search/*");
        assert_eq!(
            list.admits(&Method::GET, "/tickets/1")
                .unwrap()
                .route_label(),
            "/tickets/*"
        );
    }

    #[test]
    fn the_default_reads_widely_writes_narrowly_and_never_deletes() {
        let list = Allowlist::default();
        for area in default_read() {
            assert!(
                list.admits(&Method::GET, &format!("{area}/1")).is_some(),
                "{area}"
            );
        }
        for area in DEFAULT_WRITE {
            assert!(list.admits(&Method::POST, area).is_some(), "{area}");
            assert!(
                list.admits(&Method::PATCH, &format!("{area}/1")).is_some(),
                "{area}"
            );
            assert!(
                list.admits(&Method::POST, &format!("{area}/moveToTrash"))
                    .is_none()
            );
        }
        assert!(list.admits(&Method::POST, "/products").is_none());
        assert!(list.admits(&Method::GET, "/organizations").is_none());
        for path in ["/tickets/1", "/tasks/1", "/contacts/1"] {
            assert!(list.admits(&Method::DELETE, path).is_none());
            assert!(list.admits(&Method::PUT, path).is_none());
        }
        // The spec form reads back to the same list.
        assert_eq!(Allowlist::parse(&list.to_string()), Ok(list));
    }

    #[test]
    fn parse_reports_syntax_errors() {
        for (spec, needle) in [
            ("/tasks", "not METHODS:/prefix"),
            ("GET /tasks", "not METHODS:/prefix"),
            ("FETCH:/tasks", "is not one of"),
            ("GET,:/tasks", "is not one of"),
            (":/tasks", "is not one of"),
            ("HEAD:/tasks", "is not one of"),
            ("GET:tasks", "must start with '/'"),
            ("GET:/", "empty path segments"),
            ("GET:/tasks/", "empty path segments"),
            ("GET:/tasks/../x", "'.' and '..'"),
            ("GET:/tas%6bs", "percent-encoded"),
            ("GET://evil.com", "scheme or host"),
            ("GET:", "the path is empty"),
            ("!", "the path is empty"),
            ("!/a/../b", "'.' and '..'"),
        ] {
            let error = Allowlist::parse(spec).unwrap_err();
            assert!(error.contains(needle), "{spec:?}: {error}");
        }
        // Empty entries are skipped; an empty spec admits nothing.
        assert_eq!(Allowlist::parse(" ; "), Ok(Allowlist::empty()));
        assert_eq!(
            Allowlist::parse("get , PATCH : /tasks ;").unwrap().rules(),
            &[Rule {
                prefix: "/tasks".into(),
                methods: vec![Method::GET, Method::PATCH],
            }]
        );
        assert_eq!(Allowlist::from_config(None), Ok(Allowlist::default()));
        let problem = Allowlist::from_config(Some("nope")).unwrap_err();
        assert_eq!(problem.variable, GATEWAY_PASSTHROUGH_ALLOW);
        // Long or binary config text is shown only as a short printable excerpt.
        let error = Allowlist::parse(&format!("GET\u{7}{}", "x".repeat(200))).unwrap_err();
        assert!(error.len() < 120 && !error.contains('\u{7}'), "{error}");
    }

    #[test]
    fn new_checks_rules() {
        let rule = |prefix: &str, methods: Vec<Method>| Rule {
            prefix: prefix.into(),
            methods,
        };
        assert!(Allowlist::new(vec![rule("/tasks", vec![])], vec![]).is_err());
        assert!(Allowlist::new(vec![rule("/tasks", vec![Method::HEAD])], vec![]).is_err());
        assert!(Allowlist::new(vec![rule("/tasks/", vec![Method::GET])], vec![]).is_err());
        assert!(Allowlist::new(vec![], vec!["x".into()]).is_err());
        assert!(Allowlist::new(vec![rule("/tasks", vec![Method::GET])], vec![]).is_ok());
    }
}
