//! The FP16 pre-screen: before a search that lowers to float16, one float32 run with every
//! layer output exposed finds the layers whose values float16 cannot hold, and the search
//! keeps them in the higher precision from the start instead of spending checks on them.
//!
//! A layer is kept when a value it reads or writes, or one of its weights, is larger in
//! magnitude than the threshold: float16's largest finite value (65504) by default, or a
//! lower one the user chooses (ModelOpt's `AutoCast` uses 512 for activations). A float16
//! layer reading such a value sees infinity after the cast, and one writing it overflows, so
//! no search could leave it in float16 and pass; the screen saves the checks that would find
//! that out.
//!
//! [`float32_peaks`] measures the values, [`Backend::weight_peaks`] gives the weights, and
//! [`screen`] decides from both (a pure function, property-tested).

use std::collections::HashMap;

use serde::Serialize;

use crate::{Backend, BackendError, Engine, Network, OutputSelection, PrecisionPlan, TensorSets};

/// float16's largest finite value, the default threshold.
pub const FLOAT16_MAX: f64 = 65504.0;

/// The largest finite magnitude of every float tensor a float32 run produced or read (network
/// inputs and every exposed layer output), over all the samples, by tensor name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TensorPeaks {
    /// Tensor name to largest finite `|x|`.
    pub peaks: HashMap<String, f64>,
    /// How many samples were run.
    pub samples: usize,
}

impl TensorPeaks {
    /// Folds every float tensor of `tensors` into the peaks.
    pub fn observe(&mut self, tensors: &crate::NamedTensors) {
        for (name, tensor) in tensors {
            if let Some(peak) = tensor.max_abs_finite() {
                let entry = self.peaks.entry(name.clone()).or_insert(0.0);
                *entry = entry.max(peak);
            }
        }
    }
}

/// Why the pre-screen kept one layer in the higher precision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptLayer {
    /// The layer's index.
    pub index: usize,
    /// The layer's name.
    pub name: String,
    /// The largest magnitude that decided it.
    pub peak: f64,
    /// What reached it: `output 'T'`, `input 'T'` or `a weight`.
    pub source: String,
}

impl KeptLayer {
    /// A sentence for the console and the report.
    #[must_use]
    pub fn reason(&self, threshold: f64) -> String {
        format!("{} reaches {:.4e} in float32, above {threshold}", self.source, self.peak)
    }
}

/// What the pre-screen found, as the report carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prescreen {
    /// The magnitude above which a layer was kept.
    pub threshold: f64,
    /// How many samples the float32 run covered.
    pub samples: usize,
    /// Whether the backend gave the weights' magnitudes (otherwise only values were screened).
    pub weights_screened: bool,
    /// The layers kept, in layer order.
    pub kept: Vec<KeptLayer>,
}

impl Prescreen {
    /// The indices of the kept layers.
    #[must_use]
    pub fn indices(&self) -> Vec<usize> {
        self.kept.iter().map(|k| k.index).collect()
    }
}

/// Runs the float32 plan with every layer output exposed on every input set and returns the
/// peak magnitudes of the network inputs and of every layer output. Backends without
/// [`crate::Capabilities::every_layer_output`] are refused with [`BackendError::Unsupported`].
pub fn float32_peaks<B: Backend>(
    backend: &mut B,
    inputs: &dyn TensorSets,
) -> Result<TensorPeaks, BackendError> {
    if !backend.capabilities().every_layer_output {
        return Err(BackendError::Unsupported(format!(
            "the {} backend cannot return every layer's output, which the FP16 pre-screen \
             needs; pass --no-prescreen",
            backend.name()
        )));
    }
    let plan = PrecisionPlan::float32(backend.network());
    let mut engine = backend.build(&plan, OutputSelection::EveryLayer)?;
    let mut peaks = TensorPeaks::default();
    for i in 0..inputs.len() {
        let feed = inputs.get(i).map_err(BackendError::Inference)?;
        peaks.observe(&feed);
        let produced = engine.infer(&feed)?;
        peaks.observe(&produced);
        peaks.samples += 1;
    }
    Ok(peaks)
}

/// The markable layers that read or write a value, or hold a weight, larger in magnitude than
/// `threshold`, in layer order, each with the largest such magnitude and where it was.
///
/// `weights[i]`, when given, is the largest weight magnitude of layer `i` (`None`: no float
/// weights). Tensors without a peak (not exposed, not float) decide nothing. Layers that
/// cannot be marked are left out: they never run in the higher precision.
#[must_use]
pub fn screen(
    network: &Network,
    peaks: &TensorPeaks,
    weights: Option<&[Option<f64>]>,
    threshold: f64,
) -> Vec<KeptLayer> {
    let mut kept = Vec::new();
    for layer in network.layers.iter().filter(|l| l.is_markable()) {
        let mut worst: Option<(f64, String)> = None;
        let mut consider = |peak: f64, source: String| {
            if peak > threshold && worst.as_ref().is_none_or(|(w, _)| peak > *w) {
                worst = Some((peak, source));
            }
        };
        for t in &layer.outputs {
            if let Some(&p) = peaks.peaks.get(t) {
                consider(p, format!("output '{t}'"));
            }
        }
        for t in &layer.inputs {
            if let Some(&p) = peaks.peaks.get(t) {
                consider(p, format!("input '{t}'"));
            }
        }
        if let Some(Some(p)) = weights.and_then(|w| w.get(layer.index)) {
            consider(*p, "a weight".to_owned());
        }
        if let Some((peak, source)) = worst {
            kept.push(KeptLayer { index: layer.index, name: layer.name.clone(), peak, source });
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Layer, TensorInfo};

    fn chain() -> Network {
        let layer = |i: usize, input: &str, output: &str| {
            Layer::new(i, format!("l{i}"), "Mul", vec![input.into()], vec![output.into()])
        };
        let mut shape = layer(3, "c", "d");
        shape.unmarkable_reason = Some("shape op".into());
        Network {
            name: "chain".into(),
            inputs: vec![TensorInfo::fixed("x", DType::F32, &[1])],
            layers: vec![layer(0, "x", "a"), layer(1, "a", "b"), layer(2, "b", "c"), shape],
            outputs: vec!["d".into()],
        }
    }

    fn peaks(values: &[(&str, f64)]) -> TensorPeaks {
        TensorPeaks {
            peaks: values.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
            samples: 1,
        }
    }

    #[test]
    fn a_large_value_keeps_its_writer_and_its_readers() {
        let net = chain();
        let kept = screen(&net, &peaks(&[("x", 1.0), ("a", 7e4), ("b", 3.0)]), None, FLOAT16_MAX);
        let names: Vec<&str> = kept.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["l0", "l1"]);
        assert_eq!(kept[0].source, "output 'a'");
        assert_eq!(kept[1].source, "input 'a'");
        assert!(kept[0].reason(FLOAT16_MAX).contains("7.0000e4"), "{}", kept[0].reason(65504.0));
    }

    #[test]
    fn weights_and_a_lower_threshold_count_and_unmarkable_layers_never_do() {
        let net = chain();
        let p = peaks(&[("c", 600.0), ("d", 1e9)]);
        let weights = [None, Some(70000.0), None, Some(1e9)];
        let kept = screen(&net, &p, Some(&weights), 512.0);
        let got: Vec<(usize, &str)> = kept.iter().map(|k| (k.index, k.source.as_str())).collect();
        assert_eq!(got, [(1, "a weight"), (2, "output 'c'")]);
        assert!(screen(&net, &p, Some(&weights), 1e10).is_empty());
    }

    #[test]
    fn peaks_ignore_non_finite_values_and_integers() {
        let mut p = TensorPeaks::default();
        let mut t = crate::NamedTensors::new();
        t.insert(
            "f".into(),
            crate::Tensor::F32(
                ndarray::ArrayD::from_shape_vec(vec![3], vec![-5.0, f32::INFINITY, f32::NAN])
                    .unwrap(),
            ),
        );
        t.insert(
            "i".into(),
            crate::Tensor::I64(ndarray::ArrayD::from_shape_vec(vec![1], vec![1 << 40]).unwrap()),
        );
        p.observe(&t);
        assert_eq!(p.peaks.get("f"), Some(&5.0));
        assert_eq!(p.peaks.get("i"), None);
    }
}
