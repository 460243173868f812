//! `--providers`, the ONNX Runtime library checks and `precision verify`, end to end on the CPU
//! build of ONNX Runtime (`$PRECISION_MODELS`, `$ORT_DYLIB_PATH`; `cargo xtask ci` sets both).
//! Every GPU refusal is exercised here without a GPU; the GPU runs themselves are in
//! `cargo xtask gpu-check`.

mod common;
use common::{code, env, precision_with_onnx_runtime, s, text};

use std::path::{Path, PathBuf};
use std::process::Command;

fn model() -> PathBuf {
    let path = Path::new(&env("PRECISION_MODELS")).join("ch_ppocr_mobile_v2.0_cls_mobile.onnx");
    assert!(path.is_file(), "{} is missing: run `cargo xtask fetch-models`", path.display());
    path
}

/// Exit 2 with every one of `expect` in the message.
fn refused(args: &[&str], expect: &[&str]) {
    let out = precision_with_onnx_runtime(args);
    let t = text(&out);
    assert_eq!(code(&out), 2, "{args:?}: {t}");
    for e in expect {
        assert!(t.contains(e), "{args:?}: expected '{e}' in: {t}");
    }
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn gpu_providers_on_a_cpu_only_onnx_runtime_are_refused_naming_the_package() {
    let m = model();
    for command in ["run", "layers"] {
        for providers in [&["cuda"][..], &["tensorrt"], &["cuda:1", "cpu"], &["trt", "cuda"]] {
            let mut args = vec![command, s(&m), "--providers"];
            args.extend(providers);
            refused(&args, &["is a build without the", "`pip install onnxruntime-gpu`"]);
        }
    }
}

#[test]
fn bad_provider_flags_are_refused_with_the_fix() {
    let m = model();
    let m = s(&m);
    refused(
        &["run", m, "--providers", "rocm"],
        &["unknown provider 'rocm'", "cpu, cuda or tensorrt"],
    );
    refused(&["run", m, "--providers", "cuda:x"], &["bad device in 'cuda:x'"]);
    refused(&["run", m, "--providers", "cpu:0"], &["bad device in 'cpu:0'"]);
    refused(&["run", m, "--providers", "cuda", "cuda:1"], &["cuda is listed twice"]);
    refused(&["run", m, "--tf32"], &["apply to GPU providers: add --providers cuda"]);
    refused(&["run", m, "--cudnn-algo", "exhaustive"], &["apply to GPU providers"]);
    refused(&["run", m, "--device-ids", "0,1"], &["apply to GPU providers"]);
    refused(
        &["run", m, "--providers", "cuda", "--trt-engine-cache", "/tmp/x"],
        &["--trt-engine-cache applies to the TensorRT provider"],
    );
    refused(&["run", m, "--providers", "cuda:1", "--device-ids", "0,1"], &["do not go together"]);
    refused(
        &["run", m, "--providers", "cuda", "--device-ids", "0,0"],
        &["device 0 is listed twice"],
    );
    refused(
        &["run", m, "--cudnn-algo", "fast"],
        &["'fast' is not auto, heuristic, exhaustive or default"],
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("net.toml");
    std::fs::write(&toml, "").unwrap();
    refused(
        &["layers", s(&toml), "--providers", "cuda"],
        &["apply to the ONNX Runtime backend only"],
    );
}

/// A truncated ONNX Runtime library, cut anywhere, is an error naming the file (exit 2), not a
/// crash by SIGBUS; the flag names it even with ORT_DYLIB_PATH set to a good one.
#[test]
fn a_truncated_onnx_runtime_library_is_refused_not_a_crash() {
    let good = PathBuf::from(env("ORT_DYLIB_PATH"));
    let bytes = std::fs::read(&good).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = model();
    for cut in [100, 4096, bytes.len() / 3, bytes.len() * 9 / 10, bytes.len() - 1] {
        let bad = dir.path().join(format!("libonnxruntime.so.cut{cut}"));
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_precision"))
            .args(["layers", s(&m), "--onnxrt-lib", s(&bad)])
            .env("ORT_DYLIB_PATH", &good)
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(code(&out), 2, "cut at {cut}: {t}");
        assert!(t.contains(&format!("{} is truncated", bad.display())), "cut at {cut}: {t}");
    }
    // The flag wins over the variable: a good flag with a bad variable works.
    let out = Command::new(env!("CARGO_BIN_EXE_precision"))
        .args(["layers", s(&m), "--onnxrt-lib", s(&good)])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
}

/// `verify` re-checks a saved answer on CPU: pass per output with its headroom, the same
/// verdict on every repeat, then the answer timed against float32 and all-INT8; a tighter
/// tolerance fails it (exit 1), with or without the timing.
#[test]
fn verify_rechecks_a_saved_answer() {
    let dir = tempfile::tempdir().unwrap();
    let m = model();
    let golden = dir.path().join("golden.json");
    let inputs = dir.path().join("inputs.json");
    let report = dir.path().join("report.json");
    let out = precision_with_onnx_runtime(&[
        "run",
        s(&m),
        "--input-shapes",
        "x:[1,3,48,192]",
        "--save-outputs",
        s(&golden),
        "--save-inputs",
        s(&inputs),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let common = ["--golden", s(&golden), "--load-inputs", s(&inputs), "--rtol", "0"];
    let mut search = vec!["bisect", s(&m), "--int8", "--atol", "0.05", "--report", s(&report)];
    search.extend(common);
    search.push("--no-journal");
    let out = precision_with_onnx_runtime(&search);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let mut verify = vec!["verify", s(&m), "--report", s(&report), "--atol", "0.05"];
    verify.extend(["--repeat", "2", "--latency-runs", "5"]);
    verify.extend(common);
    let out = precision_with_onnx_runtime(&verify);
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert!(t.contains("check 1: PASSED"), "{t}");
    assert!(t.contains("check 2: PASSED"), "{t}");
    assert!(t.contains("verdict: PASSED (2 of 2 checks passed; lowest headroom"), "{t}");
    assert!(t.contains(": pass, error "), "{t}");
    assert!(t.contains("one float32 session creation + run"), "{t}");
    assert!(t.contains("Latency (median of 5 runs after 3 warm-ups"), "{t}");
    for plan in ["  answer: ", "  float32: ", "  nothing marked: "] {
        assert!(t.lines().any(|l| l.starts_with(plan) && l.contains(" ms (")), "{plan}: {t}");
    }
    assert!(t.contains("as fast as float32"), "{t}");

    for timing in [&["--latency-runs", "2"][..], &["--no-latency"]] {
        let mut tight = vec!["verify", s(&m), "--report", s(&report), "--atol", "1e-9"];
        tight.extend(common);
        tight.extend(timing);
        let out = precision_with_onnx_runtime(&tight);
        let t = text(&out);
        assert_eq!(code(&out), 1, "{timing:?}: {t}");
        assert!(t.contains("verdict: FAILED (0 of 1 checks passed"), "{t}");
        let timed = timing[0] == "--latency-runs";
        assert_eq!(t.contains("Latency (median of 2 runs"), timed, "{timing:?}: {t}");
    }

    // A report of another model, and no report at all, are clear errors.
    let missing = dir.path().join("missing.json");
    let mut args = vec!["verify", s(&m), "--report", s(&missing)];
    args.extend(common);
    refused(&args, &["cannot read report"]);
}

/// FP16 on ONNX Runtime's CPU provider says once that the answer may not hold on a GPU.
#[test]
fn fp16_on_cpu_says_once_that_the_answer_may_not_hold_on_a_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let m = model();
    let golden = dir.path().join("golden.json");
    let out = precision_with_onnx_runtime(&[
        "run",
        s(&m),
        "--input-shapes",
        "x:[1,3,48,192]",
        "--save-outputs",
        s(&golden),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let note = "computes most float16 ops in float32";
    for lower in [&["--fp16"][..], &["--int8", "--fp16"]] {
        let mut args = vec![
            "check",
            s(&m),
            "--input-shapes",
            "x:[1,3,48,192]",
            "--golden",
            s(&golden),
            "--atol",
            "1",
        ];
        args.extend(lower);
        let out = precision_with_onnx_runtime(&args);
        let t = text(&out);
        assert_eq!(t.matches(note).count(), 1, "{lower:?}: {t}");
        assert!(t.contains("--providers cuda") && t.contains("precision verify"), "{t}");
    }
    let out = precision_with_onnx_runtime(&[
        "check",
        s(&m),
        "--input-shapes",
        "x:[1,3,48,192]",
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        "1",
    ]);
    assert!(!text(&out).contains(note), "{}", text(&out));
}
