//! INT8 calibration on ONNX Runtime: run the float32 model on the calibration inputs, measure
//! every tensor that INT8 plans quantize, and read or write TensorRT's calibration cache.

use std::path::PathBuf;
use std::time::Instant;

use precision_core::calibration::CalibrationMethod;
use precision_core::{BackendError, NamedTensors};
use precision_onnx::ActivationScales;
use precision_onnx::scales::{self, Pass, ScaleCollector};

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
        let cache = scales::read_cache(path, settings.method)?;
        let scales = scales::scales_from_cache(&cache, &tensors, path)?;
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
    let mut collector = ScaleCollector::new(&tensors, method);
    backend.run_float32_fetching(&fetches, inputs, |name, tensor| {
        collector.observe(name, tensor, Pass::Max)
    })?;
    if collector.needs_histogram() {
        backend.run_float32_fetching(&fetches, inputs, |name, tensor| {
            collector.observe(name, tensor, Pass::Histogram)
        })?;
    }
    let (scales, cache) = collector.finish();
    let mut message = format!(
        "calibrated {} tensors with {method} on {} input iteration(s) in {:.2}s",
        tensors.len(),
        inputs.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(path) = &settings.cache {
        scales::write_cache(path, &cache)?;
        message = format!("{message}; cache written to {}", path.display());
    }
    Ok(Calibration { scales, message })
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
