//! A [`precision_core::Backend`] that executes ONNX models on CPU with ONNX Runtime.
//!
//! Each check rewrites the model for the plan (precision-onnx), creates an ONNX Runtime
//! session from the bytes and runs it; sessions are kept for plans that come back. INT8
//! scales come from calibration on the float32 model, once per search, or from a TensorRT
//! calibration cache. ONNX Runtime is loaded at run time from the shared library that the
//! PyPI `onnxruntime` wheel ships (see [`library`]); nothing is downloaded at build time.

pub mod backend;
pub mod calibrate;
mod convert;
pub mod gpu;
pub mod library;
pub mod providers;
mod refused;

pub use backend::{OnnxrtBackend, OnnxrtConfig, OnnxrtEngine, OpenError, environment};
pub use calibrate::CalibrationSettings;
