//! The `BackendOracle` adapter over a fake backend, with a stand-in comparison function (the
//! real comparator is tested on its own).

mod search_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use precision_core::oracle::{BackendOracle, merge_worst};
use precision_core::search::{bisect, worst_first};
use precision_core::{
    BackendError, CompareConfig, Direction, LayerSet, NamedTensors, NoObserver, Oracle,
    OutputSelection, Precision, PrecisionPlan, SearchError,
};
use search_common::backend::{FakeBackend, feed, max_absdiff_compare, scalar};
use search_common::{chain, cmp};

fn int8_plan(backend: &FakeBackend) -> PrecisionPlan {
    PrecisionPlan::new(&backend.network, vec![Precision::Int8], Precision::Float32).unwrap()
}

/// An oracle over a chain with the given per-layer errors, inputs x = 1 and x = 2, and goldens
/// from the float32 run (network outputs only, plus `extra` golden tensors).
fn oracle_for(errors: &[f32], extra: fn(usize, &mut NamedTensors)) -> BackendOracle<FakeBackend> {
    oracle_with(FakeBackend::new(chain(errors.len(), &[]), errors), extra)
}

/// [`oracle_for`] on a given backend.
fn oracle_with(
    backend: FakeBackend,
    extra: fn(usize, &mut NamedTensors),
) -> BackendOracle<FakeBackend> {
    let inputs = vec![feed(1.0), feed(2.0)];
    let goldens: Vec<NamedTensors> = backend
        .float32_run(&inputs)
        .into_iter()
        .enumerate()
        .map(|(i, run)| {
            let mut golden: NamedTensors = backend
                .network
                .outputs
                .iter()
                .map(|o| (o.clone(), run[o.as_str()].clone()))
                .collect();
            extra(i, &mut golden);
            golden
        })
        .collect();
    let plan = int8_plan(&backend);
    BackendOracle::new(backend, plan, inputs, goldens, CompareConfig::default())
        .unwrap()
        .with_compare_fn(max_absdiff_compare)
}

fn no_extra(_: usize, _: &mut NamedTensors) {}

fn set(universe: usize, indices: &[usize]) -> LayerSet {
    LayerSet::from_indices(universe, indices.iter().copied())
}

#[test]
fn construction_validates_inputs_and_goldens() {
    let backend = || FakeBackend::new(chain(2, &[]), &[0.0, 0.0]);
    let plan = int8_plan(&backend());
    let golden = || -> NamedTensors { [("t1".to_owned(), scalar(1.0))].into_iter().collect() };

    let err = BackendOracle::new(backend(), plan.clone(), vec![], vec![], CompareConfig::default())
        .unwrap_err();
    assert_eq!(err, SearchError::NoInputs);

    let err = BackendOracle::new(
        backend(),
        plan.clone(),
        vec![feed(1.0), feed(2.0)],
        vec![golden()],
        CompareConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err, SearchError::GoldenCount { inputs: 2, goldens: 1 });
    assert!(err.to_string().contains("2 input iterations"), "{err}");

    let mut lacking = golden();
    lacking.clear();
    lacking.insert("t0".into(), scalar(1.0));
    let err = BackendOracle::new(
        backend(),
        plan,
        vec![feed(1.0), feed(2.0)],
        vec![golden(), lacking],
        CompareConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err, SearchError::MissingGoldenOutputs { iteration: 1, missing: vec!["t1".into()] });
    let message = err.to_string();
    assert!(message.contains("'t1'") && message.contains("precision run"), "{message}");
}

#[test]
fn compares_network_outputs_and_merges_iterations_by_the_worst() {
    // Layer 0 adds 0.06 % in int8: |error| is 0.0006 for x = 1 (passes at 1e-3) and 0.0012
    // for x = 2 (fails), so the merged comparison fails with the larger error.
    let mut oracle = oracle_for(&[0.0006, 0.0, 0.0], no_extra);
    let eval = oracle.evaluate(&set(3, &[]), OutputSelection::NetworkOutputs).unwrap();
    assert!(!eval.passed);
    assert_eq!(eval.build_error, None);
    assert_eq!(eval.layer_outputs, None);
    assert_eq!(eval.outputs.len(), 1);
    assert_eq!(eval.outputs[0].name, "t2");
    assert!(!eval.outputs[0].passed);
    assert!((eval.outputs[0].max_absdiff - 0.0012).abs() < 1e-6, "{:?}", eval.outputs[0]);

    let eval = oracle.evaluate(&set(3, &[0]), OutputSelection::NetworkOutputs).unwrap();
    assert!(eval.passed);
    assert_eq!(eval.outputs[0].max_absdiff, 0.0);
    let (plan, selection) = oracle.backend().builds.last().unwrap().clone();
    assert_eq!(plan.marked.to_vec(), vec![0]);
    assert_eq!(plan.lower, vec![Precision::Int8]);
    assert_eq!(selection, OutputSelection::NetworkOutputs);
}

#[test]
fn caches_by_marked_set_and_detail() {
    let mut oracle = oracle_for(&[0.5, 0.0, 0.0], no_extra);
    let first = oracle.evaluate(&set(3, &[1]), OutputSelection::NetworkOutputs).unwrap();
    let again = oracle.evaluate(&set(3, &[1]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(oracle.backend().builds.len(), 1);
    assert_eq!(again.duration, Duration::ZERO);
    assert_eq!(again.outputs, first.outputs);
    assert_eq!(again.passed, first.passed);
    // The same layers in a set over a larger universe are the same plan.
    oracle.evaluate(&set(64, &[1]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(oracle.backend().builds.len(), 1);
    // Another detail or another set is a new check.
    oracle.evaluate(&set(3, &[1]), OutputSelection::EveryLayer).unwrap();
    oracle.evaluate(&set(3, &[2]), OutputSelection::NetworkOutputs).unwrap();
    let stats = oracle.stats();
    assert_eq!((stats.evaluated, stats.cached), (3, 2));
}

#[test]
fn build_failures_are_failed_checks_and_cached() {
    // Every plan that leaves layer 0 in int8 fails to build.
    let mut backend = FakeBackend::new(chain(3, &[]), &[0.5, 0.0, 0.0]);
    backend.build_fails = |plan| !plan.marked.contains(0);
    let goldens = [1.0, 2.0].map(|x| [("t2".to_owned(), scalar(x))].into_iter().collect());
    let plan = int8_plan(&backend);
    let mut oracle = BackendOracle::new(
        backend,
        plan,
        vec![feed(1.0), feed(2.0)],
        goldens.to_vec(),
        CompareConfig::default(),
    )
    .unwrap()
    .with_compare_fn(max_absdiff_compare);

    let eval = oracle.evaluate(&set(3, &[1]), OutputSelection::NetworkOutputs).unwrap();
    assert!(!eval.passed);
    assert_eq!(eval.build_error.as_deref(), Some("no int8 kernel for layer 'L0'"));
    assert!(eval.outputs.is_empty());
    oracle.evaluate(&set(3, &[1]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(oracle.backend().builds.len(), 1);
    assert!(oracle.evaluate(&set(3, &[0]), OutputSelection::NetworkOutputs).unwrap().passed);

    // Bisect treats the failed builds as failed checks: it needs layer 0, all three layers.
    let out = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    assert_eq!(out.answer.unwrap().to_vec(), vec![0, 1, 2]);
    assert!(out.checks.iter().any(|i| i.build_error.is_some()));
}

#[test]
fn other_backend_errors_stop_and_are_not_cached() {
    let mut backend = FakeBackend::new(chain(2, &[]), &[0.0, 0.0]);
    backend.unsupported = true;
    let goldens = vec![[("t1".to_owned(), scalar(1.0))].into_iter().collect()];
    let plan = int8_plan(&backend);
    let mut oracle =
        BackendOracle::new(backend, plan, vec![feed(1.0)], goldens, CompareConfig::default())
            .unwrap();
    for _ in 0..2 {
        let err = oracle.evaluate(&set(2, &[]), OutputSelection::NetworkOutputs).unwrap_err();
        assert_eq!(
            err,
            SearchError::Backend(BackendError::Unsupported("the fake backend lacks fp8".into()))
        );
    }
    assert_eq!(oracle.backend().builds.len(), 2);
    assert_eq!(oracle.stats().evaluated, 0);
}

#[test]
fn every_layer_compares_with_goldens_then_the_float32_reference() {
    // The golden files hold t0, deliberately off by 0.25, so its error shows which reference
    // was used; t1 is compared against the backend's own float32 run.
    let mut oracle = oracle_for(&[0.5, 0.0, 0.0], |i, golden| {
        golden.insert("t0".into(), scalar([1.25, 2.25][i]));
    });
    let eval = oracle.evaluate(&set(3, &[]), OutputSelection::EveryLayer).unwrap();
    assert!(!eval.passed);
    let layers = eval.layer_outputs.unwrap();
    let err = |name: &str| layers.iter().find(|c| c.name == name).unwrap().max_absdiff;
    assert_eq!(layers.len(), 3);
    assert!((err("t0") - 0.75).abs() < 1e-6); // 3.0 vs the golden 2.25
    assert!((err("t1") - 1.0).abs() < 1e-6); // 3.0 vs the float32 2.0
    assert!((err("t2") - 1.0).abs() < 1e-6);
    assert_eq!(eval.outputs.len(), 1);
    // The reference (the goldens lack t1), built before the plan under test so that the two
    // engines are never alive together.
    let builds = &oracle.backend().builds;
    assert_eq!(
        builds[0],
        (PrecisionPlan::float32(&oracle.backend().network), OutputSelection::EveryLayer)
    );
    assert_eq!(builds[1].1, OutputSelection::EveryLayer);
    assert_eq!(builds[1].0.lower, vec![Precision::Int8]);
    assert_eq!(
        oracle.backend().engines_alive.1.load(Ordering::SeqCst),
        1,
        "one engine alive at a time"
    );

    oracle.evaluate(&set(3, &[0]), OutputSelection::EveryLayer).unwrap();
    assert_eq!(oracle.stats().reference_builds, 1);
    assert_eq!(oracle.backend().builds.len(), 3);
}

/// Once a search has measured its layers (worst-first's every-layer check, ranked's
/// sensitivity check), the oracle frees the float32 reference run and tells the backend, at
/// once, before any later check; a later check that compares layer outputs makes the
/// reference again.
#[test]
fn the_reference_is_freed_once_layers_are_measured() {
    use precision_core::{Algorithm, SearchOptions, run_search};
    let errors = [0.0, 0.5, 0.0, 0.2, 0.0];
    for algorithm in [Algorithm::WorstFirst, Algorithm::Ranked] {
        let mut oracle = oracle_for(&errors, no_extra);
        let options = SearchOptions { top_k: 1, ..SearchOptions::new(algorithm) };
        let out = run_search(&mut oracle, &options, &mut NoObserver).unwrap();
        assert_eq!(out.answer.unwrap().to_vec(), vec![1, 3], "{algorithm:?}");
        assert!(out.checks.len() > 1, "{algorithm:?}: checks after the measuring one");
        // The reference and the measured plan were the first two builds; the notice came
        // right after them.
        assert_eq!(oracle.backend().layer_outputs_done, vec![2], "{algorithm:?}");
        assert_eq!(oracle.stats().reference_builds, 1, "{algorithm:?}");
        oracle.evaluate(&set(5, &[1]), OutputSelection::EveryLayer).unwrap();
        assert_eq!(oracle.stats().reference_builds, 2, "{algorithm:?}: made again");
    }
    // Searches that compare no layer outputs never call it.
    let mut oracle = oracle_for(&errors, no_extra);
    bisect(&mut oracle, Direction::Forward, &mut NoObserver).unwrap();
    assert!(oracle.backend().layer_outputs_done.is_empty());
}

#[test]
fn every_layer_needs_no_reference_when_goldens_hold_every_output() {
    let mut oracle = oracle_for(&[0.5, 0.0, 0.0], |i, golden| {
        let x = [1.0, 2.0][i];
        golden.insert("t0".into(), scalar(x));
        golden.insert("t1".into(), scalar(x));
    });
    let eval = oracle.evaluate(&set(3, &[]), OutputSelection::EveryLayer).unwrap();
    assert_eq!(eval.layer_outputs.unwrap().len(), 3);
    assert_eq!(oracle.stats().reference_builds, 0);
    assert_eq!(oracle.backend().builds.len(), 1);
}

#[test]
fn every_layer_needs_the_capability() {
    let mut backend = FakeBackend::new(chain(2, &[]), &[0.0, 0.0]);
    backend.every_layer_output = false;
    let goldens = vec![[("t1".to_owned(), scalar(1.0))].into_iter().collect()];
    let plan = int8_plan(&backend);
    let mut oracle =
        BackendOracle::new(backend, plan, vec![feed(1.0)], goldens, CompareConfig::default())
            .unwrap();
    let err = oracle.evaluate(&set(2, &[]), OutputSelection::EveryLayer).unwrap_err();
    assert!(matches!(err, SearchError::Unsupported(_)));
    assert!(err.to_string().contains("fake backend cannot return every layer's output"), "{err}");
    assert!(oracle.backend().builds.is_empty());
}

#[test]
fn engines_must_return_every_network_output() {
    let mut backend = FakeBackend::new(chain(2, &[]), &[0.0, 0.0]);
    backend.drop_network_outputs = true;
    let goldens = vec![[("t1".to_owned(), scalar(1.0))].into_iter().collect()];
    let plan = int8_plan(&backend);
    let mut oracle =
        BackendOracle::new(backend, plan, vec![feed(1.0)], goldens, CompareConfig::default())
            .unwrap();
    let err = oracle.evaluate(&set(2, &[]), OutputSelection::NetworkOutputs).unwrap_err();
    assert!(err.to_string().contains("no value for network output 't1'"), "{err}");
}

#[test]
fn rejects_out_of_range_layers_and_reports_deviations() {
    let mut backend = FakeBackend::new(chain(2, &[1]), &[0.0, 0.0]);
    backend.build_fails = |_| false;
    let goldens = vec![[("t1".to_owned(), scalar(1.0))].into_iter().collect()];
    let plan = int8_plan(&backend);
    let mut oracle =
        BackendOracle::new(backend, plan, vec![feed(1.0)], goldens, CompareConfig::default())
            .unwrap()
            .with_compare_fn(max_absdiff_compare);
    let err = oracle.evaluate(&set(5, &[4]), OutputSelection::NetworkOutputs).unwrap_err();
    assert!(matches!(err, SearchError::InvalidInput(_)));
    assert!(err.to_string().contains("layer index 4"), "{err}");
    let eval = oracle.evaluate(&set(2, &[1]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(eval.deviations, vec!["layer 'L1' ran in int8".to_owned()]);
}

#[test]
fn merge_keeps_the_worst() {
    let mut a = cmp("out", 0.5, true);
    a.mismatch = None;
    let mut acc = vec![a, cmp("other", 1.0, true)];
    let mut b = cmp("out", f64::NAN, false);
    b.mismatch = Some("shapes differ".into());
    b.max_reldiff = 0.1;
    merge_worst(&mut acc, vec![b, cmp("new", 2.0, false), cmp("other", 0.5, true)]);
    assert_eq!(acc.len(), 3);
    assert!(!acc[0].passed);
    assert!(acc[0].max_absdiff.is_nan());
    assert_eq!(acc[0].max_reldiff, 0.5);
    assert_eq!(acc[0].mismatch.as_deref(), Some("shapes differ"));
    assert!(acc[1].passed);
    assert_eq!(acc[1].max_absdiff, 1.0);
    assert_eq!(acc[2].name, "new");
}

#[test]
fn worst_first_and_bisect_through_the_adapter() {
    // t1 = 1.5 t0 and t3 = 1.2 t2 in int8: L1 adds error from exact inputs (infinite ratio),
    // L3 multiplies it by 1.8 / 1.5; both must be marked.
    let errors = [0.0, 0.5, 0.0, 0.2, 0.0];
    let mut oracle = oracle_for(&errors, no_extra);
    let out = worst_first(&mut oracle, 1, &mut NoObserver).unwrap();
    let sets: Vec<Vec<usize>> = out.checks.iter().map(|i| i.marked.to_vec()).collect();
    assert_eq!(sets, vec![vec![], vec![1], vec![1, 3]]);
    assert_eq!(out.answer.unwrap().to_vec(), vec![1, 3]);
    assert_eq!(oracle.stats().reference_builds, 1);

    let out = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    assert_eq!(out.answer.unwrap().to_vec(), vec![1, 2, 3, 4]);
    // A second identical search costs no builds at all.
    let builds = oracle.backend().builds.len();
    let again = bisect(&mut oracle, Direction::Reverse, &mut NoObserver).unwrap();
    assert_eq!(again.answer.unwrap().to_vec(), vec![1, 2, 3, 4]);
    assert_eq!(oracle.backend().builds.len(), builds);
    assert_eq!(oracle.stats().cached, again.checks.len());
}

#[test]
fn verdicts_come_from_the_plan_as_deployed_when_layer_outputs_change_results() {
    // Engines with layer outputs hide the error (as a runtime whose fusions change); the
    // verdict must be that of the plan built with its network outputs only.
    let mut backend = FakeBackend::new(chain(3, &[]), &[0.5, 0.0, 0.0]);
    backend.layer_outputs_change_results = true;
    let mut oracle = oracle_with(backend, no_extra);
    let eval = oracle.evaluate(&set(3, &[]), OutputSelection::EveryLayer).unwrap();
    assert!(!eval.passed, "the deployed plan fails: {eval:?}");
    assert!(eval.layer_outputs.is_some());
    let selections: Vec<OutputSelection> =
        oracle.backend().builds.iter().map(|(_, s)| *s).collect();
    // The float32 reference, then the plan with every layer output, then the plan with
    // network outputs only (one engine alive at a time).
    assert_eq!(
        selections,
        [OutputSelection::EveryLayer, OutputSelection::EveryLayer, OutputSelection::NetworkOutputs]
    );
    assert_eq!(oracle.backend().engines_alive.1.load(Ordering::SeqCst), 1);

    // The plan's network-output check is cached; other network-output checks build once.
    assert!(!oracle.evaluate(&set(3, &[]), OutputSelection::NetworkOutputs).unwrap().passed);
    assert_eq!(oracle.backend().builds.len(), 3);
    oracle.evaluate(&set(3, &[1]), OutputSelection::NetworkOutputs).unwrap();
    assert_eq!(oracle.backend().builds.len(), 4);
}
