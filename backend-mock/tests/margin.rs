//! `--margin`: a search that demands an error of at most F times the tolerance keeps at least
//! as many layers as one without, and its answer has headroom of at least 1/F against the
//! user's tolerance; with the other comparison functions too.

use backend_mock::testing::{
    GenOptions, arb_spec, backend_oracle, expected_check, markable_layers, marked_prefix,
};
use backend_mock::{MockBackend, MockSpec};
use precision_core::oracle::BackendOracle;
use precision_core::{
    Algorithm, CompareConfig, CompareFunc, Direction, NoObserver, PerOutput, Precision,
    SearchOptions, SearchOutcome, run_search,
};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
}

fn oracle(spec: &MockSpec, config: CompareConfig) -> BackendOracle<MockBackend> {
    backend_oracle(spec, vec![Precision::Int8], Precision::Float32, config)
}

fn search(spec: &MockSpec, config: CompareConfig, algorithm: Algorithm) -> SearchOutcome {
    let mut oracle = oracle(spec, config);
    let options = SearchOptions {
        algorithm,
        direction: Direction::Reverse,
        noise_floor: true,
        ..SearchOptions::default()
    };
    run_search(&mut oracle, &options, &mut NoObserver).expect("the search runs")
}

/// A tolerance the middle of the reverse prefixes passes.
fn tolerance(spec: &MockSpec, target: f64) -> f64 {
    let c = markable_layers(spec).len();
    let n = ((target * c as f64).round() as usize).min(c);
    let marked = marked_prefix(spec, n, Direction::Reverse);
    f64::from(expected_check(spec, Precision::Int8, Precision::Float32, &marked, 0.0).max_absdiff)
}

/// Checks what --margin promises of one pair of outcomes.
fn check_margin(
    plain: &SearchOutcome,
    strict: &SearchOutcome,
    margin: f64,
    label: &str,
) -> Result<(), TestCaseError> {
    if let Some(answer) = &strict.answer {
        let plain_answer = plain.answer.as_ref();
        prop_assert!(plain_answer.is_some(), "{label}: the margin found an answer, plain did not");
        prop_assert!(
            answer.len() >= plain_answer.map_or(0, precision_core::LayerSet::len),
            "{label}: margin kept {} layers, plain {}",
            answer.len(),
            plain_answer.map_or(0, precision_core::LayerSet::len)
        );
        let check = strict.answer_check().expect("the answer's check is logged");
        for o in &check.outputs {
            prop_assert!(
                o.headroom >= (1.0 / margin) * (1.0 - 1e-9),
                "{label}: output {} has headroom {} < {}",
                o.name,
                o.headroom,
                1.0 / margin
            );
        }
    }
    if let Some(check) = plain.answer_check() {
        for o in &check.outputs {
            prop_assert!(o.headroom >= 1.0, "{label}: a passing answer has headroom >= 1");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// simple (atol) with bisect, linear and ranked: margin 0.5 keeps at least as many layers
    /// (bisect and linear: the prefix error only falls as layers are marked) and its answer
    /// has headroom >= 2.
    #[test]
    fn margin_half_doubles_the_headroom(
        spec in arb_spec(GenOptions { max_layers: 60, ..GenOptions::default() }),
        target in 0.1f64..=0.9,
    ) {
        let atol = tolerance(&spec, target);
        prop_assume!(atol > 0.0);
        let config = CompareConfig {
            atol: PerOutput::uniform(atol),
            rtol: PerOutput::uniform(0.0),
            ..CompareConfig::default()
        };
        let strict_config = CompareConfig { margin: 0.5, ..config.clone() };
        for algorithm in [Algorithm::Bisect, Algorithm::Linear] {
            let plain = search(&spec, config.clone(), algorithm);
            let strict = search(&spec, strict_config.clone(), algorithm);
            check_margin(&plain, &strict, 0.5, &format!("{algorithm:?}"))?;
        }
        // Ranked: headroom only (its pruning need not be monotone in the tolerance).
        let strict = search(&spec, strict_config, Algorithm::Ranked);
        if let Some(check) = strict.answer_check() {
            for o in &check.outputs {
                prop_assert!(o.headroom >= 2.0 * (1.0 - 1e-9), "ranked: headroom {}", o.headroom);
            }
        }
    }

    /// The same with l2 and psnr: the margin is applied in each function's own terms.
    #[test]
    fn margin_applies_to_every_function(
        spec in arb_spec(GenOptions { max_layers: 40, ..GenOptions::default() }),
        target in 0.1f64..=0.9,
        psnr in any::<bool>(),
    ) {
        let atol = tolerance(&spec, target);
        prop_assume!(atol > 0.0);
        // Thresholds from the error at the target prefix, in the function's terms.
        let config = if psnr {
            CompareConfig {
                functions: vec![CompareFunc::Psnr],
                psnr_threshold: PerOutput::uniform(-20.0 * atol.log10()),
                ..CompareConfig::default()
            }
        } else {
            CompareConfig {
                functions: vec![CompareFunc::L2],
                l2_threshold: PerOutput::uniform(atol * 3.0),
                ..CompareConfig::default()
            }
        };
        let strict_config = CompareConfig { margin: 0.5, ..config.clone() };
        let plain = search(&spec, config, Algorithm::Bisect);
        let strict = search(&spec, strict_config, Algorithm::Bisect);
        check_margin(&plain, &strict, 0.5, if psnr { "psnr" } else { "l2" })?;
    }
}
