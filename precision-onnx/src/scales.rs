//! INT8 activation scales for the rewrite, shared by every backend that calibrates ONNX
//! models: reading and checking TensorRT's calibration cache, collecting ranges from float32
//! runs, and writing the cache.

use std::collections::HashMap;
use std::path::Path;

use precision_core::calibration::{
    CalibrationCache, CalibrationMethod, RangeCollector, scale_from_amax,
};
use precision_core::{BackendError, Tensor};

use crate::ActivationScales;
use crate::model::write_atomically;

/// Reads the calibration cache at `path` and checks that `method` made it.
pub fn read_cache(
    path: &Path,
    method: CalibrationMethod,
) -> Result<CalibrationCache, BackendError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BackendError::Input(format!("cannot read calibration cache {}: {e}", path.display()))
    })?;
    let cache = CalibrationCache::parse(&text).map_err(|e| {
        BackendError::Input(format!(
            "calibration cache {} does not parse: {e}; fix or delete it to calibrate again",
            path.display()
        ))
    })?;
    cache
        .check_method(method)
        .map_err(|e| BackendError::Input(format!("calibration cache {}: {e}", path.display())))?;
    Ok(cache)
}

/// The scales of `tensors` in `cache` (read from `path`); an error names the tensors it lacks.
pub fn scales_from_cache(
    cache: &CalibrationCache,
    tensors: &[String],
    path: &Path,
) -> Result<ActivationScales, BackendError> {
    let missing: Vec<&String> = tensors.iter().filter(|t| !cache.scales.contains_key(*t)).collect();
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
    Ok(tensors.iter().map(|t| (t.clone(), cache.scales[t])).collect())
}

/// Writes `cache` to `path` atomically.
pub fn write_cache(path: &Path, cache: &CalibrationCache) -> Result<(), BackendError> {
    write_atomically(path, cache.to_text().as_bytes()).map_err(|e| {
        BackendError::Input(format!("cannot write calibration cache {}: {e}", path.display()))
    })
}

/// Which pass over the calibration data a value belongs to: the maxima first, then (for
/// methods that need one) the histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Each tensor's largest magnitude.
    Max,
    /// The histograms of magnitudes, once the maxima are known.
    Histogram,
}

/// Collects the ranges of the tensors INT8 quantizes over the calibration runs.
pub struct ScaleCollector {
    tensors: Vec<String>,
    method: CalibrationMethod,
    collectors: HashMap<String, RangeCollector>,
}

impl ScaleCollector {
    /// A collector for `tensors` with `method`.
    #[must_use]
    pub fn new(tensors: &[String], method: CalibrationMethod) -> Self {
        let collectors =
            tensors.iter().map(|t| (t.clone(), RangeCollector::new(t.clone(), method))).collect();
        ScaleCollector { tensors: tensors.to_vec(), method, collectors }
    }

    /// Whether a [`Pass::Histogram`] pass is needed after the maxima.
    #[must_use]
    pub fn needs_histogram(&self) -> bool {
        self.collectors.values().any(RangeCollector::needs_histogram)
    }

    /// Takes the value of tensor `name` in `pass` (tensors not collected are ignored).
    pub fn observe(&mut self, name: &str, tensor: &Tensor, pass: Pass) -> Result<(), BackendError> {
        let Some(collector) = self.collectors.get_mut(name) else { return Ok(()) };
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

    /// The scales and the cache holding them (with the default TensorRT version header).
    #[must_use]
    pub fn finish(self) -> (ActivationScales, CalibrationCache) {
        let mut cache = CalibrationCache::new(self.method);
        let mut scales = ActivationScales::new();
        for t in &self.tensors {
            let scale = scale_from_amax(self.collectors[t].amax());
            cache.scales.insert(t.clone(), scale);
            scales.insert(t.clone(), scale);
        }
        (scales, cache)
    }
}
