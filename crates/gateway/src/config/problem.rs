//! What is wrong with a configuration: [`Problem`], [`ConfigError`] and the exit code. A leaf:
//! it imports nothing from the crate, so any module that reports configuration problems (the
//! API-key parser, the pass-through allowlist) can use it without depending on the loader.

use std::fmt;

/// Exit code for invalid configuration (`EX_CONFIG` in `sysexits.h`).
pub const EXIT_CONFIG: i32 = 64;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable (or file) at fault.
    pub variable: &'static str,
    /// What is wrong, without the value when the variable is a secret.
    pub message: String,
}

impl Problem {
    /// A problem with `variable`.
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Problem {
            variable,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Everything wrong with the configuration; the binary prints it and exits with
/// [`EXIT_CONFIG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Each problem, in the order found.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub(super) fn single(variable: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem::new(variable, message)],
        }
    }

    /// The process exit code for this error: [`EXIT_CONFIG`].
    pub fn exit_code(&self) -> i32 {
        EXIT_CONFIG
    }

    /// Whether some problem concerns `variable`.
    pub fn mentions(&self, variable: &str) -> bool {
        self.problems.iter().any(|p| p.variable == variable)
    }
}

impl From<Vec<Problem>> for ConfigError {
    fn from(problems: Vec<Problem>) -> Self {
        ConfigError { problems }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid configuration ({n} problem{}):",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// An I/O error as a short reason for a message (without the OS wording that varies by platform).
pub fn io_error_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::InvalidData => "not valid UTF-8".to_owned(),
        kind => kind.to_string(),
    }
}
