//! Element types of every tensor in a graph, from declarations and per-op rules.
//!
//! ONNX files rarely declare the types of intermediate tensors, and no shape inference is
//! available without Python, so the types are propagated here: declared types (inputs,
//! initializers, `value_info`, outputs) win; otherwise each op's rule gives its outputs'
//! types from its inputs and attributes. A tensor whose type cannot be told stays unknown,
//! and the layer that writes it is not markable.

use std::collections::HashMap;

use onnx_protobuf::{GraphProto, NodeProto};

use crate::proto::{self, elem};

/// Element type codes by tensor name, for one graph scope (including its outer scopes).
pub type TypeMap = HashMap<String, i32>;

/// Infers the element types of every tensor of `graph`; `outer` holds the enclosing scopes'.
#[must_use]
pub fn infer_types(graph: &GraphProto, outer: &TypeMap) -> TypeMap {
    let mut types = outer.clone();
    for t in &graph.initializer {
        types.insert(t.name.clone(), t.data_type);
    }
    for info in graph.input.iter().chain(&graph.value_info).chain(&graph.output) {
        if let Some(e) = proto::value_info_elem(info) {
            types.insert(info.name.clone(), e);
        }
    }
    for node in &graph.node {
        let inputs: Vec<Option<i32>> = node
            .input
            .iter()
            .map(|n| if n.is_empty() { None } else { types.get(n).copied() })
            .collect();
        let outs = output_types(node, &inputs, &types);
        for (name, ty) in node.output.iter().zip(outs) {
            if name.is_empty() || types.contains_key(name) {
                continue;
            }
            if let Some(ty) = ty {
                types.insert(name.clone(), ty);
            }
        }
    }
    types
}

fn dtype_attr(node: &NodeProto, name: &str) -> Option<i32> {
    proto::attr(node, name).map(|a| a.i as i32)
}

/// The element types of `node`'s outputs from its inputs' types (`None` = unknown).
fn output_types(node: &NodeProto, inputs: &[Option<i32>], scope: &TypeMap) -> Vec<Option<i32>> {
    let n = node.output.len();
    let first = inputs.iter().flatten().next().copied();
    let input = |i: usize| inputs.get(i).copied().flatten();
    let all = |t: Option<i32>| vec![t; n];
    if !node.domain.is_empty() && node.domain != "ai.onnx" {
        // Custom-domain ops: the common case is "same type as the data input".
        return all(first);
    }
    match node.op_type.as_str() {
        "Shape" | "Size" | "NonZero" | "ArgMax" | "ArgMin" | "NonMaxSuppression" => {
            all(Some(elem::INT64))
        }
        "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or"
        | "Xor" | "IsNaN" | "IsInf" => all(Some(elem::BOOL)),
        "Cast" => all(dtype_attr(node, "to")),
        "Constant" => all(proto::constant_elem(node)),
        "ConstantOfShape" => all(Some(
            proto::attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .map_or(elem::FLOAT, |t| t.data_type),
        )),
        "EyeLike" | "RandomNormalLike" | "RandomUniformLike" | "Bernoulli" => {
            all(dtype_attr(node, "dtype").or(first))
        }
        "RandomNormal" | "RandomUniform" => {
            all(Some(dtype_attr(node, "dtype").unwrap_or(elem::FLOAT)))
        }
        "Multinomial" => all(Some(dtype_attr(node, "dtype").unwrap_or(elem::INT32))),
        "QuantizeLinear" => all(dtype_attr(node, "output_dtype")
            .filter(|&t| t != 0)
            .or(input(2))
            .or(Some(elem::UINT8))),
        "DequantizeLinear" => all(input(1).or(Some(elem::FLOAT))),
        "DynamicQuantizeLinear" => vec![Some(elem::UINT8), Some(elem::FLOAT), Some(elem::UINT8)],
        "MatMulInteger" | "ConvInteger" => all(Some(elem::INT32)),
        "QLinearConv" | "QLinearMatMul" => all(inputs.last().copied().flatten()),
        "Unique" => {
            let mut v = vec![Some(elem::INT64); n];
            if n > 0 {
                v[0] = input(0);
            }
            v
        }
        "TopK" | "MaxPool" => vec![input(0), Some(elem::INT64)],
        "Dropout" => vec![input(0), Some(elem::BOOL)],
        "LayerNormalization" => {
            let mut v = vec![Some(elem::FLOAT); n];
            if n > 0 {
                v[0] = input(0);
            }
            v
        }
        "CastLike" | "Where" => all(input(1)),
        "OneHot" => all(input(2)),
        "If" => subgraph_outputs(node, "then_branch", 0, scope, n),
        "Loop" => subgraph_outputs(node, "body", 1, scope, n),
        "Scan" => subgraph_outputs(node, "body", 0, scope, n),
        "SequenceConstruct" | "SequenceEmpty" | "SplitToSequence" | "SequenceInsert"
        | "SequenceErase" | "ConcatFromSequence" | "SequenceAt" | "SequenceLength" | "Optional"
        | "OptionalGetElement" | "OptionalHasElement" => {
            // Sequence and optional values are not tensors we rewrite.
            match node.op_type.as_str() {
                "SequenceLength" => all(Some(elem::INT64)),
                "OptionalHasElement" => all(Some(elem::BOOL)),
                _ => all(None),
            }
        }
        _ => all(first),
    }
}

/// Output types of a control-flow node: the subgraph's declared (or inferred) output types,
/// skipping the first `skip` subgraph outputs (Loop's condition).
fn subgraph_outputs(
    node: &NodeProto,
    attr: &str,
    skip: usize,
    scope: &TypeMap,
    n: usize,
) -> Vec<Option<i32>> {
    let Some(g) = proto::attr(node, attr).and_then(|a| a.g.as_ref()) else {
        return vec![None; n];
    };
    let inner = infer_types(g, scope);
    let mut v: Vec<Option<i32>> =
        g.output.iter().skip(skip).map(|o| inner.get(&o.name).copied()).collect();
    v.resize(n, None);
    v
}
