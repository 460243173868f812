//! The `Checker`: the one way the searches call the oracle. It enforces the limits, runs
//! rounds of parallel checks, times them, tells the observer, logs every check, remembers
//! every network-output answer (no plan is checked twice) and keeps the best passing set for
//! anytime answers.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::{Check, LayerSensitivity, Limits, NoiseFloor, Observer, candidates};
use crate::{
    Evaluation, LayerSet, Network, Oracle, OutputComparison, OutputSelection, SearchError,
};

/// Why a search stopped before its end.
pub(crate) enum Stop {
    /// A budget was spent; the search answers with the best it has.
    Budget(String),
    /// An error that ends the search.
    Failed(SearchError),
}

impl From<SearchError> for Stop {
    fn from(e: SearchError) -> Self {
        Stop::Failed(e)
    }
}

/// What the searches learn from one check.
pub(crate) struct Checked {
    /// Whether the check passed (false when the plan failed to build).
    pub passed: bool,
    /// The per layer-output comparisons, when the oracle returned them.
    pub layer_outputs: Option<Vec<OutputComparison>>,
    /// The isolated errors, when the oracle returned them.
    pub isolated: Option<Vec<crate::IsolatedMeasurement>>,
    /// The layers the builder refused, when the plan failed to build and the backend named
    /// them.
    pub refused: Vec<usize>,
}

/// Makes every check of a search: calls the oracle (one plan, or a round of plans at once),
/// enforces the limits, times the checks, tells the observer, logs an [`Check`] per check
/// and remembers every network-output answer so no plan is checked twice. Nothing else in the
/// searches calls the oracle.
pub(crate) struct Checker<'a> {
    oracle: &'a mut dyn Oracle,
    observer: &'a mut dyn Observer,
    limits: Limits,
    started: Instant,
    /// Checks built by this search (answers taken from a journal are not counted).
    built: usize,
    rounds: usize,
    /// Pass/fail of every network-output check made.
    known: std::collections::HashMap<LayerSet, bool>,
    pub checks: Vec<Check>,
    pub noise_floor: Option<NoiseFloor>,
    pub sensitivity: Vec<LayerSensitivity>,
    pub minimized_from: Option<usize>,
    /// The layers marked from the start because the builder refused them in the lower
    /// precision (worst-first, ranked).
    pub refused: LayerSet,
    /// The most checks the search now expects to make, when known.
    pub budget: Option<usize>,
    /// The layers marked in every check ([`super::SearchOptions::kept`]).
    pub kept: LayerSet,
    /// The ranked search's order, most sensitive first (empty for the other searches).
    pub ranking: Vec<usize>,
    /// The length of the shortest passing head of `ranking`, once ranked found it.
    pub shortest_head: Option<usize>,
}

impl<'a> Checker<'a> {
    /// A checker for one search.
    pub fn new(oracle: &'a mut dyn Oracle, observer: &'a mut dyn Observer, limits: Limits) -> Self {
        let oracle_len = oracle.network().len();
        Checker {
            oracle,
            observer,
            limits,
            started: Instant::now(),
            built: 0,
            rounds: 0,
            known: std::collections::HashMap::new(),
            checks: Vec::new(),
            noise_floor: None,
            sensitivity: Vec::new(),
            minimized_from: None,
            refused: LayerSet::empty(oracle_len),
            budget: None,
            kept: LayerSet::empty(oracle_len),
            ranking: Vec::new(),
            shortest_head: None,
        }
    }

    /// The network being searched.
    pub fn network(&self) -> &Network {
        self.oracle.network()
    }

    /// The layers the algorithms choose from: the markable ones that are not kept from the
    /// start, in topological order.
    pub fn candidates(&self) -> Vec<usize> {
        candidates(self.network()).into_iter().filter(|&i| !self.kept.contains(i)).collect()
    }

    /// `set` with the kept layers added: what a check of `set` really marks.
    pub fn with_kept(&self, mut set: LayerSet) -> LayerSet {
        for i in self.kept.iter() {
            set.insert(i);
        }
        set
    }

    /// How many checks the oracle runs at once.
    pub fn jobs(&self) -> usize {
        self.oracle.jobs().max(1)
    }

    /// Tells the oracle that the search compares no more layer outputs
    /// ([`crate::Oracle::layer_outputs_done`]), so that it frees what it kept for them.
    pub fn layer_outputs_done(&mut self) {
        self.oracle.layer_outputs_done();
    }

    /// Passes a remark on to the observer.
    pub fn note(&mut self, message: &str) {
        self.observer.note(message);
    }

    /// Tells the observer about a revised check budget.
    pub fn budget_changed(&mut self, max_checks: usize) {
        self.budget = Some(max_checks);
        self.observer.budget_changed(max_checks);
    }

    /// Whether `set` is known to pass (`Some(true)`) or fail, from an earlier check.
    pub fn known(&self, set: &LayerSet) -> Option<bool> {
        if self.kept.is_empty() || self.kept.is_subset(set) {
            return self.known.get(set).copied();
        }
        self.known.get(&self.with_kept(set.clone())).copied()
    }

    /// The smallest passing set checked so far (the lowest index set among equals).
    pub fn best_passing(&self) -> Option<LayerSet> {
        self.known
            .iter()
            .filter(|(_, passed)| **passed)
            .map(|(set, _)| set)
            .min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.iter().cmp(b.iter())))
            .cloned()
    }

    /// Checks the plan with every markable layer marked and records it as the noise floor.
    /// Returns whether it passed; when it fails, tells the observer what tolerances the
    /// outputs would need.
    pub fn check_noise_floor(&mut self) -> Result<bool, Stop> {
        let network = self.network();
        let all = LayerSet::from_indices(network.len(), candidates(network));
        let checked = self.check(all, OutputSelection::NetworkOutputs)?;
        let outputs = self.checks.last().map(|i| i.outputs.clone()).unwrap_or_default();
        if !checked.passed {
            let needs: Vec<String> = outputs
                .iter()
                .filter(|o| !o.passed)
                .map(|o| {
                    format!(
                        "'{}' needs atol {:.3e} or rtol {:.3e}",
                        o.name, o.required_atol, o.required_rtol
                    )
                })
                .collect();
            let last = self.checks.last();
            let command = last.and_then(|i| i.command.as_ref()).filter(|c| !c.passed);
            let why = match last.and_then(|i| i.build_error.as_deref()) {
                Some(error) => format!("that plan failed to build: {error}"),
                None if command.is_some() => format!(
                    "the check command fails on that plan ({})",
                    command.map_or("", |c| c.status.as_str())
                ),
                None if outputs.iter().any(|o| {
                    !o.passed && (o.required_atol.is_nan() || o.required_rtol.is_nan())
                }) =>
                {
                    format!(
                        "an output differs from the goldens by NaN (NaN in the outputs, or \
                         infinities that differ), which no tolerance admits: {}",
                        needs.join("; ")
                    )
                }
                None => {
                    format!("the tolerance is below the backend's own noise: {}", needs.join("; "))
                }
            };
            self.note(&format!(
                "even with every markable layer in the higher precision the check fails, so no \
                 search can pass; {why}"
            ));
        }
        self.noise_floor = Some(NoiseFloor { passed: checked.passed, outputs });
        Ok(checked.passed)
    }

    /// Stops the search if a limit is spent.
    fn within_limits(&self) -> Result<usize, Stop> {
        if let Some(max) = self.limits.max_checks
            && self.built >= max
        {
            return Err(Stop::Budget(format!("--max-checks {max} reached")));
        }
        if let Some(budget) = self.limits.time_budget {
            let spent = self.started.elapsed();
            if spent >= budget {
                return Err(Stop::Budget(format!(
                    "--time-budget of {} spent ({:.1}s)",
                    describe_duration(budget),
                    spent.as_secs_f64()
                )));
            }
        }
        Ok(self.limits.max_checks.map_or(usize::MAX, |max| max - self.built))
    }

    /// Checks `marked`. A plan that fails to build is a failed check; any other error stops the
    /// search, as does a spent limit.
    pub fn check(&mut self, marked: LayerSet, detail: OutputSelection) -> Result<Checked, Stop> {
        self.within_limits()?;
        let marked = self.with_kept(marked);
        self.rounds += 1;
        let number = self.checks.len() + 1;
        self.observer.check_started(number, &marked);
        let start = Instant::now();
        let result = self.oracle.evaluate(&marked, detail);
        let elapsed = start.elapsed();
        let evaluation = match result {
            Ok(eval) => eval,
            Err(SearchError::Backend(e)) => match Evaluation::failed_build(&e, elapsed) {
                Some(failed) => failed,
                None => return Err(Stop::Failed(e.into())),
            },
            Err(e) => return Err(Stop::Failed(e)),
        };
        Ok(self.record(marked, evaluation, elapsed))
    }

    /// Checks `sets` in one round, as many at once as the oracle allows (callers pass at most
    /// [`Checker::jobs`] sets). Returns pass/fail per set, in order. When `--max-checks` leaves
    /// room for fewer, only the first ones are checked and the search then stops.
    pub fn check_round(&mut self, sets: Vec<LayerSet>) -> Result<Vec<bool>, Stop> {
        let room = self.within_limits()?;
        let truncated = sets.len() > room;
        let sets: Vec<LayerSet> = sets.into_iter().take(room).map(|s| self.with_kept(s)).collect();
        self.rounds += 1;
        let first = self.checks.len() + 1;
        for (k, set) in sets.iter().enumerate() {
            self.observer.check_started(first + k, set);
        }
        let start = Instant::now();
        let evaluations = self.oracle.evaluate_batch(&sets, OutputSelection::NetworkOutputs)?;
        let elapsed = start.elapsed();
        let mut passed = Vec::with_capacity(sets.len());
        for (set, evaluation) in sets.into_iter().zip(evaluations) {
            passed.push(self.record(set, evaluation, elapsed).passed);
        }
        if truncated {
            self.within_limits()?;
        }
        Ok(passed)
    }

    /// Checks network outputs of `sets`: one check, or a round of them at once.
    pub fn check_many(&mut self, sets: Vec<LayerSet>) -> Result<Vec<bool>, Stop> {
        if let [single] = sets.as_slice() {
            return Ok(vec![self.check(single.clone(), OutputSelection::NetworkOutputs)?.passed]);
        }
        self.check_round(sets)
    }

    /// Logs one evaluated check.
    fn record(&mut self, marked: LayerSet, evaluation: Evaluation, elapsed: Duration) -> Checked {
        if !evaluation.reused {
            self.built += 1;
        }
        let passed = evaluation.passed && evaluation.build_error.is_none();
        let number = self.checks.len() + 1;
        let check = Check {
            marked,
            passed,
            build_error: evaluation.build_error,
            outputs: evaluation.outputs,
            deviations: evaluation.deviations,
            duration: if evaluation.duration.is_zero() { elapsed } else { evaluation.duration },
            round: self.rounds,
            reused: evaluation.reused,
            samples: evaluation.samples,
            command: evaluation.command,
            timing: evaluation.timing,
        };
        self.observer.check_finished(number, &check);
        self.known.entry(check.marked.clone()).or_insert(passed);
        self.checks.push(check);
        Checked {
            passed,
            layer_outputs: evaluation.layer_outputs,
            isolated: evaluation.isolated,
            refused: evaluation.refused,
        }
    }

    /// The build error of the last check, if it failed to build.
    pub fn last_build_error(&self) -> Option<&str> {
        self.checks.last().and_then(|i| i.build_error.as_deref())
    }

    /// The network output comparisons of the last check.
    pub fn last_outputs(&self) -> &[OutputComparison] {
        self.checks.last().map_or(&[], |i| i.outputs.as_slice())
    }
}

/// `30m`, `1h30m`, `45s`: how limits are shown.
fn describe_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let parts = [(h, "h"), (m, "m"), (s, "s")];
    let text = parts.iter().filter(|(n, _)| *n > 0).fold(String::new(), |mut text, (n, unit)| {
        let _ = write!(text, "{n}{unit}");
        text
    });
    if text.is_empty() { "0s".to_owned() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(describe_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(describe_duration(Duration::from_secs(45)), "45s");
        assert_eq!(describe_duration(Duration::ZERO), "0s");
    }
}
