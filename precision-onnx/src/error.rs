//! Errors of ONNX loading, layer listing and rewriting.

use std::path::PathBuf;

/// Why an ONNX model cannot be loaded, described, rewritten or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The model file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model (corrupt or truncated protobuf).
    #[error(
        "{path} is not a valid ONNX model: {detail} (is the file complete? a truncated download \
         or a file of another format gives this error)"
    )]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the protobuf decoder said.
        detail: String,
    },
    /// The bytes decode but lack what every ONNX model has (a file cut at a field boundary).
    #[error(
        "{path}: the file looks truncated (or is not an ONNX model): {detail}; is the file \
         complete?"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },
    /// A tensor's external data cannot be read, or may not be.
    #[error("tensor '{tensor}', external data '{location}': {detail}")]
    ExternalData {
        /// The tensor.
        tensor: String,
        /// Its `location` as written in the model.
        location: String,
        /// What is wrong.
        detail: String,
    },
    /// A structural problem in the model.
    #[error("{0}")]
    Invalid(String),
    /// An input dimension is not fixed and `--input-shapes` does not fix it.
    #[error(
        "input '{input}' has dynamic dimensions {shape}: give its shape with --input-shapes \
         {input}:[{example}]"
    )]
    DynamicInput {
        /// The input's name.
        input: String,
        /// Its declared shape, with symbolic dimensions by name.
        shape: String,
        /// A shape to suggest, with 1 for every dynamic dimension.
        example: String,
    },
    /// A `--input-shapes` value that does not fit the model.
    #[error("--input-shapes: {0}")]
    InputShapes(String),
    /// The model uses something the rewrite cannot handle.
    #[error("{0}")]
    Unsupported(String),
    /// The model cannot be written.
    #[error("cannot write {path}: {detail}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
