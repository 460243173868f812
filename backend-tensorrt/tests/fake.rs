//! The safe layer and the backend, run against the fake implementation of the shim's C API
//! (`backend_tensorrt::fake`): layer listing, precision hints set and reset, marked outputs
//! (as outputs and as debug tensors), failing builds, runs with copies back, calibration and
//! timing caches, error propagation, handles freed on drop, and searches end to end.

mod common;

use std::collections::HashSet;
use std::path::Path;

use backend_tensorrt::fake::{Fake, FakeConfig};
use backend_tensorrt::{
    CalibrationSettings, LayerOutputs, PrecisionConstraints, Severity, TensorRtBackend,
    TensorRtConfig, TrtError, Typing,
};
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Backend, BackendError, CompareConfig, Engine, LayerSet, NamedTensors, NoObserver,
    OutputSelection, PerOutput, Precision, PrecisionPlan, SearchOptions, run_search,
};

use common::{BLOCKS, WIDTH, chain_model, feed, sensitive_config};

fn open(
    api: &'static backend_tensorrt::Api,
    path: &Path,
    config: TensorRtConfig,
) -> TensorRtBackend {
    TensorRtBackend::open_with(api, path, TensorRtConfig { lower: vec![Precision::Int8], ..config })
        .expect("the fake opens the chain")
}

fn plan(backend: &TensorRtBackend, marked: &[&str]) -> PrecisionPlan {
    let net = backend.network();
    let base = PrecisionPlan::new(net, vec![Precision::Int8], Precision::Float32).unwrap();
    let idx =
        marked.iter().map(|n| net.layer_by_name(n).unwrap_or_else(|| panic!("layer {n}")).index);
    base.with_marked(LayerSet::from_indices(net.len(), idx))
}

fn y(outputs: &NamedTensors) -> Vec<f32> {
    outputs["y"].as_f32().expect("float output").iter().copied().collect()
}

#[test]
fn lists_layers_with_polygraphys_markable_rule() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fake::new(FakeConfig::default());
    let backend = open(f.api(), &chain_model(dir.path()), TensorRtConfig::default());
    assert_eq!(backend.typing(), Typing::Weak, "TensorRT 10 defaults to weak typing");
    let net = backend.network();
    // One CONSTANT layer per weight, then the 12 node layers.
    assert_eq!(net.len(), BLOCKS + 2 * BLOCKS);
    let constants: Vec<_> = net.layers.iter().filter(|l| l.op == "CONSTANT").collect();
    assert_eq!(constants.len(), BLOCKS);
    assert!(constants.iter().all(|l| !l.is_markable()));
    let mm1 = net.layer_by_name("mm1").unwrap();
    assert_eq!(mm1.op, "MATRIX_MULTIPLY");
    assert_eq!(mm1.inputs, ["r0", "w1"]);
    assert_eq!(mm1.outputs, ["m1"]);
    assert!(mm1.is_markable());
    assert_eq!(net.inputs[0].name, "x");
    assert_eq!(net.inputs[0].shape, [Some(1), Some(WIDTH)]);
    assert_eq!(net.outputs, ["y"]);
}

#[test]
fn each_check_resets_hints_and_sets_them_on_the_marked_layers() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fake::new(sensitive_config());
    let mut backend = open(f.api(), &chain_model(dir.path()), TensorRtConfig::default());
    backend.calibrate(&[feed(0.0)]).unwrap();
    let p = plan(&backend, &["mm1", "relu3"]);
    backend.build(&p, OutputSelection::NetworkOutputs).unwrap();
    let s = f.stats();
    assert_eq!(s.last_hinted, ["mm1", "relu3"]);
    assert!(!s.last_int8.contains(&"mm1".to_owned()) && s.last_int8.contains(&"mm4".to_owned()));
    let flags = s.last_flags;
    assert_ne!(flags & precision_trt_sys::shim::PTRT_BUILD_INT8, 0);
    assert_ne!(flags & precision_trt_sys::shim::PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS, 0);
    assert_ne!(flags & precision_trt_sys::shim::PTRT_BUILD_DISABLE_TF32, 0);
    backend.build(&plan(&backend, &["mm4"]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().last_hinted, ["mm4"], "the previous check's hints were reset");
    // Constants can be marked in a plan but are skipped, as in Polygraphy.
    backend.build(&plan(&backend, &["constant:w0"]), OutputSelection::NetworkOutputs).unwrap();
    assert!(f.stats().last_hinted.is_empty());
}

#[test]
fn runs_copy_outputs_back_and_reflect_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fake::new(sensitive_config());
    let mut backend = open(f.api(), &chain_model(dir.path()), TensorRtConfig::default());
    let input = feed(1.0);
    let x: Vec<f32> = input["x"].as_f32().unwrap().iter().copied().collect();
    let net = backend.network().clone();
    let mut reference =
        backend.build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(y(&reference.infer(&input).unwrap()), x, "float32 adds no error");
    backend.calibrate(std::slice::from_ref(&input)).unwrap();
    let mut low = backend.build(&plan(&backend, &[]), OutputSelection::NetworkOutputs).unwrap();
    let got = y(&low.infer(&input).unwrap());
    // mm1's 0.5 plus mm4's 0.3 plus the small errors of the other layers.
    assert!(got.iter().zip(&x).all(|(g, x)| (g - x - 0.81).abs() < 1e-4), "{got:?}");
    let mut fixed =
        backend.build(&plan(&backend, &["mm1", "mm4"]), OutputSelection::NetworkOutputs).unwrap();
    let got = y(&fixed.infer(&input).unwrap());
    assert!(got.iter().zip(&x).all(|(g, x)| (g - x - 0.01).abs() < 1e-4), "{got:?}");
    assert!(f.stats().runs >= 3);
}

#[test]
fn every_layer_outputs_are_marked_then_unmarked_as_outputs_or_debug_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    for mode in [LayerOutputs::Outputs, LayerOutputs::Debug] {
        let f = Fake::new(sensitive_config());
        let mut backend = open(
            f.api(),
            &path,
            TensorRtConfig { layer_outputs: mode, ..TensorRtConfig::default() },
        );
        backend.calibrate(&[feed(0.0)]).unwrap();
        let mut all = backend.build(&plan(&backend, &[]), OutputSelection::EveryLayer).unwrap();
        let out = all.infer(&feed(0.0)).unwrap();
        let names: HashSet<&str> = out.keys().map(String::as_str).collect();
        for i in 0..BLOCKS {
            assert!(
                names.contains(format!("m{i}").as_str()),
                "{mode:?}: m{i} missing from {names:?}"
            );
        }
        assert!(names.contains("y") && !names.contains("w0"), "{mode:?}: {names:?}");
        // m1 carries mm1's error on top of r0's.
        let m1 = out["m1"].to_f64_vec()[0];
        let r0 = out["r0"].to_f64_vec()[0];
        assert!((m1 - r0 - 0.5).abs() < 1e-4, "{mode:?}: m1 {m1} r0 {r0}");
        let mut plain =
            backend.build(&plan(&backend, &[]), OutputSelection::NetworkOutputs).unwrap();
        assert_eq!(plain.infer(&feed(0.0)).unwrap().len(), 1, "{mode:?}: marks were undone");
    }
}

#[test]
fn a_build_that_cannot_obey_fails_the_check_and_prefer_reports_the_deviation() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let mut config = sensitive_config();
    config.no_float_kernel.insert("mm1".into());
    let f = Fake::new(config);
    let mut backend = open(f.api(), &path, TensorRtConfig::default());
    backend.calibrate(&[feed(0.0)]).unwrap();
    let err = backend
        .build(&plan(&backend, &["mm1"]), OutputSelection::NetworkOutputs)
        .err()
        .expect("obey fails");
    assert!(err.is_build_failure(), "{err:?}");
    assert!(err.to_string().contains("mm1"), "TensorRT's text is kept: {err}");
    assert_eq!(f.stats().failed_builds, 1);
    // The backend is still usable after a failed build.
    let ok = backend.build(&plan(&backend, &["mm4"]), OutputSelection::NetworkOutputs).unwrap();
    assert!(ok.plan_deviations().is_empty(), "{:?}", ok.plan_deviations());

    let mut prefer = open(
        f.api(),
        &path,
        TensorRtConfig { constraints: PrecisionConstraints::Prefer, ..TensorRtConfig::default() },
    );
    prefer.calibrate(&[feed(0.0)]).unwrap();
    let engine =
        prefer.build(&plan(&prefer, &["mm1", "mm4"]), OutputSelection::NetworkOutputs).unwrap();
    let notes = engine.plan_deviations();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("mm1") && notes[0].contains("int8"), "{notes:?}");
}

#[test]
fn errors_reach_the_user_with_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    // The parser's errors name the node and its op.
    let mut config = FakeConfig::default();
    config.unsupported_ops.insert("Relu".into());
    let f = Fake::new(config);
    let Err(TrtError::Parse(text)) =
        TensorRtBackend::open_with(f.api(), &path, TensorRtConfig::default())
    else {
        panic!("a parser error")
    };
    assert_eq!(text.lines().count(), BLOCKS, "{text}");
    assert!(text.contains("node 1 'relu0' (Relu)"), "{text}");
    // No device.
    let f = Fake::new(FakeConfig { devices: 0, ..FakeConfig::default() });
    let err = TensorRtBackend::open_with(f.api(), &path, TensorRtConfig::default()).err().unwrap();
    assert!(matches!(err, TrtError::NoDevice(_)), "{err:?}");
    assert!(BackendError::from(err).to_string().contains("no usable CUDA device"));
    // Out of device memory while running.
    let f = Fake::new(FakeConfig { malloc_limit: Some(1), ..FakeConfig::default() });
    let mut backend = open(f.api(), &path, TensorRtConfig::default());
    let net = backend.network().clone();
    let mut engine =
        backend.build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs).unwrap();
    let err = engine.infer(&feed(0.0)).err().unwrap();
    assert!(err.to_string().contains("out of memory"), "{err}");
    assert!(!err.is_build_failure());
    // Inputs that do not fit.
    let f = Fake::new(FakeConfig::default());
    let mut backend = open(f.api(), &path, TensorRtConfig::default());
    let mut engine =
        backend.build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs).unwrap();
    let err = engine.infer(&NamedTensors::new()).err().unwrap();
    assert!(
        matches!(err, BackendError::Input(_)) && err.to_string().contains("engine input x"),
        "{err}"
    );
    // Weak typing on TensorRT 11.
    let f = Fake::new(FakeConfig { version: 110_100, ..FakeConfig::default() });
    let err = TensorRtBackend::open_with(
        f.api(),
        &path,
        TensorRtConfig { typing: Some(Typing::Weak), ..TensorRtConfig::default() },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("only strongly typed"), "{err}");
}

/// Fakes are values: two alive at once keep their own configuration and statistics, and a
/// backend used on another thread reaches the fake it was opened with.
#[test]
fn fakes_alive_at_once_keep_their_own_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let without_device = Fake::new(FakeConfig { devices: 0, ..FakeConfig::default() });
    let exact = Fake::new(FakeConfig::default());
    let sensitive = Fake::new(sensitive_config());
    let err = TensorRtBackend::open_with(without_device.api(), &path, TensorRtConfig::default())
        .err()
        .expect("the fake without devices refuses to open");
    assert!(matches!(err, TrtError::NoDevice(_)), "{err:?}");
    let all_int8 = |fake: &Fake| {
        let mut backend = open(fake.api(), &path, TensorRtConfig::default());
        backend.calibrate(&[feed(0.0)]).unwrap();
        let p = plan(&backend, &[]);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut engine = backend.build(&p, OutputSelection::NetworkOutputs).unwrap();
                y(&engine.infer(&feed(0.0)).unwrap())
            })
            .join()
            .expect("the build thread")
        })
    };
    let (exact_y, sensitive_y) = (all_int8(&exact), all_int8(&sensitive));
    let x: Vec<f32> = feed(0.0)["x"].as_f32().unwrap().iter().copied().collect();
    assert_eq!(exact_y, x, "no INT8 error configured: the input comes through");
    assert!(
        exact_y.iter().zip(&sensitive_y).all(|(e, s)| s - e > 0.5),
        "the second fake's INT8 errors: {exact_y:?} vs {sensitive_y:?}"
    );
    assert_eq!((exact.stats().builds, sensitive.stats().builds), (1, 1));
    assert_eq!(without_device.stats().builds, 0);
}

#[test]
fn without_tensorrt_the_backend_says_how_to_get_it() {
    if precision_trt_sys::LINKED {
        return; // This build has TensorRT; the message cannot appear.
    }
    let err =
        TensorRtBackend::open(Path::new("model.onnx"), TensorRtConfig::default()).err().unwrap();
    assert_eq!(
        err.to_string(),
        "TensorRT was not found when this binary was built; set TENSORRT_ROOT and rebuild with \
         --features tensorrt"
    );
}

#[test]
fn calibration_streams_batches_once_then_uses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let cache = dir.path().join("calib.cache");
    let f = Fake::new(sensitive_config());
    let config = TensorRtConfig {
        calibration: CalibrationSettings {
            cache: Some(cache.clone()),
            ..CalibrationSettings::default()
        },
        ..TensorRtConfig::default()
    };
    let mut backend = open(f.api(), &path, config.clone());
    let inputs = [feed(0.0), feed(1.0), feed(-2.0)];
    backend.calibrate(&inputs).unwrap();
    backend.build(&plan(&backend, &[]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().calibration_batches, 3, "one batch per input iteration");
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.starts_with("TRT-101600-EntropyCalibration2\nx: "), "{text}");
    // amax of x over the three batches is |-2| + ... = 3.75 (feed(1.0) reaches 2.75).
    let hex = text.lines().nth(1).unwrap().rsplit(": ").next().unwrap();
    let scale = f32::from_bits(u32::from_str_radix(hex, 16).unwrap());
    assert!((scale * 127.0 - 2.75).abs() < 1e-4, "{scale}");
    backend.build(&plan(&backend, &["mm1"]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().calibration_batches, 3, "later builds read the cache");
    // A new backend reads the file and never streams a batch.
    let f = Fake::new(sensitive_config());
    let mut again = open(f.api(), &path, config.clone());
    again.calibrate(&inputs).unwrap();
    again.build(&plan(&again, &[]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().calibration_batches, 0);
    // A cache from another TensorRT version, or another algorithm, is refused up front.
    std::fs::write(&cache, text.replace("TRT-101600", "TRT-100300")).unwrap();
    let mut other = open(f.api(), &path, config.clone());
    let err = other.calibrate(&inputs).err().unwrap();
    assert!(matches!(err, BackendError::Input(_)), "{err:?}");
    assert!(
        err.to_string().contains("TensorRT 10.3.0") && err.to_string().contains("delete it"),
        "{err}"
    );
    std::fs::write(&cache, text.replace("EntropyCalibration2", "MinMaxCalibration")).unwrap();
    let err = open(f.api(), &path, config).calibrate(&inputs).err().unwrap();
    assert!(err.to_string().contains("MinMaxCalibration"), "{err}");
}

#[test]
fn timing_cache_and_saved_engines() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let timing = dir.path().join("timing.cache");
    let engines = dir.path().join("engines");
    let f = Fake::new(sensitive_config());
    let config = TensorRtConfig {
        timing_cache: Some(timing.clone()),
        save_engines: Some(engines.clone()),
        ..TensorRtConfig::default()
    };
    let mut backend = open(f.api(), &path, config.clone());
    let net = backend.network().clone();
    backend.build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().builds_with_timing_cache, 0);
    assert!(timing.exists(), "the timing cache is written after a build");
    backend.calibrate(&[feed(0.0)]).unwrap();
    backend.build(&plan(&backend, &[]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().builds_with_timing_cache, 1, "the second build reuses the cache");
    let mut saved: Vec<_> =
        std::fs::read_dir(&engines).unwrap().map(|e| e.unwrap().file_name()).collect();
    saved.sort();
    assert_eq!(saved, ["check-0001.engine", "check-0002.engine"]);
    // A new backend starts from the file; a foreign timing cache fails the build clearly.
    let mut again = open(f.api(), &path, config.clone());
    again.build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(f.stats().builds_with_timing_cache, 2);
    std::fs::write(&timing, b"something else").unwrap();
    let mut foreign = open(f.api(), &path, config);
    let err = foreign
        .build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs)
        .err()
        .unwrap();
    assert!(err.to_string().contains("timing cache"), "{err}");
}

#[test]
fn every_handle_buffer_and_stream_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let f = Fake::new(sensitive_config());
    {
        let mut backend = open(f.api(), &path, TensorRtConfig::default());
        backend.calibrate(&[feed(0.0), feed(1.0)]).unwrap();
        for marked in [&[][..], &["mm1"], &["mm1", "mm4"]] {
            let mut engine =
                backend.build(&plan(&backend, marked), OutputSelection::EveryLayer).unwrap();
            engine.infer(&feed(0.5)).unwrap();
        }
        let s = f.stats();
        assert!(s.live_handles > 0, "the backend holds its network");
        assert_eq!(s.live_buffers, 0, "device buffers live only during a run");
    }
    let s = f.stats();
    assert_eq!((s.live_handles, s.live_buffers, s.live_streams), (0, 0, 0), "{s:?}");
}

fn oracle(backend: TensorRtBackend, tolerance: f64) -> BackendOracle<TensorRtBackend> {
    let base =
        PrecisionPlan::new(backend.network(), vec![Precision::Int8], Precision::Float32).unwrap();
    let inputs = vec![feed(0.0), feed(1.0)];
    let mut reference = {
        let mut b = backend;
        b.calibrate(&inputs).unwrap();
        let net = b.network().clone();
        let engine =
            b.build(&PrecisionPlan::float32(&net), OutputSelection::NetworkOutputs).unwrap();
        (b, engine)
    };
    let goldens = inputs.iter().map(|i| reference.1.infer(i).unwrap()).collect();
    let config = CompareConfig {
        atol: PerOutput::uniform(tolerance),
        rtol: PerOutput::uniform(0.0),
        ..CompareConfig::default()
    };
    BackendOracle::new(reference.0, base, inputs, goldens, config).unwrap()
}

#[test]
fn searches_run_end_to_end_through_the_fake() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let f = Fake::new(sensitive_config());
    for algorithm in
        [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst, Algorithm::Ranked]
    {
        let backend = open(f.api(), &path, TensorRtConfig::default());
        let mut oracle = oracle(backend, 0.05);
        let options = SearchOptions { minimize: true, ..SearchOptions::new(algorithm) };
        let outcome = run_search(&mut oracle, &options, &mut NoObserver).unwrap();
        let answer = outcome.answer.expect("an answer");
        let network = precision_core::oracle::Oracle::network(&oracle).clone();
        let names: Vec<&str> = answer.iter().map(|i| network.layers[i].name.as_str()).collect();
        eprintln!(
            "{algorithm:?} --minimize: {} checks, answer {names:?} of {} markable layers",
            outcome.checks.len(),
            network.layers.iter().filter(|l| l.is_markable()).count()
        );
        assert_eq!(names, ["mm1", "mm4"], "{algorithm:?} minimized to the two sensitive layers");
    }
    assert!(f.stats().builds > 10);
}

#[test]
fn strongly_typed_builds_the_rewritten_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let f = Fake::new(FakeConfig { version: 110_100, ..sensitive_config() });
    let mut backend = open(f.api(), &path, TensorRtConfig::default());
    assert_eq!(backend.typing(), Typing::Strong, "TensorRT 11 is strongly typed only");
    // Layers are the ONNX nodes.
    let names: Vec<&str> = backend.network().layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), 2 * BLOCKS);
    assert!(names.contains(&"mm1"));
    let message = backend.calibrate(&[feed(0.0), feed(1.0)]).unwrap().unwrap();
    assert!(message.contains("calibrated"), "{message}");
    backend.build(&plan(&backend, &["mm1"]), OutputSelection::NetworkOutputs).unwrap();
    let s = f.stats();
    assert_eq!(s.last_flags & precision_trt_sys::shim::PTRT_BUILD_INT8, 0, "no precision flags");
    assert!(s.last_hinted.is_empty(), "no precision hints");
    assert!(s.last_int8.contains(&"mm4".to_owned()), "{:?}", s.last_int8);
    assert!(!s.last_int8.contains(&"mm1".to_owned()), "mm1 is kept in float32: {:?}", s.last_int8);
    let model = backend.export_model(&plan(&backend, &["mm1"])).unwrap();
    assert!(!model.is_empty());
    let backend = open(f.api(), &path, TensorRtConfig::default());
    let mut oracle = oracle(backend, 0.05);
    let outcome = run_search(
        &mut oracle,
        &SearchOptions { minimize: true, ..SearchOptions::new(Algorithm::Bisect) },
        &mut NoObserver,
    )
    .unwrap();
    let network = precision_core::oracle::Oracle::network(&oracle).clone();
    let names: Vec<&str> =
        outcome.answer.unwrap().iter().map(|i| network.layers[i].name.as_str()).collect();
    assert_eq!(names, ["mm1", "mm4"]);
}

static LOGGED: std::sync::Mutex<Vec<(Severity, String)>> = std::sync::Mutex::new(Vec::new());

fn remember(severity: Severity, message: &str) {
    LOGGED.lock().unwrap().push((severity, message.to_owned()));
}

#[test]
fn tensorrt_log_messages_reach_the_rust_handler() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let mut config = sensitive_config();
    config.no_float_kernel.insert("mm1".into());
    let f = Fake::new(config);
    f.api().set_log_handler(Severity::Error, remember);
    let mut backend = open(f.api(), &path, TensorRtConfig::default());
    backend.calibrate(&[feed(0.0)]).unwrap();
    backend.build(&plan(&backend, &[]), OutputSelection::NetworkOutputs).unwrap();
    assert!(backend.build(&plan(&backend, &["mm1"]), OutputSelection::NetworkOutputs).is_err());
    let logged = LOGGED.lock().unwrap().clone();
    // The failed build's error arrives; the info message of the good build is filtered out.
    assert!(logged.iter().any(|(s, m)| *s == Severity::Error && m.contains("mm1")), "{logged:?}");
    assert!(logged.iter().all(|(s, _)| *s <= Severity::Error), "{logged:?}");
}

fn panic_on_errors(severity: Severity, message: &str) {
    assert!(severity > Severity::Error, "a log handler that panics on: {message}");
}

/// A log handler that panics does not unwind into TensorRT (which would abort the process):
/// the failing build still returns its error.
#[test]
fn a_panicking_log_handler_does_not_unwind_into_tensorrt() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sensitive_config();
    config.no_float_kernel.insert("mm1".into());
    let f = Fake::new(config);
    f.api().set_log_handler(Severity::Error, panic_on_errors);
    let mut backend = open(f.api(), &chain_model(dir.path()), TensorRtConfig::default());
    backend.calibrate(&[feed(0.0)]).unwrap();
    let err = backend.build(&plan(&backend, &["mm1"]), OutputSelection::NetworkOutputs).err();
    assert!(err.is_some_and(|e| e.to_string().contains("mm1")), "the build's own error");
    assert!(f.stats().logs.iter().any(|m| m.contains("mm1")), "the message was logged");
}

/// A calibrator that panics mid-calibration fails the build with the panic's message.
#[test]
fn a_panicking_calibrator_fails_the_build() {
    struct Panicking;
    impl backend_tensorrt::network::Calibrator for Panicking {
        fn algorithm(&self) -> i32 {
            precision_trt_sys::shim::PTRT_CALIBRATION_ENTROPY2 as i32
        }
        fn batch_size(&self) -> i32 {
            1
        }
        fn next_batch(&mut self, _: &[String]) -> Option<Vec<*mut std::ffi::c_void>> {
            panic!("no batches here")
        }
        fn read_cache(&mut self) -> Option<&[u8]> {
            None
        }
        fn write_cache(&mut self, _: &[u8]) {}
    }
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let f = Fake::new(sensitive_config());
    let bytes = std::fs::read(&path).unwrap();
    let mut network =
        backend_tensorrt::network::TrtNetwork::from_onnx(f.api(), &bytes, Some(&path), false)
            .unwrap();
    let settings = backend_tensorrt::network::BuildSettings {
        int8: true,
        ..backend_tensorrt::network::BuildSettings::default()
    };
    let err = network.build(&settings, Some(&mut Panicking)).err().expect("the build fails");
    assert!(err.to_string().contains("calibrator panicked: no batches here"), "{err}");
    assert_eq!(f.stats().calibration_batches, 0, "no batch came through");
}

/// The answer identity (the journal's fingerprint) changes with every setting that changes
/// answers: typing, precision constraints, layer-outputs mode, TensorRT version, calibration
/// method and cache; it stays the same for the same settings and for those that change no
/// answer (timing cache, saved engines). The model's digest, external data included, is
/// tested in precision-onnx (`identity.rs`).
#[test]
fn answer_identity_covers_every_answer_changing_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = chain_model(dir.path());
    let identity = |version: i32, config: TensorRtConfig| {
        let f = Fake::new(FakeConfig { version, ..sensitive_config() });
        let backend = open(f.api(), &path, config);
        backend.answer_identity().expect("the identity can be read")
    };
    let base = identity(101_600, TensorRtConfig::default());
    assert_eq!(identity(101_600, TensorRtConfig::default()), base, "same settings, same identity");
    let ignored = TensorRtConfig {
        timing_cache: Some(dir.path().join("timing.cache")),
        save_engines: Some(dir.path().join("engines")),
        ..TensorRtConfig::default()
    };
    assert_eq!(identity(101_600, ignored), base, "timing cache and saved engines change nothing");

    let cache = dir.path().join("calib.cache");
    let with_cache = |method| TensorRtConfig {
        calibration: CalibrationSettings { method, cache: Some(cache.clone()) },
        ..TensorRtConfig::default()
    };
    let mut variants: Vec<(&str, precision_core::AnswerIdentity)> = vec![
        (
            "strong typing",
            identity(
                101_600,
                TensorRtConfig { typing: Some(Typing::Strong), ..TensorRtConfig::default() },
            ),
        ),
        (
            "prefer",
            identity(
                101_600,
                TensorRtConfig {
                    constraints: PrecisionConstraints::Prefer,
                    ..TensorRtConfig::default()
                },
            ),
        ),
        (
            "debug layer outputs",
            identity(
                101_600,
                TensorRtConfig { layer_outputs: LayerOutputs::Debug, ..TensorRtConfig::default() },
            ),
        ),
        ("another TensorRT", identity(101_500, TensorRtConfig::default())),
        ("max calibration", identity(101_600, with_cache(precision_core::CalibrationMethod::Max))),
    ];
    std::fs::write(&cache, "TRT-101600-EntropyCalibration2\nx: 3c000000\n").unwrap();
    variants.push((
        "calibration cache",
        identity(101_600, with_cache(precision_core::CalibrationMethod::Entropy)),
    ));
    // A missing cache and the default method are the base (entropy, no cache).
    std::fs::remove_file(&cache).unwrap();
    assert_eq!(
        identity(101_600, with_cache(precision_core::CalibrationMethod::Entropy)),
        base,
        "no cache file is the same as no --calibration-cache"
    );
    for (i, (label, a)) in variants.iter().enumerate() {
        assert_ne!(a, &base, "{label} must change the identity");
        for (other, b) in &variants[i + 1..] {
            assert_ne!(a, b, "{label} and {other}");
        }
    }
}

/// A three-level plan cannot be built with weak typing (one higher precision per build): the
/// build is refused with what to do, before TensorRT sees it.
#[test]
fn weak_typing_refuses_a_three_level_plan() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fake::new(sensitive_config());
    let config = TensorRtConfig {
        lower: vec![Precision::Int8, Precision::Float16],
        ..TensorRtConfig::default()
    };
    let mut backend = TensorRtBackend::open_with(f.api(), &chain_model(dir.path()), config)
        .expect("the fake opens the chain");
    let net = backend.network().clone();
    let base =
        PrecisionPlan::new(&net, vec![Precision::Int8, Precision::Float16], Precision::Float32)
            .unwrap();
    let mm1 = net.layer_by_name("mm1").unwrap().index;
    let middle = precision_core::Middle {
        precision: Precision::Float16,
        layers: LayerSet::from_indices(net.len(), [mm1]),
    };
    let plan = PrecisionPlan { middle: Some(middle), ..base };
    let builds = f.stats();
    match backend.build(&plan, OutputSelection::NetworkOutputs) {
        Err(precision_core::BackendError::Unsupported(message)) => {
            assert!(message.contains("--typing strong"), "{message}");
        }
        Err(other) => panic!("expected Unsupported, got {other}"),
        Ok(_) => panic!("a weakly typed build of a three-level plan must be refused"),
    }
    assert_eq!(f.stats().builds, builds.builds, "nothing reached the builder");
}
