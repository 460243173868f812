//! End-to-end tests of the `precision` binary on mock networks: answers computed by hand from
//! the fixtures, exit codes, reports, and clear errors for bad input.

mod common;
use common::{ATOL, assert_bad, chain_with_goldens, code, precision, s, text};

use std::path::Path;

use fixtures::folder::TempFolder;
use fixtures::{Generated, Sensitivity, Topology};

#[test]
fn bisect_reverse_marks_the_suffix_from_the_first_sensitive_layer() {
    let w = TempFolder::new();
    let (model, golden, sensitive) = chain_with_goldens(&w);
    let report = w.path("report.json");
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        ATOL,
        "--rtol",
        "0",
        "--report",
        s(&report),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let expected = 60 - sensitive[0];
    let t = text(&out);
    assert!(t.contains(&format!("try running the last {expected} layers in float32")), "{t}");
    assert!(t.contains("--layerPrecisions=layer"), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["algorithm"], "bisect");
    assert_eq!(json["direction"], "reverse");
    assert_eq!(json["status"], "found");
    assert_eq!(json["higher_precision"], "float32");
    assert_eq!(json["lower_precisions"][0], "int8");
    assert_eq!(json["num_layers"], 60);
    let marked = json["marked"].as_array().unwrap();
    assert_eq!(marked.len(), expected);
    assert_eq!(marked[0]["index"], sensitive[0]);
    assert_eq!(marked[0]["name"], format!("layer{}", sensitive[0]));
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(json["evaluations"], checks.len());
    // The noise-floor check (every markable layer marked), then at most
    // ceil(log2(60 + 1)) + 1 = 7 checks of the bisection.
    assert_eq!(checks[0]["marked"].as_array().unwrap().len(), 60);
    assert_eq!(checks[0]["passed"], true);
    assert!(checks.len() <= 1 + 7, "{} checks", checks.len());
    let last_pass = checks.iter().rev().find(|i| i["passed"] == true).unwrap();
    assert_eq!(last_pass["marked"].as_array().unwrap().len(), expected);
    let o = &checks[0]["outputs"][0];
    for key in ["name", "passed", "max_absdiff", "max_reldiff"] {
        assert!(o.get(key).is_some(), "check output lacks {key}: {o}");
    }
    assert!(checks[0].get("build_error").is_some());
}

#[test]
fn linear_forward_marks_the_prefix_up_to_the_last_sensitive_layer() {
    let w = TempFolder::new();
    let (model, golden, sensitive) = chain_with_goldens(&w);
    let report = w.path("linear.json");
    let out = precision(&[
        "linear",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        ATOL,
        "--rtol",
        "0",
        "--mode",
        "forward",
        "--report",
        s(&report),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let expected = sensitive[3] + 1;
    assert!(text(&out).contains(&format!("the first {expected} layers")), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    // The noise-floor check, then n = 0, 1, ..., expected.
    assert_eq!(json["evaluations"], expected + 2);

    // Without the floor check: exactly the original tool's checks.
    let out = precision(&[
        "linear",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        ATOL,
        "--rtol",
        "0",
        "--mode",
        "forward",
        "--no-floor-check",
        "--report",
        s(&report),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["evaluations"], expected + 1);
}

#[test]
fn worst_first_finds_a_passing_set_that_check_confirms() {
    let w = TempFolder::new();
    let (model, golden, sensitive) = chain_with_goldens(&w);
    let report = w.path("wf.json");
    let out = precision(&[
        "worst-first",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        ATOL,
        "--rtol",
        "0",
        "--top",
        "3",
        "--report",
        s(&report),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let names: Vec<String> = json["marked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    for i in &sensitive {
        assert!(names.contains(&format!("layer{i}")), "layer{i} missing from {names:?}");
    }
    let marks = names.join(",");
    let out = precision(&[
        "check",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        ATOL,
        "--rtol",
        "0",
        "--mark",
        &marks,
    ]);
    assert_eq!(code(&out), 0, "the answer must pass when re-checked: {}", text(&out));
}

#[test]
fn check_passes_and_fails_with_exit_codes() {
    let w = TempFolder::new();
    let (model, golden, sensitive) = chain_with_goldens(&w);
    let all: Vec<String> = sensitive.iter().map(|i| format!("layer{i}")).collect();
    let base =
        ["check", s(&model), "--golden", s(&golden), "--int8", "--atol", ATOL, "--rtol", "0"];
    let out = precision(&[&base[..], &["--mark", &all.join(",")]].concat());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("PASSED"));
    let out = precision(&[&base[..], &["--mark", &all[1..].join(",")]].concat());
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("FAILED"));
    let out = precision(&[&base[..], &["--mark", "no_such_layer"]].concat());
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("no layer named 'no_such_layer'"), "{}", text(&out));
}

#[test]
fn not_found_exits_1_with_the_original_message() {
    let w = TempFolder::new();
    let (model, golden, _) = chain_with_goldens(&w);
    // With float16 as the higher precision, even marking every layer leaves float16's own
    // error, which a zero tolerance rejects.
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--precision",
        "float16",
        "--atol",
        "0",
        "--rtol",
        "0",
        "--no-floor-check",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("Could not find a configuration"), "{}", text(&out));
}

#[test]
fn a_tolerance_below_the_noise_floor_stops_after_one_check() {
    let w = TempFolder::new();
    let (model, golden, _) = chain_with_goldens(&w);
    let report = w.path("floor.json");
    for algorithm in ["bisect", "ranked"] {
        let out = precision(&[
            algorithm,
            s(&model),
            "--golden",
            s(&golden),
            "--int8",
            "--precision",
            "float16",
            "--atol",
            "0",
            "--rtol",
            "0",
            "--report",
            s(&report),
        ]);
        assert_eq!(code(&out), 1, "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("No configuration can pass"), "{t}");
        assert!(t.contains("below the backend's own noise"), "{t}");
        assert!(t.contains("needs atol"), "{t}");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(json["evaluations"], 1);
        assert_eq!(json["noise_floor"]["passed"], false);
    }
    // --auto-tolerance 2 derives tolerances from that floor, and the search then passes.
    let out = precision(&[
        "ranked",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--precision",
        "float16",
        "--auto-tolerance",
        "2",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("--auto-tolerance 2:"), "{}", text(&out));
}

#[test]
fn ranked_marks_only_the_sensitive_layers_and_check_confirms() {
    let w = TempFolder::new();
    let (model, golden, sensitive) = chain_with_goldens(&w);
    let report = w.path("ranked.json");
    let common = ["--golden", s(&golden), "--int8", "--atol", ATOL, "--rtol", "0"];
    let mut args = vec!["ranked", s(&model)];
    args.extend(common);
    args.extend(["--report", s(&report), "--jobs", "3"]);
    let out = precision(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("nodes_to_exclude=[\"layer"), "{t}");
    assert!(t.contains("--layerOutputTypes=layer"), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let marked: Vec<usize> = json["marked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| usize::try_from(l["index"].as_u64().unwrap()).unwrap())
        .collect();
    assert_eq!(marked, sensitive, "{t}");
    assert_eq!(json["sensitivity"].as_array().unwrap().len(), 60);
    assert!(json["sensitivity"][0]["isolated"].as_f64().is_some());
    assert!(json["rounds"].as_u64().unwrap() < json["evaluations"].as_u64().unwrap());
    assert_eq!(json["nodes_to_exclude"].as_array().unwrap().len(), sensitive.len());
    // The answer passes on its own.
    let marks: Vec<String> = marked.iter().map(|i| format!("#{i}")).collect();
    let marks = marks.join(",");
    let mut args = vec!["check", s(&model)];
    args.extend(common);
    args.extend(["--mark", &marks]);
    assert_eq!(code(&precision(&args)), 0);

    // --minimize prunes bisect's suffix to the same layers.
    let mut args = vec!["bisect", s(&model)];
    args.extend(common);
    let report = w.path("bisect-minimize.json");
    args.extend(["--minimize", "--report", s(&report)]);
    let out = precision(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("pruned from"), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["marked"].as_array().unwrap().len(), sensitive.len());

    // --max-checks 3 stops early with the best passing plan so far, saying so.
    let mut args = vec!["ranked", s(&model)];
    args.extend(common);
    // (A new report, so no journal of the runs above answers these checks for free.)
    let report = w.path("budget.json");
    args.extend(["--max-checks", "3", "--report", s(&report)]);
    let out = precision(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("not minimal"), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["evaluations"], 3);
}

#[test]
fn layers_lists_markability() {
    let w = TempFolder::new();
    let model = w.write("demo.toml", fixtures::DEMO_NETWORK);
    let out = precision(&["layers", s(&model)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("head/softmax"), "{t}");
    assert!(t.lines().any(|l| l.contains("head/shape") && l.contains("no: ")), "{t}");
}

#[test]
fn demo_network_bisect_finds_the_head() {
    let w = TempFolder::new();
    let model = w.write("demo.toml", fixtures::DEMO_NETWORK);
    let golden = w.path("golden.json");
    let inputs = w.path("inputs.json");
    let out =
        precision(&["run", s(&model), "--save-outputs", s(&golden), "--save-inputs", s(&inputs)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--load-inputs",
        s(&inputs),
        "--int8",
        "--atol",
        "0.02",
        "--rtol",
        "0.02",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("head/fc2 (#18)"), "{}", text(&out));
}

// ---- bad input: exit 2, a message naming the problem, no half-written output ----

#[test]
fn malformed_specs_are_rejected_clearly() {
    let w = TempFolder::new();
    let bad = w.write("bad.toml", "name = \"x\"\n[[inputs]\nname = 1\n");
    assert_bad(&precision(&["layers", s(&bad)]), &["bad.toml"]);
    let unknown = w.write(
        "unknown.toml",
        "[[inputs]]\nname = \"x\"\nshape = [1, 4]\n[[layers]]\nname = \"a\"\ncolour = \"red\"\n",
    );
    assert_bad(&precision(&["layers", s(&unknown)]), &["unknown.toml", "colour"]);
    let dangling = w.write(
        "dangling.toml",
        "[[inputs]]\nname = \"x\"\nshape = [1, 4]\n[[layers]]\nname = \"a\"\ninputs = [\"nope\"]\n",
    );
    assert_bad(&precision(&["layers", s(&dangling)]), &["nope"]);
    assert_bad(&precision(&["layers", s(&w.path("missing.toml"))]), &["missing.toml"]);
    let engine = w.write("model.engine", "");
    assert_bad(&precision(&["layers", s(&engine)]), &["engine"]);
}

#[test]
fn bad_goldens_and_inputs_are_rejected_clearly() {
    let w = TempFolder::new();
    let (model, golden, _) = chain_with_goldens(&w);
    let search = |golden: &Path, extra: &[&str]| {
        let mut args = vec!["bisect", s(&model), "--golden", s(golden), "--int8"];
        args.extend_from_slice(extra);
        precision(&args)
    };
    assert_bad(&search(&w.path("nope.json"), &[]), &["nope.json"]);
    let full = std::fs::read_to_string(&golden).unwrap();
    let truncated = w.write("truncated.json", &full[..full.len() / 2]);
    assert_bad(&search(&truncated, &[]), &["truncated.json"]);
    let other = w.write("renamed.json", &full.replace("layer59_out", "something_else"));
    assert_bad(&search(&other, &[]), &["layer59_out"]);
    assert_bad(&search(&golden, &["--atol", "abc"]), &["abc"]);
    // inputs of the wrong shape
    let demo = w.write("demo.toml", fixtures::DEMO_NETWORK);
    let inputs = w.path("demo-inputs.json");
    assert_eq!(code(&precision(&["run", s(&demo), "--save-inputs", s(&inputs)])), 0);
    let out = precision(&["run", s(&model), "--load-inputs", s(&inputs)]);
    assert_bad(&out, &["demo-inputs.json"]);
}

#[test]
fn no_half_written_report() {
    let w = TempFolder::new();
    let (model, golden, _) = chain_with_goldens(&w);
    let report = w.path("no/such/dir/report.json");
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        ATOL,
        "--rtol",
        "0",
        "--report",
        s(&report),
    ]);
    assert_bad(&out, &["report.json"]);
    assert!(!report.exists());
}

#[test]
fn golden_of_another_shape_is_rejected() {
    let w = TempFolder::new();
    let (model, _, _) = chain_with_goldens(&w);
    // The demo's goldens have the right output name nowhere, so make a chain whose single
    // output has the same name but another shape.
    let other = w.write(
        "other.toml",
        &fixtures::generate(&Generated {
            topology: Topology::Chain,
            layers: 60,
            sensitivity: Sensitivity::Scattered(4),
            seed: 5,
        })
        .replace("shape = [1, 8]", "shape = [2, 8]"),
    );
    let golden = w.path("other-golden.json");
    assert_eq!(code(&precision(&["run", s(&other), "--save-outputs", s(&golden)])), 0);
    let out = precision(&["bisect", s(&model), "--golden", s(&golden), "--int8"]);
    assert_bad(&out, &["layer59_out", "[2, 8]", "[1, 8]", "regenerate"]);
}

#[test]
fn spec_with_duplicates_or_cycles_is_rejected() {
    let w = TempFolder::new();
    let header = "[[inputs]]\nname = \"x\"\nshape = [1, 4]\n";
    let dup = w.write("dup.toml", &format!("{header}[[layers]]\nname = \"a\"\n[[layers]]\nname = \"a\"\ninputs = [\"x\"]\noutputs = [\"b_out\"]\n"));
    assert_bad(&precision(&["layers", s(&dup)]), &["dup.toml", "'a'"]);
    let cycle = w.write(
        "cycle.toml",
        &format!("{header}[[layers]]\nname = \"a\"\ninputs = [\"b_out\"]\n[[layers]]\nname = \"b\"\ninputs = [\"a_out\"]\n"),
    );
    assert_bad(&precision(&["layers", s(&cycle)]), &["cycle.toml", "b_out", "later"]);
}

#[test]
fn tensorrt_backend_and_its_flags_are_refused_clearly_without_tensorrt() {
    let w = TempFolder::new();
    let model = w.write("model.onnx", "not read before TensorRT is found");
    let out = precision(&["run", s(&model), "--backend", "tensorrt"]);
    if cfg!(feature = "tensorrt") {
        // A build with TensorRT gets past this point; the fake-backed tests cover the rest.
        assert_ne!(code(&out), 0);
        return;
    }
    assert_bad(
        &out,
        &[
            "TensorRT was not found when this binary was built; set TENSORRT_ROOT and rebuild with --features tensorrt",
        ],
    );
    // An engine is refused as such, with any backend.
    let engine = w.write("model.plan", "");
    assert_bad(
        &precision(&["run", s(&engine), "--backend", "tensorrt"]),
        &["engines cannot be modified"],
    );
    let (mock, golden, _) = chain_with_goldens(&w);
    for flags in [
        &["--typing", "strong"][..],
        &["--timing-cache", "t.cache"],
        &["--save-engine", "engines"],
        &["--precision-constraints", "prefer"],
        &["--layer-outputs", "debug"],
    ] {
        let mut args = vec!["bisect", s(&mock), "--golden", s(&golden), "--int8"];
        args.extend_from_slice(flags);
        assert_bad(&precision(&args), &[flags[0], "--backend tensorrt"]);
    }
}
