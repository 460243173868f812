//! What an external check command said about one check (`--check CMD...` in the CLI).
//!
//! The command runs outside this crate (it does no I/O); the CLI records its verdict here so
//! that the searches, the journal and the report carry it along with the built-in comparison.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The verdict of an external check command on one plan's artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// Whether the command passed (by its exit code and output, under the user's
    /// `--fail-code`, `--ignore-fail-code` and `--fail-regex` rules; a timeout never passes).
    pub passed: bool,
    /// How it ended, for people: `exit code 0`, `killed by signal 11`, `timed out after 5s`.
    pub status: String,
    /// The exit code, when the command exited by itself (not by a signal or a timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended the command, when one did (a crash, or the kill of a timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Whether the command ran past its time limit and was killed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The number `--metric-regex` took from its output, when it matched one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<f64>,
    /// The last lines of its output when it failed (shortened), to say why.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output_tail: String,
    /// The artifact the command checked, when it was kept (`--keep-artifacts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// How long the command ran.
    #[serde(with = "crate::oracle::secs")]
    pub duration: Duration,
}

impl CommandOutcome {
    /// A short summary for a progress line: `command passed (exit code 0, metric 0.912)`.
    #[must_use]
    pub fn summary(&self) -> String {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        let metric = self.metric.map_or_else(String::new, |m| format!(", metric {m}"));
        format!("command {verdict} ({}{metric}, {:.2}s)", self.status, self.duration.as_secs_f64())
    }
}
