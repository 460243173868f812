//! INT8 calibration: method parsing, the range collectors on known distributions, and the
//! TensorRT calibration cache format (round trips, the documented example, every error).

use indexmap::IndexMap;
use precision_core::calibration::HISTOGRAM_BINS;
use precision_core::{
    CacheParseError, CalibrationCache, CalibrationError, CalibrationMethod, DEFAULT_TRT_VERSION,
    RangeCollector, amax_from_scale, scale_from_amax,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Runs both passes over `batches` and returns the collector.
fn calibrate(method: CalibrationMethod, batches: &[Vec<f32>]) -> RangeCollector {
    let mut collector = RangeCollector::new("t", method);
    for batch in batches {
        collector.observe_max(batch).unwrap();
    }
    if collector.needs_histogram() {
        for batch in batches {
            collector.observe_histogram(batch).unwrap();
        }
    }
    collector
}

/// `n` standard normal samples (Box-Muller), from a fixed seed.
fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
            let u2: f64 = rng.random();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Methods

#[test]
fn methods_parse_and_display() {
    for (text, want) in [
        ("max", CalibrationMethod::Max),
        ("entropy", CalibrationMethod::Entropy),
        ("Entropy", CalibrationMethod::Entropy),
        ("percentile", CalibrationMethod::Percentile(99.99)),
        ("percentile:99.9", CalibrationMethod::Percentile(99.9)),
        ("percentile:100", CalibrationMethod::Percentile(100.0)),
        ("percentile:0.5", CalibrationMethod::Percentile(0.5)),
    ] {
        let got: CalibrationMethod = text.parse().unwrap();
        assert_eq!(got, want, "{text}");
        assert_eq!(got.to_string().parse::<CalibrationMethod>().unwrap(), want, "{text}");
    }
    assert_eq!(CalibrationMethod::Percentile(99.9).to_string(), "percentile:99.9");
    assert_eq!(CalibrationMethod::Max.to_string(), "max");
    assert_eq!(CalibrationMethod::default(), CalibrationMethod::Entropy);
}

#[test]
fn bad_methods_say_what_is_accepted() {
    for text in ["minmax", "", "percentile99", "entropy:2"] {
        let err = text.parse::<CalibrationMethod>().unwrap_err();
        assert_eq!(err, CalibrationError::UnknownMethod(text.to_owned()));
        let message = err.to_string();
        for form in ["max", "entropy", "percentile", "percentile:<p>"] {
            assert!(message.contains(form), "{message}");
        }
    }
    for text in ["percentile:0", "percentile:100.1", "percentile:-5", "percentile:x", "percentile:"]
    {
        let err = text.parse::<CalibrationMethod>().unwrap_err();
        assert!(matches!(err, CalibrationError::BadPercentile(_)), "{text}: {err:?}");
        assert!(err.to_string().contains("0 < p <= 100"), "{err}");
    }
    assert!(CalibrationMethod::percentile(f64::NAN).is_err());
    assert_eq!(CalibrationMethod::percentile(50.0), Ok(CalibrationMethod::Percentile(50.0)));
}

#[test]
fn methods_name_their_tensorrt_algorithm() {
    assert_eq!(CalibrationMethod::Max.trt_algorithm(), "MinMaxCalibration");
    assert_eq!(CalibrationMethod::Entropy.trt_algorithm(), "EntropyCalibration2");
    assert_eq!(CalibrationMethod::Percentile(99.0).trt_algorithm(), "LegacyCalibration");
    for method in [CalibrationMethod::Max, CalibrationMethod::Entropy] {
        assert_eq!(CalibrationMethod::from_trt_algorithm(method.trt_algorithm()), Some(method));
    }
    assert_eq!(CalibrationMethod::from_trt_algorithm("EntropyCalibration"), None);
}

// ---------------------------------------------------------------------------------------------
// Collectors

#[test]
fn max_is_the_exact_max_abs_across_batches() {
    let batches = vec![vec![0.5, -1.25, 3.0], vec![], vec![-7.375, 2.0], vec![1e-3; 17]];
    for method in
        [CalibrationMethod::Max, CalibrationMethod::Entropy, CalibrationMethod::Percentile(99.0)]
    {
        let collector = calibrate(method, &batches);
        assert_eq!(collector.max_abs(), 7.375, "{method}");
    }
    let collector = calibrate(CalibrationMethod::Max, &batches);
    assert!(!collector.needs_histogram());
    assert_eq!(collector.amax(), 7.375);
}

#[test]
fn percentile_of_an_even_ramp() {
    // 0, 1, ..., 9999: the 99th percentile is 9900, bins are 9999 / 2048 wide.
    let values: Vec<f32> = (0..10_000).map(|v| v as f32).collect();
    let batches: Vec<Vec<f32>> = values.chunks(1000).map(<[f32]>::to_vec).collect();
    let width = 9999.0 / HISTOGRAM_BINS as f32;
    for (percentile, want) in [(99.0, 9900.0), (50.0, 5000.0), (10.0, 1000.0)] {
        let collector = calibrate(CalibrationMethod::Percentile(percentile), &batches);
        let amax = collector.amax();
        // The upper edge of the bin where the count is reached: at or just above `want`.
        assert!(amax >= want - 1.0 && amax <= want + width, "p{percentile}: {amax}");
    }
    let collector = calibrate(CalibrationMethod::Percentile(100.0), &batches);
    assert_eq!(collector.amax(), 9999.0);
}

#[test]
fn entropy_of_uniform_data_is_near_the_max() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let batches: Vec<Vec<f32>> =
        (0..4).map(|_| (0..250_000).map(|_| rng.random_range(-4.0f32..4.0)).collect()).collect();
    let collector = calibrate(CalibrationMethod::Entropy, &batches);
    let (amax, max) = (collector.amax(), collector.max_abs());
    assert!(amax <= max && amax >= 0.97 * max, "amax {amax}, max {max}");
}

#[test]
fn entropy_of_a_gaussian_ignores_outliers() {
    // One million N(0, 1) samples plus five outliers at 50 sigma: the maximum is 50, but
    // the entropy range stays a few sigma wide.
    let mut values = gaussian(1_000_000, 42);
    values.extend([50.0, -49.0, 48.5, 47.0, -50.0]);
    let batches: Vec<Vec<f32>> = values.chunks(100_000).map(<[f32]>::to_vec).collect();
    let collector = calibrate(CalibrationMethod::Entropy, &batches);
    let (amax, max) = (collector.amax(), collector.max_abs());
    assert_eq!(max, 50.0);
    assert!((3.0..=8.0).contains(&amax), "amax {amax}");
    // Max keeps the outliers; a high percentile sits between the two.
    assert_eq!(calibrate(CalibrationMethod::Max, &batches).amax(), 50.0);
    let p = calibrate(CalibrationMethod::Percentile(99.99), &batches).amax();
    assert!((3.5..=5.0).contains(&p), "percentile {p}");
}

#[test]
fn all_zero_tensors_have_range_zero_and_scale_of_one() {
    for method in
        [CalibrationMethod::Max, CalibrationMethod::Entropy, CalibrationMethod::Percentile(99.99)]
    {
        let collector = calibrate(method, &[vec![0.0; 100], vec![-0.0; 3]]);
        assert!(!collector.needs_histogram(), "{method}");
        assert_eq!(collector.amax(), 0.0, "{method}");
        assert_eq!(RangeCollector::new("t", method).amax(), 0.0, "{method}: nothing observed");
    }
    assert_eq!(scale_from_amax(0.0), 1.0 / 127.0);
    assert_eq!(scale_from_amax(127.0), 1.0);
    assert_eq!(amax_from_scale(scale_from_amax(2.5)), 2.5);
}

#[test]
fn non_finite_values_are_rejected_with_the_tensor_and_count() {
    let mut collector = RangeCollector::new("conv1/out", CalibrationMethod::Entropy);
    let err = collector.observe_max(&[1.0, f32::NAN, f32::INFINITY, 2.0]).unwrap_err();
    assert_eq!(err, CalibrationError::NonFinite { tensor: "conv1/out".into(), count: 2 });
    assert!(err.to_string().contains("conv1/out"), "{err}");
    assert_eq!(collector.max_abs(), 2.0, "finite values still count");
    let err = collector.observe_histogram(&[f32::NEG_INFINITY]).unwrap_err();
    assert_eq!(err, CalibrationError::NonFinite { tensor: "conv1/out".into(), count: 1 });
    // Max has no second pass but still rejects them.
    let mut collector = RangeCollector::new("x", CalibrationMethod::Max);
    assert!(collector.observe_histogram(&[f32::NAN]).is_err());
}

#[test]
fn maximum_after_histogram_is_an_error() {
    let mut collector = RangeCollector::new("x", CalibrationMethod::Entropy);
    collector.observe_max(&[1.0]).unwrap();
    collector.observe_histogram(&[1.0]).unwrap();
    let err = collector.observe_max(&[3.0]).unwrap_err();
    assert_eq!(err, CalibrationError::HistogramStarted { tensor: "x".into() });
    assert_eq!(collector.max_abs(), 1.0);
}

#[test]
fn histogram_methods_without_pass_two_fall_back_to_max() {
    let mut collector = RangeCollector::new("x", CalibrationMethod::Percentile(50.0));
    collector.observe_max(&[1.0, -4.0]).unwrap();
    assert!(collector.needs_histogram());
    assert_eq!(collector.amax(), 4.0);
}

// ---------------------------------------------------------------------------------------------
// Cache format

#[test]
fn parses_the_documented_example() {
    let cache = CalibrationCache::parse(
        "TRT-100300-EntropyCalibration2\r\ndata: 3c008912\r\n\
         (Unnamed Layer* 8) [Constant]_output: 3c010204\r\n/conv/Conv_output_0: 3d4ccccd\r\n",
    )
    .unwrap();
    assert_eq!(cache.trt_version, 100_300);
    assert_eq!(cache.algorithm, "EntropyCalibration2");
    let names: Vec<&str> = cache.scales.keys().map(String::as_str).collect();
    assert_eq!(names, ["data", "(Unnamed Layer* 8) [Constant]_output", "/conv/Conv_output_0"]);
    let scale = cache.scales["data"];
    assert_eq!(scale.to_bits(), 0x3c00_8912);
    assert!((scale - 0.007_845_2).abs() < 1e-7, "{scale}");
    assert!((cache.amax("data").unwrap() - 0.996_34).abs() < 1e-5);
    assert_eq!(cache.amax("missing"), None);
}

#[test]
fn writes_header_first_in_order_with_lowercase_hex() {
    let mut cache = CalibrationCache::new(CalibrationMethod::Max);
    cache.scales.insert("z: last/one".into(), f32::from_bits(0x3C00_8912));
    cache.scales.insert("a".into(), 0.0);
    assert_eq!(
        cache.to_text(),
        "TRT-101600-MinMaxCalibration\nz: last/one: 3c008912\na: 00000000\n"
    );
    assert_eq!(cache.to_string(), cache.to_text());
    let old = CalibrationCache::parse("TRT-8502-MinMaxCalibration\n").unwrap();
    assert_eq!((old.trt_version, old.scales.len()), (8502, 0));
    assert_eq!(DEFAULT_TRT_VERSION, 101_600);
}

#[test]
fn splits_at_the_last_colon_space() {
    let cache =
        CalibrationCache::parse("TRT-1-X\na: b: c:: 3f800000\n\n   \nd :e: 40000000").unwrap();
    assert_eq!(cache.scales["a: b: c:"], 1.0);
    assert_eq!(cache.scales["d :e"], 2.0);
}

/// Each malformed line and the error it gives, with its line number.
#[test]
fn every_error_names_its_line() {
    let header = "TRT-100300-EntropyCalibration2\n";
    let cases: Vec<(String, usize, &str)> = vec![
        (String::new(), 1, "expected a header like 'TRT-100300-EntropyCalibration2'"),
        ("data: 3c008912\n".into(), 1, "found 'data: 3c008912'"),
        ("TRT-10a-Entropy\n".into(), 1, "TRT-<version digits>-<algorithm>"),
        ("TRT-100300-\n".into(), 1, "TRT-<version digits>-<algorithm>"),
        ("TRT-99999999999-X\n".into(), 1, "TRT-<version digits>-<algorithm>"),
        (
            format!("{header}a: 3c008912\nb 3c008912\n"),
            3,
            "expected '<tensor name>: <8 hex digits>'",
        ),
        (format!("{header}\n\nb:3c008912\n"), 4, "found 'b:3c008912'"),
        (format!("{header}: 3c008912\n"), 2, "the tensor name is empty"),
        (format!("{header}a: 3c00891\n"), 2, "must be exactly 8 hex digits"),
        (format!("{header}a: 3c0089123\n"), 2, "found '3c0089123'"),
        (format!("{header}a: 3c00891g\n"), 2, "must be exactly 8 hex digits"),
        (format!("{header}a: +c008912\n"), 2, "must be exactly 8 hex digits"),
        (format!("{header}a: 7fc00000\n"), 2, "is NaN"),
        (format!("{header}a: 7f800000\n"), 2, "is inf"),
        (format!("{header}a: bf800000\n"), 2, "is -1"),
        (
            format!("{header}a: 3c008912\r\nb: 3c008912\r\na: 3c008912\r\n"),
            4,
            "already has a scale on line 2",
        ),
    ];
    for (text, line, fragment) in cases {
        let err = CalibrationCache::parse(&text).unwrap_err();
        assert_eq!(err.line(), line, "{text:?}: {err}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("calibration cache line {line}:")), "{message}");
        assert!(message.contains(fragment), "{text:?}: {message}");
        if !matches!(err, CacheParseError::Duplicate { .. }) {
            assert!(message.contains("3c008912"), "shows a valid line: {message}");
        }
    }
}

#[test]
fn error_variants_carry_their_fields() {
    let err = CalibrationCache::parse("TRT-1-X\nx: ffffffff").unwrap_err();
    assert!(
        matches!(&err, CacheParseError::BadScale { line: 2, tensor, hex, scale }
            if tensor == "x" && hex == "ffffffff" && scale.is_nan()),
        "{err:?}"
    );
    let err = CalibrationCache::parse("TRT-1-X\nx: 00000000\ny: 1\nx: 00000001").unwrap_err();
    assert!(matches!(err, CacheParseError::BadHex { line: 3, .. }), "{err:?}");
    let err = CalibrationCache::parse("TRT-1-X\nx: 00000000\nx: 00000001").unwrap_err();
    assert_eq!(err, CacheParseError::Duplicate { line: 3, first: 2, tensor: "x".into() });
}

#[test]
fn long_lines_are_shortened_in_errors() {
    let text = format!("TRT-1-X\n{}", "n".repeat(10_000));
    let message = CalibrationCache::parse(&text).unwrap_err().to_string();
    assert!(message.len() < 400, "{} bytes", message.len());
}

#[test]
fn algorithm_mismatch_says_what_was_found_needed_and_the_fix() {
    let cache = CalibrationCache::new(CalibrationMethod::Entropy);
    assert_eq!(cache.check_method(CalibrationMethod::Entropy), Ok(()));
    let err = cache.check_method(CalibrationMethod::Max).unwrap_err();
    assert_eq!(
        err,
        CalibrationError::AlgorithmMismatch {
            found: "EntropyCalibration2".into(),
            method: CalibrationMethod::Max
        }
    );
    assert_eq!(
        err.to_string(),
        "the calibration cache was written by EntropyCalibration2, but --calibration max needs \
         MinMaxCalibration: delete the cache to recalibrate, or pass --calibration entropy"
    );
    let mut legacy = CalibrationCache::new(CalibrationMethod::Percentile(99.0));
    assert_eq!(legacy.check_method(CalibrationMethod::Percentile(99.9)), Ok(()));
    legacy.algorithm = "EntropyCalibration".into();
    let message = legacy.check_method(CalibrationMethod::Entropy).unwrap_err().to_string();
    assert!(
        message.ends_with("needs EntropyCalibration2: delete the cache to recalibrate"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Tensor names as ONNX exporters write them, plus `": "`, spaces, `/` and arbitrary
/// characters other than line breaks.
fn tensor_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_/.:() \\[\\]*-]{1,40}",
        "[^\r\n]{1,20}",
        "[a-z]{1,5}(: [a-z0-9]{0,8}){1,3}:?",
    ]
}

/// Every finite non-negative f32 bit pattern, subnormals and zero included.
fn scale() -> impl Strategy<Value = f32> {
    (0u32..0x7f80_0000).prop_map(f32::from_bits)
}

/// Any character, often one that matters to the format.
fn edit_char() -> impl Strategy<Value = char> {
    prop_oneof![
        any::<char>(),
        prop::sample::select(vec!['\n', '\r', ':', ' ', '-', '0', 'f', 'T', '\u{feff}']),
    ]
}

fn cache() -> impl Strategy<Value = CalibrationCache> {
    (any::<u32>(), "[A-Za-z0-9]{1,24}", proptest::collection::vec((tensor_name(), scale()), 0..20))
        .prop_map(|(trt_version, algorithm, entries)| CalibrationCache {
            trt_version,
            algorithm,
            scales: entries.into_iter().collect::<IndexMap<_, _>>(),
        })
}

proptest! {
    #[test]
    fn format_parse_round_trip_is_bit_exact(cache in cache()) {
        let text = cache.to_text();
        let parsed = CalibrationCache::parse(&text).unwrap();
        prop_assert_eq!(parsed.trt_version, cache.trt_version);
        prop_assert_eq!(&parsed.algorithm, &cache.algorithm);
        let bits = |c: &CalibrationCache| -> Vec<(String, u32)> {
            c.scales.iter().map(|(n, s)| (n.clone(), s.to_bits())).collect()
        };
        let (got, want) = (bits(&parsed), bits(&cache));
        prop_assert_eq!(got, want);
        prop_assert_eq!(CalibrationCache::parse(&text.replace('\n', "\r\n")).unwrap(), parsed);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "(?s).{0,300}") {
        let _ = CalibrationCache::parse(&text);
        // Also past the header, where the entry lines are parsed.
        let _ = CalibrationCache::parse(&format!("TRT-100300-EntropyCalibration2\n{text}"));
    }

    #[test]
    fn parse_never_panics_on_mutated_caches(
        cache in cache(),
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), edit_char(), 0u8..3),
            1..8,
        ),
    ) {
        let mut chars: Vec<char> = cache.to_text().chars().collect();
        for (at, c, op) in edits {
            let i = at.index(chars.len() + 1);
            match op {
                0 => chars.insert(i, c),
                1 if i < chars.len() => { chars.remove(i); }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        let text: String = chars.into_iter().collect();
        if let Err(err) = CalibrationCache::parse(&text) {
            // The reported line exists.
            prop_assert!(err.line() >= 1 && err.line() <= text.split('\n').count().max(1));
        }
    }

    #[test]
    fn max_is_exact_for_any_batches(
        batches in proptest::collection::vec(
            proptest::collection::vec(-1e30f32..1e30, 0..50),
            0..6,
        ),
    ) {
        let want = batches.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        let collector = calibrate(CalibrationMethod::Max, &batches);
        prop_assert_eq!(collector.amax(), want);
        // The histogram methods choose a bin edge within (0, max].
        for method in [CalibrationMethod::Entropy, CalibrationMethod::Percentile(99.0)] {
            let amax = calibrate(method, &batches).amax();
            prop_assert!(amax <= want && (amax > 0.0 || want == 0.0), "{} {}", method, amax);
        }
    }
}
