//! The answer to one check ([`Evaluation`]) and where its time went ([`CheckTiming`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::IsolatedMeasurement;
use crate::samples::SampleTally;
use crate::{BackendError, OutputComparison};

/// The answer to one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Whether every network output matched its golden value on every input iteration.
    pub passed: bool,
    /// The builder's error text when the plan failed to build (then `passed` is false).
    pub build_error: Option<String>,
    /// Per network output comparisons (worst over the input iterations).
    pub outputs: Vec<OutputComparison>,
    /// Per layer-output comparisons, with [`OutputSelection::EveryLayer`] and [`OutputSelection::Isolated`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_outputs: Option<Vec<OutputComparison>>,
    /// Isolated errors per layer output (worst over the input iterations), with
    /// [`OutputSelection::Isolated`] on backends that can isolate layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated: Option<Vec<IsolatedMeasurement>>,
    /// How the built engine differed from the plan (hints that did not apply).
    pub deviations: Vec<String>,
    /// Wall time of the check (build, runs and comparisons).
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Whether the answer was taken from an earlier run's journal instead of being built.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The layers the builder refused when the plan failed to build and the backend named
    /// them ([`BackendError::Refused`]); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<usize>,
    /// How many samples (input iterations) the check ran and passed, and the first that
    /// failed with their errors; absent when the plan did not build or for answers from
    /// older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<SampleTally>,
    /// The external check command's verdict on the plan, when one ran (`--check`); `passed`
    /// then includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<crate::CommandOutcome>,
    /// Where the check's time went (engine build, first run); absent for failed builds,
    /// answers from journals, and checks not run by [`super::BackendOracle`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<CheckTiming>,
}

/// Where one check's time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTiming {
    /// Building the engine (session creation, engine build).
    #[serde(with = "secs")]
    pub build: Duration,
    /// The engine's first run (on the first sample), where GPU kernels are chosen.
    #[serde(with = "secs")]
    pub first_run: Duration,
}

impl Evaluation {
    /// A check whose plan failed to build with `text`.
    #[must_use]
    pub fn build_failure(text: String, duration: Duration) -> Self {
        Evaluation {
            passed: false,
            build_error: Some(text),
            outputs: Vec::new(),
            layer_outputs: None,
            isolated: None,
            deviations: Vec::new(),
            duration,
            reused: false,
            refused: Vec::new(),
            samples: None,
            command: None,
            timing: None,
        }
    }

    /// A check whose plan failed to build with `error` ([`BackendError::is_build_failure`]),
    /// keeping the layers the builder refused; `None` for any other error.
    #[must_use]
    pub fn failed_build(error: &BackendError, duration: Duration) -> Option<Self> {
        let message = error.build_message()?;
        Some(Evaluation {
            refused: error.refused_layers().to_vec(),
            ..Evaluation::build_failure(message.to_owned(), duration)
        })
    }
}

/// Durations as seconds (a float) in JSON.
pub(crate) mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
