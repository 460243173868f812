//! INT8 activation scales for the rewrite, and the calibration flow shared by every backend
//! that calibrates ONNX models (backend-onnxrt, backend-tensorrt's strong typing): the cache
//! read and checked when it exists, else the inputs checked (some, all finite), the float32
//! model run over them in one or two passes ([`Pass`]) and the cache written through
//! `precision-files`. The backends only run the float32 model ([`calibrate`]'s `run_pass`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use precision_core::calibration::{
    CalibrationCache, CalibrationMethod, RangeCollector, scale_from_amax,
};
use precision_core::{BackendError, DType, NamedTensors, Precision, Tensor};

use crate::ActivationScales;

/// How INT8 scales are obtained.
#[derive(Debug, Clone, Default)]
pub struct CalibrationSettings {
    /// The calibration algorithm (`--calibration`, entropy by default as in TensorRT).
    pub method: CalibrationMethod,
    /// `--calibration-cache`: read when it exists (and calibration skipped), else written.
    pub cache: Option<PathBuf>,
}

/// Why calibration failed. Converts into the [`BackendError`] a backend returns: bad input
/// (cache files, inputs) as [`BackendError::Input`], a missing calibration as
/// [`BackendError::Unsupported`], a failed float32 run as the backend's own error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScalesError {
    /// The cache file cannot be read.
    #[error("cannot read calibration cache {}: {source}", path.display())]
    ReadCache {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The cache file is not a calibration cache, or not of the method asked for.
    #[error("calibration cache {}{detail}", path.display())]
    BadCache {
        /// The file.
        path: PathBuf,
        /// What is wrong, from `: ` or ` does not parse: ` on.
        detail: String,
    },
    /// The cache lacks tensors the model quantizes.
    #[error(
        "calibration cache {} lacks {missing} of the {total} tensors this model quantizes (e.g. \
         {examples}); it was made for another model: delete it to calibrate again",
        path.display()
    )]
    CacheLacks {
        /// The file.
        path: PathBuf,
        /// How many tensors it lacks.
        missing: usize,
        /// How many the model quantizes.
        total: usize,
        /// The first few missing names, comma-separated.
        examples: String,
    },
    /// The cache file cannot be written.
    #[error("cannot write calibration cache {}: {source}", path.display())]
    WriteCache {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No input sample was given.
    #[error("calibration needs at least one input iteration")]
    NoInputs,
    /// An input holds NaN or infinite values.
    #[error(
        "calibration input '{name}' of iteration {iteration} holds {count} NaN or infinite \
         value(s); calibration needs finite data"
    )]
    NotFinite {
        /// The input.
        name: String,
        /// The 0-based sample.
        iteration: usize,
        /// How many values are not finite.
        count: usize,
    },
    /// A measured tensor is not float32.
    #[error("calibration: tensor '{name}' is {dtype}, not float32")]
    NotFloat32 {
        /// The tensor.
        name: String,
        /// Its element type.
        dtype: DType,
    },
    /// A range could not be collected.
    #[error("calibration: {0}")]
    Range(String),
    /// An INT8 plan was to be built or written before calibration.
    #[error("INT8 needs calibration scales, and the backend was not calibrated")]
    Uncalibrated,
    /// The backend's float32 run failed.
    #[error(transparent)]
    Run(#[from] BackendError),
}

impl From<ScalesError> for BackendError {
    fn from(error: ScalesError) -> Self {
        match error {
            ScalesError::Run(e) => e,
            ScalesError::NotFloat32 { .. } => BackendError::Inference(error.to_string()),
            ScalesError::Uncalibrated => BackendError::Unsupported(error.to_string()),
            other => BackendError::Input(other.to_string()),
        }
    }
}

/// Reads the calibration cache at `path` and checks that `method` made it.
pub fn read_cache(path: &Path, method: CalibrationMethod) -> Result<CalibrationCache, ScalesError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ScalesError::ReadCache { path: path.to_owned(), source })?;
    let cache = CalibrationCache::parse(&text).map_err(|e| ScalesError::BadCache {
        path: path.to_owned(),
        detail: format!(" does not parse: {e}; fix or delete it to calibrate again"),
    })?;
    cache
        .check_method(method)
        .map_err(|e| ScalesError::BadCache { path: path.to_owned(), detail: format!(": {e}") })?;
    Ok(cache)
}

/// The cache `settings` name, read and checked, when it exists.
pub fn existing_cache(
    settings: &CalibrationSettings,
) -> Result<Option<CalibrationCache>, ScalesError> {
    match settings.cache.as_ref().filter(|p| p.exists()) {
        Some(path) => read_cache(path, settings.method).map(Some),
        None => Ok(None),
    }
}

/// The scales of `tensors` in `cache` (read from `path`); an error names the tensors it lacks.
pub fn scales_from_cache(
    cache: &CalibrationCache,
    tensors: &[String],
    path: &Path,
) -> Result<ActivationScales, ScalesError> {
    let missing: Vec<&String> = tensors.iter().filter(|t| !cache.scales.contains_key(*t)).collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(|s| s.as_str()).collect();
        return Err(ScalesError::CacheLacks {
            path: path.to_owned(),
            missing: missing.len(),
            total: tensors.len(),
            examples: shown.join(", "),
        });
    }
    Ok(tensors.iter().map(|t| (t.clone(), cache.scales[t])).collect())
}

/// Writes `cache` to `path` atomically.
pub fn write_cache(path: &Path, cache: &CalibrationCache) -> Result<(), ScalesError> {
    write_cache_bytes(path, cache.to_text().as_bytes())
}

/// Writes a calibration cache's bytes (as TensorRT wrote them) to `path` atomically.
pub fn write_cache_bytes(path: &Path, bytes: &[u8]) -> Result<(), ScalesError> {
    precision_files::write(path, bytes)
        .map_err(|source| ScalesError::WriteCache { path: path.to_owned(), source })
}

/// Refuses calibration inputs that are none, or that hold NaN or infinite float values.
pub fn check_inputs(inputs: &[NamedTensors]) -> Result<(), ScalesError> {
    if inputs.is_empty() {
        return Err(ScalesError::NoInputs);
    }
    for (iteration, feed) in inputs.iter().enumerate() {
        for (name, tensor) in feed {
            if !tensor.dtype().is_float() {
                continue;
            }
            let count = tensor.to_f64_vec().into_iter().filter(|v| !v.is_finite()).count();
            if count > 0 {
                return Err(ScalesError::NotFinite { name: name.clone(), iteration, count });
            }
        }
    }
    Ok(())
}

/// The scales for a rewrite to `precisions`: `scales` once calibrated, none needed without
/// INT8, else [`ScalesError::Uncalibrated`] (for builds and exports alike).
pub fn scales_for<'a>(
    scales: Option<&'a ActivationScales>,
    precisions: &[Precision],
) -> Result<&'a ActivationScales, ScalesError> {
    static EMPTY: std::sync::OnceLock<ActivationScales> = std::sync::OnceLock::new();
    match (scales, precisions.contains(&Precision::Int8)) {
        (Some(s), _) => Ok(s),
        (None, false) => Ok(EMPTY.get_or_init(ActivationScales::new)),
        (None, true) => Err(ScalesError::Uncalibrated),
    }
}

/// The outcome of [`calibrate`].
#[derive(Debug)]
pub struct Calibration {
    /// Scale per quantized tensor.
    pub scales: ActivationScales,
    /// What was done, for the console.
    pub message: String,
}

/// The visitor [`calibrate`] hands each pass: a tensor's name (in its own graph) and value.
pub type Visit<'a> = dyn FnMut(&str, &Tensor) -> Result<(), ScalesError> + 'a;

/// The INT8 scales of `tensors`: from `cached` (the cache `settings` names, read with
/// [`existing_cache`] and checked by the backend) when there is one, else by measuring them
/// over `inputs` (checked with [`check_inputs`]) with `settings.method`. `run_pass` runs the
/// float32 model on every input and hands every measured tensor to the visitor; it is called
/// once per [`Pass`] the method needs. A cache computed here is written when `settings` names
/// one, with `trt_version` in its header when given (else the default).
pub fn calibrate(
    settings: &CalibrationSettings,
    cached: Option<CalibrationCache>,
    tensors: &[String],
    inputs: &[NamedTensors],
    trt_version: Option<u32>,
    mut run_pass: impl FnMut(&mut Visit<'_>) -> Result<(), ScalesError>,
) -> Result<Calibration, ScalesError> {
    if let (Some(cache), Some(path)) = (cached, settings.cache.as_ref()) {
        let scales = scales_from_cache(&cache, tensors, path)?;
        let message = format!(
            "INT8 scales of {} tensors read from calibration cache {} ({})",
            tensors.len(),
            path.display(),
            cache.algorithm
        );
        return Ok(Calibration { scales, message });
    }
    check_inputs(inputs)?;
    let start = Instant::now();
    let method = settings.method;
    let mut collector = ScaleCollector::new(tensors, method);
    for pass in [Pass::Max, Pass::Histogram] {
        if pass == Pass::Histogram && !collector.needs_histogram() {
            break;
        }
        run_pass(&mut |name, tensor| collector.observe(name, tensor, pass))?;
    }
    let (scales, mut cache) = collector.finish();
    if let Some(version) = trt_version {
        cache.trt_version = version;
    }
    let mut message = format!(
        "calibrated {} tensors with {method} on {} input iteration(s) in {:.2}s",
        tensors.len(),
        inputs.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(path) = &settings.cache {
        write_cache(path, &cache)?;
        message = format!("{message}; cache written to {}", path.display());
    }
    Ok(Calibration { scales, message })
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
    pub fn observe(&mut self, name: &str, tensor: &Tensor, pass: Pass) -> Result<(), ScalesError> {
        let Some(collector) = self.collectors.get_mut(name) else { return Ok(()) };
        let Some(values) = tensor.as_f32() else {
            return Err(ScalesError::NotFloat32 { name: name.to_owned(), dtype: tensor.dtype() });
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
        result.map_err(|e| ScalesError::Range(e.to_string()))
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

#[cfg(test)]
mod tests {
    use ndarray::ArrayD;

    use super::*;

    fn feed(values: Vec<f32>) -> NamedTensors {
        let mut f = NamedTensors::new();
        f.insert(
            "x".into(),
            Tensor::F32(ArrayD::from_shape_vec(vec![values.len()], values).unwrap()),
        );
        f
    }

    #[test]
    fn inputs_must_be_some_and_finite() {
        assert!(matches!(check_inputs(&[]), Err(ScalesError::NoInputs)));
        let error =
            check_inputs(&[feed(vec![1.0]), feed(vec![f32::NAN, f32::INFINITY, 2.0])]).unwrap_err();
        assert!(matches!(error, ScalesError::NotFinite { iteration: 1, count: 2, .. }));
        let backend: BackendError = error.into();
        assert!(matches!(backend, BackendError::Input(ref m) if m.contains("NaN")), "{backend}");
        check_inputs(&[feed(vec![1.0, -3.0])]).unwrap();
    }

    #[test]
    fn int8_without_scales_is_refused_as_unsupported() {
        let int8 = [Precision::Float32, Precision::Int8];
        assert!(scales_for(None, &[Precision::Float16]).unwrap().is_empty());
        let error: BackendError = scales_for(None, &int8).unwrap_err().into();
        assert!(matches!(error, BackendError::Unsupported(ref m) if m.contains("calibrat")));
        let scales: ActivationScales = [("x".to_owned(), 0.5)].into_iter().collect();
        assert_eq!(scales_for(Some(&scales), &int8).unwrap(), &scales);
    }

    #[test]
    fn the_flow_measures_in_the_passes_the_method_needs_and_writes_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calib.cache");
        let tensors = vec!["x".to_owned()];
        let inputs = [feed(vec![0.5, -2.0]), feed(vec![1.0, 0.25])];
        for (method, passes) in [(CalibrationMethod::Max, 1), (CalibrationMethod::Entropy, 2)] {
            let settings = CalibrationSettings { method, cache: Some(path.clone()) };
            let _ = std::fs::remove_file(&path);
            let mut calls = 0;
            let done = calibrate(&settings, None, &tensors, &inputs, Some(100_000), |visit| {
                calls += 1;
                inputs.iter().try_for_each(|f| visit("x", &f["x"]))
            })
            .unwrap();
            assert_eq!(calls, passes, "{method}");
            assert!(done.message.contains("cache written"), "{}", done.message);
            let cache = read_cache(&path, method).unwrap();
            assert_eq!(cache.trt_version, 100_000);
            assert_eq!(cache.scales["x"], done.scales["x"]);
            if method == CalibrationMethod::Max {
                assert_eq!(done.scales["x"], scale_from_amax(2.0));
            }
            // The cache, once there, is used as it is: no run.
            let again = calibrate(&settings, Some(cache), &tensors, &[], None, |_| {
                panic!("no run when the cache is used")
            })
            .unwrap();
            assert_eq!(again.scales, done.scales);
        }
        let error = calibrate(
            &CalibrationSettings::default(),
            None,
            &tensors,
            &[feed(vec![f32::NAN])],
            None,
            |_| panic!("no run on NaN inputs"),
        )
        .unwrap_err();
        assert!(matches!(error, ScalesError::NotFinite { .. }), "{error:?}");
    }
}
