//! The precision searches over an [`Oracle`]: bisect, linear, worst-first and ranked, with
//! optional pruning to a 1-minimal set, within [`Limits`].
//!
//! [`run_search`] checks the noise floor (every markable layer marked), runs the algorithm and
//! prunes; [`search_budget`] says how many checks that may take. This module also holds what
//! the searches share: [`Algorithm`], [`Check`] (the record of one check), the [`Observer`]
//! of progress, [`SearchOutcome`], and `smallest_passing`, the `(P+1)`-ary bisection that
//! bisect and ranked share. Every check goes through the `Checker` (`checker.rs`: limits,
//! rounds of parallel checks, the log of checks, a memo so no plan is checked twice, the best
//! passing set for anytime answers). Each algorithm has its module.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::{LayerSet, Network, Oracle, OutputComparison, SearchError};

mod bisect;
mod checker;
mod curve;
mod linear;
mod minimize;
mod ranked;
mod worst_first;

pub use bisect::{bisect, bisect_budget, bisect_rounds};
pub(crate) use checker::{Checker, Stop};
pub use curve::{CURVE_POINTS, CurvePoint, curve_heads};
pub use linear::{linear, linear_budget};
pub use minimize::{Prune, prune_budget};
pub use ranked::{prune_after_head, ranked, ranked_budget, sensitivity_order};
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
    /// Rank the layers by their isolated error, binary-search the length of the ranked list,
    /// then prune the answer to a 1-minimal set.
    Ranked,
}

impl Algorithm {
    /// The name as written on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Bisect => "bisect",
            Algorithm::Linear => "linear",
            Algorithm::WorstFirst => "worst-first",
            Algorithm::Ranked => "ranked",
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
pub struct Check {
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
    /// How many samples the check ran and passed, and the first that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<crate::SampleTally>,
    /// The external check command's verdict, when one ran (`--check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<crate::CommandOutcome>,
    /// Where the check's time went (engine build, first run), when the oracle measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<crate::CheckTiming>,
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
    fn check_finished(&mut self, number: usize, check: &Check) {
        let _ = (number, check);
    }

    /// A remark for the user (for example why worst-first skipped a layer).
    fn note(&mut self, message: &str) {
        let _ = message;
    }

    /// The search revised its upper bound on the checks it will make (for example once the
    /// ranked search knows how many layers it has to prune).
    fn budget_changed(&mut self, max_checks: usize) {
        let _ = max_checks;
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
    /// Prune the answer of bisect, linear or worst-first to a 1-minimal set (`--minimize`;
    /// ranked always does).
    pub minimize: bool,
    /// Check the plan with every markable layer marked before searching, and stop at once
    /// if even that fails (the tolerance is below the backend's noise floor).
    pub noise_floor: bool,
    /// When to stop early with the best answer so far.
    pub limits: Limits,
    /// Layers marked in every plan from the start (the FP16 pre-screen's): the searches choose
    /// among the other markable layers, and every check, the answer and the noise floor
    /// include these. Each must be a markable layer of the network.
    pub kept: Vec<usize>,
    /// How pruning (ranked's, and `--minimize`) removes layers: one at a time or in blocks
    /// (`--prune`).
    pub prune: Prune,
    /// Ranked only: after the answer, measure the trade-off curve ([`CurvePoint`]): the
    /// error of up to [`CURVE_POINTS`] heads of the ranking, from none to every candidate
    /// (`--curve`). Heads the search checked cost nothing; the others are checks.
    pub curve: bool,
}

/// Budgets after which a search stops and answers with the smallest passing set it has seen
/// (an anytime answer, not a minimal one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// The most checks to build (`--max-checks`). Answers taken from a journal are free.
    pub max_checks: Option<usize>,
    /// The most wall time to spend (`--time-budget`); a check is never interrupted, but none
    /// starts after the time is spent.
    pub time_budget: Option<Duration>,
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
    pub checks: Vec<Check>,
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
    /// The layers worst-first (or ranked) marked from the start because the plan with
    /// nothing marked failed to build and the builder named them as refused in the lower
    /// precision; empty when it did not.
    pub refused: Vec<usize>,
    /// The layers every check marked from the start ([`SearchOptions::kept`]); they are part
    /// of the answer.
    pub kept: Vec<usize>,
    /// The ranked search's order, most sensitive first (layers the builder refused first;
    /// kept layers left out): its heads are the plans the curve and `export --keep` use.
    pub ranking: Vec<usize>,
    /// The trade-off curve (`--curve`), by layers marked; empty when not measured.
    pub curve: Vec<CurvePoint>,
}

impl SearchOutcome {
    /// A complete outcome with nothing measured besides the checks.
    #[must_use]
    pub fn new(
        algorithm: Algorithm,
        direction: Option<Direction>,
        answer: Option<LayerSet>,
        checks: Vec<Check>,
    ) -> Self {
        SearchOutcome {
            algorithm,
            direction,
            answer,
            checks,
            complete: true,
            stop_reason: None,
            noise_floor: None,
            sensitivity: Vec::new(),
            budget: None,
            minimized_from: None,
            refused: Vec::new(),
            kept: Vec::new(),
            ranking: Vec::new(),
            curve: Vec::new(),
        }
    }

    /// The number of rounds (checks of a round run at once).
    #[must_use]
    pub fn rounds(&self) -> usize {
        self.checks.iter().map(|i| i.round).max().unwrap_or(0)
    }

    /// The passing check of the answer, if found (its comparisons carry the headroom).
    #[must_use]
    pub fn answer_check(&self) -> Option<&Check> {
        let answer = self.answer.as_ref()?;
        self.checks.iter().rev().find(|it| it.passed && &it.marked == answer)
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
    /// The original tool's defaults: bisect, reverse, `top_k` 5, no floor check, no pruning,
    /// no limits.
    fn default() -> Self {
        SearchOptions {
            algorithm: Algorithm::Bisect,
            direction: Direction::Reverse,
            top_k: DEFAULT_TOP_K,
            minimize: false,
            noise_floor: false,
            limits: Limits::default(),
            kept: Vec::new(),
            prune: Prune::Single,
            curve: false,
        }
    }
}

impl SearchOptions {
    /// The defaults with `algorithm`.
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        SearchOptions { algorithm, ..SearchOptions::default() }
    }
}

/// The default number of layers worst-first adds per check (`--top`).
pub const DEFAULT_TOP_K: usize = 5;

/// The most checks the search `options` describes makes on `network` with `jobs` checks per
/// round, counting the floor check and (for `--minimize`) the pruning of the largest possible
/// answer. `None` when a budget cannot be stated.
///
/// A passing floor check answers the plan with every markable layer marked, so no search
/// checks it again: bisect then needs `ceil(log2(c + 1))` checks after the floor (see
/// [`smallest_passing`]), linear `c` and worst-first `ceil(c / top_k)` (its last, full set
/// is known). `c` counts the markable layers not kept from the start
/// ([`SearchOptions::kept`]). With `P > 1` checks per round, bisect's and ranked's length
/// searches are bounded by their rounds times `P`, and pruning by `P` times its own budget.
#[must_use]
pub fn search_budget(options: &SearchOptions, network: &Network, jobs: usize) -> Option<usize> {
    let c = candidates(network).iter().filter(|i| !options.kept.contains(i)).count();
    let floor = usize::from(options.noise_floor);
    let search = match options.algorithm {
        Algorithm::Bisect if options.noise_floor => {
            if jobs <= 1 {
                ceil_log2(c + 1)
            } else {
                (bisect_rounds(c, jobs) - 1) * jobs
            }
        }
        Algorithm::Bisect => {
            if jobs <= 1 {
                bisect_budget(c)
            } else {
                bisect_rounds(c, jobs) * jobs
            }
        }
        Algorithm::Linear => linear_budget(c) - floor,
        Algorithm::WorstFirst if options.noise_floor => c.div_ceil(options.top_k.max(1)),
        Algorithm::WorstFirst => worst_first_budget(c, options.top_k),
        Algorithm::Ranked => {
            let curve = if options.curve { CURVE_POINTS } else { 0 };
            if jobs <= 1 {
                return Some(floor + ranked_budget(c, c, options.prune) + curve);
            }
            let find = bisect_rounds(c, jobs) * jobs;
            let prune = prune_after_head(c, options.prune) * jobs;
            return Some(floor + 1 + find + prune + curve);
        }
    };
    // With P checks per round, pruning may spend a round of P checks on each layer it removes
    // (the first removal of the round passes; the others are tried again from the new set).
    let prune = if options.minimize { prune_budget(c, options.prune) * jobs.max(1) } else { 0 };
    Some(floor + search + prune)
}

/// Runs the search `options` describe: the floor check if asked, the algorithm, and the
/// pruning if asked, within `options.limits`.
///
/// Bisect and linear use `options.direction`; worst-first uses `options.top_k`.
pub fn run_search(
    oracle: &mut dyn Oracle,
    options: &SearchOptions,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    if options.algorithm == Algorithm::WorstFirst && options.top_k == 0 {
        return Err(SearchError::InvalidOption(
            "worst-first needs --top of at least 1 (the number of layers to add per check), got 0"
                .into(),
        ));
    }
    let kept = kept_set(oracle.network(), &options.kept)?;
    let budget = search_budget(options, oracle.network(), oracle.jobs());
    observer.search_started(options.algorithm, oracle.network(), budget);
    note_unmarkable(oracle.network(), observer);
    let mut checker = Checker::new(oracle, observer, options.limits);
    checker.budget = budget;
    checker.kept = kept;
    let direction = match options.algorithm {
        Algorithm::Bisect | Algorithm::Linear => Some(options.direction),
        Algorithm::WorstFirst | Algorithm::Ranked => None,
    };
    let result = drive(&mut checker, options).map(|answer| answer.map(|a| checker.with_kept(a)));
    let mut curve = Vec::new();
    if options.curve
        && let Ok(Some(answer)) = &result
        && let Some(k) = checker.shortest_head
    {
        let ranking = checker.ranking.clone();
        let refused = checker.refused.len();
        curve = match curve::measure(&mut checker, &ranking, refused, k, answer) {
            Ok(points) => points,
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::Budget(_)) => Vec::new(),
        };
    }
    let (answer, complete, stop_reason) = match result {
        Ok(answer) => (answer, true, None),
        Err(Stop::Budget(reason)) => (checker.best_passing(), false, Some(reason)),
        Err(Stop::Failed(e)) => return Err(e),
    };
    Ok(SearchOutcome {
        algorithm: options.algorithm,
        direction,
        answer,
        checks: checker.checks,
        complete,
        stop_reason,
        noise_floor: checker.noise_floor,
        sensitivity: checker.sensitivity,
        budget,
        minimized_from: checker.minimized_from,
        refused: checker.refused.to_vec(),
        kept: checker.kept.to_vec(),
        ranking: std::mem::take(&mut checker.ranking),
        curve,
    })
}

/// The kept layers as a set, refusing an index outside the network or of a layer that cannot
/// be marked.
fn kept_set(network: &Network, kept: &[usize]) -> Result<LayerSet, SearchError> {
    let mut set = LayerSet::empty(network.len());
    for &i in kept {
        match network.layers.get(i) {
            None => {
                return Err(SearchError::InvalidOption(format!(
                    "layer {i} is to be kept from the start, but the network has {} layers",
                    network.len()
                )));
            }
            Some(layer) if !layer.is_markable() => {
                return Err(SearchError::InvalidOption(format!(
                    "layer '{}' is to be kept from the start, but it cannot be marked",
                    layer.name
                )));
            }
            Some(_) => set.insert(i),
        }
    }
    Ok(set)
}

/// The floor check, the algorithm and the pruning.
fn drive(checker: &mut Checker<'_>, options: &SearchOptions) -> Result<Option<LayerSet>, Stop> {
    if options.noise_floor && !checker.check_noise_floor()? {
        return Ok(None);
    }
    let answer = match options.algorithm {
        Algorithm::Bisect => bisect::search(checker, options.direction)?,
        Algorithm::Linear => linear::search(checker, options.direction)?,
        Algorithm::WorstFirst => worst_first::search(checker, options.top_k)?,
        Algorithm::Ranked => return ranked::search(checker, options.prune),
    };
    match answer {
        Some(answer) if options.minimize => {
            let order = minimize::removal_order(checker, &answer, options);
            minimize::prune(checker, answer, &order, options.prune).map(Some)
        }
        other => Ok(other),
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

/// Finds the smallest `n` in `0..=c` whose `set_for(n)` passes, by a `(P+1)`-ary search with
/// `P` = [`Checker::jobs`] checks per round, using what earlier checks already showed.
///
/// With one check per round this is the original tool's bisection exactly (see
/// [`bisect::bisect`]): `n = 0` first, then `ceil((known_bad + known_good) / 2)`. With `P`
/// per round, the first round checks `n = 0` and `P - 1` points spread over the rest, and each
/// later round `P` points spread evenly over the open interval between the largest failing
/// and the smallest passing `n`. For an oracle monotone in `n` every `P` gives the same
/// answer, the minimal passing `n`; with `P > 1` the rounds are at most
/// `ceil(log_{P+1}(c + 1)) + 1` ([`bisect_rounds`]).
///
/// When an earlier check (the floor check) already showed that `n = c` passes and nothing
/// is known to fail, `n = 0` is not checked first: the answer is one of the `c + 1` values
/// `0..=c`, and the search splits the interval `(-1, c]` (a virtual failing `n = -1`), so it
/// makes at most `ceil(log2(c + 1))` checks, or `ceil(log_{P+1}(c + 1))` rounds: with the
/// floor check, `ceil(log2(c + 1)) + 1` in all, the information bound plus the floor. Each
/// round of `P` points spread evenly over a gap `g` leaves a gap of at most
/// `ceil(g / (P + 1))`, and `ceil(ceil(g / a) / b) = ceil(g / (a * b))`, so `r` rounds take a
/// gap of `c + 1` down to 1 once `(P + 1)^r >= c + 1`.
pub(crate) fn smallest_passing(
    checker: &mut Checker<'_>,
    c: usize,
    set_for: &dyn Fn(usize) -> LayerSet,
) -> Result<Option<usize>, Stop> {
    // `good`: the smallest n known to pass (c + 1: none known). `bad`: the largest n below it
    // known to fail.
    let mut good = if checker.known(&set_for(c)) == Some(true) { c } else { c + 1 };
    let mut failed: Vec<usize> = Vec::new();
    match checker.known(&set_for(0)) {
        Some(true) => return Ok(Some(0)),
        Some(false) => failed.push(0),
        None => {}
    }
    let jobs = checker.jobs();
    loop {
        let bad = failed.iter().copied().filter(|&n| n < good).max();
        let points: Vec<usize> = match bad {
            // Only the floor's `n = c` is known: split `(-1, good]`, shifted up by one.
            None if good <= c => spread(0, good + 1, jobs).into_iter().map(|m| m - 1).collect(),
            None => {
                let mut points = vec![0];
                points.extend(spread(0, good, jobs - 1));
                points
            }
            Some(bad) if good - bad <= 1 => break,
            Some(bad) => spread(bad, good, jobs),
        };
        let results = checker.check_many(points.iter().map(|&n| set_for(n)).collect())?;
        for (&n, passed) in points.iter().zip(results) {
            if passed {
                good = good.min(n);
            } else {
                failed.push(n);
            }
        }
        if good == 0 {
            break;
        }
    }
    Ok((good <= c).then_some(good))
}

/// Checks `sets` in order, up to [`Checker::jobs`] per round, and returns the first that
/// passes; sets whose answer is already known are not checked again. With several checks per
/// round the later sets of a round are checked even when an earlier one passes, and the answer
/// is the same as checking one at a time.
pub(crate) fn first_passing(
    checker: &mut Checker<'_>,
    sets: impl IntoIterator<Item = LayerSet>,
) -> Result<Option<LayerSet>, Stop> {
    let mut sets = sets.into_iter().peekable();
    let jobs = checker.jobs();
    loop {
        let mut round: Vec<LayerSet> = Vec::new();
        while round.len() < jobs {
            let Some(next) = sets.peek() else { break };
            match checker.known(next) {
                None => round.extend(sets.next()),
                Some(_) if !round.is_empty() => break,
                Some(passed) => {
                    let set = sets.next();
                    if passed {
                        return Ok(set);
                    }
                }
            }
        }
        if round.is_empty() {
            return Ok(None);
        }
        let results = checker.check_many(round.clone())?;
        if let Some((set, _)) = round.into_iter().zip(results).find(|(_, passed)| *passed) {
            return Ok(Some(set));
        }
    }
}

/// Up to `p` distinct points strictly between `lo` and `hi`, evenly spread:
/// `lo + ceil(j * (hi - lo) / (p + 1))` for `j = 1..=p`.
fn spread(lo: usize, hi: usize, p: usize) -> Vec<usize> {
    let gap = hi - lo;
    let mut points: Vec<usize> =
        (1..=p).map(|j| lo + (j * gap).div_ceil(p + 1)).filter(|&n| n > lo && n < hi).collect();
    points.dedup();
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_matches_bisection_for_one_job() {
        for lo in 0..20 {
            for hi in lo + 2..40 {
                assert_eq!(spread(lo, hi, 1), vec![(lo + hi).div_ceil(2)]);
            }
        }
        assert_eq!(spread(0, 10, 3), vec![3, 5, 8]);
        assert_eq!(spread(4, 6, 3), vec![5]);
        assert!(spread(4, 5, 3).is_empty());
    }
}
