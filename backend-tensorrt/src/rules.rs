//! Which layers can be marked, and which tensors can be read back, in a TensorRT network
//! (Polygraphy's rules, written over our layer descriptions so that they are tested without
//! TensorRT).

use crate::network::LayerDesc;

/// Layer types Polygraphy never runs in a higher precision.
const NEVER_MARKED: [&str; 1] = ["CONSTANT"];

/// Layer types whose outputs are never read back when every layer output is requested.
const NEVER_READ: [&str; 2] = ["SHAPE", "CONSTANT"];

/// Layer types that open a loop body; everything up to the matching `LOOP_OUTPUT` is inside.
const LOOP_OPENERS: [&str; 3] = ["TRIP_LIMIT", "ITERATOR", "RECURRENCE"];

/// Layer types that open a conditional body; everything up to the matching
/// `CONDITIONAL_OUTPUT` is inside.
const CONDITIONAL_OPENERS: [&str; 2] = ["CONDITION", "CONDITIONAL_INPUT"];

/// Why `layer` cannot run in a higher precision, or `None` when it can: constants, layers
/// with shape-tensor outputs, and layers with outputs that are not float32/float16/int8
/// (Polygraphy's `debug precision` rule).
#[must_use]
pub fn unmarkable_reason(layer: &LayerDesc) -> Option<String> {
    if NEVER_MARKED.contains(&layer.type_name.as_str()) {
        return Some(format!("{} layers are not marked (as in Polygraphy)", layer.type_name));
    }
    if let Some(t) = layer.outputs.iter().find(|t| t.is_shape_tensor) {
        return Some(format!(
            "its output {} is a shape tensor, computed at build time",
            t.name.as_deref().unwrap_or("?")
        ));
    }
    if let Some(t) = layer.outputs.iter().find(|t| !t.dtype.is_activation()) {
        return Some(format!(
            "its output {} is {:?}, not float32/float16/int8",
            t.name.as_deref().unwrap_or("?"),
            t.dtype
        ));
    }
    None
}

/// The layers inside loops or conditionals: their tensors cannot be marked as outputs.
#[must_use]
pub fn inside_control_flow(layers: &[LayerDesc]) -> Vec<bool> {
    let mut loop_depth = 0usize;
    let mut cond_depth = 0usize;
    let mut inside = Vec::with_capacity(layers.len());
    for layer in layers {
        let t = layer.type_name.as_str();
        if LOOP_OPENERS.contains(&t) && loop_depth == 0 {
            loop_depth = 1;
        }
        if CONDITIONAL_OPENERS.contains(&t) && cond_depth == 0 {
            cond_depth = 1;
        }
        inside.push(loop_depth > 0 || cond_depth > 0);
        if t == "LOOP_OUTPUT" {
            loop_depth = 0;
        }
        if t == "CONDITIONAL_OUTPUT" {
            cond_depth = 0;
        }
    }
    inside
}

/// The (layer, output) pairs to read back for every-layer outputs, Polygraphy's mark-all
/// rule: skip shape and constant layers and everything inside loops and conditionals, then
/// every float output that is not a network input or output already and not a shape tensor.
#[must_use]
pub fn readable_outputs(layers: &[LayerDesc]) -> Vec<(usize, usize)> {
    let inside = inside_control_flow(layers);
    let mut out = Vec::new();
    for (layer, inside) in layers.iter().zip(inside) {
        if inside || NEVER_READ.contains(&layer.type_name.as_str()) {
            continue;
        }
        for (j, t) in layer.outputs.iter().enumerate() {
            let readable = t.name.is_some()
                && !t.is_network_input
                && !t.is_network_output
                && !t.is_shape_tensor
                && t.dtype.host().is_some_and(precision_core::DType::is_float);
            if readable {
                out.push((layer.index, j));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{TensorDesc, TrtDType};

    fn tensor(name: &str, dtype: TrtDType) -> TensorDesc {
        TensorDesc {
            name: Some(name.into()),
            dtype,
            is_shape_tensor: false,
            is_network_input: false,
            is_network_output: false,
            is_debug: false,
            dims: vec![1, 4],
        }
    }

    fn layer(index: usize, type_name: &str, outputs: Vec<TensorDesc>) -> LayerDesc {
        LayerDesc {
            index,
            name: format!("l{index}"),
            type_name: type_name.into(),
            inputs: Vec::new(),
            outputs,
            precision: None,
        }
    }

    #[test]
    fn constants_shape_tensors_and_int_outputs_are_not_markable() {
        let conv = layer(0, "CONVOLUTION", vec![tensor("a", TrtDType::Float)]);
        let constant = layer(1, "CONSTANT", vec![tensor("w", TrtDType::Float)]);
        let mut shape_out = tensor("s", TrtDType::Int64);
        shape_out.is_shape_tensor = true;
        let shape = layer(2, "SHAPE", vec![shape_out]);
        let cast = layer(3, "CAST", vec![tensor("i", TrtDType::Int32)]);
        let int8 = layer(4, "ELEMENTWISE", vec![tensor("q", TrtDType::Int8)]);
        assert_eq!(unmarkable_reason(&conv), None);
        assert!(unmarkable_reason(&constant).unwrap().contains("CONSTANT"));
        assert!(unmarkable_reason(&shape).unwrap().contains("shape tensor"));
        assert!(unmarkable_reason(&cast).unwrap().contains("Int32"));
        assert_eq!(unmarkable_reason(&int8), None);
    }

    #[test]
    fn readable_outputs_skip_control_flow_constants_and_outputs() {
        let mut out = tensor("y", TrtDType::Float);
        out.is_network_output = true;
        let layers = vec![
            layer(0, "CONVOLUTION", vec![tensor("a", TrtDType::Float)]),
            layer(1, "CONSTANT", vec![tensor("w", TrtDType::Float)]),
            layer(2, "TRIP_LIMIT", vec![]),
            layer(3, "ELEMENTWISE", vec![tensor("in_loop", TrtDType::Float)]),
            layer(4, "LOOP_OUTPUT", vec![tensor("loop_out", TrtDType::Float)]),
            layer(5, "ACTIVATION", vec![tensor("b", TrtDType::Float)]),
            layer(6, "CONDITION", vec![]),
            layer(7, "ACTIVATION", vec![tensor("in_cond", TrtDType::Float)]),
            layer(8, "CONDITIONAL_OUTPUT", vec![tensor("cond_out", TrtDType::Float)]),
            layer(9, "CAST", vec![tensor("i", TrtDType::Int32)]),
            layer(10, "SOFTMAX", vec![out]),
        ];
        assert_eq!(readable_outputs(&layers), vec![(0, 0), (5, 0)]);
        let inside = inside_control_flow(&layers);
        assert_eq!(
            inside,
            vec![false, false, true, true, true, false, true, true, true, false, false]
        );
    }
}
