//! Datasets on a trained ONNX model (ONNX Runtime; `$PRECISION_MODELS` and `$ORT_DYLIB_PATH`
//! as `cargo xtask ci` sets them): INT8 calibration on `--calibration-inputs` apart from the
//! check inputs gives other scales, and the report says which data calibrated.

mod common;

use std::path::{Path, PathBuf};

use common::{code, env, precision, s, text};
use ndarray::{ArrayD, IxDyn};
use precision_core::{NamedTensors, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn model() -> PathBuf {
    let _ = env("ORT_DYLIB_PATH");
    let path = Path::new(&env("PRECISION_MODELS")).join("ch_ppocr_mobile_v2.0_cls_mobile.onnx");
    assert!(path.is_file(), "{} is missing: run `cargo xtask fetch-models`", path.display());
    path
}

/// A folder of `count` samples of `x: [1,3,48,192]` with values uniform in `[0, scale)`.
fn samples(dir: &Path, name: &str, count: usize, scale: f32, seed: u64) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir(&folder).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in 0..count {
        let values: Vec<f32> = (0..3 * 48 * 192).map(|_| rng.random::<f32>() * scale).collect();
        let x = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 3, 48, 192]), values).unwrap());
        let feed: NamedTensors = std::iter::once(("x".to_owned(), x)).collect();
        let bytes = polygraphy_json::npz::to_bytes(&feed);
        std::fs::write(folder.join(format!("s{i}.npz")), bytes).unwrap();
    }
    folder
}

#[test]
fn calibration_inputs_apart_from_check_inputs_give_other_scales_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let m = model();
    let checks = samples(dir.path(), "checks", 3, 1.0, 1);
    let calib = samples(dir.path(), "calib", 2, 8.0, 2);
    let golden = dir.path().join("golden");
    let shapes = ["--input-shapes", "x:[1,3,48,192]"];
    let out = precision(
        &[&["run", s(&m), "--load-inputs", s(&checks), "--save-outputs", s(&golden)][..], &shapes]
            .concat(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let search = |cache: &Path, report: &Path, calibration: &[&str]| {
        let out = precision(
            &[
                &["bisect", s(&m), "--int8", "--load-inputs", s(&checks), "--golden"][..],
                &[s(&golden), "--calibration-cache", s(cache), "--report", s(report)],
                &["--max-checks", "1", "--no-journal", "--calibration", "max"],
                &shapes,
                calibration,
            ]
            .concat(),
        );
        assert!(matches!(code(&out), 0 | 1), "{}", text(&out));
        text(&out)
    };
    let (own_cache, own_report) = (dir.path().join("own.cache"), dir.path().join("own.json"));
    let said = search(&own_cache, &own_report, &[]);
    assert!(said.contains("INT8 calibration data: the check inputs (3 sample file(s)"), "{said}");
    let (apart_cache, apart_report) =
        (dir.path().join("apart.cache"), dir.path().join("apart.json"));
    let said = search(&apart_cache, &apart_report, &["--calibration-inputs", s(&calib)]);
    assert!(
        said.contains("INT8 calibration data: --calibration-inputs: 2 sample file(s)"),
        "{said}"
    );

    let own = std::fs::read_to_string(&own_cache).unwrap();
    let apart = std::fs::read_to_string(&apart_cache).unwrap();
    assert_ne!(own, apart, "calibrating on other data must give other scales");
    // Inputs 8x larger: the scales of the tensors nearest the input grow several times.
    let scales = |cache: &str| -> std::collections::HashMap<String, f32> {
        cache
            .lines()
            .filter_map(|l| l.split_once(": "))
            .filter_map(|(name, hex)| {
                Some((name.to_owned(), f32::from_bits(u32::from_str_radix(hex.trim(), 16).ok()?)))
            })
            .collect()
    };
    let (own_scales, apart_scales) = (scales(&own), scales(&apart));
    let grown = own_scales
        .iter()
        .filter_map(|(name, s)| Some(apart_scales.get(name)? / s))
        .fold(0.0_f32, f32::max);
    assert!(grown > 4.0, "the largest scale ratio is {grown}");
    for (report, needle) in
        [(&own_report, "the check inputs"), (&apart_report, "--calibration-inputs")]
    {
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
        let calibration = r["data"]["calibration"].as_str().unwrap_or_default();
        assert!(calibration.contains(needle), "{}", r["data"]);
    }
}
