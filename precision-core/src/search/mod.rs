//! The precision searches: bisect, linear and worst-first, over an [`Oracle`].

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{BackendError, Detail, LayerSet, Network, Oracle, OutputComparison, SearchError};

mod bisect;
mod linear;
mod worst_first;

pub use bisect::{bisect, bisect_budget};
pub use linear::{linear, linear_budget};
pub use worst_first::{LayerSensitivity, rank_layers, worst_first, worst_first_budget};

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
    #[serde(with = "crate::oracle::secs")]
    pub duration: Duration,
    /// The round the check ran in: checks of one round run at once (`--jobs`), 1-based.
    pub round: usize,
    /// Whether the answer came from the journal of an earlier run instead of a build.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
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
    /// Whether the search ran to its end. `false` when a budget (`--max-checks`,
    /// `--time-budget`) stopped it: `answer` is then the smallest passing set seen so far,
    /// not a minimal one.
    pub complete: bool,
    /// Why the search stopped early, when it did.
    pub stop_reason: Option<String>,
    /// The check with every markable layer marked, made before the search, if it was made.
    pub noise_floor: Option<NoiseFloor>,
    /// Each markable layer's measured error contribution, when the search measured it
    /// (ranked, worst-first, `--minimize`), in layer order.
    pub sensitivity: Vec<LayerSensitivity>,
    /// The most checks the search said it would make before it started.
    pub budget: Option<usize>,
    /// The size of the answer before `--minimize` pruned it (ranked always prunes).
    pub minimized_from: Option<usize>,
}

impl SearchOutcome {
    /// A complete outcome with nothing measured besides the checks.
    #[must_use]
    pub fn new(
        algorithm: Algorithm,
        direction: Option<Direction>,
        answer: Option<LayerSet>,
        iterations: Vec<Iteration>,
    ) -> Self {
        SearchOutcome {
            algorithm,
            direction,
            answer,
            iterations,
            complete: true,
            stop_reason: None,
            noise_floor: None,
            sensitivity: Vec::new(),
            budget: None,
            minimized_from: None,
        }
    }

    /// The number of rounds (checks of a round run at once).
    #[must_use]
    pub fn rounds(&self) -> usize {
        self.iterations.iter().map(|i| i.round).max().unwrap_or(0)
    }
}

/// The noise floor: the network outputs with every markable layer in the higher precision.
/// If this fails, no search can pass; the comparisons tell which tolerances would be needed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoiseFloor {
    /// Whether the plan with every markable layer marked passed.
    pub passed: bool,
    /// Its per network output comparisons (`required_atol`/`required_rtol` are the floor).
    pub outputs: Vec<OutputComparison>,
}

impl Default for SearchOptions {
    /// The original tool's defaults: bisect, reverse, `top_k` 5.
    fn default() -> Self {
        SearchOptions {
            algorithm: Algorithm::Bisect,
            direction: Direction::Reverse,
            top_k: DEFAULT_TOP_K,
        }
    }
}

/// The default number of layers worst-first adds per check (`--top`).
pub const DEFAULT_TOP_K: usize = 5;

/// Runs the search `options` describe.
///
/// Bisect and linear use `options.direction`; worst-first uses `options.top_k`.
pub fn run_search(
    oracle: &mut dyn Oracle,
    options: &SearchOptions,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    match options.algorithm {
        Algorithm::Bisect => bisect(oracle, options.direction, observer),
        Algorithm::Linear => linear(oracle, options.direction, observer),
        Algorithm::WorstFirst => worst_first(oracle, options.top_k, observer),
    }
}

/// The layers bisect and linear choose from: the indices of the markable layers, in
/// topological order. Layers with an `unmarkable_reason` are never marked; they always run in
/// the lowest enabled precision.
#[must_use]
pub fn candidates(network: &Network) -> Vec<usize> {
    network.layers.iter().filter(|l| l.is_markable()).map(|l| l.index).collect()
}

/// The set marking `n` of `candidates`: the first `n` going [`Direction::Forward`], the last
/// `n` going [`Direction::Reverse`]. `n` is clamped to `candidates.len()`.
///
/// `universe` is the number of layers in the network; every candidate must be below it.
#[must_use]
pub fn edge_set(universe: usize, candidates: &[usize], direction: Direction, n: usize) -> LayerSet {
    let n = n.min(candidates.len());
    let chosen = match direction {
        Direction::Forward => &candidates[..n],
        Direction::Reverse => &candidates[candidates.len() - n..],
    };
    LayerSet::from_indices(universe, chosen.iter().copied())
}

/// `ceil(log2(x))` for `x >= 1` (0 for `x <= 1`).
pub(crate) fn ceil_log2(x: usize) -> usize {
    if x <= 1 { 0 } else { (usize::BITS - (x - 1).leading_zeros()) as usize }
}

/// Tells the observer how many layers can never be marked, if any.
fn note_unmarkable(network: &Network, observer: &mut dyn Observer) {
    let unmarkable = network.layers.iter().filter(|l| !l.is_markable()).count();
    if unmarkable > 0 {
        observer.note(&format!(
            "{unmarkable} of {} layers cannot be marked (see `precision layers` for why); the \
             searches leave them out",
            network.len()
        ));
    }
}

/// What the searches learn from one check.
pub(crate) struct Checked {
    /// Whether the check passed (false when the plan failed to build).
    pub passed: bool,
    /// The per layer-output comparisons, when the oracle returned them.
    pub layer_outputs: Option<Vec<OutputComparison>>,
}

/// Makes every check of a search: calls the oracle, times it, tells the observer and logs an
/// [`Iteration`]. Nothing else in the searches calls the oracle.
pub(crate) struct Checker<'a> {
    oracle: &'a mut dyn Oracle,
    observer: &'a mut dyn Observer,
    iterations: Vec<Iteration>,
}

impl<'a> Checker<'a> {
    /// Starts a search: tells the observer (with the check budget, if known) and notes the
    /// unmarkable layers.
    pub fn start(
        oracle: &'a mut dyn Oracle,
        observer: &'a mut dyn Observer,
        algorithm: Algorithm,
        max_checks: Option<usize>,
    ) -> Self {
        observer.search_started(algorithm, oracle.network(), max_checks);
        note_unmarkable(oracle.network(), observer);
        Checker { oracle, observer, iterations: Vec::new() }
    }

    /// The network being searched.
    pub fn network(&self) -> &Network {
        self.oracle.network()
    }

    /// Passes a remark on to the observer.
    pub fn note(&mut self, message: &str) {
        self.observer.note(message);
    }

    /// Checks `marked`. A plan that fails to build is a failed check; any other error stops the
    /// search.
    pub fn check(&mut self, marked: LayerSet, detail: Detail) -> Result<Checked, SearchError> {
        let number = self.iterations.len() + 1;
        self.observer.check_started(number, &marked);
        let start = Instant::now();
        let result = self.oracle.evaluate(&marked, detail);
        let duration = start.elapsed();
        let (iteration, layer_outputs) = match result {
            Ok(eval) => (
                Iteration {
                    marked,
                    passed: eval.passed && eval.build_error.is_none(),
                    build_error: eval.build_error,
                    outputs: eval.outputs,
                    deviations: eval.deviations,
                    duration,
                    round: number,
                    reused: eval.reused,
                },
                eval.layer_outputs,
            ),
            Err(SearchError::Backend(BackendError::Build(text))) => (
                Iteration {
                    marked,
                    passed: false,
                    build_error: Some(text),
                    outputs: Vec::new(),
                    deviations: Vec::new(),
                    duration,
                    round: number,
                    reused: false,
                },
                None,
            ),
            Err(e) => return Err(e),
        };
        self.observer.check_finished(number, &iteration);
        let passed = iteration.passed;
        self.iterations.push(iteration);
        Ok(Checked { passed, layer_outputs })
    }

    /// The build error of the last check, if it failed to build.
    pub fn last_build_error(&self) -> Option<&str> {
        self.iterations.last().and_then(|i| i.build_error.as_deref())
    }

    /// The network output comparisons of the last check.
    pub fn last_outputs(&self) -> &[OutputComparison] {
        self.iterations.last().map_or(&[], |i| i.outputs.as_slice())
    }

    /// Ends the search.
    pub fn finish(
        self,
        algorithm: Algorithm,
        direction: Option<Direction>,
        answer: Option<LayerSet>,
    ) -> SearchOutcome {
        SearchOutcome {
            algorithm,
            direction,
            answer,
            iterations: self.iterations,
            complete: true,
            stop_reason: None,
            noise_floor: None,
            sensitivity: Vec::new(),
            budget: None,
            minimized_from: None,
        }
    }
}
