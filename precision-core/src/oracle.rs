//! The oracle the searches ask ("does this plan pass, and with what errors"), and the adapter
//! that turns any [`Backend`] into one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{
    Backend, BackendError, CompareConfig, CompareError, Engine, LayerSet, NamedTensors, Network,
    OutputComparison, OutputSelection, PrecisionPlan, Tensor, compare_outputs,
};

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
    fn evaluate(&mut self, marked: &LayerSet, detail: Detail) -> Result<Evaluation, SearchError>;
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

/// Turns any [`Backend`] into an [`Oracle`]: builds each plan, runs every input iteration,
/// and compares the network outputs with the goldens.
///
/// Evaluations are cached by (marked set, detail), so a repeated plan costs nothing; a check
/// can take minutes on TensorRT.
pub struct BackendOracle<B: Backend> {
    backend: B,
    base: PrecisionPlan,
    inputs: Vec<NamedTensors>,
    goldens: Vec<NamedTensors>,
    config: CompareConfig,
    compare: CompareFn,
    cache: HashMap<(LayerSet, Detail), Evaluation>,
    /// The float32 run with every layer output, one entry per input iteration, once needed.
    reference: Option<Vec<NamedTensors>>,
    stats: OracleStats,
}

impl<B: Backend> std::fmt::Debug for BackendOracle<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendOracle")
            .field("backend", &self.backend.name())
            .field("base", &self.base)
            .field("iterations", &self.inputs.len())
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
        if inputs.is_empty() {
            return Err(SearchError::NoInputs);
        }
        if goldens.len() != inputs.len() {
            return Err(SearchError::GoldenCount { inputs: inputs.len(), goldens: goldens.len() });
        }
        for (iteration, golden) in goldens.iter().enumerate() {
            let missing: Vec<String> = backend
                .network()
                .outputs
                .iter()
                .filter(|o| !golden.contains_key(o.as_str()))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(SearchError::MissingGoldenOutputs { iteration, missing });
            }
        }
        Ok(BackendOracle {
            backend,
            base,
            inputs,
            goldens,
            config,
            compare: compare_outputs,
            cache: HashMap::new(),
            reference: None,
            stats: OracleStats::default(),
        })
    }

    /// Replaces the comparison function (another metric, or a stand-in in tests).
    #[must_use]
    pub fn with_compare_fn(mut self, compare: CompareFn) -> Self {
        self.compare = compare;
        self.cache.clear();
        self
    }

    /// How many checks were evaluated and how many served from the cache.
    #[must_use]
    pub fn stats(&self) -> OracleStats {
        self.stats
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The plan every check starts from.
    #[must_use]
    pub fn base_plan(&self) -> &PrecisionPlan {
        &self.base
    }

    /// The comparison settings.
    #[must_use]
    pub fn config(&self) -> &CompareConfig {
        &self.config
    }

    /// Gives the backend back.
    #[must_use]
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Builds, runs and compares `marked` (already validated and normalised).
    fn evaluate_uncached(
        &mut self,
        marked: &LayerSet,
        detail: Detail,
    ) -> Result<Evaluation, SearchError> {
        let start = Instant::now();
        let selection = match detail {
            Detail::NetworkOutputs => OutputSelection::NetworkOutputs,
            Detail::EveryLayer => OutputSelection::EveryLayer,
        };
        let plan = self.base.with_marked(marked.clone());
        let mut engine = match self.backend.build(&plan, selection) {
            Ok(engine) => engine,
            Err(BackendError::Build(text)) => {
                return Ok(Evaluation {
                    passed: false,
                    build_error: Some(text),
                    outputs: Vec::new(),
                    layer_outputs: None,
                    deviations: Vec::new(),
                    duration: start.elapsed(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let deviations = engine.plan_deviations();
        let output_names = self.backend.network().outputs.clone();

        let mut outputs: Vec<OutputComparison> = Vec::new();
        let mut layers: Vec<OutputComparison> = Vec::new();
        for i in 0..self.inputs.len() {
            let mut produced = engine.infer(&self.inputs[i])?;
            let mut network_outputs = NamedTensors::with_capacity(output_names.len());
            for name in &output_names {
                let tensor = produced.shift_remove(name).ok_or_else(|| {
                    BackendError::Inference(format!(
                        "the {} engine returned no value for network output '{name}'",
                        self.backend.name()
                    ))
                })?;
                network_outputs.insert(name.clone(), tensor);
            }
            let golden = &self.goldens[i];
            check_goldens_fit(i, &network_outputs, golden, self.config.check_shapes)?;
            let compared = (self.compare)(&network_outputs, golden, &self.config)?;
            if detail == Detail::EveryLayer {
                let (in_golden, rest): (NamedTensors, NamedTensors) =
                    produced.into_iter().partition(|(name, _)| golden.contains_key(name));
                if !rest.is_empty() && self.reference.is_none() {
                    self.stats.reference_builds += 1;
                    self.reference = Some(reference_run(&mut self.backend, &self.inputs)?);
                }
                let reference = self.reference.as_deref().and_then(|r| r.get(i));
                let rest: NamedTensors = rest
                    .into_iter()
                    .filter(|(name, _)| reference.is_some_and(|r| r.contains_key(name)))
                    .collect();
                let mut per_layer = compared.clone();
                per_layer.extend((self.compare)(&in_golden, golden, &self.config)?);
                if let Some(reference) = reference {
                    per_layer.extend((self.compare)(&rest, reference, &self.config)?);
                }
                merge_worst(&mut layers, per_layer);
            }
            merge_worst(&mut outputs, compared);
        }

        Ok(Evaluation {
            passed: outputs.iter().all(|c| c.passed),
            build_error: None,
            outputs,
            layer_outputs: (detail == Detail::EveryLayer).then_some(layers),
            deviations,
            duration: start.elapsed(),
        })
    }
}

impl<B: Backend> Oracle for BackendOracle<B> {
    fn network(&self) -> &Network {
        self.backend.network()
    }

    /// Checks `marked`. A plan that fails to build is a failed [`Evaluation`] with its
    /// `build_error`; a cached answer comes back with a zero `duration`.
    fn evaluate(&mut self, marked: &LayerSet, detail: Detail) -> Result<Evaluation, SearchError> {
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
            return Ok(Evaluation { duration: Duration::ZERO, ..cached.clone() });
        }
        if detail == Detail::EveryLayer && !self.backend.capabilities().every_layer_output {
            return Err(SearchError::Unsupported(format!(
                "the {} backend cannot return every layer's output; use bisect or linear instead",
                self.backend.name()
            )));
        }
        let evaluation = self.evaluate_uncached(&key.0, detail)?;
        self.stats.evaluated += 1;
        self.cache.insert(key, evaluation.clone());
        Ok(evaluation)
    }
}

/// Builds the float32 plan with every layer output and runs every input iteration on it.
fn reference_run<B: Backend>(
    backend: &mut B,
    inputs: &[NamedTensors],
) -> Result<Vec<NamedTensors>, SearchError> {
    let plan = PrecisionPlan::float32(backend.network());
    let mut engine =
        backend.build(&plan, OutputSelection::EveryLayer).map_err(SearchError::Reference)?;
    inputs.iter().map(|input| engine.infer(input).map_err(SearchError::Reference)).collect()
}

/// The larger of two errors, NaN being the largest.
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Merges the comparisons of another input iteration into `acc`, per output name, keeping the
/// worst: an output passes only if it passed every time, and each statistic is the largest
/// seen (NaN wins). Outputs new to `acc` are appended.
pub fn merge_worst(acc: &mut Vec<OutputComparison>, next: Vec<OutputComparison>) {
    if acc.is_empty() {
        *acc = next;
        return;
    }
    let index: HashMap<String, usize> =
        acc.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
    for c in next {
        let Some(&i) = index.get(&c.name) else {
            acc.push(c);
            continue;
        };
        let a = &mut acc[i];
        a.passed &= c.passed;
        a.max_absdiff = worse(a.max_absdiff, c.max_absdiff);
        a.max_reldiff = worse(a.max_reldiff, c.max_reldiff);
        a.mean_absdiff = worse(a.mean_absdiff, c.mean_absdiff);
        a.mean_reldiff = worse(a.mean_reldiff, c.mean_reldiff);
        a.required_atol = worse(a.required_atol, c.required_atol);
        a.required_rtol = worse(a.required_rtol, c.required_rtol);
        if a.mismatch.is_none() {
            a.mismatch = c.mismatch;
        }
    }
}
