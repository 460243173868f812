//! Datasets on the mock backend: `--load-inputs` folders and file lists of `.npz`/`.npy`
//! samples (sorted order), per-sample goldens written by `run --save-outputs DIR`, bad samples
//! (exit 2 naming the file and the array), per-sample failures in the report, the holdout
//! check, `--ranking-samples`, and the journal fingerprint over the sample files.

mod common;

use std::path::{Path, PathBuf};

use common::{code, precision, s, text};
use ndarray::{ArrayD, IxDyn};
use polygraphy_json::npz::{self, NpzLimits};
use precision_core::{NamedTensors, Tensor};
use serde_json::Value;

fn demo(dir: &Path) -> PathBuf {
    let path = dir.join("demo.toml");
    std::fs::write(&path, fixtures::DEMO_NETWORK).unwrap();
    path
}

fn image(value: f32, shape: &[usize]) -> Tensor {
    Tensor::F32(ArrayD::from_elem(IxDyn(shape), value))
}

fn feed(name: &str, tensor: Tensor) -> NamedTensors {
    std::iter::once((name.to_owned(), tensor)).collect()
}

fn write_npz(path: &Path, tensors: &NamedTensors) {
    std::fs::write(path, npz::to_bytes(tensors)).unwrap();
}

/// A folder `name` of `.npz` samples of the demo's input, one per stem.
fn npz_folder(dir: &Path, name: &str, stems: &[&str]) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir(&folder).unwrap();
    for (i, stem) in stems.iter().enumerate() {
        write_npz(&folder.join(format!("{stem}.npz")), &feed("image", image(i as f32, &[1, 256])));
    }
    folder
}

/// `run --save-outputs golden` for `inputs`.
fn goldens(model: &Path, inputs: &[&str], golden: &Path) {
    let args = [&["run", s(model), "--load-inputs"], inputs, &["--save-outputs", s(golden)]];
    let out = precision(&args.concat());
    assert_eq!(code(&out), 0, "{}", text(&out));
}

/// Adds 1 to every output of the golden file `path`.
/// Adds `delta` to every value of the golden file at `path`.
fn shift(path: &Path, delta: f32) {
    let mut tensors = npz::read_file(path, &NpzLimits::default()).unwrap();
    for tensor in tensors.values_mut() {
        let Tensor::F32(a) = tensor else { panic!("float32 outputs") };
        a.mapv_inplace(|v| v + delta);
    }
    write_npz(path, &tensors);
}

fn spoil(path: &Path) {
    shift(path, 1.0);
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn names_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_npz_folder_runs_every_check_on_every_sample_and_reports_failing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path());
    let data = npz_folder(dir.path(), "data", &["c", "a", "b"]);
    let golden = dir.path().join("golden");
    goldens(&model, &[s(&data)], &golden);
    assert_eq!(names_in(&golden), ["a.npz", "b.npz", "c.npz"]);

    let report_path = dir.path().join("report.json");
    let out = precision(&[
        "bisect",
        s(&model),
        "--int8",
        "--atol",
        "0.02",
        "--rtol",
        "0.02",
        "--load-inputs",
        s(&data),
        "--golden",
        s(&golden),
        "--report",
        s(&report_path),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let r = report(&report_path);
    assert_eq!(r["data"]["samples"], 3);
    assert!(r["data"]["inputs"].as_str().unwrap().contains("3 sample file(s)"), "{}", r["data"]);
    for check in r["checks"].as_array().unwrap() {
        assert_eq!(check["samples"]["total"], 3, "{check}");
    }

    // One sample's goldens off: it fails every check, alone, by name.
    spoil(&golden.join("b.npz"));
    let spoiled = dir.path().join("spoiled.json");
    let out = precision(&[
        "bisect",
        s(&model),
        "--int8",
        "--atol",
        "0.02",
        "--rtol",
        "0.02",
        "--load-inputs",
        s(&data),
        "--golden",
        s(&golden),
        "--report",
        s(&spoiled),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("2/3 samples passed"), "{}", text(&out));
    let r = report(&spoiled);
    let samples = &r["checks"][0]["samples"];
    assert_eq!((samples["total"].as_u64(), samples["passed"].as_u64()), (Some(3), Some(2)));
    let failure = &samples["failures"][0];
    assert_eq!((failure["index"].as_u64(), failure["label"].as_str()), (Some(1), Some("b.npz")));
    assert!(failure["outputs"][0]["max_absdiff"].as_f64().unwrap() >= 0.99, "{failure}");
}

#[test]
fn npy_files_are_taken_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path());
    let mut files = Vec::new();
    for (i, stem) in ["c", "a", "b"].iter().enumerate() {
        let path = dir.path().join(format!("{stem}.npy"));
        std::fs::write(&path, polygraphy_json::npy::to_bytes(&image(i as f32, &[1, 256]))).unwrap();
        files.push(path);
    }
    let listed: Vec<&str> = files.iter().map(|p| s(p)).collect();
    let golden = dir.path().join("golden");
    goldens(&model, &listed, &golden);
    assert_eq!(names_in(&golden), ["a.npz", "b.npz", "c.npz"]);
    spoil(&golden.join("a.npz"));
    let report_path = dir.path().join("report.json");
    let args = [
        &[
            "check",
            s(&model),
            "--int8",
            "--atol",
            "0.02",
            "--rtol",
            "0.02",
            "--golden",
            s(&golden),
            "--load-inputs",
        ][..],
        &listed,
    ]
    .concat();
    let out = precision(&args);
    assert_eq!(code(&out), 1, "{}", text(&out));
    // The check command has no report: the search's report carries the same tally.
    let out = precision(
        &[
            &[
                "bisect",
                s(&model),
                "--int8",
                "--atol",
                "0.02",
                "--rtol",
                "0.02",
                "--golden",
                s(&golden),
                "--report",
            ][..],
            &[s(&report_path), "--load-inputs"],
            &listed,
        ]
        .concat(),
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    let failure = &report(&report_path)["checks"][0]["samples"]["failures"][0];
    assert_eq!((failure["index"].as_u64(), failure["label"].as_str()), (Some(0), Some("a.npy")));
}

fn assert_refused(out: &std::process::Output, needles: &[&str]) {
    let said = text(out);
    assert_eq!(code(out), 2, "{said}");
    for needle in needles {
        assert!(said.contains(needle), "'{needle}' not in: {said}");
    }
    assert!(!said.contains("panicked"), "{said}");
}

#[test]
fn a_bad_sample_is_refused_naming_its_file_and_array() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path());
    let cases: Vec<(&str, NamedTensors, Vec<&str>)> = vec![
        ("wrong_name", feed("img", image(0.0, &[1, 256])), vec!["'image' is missing", "img"]),
        ("wrong_shape", feed("image", image(0.0, &[1, 128])), vec!["'image' has shape [1, 128]"]),
        (
            "wrong_dtype",
            feed("image", Tensor::F64(ArrayD::zeros(IxDyn(&[1, 256])))),
            vec!["'image' has dtype float64"],
        ),
        (
            "extra",
            [("image".to_owned(), image(0.0, &[1, 256])), ("mask".to_owned(), image(0.0, &[1]))]
                .into_iter()
                .collect(),
            vec!["'mask' is not an input"],
        ),
    ];
    for (stem, tensors, needles) in cases {
        let folder = npz_folder(dir.path(), &format!("{stem}_data"), &["a", "b"]);
        let bad = folder.join(format!("{stem}.npz"));
        write_npz(&bad, &tensors);
        let out = precision(&["run", s(&model), "--load-inputs", s(&folder)]);
        let file = format!("{stem}.npz");
        assert_refused(&out, &[&[file.as_str()][..], &needles].concat());
    }
    // Not an archive at all, and a .npy for the wrong shape.
    let folder = npz_folder(dir.path(), "corrupt", &["a"]);
    std::fs::write(folder.join("b.npz"), b"PK\x03\x04 nothing").unwrap();
    let out = precision(&["run", s(&model), "--load-inputs", s(&folder)]);
    assert_refused(&out, &["b.npz", "cannot read the .npz archive"]);
    let npy = dir.path().join("short.npy");
    std::fs::write(&npy, polygraphy_json::npy::to_bytes(&image(0.0, &[256]))).unwrap();
    let out = precision(&["run", s(&model), "--load-inputs", s(&npy)]);
    assert_refused(&out, &["short.npy", "'image' has shape [256]"]);
    // Goldens that do not pair with the samples by name.
    let data = npz_folder(dir.path(), "pair", &["a", "b"]);
    let golden = dir.path().join("pair_golden");
    goldens(&model, &[s(&data)], &golden);
    std::fs::rename(golden.join("b.npz"), golden.join("z.npz")).unwrap();
    let out = precision(&[
        "check",
        s(&model),
        "--int8",
        "--atol",
        "0.02",
        "--rtol",
        "0.02",
        "--load-inputs",
        s(&data),
        "--golden",
        s(&golden),
    ]);
    assert_refused(&out, &["b.npz", "z.npz", "do not pair"]);
}

#[test]
fn the_holdout_verdict_is_in_the_console_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path());
    let data = npz_folder(dir.path(), "data", &["a", "b"]);
    let golden = dir.path().join("golden");
    goldens(&model, &[s(&data)], &golden);
    let held = npz_folder(dir.path(), "held", &["h1", "h2", "h3"]);
    let held_golden = dir.path().join("held_golden");
    goldens(&model, &[s(&held)], &held_golden);
    let search = |report: &Path| {
        precision(&[
            "ranked",
            s(&model),
            "--int8",
            "--atol",
            "0.02",
            "--rtol",
            "0.02",
            "--load-inputs",
            s(&data),
            "--golden",
            s(&golden),
            "--holdout-inputs",
            s(&held),
            "--holdout-golden",
            s(&held_golden),
            "--report",
            s(report),
        ])
    };
    let pass = dir.path().join("pass.json");
    let out = search(&pass);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("PASSED, 3/3 samples passed"), "{}", text(&out));
    let holdout = &report(&pass)["data"]["holdout"];
    assert_eq!(holdout["passed"], true, "{holdout}");
    assert!(holdout["inputs"].as_str().unwrap().contains("held"), "{holdout}");

    spoil(&held_golden.join("h2.npz"));
    let fail = dir.path().join("fail.json");
    let out = search(&fail);
    assert_eq!(code(&out), 1, "a failed holdout exits 1: {}", text(&out));
    assert!(text(&out).contains("FAILED, 2/3 samples passed"), "{}", text(&out));
    assert!(text(&out).contains("sample h2.npz"), "{}", text(&out));
    let holdout = &report(&fail)["data"]["holdout"];
    assert_eq!(holdout["passed"], false, "{holdout}");
    assert_eq!(holdout["check"]["samples"]["failures"][0]["label"], "h2.npz");
    // The search itself never saw the held-out data: its answer is the same.
    assert_eq!(report(&pass)["marked"], report(&fail)["marked"]);
}

#[test]
fn the_holdout_is_judged_by_the_tolerances_as_given_not_by_the_margin() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path());
    let data = npz_folder(dir.path(), "data", &["a", "b"]);
    let golden = dir.path().join("golden");
    goldens(&model, &[s(&data)], &golden);
    let held = npz_folder(dir.path(), "held", &["h1", "h2"]);
    let held_golden = dir.path().join("held_golden");
    goldens(&model, &[s(&held)], &held_golden);
    // h2's goldens 0.012 off: inside --atol 0.02 whatever the answer's own error (at most
    // 0.005 under --margin 0.25), outside the margin's 0.005.
    shift(&held_golden.join("h2.npz"), 0.012);
    let path = dir.path().join("report.json");
    let out = precision(&[
        "ranked",
        s(&model),
        "--int8",
        "--atol",
        "0.02",
        "--rtol",
        "0",
        "--margin",
        "0.25",
        "--load-inputs",
        s(&data),
        "--golden",
        s(&golden),
        "--holdout-inputs",
        s(&held),
        "--holdout-golden",
        s(&held_golden),
        "--report",
        s(&path),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("PASSED, 2/2 samples passed"), "{}", text(&out));
    let report = report(&path);
    assert_eq!(report["margin"], 0.25);
    let holdout = &report["data"]["holdout"];
    assert_eq!(holdout["passed"], true, "{holdout}");
    // Its headroom against the user's atol is below the 4x the margin demands of the search.
    let headroom = holdout["check"]["outputs"][0]["headroom"].as_f64().unwrap();
    assert!(headroom > 1.0 && headroom < 4.0, "{holdout}");
}

#[test]
fn ranking_samples_are_recorded_and_only_for_the_measuring_searches() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path());
    let data = npz_folder(dir.path(), "data", &["a", "b", "c"]);
    let golden = dir.path().join("golden");
    goldens(&model, &[s(&data)], &golden);
    let report_path = dir.path().join("ranked.json");
    let common = [
        "--int8",
        "--atol",
        "0.02",
        "--rtol",
        "0.02",
        "--load-inputs",
        s(&data),
        "--golden",
        s(&golden),
    ];
    let out = precision(
        &[&["ranked", s(&model)][..], &common, &["--ranking-samples", "2", "--report"]]
            .concat()
            .into_iter()
            .chain([s(&report_path)])
            .collect::<Vec<_>>(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let chosen = report(&report_path)["data"]["ranking_samples"].clone();
    assert_eq!(chosen.as_array().map(Vec::len), Some(2), "{chosen}");
    let out =
        precision(&[&["bisect", s(&model)][..], &common, &["--ranking-samples", "2"]].concat());
    assert_refused(&out, &["--ranking-samples applies to ranked and worst-first"]);
}

#[test]
fn the_journal_fingerprint_covers_every_sample_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = demo(dir.path());
    let data = npz_folder(dir.path(), "data", &["a", "b"]);
    let golden = dir.path().join("golden");
    goldens(&model, &[s(&data)], &golden);
    let journal = dir.path().join("checks.journal.jsonl");
    let search = || {
        precision(&[
            "bisect",
            s(&model),
            "--int8",
            "--atol",
            "0.02",
            "--rtol",
            "0.02",
            "--load-inputs",
            s(&data),
            "--golden",
            s(&golden),
            "--journal",
            s(&journal),
        ])
    };
    assert_eq!(code(&search()), 0);
    let again = search();
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert!(text(&again).contains("checks already done"), "{}", text(&again));
    // The same shapes and names, one value changed in one sample: refused on resume.
    write_npz(&data.join("b.npz"), &feed("image", image(0.5, &[1, 256])));
    let changed = search();
    assert_refused(&changed, &["was written for another"]);
}
