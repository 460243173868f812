//! INT8 calibration on ONNX Runtime: the shared flow of [`precision_onnx::scales`] (cache,
//! input checks, passes, cache write) with the float32 model run by ONNX Runtime, every
//! tensor that INT8 plans quantize fetched.

use precision_core::{BackendError, NamedTensors};
use precision_onnx::scales::{self, ScalesError};
pub use precision_onnx::scales::{Calibration, CalibrationSettings};

use crate::backend::OnnxrtBackend;

/// Obtains the INT8 scales of `backend`'s quantized tensors: from the cache when it exists,
/// else by running the float32 model on `inputs` (writing the cache when asked).
pub fn calibrate(
    backend: &mut OnnxrtBackend,
    inputs: &[NamedTensors],
) -> Result<Calibration, BackendError> {
    let settings = backend.calibration_settings().clone();
    let fetches = backend.int8_fetches();
    let tensors: Vec<String> = fetches.iter().map(|f| f.tensor.clone()).collect();
    let cached = scales::existing_cache(&settings)?;
    let calibration = scales::calibrate(&settings, cached, &tensors, inputs, None, |visit| {
        backend.run_float32_fetching::<ScalesError>(&fetches, inputs, |name, tensor| {
            visit(name, tensor)
        })
    })?;
    Ok(calibration)
}
