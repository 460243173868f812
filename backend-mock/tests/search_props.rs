//! The searches on simulated networks: with `noise = "constant"` and `rtol = 0`, bisect and
//! linear must find exactly the minimal prefix/suffix that the independent computation in
//! `backend_mock::testing` predicts, within their check budgets; worst-first must terminate,
//! never mark unmarkable layers and answer only with passing sets; build failures are failed
//! checks.
//!
//! The searches run through `precision_core::oracle::BackendOracle` and the real comparator
//! (`compare_outputs`); the independent [`AtolOracle`] is checked to agree with both.

use backend_mock::testing::{
    AtolOracle, GenOptions, arb_spec, atol_only, backend_oracle, expected_check, markable_layers,
    marked_prefix, minimal_passing_count, passes_by_count, to_toml,
};
use backend_mock::{MockBackend, MockSpec};
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, Direction, LayerSet, NoObserver, Observer, Oracle, OutputSelection, Precision,
    Report, SearchError, SearchOptions, SearchOutcome, run_search,
};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

/// A backend for `spec`, read back from its TOML text.
fn backend(spec: &MockSpec) -> MockBackend {
    MockBackend::from_toml_str(&to_toml(spec), "generated").expect("generated specs are valid")
}

/// The real oracle: `lowest` enabled, float32 for marked layers, `atol` and `rtol = 0`.
fn oracle(spec: &MockSpec, lowest: Precision, atol: f64) -> BackendOracle<MockBackend> {
    oracle_with(spec, lowest, Precision::Float32, atol)
}

/// The real oracle with `higher` for marked layers.
fn oracle_with(
    spec: &MockSpec,
    lowest: Precision,
    higher: Precision,
    atol: f64,
) -> BackendOracle<MockBackend> {
    backend_oracle(spec, vec![lowest], higher, atol_only(atol))
}

fn search(
    oracle: &mut dyn Oracle,
    algorithm: Algorithm,
    direction: Direction,
    top_k: usize,
) -> SearchOutcome {
    let options = SearchOptions { algorithm, direction, top_k, ..SearchOptions::default() };
    run_search(oracle, &options, &mut NoObserver).expect("the search runs")
}

/// An observer that keeps the notes.
#[derive(Default)]
struct Notes(Vec<String>);

impl Observer for Notes {
    fn note(&mut self, message: &str) {
        self.0.push(message.to_owned());
    }
}

fn set(spec: &MockSpec, indices: &[usize]) -> LayerSet {
    LayerSet::from_indices(spec.layers.len(), indices.iter().copied())
}

fn ceil_log2(x: usize) -> usize {
    let mut bits = 0;
    while (1usize << bits) < x {
        bits += 1;
    }
    bits
}

/// Specs for the search properties: constant noise, some unmarkable layers, some layers
/// unsupported in int8 or float16 (never in float32, so marking more never hurts).
fn specs(max_layers: usize) -> impl Strategy<Value = MockSpec> {
    arb_spec(GenOptions {
        max_layers,
        unsupported_choices: vec![Precision::Int8, Precision::Float16],
        ..GenOptions::default()
    })
}

/// A tolerance that makes the first `target` fraction of the prefix lengths fail: the
/// (float32-representable) output error of marking `round(target * C)` layers, or 0.
fn tolerance(
    spec: &MockSpec,
    lowest: Precision,
    direction: Direction,
    target: f64,
    zero: bool,
) -> f64 {
    if zero {
        return 0.0;
    }
    let c = markable_layers(spec).len();
    let n = ((target * c as f64).round() as usize).min(c);
    let marked = marked_prefix(spec, n, direction);
    f64::from(expected_check(spec, lowest, Precision::Float32, &marked, 0.0).max_absdiff)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Bisect and linear find the minimal passing prefix/suffix, within their budgets; the
    /// answer passes when re-checked and the next shorter one fails.
    #[test]
    fn bisect_and_linear_find_the_minimum(
        spec in specs(300),
        lowest in prop_oneof![Just(Precision::Int8), Just(Precision::Float16)],
        reverse in any::<bool>(),
        target in 0.0f64..=1.0,
        zero in proptest::bool::weighted(0.1),
    ) {
        let direction = if reverse { Direction::Reverse } else { Direction::Forward };
        let atol = tolerance(&spec, lowest, direction, target, zero);
        let c = markable_layers(&spec).len();
        let by_count = passes_by_count(&spec, lowest, Precision::Float32, atol, direction);
        prop_assert!(
            by_count.windows(2).all(|w| w[1] || !w[0]),
            "marking more must never hurt under constant noise: {:?}", by_count
        );
        let want = minimal_passing_count(&spec, lowest, Precision::Float32, atol, direction);
        let want_set = want.map(|n| set(&spec, &marked_prefix(&spec, n, direction)));

        let mut bisect_oracle = oracle(&spec, lowest, atol);
        let outcome = search(&mut bisect_oracle, Algorithm::Bisect, direction, 5);
        prop_assert_eq!(&outcome.answer, &want_set, "bisect, atol {}", atol);
        prop_assert!(
            outcome.checks.len() <= ceil_log2(c + 1) + 1,
            "bisect made {} checks over {} markable layers", outcome.checks.len(), c
        );

        // With the floor check (the CLI's default) the floor and bisect together stay within
        // ceil(log2(C + 1)) + 1 checks: the floor's plan is not checked again.
        let mut floor_oracle = oracle(&spec, lowest, atol);
        let options = SearchOptions {
            algorithm: Algorithm::Bisect,
            direction,
            noise_floor: true,
            ..SearchOptions::default()
        };
        let floored = run_search(&mut floor_oracle, &options, &mut NoObserver).expect("the search runs");
        prop_assert_eq!(&floored.answer, &want_set, "bisect with the floor, atol {}", atol);
        prop_assert!(
            floored.checks.len() <= ceil_log2(c + 1) + 1,
            "the floor and bisect made {} checks over {} markable layers", floored.checks.len(), c
        );
        prop_assert_eq!(floored.budget, Some(ceil_log2(c + 1) + 1));

        let mut linear_oracle = oracle(&spec, lowest, atol);
        let outcome = search(&mut linear_oracle, Algorithm::Linear, direction, 5);
        prop_assert_eq!(&outcome.answer, &want_set, "linear, atol {}", atol);
        prop_assert_eq!(outcome.checks.len(), want.map_or(c + 1, |n| n + 1));

        // Every check the searches logged agrees with the independent computation.
        for check in &outcome.checks {
            let marked = check.marked.to_vec();
            let expected = expected_check(&spec, lowest, Precision::Float32, &marked, atol);
            prop_assert_eq!(check.passed, expected.passes, "marked {:?}", marked);
            prop_assert_eq!(check.build_error.is_some(), !expected.builds);
        }

        // Re-check the answer and the next shorter one on fresh oracles.
        if let Some(n) = want {
            let mut fresh = oracle(&spec, lowest, atol);
            let answer = fresh.evaluate(&set(&spec, &marked_prefix(&spec, n, direction)), OutputSelection::NetworkOutputs).unwrap();
            prop_assert!(answer.passed, "the answer fails when re-checked");
            if n > 0 {
                let shorter = fresh.evaluate(&set(&spec, &marked_prefix(&spec, n - 1, direction)), OutputSelection::NetworkOutputs).unwrap();
                prop_assert!(!shorter.passed, "a shorter answer passes");
            }
        }
    }

    /// Worst-first terminates within its budget, never marks an unmarkable layer, and answers
    /// only with a set that passes (or with nothing when marking every candidate fails).
    #[test]
    fn worst_first_terminates_and_answers_with_passing_sets(
        spec in specs(200),
        lowest in prop_oneof![Just(Precision::Int8), Just(Precision::Float16)],
        top_k in 1usize..=6,
        target in 0.0f64..=1.0,
        zero in proptest::bool::weighted(0.1),
    ) {
        let atol = tolerance(&spec, lowest, Direction::Reverse, target, zero);
        let markable = markable_layers(&spec);
        let c = markable.len();
        let mut o = oracle(&spec, lowest, atol);
        let options = SearchOptions { algorithm: Algorithm::WorstFirst, direction: Direction::Reverse, top_k, ..SearchOptions::default() };
        let mut notes = Notes::default();
        let result = run_search(&mut o, &options, &mut notes);
        // The layers the builder refuses with nothing marked: those whose lowest precision is
        // unsupported (never float32, so marking them makes them build).
        let refused: Vec<usize> = (0..spec.layers.len())
            .filter(|&i| spec.layers[i].unsupported.contains(&lowest))
            .collect();
        prop_assert_eq!(
            refused.is_empty(),
            expected_check(&spec, lowest, Precision::Float32, &[], atol).builds
        );
        if refused.iter().any(|&i| !spec.layers[i].markable) {
            // A refused layer that cannot be marked: nothing can be ranked, and the error
            // names it.
            let Err(SearchError::Unsupported(message)) = &result else {
                prop_assert!(false, "expected a clear error, got {:?}", result);
                return Ok(());
            };
            prop_assert!(message.contains("cannot be marked"), "{}", message);
            return Ok(());
        }
        let outcome = result.expect("worst-first runs");
        prop_assert_eq!(&outcome.refused, &refused);
        let r = refused.len();
        let starts = usize::from(r > 0);
        prop_assert!(outcome.checks.len() <= 1 + starts + (c - r).div_ceil(top_k));
        if r > 0 {
            // The unmarked plan failed to build; the next check marks exactly the refused
            // layers; every later one marks them too; the user was told.
            prop_assert!(outcome.checks[0].marked.is_empty());
            prop_assert!(outcome.checks[0].build_error.is_some());
            prop_assert_eq!(&outcome.checks[1].marked, &set(&spec, &refused));
            let start = set(&spec, &refused);
            prop_assert!(outcome.checks[1..].iter().all(|i| start.is_subset(&i.marked)));
            prop_assert!(
                notes.0.iter().any(|n| n.contains("starting from the plan with exactly those marked")),
                "{:?}", notes.0
            );
        }
        let markable_set = set(&spec, &markable);
        for check in &outcome.checks {
            prop_assert!(check.marked.is_subset(&markable_set), "marked {:?}", check.marked);
            let expected = expected_check(&spec, lowest, Precision::Float32, &check.marked.to_vec(), atol);
            prop_assert_eq!(check.passed, expected.passes, "marked {:?}", check.marked);
        }
        if let Some(answer) = &outcome.answer {
            prop_assert!(expected_check(&spec, lowest, Precision::Float32, &answer.to_vec(), atol).passes);
            prop_assert!(outcome.checks.last().is_some_and(|i| i.passed && &i.marked == answer));
        } else {
            prop_assert!(outcome.checks.iter().all(|i| !i.passed));
            let all = expected_check(&spec, lowest, Precision::Float32, &markable, atol);
            prop_assert!(!all.passes, "marking every markable layer passes, but worst-first found nothing");
        }
    }

    /// The independent oracle and `BackendOracle` with the real comparator agree on random
    /// plans, with the expectation computed from the semantics.
    #[test]
    fn oracles_agree_with_the_independent_computation(
        spec in specs(150),
        marks in proptest::collection::vec(any::<bool>(), 150),
        target in 0.0f64..=1.0,
    ) {
        let atol = tolerance(&spec, Precision::Int8, Direction::Forward, target, false);
        let marked: Vec<usize> = (0..spec.layers.len()).filter(|&i| marks[i]).collect();
        let expected = expected_check(&spec, Precision::Int8, Precision::Float32, &marked, atol);
        let mut simple = AtolOracle::new(backend(&spec), vec![Precision::Int8], Precision::Float32, atol).unwrap();
        let mut real = oracle(&spec, Precision::Int8, atol);
        let a = simple.evaluate(&set(&spec, &marked), OutputSelection::NetworkOutputs).unwrap();
        let b = real.evaluate(&set(&spec, &marked), OutputSelection::NetworkOutputs).unwrap();
        prop_assert_eq!(a.passed, expected.passes);
        prop_assert_eq!(b.passed, expected.passes);
        prop_assert_eq!(a.build_error.is_some(), !expected.builds);
        prop_assert_eq!(b.build_error.is_some(), !expected.builds);
        if expected.builds {
            let max_a = a.outputs.iter().map(|o| o.max_absdiff).fold(0.0, f64::max);
            let max_b = b.outputs.iter().map(|o| o.max_absdiff).fold(0.0, f64::max);
            prop_assert_eq!(max_a, f64::from(expected.max_absdiff));
            prop_assert_eq!(max_b, f64::from(expected.max_absdiff));
        }
    }
}

/// A chain where one layer adds all the error: every search marks it (and only what it
/// must), and worst-first finds it in one growing step.
const ONE_BAD_LAYER: &str = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [1, 8]
[[layers]]
name = "a"
[[layers]]
name = "b"
[[layers]]
name = "bad"
error = { int8 = 0.5 }
[[layers]]
name = "d"
error = { int8 = 0.001 }
[[layers]]
name = "e"
"#;

#[test]
fn searches_on_a_hand_made_chain() {
    let spec = MockSpec::from_toml_str(ONE_BAD_LAYER, "one_bad").unwrap();
    // atol 0.01: layer `bad` must be marked; `d` alone (0.001) is tolerated.
    let atol = 0.01;
    let mut o = oracle(&spec, Precision::Int8, atol);
    let forward = search(&mut o, Algorithm::Bisect, Direction::Forward, 5);
    assert_eq!(forward.answer, Some(set(&spec, &[0, 1, 2])));
    let reverse = search(&mut o, Algorithm::Linear, Direction::Reverse, 5);
    assert_eq!(reverse.answer, Some(set(&spec, &[2, 3, 4])));
    assert_eq!(reverse.checks.len(), 4);
    let mut o = oracle(&spec, Precision::Int8, atol);
    let worst = search(&mut o, Algorithm::WorstFirst, Direction::Reverse, 1);
    assert_eq!(worst.answer, Some(set(&spec, &[2])));
    assert_eq!(worst.checks.len(), 2, "one check with nothing marked, one with `bad`");
    // atol 0: every layer with error must be marked, which bisect finds as the whole chain
    // up to `d`.
    let mut o = oracle(&spec, Precision::Int8, 0.0);
    let forward = search(&mut o, Algorithm::Bisect, Direction::Forward, 5);
    assert_eq!(forward.answer, Some(set(&spec, &[0, 1, 2, 3])));
}

#[test]
fn worst_first_handles_zero_error() {
    // No layer injects error: the first check (nothing marked) passes.
    let text =
        ONE_BAD_LAYER.replace("error = { int8 = 0.5 }", "").replace("error = { int8 = 0.001 }", "");
    let spec = MockSpec::from_toml_str(&text, "exact").unwrap();
    for algorithm in [Algorithm::WorstFirst, Algorithm::Bisect, Algorithm::Linear] {
        let mut o = oracle(&spec, Precision::Int8, 0.0);
        let outcome = search(&mut o, algorithm, Direction::Forward, 2);
        assert_eq!(outcome.answer, Some(LayerSet::empty(5)), "{algorithm}");
        assert_eq!(outcome.checks.len(), 1, "{algorithm}");
    }
    // Zero error before the first bad layer (a 0/0 ratio in the original tool) and at the
    // network output after marking: worst-first still ranks `bad` first.
    let spec = MockSpec::from_toml_str(ONE_BAD_LAYER, "one_bad").unwrap();
    let mut o = oracle(&spec, Precision::Int8, 0.0);
    let outcome = search(&mut o, Algorithm::WorstFirst, Direction::Reverse, 1);
    assert_eq!(outcome.answer, Some(set(&spec, &[2, 3])));
    assert_eq!(outcome.checks.len(), 3);
}

#[test]
fn worst_first_never_marks_unmarkable_layers() {
    let text =
        ONE_BAD_LAYER.replace("error = { int8 = 0.5 }", "error = { int8 = 0.5 }\nmarkable = false");
    let spec = MockSpec::from_toml_str(&text, "stuck").unwrap();
    let mut o = oracle(&spec, Precision::Int8, 0.01);
    let outcome = search(&mut o, Algorithm::WorstFirst, Direction::Reverse, 1);
    assert_eq!(outcome.answer, None, "the only bad layer cannot be marked");
    assert!(outcome.checks.iter().all(|i| !i.marked.contains(2)));
    assert!(outcome.checks.len() <= 1 + 4);
    // Bisect and linear agree that nothing passes.
    for algorithm in [Algorithm::Bisect, Algorithm::Linear] {
        let mut o = oracle(&spec, Precision::Int8, 0.01);
        assert_eq!(search(&mut o, algorithm, Direction::Forward, 1).answer, None);
    }
}

#[test]
fn build_failures_are_failed_checks() {
    // Layer `b` has no int8 implementation: every plan leaving it in int8 fails to build.
    let text = ONE_BAD_LAYER.replace("name = \"b\"", "name = \"b\"\nunsupported = [\"int8\"]");
    let spec = MockSpec::from_toml_str(&text, "picky").unwrap();
    let atol = 1.0; // every plan that builds passes
    let mut o = oracle(&spec, Precision::Int8, atol);
    let linear = search(&mut o, Algorithm::Linear, Direction::Forward, 5);
    assert_eq!(linear.answer, Some(set(&spec, &[0, 1])));
    assert_eq!(linear.checks.len(), 3);
    for failed in &linear.checks[..2] {
        assert!(!failed.passed);
        let error = failed.build_error.as_deref().expect("a build error");
        assert!(error.contains("layer 'b'") && error.contains("int8"), "{error}");
    }
    let mut o = oracle(&spec, Precision::Int8, atol);
    let bisect = search(&mut o, Algorithm::Bisect, Direction::Reverse, 5);
    assert_eq!(bisect.answer, Some(set(&spec, &[1, 2, 3, 4])));
    // Worst-first starts from the plan with `b` marked (the builder names it), says so,
    // and ranks the rest: with every buildable plan passing, that plan is the answer.
    let mut o = oracle(&spec, Precision::Int8, atol);
    let options = SearchOptions {
        algorithm: Algorithm::WorstFirst,
        direction: Direction::Reverse,
        top_k: 2,
        ..SearchOptions::default()
    };
    let mut notes = Notes::default();
    let outcome = run_search(&mut o, &options, &mut notes).expect("worst-first runs");
    assert_eq!(outcome.answer, Some(set(&spec, &[1])));
    assert_eq!(outcome.refused, vec![1]);
    assert_eq!(outcome.checks.len(), 2);
    assert!(outcome.checks[0].build_error.as_deref().is_some_and(|e| e.contains("layer 'b'")));
    assert!(
        notes.0.iter().any(|n| n.contains("the builder refuses 'b' in the lower precision")
            && n.contains("starting from the plan with exactly those marked")),
        "{:?}",
        notes.0
    );
    // The report lists the refused layer.
    let report = Report::new(
        "precision test".into(),
        "picky.toml".into(),
        "mock".into(),
        o.network(),
        &[Precision::Int8],
        Precision::Float32,
        &outcome,
    );
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].name, "b");
    // With a tighter tolerance, worst-first ranks the other layers and adds the worst to `b`.
    let mut o = oracle(&spec, Precision::Int8, 0.01);
    let outcome = run_search(&mut o, &options, &mut NoObserver).expect("worst-first runs");
    assert_eq!(outcome.refused, vec![1]);
    let answer = outcome.answer.expect("marking `b` and `bad` passes");
    assert!(answer.contains(1) && answer.contains(2), "{answer:?}");
    // Ranked starts from `b` too.
    let mut o = oracle(&spec, Precision::Int8, 0.01);
    let ranked = SearchOptions::new(Algorithm::Ranked);
    let outcome = run_search(&mut o, &ranked, &mut NoObserver).expect("ranked runs");
    assert_eq!(outcome.refused, vec![1]);
    assert_eq!(outcome.answer, Some(set(&spec, &[1, 2])));
    // A refused layer that cannot be marked: the search stops with a clear error naming it.
    let stuck =
        text.replace("unsupported = [\"int8\"]", "unsupported = [\"int8\"]\nmarkable = false");
    let stuck = MockSpec::from_toml_str(&stuck, "stuck").unwrap();
    let mut o = oracle(&stuck, Precision::Int8, atol);
    let result = run_search(&mut o, &options, &mut NoObserver);
    let Err(SearchError::Unsupported(message)) = &result else {
        panic!("expected a clear error, got {result:?}");
    };
    assert!(message.contains("'b'") && message.contains("cannot be marked"), "{message}");
    assert!(message.contains("use bisect or linear instead"), "{message}");
    // With float16 lowered instead, `b` builds unmarked.
    let mut o = oracle(&spec, Precision::Float16, atol);
    assert_eq!(
        search(&mut o, Algorithm::Linear, Direction::Forward, 5).answer,
        Some(LayerSet::empty(5))
    );
}

#[test]
fn worst_first_counts_build_failures_as_failed_checks() {
    // `a` adds the most error but cannot be built in float16, the higher precision (the
    // float32 reference still builds).
    let text = r#"
noise = "constant"
[[inputs]]
name = "x"
shape = [4]
[[layers]]
name = "a"
error = { int8 = 0.5 }
unsupported = ["fp16"]
[[layers]]
name = "b"
error = { int8 = 0.4 }
"#;
    let spec = MockSpec::from_toml_str(text, "no_fp32").unwrap();
    let mut o = oracle_with(&spec, Precision::Int8, Precision::Float16, 0.45);
    let outcome = search(&mut o, Algorithm::WorstFirst, Direction::Reverse, 1);
    assert_eq!(outcome.answer, None);
    assert_eq!(outcome.checks.len(), 3);
    assert!(outcome.checks[0].build_error.is_none());
    for failed in &outcome.checks[1..] {
        assert!(!failed.passed);
        assert!(failed.build_error.as_deref().is_some_and(|e| e.contains("float16")), "{failed:?}");
    }
    assert_eq!(outcome.checks[1].marked, set(&spec, &[0]));
    // Linear counts it as a failed check too: marking `b` alone leaves `a`'s 0.5 error, and
    // marking both cannot be built, so nothing passes.
    let mut o = oracle_with(&spec, Precision::Int8, Precision::Float16, 0.45);
    let linear = search(&mut o, Algorithm::Linear, Direction::Reverse, 1);
    assert_eq!(linear.answer, None);
    let passed: Vec<bool> = linear.checks.iter().map(|i| i.passed).collect();
    let built: Vec<bool> = linear.checks.iter().map(|i| i.build_error.is_none()).collect();
    assert_eq!((passed, built), (vec![false; 3], vec![true, true, false]));
}
