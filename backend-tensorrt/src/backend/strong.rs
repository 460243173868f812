//! Strong typing (TensorRT 10 with `kSTRONGLY_TYPED`, the only mode on 11): each check
//! builds the ONNX model that precision-onnx rewrote for the plan (Q/DQ for INT8, Casts for
//! float16); INT8 scales come from running the float32 model with every quantized tensor
//! exposed.

use std::collections::HashMap;

use precision_core::{BackendError, NamedTensors, OutputSelection, Precision, PrecisionPlan};
use precision_onnx::expose::Fetch;
use precision_onnx::rewrite::{self, int8_activation_fetches};
use precision_onnx::scales::{self, Visit};
use precision_onnx::{Bf16Mode, OnnxModel, RewriteOptions, check_model};

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
        check_model::rewritten(
            &self.model,
            &self.table,
            precisions,
            self.scales.as_ref(),
            extra,
            RewriteOptions { bf16: Bf16Mode::Native, ..RewriteOptions::default() },
            &mut self.weights,
        )
    }

    /// Strong typing: INT8 scales by the shared calibration flow, the float32 network run on
    /// `inputs` (once, its outputs kept for a second pass) with every quantized tensor exposed.
    pub(super) fn calibrate_strong(
        &mut self,
        inputs: &[NamedTensors],
    ) -> Result<String, BackendError> {
        let fetches: Vec<Fetch> = int8_activation_fetches(&self.model, &self.table)
            .into_iter()
            .filter(|f| f.graph.is_empty())
            .collect();
        let tensors: Vec<String> = fetches.iter().map(|f| f.tensor.clone()).collect();
        let cached = self.read_calibration_cache()?;
        let settings = self.config.calibration.clone();
        let version = u32::try_from(self.api.versions().1).unwrap_or(0);
        let names: HashMap<&str, &str> =
            fetches.iter().map(|f| (f.output.as_str(), f.tensor.as_str())).collect();
        let mut outputs: Option<Vec<NamedTensors>> = None;
        let pass = |visit: &mut Visit<'_>| {
            let outputs = match &mut outputs {
                Some(kept) => kept,
                None => outputs.insert(self.float32_outputs(&fetches, inputs)?),
            };
            for (name, tensor) in outputs.iter().flatten() {
                visit(names.get(name.as_str()).copied().unwrap_or(name.as_str()), tensor)?;
            }
            Ok(())
        };
        let calibration =
            scales::calibrate(&settings, cached, &tensors, inputs, Some(version), pass)?;
        self.scales = Some(calibration.scales);
        Ok(calibration.message)
    }

    /// Strong typing: the float32 network's outputs on `inputs`, `fetches` exposed.
    fn float32_outputs(
        &mut self,
        fetches: &[Fetch],
        inputs: &[NamedTensors],
    ) -> Result<Vec<NamedTensors>, BackendError> {
        let float32 = vec![Precision::Float32; self.table.layers.len()];
        let model = self.rewritten(&float32, fetches)?;
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
        Ok(outputs)
    }
}
