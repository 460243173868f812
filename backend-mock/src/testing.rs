//! Test support (cargo feature `testing`): random specs for proptest, rendering a spec as
//! TOML, an independent computation of the expected answers, and a simple oracle.
//!
//! The expected answers are computed here directly from the documented semantics (by tensor
//! name, one scalar error per tensor under `noise = "constant"`), not through
//! [`MockBackend`], so tests that compare the two check the backend.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Instant;

use precision_core::compare::headroom;
use precision_core::oracle::BackendOracle;
use precision_core::{
    Backend, CompareConfig, CompareError, Direction, Engine, ErrorStat, Evaluation,
    ISOLATED_PREFIX, IsolatedMeasurement, LayerSet, NamedTensors, Network, Oracle,
    OutputComparison, OutputSelection, PerOutput, PlanError, Precision, PrecisionPlan, SearchError,
    Tensor, relative_error,
};
use proptest::prelude::*;

use crate::spec::{ErrorAmplitudes, InputSpec, LayerSpec, MockSpec, Noise};
use crate::{MockBackend, values};

/// What random specs look like.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    /// At most this many layers (at least 1).
    pub max_layers: usize,
    /// The noise of every spec, or `None` for a random choice.
    pub noise: Option<Noise>,
    /// Precisions that may appear in a layer's `unsupported` list (each layer with chance
    /// `1 / max(layers, 10)`, so about one layer per spec, none in about a third of specs).
    pub unsupported_choices: Vec<Precision>,
    /// The fraction of layers that are not markable.
    pub unmarkable_fraction: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            max_layers: 300,
            noise: Some(Noise::Constant),
            unsupported_choices: vec![Precision::Int8],
            unmarkable_fraction: 0.1,
        }
    }
}

/// A proptest strategy for valid specs: chains, branches, merges and multi-output layers,
/// 1 to `options.max_layers` layers. Shrinks towards fewer layers.
pub fn arb_spec(options: GenOptions) -> impl Strategy<Value = MockSpec> {
    (1..=options.max_layers.max(1), any::<u64>())
        .prop_map(move |(layers, seed)| generate_spec(layers, seed, &options))
}

/// A small deterministic generator (`SplitMix64`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        values::splitmix64(self.0.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// A valid random spec with `num_layers` layers (at least 1), determined by `seed`.
///
/// About 60% of layers continue the chain (default `inputs`), 20% branch off any earlier
/// tensor and 20% merge two or three earlier tensors; one layer in five has two or three
/// outputs. Amplitudes are 0 or in `[1e-3, 1e-1]`, gains 1 or in `[0.5, 1.5]`, names include
/// characters that need quoting in TOML.
#[must_use]
pub fn generate_spec(num_layers: usize, seed: u64, options: &GenOptions) -> MockSpec {
    const SHAPES: [&[usize]; 6] = [&[1, 8], &[1, 4], &[2, 3], &[1, 1], &[8], &[1, 2, 2]];
    const OPS: [&str; 5] = ["Mock", "Conv", "MatMul", "Relu", "Add"];
    let mut rng = Rng(seed);
    let noise = options
        .noise
        .unwrap_or_else(|| if rng.chance(0.5) { Noise::Constant } else { Noise::Uniform });
    let inputs: Vec<InputSpec> = (0..=rng.below(2))
        .map(|i| InputSpec {
            name: if i == 0 { "x".to_owned() } else { format!("in/{i}") },
            shape: SHAPES[rng.below(SHAPES.len())].to_vec(),
        })
        .collect();
    let mut pool: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let mut layers: Vec<LayerSpec> = Vec::with_capacity(num_layers);
    for index in 0..num_layers.max(1) {
        let name = match rng.below(10) {
            0 => format!("block.{index}/conv \"q\""),
            1 => format!("node:{index}\\x"),
            _ => format!("layer{index}"),
        };
        let kind = rng.unit();
        let layer_inputs = if kind < 0.6 {
            match layers.last() {
                Some(prev) => vec![prev.outputs[0].clone()],
                None => vec![inputs[0].name.clone()],
            }
        } else if kind < 0.8 {
            vec![pool[rng.below(pool.len())].clone()]
        } else {
            (0..2 + rng.below(2)).map(|_| pool[rng.below(pool.len())].clone()).collect()
        };
        let outputs = if rng.chance(0.2) {
            (0..2 + rng.below(2)).map(|j| format!("{name}:o{j}")).collect()
        } else {
            vec![format!("{name}_out")]
        };
        let mut error = ErrorAmplitudes::default();
        for p in ErrorAmplitudes::PRECISIONS {
            if !rng.chance(0.3)
                && let Some(slot) = error.get_mut(p)
            {
                *slot = 10f64.powf(-3.0 + 2.0 * rng.unit());
            }
        }
        let gain = if rng.chance(0.5) { 1.0 } else { 0.5 + rng.unit() };
        let markable = !rng.chance(options.unmarkable_fraction);
        let unsupported = if !options.unsupported_choices.is_empty()
            && rng.chance(1.0 / num_layers.max(10) as f64)
        {
            vec![options.unsupported_choices[rng.below(options.unsupported_choices.len())]]
        } else {
            Vec::new()
        };
        pool.extend(outputs.iter().cloned());
        layers.push(LayerSpec {
            op: OPS[rng.below(OPS.len())].to_owned(),
            name,
            inputs: layer_inputs,
            outputs,
            error,
            gain,
            markable,
            unsupported,
        });
    }
    let last_outputs = layers.last().map(|l| l.outputs.clone()).unwrap_or_default();
    let outputs = if rng.chance(0.7) {
        last_outputs
    } else {
        let layer_tensors = &pool[inputs.len()..];
        let mut chosen: Vec<String> = Vec::new();
        for _ in 0..=rng.below(3) {
            let t = &layer_tensors[rng.below(layer_tensors.len())];
            if !chosen.contains(t) {
                chosen.push(t.clone());
            }
        }
        chosen
    };
    MockSpec {
        name: format!("generated-{seed:x}"),
        seed: rng.next() % 1000,
        noise,
        inputs,
        layers,
        outputs,
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
}

/// The comparison of the property tests: `atol`, `rtol = 0`.
#[must_use]
pub fn atol_only(atol: f64) -> CompareConfig {
    CompareConfig {
        atol: PerOutput::uniform(atol),
        rtol: PerOutput::uniform(0.0),
        ..CompareConfig::default()
    }
}

/// The real oracle over `spec`: `lower` enabled under `higher`, the backend's default input
/// and its own golden outputs, compared with `config`.
///
/// # Panics
/// When the spec or the precisions are invalid (a test's own mistake).
#[must_use]
pub fn backend_oracle(
    spec: &MockSpec,
    lower: Vec<Precision>,
    higher: Precision,
    config: CompareConfig,
) -> BackendOracle<MockBackend> {
    let backend =
        MockBackend::from_toml_str(&to_toml(spec), "generated").expect("generated specs are valid");
    let base = PrecisionPlan::new(backend.network(), lower, higher).expect("a valid plan");
    let inputs = vec![backend.default_inputs()];
    let goldens = vec![backend.golden_outputs(OutputSelection::NetworkOutputs)];
    BackendOracle::new(backend, base, inputs, goldens, config).expect("valid oracle inputs")
}

/// Renders a spec as TOML text that parses back to the same spec, leaving out every field
/// that equals its default (so parsing exercises the defaults). Seeds above `i64::MAX` cannot
/// be written in TOML.
#[must_use]
pub fn to_toml(spec: &MockSpec) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name = {}", quote(&spec.name));
    if spec.seed != 0 {
        let _ = writeln!(out, "seed = {}", spec.seed);
    }
    if spec.noise != Noise::Uniform {
        let _ = writeln!(out, "noise = {}", quote(spec.noise.name()));
    }
    if spec.layers.last().is_none_or(|l| l.outputs != spec.outputs) {
        let _ = writeln!(out, "outputs = {}", quote_list(&spec.outputs));
    }
    for input in &spec.inputs {
        let shape: Vec<String> = input.shape.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "\n[[inputs]]\nname = {}\nshape = [{}]", quote(&input.name), {
            shape.join(", ")
        });
    }
    for (i, layer) in spec.layers.iter().enumerate() {
        let _ = writeln!(out, "\n[[layers]]\nname = {}", quote(&layer.name));
        if layer.op != "Mock" {
            let _ = writeln!(out, "op = {}", quote(&layer.op));
        }
        let default_input = match i {
            0 => spec.inputs.first().map(|x| x.name.clone()),
            _ => spec.layers[i - 1].outputs.first().cloned(),
        };
        if layer.inputs.len() != 1 || Some(&layer.inputs[0]) != default_input.as_ref() {
            let _ = writeln!(out, "inputs = {}", quote_list(&layer.inputs));
        }
        if layer.outputs != [format!("{}_out", layer.name)] {
            let _ = writeln!(out, "outputs = {}", quote_list(&layer.outputs));
        }
        let errors: Vec<String> = ErrorAmplitudes::PRECISIONS
            .iter()
            .filter(|p| layer.error.get(**p) != 0.0)
            .map(|p| format!("{} = {:?}", ErrorAmplitudes::key(*p), layer.error.get(*p)))
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(out, "error = {{ {} }}", errors.join(", "));
        }
        if layer.gain != 1.0 {
            let _ = writeln!(out, "gain = {:?}", layer.gain);
        }
        if !layer.markable {
            let _ = writeln!(out, "markable = false");
        }
        if !layer.unsupported.is_empty() {
            let names: Vec<String> =
                layer.unsupported.iter().map(|p| p.name().to_owned()).collect();
            let _ = writeln!(out, "unsupported = {}", quote_list(&names));
        }
    }
    out
}

/// The precision each layer runs in when `marked` layers are marked: `higher` for a marked
/// markable layer, `lowest` for every other layer.
#[must_use]
pub fn layer_precisions(
    spec: &MockSpec,
    lowest: Precision,
    higher: Precision,
    marked: &[usize],
) -> Vec<Precision> {
    let marked: HashSet<usize> = marked.iter().copied().collect();
    spec.layers
        .iter()
        .enumerate()
        .map(|(i, l)| if l.markable && marked.contains(&i) { higher } else { lowest })
        .collect()
}

fn amplitude(layer: &LayerSpec, precision: Precision) -> f64 {
    match precision {
        Precision::Float32 => 0.0,
        Precision::Float16 => layer.error.fp16,
        Precision::BFloat16 => layer.error.bf16,
        Precision::Fp8 => layer.error.fp8,
        Precision::Int8 => layer.error.int8,
    }
}

/// The error of every tensor under `noise = "constant"` when layer `i` runs in
/// `precisions[i]` (whatever the spec's `noise`): every element of a tensor has the same
/// error, `gain * (sum of the input tensors' errors, in input order) + amplitude`.
#[must_use]
pub fn constant_errors(spec: &MockSpec, precisions: &[Precision]) -> HashMap<String, f64> {
    let mut errors: HashMap<String, f64> =
        spec.inputs.iter().map(|i| (i.name.clone(), 0.0)).collect();
    for (layer, &precision) in spec.layers.iter().zip(precisions) {
        let mut sum = 0.0;
        for input in &layer.inputs {
            sum += errors[input];
        }
        let e = layer.gain * sum + amplitude(layer, precision);
        for out in &layer.outputs {
            errors.insert(out.clone(), e);
        }
    }
    errors
}

/// The number of elements of every tensor (a layer output has its first input's shape).
#[must_use]
pub fn tensor_lengths(spec: &MockSpec) -> HashMap<String, usize> {
    let mut lengths: HashMap<String, usize> =
        spec.inputs.iter().map(|i| (i.name.clone(), i.shape.iter().product())).collect();
    for layer in &spec.layers {
        let len = lengths[&layer.inputs[0]];
        for out in &layer.outputs {
            lengths.insert(out.clone(), len);
        }
    }
    lengths
}

/// What a check should give, by the independent computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    /// Whether the plan builds (no layer runs in a precision it lists as unsupported).
    pub builds: bool,
    /// The largest `|a - v|` over the network outputs, computed in float32 from the float32
    /// values `a = (v + e) as f32` and `v`.
    pub max_absdiff: f32,
    /// Whether the check passes with `rtol = 0`: it builds and every element has
    /// `|a - v| <= atol`.
    pub passes: bool,
}

/// The expected result of marking `marked` (layer indices) with `lowest` as the lowest
/// enabled precision and `higher` for marked layers, under `noise = "constant"`, when outputs
/// are compared with `atol` and `rtol = 0` (an element passes iff `|a - v| <= atol`).
///
/// The difference is computed as the comparator sees it: the returned value is
/// `a = (f64::from(v) + e) as f32`, then `|a - v|` is computed in float32 and compared with
/// `atol` in float64 (a NaN or infinite difference fails). Use an `atol` that float32 can
/// represent exactly (for example a difference this function reported): then comparing in
/// float32, as NumPy does with a Python float tolerance, gives the same answer.
#[must_use]
pub fn expected_check(
    spec: &MockSpec,
    lowest: Precision,
    higher: Precision,
    marked: &[usize],
    atol: f64,
) -> Expectation {
    let precisions = layer_precisions(spec, lowest, higher, marked);
    expected_check_of(spec, &precisions, atol)
}

/// [`expected_check`] for any precision per layer (`precisions[i]` for layer `i`), such as a
/// three-level plan's.
#[must_use]
pub fn expected_check_of(spec: &MockSpec, precisions: &[Precision], atol: f64) -> Expectation {
    let builds = spec.layers.iter().zip(precisions).all(|(l, p)| !l.unsupported.contains(p));
    let errors = constant_errors(spec, precisions);
    let lengths = tensor_lengths(spec);
    let mut max_absdiff = 0.0f32;
    let mut all_pass = true;
    for output in &spec.outputs {
        let e = errors[output];
        for i in 0..lengths[output] {
            let v = values::golden_value(spec.seed, output, i);
            let a = (f64::from(v) + e) as f32;
            let d = (a - v).abs();
            if d.is_nan() || d > max_absdiff {
                max_absdiff = d;
            }
            if f64::from(d).partial_cmp(&atol).is_none_or(std::cmp::Ordering::is_gt) {
                all_pass = false;
            }
        }
    }
    Expectation { builds, max_absdiff, passes: builds && all_pass }
}

/// The indices of the markable layers, in order.
#[must_use]
pub fn markable_layers(spec: &MockSpec) -> Vec<usize> {
    spec.layers.iter().enumerate().filter(|(_, l)| l.markable).map(|(i, _)| i).collect()
}

/// The first (`Forward`) or last (`Reverse`) `n` markable layers, in increasing order.
#[must_use]
pub fn marked_prefix(spec: &MockSpec, n: usize, direction: Direction) -> Vec<usize> {
    let markable = markable_layers(spec);
    let n = n.min(markable.len());
    match direction {
        Direction::Forward => markable[..n].to_vec(),
        Direction::Reverse => markable[markable.len() - n..].to_vec(),
    }
}

/// For `n = 0..=C` (C markable layers), whether marking the first/last `n` markable layers
/// passes by [`expected_check`].
#[must_use]
pub fn passes_by_count(
    spec: &MockSpec,
    lowest: Precision,
    higher: Precision,
    atol: f64,
    direction: Direction,
) -> Vec<bool> {
    (0..=markable_layers(spec).len())
        .map(|n| {
            expected_check(spec, lowest, higher, &marked_prefix(spec, n, direction), atol).passes
        })
        .collect()
}

/// The smallest `n` for which marking the first/last `n` markable layers passes, or `None`
/// when even marking all of them fails.
#[must_use]
pub fn minimal_passing_count(
    spec: &MockSpec,
    lowest: Precision,
    higher: Precision,
    atol: f64,
    direction: Direction,
) -> Option<usize> {
    passes_by_count(spec, lowest, higher, atol, direction).iter().position(|&p| p)
}

/// An [`Oracle`] over a [`MockBackend`] that compares outputs with the simplest rule: an
/// element passes iff `|a - g| <= atol` (in float32, as [`expected_check`]), the rule of
/// Polygraphy's elemwise check with `rtol = 0`. It reruns every check (no cache) and counts
/// them.
#[derive(Debug)]
pub struct AtolOracle {
    backend: MockBackend,
    plan: PrecisionPlan,
    atol: f64,
    inputs: NamedTensors,
    golden: NamedTensors,
    checks: usize,
}

impl AtolOracle {
    /// An oracle with `lower` precisions enabled and `higher` for marked layers.
    pub fn new(
        backend: MockBackend,
        lower: Vec<Precision>,
        higher: Precision,
        atol: f64,
    ) -> Result<Self, PlanError> {
        let plan = PrecisionPlan::new(backend.network(), lower, higher)?;
        let inputs = backend.default_inputs();
        let golden = backend.golden_outputs(OutputSelection::EveryLayer);
        Ok(AtolOracle { backend, plan, atol, inputs, golden, checks: 0 })
    }

    /// The number of checks made so far.
    #[must_use]
    pub fn checks(&self) -> usize {
        self.checks
    }

    /// The backend.
    #[must_use]
    pub fn backend(&self) -> &MockBackend {
        &self.backend
    }

    fn compare(&self, name: &str, actual: &Tensor) -> Result<OutputComparison, SearchError> {
        let golden = self
            .golden
            .get(name)
            .ok_or_else(|| SearchError::Compare(CompareError::MissingGolden(name.to_owned())))?;
        Ok(compare_abs(name, actual, golden, self.atol))
    }
}

/// Compares two float32 tensors element by element: passes iff every `|a - g| <= atol`.
#[must_use]
pub fn compare_abs(name: &str, actual: &Tensor, golden: &Tensor, atol: f64) -> OutputComparison {
    let mut result = OutputComparison {
        name: name.to_owned(),
        passed: false,
        stat: ErrorStat::Elemwise,
        max_absdiff: 0.0,
        max_reldiff: 0.0,
        mean_absdiff: 0.0,
        mean_reldiff: 0.0,
        required_atol: 0.0,
        required_rtol: 0.0,
        mismatch: None,
        metrics: Vec::new(),
        headroom: 0.0,
    };
    let (Some(a), Some(g)) = (actual.as_f32(), golden.as_f32()) else {
        result.mismatch = Some(format!("dtypes {} and {} differ", actual.dtype(), golden.dtype()));
        return result;
    };
    if a.shape() != g.shape() {
        result.mismatch = Some(format!("shapes {:?} and {:?} differ", a.shape(), g.shape()));
        return result;
    }
    let mut passed = true;
    let (mut sum_abs, mut sum_rel) = (0.0, 0.0);
    for (&x, &y) in a.iter().zip(g.iter()) {
        let d = f64::from((x - y).abs());
        let r = d / f64::from(y.abs());
        passed &= d <= atol;
        if d.is_nan() || d > result.max_absdiff {
            result.max_absdiff = d;
        }
        if r.is_nan() || r > result.max_reldiff {
            result.max_reldiff = r;
        }
        sum_abs += d;
        sum_rel += r;
    }
    let n = a.len().max(1) as f64;
    result.mean_absdiff = sum_abs / n;
    result.mean_reldiff = sum_rel / n;
    result.required_atol = result.max_absdiff;
    result.required_rtol = result.max_reldiff;
    result.passed = passed;
    result.headroom = headroom::agree(headroom::ratio(atol, result.max_absdiff), passed);
    result
}

impl Oracle for AtolOracle {
    fn network(&self) -> &Network {
        self.backend.network()
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        let start = Instant::now();
        self.checks += 1;
        let plan = self.plan.with_marked(marked.clone());
        let mut engine = match self.backend.build(&plan, detail) {
            Ok(engine) => engine,
            Err(e) => {
                return Evaluation::failed_build(&e, start.elapsed()).ok_or_else(|| e.into());
            }
        };
        let results = engine.infer(&self.inputs)?;
        let mut outputs = Vec::new();
        for name in &self.backend.network().outputs {
            let actual = results.get(name).ok_or_else(|| {
                SearchError::InvalidInput(format!("the engine did not return output '{name}'"))
            })?;
            outputs.push(self.compare(name, actual)?);
        }
        let (isolated_values, results): (NamedTensors, NamedTensors) =
            results.into_iter().partition(|(name, _)| name.starts_with(ISOLATED_PREFIX));
        let layer_outputs = match detail {
            OutputSelection::NetworkOutputs => None,
            OutputSelection::EveryLayer | OutputSelection::Isolated => Some(
                results
                    .iter()
                    .map(|(name, actual)| self.compare(name, actual))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let isolated = (detail == OutputSelection::Isolated).then(|| {
            isolated_values
                .iter()
                .map(|(name, value)| {
                    let tensor = &name[ISOLATED_PREFIX.len()..];
                    let error = self
                        .golden
                        .get(tensor)
                        .and_then(|g| relative_error(value, g))
                        .unwrap_or(f64::INFINITY);
                    IsolatedMeasurement { name: tensor.to_owned(), error }
                })
                .collect()
        });
        Ok(Evaluation {
            passed: outputs.iter().all(|o| o.passed),
            build_error: None,
            outputs,
            layer_outputs,
            isolated,
            deviations: engine.plan_deviations(),
            duration: start.elapsed(),
            reused: false,
            refused: Vec::new(),
            samples: None,
            command: None,
            timing: None,
        })
    }
}
