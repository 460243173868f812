//! INT8 calibration: the range of each activation tensor, and TensorRT's calibration cache.
//!
//! A backend runs the float32 model on calibration inputs and feeds every activation tensor's
//! values to one [`RangeCollector`] per tensor, in two passes over the same batches:
//!
//! 1. [`RangeCollector::observe_max`] on every batch tracks `max |x|`.
//! 2. If [`RangeCollector::needs_histogram`], [`RangeCollector::observe_histogram`] on every
//!    batch again fills [`HISTOGRAM_BINS`] equal bins of `|x|` over `[0, max |x|]`; the
//!    entropy and percentile methods choose their threshold from that histogram.
//!
//! [`RangeCollector::amax`] is then the tensor's dynamic range: INT8 represents
//! `[-amax, amax]` with scale [`scale_from_amax`]`(amax) = amax / 127`.
//!
//! [`CalibrationCache`] reads and writes the text cache TensorRT (10 and earlier) uses, so a
//! calibration can be reused across runs and engines. This module does no file I/O.
//!
//! This module holds the methods, errors and scale arithmetic; `ranges.rs` the range
//! statistics (max, histogram, entropy and percentile thresholds); `cache.rs` TensorRT's cache
//! format.

mod cache;
mod ranges;

pub use cache::{CacheParseError, CalibrationCache};
pub use ranges::RangeCollector;

use std::fmt;
use std::str::FromStr;

/// Number of histogram bins over `[0, max |x|]` (TensorRT's and pytorch-quantization's 2048).
pub const HISTOGRAM_BINS: usize = 2048;

/// Number of non-negative quantized levels the entropy method maps a candidate range onto
/// (128 for signed 8-bit).
pub const QUANTIZED_BINS: usize = 128;

/// The percentile `percentile` alone stands for.
pub const DEFAULT_PERCENTILE: f64 = 99.99;

/// The TensorRT version written in the header of caches we create: 10.16.0, encoded as
/// `major * 10000 + minor * 100 + patch`.
pub const DEFAULT_TRT_VERSION: u32 = 101_600;

/// The largest value of a signed 8-bit quantized tensor; `scale = amax / 127`.
const INT8_MAX: f32 = 127.0;

/// How a tensor's dynamic range is chosen from the calibration data (`--calibration`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum CalibrationMethod {
    /// `amax = max |x|` over all data (TensorRT's `MinMaxCalibration`).
    Max,
    /// The range whose 8-bit quantization loses the least information (KL divergence) about
    /// the histogram of `|x|` (TensorRT's `EntropyCalibration2`, its default).
    #[default]
    Entropy,
    /// `amax` = the given percentile (in `(0, 100]`) of `|x|`, e.g. 99.99.
    Percentile(f64),
}

impl CalibrationMethod {
    /// The algorithm name in a TensorRT calibration cache header.
    ///
    /// Percentile calibration is written as `LegacyCalibration`: TensorRT's legacy calibrator
    /// (`IInt8LegacyCalibrator`) is its percentile-style one (a quantile of the histogram), so
    /// it is the nearest of TensorRT's algorithms. The percentile itself is not recorded.
    #[must_use]
    pub fn trt_algorithm(self) -> &'static str {
        match self {
            CalibrationMethod::Max => "MinMaxCalibration",
            CalibrationMethod::Entropy => "EntropyCalibration2",
            CalibrationMethod::Percentile(_) => "LegacyCalibration",
        }
    }

    /// The method that writes `algorithm` in a cache header (percentile at the default
    /// percentile for `LegacyCalibration`), if any.
    #[must_use]
    pub fn from_trt_algorithm(algorithm: &str) -> Option<Self> {
        match algorithm {
            "MinMaxCalibration" => Some(CalibrationMethod::Max),
            "EntropyCalibration2" => Some(CalibrationMethod::Entropy),
            "LegacyCalibration" => Some(CalibrationMethod::Percentile(DEFAULT_PERCENTILE)),
            _ => None,
        }
    }

    /// A percentile method, checking that `percentile` is in `(0, 100]`.
    pub fn percentile(percentile: f64) -> Result<Self, CalibrationError> {
        if percentile > 0.0 && percentile <= 100.0 {
            Ok(CalibrationMethod::Percentile(percentile))
        } else {
            Err(CalibrationError::BadPercentile(percentile.to_string()))
        }
    }

    /// The name without parameters, as on the command line (`max`, `entropy`, `percentile`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CalibrationMethod::Max => "max",
            CalibrationMethod::Entropy => "entropy",
            CalibrationMethod::Percentile(_) => "percentile",
        }
    }
}

impl fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationMethod::Percentile(p) => write!(f, "percentile:{p}"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for CalibrationMethod {
    type Err = CalibrationError;

    /// Parses `max`, `entropy`, `percentile` (99.99) or `percentile:<p>`, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "max" => Ok(CalibrationMethod::Max),
            "entropy" => Ok(CalibrationMethod::Entropy),
            "percentile" => Ok(CalibrationMethod::Percentile(DEFAULT_PERCENTILE)),
            _ => match lower.strip_prefix("percentile:") {
                Some(p) => {
                    let p = p.trim();
                    match p.parse::<f64>() {
                        Ok(value) if value > 0.0 && value <= 100.0 => {
                            Ok(CalibrationMethod::Percentile(value))
                        }
                        _ => Err(CalibrationError::BadPercentile(p.to_owned())),
                    }
                }
                None => Err(CalibrationError::UnknownMethod(s.to_owned())),
            },
        }
    }
}

/// Why calibration could not proceed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// A `--calibration` value that is not one of the accepted forms.
    #[error(
        "unknown calibration method '{0}' (expected max, entropy, percentile or \
         percentile:<p> with 0 < p <= 100, e.g. percentile:99.9)"
    )]
    UnknownMethod(String),
    /// A percentile that is not a number in `(0, 100]`.
    #[error(
        "invalid calibration percentile '{0}': expected a number with 0 < p <= 100, \
         e.g. percentile:99.99"
    )]
    BadPercentile(String),
    /// A tensor's calibration data contains NaN or infinite values.
    #[error(
        "tensor '{tensor}' has {count} NaN or infinite value(s) in the calibration data; \
         INT8 calibration needs finite activations (check the calibration inputs)"
    )]
    NonFinite {
        /// The tensor.
        tensor: String,
        /// How many values were NaN or infinite in the batch.
        count: usize,
    },
    /// [`RangeCollector::observe_max`] was called after the histogram pass had begun.
    #[error(
        "tensor '{tensor}': a maximum was observed after the histogram pass began; \
         observe every batch's maximum before any histogram"
    )]
    HistogramStarted {
        /// The tensor.
        tensor: String,
    },
    /// A calibration cache written by another algorithm than the requested method's.
    #[error(
        "the calibration cache was written by {found}, but --calibration {method} needs \
         {needed}: {fix}",
        needed = method.trt_algorithm(),
        fix = mismatch_fix(found)
    )]
    AlgorithmMismatch {
        /// The algorithm in the cache header.
        found: String,
        /// The requested method.
        method: CalibrationMethod,
    },
}

/// The remedy for a cache of algorithm `found`.
fn mismatch_fix(found: &str) -> String {
    match CalibrationMethod::from_trt_algorithm(found) {
        Some(matching) => {
            format!("delete the cache to recalibrate, or pass --calibration {}", matching.name())
        }
        None => "delete the cache to recalibrate".to_owned(),
    }
}

/// `amax / 127`, the INT8 scale for the dynamic range `[-amax, amax]`.
///
/// An `amax` of 0 (an all-zero tensor), or any `amax` that is not positive, gets the scale of
/// `amax = 1.0`: every scale quantizes zeros exactly, and a zero scale would divide by zero.
#[must_use]
pub fn scale_from_amax(amax: f32) -> f32 {
    if amax > 0.0 { amax / INT8_MAX } else { 1.0 / INT8_MAX }
}

/// `scale * 127`, the dynamic range TensorRT derives from a cached scale.
#[must_use]
pub fn amax_from_scale(scale: f32) -> f32 {
    scale * INT8_MAX
}

#[cfg(test)]
mod tests {
    use super::cache::snippet;
    use super::ranges::{entropy_bins, entropy_divergences, max_abs_finite, percentile_bins};
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The entropy divergence of keeping `i` bins, computed directly as the brief of
    /// [`entropy_bins`] states it (O(i) per candidate, explicit `P` and `Q`), with the same
    /// bin-0 substitution. Infinite where `q = 0 < p`.
    fn naive_divergence(histogram: &[u64], i: usize) -> f64 {
        let mut counts: Vec<f64> = histogram.iter().map(|&c| c as f64).collect();
        counts[0] = counts[1];
        let clipped: f64 = counts[i..].iter().sum();
        let mut p = counts[..i].to_vec();
        p[i - 1] += clipped;
        let mut level_mass = [0.0f64; QUANTIZED_BINS];
        let mut level_nonzero = [0usize; QUANTIZED_BINS];
        for (j, &c) in counts[..i].iter().enumerate() {
            let level = j * QUANTIZED_BINS / i;
            if c > 0.0 {
                level_mass[level] += c;
                level_nonzero[level] += 1;
            }
        }
        let q: Vec<f64> = counts[..i]
            .iter()
            .enumerate()
            .map(|(j, &c)| {
                let level = j * QUANTIZED_BINS / i;
                if c > 0.0 { level_mass[level] / level_nonzero[level] as f64 } else { 0.0 }
            })
            .collect();
        let (p_sum, q_sum): (f64, f64) = (p.iter().sum(), q.iter().sum());
        let mut divergence = 0.0;
        for (&pj, &qj) in p.iter().zip(&q) {
            if pj > 0.0 {
                if qj == 0.0 {
                    return f64::INFINITY;
                }
                let (pn, qn) = (pj / p_sum, qj / q_sum);
                divergence += pn * (pn / qn).ln();
            }
        }
        divergence
    }

    /// Histograms of `HISTOGRAM_BINS` bins: dense, sparse (many empty bins) and spiky.
    fn histograms() -> impl Strategy<Value = Vec<u64>> {
        let dense = proptest::collection::vec(0u64..1000, HISTOGRAM_BINS);
        let sparse = proptest::collection::vec(
            prop_oneof![8 => Just(0u64), 1 => 1u64..50, 1 => 1000u64..100_000],
            HISTOGRAM_BINS,
        );
        prop_oneof![dense, sparse].prop_map(|mut h| {
            // A maximum always lands in the last bin.
            h[HISTOGRAM_BINS - 1] = h[HISTOGRAM_BINS - 1].max(1);
            h
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// The prefix-sum algebra gives every candidate's divergence as the direct
        /// computation does, and the choice is the last minimum.
        #[test]
        fn entropy_matches_direct_kl(histogram in histograms()) {
            let fast = entropy_divergences(&histogram);
            for (k, &got) in fast.iter().enumerate() {
                let i = QUANTIZED_BINS + k;
                let want = naive_divergence(&histogram, i);
                if want.is_infinite() {
                    prop_assert!(got.is_infinite(), "i = {i}: {got}, want infinity");
                } else {
                    prop_assert!((got - want).abs() <= 1e-9 * want.abs().max(1e-3),
                        "i = {i}: {got}, want {want}");
                }
            }
            let chosen = entropy_bins(&histogram);
            let min = fast.iter().copied().fold(f64::INFINITY, f64::min);
            prop_assert_eq!(fast[chosen - QUANTIZED_BINS], min);
            prop_assert!(fast[chosen - QUANTIZED_BINS + 1..].iter().all(|&d| d > min));
        }
    }

    #[test]
    fn entropy_clips_a_decaying_histogram() {
        // A half-Gaussian of sigma 150 bins with a single outlier in the last bin.
        let mut histogram: Vec<u64> = (0..HISTOGRAM_BINS)
            .map(|j| (1e6 * (-0.5 * (j as f64 / 150.0).powi(2)).exp()) as u64 + (j % 3) as u64)
            .collect();
        histogram[HISTOGRAM_BINS - 1] += 1;
        let chosen = entropy_bins(&histogram);
        let direct = (QUANTIZED_BINS..=HISTOGRAM_BINS)
            .map(|i| (naive_divergence(&histogram, i), i))
            .fold((f64::INFINITY, 0), |best, d| if d.0 <= best.0 { d } else { best });
        assert_eq!(chosen, direct.1);
        assert!((300..1000).contains(&chosen), "clipped at 2 to 6.7 sigma, got {chosen}");
    }

    #[test]
    fn entropy_keeps_everything_when_only_the_last_bin_is_full() {
        let mut histogram = vec![0u64; HISTOGRAM_BINS];
        histogram[HISTOGRAM_BINS - 1] = 5;
        assert_eq!(entropy_bins(&histogram), HISTOGRAM_BINS);
    }

    /// Entropy `amax` of `values` after both passes.
    fn entropy_amax(values: &[f32]) -> f32 {
        let mut collector = RangeCollector::new("t", CalibrationMethod::Entropy);
        collector.observe_max(values).unwrap();
        collector.observe_histogram(values).unwrap();
        collector.amax()
    }

    #[test]
    fn entropy_ignores_a_spike_of_zeros() {
        // ReLU(N(0, 1)) is half exact zeros. Thanks to the bin-0 substitution its range is
        // that of its positive part alone (about 4.2 sigma here); without it, the zero spike
        // dominates the divergence and the range drops to 2 sigma.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut gaussian: Vec<f32> = (0..400_000)
            .map(|_| {
                let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect();
        gaussian.push(8.0);
        let relu: Vec<f32> = gaussian.iter().map(|v| v.max(0.0)).collect();
        let positive: Vec<f32> = gaussian.iter().copied().filter(|&v| v > 0.0).collect();
        let (relu_amax, positive_amax) = (entropy_amax(&relu), entropy_amax(&positive));
        assert!(relu_amax > 3.5, "{relu_amax}");
        assert!((relu_amax - positive_amax).abs() <= 0.1, "{relu_amax} vs {positive_amax}");
    }

    #[test]
    fn percentile_bins_reaches_the_target() {
        let histogram = [10u64, 0, 30, 60];
        assert_eq!(percentile_bins(&histogram, 10.0), 1);
        assert_eq!(percentile_bins(&histogram, 10.01), 3);
        assert_eq!(percentile_bins(&histogram, 40.0), 3);
        assert_eq!(percentile_bins(&histogram, 40.5), 4);
        assert_eq!(percentile_bins(&histogram, 100.0), 4);
    }

    #[test]
    fn max_abs_counts_every_lane_and_the_remainder() {
        for len in 0..40 {
            for at in 0..len {
                let mut values = vec![0.5f32; len];
                values[at] = -3.0;
                assert_eq!(max_abs_finite(&values), (3.0, 0), "len {len} at {at}");
                let rest = if len > 1 { 0.5 } else { 0.0 };
                values[at] = f32::NAN;
                assert_eq!(max_abs_finite(&values), (rest, 1), "len {len} at {at}");
                values[at] = f32::NEG_INFINITY;
                assert_eq!(max_abs_finite(&values), (rest, 1), "len {len} at {at}");
            }
        }
    }

    #[test]
    fn histogram_bins_edges() {
        let mut collector = RangeCollector::new("t", CalibrationMethod::Percentile(50.0));
        collector.observe_max(&[2048.0]).unwrap();
        // Width 1: 0 and 0.99 in bin 0, 1 in bin 1, -2047.5 in bin 2047, the maximum in the
        // last bin, and a value above the maximum clamped there too.
        collector.observe_histogram(&[0.0, 0.99, 1.0, -2047.5, 2048.0, 5000.0]).unwrap();
        let h = collector.histogram();
        assert_eq!((h[0], h[1], h[2047]), (2, 1, 3));
        assert_eq!(h.iter().sum::<u64>(), 6);
    }

    #[test]
    fn snippet_shortens_on_a_char_boundary() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(snippet(&long), format!("{}...", "é".repeat(80)));
    }
}
