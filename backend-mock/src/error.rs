//! The errors of reading and checking a mock network spec.

use std::path::PathBuf;

use precision_core::Precision;

/// Why a mock network spec could not be read or is not valid.
///
/// Every variant names the spec (`file`: the path or the name given for it) and the layer or
/// tensor concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The spec file could not be read.
    #[error("cannot read mock network spec '{}': {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not fit the spec format (syntax errors, unknown or
    /// missing fields, wrong value types); the message gives the line and column.
    #[error("{file}: invalid mock network spec: {message}")]
    Parse {
        /// The spec.
        file: String,
        /// The TOML parser's message, with the line.
        message: String,
    },
    /// No `[[inputs]]` table.
    #[error(
        "{file}: the spec declares no network inputs; add an [[inputs]] table with a name and a shape"
    )]
    NoInputs {
        /// The spec.
        file: String,
    },
    /// No `[[layers]]` table.
    #[error("{file}: the spec declares no layers; add at least one [[layers]] table with a name")]
    NoLayers {
        /// The spec.
        file: String,
    },
    /// A layer with an empty name.
    #[error("{file}: layer {position} has an empty name; give every layer a unique non-empty name")]
    EmptyLayerName {
        /// The spec.
        file: String,
        /// The layer's position (0-based).
        position: usize,
    },
    /// Two layers with one name.
    #[error("{file}: two layers are named '{name}'; layer names must be unique")]
    DuplicateLayer {
        /// The spec.
        file: String,
        /// The name.
        name: String,
    },
    /// An empty tensor name.
    #[error("{file}: {owner} names a tensor with an empty name; tensor names must be non-empty")]
    EmptyTensorName {
        /// The spec.
        file: String,
        /// Where the name appears ("network input 0", "layer 'conv1'", "`outputs`").
        owner: String,
    },
    /// A layer's `inputs` or `outputs` list is present but empty.
    #[error(
        "{file}: layer '{layer}' has an empty `{field}` list; list at least one tensor or leave the key out to get the default"
    )]
    EmptyList {
        /// The spec.
        file: String,
        /// The layer.
        layer: String,
        /// `inputs` or `outputs`.
        field: &'static str,
    },
    /// Two producers for one tensor (two layers, two inputs, or a layer output shadowing a
    /// network input).
    #[error(
        "{file}: tensor '{tensor}' is produced by both {first} and {second}; every tensor needs exactly one producer"
    )]
    DuplicateTensor {
        /// The spec.
        file: String,
        /// The tensor.
        tensor: String,
        /// The first producer ("network input 'x'", "layer 'conv1'").
        first: String,
        /// The second producer.
        second: String,
    },
    /// A layer reads a tensor that only the same or a later layer produces.
    #[error(
        "{file}: layer '{layer}' (position {position}) reads tensor '{tensor}', which is only produced later, by layer '{producer}' (position {producer_position}); list the layers in topological order (cycles are not allowed)"
    )]
    TensorProducedLater {
        /// The spec.
        file: String,
        /// The reading layer.
        layer: String,
        /// Its position.
        position: usize,
        /// The tensor.
        tensor: String,
        /// The layer that writes it.
        producer: String,
        /// The producer's position.
        producer_position: usize,
    },
    /// A layer reads a tensor nothing produces.
    #[error(
        "{file}: layer '{layer}' reads tensor '{tensor}', which no network input or layer produces; check the name"
    )]
    TensorNeverProduced {
        /// The spec.
        file: String,
        /// The reading layer.
        layer: String,
        /// The tensor.
        tensor: String,
    },
    /// `outputs = []`.
    #[error(
        "{file}: the network `outputs` list is empty; name at least one tensor or leave the key out to use the last layer's outputs"
    )]
    NoOutputs {
        /// The spec.
        file: String,
    },
    /// A network output that nothing produces.
    #[error(
        "{file}: network output '{output}' is not produced by any layer or network input; check the `outputs` list"
    )]
    OutputNotProduced {
        /// The spec.
        file: String,
        /// The output.
        output: String,
    },
    /// A network output listed twice.
    #[error("{file}: network output '{output}' is listed twice in `outputs`; list it once")]
    DuplicateOutput {
        /// The spec.
        file: String,
        /// The output.
        output: String,
    },
    /// An input shape with a zero dimension.
    #[error(
        "{file}: network input '{input}' has shape {shape:?} with a zero dimension; every dimension must be at least 1"
    )]
    ZeroDim {
        /// The spec.
        file: String,
        /// The input.
        input: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A negative, infinite or NaN error amplitude.
    #[error(
        "{file}: layer '{layer}' has error amplitude {value} for {precision}; amplitudes must be finite and at least 0"
    )]
    BadAmplitude {
        /// The spec.
        file: String,
        /// The layer.
        layer: String,
        /// The precision key.
        precision: Precision,
        /// The value given.
        value: f64,
    },
    /// An infinite or NaN gain.
    #[error("{file}: layer '{layer}' has gain {value}; the gain must be a finite number")]
    BadGain {
        /// The spec.
        file: String,
        /// The layer.
        layer: String,
        /// The value given.
        value: f64,
    },
    /// A key of `error` or an entry of `unsupported` that is not a precision it accepts.
    #[error(
        "{file}: layer '{layer}' has unknown precision '{key}' in `{field}` (expected {expected})"
    )]
    UnknownPrecision {
        /// The spec.
        file: String,
        /// The layer.
        layer: String,
        /// `error` or `unsupported`.
        field: &'static str,
        /// The key given.
        key: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A precision given twice (for example as `fp16` and `float16`).
    #[error("{file}: layer '{layer}' gives {precision} more than once in `{field}`; give it once")]
    DuplicatePrecision {
        /// The spec.
        file: String,
        /// The layer.
        layer: String,
        /// `error` or `unsupported`.
        field: &'static str,
        /// The precision.
        precision: Precision,
    },
    /// Shapes whose values no machine could hold (element counts past `isize::MAX`).
    #[error(
        "{file}: {what} more elements than any machine can hold ({detail}); use smaller input shapes"
    )]
    TooLarge {
        /// The spec.
        file: String,
        /// What is too large, with its verb ("network input 'x' has", "the network's tensors
        /// have").
        what: String,
        /// The shape or the count.
        detail: String,
    },
    /// The simulated values could not be allocated.
    #[error(
        "{file}: cannot allocate {bytes} bytes for the simulated values of the network's tensors; use smaller input shapes"
    )]
    OutOfMemory {
        /// The spec.
        file: String,
        /// The bytes asked for.
        bytes: u64,
    },
}
