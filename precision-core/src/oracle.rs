//! The oracle the searches ask ("does this plan pass, and with what errors"), and the adapter
//! that turns any [`Backend`] into one.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod evaluation;
mod run;

pub(crate) use evaluation::secs;
pub use evaluation::{CheckTiming, Evaluation};
pub use run::merge_worst;
use run::{Reference, missing_outputs, run_check};

use crate::samples::{Samples, worst_samples};
use crate::{
    Backend, BackendError, CompareConfig, CompareError, LayerSet, NamedTensors, Network,
    OutputComparison, OutputSelection, PrecisionPlan, Tensor, compare_outputs,
};

/// A measurement, not a failure: the isolated error of one layer output, that is the layer
/// run alone in its plan precision from float32 inputs, against its float32 output
/// ([`crate::relative_error`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolatedMeasurement {
    /// The layer output tensor.
    pub name: String,
    /// `max |isolated - float32| / max |float32|`.
    #[serde(with = "crate::json_float")]
    pub error: f64,
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
    /// A search option is out of range (for example worst-first's `--top 0`).
    #[error("{0}")]
    InvalidOption(String),
    /// No input iterations were given.
    #[error("no input iterations were given: supply at least one set of inputs")]
    NoInputs,
    /// The number of golden iterations differs from the number of input iterations.
    #[error(
        "there are {goldens} golden iterations for {inputs} input iterations: regenerate the \
         goldens with `precision run` from the same inputs"
    )]
    GoldenCount {
        /// Input iterations given.
        inputs: usize,
        /// Golden iterations given.
        goldens: usize,
    },
    /// A golden iteration lacks some network outputs.
    #[error(
        "golden iteration {iteration} has no value for network output(s) {}: regenerate the \
         goldens with `precision run`",
        quoted_list(.missing)
    )]
    MissingGoldenOutputs {
        /// The 0-based golden iteration.
        iteration: usize,
        /// The network outputs it lacks.
        missing: Vec<String>,
    },
    /// A golden output does not fit what the network produces (shape, or kind of dtype).
    #[error(
        "golden iteration {iteration}: output '{output}' is {golden} in the goldens but the model \
         produces {produced}: the goldens belong to another model or input shape; regenerate \
         them with `precision run`"
    )]
    GoldenMismatch {
        /// The 0-based golden iteration.
        iteration: usize,
        /// The output.
        output: String,
        /// The golden's dtype and shape.
        golden: String,
        /// The produced dtype and shape.
        produced: String,
    },
    /// The float32 reference run, needed for layer outputs the goldens lack, failed.
    #[error(
        "the float32 reference run needed to compare layer outputs failed: {0}; supply goldens \
         that hold every layer output, or fix the backend"
    )]
    Reference(BackendError),
}

/// Refuses samples with no inputs, or with another number of golden sets than input sets.
fn check_sample_counts(samples: &Samples) -> Result<(), SearchError> {
    if samples.is_empty() {
        return Err(SearchError::NoInputs);
    }
    if samples.goldens.len() != samples.len() {
        return Err(SearchError::GoldenCount {
            inputs: samples.len(),
            goldens: samples.goldens.len(),
        });
    }
    Ok(())
}

/// Refuses goldens whose outputs cannot be what this model produces: another shape (unless
/// shape checks are off) or another kind of element (float, integer, bool). Float widths may
/// differ (an FP16 output against float32 goldens is a legitimate comparison).
fn check_goldens_fit(
    iteration: usize,
    produced: &NamedTensors,
    golden: &NamedTensors,
    check_shapes: bool,
) -> Result<(), SearchError> {
    fn kind(t: &Tensor) -> u8 {
        match t.dtype() {
            d if d.is_float() => 0,
            crate::DType::Bool => 2,
            _ => 1,
        }
    }
    for (name, p) in produced {
        let Some(g) = golden.get(name) else { continue };
        if (check_shapes && p.shape() != g.shape()) || kind(p) != kind(g) {
            return Err(SearchError::GoldenMismatch {
                iteration,
                output: name.clone(),
                golden: format!("{} {:?}", g.dtype(), g.shape()),
                produced: format!("{} {:?}", p.dtype(), p.shape()),
            });
        }
    }
    Ok(())
}

/// `'a', 'b'` for error messages.
fn quoted_list(names: &[String]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

/// Answers whether a set of marked layers passes. The searches see nothing else.
pub trait Oracle {
    /// The network whose layers the sets index.
    fn network(&self) -> &Network;

    /// Checks the plan with exactly `marked` layers in the higher precision.
    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError>;

    /// Checks several plans, as many at once as [`Oracle::jobs`] allows; the answers are in
    /// the order of `sets`. The default checks them one after another.
    fn evaluate_batch(
        &mut self,
        sets: &[LayerSet],
        detail: OutputSelection,
    ) -> Result<Vec<Evaluation>, SearchError> {
        sets.iter().map(|s| self.evaluate(s, detail)).collect()
    }

    /// How many checks [`Oracle::evaluate_batch`] runs at once (1 by default).
    fn jobs(&self) -> usize {
        1
    }

    /// The search compares no more layer outputs (its [`OutputSelection::EveryLayer`] or
    /// [`OutputSelection::Isolated`] check is done): what the oracle keeps only for those, such as
    /// the float32 run of every layer output, may be freed. A later check that needs it makes
    /// it again. The default keeps everything.
    fn layer_outputs_done(&mut self) {}
}

/// How a [`BackendOracle`] compares the tensors a run produced with their references (by
/// name, in the order of the first argument). [`compare_outputs`] unless replaced.
pub type CompareFn =
    fn(&NamedTensors, &NamedTensors, &CompareConfig) -> Result<Vec<OutputComparison>, CompareError>;

/// How much work a [`BackendOracle`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OracleStats {
    /// Checks that built a plan (successfully or not) and ran it.
    pub evaluated: usize,
    /// Checks answered from the cache without building anything.
    pub cached: usize,
    /// Builds of the float32 reference plan for layer outputs (0 or 1).
    pub reference_builds: usize,
}

/// What every check of a [`BackendOracle`] compares against, shared by its parallel workers.
struct CheckContext {
    base: PrecisionPlan,
    samples: Samples,
    config: CompareConfig,
    compare: CompareFn,
}

/// Turns any [`Backend`] into an [`Oracle`]: builds each plan, runs every input iteration,
/// and compares the network outputs with the goldens.
///
/// Evaluations are cached by (marked set, detail), so a repeated plan costs nothing; a check
/// can take minutes on TensorRT. With [`BackendOracle::with_jobs`], batches of checks run on
/// several copies of the backend at once.
pub struct BackendOracle<B: Backend> {
    backend: B,
    /// Extra copies of the backend for parallel checks (`--jobs`).
    workers: Vec<B>,
    context: CheckContext,
    cache: HashMap<(LayerSet, OutputSelection), Evaluation>,
    /// The float32 run with every layer output, one entry per sample that layer-output checks
    /// run (all, or the ranking samples), once needed.
    reference: Option<Vec<NamedTensors>>,
    stats: OracleStats,
    /// `--ranking-samples K`: layer-output checks run only the K samples the nothing-marked
    /// plan errs most on.
    ranking_samples: Option<usize>,
    /// Those samples, once chosen (sample order).
    ranking: Option<Vec<usize>>,
}

impl<B: Backend> std::fmt::Debug for BackendOracle<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendOracle")
            .field("backend", &self.backend.name())
            .field("base", &self.context.base)
            .field("iterations", &self.context.samples.len())
            .field("jobs", &(self.workers.len() + 1))
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> BackendOracle<B> {
    /// An oracle checking plans derived from `base` (its marked set is ignored) on `inputs`,
    /// against `goldens` (one per input iteration), under `config`.
    ///
    /// Fails when there are no inputs, when the golden and input iteration counts differ, or
    /// when a golden iteration lacks a network output. Shapes and dtypes are checked when
    /// outputs are compared.
    pub fn new(
        backend: B,
        base: PrecisionPlan,
        inputs: Vec<NamedTensors>,
        goldens: Vec<NamedTensors>,
        config: CompareConfig,
    ) -> Result<Self, SearchError> {
        Self::with_samples(backend, base, Samples::in_memory(inputs, goldens), config)
    }

    /// An oracle like [`BackendOracle::new`] whose samples are read on demand from `samples`
    /// (a dataset on disk is held one sample per running check). Every golden set is read
    /// once here, one at a time, to check that it has every network output.
    pub fn with_samples(
        backend: B,
        base: PrecisionPlan,
        samples: Samples,
        config: CompareConfig,
    ) -> Result<Self, SearchError> {
        check_sample_counts(&samples)?;
        for iteration in 0..samples.goldens.len() {
            let golden = samples.goldens.get(iteration).map_err(SearchError::InvalidInput)?;
            missing_outputs(backend.network(), iteration, &golden)?;
        }
        let mut backend = backend;
        backend.expect_samples(samples.inputs.len());
        Ok(BackendOracle {
            backend,
            workers: Vec::new(),
            context: CheckContext { base, samples, config, compare: compare_outputs },
            cache: HashMap::new(),
            reference: None,
            stats: OracleStats::default(),
            ranking_samples: None,
            ranking: None,
        })
    }

    /// Makes layer-output checks (worst-first's and ranked's sensitivity measurements) run
    /// only the `k` samples the nothing-marked plan errs most on (see
    /// [`crate::samples::worst_samples`]); network-output checks still run every sample.
    #[must_use]
    pub fn with_ranking_samples(mut self, k: usize) -> Self {
        self.ranking_samples = Some(k);
        self.ranking = None;
        self.reference = None;
        self.cache.clear();
        self
    }

    /// The samples layer-output checks ran on, once chosen by `--ranking-samples`.
    #[must_use]
    pub fn ranking(&self) -> Option<&[usize]> {
        self.ranking.as_deref()
    }

    /// Replaces the comparison function (another metric, or a stand-in in tests).
    #[must_use]
    pub fn with_compare_fn(mut self, compare: CompareFn) -> Self {
        self.context.compare = compare;
        self.cache.clear();
        self
    }

    /// Replaces the comparison settings (for example tolerances derived from a measured noise
    /// floor); cached answers are dropped.
    pub fn set_config(&mut self, config: CompareConfig) {
        self.context.config = config;
        self.cache.clear();
    }

    /// How many checks were evaluated and how many served from the cache.
    #[must_use]
    pub fn stats(&self) -> OracleStats {
        self.stats
    }

    /// Tells the backend and its copies that a check command wants engine files
    /// ([`Backend::keep_latest_engine`]).
    pub fn keep_latest_engines(&mut self) {
        self.backend.keep_latest_engine();
        for worker in &mut self.workers {
            worker.keep_latest_engine();
        }
    }

    /// The engine file of the plan with `marked` in the higher precision
    /// ([`Backend::export_engine`]): the one the backend or a copy kept from checking it, else
    /// a new build; `None` for backends without engine files.
    pub fn export_engine(&mut self, marked: &LayerSet) -> Result<Option<Vec<u8>>, SearchError> {
        let plan = self.context.base.with_marked(marked.clone());
        for worker in &mut self.workers {
            if let Some(bytes) = worker.export_engine(&plan, false)? {
                return Ok(Some(bytes));
            }
        }
        Ok(self.backend.export_engine(&plan, true)?)
    }

    /// Times the plan marking `answer` against the float32 and all-lowered plans on the first
    /// input sample (see [`crate::latency`]).
    ///
    /// # Errors
    /// When the sample cannot be read or a plan does not build or run.
    pub fn measure_latency(
        &mut self,
        answer: &LayerSet,
        settings: crate::latency::LatencySettings,
    ) -> Result<crate::latency::Latency, SearchError> {
        let inputs = self.context.samples.inputs.get(0).map_err(SearchError::InvalidInput)?;
        let inputs = inputs.into_owned();
        Ok(crate::latency::measure(
            &mut self.backend,
            &self.context.base,
            answer,
            &inputs,
            settings,
        )?)
    }

    /// Times the plans marking each of `sets` ([`crate::latency::time_plans`]) on the first
    /// sample.
    ///
    /// # Errors
    /// When the sample cannot be read or a plan does not build or run.
    pub fn time_plans(
        &mut self,
        sets: &[LayerSet],
        settings: crate::latency::LatencySettings,
    ) -> Result<Vec<crate::latency::Timing>, SearchError> {
        let inputs = self.context.samples.inputs.get(0).map_err(SearchError::InvalidInput)?;
        let inputs = inputs.into_owned();
        let plans: Vec<PrecisionPlan> =
            sets.iter().map(|s| self.context.base.with_marked(s.clone())).collect();
        Ok(crate::latency::time_plans(&mut self.backend, &plans, &inputs, settings)?)
    }

    /// The FP16 pre-screen ([`crate::prescreen`]): runs the float32 plan with every layer
    /// output exposed on every sample and returns the markable layers whose values or weights
    /// exceed `threshold` in magnitude. Nothing is cached; the checks are not counted.
    ///
    /// # Errors
    /// When the backend cannot expose layer outputs, or the float32 plan does not build or run.
    pub fn prescreen(
        &mut self,
        threshold: f64,
    ) -> Result<crate::prescreen::Prescreen, BackendError> {
        let peaks = crate::prescreen::float32_peaks(
            &mut self.backend,
            self.context.samples.inputs.as_ref(),
        )?;
        let weights = self.backend.weight_peaks();
        let network = self.backend.network();
        let kept = crate::prescreen::screen(network, &peaks, weights.as_deref(), threshold);
        Ok(crate::prescreen::Prescreen {
            threshold,
            samples: peaks.samples,
            weights_screened: weights.is_some(),
            kept,
        })
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Sets (`None`: removes) the middle level of every plan checked from now on
    /// ([`crate::levels`]), dropping cached answers and ranking samples of other plans.
    pub fn set_middle(&mut self, middle: Option<crate::Middle>) {
        self.context.base.middle = middle;
        self.cache.clear();
        self.ranking = None;
    }

    /// The plan every check starts from.
    #[must_use]
    pub fn base_plan(&self) -> &PrecisionPlan {
        &self.context.base
    }

    /// The comparison settings.
    #[must_use]
    pub fn config(&self) -> &CompareConfig {
        &self.context.config
    }

    /// The samples (input feeds and goldens) every check runs.
    #[must_use]
    pub fn samples(&self) -> &Samples {
        &self.context.samples
    }

    /// How many samples `--ranking-samples` asked for, if it did.
    #[must_use]
    pub fn ranking_samples(&self) -> Option<usize> {
        self.ranking_samples
    }

    /// Gives the backend back.
    #[must_use]
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Validates `marked` and looks it up in the cache: its answer, or the key to check it
    /// under.
    fn key_for(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Lookup, SearchError> {
        let network = self.backend.network();
        let len = network.len();
        if let Some(bad) = marked.iter().find(|&i| i >= len) {
            return Err(SearchError::InvalidInput(format!(
                "layer index {bad} is out of range: network '{}' has {len} layers",
                network.name
            )));
        }
        let key = (LayerSet::from_indices(len, marked.iter()), detail);
        if let Some(cached) = self.cache.get(&key) {
            self.stats.cached += 1;
            return Ok(Lookup::Cached(Box::new(Evaluation {
                duration: Duration::ZERO,
                ..cached.clone()
            })));
        }
        Ok(Lookup::Check(key))
    }
}

/// What the plan cache says about a check: answered already, or to be checked under a key.
enum Lookup {
    /// The cached answer (with a zero duration).
    Cached(Box<Evaluation>),
    /// Not cached: the key (marked layers, detail) to check and cache it under.
    Check((LayerSet, OutputSelection)),
}

impl<B: Backend> BackendOracle<B> {
    /// Runs up to `jobs` checks at once, on copies of the backend made with
    /// [`Backend::try_clone`] (each told to use `threads` CPU threads). Returns how many
    /// checks can run at once: 1 when the backend cannot be copied.
    pub fn with_jobs(&mut self, jobs: usize, threads: usize) -> Result<usize, BackendError> {
        self.workers.clear();
        while self.workers.len() + 1 < jobs {
            match self.backend.try_clone(threads)? {
                Some(copy) => self.workers.push(copy),
                None => break,
            }
        }
        Ok(self.workers.len() + 1)
    }
}

impl<B: Backend> Oracle for BackendOracle<B> {
    fn network(&self) -> &Network {
        self.backend.network()
    }

    /// Checks `marked`. A plan that fails to build is a failed [`Evaluation`] with its
    /// `build_error`; a cached answer comes back with a zero `duration`.
    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        let key = match self.key_for(marked, detail)? {
            Lookup::Check(key) => key,
            Lookup::Cached(cached) => return Ok(*cached),
        };
        let selection = self.selection_for(detail)?;
        if selection != OutputSelection::NetworkOutputs {
            self.choose_ranking_samples()?;
        }
        let subset = match selection {
            OutputSelection::NetworkOutputs => None,
            _ => self.ranking.clone(),
        };
        let evaluation = run_check(
            &mut self.backend,
            &self.context,
            Some(Reference { runs: &mut self.reference, stats: &mut self.stats }),
            &key.0,
            selection,
            subset.as_deref(),
            None,
        )?;
        self.stats.evaluated += 1;
        // Whether the plan passes is decided by its network-output check (cached, so a
        // search that asks for it later gets it free) when this one ran on the ranking
        // samples only, or when returning layer outputs can change the network outputs on
        // this backend (fusions): every verdict is that of the plan as deployed.
        let partial = subset.is_some_and(|s| s.len() < self.context.samples.len());
        let exposed = selection != OutputSelection::NetworkOutputs
            && self.backend.capabilities().layer_outputs_change_results;
        let evaluation = if (partial || exposed) && evaluation.build_error.is_none() {
            let mut evaluation = evaluation;
            let full = self.evaluate(&key.0, OutputSelection::NetworkOutputs)?;
            evaluation.passed = full.passed;
            evaluation.build_error = full.build_error;
            evaluation.outputs = full.outputs;
            evaluation.samples = full.samples;
            evaluation.duration += full.duration;
            evaluation
        } else {
            evaluation
        };
        self.cache.insert(key, evaluation.clone());
        Ok(evaluation)
    }

    /// Checks `sets`, up to [`Oracle::jobs`] at once for network-output checks (others one
    /// after another), each on its own copy of the backend.
    fn evaluate_batch(
        &mut self,
        sets: &[LayerSet],
        detail: OutputSelection,
    ) -> Result<Vec<Evaluation>, SearchError> {
        if self.workers.is_empty() || detail != OutputSelection::NetworkOutputs || sets.len() < 2 {
            return sets.iter().map(|s| self.evaluate(s, detail)).collect();
        }
        let mut answers: Vec<Option<Evaluation>> = vec![None; sets.len()];
        let mut pending: Vec<(usize, (LayerSet, OutputSelection))> = Vec::new();
        for (i, set) in sets.iter().enumerate() {
            match self.key_for(set, detail)? {
                Lookup::Cached(cached) => answers[i] = Some(*cached),
                Lookup::Check(key) if pending.iter().any(|(_, k)| *k == key) => {}
                Lookup::Check(key) => pending.push((i, key)),
            }
        }
        let context = &self.context;
        let mut backends: Vec<&mut B> =
            std::iter::once(&mut self.backend).chain(self.workers.iter_mut()).collect();
        for chunk in pending.chunks(backends.len()) {
            let results: Vec<Result<Evaluation, SearchError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .zip(backends.iter_mut())
                    .map(|((_, key), backend)| {
                        let backend: &mut B = backend;
                        scope.spawn(move || {
                            let selection = OutputSelection::NetworkOutputs;
                            run_check(backend, context, None, &key.0, selection, None, None)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                    .collect()
            });
            for ((i, key), result) in chunk.iter().zip(results) {
                let evaluation = result?;
                self.stats.evaluated += 1;
                self.cache.insert(key.clone(), evaluation.clone());
                answers[*i] = Some(evaluation);
            }
        }
        // Repeated sets in one batch share one check.
        sets.iter()
            .zip(answers)
            .map(|(set, answer)| match answer {
                Some(a) => Ok(a),
                None => self.evaluate(set, detail),
            })
            .collect()
    }

    fn jobs(&self) -> usize {
        self.workers.len() + 1
    }

    /// Frees the float32 run of every layer output (made again if a later check needs it)
    /// and tells the backend and its copies ([`Backend::layer_outputs_done`]).
    fn layer_outputs_done(&mut self) {
        self.reference = None;
        self.backend.layer_outputs_done();
        for worker in &mut self.workers {
            worker.layer_outputs_done();
        }
    }
}

impl<B: Backend> BackendOracle<B> {
    /// Chooses the `--ranking-samples` (once): checks the nothing-marked plan on every sample
    /// (that check is cached like any other) and keeps the samples it errs most on.
    fn choose_ranking_samples(&mut self) -> Result<(), SearchError> {
        let Some(k) = self.ranking_samples else { return Ok(()) };
        if self.ranking.is_some() {
            return Ok(());
        }
        if k >= self.context.samples.len() {
            self.ranking = Some((0..self.context.samples.len()).collect());
            return Ok(());
        }
        let nothing = LayerSet::empty(self.backend.network().len());
        let mut errors = Vec::with_capacity(self.context.samples.len());
        let evaluation = run_check(
            &mut self.backend,
            &self.context,
            None,
            &nothing,
            OutputSelection::NetworkOutputs,
            None,
            Some(&mut errors),
        )?;
        if let Some(error) = &evaluation.build_error {
            return Err(SearchError::InvalidInput(format!(
                "--ranking-samples checks the plan with nothing marked on every sample to find \
                 the ones it errs most on, but that plan failed to build: {error}"
            )));
        }
        self.stats.evaluated += 1;
        self.cache.insert((nothing, OutputSelection::NetworkOutputs), evaluation);
        self.ranking = Some(worst_samples(&errors, k));
        Ok(())
    }

    /// Checks the plan with `marked` once on `samples` (data the search never saw: the
    /// holdout), comparing network outputs; nothing is cached.
    pub fn check_on(
        &mut self,
        marked: &LayerSet,
        samples: Samples,
    ) -> Result<Evaluation, SearchError> {
        check_sample_counts(&samples)?;
        let context = CheckContext {
            base: self.context.base.clone(),
            samples,
            config: self.context.config.clone(),
            compare: self.context.compare,
        };
        let marked = LayerSet::from_indices(self.backend.network().len(), marked.iter());
        let selection = OutputSelection::NetworkOutputs;
        run_check(&mut self.backend, &context, None, &marked, selection, None, None)
    }

    /// The engine outputs a check needs, given what the backend can do: the sensitivity
    /// pass ([`OutputSelection::Isolated`]) falls back to [`OutputSelection::EveryLayer`] on
    /// backends that cannot isolate layers.
    fn selection_for(&self, detail: OutputSelection) -> Result<OutputSelection, SearchError> {
        let capabilities = self.backend.capabilities();
        let unsupported = || {
            SearchError::Unsupported(format!(
                "the {} backend cannot return every layer's output; use bisect or linear instead",
                self.backend.name()
            ))
        };
        Ok(match detail {
            OutputSelection::NetworkOutputs => OutputSelection::NetworkOutputs,
            OutputSelection::Isolated if capabilities.isolated_layer_output => {
                OutputSelection::Isolated
            }
            OutputSelection::EveryLayer | OutputSelection::Isolated
                if capabilities.every_layer_output =>
            {
                OutputSelection::EveryLayer
            }
            OutputSelection::EveryLayer | OutputSelection::Isolated => return Err(unsupported()),
        })
    }
}
