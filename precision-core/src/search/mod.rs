//! The precision searches: bisect, linear and worst-first, over an [`Oracle`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::{LayerSet, Network, Oracle, OutputComparison, SearchError};

/// A search algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Binary search for the shortest passing prefix or suffix.
    Bisect,
    /// Grow the prefix or suffix one layer at a time.
    Linear,
    /// Mark the layers that add the most error first, `top_k` more per check.
    WorstFirst,
}

impl Algorithm {
    /// The name as written on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Bisect => "bisect",
            Algorithm::Linear => "linear",
            Algorithm::WorstFirst => "worst-first",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which end of the network bisect and linear mark from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Mark a prefix: the first n markable layers.
    Forward,
    /// Mark a suffix: the last n markable layers (the original tool's default).
    #[default]
    Reverse,
}

impl FromStr for Direction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "forward" => Ok(Direction::Forward),
            "reverse" => Ok(Direction::Reverse),
            _ => Err(format!("invalid direction '{s}' (expected forward or reverse)")),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        })
    }
}

/// One check made by a search, as recorded in the log and the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Iteration {
    /// The layers marked in this check.
    pub marked: LayerSet,
    /// Whether the check passed.
    pub passed: bool,
    /// The build error, when the plan failed to build.
    pub build_error: Option<String>,
    /// Per network output comparisons.
    pub outputs: Vec<OutputComparison>,
    /// How the built engine differed from the plan.
    pub deviations: Vec<String>,
    /// Wall time of the check.
    #[serde(serialize_with = "serialize_secs")]
    pub duration: Duration,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Receives progress while a search runs (the CLI draws a progress bar; a library user logs).
/// Every method does nothing by default.
pub trait Observer {
    /// The search began; `max_checks` is an upper bound on the checks it will make, if known.
    fn search_started(
        &mut self,
        algorithm: Algorithm,
        network: &Network,
        max_checks: Option<usize>,
    ) {
        let _ = (algorithm, network, max_checks);
    }

    /// A check is about to run.
    fn check_started(&mut self, number: usize, marked: &LayerSet) {
        let _ = (number, marked);
    }

    /// A check finished.
    fn check_finished(&mut self, number: usize, iteration: &Iteration) {
        let _ = (number, iteration);
    }

    /// A remark for the user (for example why worst-first skipped a layer).
    fn note(&mut self, message: &str) {
        let _ = message;
    }
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// What to search for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The direction for bisect and linear.
    pub direction: Direction,
    /// How many more layers worst-first marks per check (`--top`, default 5).
    pub top_k: usize,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchOutcome {
    /// The algorithm that ran.
    pub algorithm: Algorithm,
    /// The direction, for bisect and linear.
    pub direction: Option<Direction>,
    /// The passing set of marked layers found, or `None` when no configuration passed.
    pub answer: Option<LayerSet>,
    /// Every check made, in order.
    pub iterations: Vec<Iteration>,
}

/// Runs the search `options` describe.
pub fn run_search(
    oracle: &mut dyn Oracle,
    options: &SearchOptions,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    let _ = (oracle, options, observer);
    todo!("implemented by the search work")
}
