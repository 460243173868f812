//! Making tensors fetchable: graph outputs for tensors anywhere in the model.
//!
//! ONNX Runtime returns graph outputs only, so a tensor inside an `If` branch or a `Loop`/
//! `Scan` body is passed out through its parent node: an extra output of the branch (the other
//! branch gives an empty tensor of the same type) and of the `If`; or an extra scan output of
//! the body and the node (its values stacked over the iterations). Nested subgraphs repeat
//! this at every level. Only outputs and nodes are appended, so node positions, and with them
//! the [`LayerTable`](crate::LayerTable) of the model, stay valid.

use std::collections::{BTreeMap, HashSet};

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::{AttributeProto, GraphProto, TensorProto};
use protobuf::{EnumOrUnknown, MessageField};

use crate::error::{OnnxError, Result};
use crate::layers::{GraphPath, GraphStep};
use crate::model::OnnxModel;
use crate::names::NameSource;
use crate::proto::{self, elem};
use crate::types::{TypeMap, infer_types};

/// A tensor to fetch: the graph it is in, its name there, and the graph output to fetch it as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The graph holding the tensor (empty: the main graph).
    pub graph: GraphPath,
    /// Its name in that graph.
    pub tensor: String,
    /// The name of the graph output that will hold it.
    pub output: String,
}

/// Adds graph outputs to `model` so that each fetch can be read under its output name.
pub fn expose(model: &mut OnnxModel, fetches: &[Fetch]) -> Result<()> {
    if fetches.is_empty() {
        return Ok(());
    }
    let mut used = NameSource::new(model.graph());
    let requests: Vec<Request<'_>> = fetches
        .iter()
        .enumerate()
        .map(|(i, f)| (i, f.graph.as_slice(), f.tensor.as_str()))
        .collect();
    let graph = model.graph_mut();
    let visible = hoist(graph, &requests, &TypeMap::new(), &mut used)?;
    let types = infer_types(graph, &TypeMap::new());
    let existing: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    for (i, fetch) in fetches.iter().enumerate() {
        let (name, elem_type) = &visible[&i];
        if existing.contains(&fetch.output) {
            continue;
        }
        if *name != fetch.output {
            graph.node.push(proto::make_node(
                "Identity",
                used.fresh(&format!("{}/fetch", fetch.output)),
                vec![name.clone()],
                vec![fetch.output.clone()],
                vec![],
            ));
        }
        let elem_type = elem_type.or_else(|| types.get(name).copied()).unwrap_or(elem::FLOAT);
        graph.output.push(proto::value_info(&fetch.output, elem_type));
    }
    Ok(())
}

/// One tensor to make visible: the request's id, the path below the current graph, the name.
type Request<'a> = (usize, &'a [GraphStep], &'a str);

/// Makes every requested tensor visible in `graph`'s scope; returns, per request id, the name
/// it has there and its element type when known.
fn hoist(
    graph: &mut GraphProto,
    requests: &[Request<'_>],
    outer: &TypeMap,
    used: &mut NameSource,
) -> Result<BTreeMap<usize, (String, Option<i32>)>> {
    let types = infer_types(graph, outer);
    let mut visible = BTreeMap::new();
    // Requests below this graph, by (node, attribute, graph index).
    let mut below: BTreeMap<(usize, String, usize), Vec<Request<'_>>> = BTreeMap::new();
    for &(id, path, tensor) in requests {
        match path.split_first() {
            None => {
                visible.insert(id, (tensor.to_owned(), types.get(tensor).copied()));
            }
            Some((step, rest)) => {
                below
                    .entry((step.node, step.attr.clone(), step.index))
                    .or_default()
                    .push((id, rest, tensor));
            }
        }
    }
    for ((node_index, attr, index), reqs) in below {
        let Some(node) = graph.node.get_mut(node_index) else {
            return Err(OnnxError::Invalid(format!("no node {node_index} to fetch tensors from")));
        };
        let op = node.op_type.clone();
        let node_name = node.name.clone();
        let sub = subgraph_mut(node, &attr, index).ok_or_else(|| {
            OnnxError::Invalid(format!("node '{node_name}' has no subgraph '{attr}'"))
        })?;
        let inner = hoist(sub, &reqs, &types, used)?;
        // A tensor passed out once is passed out once, whoever asks.
        let mut passed: BTreeMap<String, String> = BTreeMap::new();
        for (id, (name, elem_type)) in inner {
            let elem_type = elem_type.unwrap_or(elem::FLOAT);
            let node = &mut graph.node[node_index];
            if let Some(outer) = passed.get(&name) {
                visible.insert(id, (outer.clone(), Some(elem_type)));
                continue;
            }
            // The subgraph returns a copy under a new name: a name that is already one of its
            // outputs (or an input, or an outer value) must not be returned twice.
            let copy = used.fresh(&format!("{name}__out"));
            subgraph_mut(node, &attr, index).expect("found above").node.push(proto::make_node(
                "Identity",
                used.fresh(&format!("{copy}/Identity")),
                vec![name.clone()],
                vec![copy.clone()],
                vec![],
            ));
            let name = copy;
            let outer_name = used.fresh(&format!(
                "{name}__from_{}",
                if node_name.is_empty() { &op } else { &node_name }
            ));
            match op.as_str() {
                "If" => {
                    let other = if attr == "then_branch" { "else_branch" } else { "then_branch" };
                    subgraph_mut(node, &attr, 0)
                        .expect("found above")
                        .output
                        .push(proto::value_info(&name, elem_type));
                    let empty = used.fresh(&format!("{name}__empty"));
                    let other_graph = subgraph_mut(node, other, 0).ok_or_else(|| {
                        OnnxError::Invalid(format!("If node '{node_name}' lacks its {other}"))
                    })?;
                    other_graph.node.push(proto::make_node(
                        "Constant",
                        used.fresh(&format!("{empty}/Constant")),
                        vec![],
                        vec![empty.clone()],
                        vec![empty_tensor_attr(elem_type)],
                    ));
                    other_graph.output.push(proto::value_info(&empty, elem_type));
                }
                "Loop" | "Scan" => {
                    subgraph_mut(node, &attr, index)
                        .expect("found above")
                        .output
                        .push(proto::value_info(&name, elem_type));
                    for list in ["scan_output_axes", "scan_output_directions"] {
                        if let Some(a) = node.attribute.iter_mut().find(|a| a.name == list) {
                            a.ints.push(0);
                        }
                    }
                }
                other => {
                    return Err(OnnxError::Unsupported(format!(
                        "cannot fetch tensors from inside node '{node_name}' ({other}): only If, \
                         Loop and Scan subgraphs are supported"
                    )));
                }
            }
            node.output.push(outer_name.clone());
            passed.insert(name, outer_name.clone());
            visible.insert(id, (outer_name, Some(elem_type)));
        }
    }
    Ok(visible)
}

fn subgraph_mut<'a>(
    node: &'a mut onnx_protobuf::NodeProto,
    attr: &str,
    index: usize,
) -> Option<&'a mut GraphProto> {
    let a = node.attribute.iter_mut().find(|a| a.name == attr)?;
    if a.g.is_some() && index == 0 { a.g.as_mut() } else { a.graphs.get_mut(index) }
}

/// A `value` attribute holding an empty 1-D tensor of `elem_type`.
fn empty_tensor_attr(elem_type: i32) -> AttributeProto {
    AttributeProto {
        name: "value".into(),
        type_: EnumOrUnknown::new(AttributeType::TENSOR),
        t: MessageField::some(TensorProto {
            dims: vec![0],
            data_type: elem_type,
            ..TensorProto::default()
        }),
        ..AttributeProto::default()
    }
}
