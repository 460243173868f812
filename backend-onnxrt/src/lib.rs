//! A [`precision_core::Backend`] that executes ONNX models on CPU with ONNX Runtime.
//!
//! ONNX Runtime is loaded at run time from the shared library that the PyPI `onnxruntime`
//! wheel ships (see [`library`]); nothing is downloaded at build time.

pub mod library;
