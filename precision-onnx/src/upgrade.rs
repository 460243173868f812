//! Raising a model from opset 11 or 12 to 13, as far as the inserted ops need.
//!
//! Per-channel `DequantizeLinear` (its `axis` attribute) and bfloat16 `Cast` need opset 13.
//! Between 11 and 13 only a few ops changed their signature or meaning; they are rewritten
//! here, the rest are compatible:
//! - `Squeeze`, `Unsqueeze`, `ReduceSum`: `axes` moved from an attribute to an input;
//! - `Split`: `split` moved from an attribute to an input;
//! - `Softmax`, `LogSoftmax`, `Hardmax`: before 13 they flatten the input to 2-D at `axis`;
//!   written as `Flatten` → op(axis = 1) → `Reshape` to the input's shape, which is exact.

use onnx_protobuf::{GraphProto, NodeProto};

use crate::error::{OnnxError, Result};
use crate::model::OnnxModel;
use crate::proto;

/// Raises `model` to opset 13 (from 11 or 12), rewriting the ops whose form changed.
pub fn to_opset_13(model: &mut OnnxModel) -> Result<()> {
    let from = model.opset();
    if from >= 13 {
        return Ok(());
    }
    let mut counter = 0usize;
    upgrade_graph(model.graph_mut(), &mut counter)?;
    model.set_opset(13);
    if model.proto.ir_version < 7 {
        model.proto.ir_version = 7;
    }
    Ok(())
}

fn upgrade_graph(graph: &mut GraphProto, counter: &mut usize) -> Result<()> {
    let old = std::mem::take(&mut graph.node);
    let mut nodes = Vec::with_capacity(old.len());
    for mut node in old {
        for a in &mut node.attribute {
            if let Some(g) = a.g.as_mut() {
                upgrade_graph(g, counter)?;
            }
            for g in &mut a.graphs {
                upgrade_graph(g, counter)?;
            }
        }
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            nodes.push(node);
            continue;
        }
        match node.op_type.as_str() {
            "Squeeze" | "Unsqueeze" | "ReduceSum" => {
                attr_to_input(graph, &mut node, "axes", 1, counter);
                nodes.push(node);
            }
            "Split" => {
                attr_to_input(graph, &mut node, "split", 1, counter);
                nodes.push(node);
            }
            "Softmax" | "LogSoftmax" | "Hardmax"
                if !node.input.is_empty() && !node.output.is_empty() =>
            {
                nodes.extend(flatten_softmax(node, counter));
            }
            "Resize" => {
                let mode = proto::attr(&node, "coordinate_transformation_mode")
                    .map(|a| String::from_utf8_lossy(&a.s).into_owned());
                if mode.as_deref() == Some("tf_half_pixel_for_nn") {
                    return Err(OnnxError::Unsupported(format!(
                        "Resize node '{}' uses coordinate_transformation_mode tf_half_pixel_for_nn, \
                         which opset 13 removed; INT8 per-channel weights need opset 13. Convert \
                         the model to opset 13 first",
                        node.name
                    )));
                }
                nodes.push(node);
            }
            _ => nodes.push(node),
        }
    }
    graph.node = nodes;
    Ok(())
}

/// Moves integer-list attribute `attr` to input `position` as an int64 initializer.
fn attr_to_input(
    graph: &mut GraphProto,
    node: &mut NodeProto,
    attr: &str,
    position: usize,
    counter: &mut usize,
) {
    let Some(k) = node.attribute.iter().position(|a| a.name == attr) else { return };
    let values = node.attribute.remove(k).ints;
    *counter += 1;
    let name = format!(
        "{}__{attr}_opset13_{counter}",
        if node.name.is_empty() { &node.op_type } else { &node.name }
    );
    graph.initializer.push(proto::i64_tensor(&name, &[values.len() as i64], &values));
    while node.input.len() < position {
        node.input.push(String::new());
    }
    node.input.insert(position, name);
}

fn flatten_softmax(mut node: NodeProto, counter: &mut usize) -> Vec<NodeProto> {
    let axis = proto::attr_int(&node, "axis", 1);
    *counter += 1;
    let base = format!(
        "{}__opset13_{counter}",
        if node.name.is_empty() { &node.op_type } else { &node.name }
    );
    let x = node.input[0].clone();
    let y = node.output[0].clone();
    let shape = format!("{base}_shape");
    let flat = format!("{base}_flat");
    let soft = format!("{base}_2d");
    node.attribute.retain(|a| a.name != "axis");
    node.attribute.push(proto::make_attr_int("axis", 1));
    node.input[0].clone_from(&flat);
    node.output[0].clone_from(&soft);
    vec![
        proto::make_node(
            "Shape",
            format!("{base}/Shape"),
            vec![x.clone()],
            vec![shape.clone()],
            vec![],
        ),
        proto::make_node(
            "Flatten",
            format!("{base}/Flatten"),
            vec![x],
            vec![flat],
            vec![proto::make_attr_int("axis", axis)],
        ),
        node,
        proto::make_node("Reshape", format!("{base}/Reshape"), vec![soft, shape], vec![y], vec![]),
    ]
}
