//! The FP16 pre-screen on a model whose float32 values float16 cannot hold: `layers --fp16`
//! names the layers and why, a search keeps them in every check and in its answer, and
//! `--no-prescreen` searches them like any other layer.

mod common;
use common::{code, precision_with_onnx_runtime, s, text};

use fixtures::folder::TempFolder;
use fixtures::onnx::{node, save, shaped};
use onnx_protobuf::GraphProto;
use precision_onnx::proto::f32_tensor;
use serde_json::Value;

/// `x` → `amplify` (× 1e5, a weight beyond float16) → `relu` → `shrink` (× 1e-5) → `tail`
/// (+ b) → `y`, then four small layers. `amplify`'s output and `relu`'s input and output
/// reach about 1e5; `shrink` reads it; nothing after does.
fn overflowing_model(folder: &TempFolder) -> std::path::PathBuf {
    let mut g = GraphProto { name: "overflow".into(), ..Default::default() };
    g.input.push(shaped("x", &[1, 16]));
    g.output.push(shaped("y", &[1, 16]));
    g.initializer.push(f32_tensor("big", &[1], &[1e5]));
    g.initializer.push(f32_tensor("small", &[1], &[1e-5]));
    g.initializer.push(f32_tensor("b", &[16], &[0.25; 16]));
    g.initializer.push(f32_tensor("w", &[16], &[1.5; 16]));
    g.node.push(node("Mul", "amplify", &["x", "big"], "a"));
    g.node.push(node("Relu", "relu", &["a"], "r"));
    g.node.push(node("Mul", "shrink", &["r", "small"], "s"));
    g.node.push(node("Add", "tail", &["s", "b"], "t0"));
    let mut last = "t0".to_owned();
    for i in 1..=4 {
        let out = if i == 4 { "y".to_owned() } else { format!("t{i}") };
        g.node.push(node("Mul", &format!("scale{i}"), &[&last, "w"], &out));
        last = out;
    }
    save(g, folder.root(), "overflow.onnx")
}

const KEPT: [&str; 3] = ["amplify", "relu", "shrink"];
const RANGE: &str = "[0.5,1]";

#[test]
fn layers_fp16_names_what_float16_cannot_hold() {
    let folder = TempFolder::new();
    let m = overflowing_model(&folder);
    let out = precision_with_onnx_runtime(&["layers", s(&m), "--fp16", "--val-range", RANGE]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = text(&out);
    for name in KEPT {
        let line = said.lines().find(|l| l.contains(&format!(" {name} "))).unwrap_or_default();
        assert!(line.contains("kept from the start"), "{name}: {line}\n{said}");
    }
    assert!(said.contains("a weight reaches 1.0000e5"), "{said}");
    for name in ["tail", "scale1", "scale4"] {
        let line = said.lines().find(|l| l.contains(&format!(" {name} "))).unwrap_or_default();
        assert!(!line.contains("kept"), "{name}: {line}");
    }
    // A lower threshold reaches further; --no-prescreen and INT8 alone screen nothing.
    let out = precision_with_onnx_runtime(&[
        "layers",
        s(&m),
        "--fp16",
        "--val-range",
        RANGE,
        "--prescreen-threshold",
        "0.2",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let tail = text(&out).lines().find(|l| l.contains(" tail ")).unwrap_or_default().to_owned();
    assert!(tail.contains("kept from the start"), "{tail}");
    for extra in [&["--fp16", "--no-prescreen"][..], &["--int8"][..]] {
        let mut args = vec!["layers", s(&m)];
        args.extend(extra);
        let out = precision_with_onnx_runtime(&args);
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert!(!text(&out).contains("kept from the start"), "{extra:?}: {}", text(&out));
    }
}

fn search(m: &std::path::Path, folder: &TempFolder, algorithm: &str, extra: &[&str]) -> Value {
    let report = folder.root().join(format!("{algorithm}{}.json", extra.len()));
    let golden = folder.root().join("golden.json");
    if !golden.exists() {
        let out = precision_with_onnx_runtime(&[
            "run",
            s(m),
            "--val-range",
            RANGE,
            "--save-outputs",
            s(&golden),
        ]);
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    let mut args = vec![
        algorithm,
        s(m),
        "--golden",
        s(&golden),
        "--fp16",
        "--val-range",
        RANGE,
        "--atol",
        "1e-3",
        "--rtol",
        "0",
        "--report",
        s(&report),
        "--no-journal",
    ];
    args.extend(extra);
    let out = precision_with_onnx_runtime(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect()
}

#[test]
fn searches_keep_the_screened_layers_in_every_check_and_answer_better() {
    let folder = TempFolder::new();
    let m = overflowing_model(&folder);
    for algorithm in ["bisect", "ranked"] {
        let screened = search(&m, &folder, algorithm, &[]);
        let kept: Vec<String> = screened["prescreen"]["kept"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kept, KEPT, "{algorithm}");
        assert_eq!(screened["prescreen"]["threshold"], 65504.0);
        let answer = names(&screened["nodes_to_exclude"]);
        for name in KEPT {
            assert!(answer.contains(&name.to_owned()), "{algorithm}: {answer:?}");
        }
        let indices: Vec<u64> = [0, 1, 2].into();
        for check in screened["checks"].as_array().unwrap() {
            let marked: Vec<u64> =
                check["marked"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap()).collect();
            assert!(indices.iter().all(|i| marked.contains(i)), "{algorithm}: {marked:?}");
        }
        // Without the screen the search must find out what overflows by checking.
        let plain = search(&m, &folder, algorithm, &["--no-prescreen"]);
        assert!(plain.get("prescreen").is_none_or(Value::is_null));
        // `amplify`'s weight is infinite in float16 on any runtime. (ONNX Runtime's CPU
        // provider computes `relu` in float32, so a CPU search need not keep it; a GPU
        // would, which is why the screen keeps every layer touching such values.)
        let plain_answer = names(&plain["nodes_to_exclude"]);
        assert!(plain_answer.contains(&"amplify".to_owned()), "{algorithm}: {plain_answer:?}");
        let checks = |r: &Value| r["checks"].as_array().unwrap().len();
        let (with, without) = (checks(&screened), checks(&plain));
        // Ranked measures and prunes the overflowing layers one by one without the screen;
        // bisect's suffixes must reach back to `amplify`, the first layer, without it.
        if algorithm == "ranked" {
            assert!(with < without, "{algorithm}: {with} checks screened, {without} without");
        } else {
            assert!(with <= without, "{algorithm}: {with} checks screened, {without} without");
            assert!(answer.len() < plain_answer.len(), "{answer:?} vs {plain_answer:?}");
        }
    }
}

#[test]
fn bad_thresholds_are_refused() {
    let folder = TempFolder::new();
    let m = overflowing_model(&folder);
    for (extra, says) in [
        (&["--prescreen-threshold", "0"][..], "not a positive number"),
        (&["--prescreen-threshold", "nan"][..], "not a positive number"),
        (&["--prescreen-threshold", "512", "--no-prescreen"][..], "cannot be used with"),
    ] {
        let mut args = vec!["bisect", s(&m), "--fp16"];
        args.extend(extra);
        let out = precision_with_onnx_runtime(&args);
        assert_eq!(code(&out), 2, "{extra:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{extra:?}: {}", text(&out));
    }
}
