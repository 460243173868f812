//! Headroom and `--margin` end to end on a mock network: the console, the report and the HTML
//! state the answer's headroom against the user's tolerance; `--margin 0.5` keeps more layers
//! and doubles the headroom; other comparison functions through a search.

mod common;
use common::{precision, s, text};

use std::path::{Path, PathBuf};

use fixtures::{Generated, Sensitivity, Topology};

/// A generated chain (quiet layers add 1e-4 to the output error, 4 sensitive ones 5e-2) and
/// its float32 goldens.
fn chain(dir: &Path) -> (PathBuf, PathBuf) {
    let params = Generated {
        topology: Topology::Chain,
        layers: 60,
        sensitivity: Sensitivity::Scattered(4),
        seed: 5,
    };
    let model = dir.join("chain.toml");
    std::fs::write(&model, fixtures::generate(&params)).unwrap();
    let golden = dir.join("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (model, golden)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn json_f64(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| match v.as_str() {
        Some("inf") => f64::INFINITY,
        other => panic!("not a number: {other:?}"),
    })
}

#[test]
fn margin_keeps_more_layers_and_the_report_states_the_headroom() {
    let dir = tempfile::tempdir().unwrap();
    let (model, golden) = chain(dir.path());
    // atol 0.008: the 56 quiet layers (5.6e-3) fit; with --margin 0.5 (4e-3) they do not all.
    let search = |margin: Option<&str>, name: &str| {
        let report = dir.path().join(format!("{name}.json"));
        let html = dir.path().join(format!("{name}.html"));
        let mut args = vec![
            "ranked",
            s(&model),
            "--golden",
            s(&golden),
            "--int8",
            "--atol",
            "0.008",
            "--rtol",
            "0",
            "--report",
            s(&report),
            "--html",
            s(&html),
            "--no-journal",
        ];
        if let Some(m) = margin {
            args.extend(["--margin", m]);
        }
        let out = precision(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        (text(&out), report, html)
    };
    let (plain_text, plain_report, _) = search(None, "plain");
    let (strict_text, strict_report, strict_html) = search(Some("0.5"), "strict");
    assert!(plain_text.contains("Headroom of the answer"), "{plain_text}");
    assert!(strict_text.contains("--margin 0.5"), "{strict_text}");
    let (plain, strict) = (read_json(&plain_report), read_json(&strict_report));
    let marked = |r: &serde_json::Value| r["marked"].as_array().unwrap().len();
    assert!(marked(&strict) > marked(&plain), "{} vs {}", marked(&strict), marked(&plain));
    assert_eq!(strict["margin"], 0.5);
    assert!(plain["margin"].is_null());
    for (r, least) in [(&plain, 1.0), (&strict, 2.0)] {
        let outputs = r["answer_outputs"].as_array().unwrap();
        assert!(!outputs.is_empty());
        for o in outputs {
            let h = json_f64(&o["headroom"]);
            assert!(h >= least, "headroom {h} < {least}: {o}");
            // The user's tolerance, not the margin's.
            let simple = &o["metrics"][0];
            assert_eq!(simple["function"], "simple");
            assert_eq!(simple["threshold"], 0.008);
        }
    }
    let html = std::fs::read_to_string(strict_html).unwrap();
    assert!(html.contains("<h3>Headroom</h3>") && html.contains("id=\"margin\""), "no headroom");
    assert!(html.contains("answer-outputs"));
}

#[test]
fn searches_check_and_compare_take_the_other_functions() {
    let dir = tempfile::tempdir().unwrap();
    let (model, golden) = chain(dir.path());
    let report = dir.path().join("l2.json");
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--compare",
        "l2",
        "cosine_similarity",
        "--l2-tolerance",
        "0.03",
        "--report",
        s(&report),
        "--no-journal",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = read_json(&report);
    let checks = r["checks"].as_array().unwrap();
    let functions: Vec<&str> = checks[0]["outputs"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["function"].as_str().unwrap())
        .collect();
    assert_eq!(functions, ["l2", "cosine_similarity"]);
    for o in r["answer_outputs"].as_array().unwrap() {
        assert!(json_f64(&o["headroom"]) >= 1.0);
        assert!(json_f64(&o["metrics"][0]["value"]) <= 0.03);
    }
    assert!(text(&out).contains("l2 "), "{}", text(&out));
    // check prints the values and the headroom.
    let out = precision(&[
        "check",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--compare",
        "psnr",
        "--psnr-tolerance",
        "10",
    ]);
    let t = text(&out);
    assert!(t.contains("psnr ") && t.contains("dB") && t.contains("headroom"), "{t}");
    // Bad values are refused with exit 2.
    for bad in [
        vec!["--margin", "0"],
        vec!["--margin", "1.5"],
        vec!["--compare", "perceptual_metrics"],
        vec!["--check-average"],
    ] {
        let mut args = vec!["bisect", s(&model), "--golden", s(&golden), "--int8", "--no-journal"];
        args.extend(bad.iter().copied());
        let out = precision(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }
}

#[test]
fn auto_tolerance_speaks_in_the_chosen_metric() {
    let dir = tempfile::tempdir().unwrap();
    let (model, golden) = chain(dir.path());
    let report = dir.path().join("auto.json");
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--precision",
        "float16",
        "--compare",
        "psnr",
        "--auto-tolerance",
        "2",
        "--report",
        s(&report),
        "--no-journal",
    ]);
    let t = text(&out);
    assert!(t.contains("--auto-tolerance 2: ") && t.contains("psnr"), "{t}");
    // The floor passes with headroom 2 against the derived threshold.
    let r = read_json(&report);
    let floor = &r["noise_floor"]["outputs"][0];
    let h = json_f64(&floor["headroom"]);
    assert!((h - 2.0).abs() < 1e-9 || h.is_infinite(), "floor headroom {h}");
}
