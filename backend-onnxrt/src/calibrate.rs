//! INT8 calibration on ONNX Runtime: run the float32 model on the calibration inputs, measure
//! every tensor that INT8 plans quantize, and read or write TensorRT's calibration cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use precision_core::calibration::{
    CalibrationCache, CalibrationMethod, RangeCollector, scale_from_amax,
};
use precision_core::{BackendError, NamedTensors, Tensor};
use precision_onnx::ActivationScales;
use precision_onnx::model::write_atomically;

use crate::backend::OnnxrtBackend;

/// How INT8 scales are obtained.
#[derive(Debug, Clone, Default)]
pub struct CalibrationSettings {
    /// The calibration algorithm (`--calibration`, entropy by default as in TensorRT).
    pub method: CalibrationMethod,
    /// `--calibration-cache`: read when it exists (and calibration skipped), else written.
    pub cache: Option<PathBuf>,
}

/// The outcome of calibration.
pub struct Calibration {
    /// Scale per quantized tensor.
    pub scales: ActivationScales,
    /// What was done, for the console.
    pub message: String,
}

/// Obtains the INT8 scales of `backend`'s quantized tensors: from the cache when it exists,
/// else by running the float32 model on `inputs` (writing the cache when asked).
pub fn calibrate(
    backend: &mut OnnxrtBackend,
    inputs: &[NamedTensors],
) -> Result<Calibration, BackendError> {
    let settings = backend.calibration_settings().clone();
    let fetches = backend.int8_fetches();
    let tensors: Vec<String> = fetches.iter().map(|f| f.tensor.clone()).collect();
    if let Some(path) = settings.cache.as_ref().filter(|p| p.exists()) {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BackendError::Input(format!("cannot read calibration cache {}: {e}", path.display()))
        })?;
        let cache = CalibrationCache::parse(&text).map_err(|e| {
            BackendError::Input(format!(
                "calibration cache {} does not parse: {e}; fix or delete it to calibrate again",
                path.display()
            ))
        })?;
        cache.check_method(settings.method).map_err(|e| {
            BackendError::Input(format!("calibration cache {}: {e}", path.display()))
        })?;
        let missing: Vec<&String> =
            tensors.iter().filter(|t| !cache.scales.contains_key(*t)).collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).map(|s| s.as_str()).collect();
            return Err(BackendError::Input(format!(
                "calibration cache {} lacks {} of the {} tensors this model quantizes (e.g. {}); \
                 it was made for another model: delete it to calibrate again",
                path.display(),
                missing.len(),
                tensors.len(),
                shown.join(", ")
            )));
        }
        let scales = tensors.iter().map(|t| (t.clone(), cache.scales[t])).collect();
        return Ok(Calibration {
            scales,
            message: format!(
                "INT8 scales of {} tensors read from calibration cache {} ({})",
                tensors.len(),
                path.display(),
                cache.algorithm
            ),
        });
    }
    if inputs.is_empty() {
        return Err(BackendError::Input("calibration needs at least one input iteration".into()));
    }
    check_finite_inputs(inputs)?;
    let start = Instant::now();
    let method = settings.method;
    let mut collectors: HashMap<String, RangeCollector> =
        tensors.iter().map(|t| (t.clone(), RangeCollector::new(t.clone(), method))).collect();
    backend.run_float32_fetching(&fetches, inputs, |name, tensor| {
        observe(&mut collectors, name, tensor, Pass::Max)
    })?;
    if collectors.values().any(RangeCollector::needs_histogram) {
        backend.run_float32_fetching(&fetches, inputs, |name, tensor| {
            observe(&mut collectors, name, tensor, Pass::Histogram)
        })?;
    }
    let mut cache = CalibrationCache::new(method);
    let mut scales = ActivationScales::new();
    for t in &tensors {
        let scale = scale_from_amax(collectors[t].amax());
        cache.scales.insert(t.clone(), scale);
        scales.insert(t.clone(), scale);
    }
    let mut message = format!(
        "calibrated {} tensors with {method} on {} input iteration(s) in {:.2}s",
        tensors.len(),
        inputs.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(path) = &settings.cache {
        write_atomically(path, cache.to_text().as_bytes()).map_err(|e| {
            BackendError::Input(format!("cannot write calibration cache {}: {e}", path.display()))
        })?;
        message = format!("{message}; cache written to {}", path.display());
    }
    Ok(Calibration { scales, message })
}

#[derive(Clone, Copy)]
enum Pass {
    Max,
    Histogram,
}

fn observe(
    collectors: &mut HashMap<String, RangeCollector>,
    name: &str,
    tensor: &Tensor,
    pass: Pass,
) -> Result<(), BackendError> {
    let Some(collector) = collectors.get_mut(name) else { return Ok(()) };
    let Some(values) = tensor.as_f32() else {
        return Err(BackendError::Inference(format!(
            "calibration: tensor '{name}' is {}, not float32",
            tensor.dtype()
        )));
    };
    let owned;
    let slice = if let Some(s) = values.as_slice() {
        s
    } else {
        owned = values.iter().copied().collect::<Vec<f32>>();
        &owned
    };
    let result = match pass {
        Pass::Max => collector.observe_max(slice),
        Pass::Histogram => collector.observe_histogram(slice),
    };
    result.map_err(|e| BackendError::Input(format!("calibration: {e}")))
}

fn check_finite_inputs(inputs: &[NamedTensors]) -> Result<(), BackendError> {
    for (i, feed) in inputs.iter().enumerate() {
        for (name, tensor) in feed {
            if !tensor.dtype().is_float() {
                continue;
            }
            let bad = tensor.to_f64_vec().into_iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                return Err(BackendError::Input(format!(
                    "calibration input '{name}' of iteration {i} holds {bad} NaN or infinite \
                     value(s); calibration needs finite data"
                )));
            }
        }
    }
    Ok(())
}
