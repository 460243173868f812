//! Property tests of three-level answers (`--three-levels`) on generated mock networks with
//! INT8 and FP16 error amplitudes: the first search (int8 lowered, float32 marked) and the
//! second among its answer (the rest of it in float16), checked against the mock's
//! independent error computation.

use backend_mock::testing::{
    GenOptions, arb_spec, atol_only, backend_oracle, expected_check, expected_check_of,
    markable_layers,
};
use backend_mock::{MockBackend, MockSpec};
use precision_core::levels::{NOT_IN_FIRST_LEVEL, second_level};
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, LayerSet, NoObserver, OutputSelection, Precision, SearchError, SearchOptions,
    run_search,
};
use proptest::prelude::*;
use std::fmt::Write as _;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
}

/// An oracle over `spec` with `lower` enabled, float32 marked, `atol` and `rtol = 0`.
fn oracle(spec: &MockSpec, lower: Vec<Precision>, atol: f64) -> BackendOracle<MockBackend> {
    backend_oracle(spec, lower, Precision::Float32, atol_only(atol))
}

/// The precision of every layer of the three-level plan: `higher` float32, the rest of
/// `first` float16, every other layer int8 (unmarkable layers int8 too).
fn three_levels(spec: &MockSpec, first: &[usize], higher: &[usize]) -> Vec<Precision> {
    spec.layers
        .iter()
        .enumerate()
        .map(|(i, l)| match (l.markable, higher.contains(&i), first.contains(&i)) {
            (true, true, _) => Precision::Float32,
            (true, false, true) => Precision::Float16,
            _ => Precision::Int8,
        })
        .collect()
}

/// A tolerance between the error of marking everything and of marking nothing, in INT8.
fn tolerance(spec: &MockSpec, t: f64) -> f64 {
    let all = markable_layers(spec);
    let low = expected_check(spec, Precision::Int8, Precision::Float32, &all, 0.0).max_absdiff;
    let high = expected_check(spec, Precision::Int8, Precision::Float32, &[], 0.0).max_absdiff;
    let (low, high) = (f64::from(low), f64::from(high));
    if high.is_finite() && low.is_finite() { low + t * (high - low) } else { 0.0 }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// The second search marks only layers of the first answer; its answer passes as a
    /// three-level plan by the independent computation, is 1-minimal there (moving any of its
    /// layers to float16 fails), and costs at most its stated budget.
    #[test]
    fn three_level_answers_pass_and_are_one_minimal(
        spec in arb_spec(GenOptions { max_layers: 120, ..GenOptions::default() }),
        t in 0.0f64..=1.0,
        which in 0usize..3,
    ) {
        let atol = tolerance(&spec, t);
        let algorithm = [Algorithm::Ranked, Algorithm::Bisect, Algorithm::WorstFirst][which];
        let options = SearchOptions {
            noise_floor: true,
            minimize: true,
            ..SearchOptions::new(algorithm)
        };
        let mut oracle = oracle(&spec, vec![Precision::Int8, Precision::Float16], atol);
        let first = run_search(&mut oracle, &options, &mut NoObserver).expect("the first search");
        let Some(first_answer) = first.answer else { return Ok(()) };
        let second = second_level(&mut oracle, &first_answer, &options, &mut NoObserver)
            .expect("the second search");
        let first_layers = first_answer.to_vec();
        for check in &second.checks {
            prop_assert!(check.marked.is_subset(&first_answer), "a check marked {:?}", check.marked);
        }
        prop_assert!(second.checks.len() <= second.budget.unwrap_or(usize::MAX));
        let answer = second.answer.expect("the first answer itself passes");
        prop_assert!(answer.is_subset(&first_answer));
        let higher = answer.to_vec();
        let plan = three_levels(&spec, &first_layers, &higher);
        prop_assert!(expected_check_of(&spec, &plan, atol).passes, "{higher:?} of {first_layers:?}");
        for &layer in &higher {
            let fewer: Vec<usize> = higher.iter().copied().filter(|&l| l != layer).collect();
            let plan = three_levels(&spec, &first_layers, &fewer);
            prop_assert!(
                !expected_check_of(&spec, &plan, atol).passes,
                "layer {layer} could go to float16 too: {higher:?} of {first_layers:?}"
            );
        }
        // The oracle keeps the middle level: the answer's own check passes again, as cached.
        let again = precision_core::Oracle::evaluate(&mut oracle, &answer, OutputSelection::NetworkOutputs)
            .expect("evaluates");
        prop_assert!(again.passed);
    }

    /// Where float16 adds no error, every layer of the first answer goes to float16: the
    /// second answer is empty, after the floor check and the nothing-marked check.
    #[test]
    fn lossless_float16_keeps_nothing_in_float32(
        spec in arb_spec(GenOptions { max_layers: 80, ..GenOptions::default() }),
        t in 0.0f64..=1.0,
    ) {
        let mut spec = spec;
        for layer in &mut spec.layers {
            layer.error.fp16 = 0.0;
        }
        let atol = tolerance(&spec, t);
        let options = SearchOptions { noise_floor: true, ..SearchOptions::new(Algorithm::Ranked) };
        let mut oracle = oracle(&spec, vec![Precision::Int8, Precision::Float16], atol);
        let first = run_search(&mut oracle, &options, &mut NoObserver).expect("the first search");
        let Some(first_answer) = first.answer else { return Ok(()) };
        let second = second_level(&mut oracle, &first_answer, &options, &mut NoObserver)
            .expect("the second search");
        prop_assert_eq!(second.answer, Some(LayerSet::empty(spec.layers.len())));
        prop_assert!(second.checks.len() <= 2, "{} checks", second.checks.len());
    }
}

/// The second search's network shows the layers outside the first answer as unmarkable, with
/// the reason; and a plan with only one lower precision has no middle level to search.
#[test]
fn second_level_needs_a_middle_precision_and_names_why_layers_stay_low() {
    let spec = backend_mock::testing::generate_spec(12, 7, &GenOptions::default());
    let mut only_int8 = oracle(&spec, vec![Precision::Int8], 1.0);
    let first = LayerSet::from_indices(spec.layers.len(), [0]);
    let options = SearchOptions::new(Algorithm::Ranked);
    match second_level(&mut only_int8, &first, &options, &mut NoObserver) {
        Err(SearchError::InvalidOption(message)) => {
            assert!(message.contains("--int8 --fp16"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut both = oracle(&spec, vec![Precision::Int8, Precision::Float16], 1.0);
    let among = precision_core::levels::AmongOracle::new(&mut both, &first);
    let network = precision_core::Oracle::network(&among);
    for layer in network.layers.iter().skip(1) {
        if spec.layers[layer.index].markable {
            assert_eq!(layer.unmarkable_reason.as_deref(), Some(NOT_IN_FIRST_LEVEL));
        }
    }
}

/// A chain where layers 1, 3 and 5 lose too much in INT8 and layer 3 also in FP16: the first
/// level keeps {1, 3, 5} out of INT8, the second keeps only 3 in float32.
#[test]
fn a_chain_answers_in_three_levels() {
    let mut text = String::from("noise = \"constant\"\n[[inputs]]\nname = \"x\"\nshape = [4]\n");
    for i in 0..7 {
        let error = match i {
            1 | 5 => "{ int8 = 0.5, fp16 = 0.01 }",
            3 => "{ int8 = 0.5, fp16 = 0.4 }",
            _ => "{ int8 = 0.01, fp16 = 0.001 }",
        };
        let _ = write!(text, "[[layers]]\nname = \"l{i}\"\nerror = {error}\n");
    }
    let backend = MockBackend::from_toml_str(&text, "chain").expect("a valid spec");
    let spec = backend.spec().clone();
    let mut oracle = oracle(&spec, vec![Precision::Int8, Precision::Float16], 0.3);
    for algorithm in [Algorithm::Ranked, Algorithm::Bisect] {
        let options =
            SearchOptions { noise_floor: true, minimize: true, ..SearchOptions::new(algorithm) };
        oracle.set_middle(None);
        let first = run_search(&mut oracle, &options, &mut NoObserver).expect("the first search");
        let first_answer = first.answer.expect("marking 1, 3 and 5 passes");
        assert_eq!(first_answer.to_vec(), [1, 3, 5], "{algorithm}");
        let second = second_level(&mut oracle, &first_answer, &options, &mut NoObserver)
            .expect("the second search");
        assert_eq!(second.answer.expect("an answer").to_vec(), [3], "{algorithm}");
    }
}
