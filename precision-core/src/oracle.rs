//! The oracle the searches ask ("does this plan pass, and with what errors"), and the adapter
//! that turns any [`Backend`] into one.

use std::time::Duration;

use serde::Serialize;

use crate::{BackendError, CompareError, LayerSet, Network, OutputComparison};

/// How much an evaluation should report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detail {
    /// Compare the network outputs only.
    NetworkOutputs,
    /// Also compare every layer output against its float32 reference (worst-first).
    EveryLayer,
}

/// The answer to one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Whether every network output matched its golden value on every input iteration.
    pub passed: bool,
    /// The builder's error text when the plan failed to build (then `passed` is false).
    pub build_error: Option<String>,
    /// Per network output comparisons (worst over the input iterations).
    pub outputs: Vec<OutputComparison>,
    /// Per layer-output comparisons, with [`Detail::EveryLayer`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_outputs: Option<Vec<OutputComparison>>,
    /// How the built engine differed from the plan (hints that did not apply).
    pub deviations: Vec<String>,
    /// Wall time of the check (build, runs and comparisons).
    pub duration: Duration,
}

/// Why a search had to stop.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The backend failed in a way that is not a failed check.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Outputs could not be compared with the goldens.
    #[error(transparent)]
    Compare(#[from] CompareError),
    /// The inputs or goldens given do not fit the network.
    #[error("{0}")]
    InvalidInput(String),
    /// The algorithm needs something the oracle cannot provide.
    #[error("{0}")]
    Unsupported(String),
}

/// Answers whether a set of marked layers passes. The searches see nothing else.
pub trait Oracle {
    /// The network whose layers the sets index.
    fn network(&self) -> &Network;

    /// Checks the plan with exactly `marked` layers in the higher precision.
    fn evaluate(&mut self, marked: &LayerSet, detail: Detail) -> Result<Evaluation, SearchError>;
}
