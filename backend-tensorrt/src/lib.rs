//! The TensorRT backend of `precision`.
//!
//! Engines are built and run through precision's TensorRT shim (`precision-trt-sys`): a flat C API
//! over TensorRT's C++ classes, called through one table of functions ([`Api`]). Every handle
//! the shim or CUDA hands out is owned by a Rust type that frees it on drop
//! ([`network::TrtNetwork`], [`network::Blob`], [`runtime::CudaEngine`], [`runtime::Runner`],
//! [`runtime::DeviceBuffer`], [`runtime::Stream`]).
//!
//! Without TensorRT at build time (no `tensorrt` feature, or build.rs did not find it) the
//! crate still builds; [`TensorRtBackend::open`] then says how to get a build with TensorRT.
//! With the `fake` feature, [`fake`] provides an implementation of the shim's API in Rust for
//! tests.

mod api;
mod backend;
mod callback;
mod error;
pub mod inspect;
pub mod network;
mod refused;
pub mod rules;
pub mod runtime;

#[cfg(feature = "fake")]
pub mod fake;

pub use api::{Api, LogHandler, Severity, print_log};
pub use backend::{
    CalibrationSettings, LayerOutputs, TensorRtBackend, TensorRtConfig, TrtEngine, Typing,
};
pub use error::TrtError;
pub use network::PrecisionConstraints;
