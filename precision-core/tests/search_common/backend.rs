//! A tiny fake [`Backend`]: scalar tensors flowing through the layers, each layer multiplying
//! the sum of its inputs by `1 + own_error` when it runs in the lowest enabled precision.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn};
use precision_core::{
    Backend, BackendError, Capabilities, CompareConfig, CompareError, Engine, NamedTensors,
    Network, OutputComparison, OutputSelection, Precision, PrecisionPlan, Tensor,
};

use super::cmp;

/// The fake backend; every build is recorded.
#[allow(clippy::struct_excessive_bools, reason = "independent switches of a test fake")]
pub struct FakeBackend {
    pub network: Network,
    /// The relative error each layer adds when it runs low.
    pub own_error: Vec<f32>,
    pub every_layer_output: bool,
    /// Plans that fail to build.
    pub build_fails: fn(&PrecisionPlan) -> bool,
    /// Makes every build fail with an error that is not a build failure.
    pub unsupported: bool,
    /// Makes engines leave the network outputs out.
    pub drop_network_outputs: bool,
    pub builds: Vec<(PrecisionPlan, OutputSelection)>,
    /// Engines that return layer outputs compute everything in float32 (as a runtime whose
    /// fusions change when intermediate values are returned), and the capability says so.
    pub layer_outputs_change_results: bool,
    /// Builds made when [`Backend::layer_outputs_done`] was called, each time it was.
    pub layer_outputs_done: Vec<usize>,
    /// Engines built by `build` and not yet dropped, and the most ever alive at once.
    pub engines_alive: Arc<(AtomicUsize, AtomicUsize)>,
}

impl FakeBackend {
    pub fn new(network: Network, own_error: &[f32]) -> Self {
        assert_eq!(network.len(), own_error.len());
        FakeBackend {
            network,
            own_error: own_error.to_vec(),
            every_layer_output: true,
            build_fails: |_| false,
            unsupported: false,
            drop_network_outputs: false,
            builds: Vec::new(),
            layer_outputs_change_results: false,
            layer_outputs_done: Vec::new(),
            engines_alive: Arc::default(),
        }
    }

    /// What the float32 plan outputs for each input iteration (every layer output).
    pub fn float32_run(&self, inputs: &[NamedTensors]) -> Vec<NamedTensors> {
        let mut engine =
            self.engine(&PrecisionPlan::float32(&self.network), OutputSelection::EveryLayer);
        inputs.iter().map(|i| engine.infer(i).unwrap()).collect()
    }

    fn engine(&self, plan: &PrecisionPlan, selection: OutputSelection) -> FakeEngine {
        let lowest = plan.lowest();
        let factors = (0..self.network.len())
            .map(|i| {
                let exposed = self.layer_outputs_change_results
                    && selection != OutputSelection::NetworkOutputs;
                let low = !exposed
                    && lowest != Precision::Float32
                    && plan.precision_of(&self.network, i) == lowest;
                if low { 1.0 + self.own_error[i] } else { 1.0 }
            })
            .collect();
        let deviations = plan
            .marked
            .iter()
            .filter(|&i| !self.network.layers[i].is_markable())
            .map(|i| format!("layer '{}' ran in {lowest}", self.network.layers[i].name))
            .collect();
        FakeEngine {
            network: self.network.clone(),
            factors,
            selection,
            deviations,
            drop_network_outputs: self.drop_network_outputs,
            alive: None,
        }
    }
}

impl Backend for FakeBackend {
    type Engine = FakeEngine;

    fn layer_outputs_done(&mut self) {
        self.layer_outputs_done.push(self.builds.len());
    }

    fn name(&self) -> &'static str {
        "fake"
    }

    fn network(&self) -> &Network {
        &self.network
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            precisions: vec![Precision::Float32, Precision::Int8],
            every_layer_output: self.every_layer_output,
            isolated_layer_output: false,
            layer_outputs_change_results: self.layer_outputs_change_results,
        }
    }

    fn answer_identity(&self) -> Result<precision_core::AnswerIdentity, BackendError> {
        Ok(precision_core::AnswerIdentity::new().with("network", &self.network.name))
    }

    fn build(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<FakeEngine, BackendError> {
        self.builds.push((plan.clone(), outputs));
        if self.unsupported {
            return Err(BackendError::Unsupported("the fake backend lacks fp8".into()));
        }
        if (self.build_fails)(plan) {
            return Err(BackendError::Build("no int8 kernel for layer 'L0'".into()));
        }
        let (alive, most) = &*self.engines_alive;
        let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        let mut engine = self.engine(plan, outputs);
        engine.alive = Some(Arc::clone(&self.engines_alive));
        Ok(engine)
    }
}

/// An engine of the fake backend.
pub struct FakeEngine {
    network: Network,
    factors: Vec<f32>,
    selection: OutputSelection,
    deviations: Vec<String>,
    drop_network_outputs: bool,
    /// The backend's count of engines alive, for engines made by `build`.
    alive: Option<Arc<(AtomicUsize, AtomicUsize)>>,
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        if let Some(counts) = &self.alive {
            counts.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

pub fn scalar(v: f32) -> Tensor {
    Tensor::from(ArrayD::from_elem(IxDyn(&[1]), v))
}

impl Engine for FakeEngine {
    fn infer(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, BackendError> {
        let mut values: NamedTensors = inputs.clone();
        let mut order = Vec::new();
        for layer in &self.network.layers {
            let sum: f32 = layer
                .inputs
                .iter()
                .map(|t| values[t.as_str()].as_f32().unwrap().iter().sum::<f32>())
                .sum();
            for out in &layer.outputs {
                values.insert(out.clone(), scalar(sum * self.factors[layer.index]));
                order.push(out.clone());
            }
        }
        let wanted: Vec<String> = match self.selection {
            OutputSelection::NetworkOutputs => self.network.outputs.clone(),
            OutputSelection::EveryLayer | OutputSelection::Isolated => {
                let mut all = self.network.outputs.clone();
                all.extend(order.into_iter().filter(|t| !self.network.outputs.contains(t)));
                all
            }
        };
        Ok(wanted
            .into_iter()
            .filter(|t| !(self.drop_network_outputs && self.network.outputs.contains(t)))
            .map(|t| {
                let v = values[t.as_str()].clone();
                (t, v)
            })
            .collect())
    }

    fn plan_deviations(&self) -> Vec<String> {
        self.deviations.clone()
    }
}

/// One input iteration feeding `x`.
pub fn feed(x: f32) -> NamedTensors {
    [("x".to_owned(), scalar(x))].into_iter().collect()
}

/// A stand-in for the real comparator (so these tests do not depend on it): the largest
/// absolute difference, passing within 1e-3.
pub fn max_absdiff_compare(
    actual: &NamedTensors,
    golden: &NamedTensors,
    _config: &CompareConfig,
) -> Result<Vec<OutputComparison>, CompareError> {
    actual
        .iter()
        .map(|(name, a)| {
            let g = golden.get(name).ok_or_else(|| CompareError::MissingGolden(name.clone()))?;
            let diff = a
                .to_f64_vec()
                .iter()
                .zip(g.to_f64_vec())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            Ok(cmp(name, diff, diff <= 1e-3))
        })
        .collect()
}
