//! The model one check runs, shared by the backends that run rewritten ONNX models
//! (backend-onnxrt, backend-tensorrt's strong typing): the loaded model with the extra outputs
//! a check fetches exposed (the model is copied only then) and rewritten to one precision per
//! layer with the calibrated INT8 scales.

use precision_core::{BackendError, Precision};

use crate::expose::{Fetch, expose};
use crate::rewrite::{self, ActivationScales, RewriteOptions, WeightCache};
use crate::scales::scales_for;
use crate::{LayerTable, OnnxModel};

/// `model` with `extra` outputs fetchable, rewritten to `precisions` (one per layer of
/// `table`) with `scales` (`None` before calibration: refused when a layer runs in INT8).
/// Errors are [`BackendError::Unsupported`]: a rewrite that cannot be made is no failed check.
pub fn rewritten(
    model: &OnnxModel,
    table: &LayerTable,
    precisions: &[Precision],
    scales: Option<&ActivationScales>,
    extra: &[Fetch],
    options: RewriteOptions,
    cache: &mut WeightCache,
) -> Result<OnnxModel, BackendError> {
    let scales = scales_for(scales, precisions)?;
    // Extra outputs are added before the rewrite, so that it keeps (casts back) every tensor
    // they name; exposing only appends outputs and nodes, so the layer table still holds.
    let exposed;
    let source = if extra.is_empty() {
        model
    } else {
        let mut m = model.clone();
        expose(&mut m, extra).map_err(|e| BackendError::Unsupported(e.to_string()))?;
        exposed = m;
        &exposed
    };
    let (model, _) = rewrite::rewrite_cached(source, table, precisions, scales, options, cache)
        .map_err(|e| BackendError::Unsupported(e.to_string()))?;
    Ok(model)
}
