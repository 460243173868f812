//! Which tensors INT8 plans quantize: the float activation inputs (and weights) of every layer
//! INT8 applies to, found through subgraphs; calibration measures exactly these tensors.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The activation tensors that INT8 plans quantize: the float activation inputs of every
/// layer INT8 applies to. These are the tensors calibration measures; scales are keyed by
/// these names.
#[must_use]
pub fn int8_activation_tensors(model: &OnnxModel, table: &LayerTable) -> Vec<String> {
    int8_activation_fetches(model, table).into_iter().map(|f| f.tensor).collect()
}

/// [`int8_activation_tensors`] with where each tensor is defined, as fetches: a tensor of a
/// subgraph is fetched as `<graph key>::<name>` (see [`crate::expose`]).
#[must_use]
pub fn int8_activation_fetches(model: &OnnxModel, table: &LayerTable) -> Vec<Fetch> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut scopes = Vec::new();
    collect_int8_inputs(
        model.graph(),
        &Vec::new(),
        &TypeMap::new(),
        &HashSet::new(),
        table,
        &mut scopes,
        &mut out,
        &mut seen,
    );
    out
}

#[expect(clippy::too_many_arguments, reason = "one recursive walk's state")]
pub(super) fn collect_int8_inputs(
    graph: &GraphProto,
    path: &GraphPath,
    outer_types: &TypeMap,
    outer_consts: &HashSet<String>,
    table: &LayerTable,
    scopes: &mut Vec<HashSet<String>>,
    out: &mut Vec<Fetch>,
    seen: &mut HashSet<String>,
) {
    let types = infer_types(graph, outer_types);
    let consts = constant_names(graph, outer_consts);
    let mut local: HashSet<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    local.extend(graph.initializer.iter().map(|t| t.name.clone()));
    local.extend(graph.node.iter().flat_map(|n| n.output.iter().cloned()));
    scopes.push(local);
    for (i, node) in graph.node.iter().enumerate() {
        let Some(li) = table.layer_at(path, i) else { continue };
        let layer = &table.layers[li];
        if layer.unmarkable_reason.is_none() && layer.class.takes_int8() {
            for (j, input) in node.input.iter().enumerate() {
                if is_int8_activation_input(node, layer.class, j, input, &types, &consts)
                    && seen.insert(input.clone())
                {
                    // The innermost enclosing graph that defines the tensor.
                    let depth = scopes.iter().rposition(|s| s.contains(input)).unwrap_or(0);
                    let graph = path[..depth.min(path.len())].to_vec();
                    let output = if graph.is_empty() {
                        input.clone()
                    } else {
                        format!("{}::{input}", crate::layers::graph_key(&graph))
                    };
                    out.push(Fetch { graph, tensor: input.clone(), output });
                }
            }
        }
        for (attr, gi, sub) in proto::subgraphs(node) {
            let mut p = path.clone();
            p.push(GraphStep { node: i, attr: attr.to_owned(), index: gi });
            collect_int8_inputs(sub, &p, &types, &consts, table, scopes, out, seen);
        }
    }
    scopes.pop();
}

pub(super) fn constant_names(graph: &GraphProto, outer: &HashSet<String>) -> HashSet<String> {
    let mut consts = outer.clone();
    consts.extend(graph.initializer.iter().map(|t| t.name.clone()));
    for node in &graph.node {
        if node.op_type == "Constant" {
            consts.extend(node.output.iter().cloned());
        }
    }
    consts
}

/// The input index holding the weights of an INT8-weighted op.
pub(super) fn weight_input(op: &str) -> Option<usize> {
    matches!(op, "Conv" | "ConvTranspose" | "Gemm" | "MatMul").then_some(1)
}

pub(super) fn is_int8_activation_input(
    node: &NodeProto,
    class: OpClass,
    j: usize,
    input: &str,
    types: &TypeMap,
    consts: &HashSet<String>,
) -> bool {
    if input.is_empty() || consts.contains(input) || types.get(input) != Some(&elem::FLOAT) {
        return false;
    }
    match class {
        OpClass::Int8Weighted => match node.op_type.as_str() {
            "Conv" | "ConvTranspose" => j == 0,
            "Gemm" | "MatMul" => j <= 1,
            _ => false,
        },
        OpClass::Int8Companion => match node.op_type.as_str() {
            "MaxPool" | "AveragePool" | "GlobalAveragePool" => j == 0,
            _ => true,
        },
        OpClass::Float => false,
    }
}

/// Whether input `j` of `node` is lowered with its layer: a float32 tensor that the op does not
/// require in float32.
pub(super) fn lowers_input(node: &NodeProto, j: usize, types: &TypeMap) -> bool {
    let input = &node.input[j];
    !input.is_empty() && types.get(input) == Some(&elem::FLOAT) && !keeps_float32(&node.op_type, j)
}

/// The weight-cache key of float32 values rounded to bfloat16 (emulated bfloat16).
pub(super) const ROUNDED_TO_BF16: i32 = 0;

/// Inputs that keep float32 whatever the layer's precision (`Resize` scales and roi).
pub(super) fn keeps_float32(op: &str, j: usize) -> bool {
    matches!((op, j), ("Resize", 1 | 2) | ("Upsample", 1))
}
