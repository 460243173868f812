//! End-to-end tests of what a search says beyond its layers, on mock networks: the answer's
//! latency (searches and `verify`), ranked's trade-off curve with `export --keep`, and
//! searches over groups of layers.

mod common;
use common::{ATOL, assert_bad, chain_with_goldens, code, precision, s, text};

use std::path::Path;

use fixtures::folder::TempFolder;

#[test]
fn measure_latency_times_the_answer_float32_and_nothing_marked() {
    let w = TempFolder::new();
    let (model, golden, _) = chain_with_goldens(&w);
    let (report, html) = (w.path("report.json"), w.path("report.html"));
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
        "--measure-latency",
        "5",
        "--report",
        s(&report),
        "--html",
        s(&html),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Latency (median of 5 runs after 3 warm-ups"), "{t}");
    assert!(t.contains("as fast as float32"), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let latency = &json["latency"];
    assert_eq!(latency["runs"], 5);
    assert_eq!(latency["warmup"], 3);
    for plan in ["answer", "float32", "lowered"] {
        let ms = |key: &str| latency[plan][key].as_f64().unwrap();
        let (min, median, max) = (ms("min_ms"), ms("median_ms"), ms("max_ms"));
        assert!(0.0 <= min && min <= median && median <= max, "{plan}: {latency}");
    }
    // The ratios the console prints, from the medians.
    let median = |plan: &str| latency[plan]["median_ms"].as_f64().unwrap();
    let speedup = latency["speedup_over_float32"].as_f64().unwrap();
    assert!((speedup - median("float32") / median("answer")).abs() <= 1e-9 * speedup, "{latency}");
    assert!(t.contains(&format!("the answer runs {speedup:.2}x as fast as float32")), "{t}");
    let saved = median("float32") - median("lowered");
    match latency["share_of_lowered_saving"].as_f64() {
        Some(share) => {
            let kept = (median("float32") - median("answer")) / saved;
            assert!(saved > 0.0 && (share - kept).abs() <= 1e-9 * kept.abs().max(1.0), "{latency}");
        }
        None => assert!(saved <= 0.0 && latency["share_of_lowered_saving"].is_null(), "{latency}"),
    }
    // Timing builds plans outside the search: the checks are still the search's own.
    assert_eq!(json["evaluations"], json["checks"].as_array().unwrap().len());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"latency\"") && page.contains("id=\"speedup\""), "{page}");

    // Without the flag there is no timing; zero runs is bad usage.
    let plain = precision(&["bisect", s(&model), "--golden", s(&golden), "--int8", "--atol", ATOL]);
    assert_eq!(code(&plain), 0, "{}", text(&plain));
    assert!(!text(&plain).contains("Latency"), "{}", text(&plain));
    let zero = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--measure-latency",
        "0",
    ]);
    assert_eq!(code(&zero), 2, "{}", text(&zero));
}

#[test]
fn ranked_curve_draws_heads_of_the_ranking_and_export_keep_picks_one() {
    let w = TempFolder::new();
    let (model, golden, sensitive) = chain_with_goldens(&w);
    let (report, html) = (w.path("report.json"), w.path("report.html"));
    let search = |extra: &[&str]| {
        let mut args = vec![
            "ranked",
            s(&model),
            "--golden",
            s(&golden),
            "--int8",
            "--atol",
            ATOL,
            "--rtol",
            "0",
        ];
        args.extend(extra);
        precision(&args)
    };
    let plain_report = w.path("plain.json");
    let plain = search(&["--report", s(&plain_report)]);
    assert_eq!(code(&plain), 0, "{}", text(&plain));
    let out =
        search(&["--curve", "--measure-latency", "3", "--report", s(&report), "--html", s(&html)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Trade-off curve") && t.contains("<- the answer"), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let curve = json["curve"].as_array().unwrap();
    let ranking: Vec<&str> =
        json["ranking"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(curve.len() >= 3 && curve.len() <= 9, "{curve:?}");
    // The sensitive layers head the ranking; a head passes exactly when it holds all of them.
    let k = sensitive.len();
    for p in curve {
        let layers = p["layers"].as_u64().unwrap() as usize;
        assert!(p["latency"]["median_ms"].as_f64().unwrap() >= 0.0, "{p}");
        let check = &json["checks"][p["check"].as_u64().unwrap() as usize - 1];
        assert_eq!(check["marked"].as_array().unwrap().len(), layers);
        assert_eq!(check["passed"], p["passed"]);
        if p["answer"] == true {
            assert_eq!(layers, k);
        } else {
            assert_eq!(p["passed"].as_bool().unwrap(), layers >= k, "{p}");
        }
    }
    assert!(
        curve.iter().any(|p| p["layers"] == 0)
            && curve.iter().any(|p| p["layers"] == ranking.len())
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"curve\"") && page.contains("id=\"curve-points\""));
    assert!(page.contains("id=\"curve-latency\""), "timed points draw a speed line");
    // The curve costs at most 8 more checks and leaves the answer alone.
    let checks = json["evaluations"].as_u64().unwrap();
    let plain: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plain_report).unwrap()).unwrap();
    let plain_checks = plain["evaluations"].as_u64().unwrap();
    assert_eq!(plain["marked"], json["marked"]);
    assert!(checks <= plain_checks + 8, "{checks} vs {plain_checks}");

    // export --keep K marks the K most sensitive; out-of-range K and a report without a
    // ranking are refused.
    let exported = w.path("keep.json");
    let out = precision(&[
        "export",
        s(&model),
        "--report",
        s(&report),
        "-o",
        s(&exported),
        "--keep",
        "2",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&exported).unwrap()).unwrap();
    let marked: Vec<&str> =
        plan["marked"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let mut want = ranking[..2].to_vec();
    want.sort_unstable();
    let mut got = marked.clone();
    got.sort_unstable();
    assert_eq!(got, want, "{plan}");
    let too_many = (ranking.len() + 1).to_string();
    let out = precision(&[
        "export",
        s(&model),
        "--report",
        s(&report),
        "-o",
        s(&exported),
        "--keep",
        &too_many,
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("choose K in that range"), "{}", text(&out));
    let bisect_report = w.path("bisect.json");
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        ATOL,
        "--report",
        s(&bisect_report),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = precision(&[
        "export",
        s(&model),
        "--report",
        s(&bisect_report),
        "-o",
        s(&exported),
        "--keep",
        "1",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("has no ranking"), "{}", text(&out));
    // --curve is ranked's.
    let out = precision(&["bisect", s(&model), "--golden", s(&golden), "--int8", "--curve"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--curve applies to ranked"), "{}", text(&out));
}

#[test]
fn group_searches_answer_in_groups_and_in_nodes() {
    let w = TempFolder::new();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/networks/demo.toml");
    let golden = w.path("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let (report, html) = (w.path("r.json"), w.path("r.html"));
    let out = precision(&[
        "ranked",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        "1e-2",
        "--group",
        "op-type",
        "--report",
        s(&report),
        "--html",
        s(&html),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let groups = &json["groups"];
    assert_eq!(groups["grouping"], "op-type");
    let answer: Vec<&str> =
        groups["answer"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
    assert!(!answer.is_empty());
    assert_eq!(groups["op_types_to_exclude"], groups["answer"]);
    // In nodes: exactly the markable layers of those op types, each check whole groups.
    let ops_of = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|l| l["op"].as_str().unwrap().to_owned()).collect()
    };
    let marked_ops = ops_of(&json["marked"]);
    assert!(marked_ops.iter().all(|op| answer.contains(&op.as_str())), "{marked_ops:?}");
    for g in groups["groups"].as_array().unwrap() {
        let layers: Vec<u64> =
            g["layers"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap()).collect();
        assert_eq!(g["marked"], answer.contains(&g["name"].as_str().unwrap()));
        for check in json["checks"].as_array().unwrap() {
            let marked: Vec<u64> =
                check["marked"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap()).collect();
            let inside = layers.iter().filter(|i| marked.contains(i)).count();
            assert!(inside == 0 || inside == layers.len(), "{g} split in {marked:?}");
        }
    }
    let t = text(&out);
    assert!(t.contains("In groups (--group op-type)"), "{t}");
    assert!(t.contains("--op_types_to_exclude"), "{t}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"groups\""));

    // Blocks by name prefix; a bad grouping is a usage error.
    let out = precision(&[
        "bisect",
        s(&model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        "1e-2",
        "--group",
        "name-prefix:1",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("In groups (--group name-prefix:1): keep"), "{}", text(&out));
    assert!(!text(&out).contains("--op_types_to_exclude"), "{}", text(&out));
    for bad in ["name-prefix:0", "layers"] {
        let out =
            precision(&["bisect", s(&model), "--golden", s(&golden), "--int8", "--group", bad]);
        assert_eq!(code(&out), 2, "{}", text(&out));
        assert!(text(&out).contains("invalid grouping"), "{}", text(&out));
    }
}

/// The latency block `display::latency` prints for `runs` timed runs: every plan's median with
/// its spread, and the speedup.
fn assert_latency_printed(t: &str, runs: usize) {
    assert!(t.contains(&format!("Latency (median of {runs} runs after 3 warm-ups")), "{t}");
    for plan in ["answer: ", "float32: ", "nothing marked: "] {
        let line = t.lines().find(|l| l.trim_start().starts_with(plan)).unwrap_or_else(|| {
            panic!("no '{plan}' line in: {t}");
        });
        let ms: Vec<f64> = line.trim_start()[plan.len()..]
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|n| n.parse().ok())
            .collect();
        // "median ms (fastest-slowest)"
        assert!(
            ms.len() == 3 && ms[1] <= ms[0] && ms[0] <= ms[2],
            "{plan}: median (fastest-slowest) expected in '{line}'"
        );
    }
    assert!(t.contains("as fast as float32"), "{t}");
}

#[test]
fn verify_times_the_answer_unless_told_not_to_and_keeps_its_verdict() {
    let w = TempFolder::new();
    let (model, golden, _) = chain_with_goldens(&w);
    let report = w.path("report.json");
    let tol = ["--golden", s(&golden), "--atol", ATOL, "--rtol", "0"];
    let mut search = vec!["bisect", s(&model), "--int8", "--report", s(&report), "--no-journal"];
    search.extend(tol);
    let out = precision(&search);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let verify = |extra: &[&str], atol: &str| {
        let mut args = vec!["verify", s(&model), "--report", s(&report), "--golden", s(&golden)];
        args.extend(["--atol", atol, "--rtol", "0"]);
        args.extend(extra);
        precision(&args)
    };

    // Timed by default (20 runs, as the searches), after the re-checks and before the verdict.
    let out = verify(&[], ATOL);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert_latency_printed(&t, 20);
    let (latency, verdict) = (t.find("Latency (").unwrap(), t.find("verdict: PASSED").unwrap());
    assert!(t.find("check 1: PASSED").unwrap() < latency && latency < verdict, "{t}");
    let out = verify(&["--latency-runs", "4", "--repeat", "2"], ATOL);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert_latency_printed(&t, 4);
    assert!(t.contains("verdict: PASSED (2 of 2 checks passed"), "{t}");

    // --no-latency: no timing, the same verdict.
    let out = verify(&["--no-latency"], ATOL);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert!(!t.contains("Latency") && !t.contains("cannot time"), "{t}");
    assert!(t.contains("verdict: PASSED (1 of 1 checks passed"), "{t}");

    // A failing answer still fails (exit 1), timed or not.
    for extra in [&[][..], &["--no-latency"]] {
        let out = verify(extra, "1e-6");
        let t = text(&out);
        assert_eq!(code(&out), 1, "{extra:?}: {t}");
        assert!(t.contains("verdict: FAILED (0 of 1 checks passed"), "{t}");
        assert_eq!(t.contains("Latency (median of 20 runs"), extra.is_empty(), "{t}");
    }

    // Bad values are bad usage.
    for (extra, needle) in [
        (&["--latency-runs", "0"][..], "--latency-runs"),
        (&["--latency-runs", "many"], "--latency-runs"),
        (&["--no-latency", "--latency-runs", "3"], "cannot be used with"),
    ] {
        let out = verify(extra, ATOL);
        assert_bad(&out, &[needle]);
    }
}

/// branchy's `norm` has no INT8 implementation: the answer marks it, so the nothing-marked plan
/// cannot be built to be timed. That is said, and the answer and its verdict stand.
#[test]
fn an_answer_that_cannot_be_timed_is_reported_and_still_verified() {
    let w = TempFolder::new();
    let model = w.write("branchy.toml", fixtures::BRANCHY_NETWORK);
    let golden = w.path("golden.json");
    let out = precision(&["run", s(&model), "--save-outputs", s(&golden)]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = w.path("report.json");
    let tol = ["--golden", s(&golden), "--int8", "--atol", "0.01", "--rtol", "0"];
    let mut search = vec!["ranked", s(&model), "--report", s(&report), "--no-journal"];
    search.extend(tol);
    search.push("--measure-latency");
    let out = precision(&search);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert!(t.contains("--measure-latency: cannot time the answer: build failed:"), "{t}");
    assert!(t.contains("'norm' has no implementation in int8"), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert!(json.get("latency").is_none(), "{json}");
    assert!(json["marked"].as_array().unwrap().iter().any(|m| m["name"] == "norm"), "{json}");

    let mut verify = vec!["verify", s(&model), "--report", s(&report)];
    verify.extend(tol.iter().filter(|f| **f != "--int8"));
    let out = precision(&verify);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert!(t.contains("verify: cannot time the answer: build failed:"), "{t}");
    assert!(t.contains("verdict: PASSED (1 of 1 checks passed"), "{t}");
    assert!(!t.contains("Latency ("), "{t}");
}
