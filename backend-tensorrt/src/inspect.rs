//! Reading the engine inspector's layer information (JSON, detailed verbosity) to find marked
//! layers that did not run in the precision asked for: precision hints that TensorRT did not
//! apply, silently under `prefer`.

use precision_core::Precision;
use serde_json::Value;

/// One engine layer: its name, the ONNX/network layers it came from, and the precisions of
/// its activation inputs and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineLayer {
    /// The engine layer's name (`conv1 + relu1`, `{ForeignNode[...]}`).
    pub name: String,
    /// The network layers it implements: the name split at `" + "`, and the
    /// `[ONNX Layer: ...]` entries of its metadata.
    pub sources: Vec<String>,
    /// Precisions of its inputs, from their formats.
    pub inputs: Vec<Option<Precision>>,
    /// Precisions of its outputs.
    pub outputs: Vec<Option<Precision>>,
}

/// The engine layers described by the inspector's JSON; an error says why it does not parse.
pub fn engine_layers(json: &str) -> Result<Vec<EngineLayer>, String> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| format!("the engine inspector's output is not JSON: {e}"))?;
    let layers = value
        .get("Layers")
        .and_then(Value::as_array)
        .ok_or("the engine inspector's output has no \"Layers\" list")?;
    Ok(layers
        .iter()
        .filter_map(|layer| {
            // Without detailed verbosity, layers are bare names.
            let name = match layer {
                Value::String(s) => s.clone(),
                other => other.get("Name")?.as_str()?.to_owned(),
            };
            let mut sources: Vec<String> =
                name.split(" + ").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
            if let Some(meta) = layer.get("Metadata").and_then(Value::as_str) {
                for part in meta.split(['\u{1e}', '\n']) {
                    if let Some(rest) = part.trim().strip_prefix("[ONNX Layer: ") {
                        sources.push(rest.trim_end_matches(']').to_owned());
                    }
                }
            }
            let formats = |key: &str| -> Vec<Option<Precision>> {
                layer
                    .get(key)
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .map(|t| {
                                t.get("Format/Datatype")
                                    .and_then(Value::as_str)
                                    .and_then(format_precision)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            Some(EngineLayer {
                name,
                sources,
                inputs: formats("Inputs"),
                outputs: formats("Outputs"),
            })
        })
        .collect())
}

/// The precision a tensor format string names (`Row major linear FP32`,
/// `Channel major FP16 format where channel % 8 == 0`, `... Int8 format`), if any.
#[must_use]
pub fn format_precision(format: &str) -> Option<Precision> {
    let words: Vec<&str> =
        format.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has =
        |names: &[&str]| words.iter().any(|w| names.iter().any(|n| w.eq_ignore_ascii_case(n)));
    if has(&["FP32", "Float", "Float32"]) {
        Some(Precision::Float32)
    } else if has(&["FP16", "Half", "Float16"]) {
        Some(Precision::Float16)
    } else if has(&["BF16", "BFloat16"]) {
        Some(Precision::BFloat16)
    } else if has(&["FP8", "E4M3"]) {
        Some(Precision::Fp8)
    } else if has(&["Int8"]) {
        Some(Precision::Int8)
    } else {
        None
    }
}

/// Notes on marked layers that did not run in `wanted`: for each name in `marked`, the engine
/// layers implementing it are found by name or metadata; a layer whose activation inputs
/// (its outputs, when it has no typed inputs) are all less precise than `wanted` did not run
/// in `wanted`. A marked layer that no engine layer names is reported as unconfirmed.
#[must_use]
pub fn deviations(layers: &[EngineLayer], marked: &[String], wanted: Precision) -> Vec<String> {
    let mut notes = Vec::new();
    for name in marked {
        let found: Vec<&EngineLayer> = layers
            .iter()
            .filter(|l| !l.name.starts_with("Reformatting CopyNode"))
            .filter(|l| l.sources.iter().any(|s| s == name))
            .collect();
        if found.is_empty() {
            notes.push(format!(
                "layer {name}: not named in the engine's layer information (fused into a larger \
                 node or optimized away), so its {wanted} precision is not confirmed"
            ));
            continue;
        }
        for layer in found {
            let typed = |list: &[Option<Precision>]| -> Vec<Precision> {
                list.iter().flatten().copied().collect()
            };
            let mut seen = typed(&layer.inputs);
            if seen.is_empty() {
                seen = typed(&layer.outputs);
            }
            if !seen.is_empty() && seen.iter().all(|p| p.rank() < wanted.rank()) {
                let ran: Vec<&str> = seen.iter().map(|p| p.name()).collect();
                notes.push(format!(
                    "layer {name} was marked {wanted} but engine layer '{}' runs on {} data: \
                     TensorRT did not apply the precision",
                    layer.name,
                    ran.join("/")
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"Layers": [
      {"Name": "conv1 + relu1", "LayerType": "CaskConvolution",
       "Inputs": [{"Name": "x", "Location": "Device", "Dimensions": [1,3,8,8],
                   "Format/Datatype": "Row major linear FP32"}],
       "Outputs": [{"Name": "r1", "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}],
       "Metadata": "[ONNX Layer: /conv1/Conv]\u001e[ONNX Layer: /relu1/Relu]"},
      {"Name": "Reformatting CopyNode for Input Tensor 0 to conv2",
       "Inputs": [{"Format/Datatype": "Row major linear FP32"}],
       "Outputs": [{"Format/Datatype": "Four wide channel vectorized row major Int8 format"}]},
      {"Name": "conv2", "Inputs": [{"Format/Datatype": "Four wide channel vectorized row major Int8 format"}],
       "Outputs": [{"Format/Datatype": "Four wide channel vectorized row major Int8 format"}]},
      {"Name": "{ForeignNode[fc...softmax]}", "Inputs": [], "Outputs": []}
    ], "Bindings": ["x", "y"]}"#;

    #[test]
    fn formats_name_their_precision() {
        assert_eq!(format_precision("Row major linear FP32"), Some(Precision::Float32));
        assert_eq!(
            format_precision("Channel major FP16 format where channel % 8 == 0"),
            Some(Precision::Float16)
        );
        assert_eq!(
            format_precision("Four wide channel vectorized row major Int8 format"),
            Some(Precision::Int8)
        );
        assert_eq!(format_precision("Row major linear BF16"), Some(Precision::BFloat16));
        assert_eq!(format_precision("Row major linear Int32"), None);
    }

    #[test]
    fn parses_names_metadata_and_formats() {
        let layers = engine_layers(SAMPLE).unwrap();
        assert_eq!(layers.len(), 4);
        assert_eq!(layers[0].sources, ["conv1", "relu1", "/conv1/Conv", "/relu1/Relu"]);
        assert_eq!(layers[0].inputs, [Some(Precision::Float32)]);
        assert_eq!(layers[0].outputs, [Some(Precision::Float16)]);
        let names_only = engine_layers(r#"{"Layers": ["a + b", "c"]}"#).unwrap();
        assert_eq!(names_only[0].sources, ["a", "b"]);
        assert!(engine_layers("{}").is_err());
        assert!(engine_layers("not json").is_err());
    }

    #[test]
    fn finds_marked_layers_that_ran_lower() {
        let layers = engine_layers(SAMPLE).unwrap();
        let marked = ["conv1", "/relu1/Relu", "conv2", "fc"].map(String::from);
        let notes = deviations(&layers, &marked, Precision::Float32);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("layer conv2 was marked float32") && notes[0].contains("int8"));
        assert!(notes[1].contains("layer fc: not named"));
        // conv1 reads float32 (its float16 output is allowed): no note for it or relu1.
        assert!(notes.iter().all(|n| !n.contains("conv1") && !n.contains("relu1")));
        // Marked float16, conv2's int8 is still lower; conv1's float32 input is not.
        let notes = deviations(&layers, &["conv1".into(), "conv2".into()], Precision::Float16);
        assert_eq!(notes.len(), 1);
    }
}
