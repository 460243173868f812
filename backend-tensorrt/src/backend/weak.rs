//! Weak typing (TensorRT 10 and earlier, Polygraphy's method): the original model parsed
//! once, each check resetting every layer's precision, pinning the marked layers and building
//! with the precision flags; INT8 calibrated by TensorRT through a calibrator that streams the
//! search's inputs (or from the cache).

use std::collections::HashMap;
use std::ffi::c_void;

use precision_core::calibration::CalibrationMethod;
use precision_core::{
    BackendError, DType, Layer, NamedTensors, Network, OutputSelection, Precision, PrecisionPlan,
    TensorInfo,
};
use precision_trt_sys::shim::{
    PTRT_CALIBRATION_ENTROPY2, PTRT_CALIBRATION_LEGACY, PTRT_CALIBRATION_MINMAX,
};

use crate::api::Api;
use crate::error::TrtError;
use crate::network::{Blob, BuildSettings, Calibrator, LayerDesc, TrtDType, TrtNetwork};
use crate::rules;
use crate::runtime::{DeviceBuffer, Stream};

use super::{LayerOutputs, TensorRtBackend, build_error};

/// What a weakly typed backend keeps: the parsed network, its layers and their types.
pub(super) struct WeakState {
    pub(super) trt: TrtNetwork,
    pub(super) layers: Vec<LayerDesc>,
    pub(super) original: HashMap<usize, TrtDType>,
}

impl TensorRtBackend {
    pub(super) fn build_weak(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<(Blob, Vec<String>), BackendError> {
        let higher = TrtDType::for_precision(plan.higher).ok_or_else(|| {
            BackendError::Unsupported(format!(
                "layers can be kept in float32, float16 or bfloat16 on TensorRT, not {}",
                plan.higher
            ))
        })?;
        if plan.lower.contains(&Precision::Fp8) {
            return Err(BackendError::Unsupported(
                "FP8 needs explicit quantization: use --typing strong with --int8/--fp16 instead"
                    .into(),
            ));
        }
        let int8 = plan.lower.contains(&Precision::Int8);
        let mut calibrator = if int8 {
            Some(StreamingCalibrator::new(
                self.api,
                self.config.calibration.method,
                &self.calibration_inputs,
                self.calibration_cache.as_deref(),
            )?)
        } else {
            None
        };
        let state = self.weak.as_mut().expect("weak typing has a network");
        for layer in &state.layers {
            match state.original.get(&layer.index) {
                Some(p) => state.trt.set_precision(layer.index, *p)?,
                None => state.trt.reset_precision(layer.index)?,
            }
        }
        let mut marked = Vec::new();
        for i in plan.marked.iter().filter(|i| self.network.layers[*i].is_markable()) {
            state.trt.set_precision(i, higher)?;
            marked.push(state.layers[i].name.clone());
        }
        let settings = BuildSettings {
            fp16: plan.lower.contains(&Precision::Float16) || plan.higher == Precision::Float16,
            int8,
            bf16: plan.lower.contains(&Precision::BFloat16) || plan.higher == Precision::BFloat16,
            constraints: (!marked.is_empty()).then_some(self.config.constraints),
            workspace_bytes: self.config.workspace_bytes,
            timing_cache: self.timing_cache.as_deref(),
            input_shapes: &self.shapes,
        };
        let extra = match outputs {
            OutputSelection::NetworkOutputs => Vec::new(),
            OutputSelection::EveryLayer => rules::readable_outputs(&state.layers),
            OutputSelection::Isolated => {
                return Err(BackendError::Unsupported(
                    "the TensorRT backend cannot isolate layers; use the CPU backend for ranked"
                        .into(),
                ));
            }
        };
        let debug = self.config.layer_outputs == LayerOutputs::Debug;
        let mut marking = Ok(());
        for &(l, o) in &extra {
            marking = if debug { state.trt.mark_debug(l, o) } else { state.trt.mark_output(l, o) };
            if marking.is_err() {
                break;
            }
        }
        let built = marking.and_then(|()| {
            state.trt.build(&settings, calibrator.as_mut().map(|c| c as &mut dyn Calibrator))
        });
        for &(l, o) in &extra {
            // Undo every mark whatever happened, so the next check starts from the model.
            let _ =
                if debug { state.trt.unmark_debug(l, o) } else { state.trt.unmark_output(l, o) };
        }
        if let Some(c) = calibrator {
            if let Some(e) = c.error {
                return Err(e.into());
            }
            if let Some(cache) = c.written {
                self.store_calibration_cache(cache)?;
            }
        }
        let built = built.map_err(|e| build_error(e, &self.network))?;
        if let Some(t) = built.timing_cache {
            self.store_timing_cache(t.bytes().to_vec())?;
        }
        Ok((built.engine, marked))
    }
}

/// Streams the search's inputs to TensorRT's calibrator, one iteration per batch.
struct StreamingCalibrator<'a> {
    api: &'static Api,
    algorithm: i32,
    inputs: &'a [NamedTensors],
    next: usize,
    buffers: Vec<DeviceBuffer>,
    cache: Option<&'a [u8]>,
    written: Option<Vec<u8>>,
    error: Option<TrtError>,
}

impl<'a> StreamingCalibrator<'a> {
    /// A calibrator streaming `inputs`, or handing TensorRT `cache` once there is one.
    fn new(
        api: &'static Api,
        method: CalibrationMethod,
        inputs: &'a [NamedTensors],
        cache: Option<&'a [u8]>,
    ) -> Result<Self, BackendError> {
        if cache.is_none() && inputs.is_empty() {
            return Err(BackendError::Unsupported(
                "INT8 needs calibration first (the search calibrates before its first INT8 build)"
                    .into(),
            ));
        }
        let algorithm = match method {
            CalibrationMethod::Entropy => PTRT_CALIBRATION_ENTROPY2,
            CalibrationMethod::Max => PTRT_CALIBRATION_MINMAX,
            CalibrationMethod::Percentile(_) => PTRT_CALIBRATION_LEGACY,
        };
        Ok(StreamingCalibrator {
            api,
            algorithm: i32::try_from(algorithm).expect("small"),
            inputs,
            next: 0,
            buffers: Vec::new(),
            cache,
            written: None,
            error: None,
        })
    }
}

impl Calibrator for StreamingCalibrator<'_> {
    fn algorithm(&self) -> i32 {
        self.algorithm
    }

    fn batch_size(&self) -> i32 {
        // Networks from ONNX have explicit batch dimensions: each batch is one input
        // iteration whatever its leading dimension, as in Polygraphy's calibrator.
        1
    }

    fn next_batch(&mut self, names: &[String]) -> Option<Vec<*mut c_void>> {
        let feed = self.inputs.get(self.next)?;
        self.next += 1;
        let result = (|| -> Result<Vec<*mut c_void>, TrtError> {
            let stream = Stream::new(self.api)?;
            let mut buffers = Vec::new();
            let mut uploads = Vec::new();
            for name in names {
                let tensor = feed.get(name).ok_or_else(|| {
                    TrtError::InvalidArgument(format!("calibration: no value for input {name}"))
                })?;
                let values: Vec<u8> =
                    tensor.to_f64_vec().iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
                let buffer = DeviceBuffer::new(self.api, values.len())?;
                buffer.upload(&values, &stream)?;
                buffers.push(buffer);
                uploads.push(values);
            }
            stream.synchronize()?;
            let pointers = buffers.iter().map(DeviceBuffer::as_ptr).collect();
            self.buffers = buffers;
            Ok(pointers)
        })();
        match result {
            Ok(p) => Some(p),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    fn read_cache(&mut self) -> Option<&[u8]> {
        self.cache
    }

    fn write_cache(&mut self, cache: &[u8]) {
        self.written = Some(cache.to_vec());
    }
}

/// The network of a weakly typed backend: TensorRT's layers, markable by Polygraphy's rule.
pub(super) fn weak_network(
    name: &str,
    layers: &[LayerDesc],
    inputs: &[crate::network::TensorDesc],
    outputs: &[crate::network::TensorDesc],
    shapes: &[(String, Vec<i64>)],
) -> Network {
    let tensor_names = |list: &[crate::network::TensorDesc]| -> Vec<String> {
        list.iter().filter_map(|t| t.name.clone()).collect()
    };
    let fixed: HashMap<&str, &Vec<i64>> = shapes.iter().map(|(n, d)| (n.as_str(), d)).collect();
    Network {
        name: name.to_owned(),
        inputs: inputs
            .iter()
            .filter_map(|t| {
                let n = t.name.clone()?;
                let dims = fixed.get(n.as_str()).map_or(&t.dims, |d| *d);
                Some(TensorInfo {
                    dtype: t.dtype.host().unwrap_or(DType::F32),
                    shape: dims.iter().map(|d| usize::try_from(*d).ok()).collect(),
                    name: n,
                })
            })
            .collect(),
        layers: layers
            .iter()
            .map(|l| {
                let mut layer = Layer::new(
                    l.index,
                    l.name.clone(),
                    l.type_name.clone(),
                    tensor_names(&l.inputs),
                    tensor_names(&l.outputs),
                );
                layer.unmarkable_reason = rules::unmarkable_reason(l);
                layer
            })
            .collect(),
        outputs: tensor_names(outputs),
    }
}
