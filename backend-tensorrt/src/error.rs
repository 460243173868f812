//! Errors of the TensorRT backend.

use precision_core::BackendError;

/// What went wrong in TensorRT, the shim or the CUDA runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrtError {
    /// This binary has no TensorRT.
    #[error(
        "TensorRT was not found when this binary was built; set TENSORRT_ROOT and rebuild with \
         --features tensorrt"
    )]
    NotBuilt,
    /// The shim's table is of another ABI version than this crate expects.
    #[error("the TensorRT shim has ABI version {found}, this build expects {expected}; rebuild")]
    Abi {
        /// The shim's version.
        found: u32,
        /// Ours.
        expected: u32,
    },
    /// The ONNX parser rejected the model.
    #[error("TensorRT's ONNX parser rejected the model:\n{0}")]
    Parse(String),
    /// The engine build failed (a failed check).
    #[error("{0}")]
    Build(String),
    /// No CUDA device is usable.
    #[error("no usable CUDA device: {0}; check the driver with nvidia-smi")]
    NoDevice(String),
    /// Host or device memory ran out.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// A calibration or timing cache was refused.
    #[error("{0}")]
    CacheRejected(String),
    /// The linked TensorRT cannot do this.
    #[error("{0}")]
    Unsupported(String),
    /// A bad argument (an unknown tensor, mismatched inputs).
    #[error("{0}")]
    InvalidArgument(String),
    /// Any other TensorRT error.
    #[error("TensorRT: {0}")]
    Trt(String),
    /// A CUDA runtime call failed.
    #[error("CUDA {call} failed: {message}")]
    Cuda {
        /// The call.
        call: &'static str,
        /// CUDA's error text.
        message: String,
    },
}

impl From<TrtError> for BackendError {
    fn from(e: TrtError) -> Self {
        match e {
            TrtError::Build(_) => BackendError::Build(e.to_string()),
            TrtError::InvalidArgument(_) => BackendError::Input(e.to_string()),
            TrtError::Trt(_) | TrtError::Cuda { .. } => BackendError::Inference(e.to_string()),
            _ => BackendError::Unsupported(e.to_string()),
        }
    }
}
