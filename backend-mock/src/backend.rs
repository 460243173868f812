//! The simulated backend: builds plans of a [`MockSpec`] into engines that return golden
//! values plus the error each layer's precision injects.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ndarray::{ArrayD, IxDyn};
use precision_core::{
    AnswerIdentity, Backend, BackendError, Capabilities, DType, Engine, Layer, NamedTensors,
    Network, OutputSelection, Precision, PrecisionPlan, Tensor, TensorInfo, check_plan_fits,
    isolated_name,
};

use crate::spec::{MockSpec, Noise};
use crate::{MockError, values};

/// The reason given for layers a spec marks `markable = false`.
pub const UNMARKABLE_REASON: &str = "marked unmarkable in the spec";

/// A shared count of the builds a [`MockBackend`] (and its clones) attempted.
#[derive(Debug, Clone, Default)]
pub struct BuildCounter(Arc<AtomicUsize>);

impl BuildCounter {
    /// The number of builds attempted so far, including failed ones.
    #[must_use]
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// One tensor of the simulated network, in the flat value buffers.
#[derive(Debug)]
struct Slot {
    name: String,
    shape: Vec<usize>,
    offset: usize,
    len: usize,
}

/// A layer, as tensor indices.
#[derive(Debug)]
struct LayerSlots {
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

/// Everything precomputed at construction and shared by the engines.
#[derive(Debug)]
struct Model {
    spec: MockSpec,
    network: Network,
    /// Network inputs first (in order), then every layer output in layer order.
    tensors: Vec<Slot>,
    /// Golden values of every tensor, flat.
    golden: Vec<f32>,
    /// The noise factor of every layer-output element, flat (0 for network inputs).
    noise: Vec<f64>,
    layers: Vec<LayerSlots>,
    network_outputs: Vec<usize>,
    every_layer: Vec<usize>,
    total: usize,
}

impl Model {
    /// The model of a validated spec; `file` names it if its values cannot be allocated.
    fn new(spec: MockSpec, file: &str) -> Result<Model, MockError> {
        let shapes = spec.shapes();
        let mut tensors = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut offset = 0;
        let mut add = |name: &str, tensors: &mut Vec<Slot>| {
            let shape = shapes.get(name).map(|s| s.to_vec()).unwrap_or_default();
            let len = shape.iter().product::<usize>();
            index.insert(name.to_owned(), tensors.len());
            tensors.push(Slot { name: name.to_owned(), shape, offset, len });
            offset += len;
        };
        for input in &spec.inputs {
            add(&input.name, &mut tensors);
        }
        for layer in &spec.layers {
            for out in &layer.outputs {
                add(out, &mut tensors);
            }
        }
        let total = offset;
        let out_of_memory = || MockError::OutOfMemory {
            file: file.to_owned(),
            bytes: spec.memory_bytes().unwrap_or(u64::MAX),
        };
        let mut golden = Vec::new();
        golden.try_reserve_exact(total).map_err(|_| out_of_memory())?;
        for slot in &tensors {
            golden.extend(values::golden_values(spec.seed, &slot.name, slot.len));
        }
        let mut noise = Vec::new();
        noise.try_reserve_exact(total).map_err(|_| out_of_memory())?;
        noise.resize(total, 0.0);
        let layers: Vec<LayerSlots> = spec
            .layers
            .iter()
            .map(|l| LayerSlots {
                inputs: l.inputs.iter().map(|t| index[t.as_str()]).collect(),
                outputs: l.outputs.iter().map(|t| index[t.as_str()]).collect(),
            })
            .collect();
        for (layer, slots) in spec.layers.iter().zip(&layers) {
            for &t in &slots.outputs {
                let slot = &tensors[t];
                let target = &mut noise[slot.offset..slot.offset + slot.len];
                match spec.noise {
                    Noise::Constant => target.fill(1.0),
                    Noise::Uniform => target.copy_from_slice(&values::noise_values(
                        spec.seed,
                        &layer.name,
                        &slot.name,
                        slot.len,
                    )),
                }
            }
        }
        let network_outputs: Vec<usize> = spec.outputs.iter().map(|t| index[t.as_str()]).collect();
        let mut every_layer: Vec<usize> = layers.iter().flat_map(|l| l.outputs.clone()).collect();
        every_layer.extend(network_outputs.iter().filter(|&&t| t < spec.inputs.len()));
        let network = Network {
            name: spec.name.clone(),
            inputs: spec
                .inputs
                .iter()
                .map(|i| TensorInfo::fixed(i.name.clone(), DType::F32, &i.shape))
                .collect(),
            layers: spec
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| Layer {
                    index: i,
                    name: l.name.clone(),
                    op: l.op.clone(),
                    inputs: l.inputs.clone(),
                    outputs: l.outputs.clone(),
                    unmarkable_reason: (!l.markable).then(|| UNMARKABLE_REASON.to_owned()),
                })
                .collect(),
            outputs: spec.outputs.clone(),
        };
        Ok(Model {
            spec,
            network,
            tensors,
            golden,
            noise,
            layers,
            network_outputs,
            every_layer,
            total,
        })
    }

    fn selection(&self, outputs: OutputSelection) -> &[usize] {
        match outputs {
            OutputSelection::NetworkOutputs => &self.network_outputs,
            OutputSelection::EveryLayer | OutputSelection::Isolated => &self.every_layer,
        }
    }

    /// The isolated values of every markable layer that injects error under `amplitudes`:
    /// the golden value plus that layer's own injected error (its inputs being exact), under
    /// [`isolated_name`].
    fn isolated(&self, amplitudes: &[f64]) -> NamedTensors {
        let mut result = NamedTensors::new();
        for (i, (slots, &amp)) in self.layers.iter().zip(amplitudes).enumerate() {
            if amp == 0.0 || !self.network.layers[i].is_markable() {
                continue;
            }
            for &t in &slots.outputs {
                let slot = &self.tensors[t];
                let range = slot.offset..slot.offset + slot.len;
                let data: Vec<f32> = self.golden[range.clone()]
                    .iter()
                    .zip(&self.noise[range])
                    .map(|(&v, &n)| (f64::from(v) + amp * n) as f32)
                    .collect();
                let array = ArrayD::from_shape_vec(IxDyn(&slot.shape), data)
                    .expect("a tensor's length is the product of its shape");
                result.insert(isolated_name(&slot.name), Tensor::F32(array));
            }
        }
        result
    }

    /// The error of every tensor element when layer `i` injects `amplitudes[i]`, in one pass.
    fn errors(&self, amplitudes: &[f64]) -> Vec<f64> {
        let mut e = vec![0.0f64; self.total];
        for ((layer, slots), &amp) in self.spec.layers.iter().zip(&self.layers).zip(amplitudes) {
            for &t in &slots.outputs {
                let out = &self.tensors[t];
                for i in 0..out.len {
                    let mut sum = 0.0;
                    for &s in &slots.inputs {
                        let src = &self.tensors[s];
                        sum += e[src.offset + i % src.len];
                    }
                    e[out.offset + i] = layer.gain * sum + amp * self.noise[out.offset + i];
                }
            }
        }
        e
    }

    /// The selected tensors: golden values, plus `errors` when given, rounded to float32.
    fn materialize(&self, selection: &[usize], errors: Option<&[f64]>) -> NamedTensors {
        selection
            .iter()
            .map(|&t| {
                let slot = &self.tensors[t];
                let golden = &self.golden[slot.offset..slot.offset + slot.len];
                let data: Vec<f32> = match errors {
                    None => golden.to_vec(),
                    Some(e) => golden
                        .iter()
                        .zip(&e[slot.offset..slot.offset + slot.len])
                        .map(|(&v, &err)| (f64::from(v) + err) as f32)
                        .collect(),
                };
                let array = ArrayD::from_shape_vec(IxDyn(&slot.shape), data)
                    .expect("a tensor's length is the product of its shape");
                (slot.name.clone(), Tensor::F32(array))
            })
            .collect()
    }

    fn check_inputs(&self, inputs: &NamedTensors) -> Result<(), BackendError> {
        let expected = || {
            self.spec
                .inputs
                .iter()
                .map(|i| format!("'{}' {:?}", i.name, i.shape))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for input in &self.spec.inputs {
            let Some(tensor) = inputs.get(&input.name) else {
                return Err(BackendError::Input(format!(
                    "missing input '{}' of network '{}'; the network inputs are {} (float32)",
                    input.name,
                    self.spec.name,
                    expected()
                )));
            };
            if tensor.dtype() != DType::F32 {
                return Err(BackendError::Input(format!(
                    "input '{}' has dtype {}, but network '{}' expects float32",
                    input.name,
                    tensor.dtype(),
                    self.spec.name
                )));
            }
            if tensor.shape() != input.shape.as_slice() {
                return Err(BackendError::Input(format!(
                    "input '{}' has shape {:?}, but network '{}' expects {:?}",
                    input.name,
                    tensor.shape(),
                    self.spec.name,
                    input.shape
                )));
            }
        }
        if let Some(extra) = inputs.keys().find(|n| !self.spec.inputs.iter().any(|i| &i.name == *n))
        {
            return Err(BackendError::Input(format!(
                "unexpected input '{extra}': network '{}' has no such input; its inputs are {}",
                self.spec.name,
                expected()
            )));
        }
        Ok(())
    }
}

/// A simulated backend over a network described by a [`MockSpec`].
///
/// Golden values and noise are computed once, at construction; building a plan only works out
/// each layer's precision, and running an engine computes every tensor's error in one pass
/// over the layers. Clones share the spec and the build counter.
#[derive(Debug, Clone)]
pub struct MockBackend {
    model: Arc<Model>,
    builds: BuildCounter,
    build_delay: Duration,
}

impl MockBackend {
    /// A backend for a spec, after validating it (messages name the spec by its `name`).
    pub fn from_spec(spec: MockSpec) -> Result<Self, MockError> {
        spec.validate(&spec.name)?;
        let label = spec.name.clone();
        Self::from_valid_spec(spec, &label)
    }

    fn from_valid_spec(spec: MockSpec, label: &str) -> Result<Self, MockError> {
        Ok(MockBackend {
            model: Arc::new(Model::new(spec, label)?),
            builds: BuildCounter::default(),
            build_delay: Duration::ZERO,
        })
    }

    /// A backend for a spec given as TOML text; `file_stem` names it in messages and is the
    /// network's name when the spec has no `name`.
    pub fn from_toml_str(text: &str, file_stem: &str) -> Result<Self, MockError> {
        Self::from_valid_spec(MockSpec::from_toml_str(text, file_stem)?, file_stem)
    }

    /// A backend for the spec in a TOML file; the network is named after the file stem when
    /// the spec has no `name`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, MockError> {
        let path = path.as_ref();
        Self::from_valid_spec(MockSpec::from_path(path)?, &path.display().to_string())
    }

    /// The same backend, sleeping `delay` in every build to simulate a slow builder.
    #[must_use]
    pub fn with_build_delay(mut self, delay: Duration) -> Self {
        self.build_delay = delay;
        self
    }

    /// The spec, with defaults filled in.
    #[must_use]
    pub fn spec(&self) -> &MockSpec {
        &self.model.spec
    }

    /// The number of builds attempted so far by this backend and its clones.
    #[must_use]
    pub fn builds(&self) -> usize {
        self.builds.get()
    }

    /// A handle on the build count that stays valid after the backend is moved away.
    #[must_use]
    pub fn build_counter(&self) -> BuildCounter {
        self.builds.clone()
    }

    /// The names of the tensors an engine built for `selection` returns, in order: the
    /// network outputs, or every layer output in layer order followed by network outputs that
    /// are network inputs.
    #[must_use]
    pub fn output_names(&self, selection: OutputSelection) -> Vec<String> {
        self.model
            .selection(selection)
            .iter()
            .map(|&t| self.model.tensors[t].name.clone())
            .collect()
    }

    /// The float32 reference values of the tensors `selection` picks (what a float32 build
    /// returns).
    #[must_use]
    pub fn golden_outputs(&self, selection: OutputSelection) -> NamedTensors {
        self.model.materialize(self.model.selection(selection), None)
    }

    /// Valid inputs for the network: each declared input with its shape, float32 values.
    #[must_use]
    pub fn default_inputs(&self) -> NamedTensors {
        let n = self.model.spec.inputs.len();
        self.model.materialize(&(0..n).collect::<Vec<_>>(), None)
    }

    /// Builds `plan` and runs it once on [`MockBackend::default_inputs`].
    pub fn run(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<NamedTensors, BackendError> {
        let inputs = self.default_inputs();
        self.build(plan, outputs)?.infer(&inputs)
    }
}

impl Backend for MockBackend {
    type Engine = MockEngine;

    fn name(&self) -> &'static str {
        "mock"
    }

    fn network(&self) -> &Network {
        &self.model.network
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            precisions: Precision::ALL.to_vec(),
            every_layer_output: true,
            isolated_layer_output: true,
            // Simulated layer outputs are the same values whatever is returned.
            layer_outputs_change_results: false,
        }
    }

    /// The spec as parsed, with its defaults filled in (layers, error amplitudes, gains,
    /// `unsupported` build failures, noise, seed, shapes): everything that decides answers.
    /// Its `Debug` text is the canonical form, so comments and formatting of the TOML file do
    /// not count. The simulated build time does not change answers and is left out.
    fn answer_identity(&self) -> Result<AnswerIdentity, BackendError> {
        Ok(AnswerIdentity::new().with("spec", format!("{:?}", self.model.spec)))
    }

    fn build(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<MockEngine, BackendError> {
        self.builds.increment();
        if !self.build_delay.is_zero() {
            std::thread::sleep(self.build_delay);
        }
        let model = &self.model;
        let network = &model.network;
        check_plan_fits(network, plan)?;
        let mut amplitudes = Vec::with_capacity(network.len());
        let mut deviations = Vec::new();
        let mut refused: Vec<(usize, Precision)> = Vec::new();
        for (i, layer) in model.spec.layers.iter().enumerate() {
            let precision = plan.precision_of(network, i);
            if layer.unsupported.contains(&precision) {
                refused.push((i, precision));
                continue;
            }
            if !layer.markable && plan.marked.contains(i) {
                deviations.push(format!(
                    "layer '{}' is marked but ran in {precision}, not {}: {UNMARKABLE_REASON}",
                    layer.name, plan.higher
                ));
            }
            amplitudes.push(layer.error.get(precision));
        }
        if !refused.is_empty() {
            // Like a builder with no kernel for a layer: every such layer is named.
            let named: Vec<String> = refused
                .iter()
                .map(|&(i, precision)| {
                    format!(
                        "layer '{}' has no implementation in {precision}",
                        network.layers[i].name
                    )
                })
                .collect();
            return Err(BackendError::Refused {
                message: format!(
                    "{} (the spec lists that precision in its `unsupported`); run it in another \
                     precision",
                    named.join(", ")
                ),
                layers: refused.into_iter().map(|(i, _)| i).collect(),
            });
        }
        Ok(MockEngine { model: Arc::clone(&self.model), amplitudes, outputs, deviations })
    }

    /// The mock's "model" of a plan, for `--save-model` and check commands: a small JSON
    /// document, `{"mock_plan": 1, "network": ..., "lower": [...], "higher": ...,
    /// "marked": [layer names in layer order]}` (see [`MOCK_PLAN_FORMAT`]).
    fn export_model(&self, plan: &PrecisionPlan) -> Result<Vec<u8>, BackendError> {
        let network = &self.model.network;
        check_plan_fits(network, plan)?;
        let artifact = PlanArtifact {
            mock_plan: MOCK_PLAN_FORMAT,
            network: &network.name,
            lower: plan.lower.iter().map(|p| p.name()).collect(),
            higher: plan.higher.name(),
            marked: plan.marked.iter().map(|i| network.layers[i].name.as_str()).collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&artifact)
            .map_err(|e| BackendError::Unsupported(format!("cannot write the plan: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    fn model_extension(&self) -> &'static str {
        "json"
    }

    /// A copy sharing the immutable model and the build counter; the mock runs on one thread
    /// whatever `threads` says.
    fn try_clone(&self, threads: usize) -> Result<Option<Self>, BackendError> {
        let _ = threads;
        Ok(Some(self.clone()))
    }
}

/// The version of the JSON document [`MockBackend`] writes as the model of a plan.
pub const MOCK_PLAN_FORMAT: u32 = 1;

/// The JSON document [`MockBackend`] writes for a plan.
#[derive(serde::Serialize)]
struct PlanArtifact<'a> {
    mock_plan: u32,
    network: &'a str,
    lower: Vec<&'static str>,
    higher: &'static str,
    marked: Vec<&'a str>,
}

/// A built plan of a [`MockBackend`].
#[derive(Debug)]
pub struct MockEngine {
    model: Arc<Model>,
    /// The amplitude each layer injects under the plan.
    amplitudes: Vec<f64>,
    outputs: OutputSelection,
    deviations: Vec<String>,
}

impl Engine for MockEngine {
    fn infer(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, BackendError> {
        self.model.check_inputs(inputs)?;
        let errors = self.model.errors(&self.amplitudes);
        let mut produced =
            self.model.materialize(self.model.selection(self.outputs), Some(&errors));
        if self.outputs == OutputSelection::Isolated {
            produced.extend(self.model.isolated(&self.amplitudes));
        }
        Ok(produced)
    }

    fn plan_deviations(&self) -> Vec<String> {
        self.deviations.clone()
    }
}
