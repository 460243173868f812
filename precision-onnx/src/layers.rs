//! The layers of an ONNX model: its compute nodes in topological order, including the nodes
//! inside `If`/`Loop`/`Scan` subgraphs, with the reason when a node cannot be marked.

use std::collections::{HashMap, HashSet};

use onnx_protobuf::{GraphProto, NodeProto};
use precision_core::{Layer, Network, Precision, TensorInfo};

use crate::expose::Fetch;
use crate::model::OnnxModel;
use crate::names::layer_names;
use crate::proto;
use crate::types::{TypeMap, infer_types};

/// Ops that INT8 quantizes with weights and activations (Q/DQ on both).
pub const INT8_WEIGHTED_OPS: &[&str] = &["Conv", "ConvTranspose", "Gemm", "MatMul"];

/// Ops that run in INT8 next to a quantized producer, as TensorRT fuses them and ModelOpt and
/// ONNX Runtime's quantizer quantize them: Q/DQ on their activation inputs only.
pub const INT8_COMPANION_OPS: &[&str] =
    &["Add", "Mul", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool"];

/// How a layer takes part in lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// Quantized with weights and activations under INT8.
    Int8Weighted,
    /// Quantized on its activation inputs under INT8.
    Int8Companion,
    /// Any other floating-point op: lowered by FP16/BF16 only.
    Float,
}

impl OpClass {
    /// The class of an op in the default domain.
    #[must_use]
    pub fn of(node: &NodeProto) -> OpClass {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        let op = node.op_type.as_str();
        if default_domain && INT8_WEIGHTED_OPS.contains(&op) {
            OpClass::Int8Weighted
        } else if default_domain && INT8_COMPANION_OPS.contains(&op) {
            OpClass::Int8Companion
        } else {
            OpClass::Float
        }
    }

    /// Whether INT8 applies to this class.
    #[must_use]
    pub fn takes_int8(self) -> bool {
        self != OpClass::Float
    }
}

/// One step from a graph into a subgraph: the node holding it, the attribute, and the index
/// in the attribute's graph list (0 for a single-graph attribute).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GraphStep {
    /// The node's index in its graph.
    pub node: usize,
    /// The attribute name (`then_branch`, `else_branch`, `body`).
    pub attr: String,
    /// The index within the attribute's graphs.
    pub index: usize,
}

/// Where a graph is: the steps from the main graph (empty for the main graph).
pub type GraphPath = Vec<GraphStep>;

/// A node of the model seen as a layer.
#[derive(Debug, Clone)]
pub struct OnnxLayer {
    /// The unique layer name: the node name, or `<op>_<position>` when the node has none;
    /// subgraph layers are prefixed with the path through their parent node. A generated
    /// name never takes the name of a named node, nor the path name of one in a subgraph.
    pub name: String,
    /// The op type.
    pub op: String,
    /// The graph the node is in.
    pub graph: GraphPath,
    /// The node's index in that graph.
    pub node: usize,
    /// How lowering treats it.
    pub class: OpClass,
    /// Why it cannot be marked, independent of the precisions searched.
    pub unmarkable_reason: Option<String>,
    /// Its inputs as network tensors (produced by a network input or an earlier layer).
    pub inputs: Vec<String>,
    /// Its outputs as network tensors.
    pub outputs: Vec<String>,
    /// Its float outputs, as fetches (see [`crate::expose`]) named by their network names.
    pub float_outputs: Vec<Fetch>,
}

/// The layers of a model, in order.
#[derive(Debug, Clone)]
pub struct LayerTable {
    /// The layers.
    pub layers: Vec<OnnxLayer>,
    index: HashMap<(GraphPath, usize), usize>,
}

impl LayerTable {
    /// Lists the layers of `model`.
    #[must_use]
    pub fn build(model: &OnnxModel) -> LayerTable {
        let mut table = LayerTable { layers: Vec::new(), index: HashMap::new() };
        let mut produced: HashSet<String> = model.real_inputs().map(|i| i.name.clone()).collect();
        let names = layer_names(model.graph());
        let scope = Scope { types: &TypeMap::new(), consts: &HashSet::new(), names: &names };
        walk(model.graph(), &Vec::new(), &scope, &mut produced, &mut table);
        table
    }

    /// The float layer outputs that every-layer runs return: every layer's float outputs
    /// (subgraph ones included, under their network names) except the graph outputs of
    /// `model`, which are returned anyway.
    #[must_use]
    pub fn every_layer_fetches(&self, model: &OnnxModel) -> Vec<Fetch> {
        let graph_outputs: HashSet<&str> =
            model.graph().output.iter().map(|o| o.name.as_str()).collect();
        self.layers
            .iter()
            .flat_map(|l| l.float_outputs.iter())
            .filter(|f| !graph_outputs.contains(f.output.as_str()))
            .cloned()
            .collect()
    }

    /// The largest finite magnitude of each layer's float weights: the initializers and
    /// `Constant` values it reads (from its own graph or an enclosing one), in layer order;
    /// `None` for a layer that reads none. The FP16 pre-screen keeps layers whose weights
    /// float16 cannot hold. A weight whose data cannot be read counts as none.
    #[must_use]
    pub fn weight_peaks(&self, model: &OnnxModel) -> Vec<Option<f64>> {
        let mut peaks_by_graph: HashMap<GraphPath, HashMap<String, f64>> = HashMap::new();
        self.layers
            .iter()
            .map(|layer| {
                let chain = graph_chain(model.graph(), &layer.graph);
                let node = chain.last().and_then(|g| g.node.get(layer.node))?;
                let mut found: Option<f64> = None;
                for input in node.input.iter().filter(|i| !i.is_empty()) {
                    // The innermost graph that defines the name decides.
                    for depth in (0..chain.len()).rev() {
                        let path: GraphPath = layer.graph[..depth].to_vec();
                        let peaks = peaks_by_graph
                            .entry(path)
                            .or_insert_with(|| constant_peaks(chain[depth]));
                        if let Some(&p) = peaks.get(input) {
                            found = Some(found.map_or(p, |f: f64| f.max(p)));
                            break;
                        }
                    }
                }
                found
            })
            .collect()
    }

    /// The layer of the node at `node` in graph `graph`.
    #[must_use]
    pub fn layer_at(&self, graph: &GraphPath, node: usize) -> Option<usize> {
        self.index.get(&(graph.clone(), node)).copied()
    }

    /// The layers as a precision-core network. `lower` is the precisions a search lowers to:
    /// a layer that no lowered precision applies to (under INT8 alone, everything but the
    /// quantized ops) is not markable, since marking it changes nothing.
    #[must_use]
    pub fn network(
        &self,
        name: &str,
        inputs: Vec<TensorInfo>,
        outputs: Vec<String>,
        lower: &[Precision],
    ) -> Network {
        let float_lowering = lower.iter().any(|p| p.is_float() && *p != Precision::Float32);
        let int8 = lower.contains(&Precision::Int8);
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut layer = Layer::new(
                    i,
                    l.name.clone(),
                    l.op.clone(),
                    l.inputs.clone(),
                    l.outputs.clone(),
                );
                layer.unmarkable_reason = l.unmarkable_reason.clone().or_else(|| {
                    (int8 && !float_lowering && !l.class.takes_int8()).then(|| {
                        format!(
                            "INT8 applies to {} and, after them, {}; {} runs in float32 in every \
                             plan",
                            INT8_WEIGHTED_OPS.join("/"),
                            INT8_COMPANION_OPS.join("/"),
                            l.op
                        )
                    })
                });
                layer
            })
            .collect();
        Network { name: name.to_owned(), inputs, layers, outputs }
    }
}

/// A short text key of a graph path, used to qualify subgraph tensor names (`key::name`).
pub(crate) fn graph_key(path: &GraphPath) -> String {
    path.iter().map(|s| format!("{}.{}.{}", s.node, s.attr, s.index)).collect::<Vec<_>>().join("/")
}

/// What a graph's walk sees from the graphs around it.
struct Scope<'a> {
    /// Element types of the enclosing graphs' values.
    types: &'a TypeMap,
    /// Constants of the enclosing graphs.
    consts: &'a HashSet<String>,
    /// Every node's layer name (see [`layer_names`]).
    names: &'a HashMap<(GraphPath, usize), String>,
}

/// Lists the layers of `graph` (and recursively its subgraphs) into `table`.
fn walk(
    graph: &GraphProto,
    path: &GraphPath,
    outer: &Scope<'_>,
    produced: &mut HashSet<String>,
    table: &mut LayerTable,
) {
    let types = infer_types(graph, outer.types);
    let qualify = |name: &str, local: &HashSet<&str>| -> String {
        if path.is_empty() || !local.contains(name) {
            name.to_owned()
        } else {
            format!("{}::{name}", graph_key(path))
        }
    };
    let local: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(String::as_str))
        .chain(graph.input.iter().map(|i| i.name.as_str()))
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .collect();
    let mut consts: HashSet<String> = outer.consts.clone();
    consts.extend(graph.initializer.iter().map(|t| t.name.clone()));
    let mut shape_derived: HashSet<String> = HashSet::new();
    for (i, node) in graph.node.iter().enumerate() {
        let op = node.op_type.clone();
        let name = outer.names[&(path.clone(), i)].clone();

        let inputs: Vec<&str> =
            node.input.iter().map(String::as_str).filter(|n| !n.is_empty()).collect();
        let all_const = !inputs.is_empty() && inputs.iter().all(|n| consts.contains(*n));
        let nondeterministic = op.starts_with("Random") || op == "Multinomial" || op == "Bernoulli";
        let is_shape_op = matches!(op.as_str(), "Shape" | "Size");
        let from_shapes = !inputs.is_empty()
            && inputs.iter().all(|n| consts.contains(*n) || shape_derived.contains(*n))
            && inputs.iter().any(|n| shape_derived.contains(*n));
        let out_types: Vec<Option<i32>> =
            node.output.iter().map(|o| types.get(o).copied()).collect();
        let has_float_out = out_types.iter().any(|t| t.is_some_and(proto::is_float));
        let has_unknown_out =
            node.output.iter().zip(&out_types).any(|(o, t)| !o.is_empty() && t.is_none());
        let has_subgraphs = proto::subgraphs(node).next().is_some();
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";

        let reason = if op == "Constant" && default_domain {
            Some("Constant: holds weights, folded into the layers that read them".to_owned())
        } else if (all_const || inputs.is_empty()) && !nondeterministic && !has_subgraphs {
            Some("computes only from constants (folded before the build)".to_owned())
        } else if is_shape_op || from_shapes {
            Some("shape arithmetic: computes tensor shapes, not activations".to_owned())
        } else if has_subgraphs {
            Some(format!("{op} is control flow: mark the layers inside its subgraphs"))
        } else if default_domain
            && matches!(
                op.as_str(),
                "QuantizeLinear" | "DequantizeLinear" | "DynamicQuantizeLinear"
            )
        {
            Some("already quantized in the model (Q/DQ)".to_owned())
        } else if op == "Cast" || op == "CastLike" {
            Some(format!("{op}: the model fixes its output type"))
        } else if has_float_out {
            None
        } else if has_unknown_out {
            Some("cannot tell the element type of its outputs".to_owned())
        } else {
            Some("no floating-point output".to_owned())
        };

        if op == "Constant" || (all_const && !nondeterministic && !has_subgraphs) {
            consts.extend(node.output.iter().cloned());
        } else if is_shape_op || from_shapes {
            shape_derived.extend(node.output.iter().cloned());
        }

        let net_inputs: Vec<String> =
            inputs.iter().map(|n| qualify(n, &local)).filter(|n| produced.contains(n)).collect();
        let mut seen = HashSet::new();
        let net_inputs: Vec<String> =
            net_inputs.into_iter().filter(|n| seen.insert(n.clone())).collect();
        let net_outputs: Vec<String> =
            node.output.iter().filter(|o| !o.is_empty()).map(|o| qualify(o, &local)).collect();
        produced.extend(net_outputs.iter().cloned());
        let float_outputs = node
            .output
            .iter()
            .zip(&out_types)
            .filter(|(o, t)| !o.is_empty() && t.is_some_and(proto::is_float))
            .map(|(o, _)| Fetch {
                graph: path.clone(),
                tensor: o.clone(),
                output: qualify(o, &local),
            })
            .collect();
        let index = table.layers.len();
        table.index.insert((path.clone(), i), index);
        table.layers.push(OnnxLayer {
            name,
            op,
            graph: path.clone(),
            node: i,
            class: OpClass::of(node),
            unmarkable_reason: reason,
            inputs: net_inputs,
            outputs: net_outputs,
            float_outputs,
        });

        let inner = Scope { types: &types, consts: &consts, names: outer.names };
        for (attr_name, gi, sub) in proto::subgraphs(node) {
            let mut sub_path = path.clone();
            sub_path.push(GraphStep { node: i, attr: attr_name.to_owned(), index: gi });
            walk(sub, &sub_path, &inner, produced, table);
        }
    }
}

/// The graphs from the main one down to the one at `path` (fewer when the path breaks off).
fn graph_chain<'a>(main: &'a GraphProto, path: &GraphPath) -> Vec<&'a GraphProto> {
    let mut chain = vec![main];
    for step in path {
        let Some(next) = chain.last().and_then(|g| g.node.get(step.node)).and_then(|node| {
            proto::subgraphs(node)
                .find(|(attr, index, _)| *attr == step.attr && *index == step.index)
                .map(|(_, _, g)| g)
        }) else {
            break;
        };
        chain.push(next);
    }
    chain
}

/// The largest finite magnitude of every float initializer and `Constant` output of `graph`
/// (not its subgraphs), by name.
fn constant_peaks(graph: &GraphProto) -> HashMap<String, f64> {
    let float = |t: &onnx_protobuf::TensorProto| proto::is_float(t.data_type);
    let peak = |t: &onnx_protobuf::TensorProto| {
        let values = proto::float_values(t).ok()?;
        Some(
            values
                .iter()
                .map(|&v| f64::from(v))
                .filter(|v| v.is_finite())
                .fold(0.0, |m: f64, v| m.max(v.abs())),
        )
    };
    let mut peaks = HashMap::new();
    for t in graph.initializer.iter().filter(|t| float(t)) {
        if let Some(p) = peak(t) {
            peaks.insert(t.name.clone(), p);
        }
    }
    for node in &graph.node {
        if let (Some(t), Some(output)) = (proto::constant_value(node), node.output.first())
            && float(t)
            && let Some(p) = peak(t)
        {
            peaks.insert(output.clone(), p);
        }
    }
    peaks
}
