//! Layers and networks: the plain data every search and backend share.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::TensorInfo;

/// One layer of a network, as the user marks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Position in the network's topological order (0-based).
    pub index: usize,
    /// The layer's name (an ONNX node name, a TensorRT layer name, a mock layer name).
    pub name: String,
    /// The operator type (`Conv`, `MatMul`, ...); informational.
    pub op: String,
    /// Names of the tensors the layer reads.
    pub inputs: Vec<String>,
    /// Names of the tensors the layer writes.
    pub outputs: Vec<String>,
    /// Why the layer cannot be run in the higher precision, or `None` when it can.
    pub unmarkable_reason: Option<String>,
}

impl Layer {
    /// A markable layer.
    #[must_use]
    pub fn new(
        index: usize,
        name: impl Into<String>,
        op: impl Into<String>,
        inputs: Vec<String>,
        outputs: Vec<String>,
    ) -> Self {
        Layer { index, name: name.into(), op: op.into(), inputs, outputs, unmarkable_reason: None }
    }

    /// Whether the layer can be marked (run in the higher precision).
    #[must_use]
    pub fn is_markable(&self) -> bool {
        self.unmarkable_reason.is_none()
    }
}

/// A network: its inputs, its layers in topological order, and its outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// A display name (the model file's stem, a spec's `name`).
    pub name: String,
    /// The network inputs.
    pub inputs: Vec<TensorInfo>,
    /// The layers, in topological order; `layers[i].index == i`.
    pub layers: Vec<Layer>,
    /// Names of the network outputs, in order.
    pub outputs: Vec<String>,
}

/// Why a [`Network`] is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// `layers[i].index != i`.
    #[error("layer '{name}' is at position {position} but says its index is {index}")]
    BadIndex {
        /// The layer's name.
        name: String,
        /// Where it is.
        position: usize,
        /// What it says.
        index: usize,
    },
    /// Two layers share a name.
    #[error("two layers are named '{0}'; layer names must be unique")]
    DuplicateLayer(String),
    /// Two producers write one tensor.
    #[error("tensor '{tensor}' is written by both '{first}' and '{second}'")]
    DuplicateTensor {
        /// The tensor.
        tensor: String,
        /// The first writer (a layer, or "the network inputs").
        first: String,
        /// The second writer.
        second: String,
    },
    /// A layer reads a tensor that no earlier layer or network input produces.
    #[error(
        "layer '{layer}' reads tensor '{tensor}', which no network input or earlier layer produces"
    )]
    DanglingInput {
        /// The reading layer.
        layer: String,
        /// The tensor.
        tensor: String,
    },
    /// A network output that nothing produces.
    #[error("network output '{0}' is not produced by any layer or network input")]
    DanglingOutput(String),
}

impl Network {
    /// The number of layers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the network has no layers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Finds a layer by name.
    #[must_use]
    pub fn layer_by_name(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// For every tensor written by a layer, the index of that layer.
    #[must_use]
    pub fn producers(&self) -> HashMap<&str, usize> {
        let mut map = HashMap::new();
        for layer in &self.layers {
            for out in &layer.outputs {
                map.insert(out.as_str(), layer.index);
            }
        }
        map
    }

    /// Checks the invariants: indices match positions, unique layer names, one writer per
    /// tensor, and every tensor read (and every output) produced before it is used.
    pub fn validate(&self) -> Result<(), NetworkError> {
        let mut writer: HashMap<&str, &str> = HashMap::new();
        for input in &self.inputs {
            if writer.insert(&input.name, "the network inputs").is_some() {
                return Err(NetworkError::DuplicateTensor {
                    tensor: input.name.clone(),
                    first: "the network inputs".into(),
                    second: "the network inputs".into(),
                });
            }
        }
        let mut names = std::collections::HashSet::new();
        for (position, layer) in self.layers.iter().enumerate() {
            if layer.index != position {
                return Err(NetworkError::BadIndex {
                    name: layer.name.clone(),
                    position,
                    index: layer.index,
                });
            }
            if !names.insert(layer.name.as_str()) {
                return Err(NetworkError::DuplicateLayer(layer.name.clone()));
            }
            for input in &layer.inputs {
                if !writer.contains_key(input.as_str()) {
                    return Err(NetworkError::DanglingInput {
                        layer: layer.name.clone(),
                        tensor: input.clone(),
                    });
                }
            }
            for out in &layer.outputs {
                if let Some(first) = writer.insert(out, &layer.name) {
                    return Err(NetworkError::DuplicateTensor {
                        tensor: out.clone(),
                        first: first.to_owned(),
                        second: layer.name.clone(),
                    });
                }
            }
        }
        for out in &self.outputs {
            if !writer.contains_key(out.as_str()) {
                return Err(NetworkError::DanglingOutput(out.clone()));
            }
        }
        Ok(())
    }
}
