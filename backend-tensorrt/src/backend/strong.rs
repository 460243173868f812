//! Strong typing (TensorRT 10 with `kSTRONGLY_TYPED`, the only mode on 11): each check
//! builds the ONNX model that precision-onnx rewrote for the plan (Q/DQ for INT8, Casts for
//! float16); INT8 scales come from running the float32 model with every quantized tensor
//! exposed.

use std::collections::HashMap;

use precision_core::{BackendError, NamedTensors, OutputSelection, Precision, PrecisionPlan};
use precision_onnx::expose::{Fetch, expose};
use precision_onnx::rewrite::{self, int8_activation_fetches};
use precision_onnx::scales::{self, Pass, ScaleCollector};
use precision_onnx::{ActivationScales, Bf16Mode, OnnxModel, RewriteOptions};

use crate::network::{Blob, BuildSettings, TrtNetwork};
use crate::runtime::{CudaEngine, Runner};

use super::{TensorRtBackend, build_error};

impl TensorRtBackend {
    pub(super) fn build_strong(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<(Blob, Vec<String>), BackendError> {
        let precisions = rewrite::layer_precisions(&self.table, &self.network, plan)
            .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        let extra = match outputs {
            OutputSelection::NetworkOutputs => Vec::new(),
            OutputSelection::EveryLayer => self.every_layer_fetches(),
            OutputSelection::Isolated => {
                return Err(BackendError::Unsupported(
                    "the TensorRT backend cannot isolate layers; use the CPU backend for ranked"
                        .into(),
                ));
            }
        };
        if precisions.contains(&Precision::Int8) && self.scales.is_none() {
            return Err(BackendError::Unsupported(
                "INT8 needs calibration first (the search calibrates before its first INT8 build)"
                    .into(),
            ));
        }
        let model = self.rewritten(&precisions, &extra)?;
        let bytes = model.to_bytes().map_err(|e| BackendError::Build(e.to_string()))?;
        let mut trt = TrtNetwork::from_onnx(self.api, &bytes, Some(&self.path), true)?;
        let settings = BuildSettings {
            workspace_bytes: self.config.workspace_bytes,
            timing_cache: self.timing_cache.as_deref(),
            input_shapes: &self.shapes,
            ..BuildSettings::default()
        };
        let built = trt.build(&settings, None).map_err(|e| build_error(e, &self.network))?;
        if let Some(t) = built.timing_cache {
            self.store_timing_cache(t.bytes().to_vec())?;
        }
        let marked = plan
            .marked
            .iter()
            .filter(|i| self.network.layers[*i].is_markable())
            .filter(|i| precisions[*i] == plan.higher)
            .map(|i| self.network.layers[i].name.clone())
            .collect();
        Ok((built.engine, marked))
    }

    fn rewritten(
        &mut self,
        precisions: &[Precision],
        extra: &[Fetch],
    ) -> Result<OnnxModel, BackendError> {
        static EMPTY: std::sync::OnceLock<ActivationScales> = std::sync::OnceLock::new();
        let scales =
            self.scales.as_ref().unwrap_or_else(|| EMPTY.get_or_init(ActivationScales::new));
        // Extra outputs are added before the rewrite (which keeps every tensor they name); the
        // model is copied only then.
        let exposed;
        let source = if extra.is_empty() {
            &self.model
        } else {
            let mut m = self.model.clone();
            expose(&mut m, extra).map_err(|e| BackendError::Unsupported(e.to_string()))?;
            exposed = m;
            &exposed
        };
        let (model, _) = rewrite::rewrite_cached(
            source,
            &self.table,
            precisions,
            scales,
            RewriteOptions { bf16: Bf16Mode::Native, ..RewriteOptions::default() },
            &mut self.weights,
        )
        .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        Ok(model)
    }

    /// Strong typing: the every-layer outputs of the main graph (TensorRT cannot mark
    /// tensors inside loops or conditionals).
    /// Strong typing: INT8 scales by running the float32 network on `inputs` with every
    /// quantized tensor exposed.
    pub(super) fn calibrate_strong(
        &mut self,
        inputs: &[NamedTensors],
    ) -> Result<String, BackendError> {
        let fetches: Vec<Fetch> = int8_activation_fetches(&self.model, &self.table)
            .into_iter()
            .filter(|f| f.graph.is_empty())
            .collect();
        let tensors: Vec<String> = fetches.iter().map(|f| f.tensor.clone()).collect();
        if let Some(cache) = self.read_calibration_cache()? {
            let path = self.config.calibration.cache.as_deref().expect("a cache was read");
            self.scales = Some(scales::scales_from_cache(&cache, &tensors, path)?);
            return Ok(format!(
                "INT8 scales of {} tensors read from the calibration cache",
                tensors.len()
            ));
        }
        if inputs.is_empty() {
            return Err(BackendError::Input(
                "calibration needs at least one input iteration".into(),
            ));
        }
        let method = self.config.calibration.method;
        let float32 = vec![Precision::Float32; self.table.layers.len()];
        let model = self.rewritten(&float32, &fetches)?;
        let bytes = model.to_bytes().map_err(|e| BackendError::Build(e.to_string()))?;
        let mut trt = TrtNetwork::from_onnx(self.api, &bytes, Some(&self.path), true)?;
        let settings = BuildSettings {
            workspace_bytes: self.config.workspace_bytes,
            input_shapes: &self.shapes,
            ..BuildSettings::default()
        };
        let built = trt.build(&settings, None).map_err(|e| {
            BackendError::Unsupported(format!("calibration: the float32 engine did not build: {e}"))
        })?;
        let mut runner =
            Runner::new(CudaEngine::deserialize(self.api, built.engine.bytes())?, false)?;
        let mut outputs = Vec::with_capacity(inputs.len());
        for feed in inputs {
            outputs.push(runner.run(feed)?);
        }
        let names: HashMap<&str, &str> =
            fetches.iter().map(|f| (f.output.as_str(), f.tensor.as_str())).collect();
        let mut collector = ScaleCollector::new(&tensors, method);
        for pass in [Pass::Max, Pass::Histogram] {
            if pass == Pass::Histogram && !collector.needs_histogram() {
                break;
            }
            for (name, tensor) in outputs.iter().flatten() {
                let tensor_name = names.get(name.as_str()).copied().unwrap_or(name.as_str());
                collector.observe(tensor_name, tensor, pass)?;
            }
        }
        let (scales, mut cache) = collector.finish();
        cache.trt_version = u32::try_from(self.api.versions().1).unwrap_or(0);
        self.scales = Some(scales);
        let mut message = format!(
            "calibrated {} tensors with {method} on {} input iteration(s) with TensorRT",
            tensors.len(),
            inputs.len()
        );
        if let Some(path) = &self.config.calibration.cache {
            scales::write_cache(path, &cache)?;
            message = format!("{message}; cache written to {}", path.display());
        }
        Ok(message)
    }
}
