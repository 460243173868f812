//! The mixed-precision rewrite on models built in code: structure, weights, opsets, subgraphs,
//! and (through `check_models.py` and `$PRECISION_PYTHON`) onnx's full checker and ONNX Runtime.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::*;
use precision_core::{LayerSet, Network, Precision, PrecisionPlan};
use precision_onnx::proto::{self, elem};
use precision_onnx::rewrite::{int8_activation_tensors, layer_precisions};
use precision_onnx::{
    ActivationScales, Bf16Mode, LayerTable, OnnxModel, RewriteOptions, RewriteSummary, rewrite,
};

fn network(model: &OnnxModel, lower: &[Precision]) -> (LayerTable, Network) {
    let table = LayerTable::build(model);
    let network = table.network("m", model.input_infos_lenient(), model.output_names(), lower);
    network.validate().expect("a valid network");
    (table, network)
}

fn scales_for(model: &OnnxModel, table: &LayerTable) -> ActivationScales {
    int8_activation_tensors(model, table).into_iter().map(|t| (t, 0.02)).collect()
}

/// Rewrites `model` with `lower` enabled and `marked` (by layer name) kept in float32.
fn rewritten(
    model: &OnnxModel,
    lower: &[Precision],
    marked: &[&str],
    bf16: Bf16Mode,
) -> (OnnxModel, RewriteSummary) {
    let (table, net) = network(model, lower);
    let set = LayerSet::from_indices(
        net.len(),
        marked.iter().map(|m| net.layer_by_name(m).expect("layer").index),
    );
    let plan =
        PrecisionPlan::new(&net, lower.to_vec(), Precision::Float32).unwrap().with_marked(set);
    let precisions = layer_precisions(&table, &net, &plan).unwrap();
    rewrite(
        model,
        &table,
        &precisions,
        &scales_for(model, &table),
        RewriteOptions { bf16, ..RewriteOptions::default() },
    )
    .unwrap()
}

fn ops(model: &OnnxModel) -> Vec<String> {
    model.graph().node.iter().map(|n| n.op_type.clone()).collect()
}

fn count(model: &OnnxModel, op: &str) -> usize {
    ops(model).iter().filter(|o| *o == op).count()
}

#[test]
fn layers_name_nodes_and_say_why_they_cannot_be_marked() {
    let model = convnet_opset11();
    let (_, net) = network(&model, &[Precision::Float16]);
    let names: Vec<&str> = net.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv", "Relu_1", "gap", "flat", "wconst", "fc", "bconst", "bias", "unsq", "sq",
            "softmax"
        ]
    );
    let unmarkable: Vec<&str> =
        net.layers.iter().filter(|l| !l.is_markable()).map(|l| l.name.as_str()).collect();
    assert_eq!(unmarkable, ["wconst", "bconst"]);
    assert!(net.layers[4].unmarkable_reason.as_deref().unwrap().contains("Constant"));

    // Under INT8 alone only the quantized ops and their companions can change precision.
    let (_, net) = network(&model, &[Precision::Int8]);
    let markable: Vec<&str> =
        net.layers.iter().filter(|l| l.is_markable()).map(|l| l.name.as_str()).collect();
    assert_eq!(markable, ["conv", "gap", "fc", "bias"]);
    assert!(
        net.layers[1]
            .unmarkable_reason
            .as_deref()
            .unwrap()
            .contains("runs in float32 in every plan")
    );
}

#[test]
fn subgraph_nodes_are_layers_addressed_through_their_parent() {
    let model = branchy_opset13();
    let (_, net) = network(&model, &[Precision::Float16]);
    let names: Vec<&str> = net.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Shape_0",
            "Identity_1",
            "branch",
            "branch/then_branch/Mul_0",
            "branch/then_branch/Relu_1",
            "branch/else_branch/Sigmoid_0",
            "Tanh_3"
        ]
    );
    let reason = |i: usize| net.layers[i].unmarkable_reason.clone().unwrap_or_default();
    assert!(reason(0).contains("shape arithmetic"), "{}", reason(0));
    assert!(reason(1).contains("shape arithmetic"), "{}", reason(1));
    assert!(reason(2).contains("control flow"), "{}", reason(2));
    assert!(net.layers[3..].iter().all(precision_core::Layer::is_markable));
}

#[test]
fn int8_puts_qdq_on_activations_and_per_channel_weights() {
    let model = convnet_opset11();
    let (table, _) = network(&model, &[Precision::Int8]);
    assert_eq!(int8_activation_tensors(&model, &table), ["x", "r", "f", "m"]);
    let (out, summary) = rewritten(&model, &[Precision::Int8], &[], Bf16Mode::Native);
    assert_eq!(summary.activation_qdq, 4);
    assert_eq!(summary.weights_per_channel, 2);
    assert_eq!(summary.weights_per_tensor, 0);
    assert_eq!(count(&out, "QuantizeLinear"), 4);
    assert_eq!(count(&out, "DequantizeLinear"), 6);
    // Per-channel DequantizeLinear needs opset 13: the model was raised, and the ops whose
    // form changed were rewritten.
    assert_eq!(out.opset(), 13);
    let squeeze = out.graph().node.iter().find(|n| n.op_type == "Squeeze").unwrap();
    assert_eq!(squeeze.input.len(), 2, "axes became an input");
    assert!(squeeze.attribute.iter().all(|a| a.name != "axes"));
    assert!(ops(&out).windows(4).any(|w| w == ["Shape", "Flatten", "Softmax", "Reshape"]));
    // Names, inputs, outputs and metadata survive.
    assert_eq!(out.graph().input[0].name, "x");
    assert_eq!(out.output_names(), ["y"]);
    assert_eq!(out.proto.metadata_props[0].value, "a b c");

    // The conv weights: int8, symmetric per output channel, each channel reaching ±127.
    let dq = out
        .graph()
        .node
        .iter()
        .find(|n| n.op_type == "DequantizeLinear" && n.output[0].starts_with("conv.w"))
        .unwrap();
    assert_eq!(proto::attr_int(dq, "axis", -1), 0);
    let init =
        |name: &str| out.graph().initializer.iter().find(|t| t.name == name).unwrap().clone();
    let q = init(&dq.input[0]);
    assert_eq!(q.data_type, elem::INT8);
    let scales = proto::float_values(&init(&dq.input[1])).unwrap();
    assert_eq!(scales.len(), 4);
    let original =
        proto::float_values(model.graph().initializer.iter().find(|t| t.name == "conv.w").unwrap())
            .unwrap();
    let qv: Vec<i8> = q.raw_data.iter().map(|&b| b as i8).collect();
    for c in 0..4 {
        let chan = &qv[c * 27..(c + 1) * 27];
        assert_eq!(chan.iter().map(|v| v.unsigned_abs()).max(), Some(127));
        for k in 0..27 {
            let w = original[c * 27 + k];
            let back = f32::from(chan[k]) * scales[c];
            assert!((w - back).abs() <= scales[c] / 2.0 + 1e-7, "channel {c}: {w} vs {back}");
        }
    }
    // The MatMul weights [4, 5] are quantized per output column.
    let dq = out
        .graph()
        .node
        .iter()
        .find(|n| n.op_type == "DequantizeLinear" && n.output[0].starts_with("fc.w"))
        .unwrap();
    assert_eq!(proto::attr_int(dq, "axis", -1), 1);
    // The unused float weights are gone.
    assert!(out.graph().initializer.iter().all(|t| t.name != "conv.w"));
}

#[test]
fn marked_layers_stay_float32() {
    let model = convnet_opset11();
    let (out, summary) =
        rewritten(&model, &[Precision::Int8], &["conv", "gap", "fc", "bias"], Bf16Mode::Native);
    assert_eq!(summary, RewriteSummary::default());
    assert_eq!(out.opset(), 11, "nothing inserted needs a newer opset");
    assert_eq!(ops(&out), ops(&model));
    let (out, summary) = rewritten(&model, &[Precision::Int8], &["conv"], Bf16Mode::Native);
    assert_eq!(summary.weights_per_channel, 1);
    let conv = out.graph().node.iter().find(|n| n.name == "conv").unwrap();
    assert_eq!(conv.input, ["x", "conv.w", "conv.b"]);
}

#[test]
fn fp16_shares_casts_and_never_casts_back_to_back() {
    let model = convnet_opset11();
    let (out, summary) = rewritten(&model, &[Precision::Float16], &[], Bf16Mode::Native);
    assert!(summary.casts > 0);
    // Every layer is float16: one cast down at the input, one back up at the output.
    let casts: Vec<(String, i64)> = out
        .graph()
        .node
        .iter()
        .filter(|n| n.op_type == "Cast")
        .map(|n| (n.input[0].clone(), proto::attr_int(n, "to", 0)))
        .collect();
    assert_eq!(casts.len(), 2, "{casts:?}");
    assert_eq!(casts[0], ("x".to_owned(), i64::from(elem::FLOAT16)));
    assert_eq!(casts[1].1, i64::from(elem::FLOAT));
    assert_eq!(out.opset(), 11, "Cast to float16 needs no newer opset");
    assert!(
        out.graph()
            .initializer
            .iter()
            .any(|t| t.data_type == elem::FLOAT16 && t.name.starts_with("conv.w"))
    );

    // Marking the Relu in the middle splits the chain: cast up before it, down after it.
    let (out, _) = rewritten(&model, &[Precision::Float16], &["Relu_1"], Bf16Mode::Native);
    let relu = out.graph().node.iter().find(|n| n.op_type == "Relu").unwrap();
    assert_eq!(relu.input, ["c"]);
    assert_eq!(relu.output, ["r"]);
    assert_eq!(count(&out, "Cast"), 4);
}

#[test]
fn bf16_native_and_emulated() {
    let model = convnet_opset11();
    let (out, summary) = rewritten(&model, &[Precision::BFloat16], &[], Bf16Mode::Native);
    assert!(summary.bf16);
    assert_eq!(out.opset(), 13, "bfloat16 Cast needs opset 13");
    assert!(out.graph().initializer.iter().any(|t| t.data_type == elem::BFLOAT16));
    let (out, summary) = rewritten(&model, &[Precision::BFloat16], &[], Bf16Mode::Emulated);
    assert!(summary.bf16);
    // Emulated: every op still computes in float32 on values rounded to bfloat16.
    assert!(out.graph().initializer.iter().all(|t| t.data_type != elem::BFLOAT16));
    let conv = out.graph().node.iter().find(|n| n.name == "conv").unwrap();
    assert!(conv.input[1].ends_with("__bf16r"));
}

#[test]
fn subgraph_layers_are_rewritten_inside_their_branch() {
    let model = branchy_opset13();
    let (out, _) = rewritten(
        &model,
        &[Precision::Float16],
        &["branch/else_branch/Sigmoid_0"],
        Bf16Mode::Native,
    );
    let branch = out.graph().node.iter().find(|n| n.op_type == "If").unwrap();
    let sub =
        |name: &str| branch.attribute.iter().find(|a| a.name == name).unwrap().g.clone().unwrap();
    let then_g = sub("then_branch");
    assert!(then_g.node.iter().any(|n| n.op_type == "Cast"), "the then branch runs in float16");
    assert!(
        then_g.initializer.iter().any(|t| t.data_type == elem::FLOAT16),
        "its constant converted"
    );
    let else_g = sub("else_branch");
    assert_eq!(else_g.node.len(), 1, "the marked Sigmoid is untouched");
}

/// Every rewritten variant passes onnx's full checker and runs in ONNX Runtime; the float32
/// plan computes exactly what the original does, the others stay close.
#[test]
fn rewritten_models_pass_the_onnx_checker_and_run_in_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, OnnxModel)> =
        vec![("convnet", convnet_opset11()), ("branchy", branchy_opset13())];
    for (name, model) in cases {
        let original = save(&model, dir.path(), &format!("{name}.onnx"));
        let mut variants = Vec::new();
        let mut expect: HashMap<String, f64> = HashMap::new();
        for (tag, lower, bf16, tol) in [
            ("fp32", vec![], Bf16Mode::Native, 0.0),
            ("int8", vec![Precision::Int8], Bf16Mode::Native, 0.1),
            ("fp16", vec![Precision::Float16], Bf16Mode::Native, 0.01),
            ("int8fp16", vec![Precision::Int8, Precision::Float16], Bf16Mode::Native, 0.1),
            ("bf16emu", vec![Precision::BFloat16], Bf16Mode::Emulated, 0.05),
        ] {
            let out = if lower.is_empty() {
                let (table, net) = network(&model, &[]);
                let plan = PrecisionPlan::float32(&net);
                let precisions = layer_precisions(&table, &net, &plan).unwrap();
                rewrite(
                    &model,
                    &table,
                    &precisions,
                    &ActivationScales::new(),
                    RewriteOptions::default(),
                )
                .unwrap()
                .0
            } else {
                rewritten(&model, &lower, &[], bf16).0
            };
            let path = save(&out, dir.path(), &format!("{name}.{tag}.onnx"));
            expect.insert(path.display().to_string(), tol);
            variants.push(path);
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_models.py");
        let output = Command::new(fixtures::env::python())
            .arg(&script)
            .arg(&original)
            .args(&variants)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "check_models.py failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), variants.len());
        for line in lines {
            let tol = expect[line["model"].as_str().unwrap()];
            for (out_name, diff) in line["max_abs_diff"].as_object().unwrap() {
                let diff =
                    diff.as_f64().unwrap_or_else(|| panic!("{line}: output {out_name} missing"));
                assert!(
                    diff <= tol,
                    "{}: output {out_name} differs by {diff} (allowed {tol})",
                    line["model"]
                );
            }
        }
    }
}

#[test]
fn rewrites_keep_the_weights_still_read_unchanged_in_order_and_no_others() {
    // The rewrite copies the top-level weights only after rewriting (never the ones it
    // converts): the result must be what rewriting a whole copy and pruning gives.
    let lowers: [&[Precision]; 4] = [
        &[Precision::Int8],
        &[Precision::Float16],
        &[Precision::Int8, Precision::Float16],
        &[Precision::BFloat16],
    ];
    for model in [convnet_opset11(), branchy_opset13(), loop_opset13()] {
        let source = &model.graph().initializer;
        let (_, net) = network(&model, &[Precision::Int8]);
        let markable: Vec<&str> =
            net.layers.iter().filter(|l| l.is_markable()).map(|l| l.name.as_str()).collect();
        for lower in lowers {
            for marked in [&[][..], &markable[..1], &markable[..]] {
                for bf16 in [Bf16Mode::Native, Bf16Mode::Emulated] {
                    let (out, _) = rewritten(&model, lower, marked, bf16);
                    let graph = out.graph();
                    let mut read: std::collections::HashSet<&str> = graph
                        .node
                        .iter()
                        .flat_map(|n| n.input.iter().map(String::as_str))
                        .collect();
                    read.extend(graph.input.iter().map(|i| i.name.as_str()));
                    read.extend(graph.output.iter().map(|o| o.name.as_str()));
                    // Subgraphs read outer-scope weights too.
                    for n in &graph.node {
                        for a in &n.attribute {
                            for g in a.g.iter().chain(&a.graphs) {
                                read.extend(
                                    g.node.iter().flat_map(|n| n.input.iter().map(String::as_str)),
                                );
                            }
                        }
                    }
                    let context = format!("{lower:?}, {} marked, {bf16:?}", marked.len());
                    for t in &graph.initializer {
                        assert!(read.contains(t.name.as_str()), "{context}: '{}' unread", t.name);
                    }
                    // The original weights kept: unchanged, in their order, before new ones.
                    let kept: Vec<usize> = graph
                        .initializer
                        .iter()
                        .map_while(|t| source.iter().position(|s| s.name == t.name))
                        .collect();
                    assert!(kept.windows(2).all(|w| w[0] < w[1]), "{context}: order {kept:?}");
                    for (t, &i) in graph.initializer.iter().zip(&kept) {
                        assert_eq!(t, &source[i], "{context}: '{}' changed", t.name);
                    }
                    for t in &graph.initializer[kept.len()..] {
                        assert!(source.iter().all(|s| s.name != t.name), "{context}: '{}'", t.name);
                    }
                    for s in source.iter().filter(|s| read.contains(s.name.as_str())) {
                        assert!(
                            graph.initializer.iter().any(|t| t.name == s.name),
                            "{context}: read weight '{}' is missing",
                            s.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn float16_kernels_option_raises_opset_11_to_13_only_when_something_is_lowered() {
    let model = convnet_opset11();
    let (table, net) = network(&model, &[Precision::Float16]);
    let options = RewriteOptions { upgrade_for_float16_kernels: true, ..RewriteOptions::default() };
    let plan = |marked: LayerSet| {
        let plan = PrecisionPlan::new(&net, vec![Precision::Float16], Precision::Float32)
            .unwrap()
            .with_marked(marked);
        layer_precisions(&table, &net, &plan).unwrap()
    };

    // Everything lowered: raised to 13, with the ops whose form changed rewritten.
    let lowered = plan(LayerSet::empty(net.len()));
    let (out, summary) =
        rewrite(&model, &table, &lowered, &ActivationScales::new(), options).unwrap();
    assert!(summary.casts > 0);
    assert_eq!(out.opset(), 13);
    let unsq = out.graph().node.iter().find(|n| n.op_type == "Unsqueeze").unwrap();
    assert_eq!(unsq.input.len(), 2, "axes became an input at opset 13");
    assert!(proto::attr(unsq, "axes").is_none());

    // Every markable layer marked: nothing lowered, so nothing needs a float16 kernel.
    let all = LayerSet::from_indices(
        net.len(),
        net.layers.iter().filter(|l| l.is_markable()).map(|l| l.index),
    );
    let (out, summary) =
        rewrite(&model, &table, &plan(all), &ActivationScales::new(), options).unwrap();
    assert_eq!(summary.casts, 0);
    assert_eq!(out.opset(), 11);

    // Without the option, the same float16 rewrite stays at opset 11.
    let (out, _) =
        rewrite(&model, &table, &lowered, &ActivationScales::new(), RewriteOptions::default())
            .unwrap();
    assert_eq!(out.opset(), 11);
}
