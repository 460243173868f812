//! Headroom: at least 1 exactly when the comparison passes (every function, every statistic,
//! special values included), and `--margin F` verdicts imply headroom of at least 1/F.

use ndarray::{ArrayD, IxDyn};
use precision_core::{CompareConfig, CompareFunc, ErrorStat, PerOutput, Tensor, compare_tensors};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
}

/// A float32 value: mostly ordinary, sometimes 0, NaN or an infinity.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -4.0f32..4.0,
        1 => Just(0.0f32),
        1 => prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
    ]
}

/// Golden values and an actual output close to them (small noise, sometimes exact).
fn pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (1usize..40).prop_flat_map(|n| {
        (
            proptest::collection::vec(value(), n),
            proptest::collection::vec(prop_oneof![3 => Just(0.0f32), 5 => -0.1f32..0.1], n),
        )
            .prop_map(|(golden, noise)| {
                let actual = golden.iter().zip(&noise).map(|(g, e)| g + e).collect();
                (actual, golden)
            })
    })
}

fn tensor(v: &[f32]) -> Tensor {
    ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).expect("1-d").into()
}

fn stat() -> impl Strategy<Value = ErrorStat> {
    prop_oneof![
        Just(ErrorStat::Elemwise),
        Just(ErrorStat::Max),
        Just(ErrorStat::Mean),
        Just(ErrorStat::Median),
        Just(ErrorStat::Quantile),
    ]
}

fn function() -> impl Strategy<Value = CompareFunc> {
    prop_oneof![
        Just(CompareFunc::Simple),
        Just(CompareFunc::Indices),
        Just(CompareFunc::L2),
        Just(CompareFunc::CosineSimilarity),
        Just(CompareFunc::Psnr),
        Just(CompareFunc::Snr),
    ]
}

/// Settings for `function` with thresholds near where the verdict flips.
fn config(function: CompareFunc, stat: ErrorStat, t: f64, margin: f64) -> CompareConfig {
    CompareConfig {
        functions: vec![function],
        atol: PerOutput::uniform(t * 0.1),
        rtol: PerOutput::uniform(t),
        check_error_stat: PerOutput::uniform(stat),
        index_tolerance: PerOutput::uniform((t * 10.0) as u64),
        l2_threshold: PerOutput::uniform(t),
        cosine_similarity_threshold: PerOutput::uniform(1.0 - t * 1e-2),
        psnr_threshold: PerOutput::uniform(t * 60.0),
        snr_threshold: PerOutput::uniform(t * 40.0),
        margin,
        ..CompareConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// `headroom >= 1` iff the output passes, per function and for the output.
    #[test]
    fn headroom_at_least_one_iff_the_check_passes(
        (actual, golden) in pair(),
        function in function(),
        stat in stat(),
        t in 0.0f64..1.0,
    ) {
        let r = compare_tensors("out", &tensor(&actual), &tensor(&golden), &config(function, stat, t, 1.0));
        prop_assert_eq!(r.headroom >= 1.0, r.passed, "{:?}", r);
        for m in &r.metrics {
            prop_assert_eq!(m.headroom >= 1.0, m.passed, "{:?}", m);
            prop_assert!(!m.headroom.is_nan());
        }
    }

    /// What passes under `--margin F` has headroom of at least 1/F (up to rounding), and
    /// passes without the margin.
    #[test]
    fn margin_verdicts_imply_headroom(
        (actual, golden) in pair(),
        function in function(),
        stat in stat(),
        t in 0.0f64..1.0,
        margin in 0.05f64..1.0,
    ) {
        let (a, g) = (tensor(&actual), tensor(&golden));
        let strict = compare_tensors("out", &a, &g, &config(function, stat, t, margin));
        let plain = compare_tensors("out", &a, &g, &config(function, stat, t, 1.0));
        if strict.passed {
            prop_assert!(plain.passed, "passes with the margin but not without: {:?}", plain);
            if function == CompareFunc::Indices {
                // floor(F x tolerance) can be well below F x tolerance.
                prop_assert!(strict.headroom >= 1.0);
            } else {
                prop_assert!(
                    strict.headroom >= (1.0 / margin) * (1.0 - 1e-6),
                    "headroom {} < 1/{margin}: {:?}", strict.headroom, strict
                );
            }
        }
        prop_assert_eq!(strict.headroom, plain.headroom, "headroom is against the user's tolerance");
    }
}

#[test]
fn headroom_of_simple_statistics_and_elements() {
    let golden = tensor(&[1.0, 2.0, 4.0, 8.0]);
    let actual = tensor(&[1.5, 2.5, 4.5, 9.0]);
    // absdiff 0.5 0.5 0.5 1.0; reldiff 0.5 0.25 0.125 0.125.
    let mut c = CompareConfig {
        atol: PerOutput::uniform(2.0),
        rtol: PerOutput::uniform(0.0),
        check_error_stat: PerOutput::uniform(ErrorStat::Max),
        ..CompareConfig::default()
    };
    let r = compare_tensors("out", &actual, &golden, &c);
    assert_eq!(r.headroom, 2.0, "atol / max absdiff");
    c.check_error_stat = PerOutput::uniform(ErrorStat::Mean);
    assert_eq!(compare_tensors("out", &actual, &golden, &c).headroom, 2.0 / 0.625);
    // rtol 0 and atol 0: only the other counts; both 0 with an error: 0.
    c.atol = PerOutput::uniform(0.0);
    c.rtol = PerOutput::uniform(0.5);
    assert_eq!(compare_tensors("out", &actual, &golden, &c).headroom, 2.0, "rtol / mean reldiff");
    c.rtol = PerOutput::uniform(0.0);
    assert_eq!(compare_tensors("out", &actual, &golden, &c).headroom, 0.0);
    // Elemwise: per element the better tolerance, then the worst element. atol 0.5 and rtol
    // 0.125: elements 0-2 pass by atol (ratio 1), element 3 by rtol (ratio 1): headroom 1.
    c.check_error_stat = PerOutput::uniform(ErrorStat::Elemwise);
    c.atol = PerOutput::uniform(0.5);
    c.rtol = PerOutput::uniform(0.125);
    let r = compare_tensors("out", &actual, &golden, &c);
    assert!(r.passed);
    assert_eq!(r.headroom, 1.0);
    // Doubling both doubles it; the maxima alone (atol / 1.0 = 1, rtol / 0.5 = 0.5) would
    // suggest less.
    c.atol = PerOutput::uniform(1.0);
    c.rtol = PerOutput::uniform(0.25);
    assert_eq!(compare_tensors("out", &actual, &golden, &c).headroom, 2.0);
    // An exact match has unlimited headroom; NaN none.
    assert_eq!(compare_tensors("out", &golden, &golden, &c).headroom, f64::INFINITY);
    let nan = tensor(&[f32::NAN, 2.0, 4.0, 8.0]);
    assert_eq!(compare_tensors("out", &nan, &golden, &c).headroom, 0.0);
}
