//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::process::Command;

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use polygraphy_json::Tensor;

/// The Polygraphy sample files, `fixtures/polygraphy/samples` in this repository (written by
/// the venv's pinned Polygraphy through `cargo xtask fixtures`).
pub fn samples_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/polygraphy/samples");
    assert!(
        dir.is_dir(),
        "the Polygraphy sample files are missing from {}: run `cargo xtask fixtures`",
        dir.display()
    );
    dir
}

/// The Python interpreter with polygraphy and numpy, from `PRECISION_PYTHON`.
pub fn python() -> PathBuf {
    fixtures::env::python()
}

/// Runs a Python snippet with arguments; returns stdout, panicking with stderr on failure.
pub fn run_python(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("could not start PRECISION_PYTHON");
    assert!(
        out.status.success(),
        "python failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python printed UTF-8")
}

/// A tensor of each dtype with deterministic values, of the given shape.
pub fn sample_tensors(shape: &[usize]) -> Vec<Tensor> {
    let n: usize = shape.iter().product();
    let sh = IxDyn(shape);
    let f = |i: usize| (i as f32) * 0.37 - 5.0;
    vec![
        Tensor::F32(ArrayD::from_shape_vec(sh.clone(), (0..n).map(f).collect()).unwrap()),
        Tensor::F16(
            ArrayD::from_shape_vec(sh.clone(), (0..n).map(|i| f16::from_f32(f(i))).collect())
                .unwrap(),
        ),
        Tensor::F64(
            ArrayD::from_shape_vec(sh.clone(), (0..n).map(|i| f64::from(f(i)) / 3.0).collect())
                .unwrap(),
        ),
        Tensor::I8(
            ArrayD::from_shape_vec(sh.clone(), (0..n).map(|i| (i % 256) as u8 as i8).collect())
                .unwrap(),
        ),
        Tensor::U8(
            ArrayD::from_shape_vec(sh.clone(), (0..n).map(|i| (i * 7 % 256) as u8).collect())
                .unwrap(),
        ),
        Tensor::I32(
            ArrayD::from_shape_vec(sh.clone(), (0..n).map(|i| i as i32 * -1_000_003).collect())
                .unwrap(),
        ),
        Tensor::I64(
            ArrayD::from_shape_vec(
                sh.clone(),
                (0..n).map(|i| i as i64 * 1_000_000_007_000).collect(),
            )
            .unwrap(),
        ),
        Tensor::Bool(
            ArrayD::from_shape_vec(sh.clone(), (0..n).map(|i| i % 3 == 0).collect()).unwrap(),
        ),
    ]
}

/// A bfloat16 tensor of the given shape.
pub fn bf16_tensor(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::BF16(
        ArrayD::from_shape_vec(
            IxDyn(shape),
            (0..n).map(|i| bf16::from_f32(i as f32 - 1.5)).collect(),
        )
        .unwrap(),
    )
}
