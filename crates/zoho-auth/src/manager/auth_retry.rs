//! The 401 rule, written once for every client of Zoho's APIs: when Zoho refuses an access token
//! as unauthorized (Desk's 401 `INVALID_OAUTH`), the caller drops that exact token and runs the
//! operation once more with a fresh one — once, never twice, so a dead credential cannot make a
//! loop. Each retry is counted in `zoho_token_auth_retries_total`, by whether it got past the
//! rejection. [`TokenManager::with_token`](crate::TokenManager::with_token) applies it around a
//! closure; a client with its own retry loop (the Desk client) keeps one per call.

use super::events;

/// Where one operation stands in the 401 rule. Start one per operation and feed it the verdict
/// of every attempt (see [`AuthRetry::after_attempt`]).
#[derive(Debug, Default)]
pub struct AuthRetry {
    stage: Stage,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No rejection yet.
    #[default]
    Fresh,
    /// Rejected once; the retry with a fresh token is under way.
    Retrying,
    /// The retry's verdict is in (and counted).
    Settled,
}

impl AuthRetry {
    /// A new operation.
    pub fn new() -> Self {
        AuthRetry::default()
    }

    /// Takes the verdict of the latest attempt — `rejected`: Zoho refused its token as
    /// unauthorized — and returns whether to run the operation once more. `true` only for the
    /// first rejection: the caller then drops that token from its source (e.g.
    /// [`TokenManager::invalidate`](crate::TokenManager::invalidate)) and tries again with a
    /// fresh one. The verdict after that retry is counted, once, as recovered unless rejected
    /// again; later verdicts (other retries of the same operation) change nothing.
    pub fn after_attempt(&mut self, rejected: bool) -> bool {
        match (self.stage, rejected) {
            (Stage::Fresh, true) => {
                self.stage = Stage::Retrying;
                true
            }
            (Stage::Retrying, _) => {
                self.stage = Stage::Settled;
                events::auth_retry_ended(!rejected);
                false
            }
            (Stage::Fresh, false) | (Stage::Settled, _) => false,
        }
    }

    /// Whether the one retry has been granted.
    pub fn retried(&self) -> bool {
        self.stage != Stage::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    /// Runs `verdicts` through one `AuthRetry`: the answers, and the counts by `recovered`.
    fn run(verdicts: &[bool]) -> (Vec<bool>, Vec<(String, u64)>) {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let answers = metrics::with_local_recorder(&recorder, || {
            let mut retry = AuthRetry::new();
            verdicts.iter().map(|&v| retry.after_attempt(v)).collect()
        });
        let counts = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| {
                let key = key.key();
                let recovered = key.labels().find(|l| l.key() == "recovered")?;
                match value {
                    DebugValue::Counter(n) => Some((recovered.value().to_owned(), n)),
                    _ => None,
                }
            })
            .collect();
        (answers, counts)
    }

    #[test]
    fn an_accepted_token_is_neither_retried_nor_counted() {
        assert_eq!(run(&[false]), (vec![false], vec![]));
    }

    #[test]
    fn the_first_rejection_is_retried_once_and_counted_by_its_outcome() {
        assert_eq!(
            run(&[true, false]),
            (vec![true, false], vec![("true".into(), 1)])
        );
        assert_eq!(
            run(&[true, true]),
            (vec![true, false], vec![("false".into(), 1)])
        );
    }

    #[test]
    fn later_verdicts_of_the_same_operation_neither_retry_nor_count_again() {
        assert_eq!(
            run(&[true, false, true, true, false]),
            (
                vec![true, false, false, false, false],
                vec![("true".into(), 1)]
            )
        );
    }
}
