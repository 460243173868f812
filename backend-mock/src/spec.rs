//! The TOML spec of a mock network: parsing, defaults and validation.
//!
//! ```toml
//! name = "toy"            # optional; default: the file stem
//! seed = 0                # optional (default 0): seeds golden values and noise
//! noise = "uniform"       # optional: "uniform" (default) or "constant"
//! outputs = ["conv1_out"] # optional: network outputs; default: the last layer's outputs
//!
//! [[inputs]]              # one or more network inputs
//! name = "x"
//! shape = [1, 64]         # static, every dim >= 1
//!
//! [[layers]]              # one or more, in topological order
//! name = "conv1"          # unique, non-empty
//! op = "Conv"             # optional, informational (default "Mock")
//! inputs = ["x"]          # optional; default: the previous layer's first output
//!                         # (the first network input for the first layer)
//! outputs = ["conv1_out"] # optional; default ["<name>_out"]
//! error = { int8 = 0.05, fp16 = 0.001 }  # optional amplitudes (int8, fp8, fp16, bf16)
//! gain = 1.0              # optional (default 1.0)
//! markable = true         # optional (default true)
//! unsupported = ["int8"]  # optional: precisions this layer cannot be built in
//! ```
//!
//! Integers are accepted wherever a float is expected (`gain = 1`). Precision names accept
//! the spellings [`Precision`]'s parser accepts (`fp16`, `float16`, `half`, ...).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use precision_core::Precision;
use serde::{Deserialize, Deserializer};

use crate::MockError;

/// How the error a layer injects varies across the elements of its outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Noise {
    /// The amplitude times a deterministic pseudo-random factor in `[-1, 1]` per element.
    #[default]
    Uniform,
    /// The amplitude itself on every element, so errors only grow as layers are lowered.
    Constant,
}

impl Noise {
    /// The name as written in a spec.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Noise::Uniform => "uniform",
            Noise::Constant => "constant",
        }
    }
}

/// The error amplitude a layer injects in each lowered precision (float32 injects none).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ErrorAmplitudes {
    /// Amplitude in int8.
    pub int8: f64,
    /// Amplitude in fp8.
    pub fp8: f64,
    /// Amplitude in float16.
    pub fp16: f64,
    /// Amplitude in bfloat16.
    pub bf16: f64,
}

impl ErrorAmplitudes {
    /// The precisions that have an amplitude, in spec key order.
    pub const PRECISIONS: [Precision; 4] =
        [Precision::Int8, Precision::Fp8, Precision::Float16, Precision::BFloat16];

    /// The amplitude in `precision`; 0 for float32.
    #[must_use]
    pub fn get(&self, precision: Precision) -> f64 {
        match precision {
            Precision::Float32 => 0.0,
            Precision::Float16 => self.fp16,
            Precision::BFloat16 => self.bf16,
            Precision::Fp8 => self.fp8,
            Precision::Int8 => self.int8,
        }
    }

    /// A mutable reference to the amplitude of a lowered precision; `None` for float32.
    pub fn get_mut(&mut self, precision: Precision) -> Option<&mut f64> {
        match precision {
            Precision::Float32 => None,
            Precision::Float16 => Some(&mut self.fp16),
            Precision::BFloat16 => Some(&mut self.bf16),
            Precision::Fp8 => Some(&mut self.fp8),
            Precision::Int8 => Some(&mut self.int8),
        }
    }

    /// The key a spec uses for a lowered precision (`int8`, `fp8`, `fp16`, `bf16`).
    #[must_use]
    pub fn key(precision: Precision) -> &'static str {
        match precision {
            Precision::Float32 => "fp32",
            Precision::Float16 => "fp16",
            Precision::BFloat16 => "bf16",
            Precision::Fp8 => "fp8",
            Precision::Int8 => "int8",
        }
    }
}

/// A network input of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// The tensor name.
    pub name: String,
    /// The static shape.
    pub shape: Vec<usize>,
}

/// A layer of a spec, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// The unique name.
    pub name: String,
    /// The operator type (informational).
    pub op: String,
    /// The tensors read.
    pub inputs: Vec<String>,
    /// The tensors written.
    pub outputs: Vec<String>,
    /// The injected error amplitudes.
    pub error: ErrorAmplitudes,
    /// The factor applied to the sum of the input errors.
    pub gain: f64,
    /// Whether the layer can run in the higher precision.
    pub markable: bool,
    /// Precisions the layer cannot be built in.
    pub unsupported: Vec<Precision>,
}

/// A mock network spec, with every default filled in.
///
/// Build one with [`MockSpec::from_toml_str`] or by hand; [`MockSpec::validate`] checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct MockSpec {
    /// The network's display name.
    pub name: String,
    /// Seeds golden values and noise.
    pub seed: u64,
    /// How injected errors vary across elements.
    pub noise: Noise,
    /// The network inputs.
    pub inputs: Vec<InputSpec>,
    /// The layers in topological order.
    pub layers: Vec<LayerSpec>,
    /// The network outputs.
    pub outputs: Vec<String>,
}

/// The bytes the backend holds per simulated element: a float32 golden value and a float64
/// noise factor, plus, during a check, a float64 error and a float32 output.
pub const BYTES_PER_ELEMENT: usize = 24;

/// A float that may be written as a TOML integer.
#[derive(Debug, Clone, Copy)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    noise: Noise,
    outputs: Option<Vec<String>>,
    #[serde(default)]
    inputs: Vec<RawInput>,
    #[serde(default)]
    layers: Vec<RawLayer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    shape: Vec<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: String,
    op: Option<String>,
    inputs: Option<Vec<String>>,
    outputs: Option<Vec<String>>,
    #[serde(default)]
    error: BTreeMap<String, Number>,
    gain: Option<Number>,
    markable: Option<bool>,
    #[serde(default)]
    unsupported: Vec<String>,
}

const ERROR_KEYS: &str = "int8, fp8, fp16 or bf16; float32 injects no error";
const PRECISION_NAMES: &str = "float32/fp32, float16/fp16, bfloat16/bf16, fp8 or int8";

/// Who produces a tensor.
#[derive(Clone, Copy)]
enum Producer {
    Input(usize),
    Layer(usize),
}

impl MockSpec {
    /// Parses and validates a spec. `file` names it in error messages and is the network's
    /// name when the spec has no `name` (pass the file stem).
    pub fn from_toml_str(text: &str, file: &str) -> Result<MockSpec, MockError> {
        Self::parse(text, file, file)
    }

    /// Reads, parses and validates the spec in a TOML file; the network is named after the
    /// file stem when the spec has no `name`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<MockSpec, MockError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| MockError::Io { path: path.to_owned(), source })?;
        let stem = path.file_stem().map_or_else(|| "mock".into(), |s| s.to_string_lossy());
        Self::parse(&text, &path.display().to_string(), &stem)
    }

    /// Parses and validates a spec, naming it `label` in messages and `default_name` when the
    /// spec has no `name`.
    pub(crate) fn parse(
        text: &str,
        label: &str,
        default_name: &str,
    ) -> Result<MockSpec, MockError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| MockError::Parse {
            file: label.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let spec = resolve(raw, label, default_name)?;
        spec.validate(label)?;
        Ok(spec)
    }

    /// Checks the spec, naming it `file` in messages: at least one input and layer, unique
    /// non-empty layer names, one producer per tensor, every tensor read produced by an input
    /// or an earlier layer, outputs produced, no zero dimensions, finite non-negative
    /// amplitudes, finite gains, and tensors small enough that their element count and
    /// [`MockSpec::memory_bytes`] fit in `isize`.
    pub fn validate(&self, file: &str) -> Result<(), MockError> {
        let file_s = || file.to_owned();
        if self.inputs.is_empty() {
            return Err(MockError::NoInputs { file: file_s() });
        }
        if self.layers.is_empty() {
            return Err(MockError::NoLayers { file: file_s() });
        }
        let mut producers: HashMap<&str, Producer> = HashMap::new();
        let describe = |p: Producer| match p {
            Producer::Input(i) => format!("network input '{}'", self.inputs[i].name),
            Producer::Layer(i) => format!("layer '{}'", self.layers[i].name),
        };
        for (position, input) in self.inputs.iter().enumerate() {
            if input.name.is_empty() {
                return Err(MockError::EmptyTensorName {
                    file: file_s(),
                    owner: format!("network input {position}"),
                });
            }
            if input.shape.contains(&0) {
                return Err(MockError::ZeroDim {
                    file: file_s(),
                    input: input.name.clone(),
                    shape: input.shape.clone(),
                });
            }
            if precision_core::element_count(&input.shape).is_none() {
                return Err(MockError::TooLarge {
                    file: file_s(),
                    what: format!("network input '{}' has", input.name),
                    detail: format!("shape {:?}", input.shape),
                });
            }
            if let Some(first) = producers.insert(&input.name, Producer::Input(position)) {
                return Err(MockError::DuplicateTensor {
                    file: file_s(),
                    tensor: input.name.clone(),
                    first: describe(first),
                    second: describe(Producer::Input(position)),
                });
            }
        }
        let mut names = HashSet::new();
        for (position, layer) in self.layers.iter().enumerate() {
            if layer.name.is_empty() {
                return Err(MockError::EmptyLayerName { file: file_s(), position });
            }
            if !names.insert(layer.name.as_str()) {
                return Err(MockError::DuplicateLayer { file: file_s(), name: layer.name.clone() });
            }
            for (field, list) in [("inputs", &layer.inputs), ("outputs", &layer.outputs)] {
                if list.is_empty() {
                    return Err(MockError::EmptyList {
                        file: file_s(),
                        layer: layer.name.clone(),
                        field,
                    });
                }
                if list.iter().any(String::is_empty) {
                    return Err(MockError::EmptyTensorName {
                        file: file_s(),
                        owner: format!("layer '{}' (in `{field}`)", layer.name),
                    });
                }
            }
            for out in &layer.outputs {
                if let Some(first) = producers.insert(out, Producer::Layer(position)) {
                    return Err(MockError::DuplicateTensor {
                        file: file_s(),
                        tensor: out.clone(),
                        first: describe(first),
                        second: describe(Producer::Layer(position)),
                    });
                }
            }
            for p in ErrorAmplitudes::PRECISIONS {
                let value = layer.error.get(p);
                if !value.is_finite() || value < 0.0 {
                    return Err(MockError::BadAmplitude {
                        file: file_s(),
                        layer: layer.name.clone(),
                        precision: p,
                        value,
                    });
                }
            }
            if !layer.gain.is_finite() {
                return Err(MockError::BadGain {
                    file: file_s(),
                    layer: layer.name.clone(),
                    value: layer.gain,
                });
            }
            let mut seen = HashSet::new();
            for &p in &layer.unsupported {
                if !seen.insert(p) {
                    return Err(MockError::DuplicatePrecision {
                        file: file_s(),
                        layer: layer.name.clone(),
                        field: "unsupported",
                        precision: p,
                    });
                }
            }
        }
        for (position, layer) in self.layers.iter().enumerate() {
            for tensor in &layer.inputs {
                match producers.get(tensor.as_str()) {
                    None => {
                        return Err(MockError::TensorNeverProduced {
                            file: file_s(),
                            layer: layer.name.clone(),
                            tensor: tensor.clone(),
                        });
                    }
                    Some(&Producer::Layer(j)) if j >= position => {
                        return Err(MockError::TensorProducedLater {
                            file: file_s(),
                            layer: layer.name.clone(),
                            position,
                            tensor: tensor.clone(),
                            producer: self.layers[j].name.clone(),
                            producer_position: j,
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        if self.outputs.is_empty() {
            return Err(MockError::NoOutputs { file: file_s() });
        }
        let mut seen = HashSet::new();
        for output in &self.outputs {
            if output.is_empty() {
                return Err(MockError::EmptyTensorName {
                    file: file_s(),
                    owner: "`outputs`".into(),
                });
            }
            if !producers.contains_key(output.as_str()) {
                return Err(MockError::OutputNotProduced {
                    file: file_s(),
                    output: output.clone(),
                });
            }
            if !seen.insert(output.as_str()) {
                return Err(MockError::DuplicateOutput { file: file_s(), output: output.clone() });
            }
        }
        if self.memory_bytes().is_none() {
            return Err(MockError::TooLarge {
                file: file_s(),
                what: "the network's tensors have".into(),
                detail: format!(
                    "{} tensors of the inputs' shapes {}, {BYTES_PER_ELEMENT} bytes per element",
                    self.inputs.len() + self.layers.iter().map(|l| l.outputs.len()).sum::<usize>(),
                    self.input_shapes()
                ),
            });
        }
        Ok(())
    }

    /// The number of values the backend simulates: the elements of every network input and
    /// layer output; `None` past `isize::MAX`. The spec must have passed [`MockSpec::validate`]
    /// except for this count.
    #[must_use]
    pub fn element_count(&self) -> Option<usize> {
        let shapes = self.shapes();
        let sizes = self
            .inputs
            .iter()
            .map(|i| i.name.as_str())
            .chain(self.layers.iter().flat_map(|l| l.outputs.iter().map(String::as_str)));
        sizes
            .map(|t| shapes.get(t).and_then(|s| precision_core::element_count(s)).unwrap_or(0))
            .try_fold(0usize, usize::checked_add)
            .filter(|&n| isize::try_from(n).is_ok())
    }

    /// The bytes the backend needs for its simulated values, [`BYTES_PER_ELEMENT`] per element
    /// (golden values and noise, plus one check's errors and outputs); `None` past
    /// `isize::MAX`.
    #[must_use]
    pub fn memory_bytes(&self) -> Option<u64> {
        let bytes = self.element_count()?.checked_mul(BYTES_PER_ELEMENT)?;
        isize::try_from(bytes).ok().map(|_| bytes as u64)
    }

    /// The inputs' shapes for messages: `x: [1, 64], y: [2]`.
    #[must_use]
    pub fn input_shapes(&self) -> String {
        self.inputs
            .iter()
            .map(|i| format!("{}: {:?}", i.name, i.shape))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The shape of every tensor (inputs as declared; a layer output has the shape of its
    /// layer's first input), for a validated spec.
    pub(crate) fn shapes(&self) -> HashMap<&str, &[usize]> {
        let mut shapes: HashMap<&str, &[usize]> = HashMap::new();
        for input in &self.inputs {
            shapes.insert(&input.name, &input.shape);
        }
        for layer in &self.layers {
            let shape = shapes.get(layer.inputs[0].as_str()).copied().unwrap_or(&[]);
            for out in &layer.outputs {
                shapes.insert(out, shape);
            }
        }
        shapes
    }
}

/// Fills in defaults and converts precision names.
fn resolve(raw: RawSpec, file: &str, default_name: &str) -> Result<MockSpec, MockError> {
    if raw.inputs.is_empty() {
        return Err(MockError::NoInputs { file: file.to_owned() });
    }
    if raw.layers.is_empty() {
        return Err(MockError::NoLayers { file: file.to_owned() });
    }
    let inputs: Vec<InputSpec> =
        raw.inputs.into_iter().map(|i| InputSpec { name: i.name, shape: i.shape }).collect();
    let mut layers: Vec<LayerSpec> = Vec::with_capacity(raw.layers.len());
    for raw_layer in raw.layers {
        let name = raw_layer.name;
        let inputs = match raw_layer.inputs {
            Some(list) => list,
            None => match layers.last() {
                Some(prev) => prev.outputs.first().cloned().into_iter().collect(),
                None => vec![inputs[0].name.clone()],
            },
        };
        let outputs = raw_layer.outputs.unwrap_or_else(|| vec![format!("{name}_out")]);
        let mut error = ErrorAmplitudes::default();
        let mut given = HashSet::new();
        for (key, Number(value)) in raw_layer.error {
            let precision = key.parse::<Precision>().ok().filter(|p| *p != Precision::Float32);
            let Some(precision) = precision else {
                return Err(MockError::UnknownPrecision {
                    file: file.to_owned(),
                    layer: name,
                    field: "error",
                    key,
                    expected: ERROR_KEYS,
                });
            };
            if !given.insert(precision) {
                return Err(MockError::DuplicatePrecision {
                    file: file.to_owned(),
                    layer: name,
                    field: "error",
                    precision,
                });
            }
            if let Some(slot) = error.get_mut(precision) {
                *slot = value;
            }
        }
        let mut unsupported = Vec::with_capacity(raw_layer.unsupported.len());
        for key in raw_layer.unsupported {
            match key.parse::<Precision>() {
                Ok(p) => unsupported.push(p),
                Err(_) => {
                    return Err(MockError::UnknownPrecision {
                        file: file.to_owned(),
                        layer: name,
                        field: "unsupported",
                        key,
                        expected: PRECISION_NAMES,
                    });
                }
            }
        }
        layers.push(LayerSpec {
            op: raw_layer.op.unwrap_or_else(|| "Mock".to_owned()),
            inputs,
            outputs,
            error,
            gain: raw_layer.gain.map_or(1.0, |Number(g)| g),
            markable: raw_layer.markable.unwrap_or(true),
            unsupported,
            name,
        });
    }
    let outputs = match raw.outputs {
        Some(list) => list,
        None => layers.last().map(|l| l.outputs.clone()).unwrap_or_default(),
    };
    Ok(MockSpec {
        name: raw.name.unwrap_or_else(|| default_name.to_owned()),
        seed: raw.seed,
        noise: raw.noise,
        inputs,
        layers,
        outputs,
    })
}
