//! The `BackendOracle` with the real comparator (`compare_outputs` / `compare_tensors`):
//! default tolerances, merged iterations, and shape mismatches found at compare time.

mod search_common;

use ndarray::{ArrayD, IxDyn};
use precision_core::oracle::BackendOracle;
use precision_core::search::worst_first;
use precision_core::{
    CompareConfig, LayerSet, NamedTensors, NoObserver, Oracle, OutputSelection, Precision,
    PrecisionPlan, SearchError, Tensor,
};
use search_common::backend::{FakeBackend, feed};
use search_common::chain;

fn oracle(errors: &[f32], golden_of: fn(f32) -> Tensor) -> BackendOracle<FakeBackend> {
    oracle_with(errors, golden_of, CompareConfig::default())
}

fn oracle_with(
    errors: &[f32],
    golden_of: fn(f32) -> Tensor,
    config: CompareConfig,
) -> BackendOracle<FakeBackend> {
    let backend = FakeBackend::new(chain(errors.len(), &[]), errors);
    let last = format!("t{}", errors.len() - 1);
    let goldens: Vec<NamedTensors> =
        [1.0, 2.0].map(|x| [(last.clone(), golden_of(x))].into_iter().collect()).to_vec();
    let plan =
        PrecisionPlan::new(&backend.network, vec![Precision::Int8], Precision::Float32).unwrap();
    BackendOracle::new(backend, plan, vec![feed(1.0), feed(2.0)], goldens, config).unwrap()
}

fn exact(x: f32) -> Tensor {
    Tensor::from(ArrayD::from_elem(IxDyn(&[1]), x))
}

#[test]
fn default_tolerances_and_worst_iteration() {
    let mut oracle = oracle(&[0.5, 0.0], exact);
    let eval = oracle.evaluate(&LayerSet::empty(2), OutputSelection::NetworkOutputs).unwrap();
    assert!(!eval.passed);
    // x = 2: 3.0 against 2.0, the worse of the two iterations.
    assert_eq!(eval.outputs[0].max_absdiff, 1.0);
    assert_eq!(eval.outputs[0].max_reldiff, 0.5);
    let eval =
        oracle.evaluate(&LayerSet::from_indices(2, [0]), OutputSelection::NetworkOutputs).unwrap();
    assert!(eval.passed);
    assert_eq!(eval.outputs[0].max_absdiff, 0.0);
}

fn two_elements(x: f32) -> Tensor {
    Tensor::from(ArrayD::from_elem(IxDyn(&[2]), x))
}

#[test]
fn golden_of_another_shape_is_an_input_error() {
    let mut oracle = oracle(&[0.0, 0.0], two_elements);
    let err = oracle.evaluate(&LayerSet::empty(2), OutputSelection::NetworkOutputs).unwrap_err();
    assert!(matches!(err, SearchError::GoldenMismatch { iteration: 0, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("'t1'") && text.contains("[2]") && text.contains("[1]"), "{text}");
}

#[test]
fn without_shape_checks_a_shape_mismatch_fails_the_comparison() {
    let config = CompareConfig { check_shapes: false, ..CompareConfig::default() };
    let mut oracle = oracle_with(&[0.0, 0.0], two_elements, config);
    let eval = oracle.evaluate(&LayerSet::empty(2), OutputSelection::NetworkOutputs).unwrap();
    assert!(!eval.passed);
    assert!(eval.outputs[0].mismatch.is_some());
}

#[test]
fn worst_first_with_the_real_comparator() {
    let mut oracle = oracle(&[0.0, 0.5, 0.0, 0.2, 0.0], exact);
    let out = worst_first(&mut oracle, 1, &mut NoObserver).unwrap();
    assert_eq!(out.answer.unwrap().to_vec(), vec![1, 3]);
    assert_eq!(out.checks.len(), 3);
}
