//! Layers run alone: the model that computes, for chosen layers, each layer's outputs in its
//! plan precision from the float32 values of its inputs (the error a layer adds by itself).
//!
//! The model is the float32 model plus, for each isolated layer, a copy of its node that reads
//! the same (float32) tensors and writes [`precision_core::isolated_name`]`(T)` for each output
//! `T`. Only the copies are then lowered, by the ordinary rewrite ([`crate::rewrite`]), so they
//! run exactly as the layer does in a plan: the same casts, bfloat16 rounding, Q/DQ with the
//! calibrated scale of each input tensor and per-channel int8 weights. Its graph outputs are
//! the isolated values only.
//!
//! Layers inside `If`/`Loop`/`Scan` subgraphs are not isolated: only top-level layers are.

use std::collections::BTreeSet;

use precision_core::{Precision, isolated_name};

use crate::error::{OnnxError, Result};
use crate::layers::LayerTable;
use crate::model::OnnxModel;
use crate::names::NameSource;
use crate::proto::{self, elem};
use crate::rewrite::{ActivationScales, RewriteOptions, WeightCache, rewrite_cached};
use crate::types::{TypeMap, infer_types};

/// The layers of `candidates` that [`isolated_model`] isolates: top-level layers whose
/// The prefix of the name of a layer's copy (`isolated_node:<layer>`): node and tensor names
/// share one name source, and the copy's output takes `isolated:<tensor>`.
pub const ISOLATED_NODE_PREFIX: &str = "isolated_node:";

/// precision (in `precisions`, one per layer of `table`) is not float32, in layer order.
#[must_use]
pub fn isolated_layers(
    table: &LayerTable,
    precisions: &[Precision],
    candidates: impl IntoIterator<Item = usize>,
) -> Vec<usize> {
    let set: BTreeSet<usize> = candidates
        .into_iter()
        .filter(|&i| {
            table.layers.get(i).is_some_and(|l| l.graph.is_empty())
                && precisions.get(i).is_some_and(|p| *p != Precision::Float32)
        })
        .collect();
    set.into_iter().collect()
}

/// The model whose outputs are the isolated values of the [`isolated_layers`] of `candidates`
/// (one output `isolated:T` per float output `T` of each), or `None` when no candidate is
/// isolated. `precisions` holds one precision per layer of `table` (the plan's, as from
/// [`crate::rewrite::layer_precisions`]); `scales`, `options` and `cache` are those of the
/// plan's rewrite.
pub fn isolated_model(
    model: &OnnxModel,
    table: &LayerTable,
    precisions: &[Precision],
    candidates: impl IntoIterator<Item = usize>,
    scales: &ActivationScales,
    options: RewriteOptions,
    cache: &mut WeightCache,
) -> Result<Option<OnnxModel>> {
    let layers = isolated_layers(table, precisions, candidates);
    if layers.is_empty() {
        return Ok(None);
    }
    let types = infer_types(model.graph(), &TypeMap::new());
    let mut names = NameSource::new(model.graph());
    let mut out = model.clone();
    let graph = out.graph_mut();
    graph.output.clear();
    // (node position in the new graph, precision) of every copy.
    let mut copies = Vec::with_capacity(layers.len());
    for li in layers {
        let layer = &table.layers[li];
        let mut node = model.graph().node.get(layer.node).cloned().ok_or_else(|| {
            OnnxError::Invalid(format!("layer '{}' has no node {}", layer.name, layer.node))
        })?;
        // Node and tensor names share the name source, and exporters often name a node and
        // its output alike: the copy's node gets its own prefix so that it never takes the
        // `isolated:T` name its output needs.
        node.name = names.fresh(&format!("{ISOLATED_NODE_PREFIX}{}", layer.name));
        for o in node.output.iter_mut().filter(|o| !o.is_empty()) {
            let wanted = isolated_name(o);
            let name = names.fresh(&wanted);
            let ty = types.get(o.as_str()).copied();
            let is_float_output = layer.float_outputs.iter().any(|f| &f.tensor == o);
            if is_float_output {
                if name != wanted {
                    return Err(OnnxError::Unsupported(format!(
                        "cannot isolate layer '{}': the model already has a tensor named \
                         '{wanted}'; rename it to isolate this layer",
                        layer.name
                    )));
                }
                graph.output.push(proto::value_info(&name, ty.unwrap_or(elem::FLOAT)));
            }
            // The copy's outputs have the original's types, declared so that the rewrite
            // sees them whatever the op.
            if let Some(ty) = ty {
                graph.value_info.push(proto::value_info(&name, ty));
            }
            *o = name;
        }
        copies.push((graph.node.len(), precisions[li]));
        graph.node.push(node);
    }
    // Only the copies are lowered; everything else stays float32.
    let augmented_table = LayerTable::build(&out);
    let mut augmented = vec![Precision::Float32; augmented_table.layers.len()];
    for (position, precision) in copies {
        let li = augmented_table.layer_at(&Vec::new(), position).ok_or_else(|| {
            OnnxError::Invalid(format!("the copy at node {position} is not a layer"))
        })?;
        augmented[li] = precision;
    }
    let (rewritten, _) =
        rewrite_cached(&out, &augmented_table, &augmented, scales, options, cache)?;
    Ok(Some(rewritten))
}
