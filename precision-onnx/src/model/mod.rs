//! Loading and writing ONNX models: external data, `--input-shapes`, opsets.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use indexmap::IndexMap;
use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::tensor_shape_proto::{Dimension, dimension};
use onnx_protobuf::{GraphProto, ModelProto, TensorProto, TensorShapeProto, ValueInfoProto};
use precision_core::TensorInfo;
use protobuf::{EnumOrUnknown, Message};

use crate::error::{OnnxError, Result};
use crate::proto;

mod external;
pub use external::external_data_files;
use external::load_external_data;

/// The oldest default-domain opset this crate reads.
pub const MIN_OPSET: i64 = 11;
/// The newest default-domain opset this crate was written for.
pub const MAX_OPSET: i64 = 21;

/// Protobuf's hard limit on one message: models above it must keep weights in external data.
const PROTOBUF_LIMIT: usize = 2 * 1024 * 1024 * 1024 - 1;

/// An ONNX model in memory, with every external-data tensor read in.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    /// The model message.
    pub proto: ModelProto,
}

impl OnnxModel {
    /// Reads a model file, resolving external data relative to its folder.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|source| OnnxError::Read { path: path.to_owned(), source })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_bytes(&bytes, path, base)
    }

    /// Decodes a model; `name` is used in messages and `base` is where external data lives.
    pub fn from_bytes(bytes: &[u8], name: &Path, base: &Path) -> Result<Self> {
        let mut proto = ModelProto::parse_from_bytes(bytes)
            .map_err(|e| OnnxError::Decode { path: name.to_owned(), detail: e.to_string() })?;
        check_complete(bytes, &proto)
            .map_err(|detail| OnnxError::Truncated { path: name.to_owned(), detail })?;
        load_external_data(&mut proto, base)?;
        sort_topologically(proto.graph.as_mut().expect("checked above"), &HashSet::new())?;
        let model = OnnxModel { proto };
        model.check_opset()?;
        Ok(model)
    }

    /// The main graph.
    #[must_use]
    pub fn graph(&self) -> &GraphProto {
        self.proto.graph.as_ref().expect("checked at load")
    }

    /// The main graph, mutably.
    pub fn graph_mut(&mut self) -> &mut GraphProto {
        self.proto.graph.as_mut().expect("checked at load")
    }

    /// The default-domain opset the model imports.
    #[must_use]
    pub fn opset(&self) -> i64 {
        self.proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(1, |o| o.version)
    }

    /// Sets the default-domain opset.
    pub fn set_opset(&mut self, version: i64) {
        match self
            .proto
            .opset_import
            .iter_mut()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        {
            Some(o) => o.version = version,
            None => self.proto.opset_import.push(onnx_protobuf::OperatorSetIdProto {
                domain: String::new(),
                version,
                ..Default::default()
            }),
        }
    }

    fn check_opset(&self) -> Result<()> {
        let opset = self.opset();
        if opset < MIN_OPSET {
            return Err(OnnxError::Unsupported(format!(
                "the model uses opset {opset}; opsets {MIN_OPSET} to {MAX_OPSET} are supported. \
                 Convert it first, e.g. with onnx.version_converter.convert_version(model, 13)"
            )));
        }
        Ok(())
    }

    /// Checks that every node of the default domain (in every subgraph too) uses an ONNX
    /// operator, and that every other domain is imported; names the first node that does not.
    pub fn check_ops(&self) -> Result<()> {
        let domains: HashSet<&str> =
            self.proto.opset_import.iter().map(|o| o.domain.as_str()).collect();
        check_graph_ops(self.graph(), &domains)
    }

    /// The names of the graph's initializers (which older models also list as inputs).
    #[must_use]
    pub fn initializer_names(&self) -> HashSet<&str> {
        self.graph().initializer.iter().map(|t| t.name.as_str()).collect()
    }

    /// The graph inputs that are real inputs (not initializers).
    pub fn real_inputs(&self) -> impl Iterator<Item = &ValueInfoProto> {
        let inits = self.initializer_names();
        self.graph().input.iter().filter(move |i| !inits.contains(i.name.as_str()))
    }

    /// Fixes input shapes as `--input-shapes` asks.
    pub fn set_input_shapes(&mut self, shapes: &InputShapes) -> Result<()> {
        let names: Vec<String> = self.real_inputs().map(|i| i.name.clone()).collect();
        for (name, dims) in &shapes.0 {
            if !names.contains(name) {
                return Err(OnnxError::InputShapes(format!(
                    "the model has no input '{name}'; its inputs are: {}",
                    names.join(", ")
                )));
            }
            let graph = self.graph_mut();
            let input = graph.input.iter_mut().find(|i| &i.name == name).expect("listed above");
            let Some(onnx_protobuf::type_proto::Value::TensorType(tensor)) =
                input.type_.mut_or_insert_default().value.as_mut()
            else {
                return Err(OnnxError::InputShapes(format!("input '{name}' is not a tensor")));
            };
            let declared = tensor.shape.as_ref().map(|s| s.dim.clone());
            if let Some(declared) = &declared {
                if !declared.is_empty() && declared.len() != dims.len() {
                    return Err(OnnxError::InputShapes(format!(
                        "input '{name}' has {} dimensions {}, but {} were given",
                        declared.len(),
                        shape_text(declared),
                        dims.len()
                    )));
                }
                for (i, (d, &want)) in declared.iter().zip(dims).enumerate() {
                    if let Some(dimension::Value::DimValue(v)) = d.value
                        && v > 0
                        && v != want
                    {
                        return Err(OnnxError::InputShapes(format!(
                            "input '{name}' has size {v} in dimension {i}, but {want} was given"
                        )));
                    }
                }
            }
            tensor.shape = protobuf::MessageField::some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&d| Dimension {
                        value: Some(dimension::Value::DimValue(d)),
                        ..Dimension::default()
                    })
                    .collect(),
                ..TensorShapeProto::default()
            });
        }
        Ok(())
    }

    /// The real inputs with their element types and shapes; every dimension must be fixed.
    pub fn input_infos(&self) -> Result<Vec<TensorInfo>> {
        let mut infos = Vec::new();
        for input in self.real_inputs() {
            let elem = proto::value_info_elem(input).ok_or_else(|| {
                OnnxError::Unsupported(format!("input '{}' is not a tensor", input.name))
            })?;
            let dtype = proto::dtype_of(elem).ok_or_else(|| {
                OnnxError::Unsupported(format!(
                    "input '{}' has element type {}, which is not supported",
                    input.name,
                    proto::elem_name(elem)
                ))
            })?;
            let dims = input_dims(input);
            let fixed: Option<Vec<usize>> = dims
                .iter()
                .map(|d| match d.value {
                    Some(dimension::Value::DimValue(v)) if v >= 0 => Some(v as usize),
                    _ => None,
                })
                .collect();
            let Some(shape) = fixed else {
                let example = dims
                    .iter()
                    .map(|d| match d.value {
                        Some(dimension::Value::DimValue(v)) if v >= 0 => v.to_string(),
                        _ => "1".to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                return Err(OnnxError::DynamicInput {
                    input: input.name.clone(),
                    shape: shape_text(&dims),
                    example,
                });
            };
            infos.push(TensorInfo::fixed(input.name.clone(), dtype, &shape));
        }
        Ok(infos)
    }

    /// The real inputs with their element types and shapes, dynamic dimensions as `None`;
    /// inputs of types precision cannot hold are left out.
    #[must_use]
    pub fn input_infos_lenient(&self) -> Vec<TensorInfo> {
        self.real_inputs()
            .filter_map(|input| {
                let dtype = proto::dtype_of(proto::value_info_elem(input)?)?;
                let shape = input_dims(input)
                    .iter()
                    .map(|d| match d.value {
                        Some(dimension::Value::DimValue(v)) if v >= 0 => Some(v as usize),
                        _ => None,
                    })
                    .collect();
                Some(TensorInfo { name: input.name.clone(), dtype, shape })
            })
            .collect()
    }

    /// The names of the graph outputs.
    #[must_use]
    pub fn output_names(&self) -> Vec<String> {
        self.graph().output.iter().map(|o| o.name.clone()).collect()
    }

    /// The serialized model.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let size = self.proto.compute_size() as usize;
        if size > PROTOBUF_LIMIT {
            return Err(OnnxError::Unsupported(format!(
                "the rewritten model is {size} bytes, above protobuf's 2 GB limit; writing \
                 weights as external data is not supported yet"
            )));
        }
        self.proto
            .write_to_bytes()
            .map_err(|e| OnnxError::Invalid(format!("cannot encode the model: {e}")))
    }

    /// Writes the model to `path` atomically (a temporary file in the same folder, renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        write_atomically(path, &bytes)
            .map_err(|e| OnnxError::Write { path: path.to_owned(), detail: e.to_string() })
    }
}

/// Whether a model that decoded from `bytes` is whole, or what shows it is not. A file cut at
/// a field boundary still decodes: the fields after the cut are simply missing. ONNX's writers
/// put the graph (field 7) before the opset imports (field 8), so a cut before the graph leaves
/// no graph and a cut after it no opset import. rust-protobuf also decodes a file cut inside
/// its last field as if that field's last nested message ended there, so the top-level fields
/// are checked to end within the file.
fn check_complete(bytes: &[u8], proto: &ModelProto) -> std::result::Result<(), String> {
    if let Some(field) = cut_field(bytes) {
        return Err(format!("the file ends inside its {}", model_field_name(field)));
    }
    let Some(graph) = proto.graph.as_ref() else {
        return Err("the file decodes but holds no graph".into());
    };
    if proto.opset_import.is_empty() {
        return Err("the model imports no opset (opset_import is missing)".into());
    }
    if let Some(o) = proto.opset_import.iter().find(|o| o.version <= 0) {
        return Err(format!("the opset import of domain '{}' has no version", o.domain));
    }
    if !proto.opset_import.iter().any(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        && uses_default_domain(graph)
    {
        let domains: Vec<&str> = proto.opset_import.iter().map(|o| o.domain.as_str()).collect();
        return Err(format!(
            "its nodes use ai.onnx operators, but it imports no ai.onnx opset (only {})",
            domains.join(", ")
        ));
    }
    if graph.output.is_empty() {
        return Err(if graph.node.is_empty() {
            "the graph has no nodes and no outputs".into()
        } else {
            "the graph has no outputs".into()
        });
    }
    Ok(())
}

/// The number of the top-level field that `bytes` ends inside of (0 when it ends inside a
/// field's key), or `None` when every top-level field ends within it.
fn cut_field(bytes: &[u8]) -> Option<u32> {
    let mut input = protobuf::CodedInputStream::from_bytes(bytes);
    loop {
        let tag = match input.read_raw_tag_or_eof() {
            Ok(Some(tag)) => tag,
            Ok(None) => return None,
            Err(_) => return Some(0),
        };
        // An invalid wire type is a decode error, not a cut: leave it to the decoder.
        let wire_type = protobuf::rt::WireType::new(tag & 7)?;
        if input.skip_field(wire_type).is_err() {
            return Some(tag >> 3);
        }
    }
}

/// A top-level field of `ModelProto` by number, for messages.
fn model_field_name(number: u32) -> String {
    let name = match number {
        0 => return "last field's key".to_owned(),
        1 => "ir_version",
        2 => "producer_name",
        3 => "producer_version",
        4 => "domain",
        5 => "model_version",
        6 => "doc_string",
        7 => "graph",
        8 => "opset_import",
        14 => "metadata_props",
        20 => "training_info",
        25 => "functions",
        _ => return format!("field {number}"),
    };
    format!("{name} (field {number})")
}

/// Whether a node of `graph` or of its subgraphs is of the default domain.
fn uses_default_domain(graph: &GraphProto) -> bool {
    graph.node.iter().any(|n| {
        n.domain.is_empty()
            || n.domain == "ai.onnx"
            || proto::subgraphs(n).any(|(_, _, g)| uses_default_domain(g))
    })
}

/// Puts the nodes of `graph` (and of every subgraph) in topological order, keeping the file's
/// order where it already is one (ONNX requires sorted graphs, but not every exporter obeys).
/// `outer` holds the names visible from enclosing graphs. A node holding subgraphs comes after
/// the producers of every outer value its subgraphs read.
fn sort_topologically(graph: &mut GraphProto, outer: &HashSet<String>) -> Result<()> {
    let mut visible: HashSet<String> = outer.clone();
    visible.extend(graph.input.iter().map(|i| i.name.clone()));
    visible.extend(graph.initializer.iter().map(|t| t.name.clone()));
    let mut all_visible = visible.clone();
    all_visible.extend(graph.node.iter().flat_map(|n| n.output.iter().cloned()));
    for node in &mut graph.node {
        for a in &mut node.attribute {
            if let Some(g) = a.g.as_mut() {
                sort_topologically(g, &all_visible)?;
            }
            for g in &mut a.graphs {
                sort_topologically(g, &all_visible)?;
            }
        }
    }
    let producer: std::collections::HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().filter(|o| !o.is_empty()).map(move |o| (o.as_str(), i)))
        .collect();
    // What each node reads: its inputs and, for control flow, what its subgraphs read.
    let reads: Vec<Vec<usize>> = graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut names: HashSet<&str> = n.input.iter().map(String::as_str).collect();
            let mut sub_reads = HashSet::new();
            for (_, _, g) in proto::subgraphs(n) {
                collect_reads(g, &mut sub_reads);
            }
            let mut deps: Vec<usize> = names
                .drain()
                .chain(sub_reads.iter().map(String::as_str))
                .filter(|name| !visible.contains(*name))
                .filter_map(|name| producer.get(name).copied())
                .filter(|&p| p != i)
                .collect();
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect();
    if reads.iter().enumerate().all(|(i, deps)| deps.iter().all(|&d| d < i)) {
        return Ok(());
    }
    // Kahn's algorithm, always taking the earliest ready node, so the file's order is kept
    // wherever it can be.
    let n = graph.node.len();
    let mut pending: Vec<usize> = reads.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, deps) in reads.iter().enumerate() {
        for &d in deps {
            users[d].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() < n {
        let stuck = (0..n).find(|i| !order.contains(i)).expect("some node is left");
        let node = &graph.node[stuck];
        return Err(OnnxError::Invalid(format!(
            "graph '{}' has a cycle through node '{}' ({}): ONNX graphs must be acyclic",
            graph.name, node.name, node.op_type
        )));
    }
    let mut old: Vec<Option<onnx_protobuf::NodeProto>> =
        std::mem::take(&mut graph.node).into_iter().map(Some).collect();
    graph.node = order.into_iter().map(|i| old[i].take().expect("each node once")).collect();
    Ok(())
}

/// Every name read in `graph` and its subgraphs.
fn collect_reads(graph: &GraphProto, out: &mut HashSet<String>) {
    for node in &graph.node {
        out.extend(node.input.iter().filter(|i| !i.is_empty()).cloned());
        for (_, _, g) in proto::subgraphs(node) {
            collect_reads(g, out);
        }
    }
    out.extend(graph.output.iter().map(|o| o.name.clone()));
}

fn check_graph_ops(graph: &GraphProto, domains: &HashSet<&str>) -> Result<()> {
    for (i, node) in graph.node.iter().enumerate() {
        let name = if node.name.is_empty() {
            format!("#{i} in graph '{}'", graph.name)
        } else {
            format!("'{}'", node.name)
        };
        if node.domain.is_empty() || node.domain == "ai.onnx" {
            if !crate::ops::is_onnx_op(&node.op_type) {
                return Err(OnnxError::Unsupported(format!(
                    "node {name} uses op '{}', which is not an ONNX operator; a custom op needs \
                     its own domain (and a runtime that implements it)",
                    node.op_type
                )));
            }
        } else if !domains.contains(node.domain.as_str()) {
            return Err(OnnxError::Invalid(format!(
                "node {name} uses op '{}' of domain '{}', which the model does not import \
                 (opset_import)",
                node.op_type, node.domain
            )));
        }
        for (_, _, g) in proto::subgraphs(node) {
            check_graph_ops(g, domains)?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` so that it appears whole or not at all ([`precision_files::write`]:
/// a temporary file in the same folder, flushed, renamed into place).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    precision_files::write(path, bytes)
}

fn input_dims(input: &ValueInfoProto) -> Vec<Dimension> {
    match input.type_.as_ref().and_then(|t| t.value.as_ref()) {
        Some(onnx_protobuf::type_proto::Value::TensorType(t)) => {
            t.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn shape_text(dims: &[Dimension]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(v)) if *v >= 0 => v.to_string(),
            Some(dimension::Value::DimParam(p)) if !p.is_empty() => p.clone(),
            _ => "?".to_owned(),
        })
        .collect();
    format!("[{}]", parts.join(","))
}

/// Input shapes given on the command line: `name:[1,3,224,224]`, as in Polygraphy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputShapes(pub IndexMap<String, Vec<i64>>);

impl InputShapes {
    /// Adds one `name:[d0,d1,...]` argument.
    pub fn add(&mut self, arg: &str) -> std::result::Result<(), String> {
        let (name, dims) = parse_input_shape(arg)?;
        if self.0.insert(name.clone(), dims).is_some() {
            return Err(format!("input '{name}' is given twice"));
        }
        Ok(())
    }

    /// Whether no shape was given.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for InputShapes {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut shapes = InputShapes::default();
        for arg in s.split_whitespace() {
            shapes.add(arg)?;
        }
        Ok(shapes)
    }
}

impl fmt::Display for InputShapes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(n, d)| {
                format!("{n}:[{}]", d.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
            })
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// Parses `name:[1,3,224,224]` (the name may itself hold ':'; the shape follows the last one).
pub fn parse_input_shape(arg: &str) -> std::result::Result<(String, Vec<i64>), String> {
    let usage = || format!("'{arg}' is not NAME:[D0,D1,...] (for example x:[1,3,224,224])");
    let (name, shape) = arg.rsplit_once(':').ok_or_else(usage)?;
    let inner =
        shape.trim().strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or_else(usage)?;
    if name.is_empty() {
        return Err(usage());
    }
    let dims = if inner.trim().is_empty() {
        Vec::new()
    } else {
        inner
            .split(',')
            .map(|d| {
                let d = d.trim();
                d.parse::<i64>().ok().filter(|&v| v >= 0).ok_or_else(|| {
                    format!("'{arg}': dimension '{d}' is not a non-negative integer")
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?
    };
    let sizes: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    if precision_core::element_count(&sizes).is_none() {
        return Err(format!(
            "'{arg}': the shape has more elements than any machine can hold (the product of \
             its dimensions exceeds {}); use a smaller batch/shape",
            isize::MAX
        ));
    }
    Ok((name.to_owned(), dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shape_args() {
        assert_eq!(parse_input_shape("x:[1,3,48,192]").unwrap(), ("x".into(), vec![1, 3, 48, 192]));
        assert_eq!(parse_input_shape("a:b:[2]").unwrap(), ("a:b".into(), vec![2]));
        assert_eq!(parse_input_shape("s:[]").unwrap(), ("s".into(), vec![]));
        assert!(parse_input_shape("x").is_err());
        assert!(parse_input_shape("x:[1,-3]").unwrap_err().contains("'-3'"));
        assert!(parse_input_shape(":[1]").is_err());
        let shapes: InputShapes = "x:[1,2] y:[3]".parse().unwrap();
        assert_eq!(shapes.to_string(), "x:[1,2] y:[3]");
        assert!("x:[1] x:[2]".parse::<InputShapes>().unwrap_err().contains("twice"));
    }
}
