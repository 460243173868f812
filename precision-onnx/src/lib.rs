//! ONNX models for precision searches: loading (with external data and `--input-shapes`),
//! the layers a user can mark, and rewriting a model to an explicit mixed precision
//! (Q/DQ for INT8, Cast for FP16/BF16).
//!
//! The flow: [`OnnxModel::load`] reads the file; [`LayerTable::build`] lists its layers
//! (nodes in topological order, subgraph nodes included); [`rewrite::layer_precisions`] turns
//! a search plan into one precision per layer; [`rewrite::rewrite`] writes the model that runs
//! exactly that, using per-tensor scales from calibration for INT8 activations;
//! [`isolate::isolated_model`] runs chosen layers alone in their plan precision from float32
//! inputs.

pub mod check_model;
pub mod error;
pub mod expose;
pub mod identity;
pub mod isolate;
pub mod layers;
pub mod model;
mod names;
pub mod ops;
pub mod proto;
pub mod rewrite;
pub mod scales;
pub mod types;
pub mod upgrade;

pub use error::OnnxError;
pub use layers::{LayerTable, OnnxLayer, OpClass};
pub use model::{InputShapes, OnnxModel};
pub use rewrite::{
    ActivationScales, Bf16Mode, RewriteOptions, RewriteSummary, WeightCache, layer_precisions,
    rewrite, rewrite_cached,
};
