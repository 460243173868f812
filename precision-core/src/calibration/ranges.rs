//! Range statistics of one activation tensor: `max |x|` (pass 1), a histogram of `|x|`
//! (pass 2), and the threshold each method chooses from them (max, `EntropyCalibration2`'s KL
//! search, percentile).

use super::{CalibrationError, CalibrationMethod, HISTOGRAM_BINS, QUANTIZED_BINS};

/// Collects one tensor's calibration data and computes its `amax` by a [`CalibrationMethod`].
///
/// Feed every batch to [`observe_max`](Self::observe_max) first, then, if
/// [`needs_histogram`](Self::needs_histogram), every batch again to
/// [`observe_histogram`](Self::observe_histogram). Memory is constant: one float and, in the
/// second pass, [`HISTOGRAM_BINS`] counters.
#[derive(Debug, Clone)]
pub struct RangeCollector {
    tensor: String,
    method: CalibrationMethod,
    max_abs: f32,
    /// Empty until the histogram pass begins.
    histogram: Vec<u64>,
}

impl RangeCollector {
    /// A collector for the tensor named `tensor` (the name only labels errors).
    pub fn new(tensor: impl Into<String>, method: CalibrationMethod) -> Self {
        RangeCollector { tensor: tensor.into(), method, max_abs: 0.0, histogram: Vec::new() }
    }

    /// The tensor's name.
    #[must_use]
    pub fn tensor(&self) -> &str {
        &self.tensor
    }

    /// The calibration method.
    #[must_use]
    pub fn method(&self) -> CalibrationMethod {
        self.method
    }

    /// Pass 1: updates `max |x|` with one batch.
    ///
    /// NaN or infinite values are an error ([`CalibrationError::NonFinite`]); the finite values
    /// of that batch are still counted. Calling this after
    /// [`observe_histogram`](Self::observe_histogram) is an error, as the histogram's range is
    /// fixed by then.
    pub fn observe_max(&mut self, values: &[f32]) -> Result<(), CalibrationError> {
        if !self.histogram.is_empty() {
            return Err(CalibrationError::HistogramStarted { tensor: self.tensor.clone() });
        }
        let (max, non_finite) = max_abs_finite(values);
        self.max_abs = self.max_abs.max(max);
        self.check_finite(non_finite)
    }

    /// `max |x|` over the values observed so far in pass 1.
    #[must_use]
    pub fn max_abs(&self) -> f32 {
        self.max_abs
    }

    /// Whether pass 2 ([`observe_histogram`](Self::observe_histogram)) is needed: false for
    /// [`CalibrationMethod::Max`] and when every value seen was zero (then `amax` is 0).
    #[must_use]
    pub fn needs_histogram(&self) -> bool {
        self.method != CalibrationMethod::Max && self.max_abs > 0.0
    }

    /// Pass 2: adds one batch to the histogram of `|x|` ([`HISTOGRAM_BINS`] bins over
    /// `[0, max |x|]`; a value equal to the maximum goes into the last bin, and any value
    /// above it, which can only come from data not seen in pass 1, is counted there too).
    ///
    /// Does nothing when the histogram is not [needed](Self::needs_histogram). NaN or
    /// infinite values are an error, as in [`observe_max`](Self::observe_max).
    pub fn observe_histogram(&mut self, values: &[f32]) -> Result<(), CalibrationError> {
        if !self.needs_histogram() {
            let (_, non_finite) = max_abs_finite(values);
            return self.check_finite(non_finite);
        }
        if self.histogram.is_empty() {
            self.histogram = vec![0; HISTOGRAM_BINS];
        }
        // f64, so that a subnormal maximum still gives a finite inverse width.
        let inverse_width = HISTOGRAM_BINS as f64 / f64::from(self.max_abs);
        let last = HISTOGRAM_BINS - 1;
        let mut non_finite = 0;
        for &value in values {
            let magnitude = value.abs();
            if magnitude.is_finite() {
                // `as usize` truncates toward zero, i.e. floors the non-negative product.
                let bin = (f64::from(magnitude) * inverse_width) as usize;
                self.histogram[bin.min(last)] += 1;
            } else {
                non_finite += 1;
            }
        }
        self.check_finite(non_finite)
    }

    /// The dynamic range: `max |x|` for [`CalibrationMethod::Max`], else the threshold the
    /// method chooses from the histogram, a bin's upper edge in `(0, max |x|]`.
    ///
    /// 0 when every value seen was zero (or nothing was seen). Without any histogram data
    /// (pass 2 skipped) the histogram methods fall back to `max |x|`.
    #[must_use]
    pub fn amax(&self) -> f32 {
        if !self.needs_histogram() || self.histogram.iter().all(|&count| count == 0) {
            return self.max_abs;
        }
        let bins = match self.method {
            CalibrationMethod::Max => HISTOGRAM_BINS,
            CalibrationMethod::Entropy => entropy_bins(&self.histogram),
            CalibrationMethod::Percentile(p) => percentile_bins(&self.histogram, p),
        };
        // Dividing by 2048 is exact, so `bins == HISTOGRAM_BINS` gives back `max_abs` exactly.
        (bins as f64 * (f64::from(self.max_abs) / HISTOGRAM_BINS as f64)) as f32
    }

    /// The histogram of pass 2 (empty before it).
    #[must_use]
    pub fn histogram(&self) -> &[u64] {
        &self.histogram
    }

    fn check_finite(&self, non_finite: usize) -> Result<(), CalibrationError> {
        if non_finite == 0 {
            Ok(())
        } else {
            Err(CalibrationError::NonFinite { tensor: self.tensor.clone(), count: non_finite })
        }
    }
}

/// `max |x|` over the finite values, and how many values are NaN or infinite; in eight lanes
/// so that the loop vectorizes.
pub(super) fn max_abs_finite(values: &[f32]) -> (f32, usize) {
    const LANES: usize = 8;
    let mut max = [0.0f32; LANES];
    let mut non_finite = [0usize; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            let magnitude = chunk[lane].abs();
            // False for NaN as well as infinity.
            let finite = magnitude < f32::INFINITY;
            max[lane] = if finite && magnitude > max[lane] { magnitude } else { max[lane] };
            non_finite[lane] += usize::from(!finite);
        }
    }
    for (lane, &value) in rest.iter().enumerate() {
        let magnitude = value.abs();
        if magnitude < f32::INFINITY {
            max[lane] = max[lane].max(magnitude);
        } else {
            non_finite[lane] += 1;
        }
    }
    (max.into_iter().fold(0.0, f32::max), non_finite.into_iter().sum())
}

/// The number of leading bins whose cumulative count first reaches `percentile` % of the total
/// (so `amax` is that bin's upper edge).
pub(super) fn percentile_bins(histogram: &[u64], percentile: f64) -> usize {
    let total: u64 = histogram.iter().sum();
    // Compared as `cumulative * 100 >= percentile * total` to avoid dividing.
    let target = percentile * total as f64;
    let mut cumulative = 0u64;
    for (bin, &count) in histogram.iter().enumerate() {
        cumulative += count;
        if cumulative as f64 * 100.0 >= target {
            return bin + 1;
        }
    }
    histogram.len()
}

/// `x ln x`, with `0 ln 0 = 0`.
fn x_ln_x(x: f64) -> f64 {
    if x > 0.0 { x * x.ln() } else { 0.0 }
}

/// The entropy method: the number `i` of leading bins (`QUANTIZED_BINS..=histogram.len()`)
/// whose 128-level quantization has the smallest KL divergence from the clipped histogram.
///
/// For each `i`, as in TensorRT's `EntropyCalibration2` (NVIDIA, "8-bit Inference with
/// TensorRT", GTC 2017) and pytorch-quantization's `_compute_amax_entropy`:
///
/// - the reference `P` is `histogram[..i]` with the clipped mass `sum(histogram[i..])` added to
///   its last bin;
/// - the candidate `Q` merges `histogram[..i]` into 128 levels (source bin `j` into level
///   `j * 128 / i`), then spreads each level's total evenly over its source bins that were
///   non-zero, leaving zero bins zero;
/// - `KL(P || Q) = sum p ln(p / q)` of the normalised distributions over the bins where
///   `p > 0`. Where `q = 0 < p` the divergence is infinite, as in `scipy.stats.entropy`, which the
///   reference uses; no smoothing. (That only happens when bin `i - 1` is empty but values
///   were clipped, so such an `i` is never chosen; `i = len` always has a finite divergence.)
///
/// Ties go to the larger `i`, as in the reference. Like the reference, the count of bin 0 is
/// first replaced by that of bin 1, so that a spike of exact zeros (a `ReLU` output) does not
/// dominate the divergence and pull the range down.
///
/// Each `KL` is computed from prefix sums in `O(128)` rather than `O(i)`:
/// with `T` the total and `S = sum(histogram[..i])`,
/// `KL = (sum P ln P - sum P ln Q) / T + ln(S / T)`, where `sum P ln P` is a prefix sum plus
/// the last bin, and `Q` is constant (`mass / nonzero bins`) on each level's non-zero bins.
pub(super) fn entropy_bins(histogram: &[u64]) -> usize {
    let divergences = entropy_divergences(histogram);
    let mut best = (f64::INFINITY, histogram.len());
    for (k, &divergence) in divergences.iter().enumerate() {
        if divergence <= best.0 {
            best = (divergence, QUANTIZED_BINS + k);
        }
    }
    best.1
}

/// `KL(P || Q)` for each candidate `i = QUANTIZED_BINS + k` (see [`entropy_bins`]); infinite
/// where some `q = 0 < p`.
pub(super) fn entropy_divergences(histogram: &[u64]) -> Vec<f64> {
    let len = histogram.len();
    debug_assert!(len >= QUANTIZED_BINS);
    let count = |j: usize| if j == 0 && len > 1 { histogram[1] } else { histogram[j] };
    // Prefix sums over bins `..j`: counts, non-empty bins, `count ln count`.
    let mut mass = Vec::with_capacity(len + 1);
    let mut nonzero = Vec::with_capacity(len + 1);
    let mut p_ln_p = Vec::with_capacity(len + 1);
    let (mut m, mut n, mut e) = (0u64, 0usize, 0.0f64);
    mass.push(m);
    nonzero.push(n);
    p_ln_p.push(e);
    for j in 0..len {
        let c = count(j);
        m += c;
        n += usize::from(c > 0);
        e += x_ln_x(c as f64);
        mass.push(m);
        nonzero.push(n);
        p_ln_p.push(e);
    }
    let total = mass[len];
    if total == 0 {
        return vec![0.0; len + 1 - QUANTIZED_BINS];
    }
    let total_f = total as f64;
    (QUANTIZED_BINS..=len)
        .map(|i| {
            let kept = mass[i];
            let clipped = total - kept;
            let last = count(i - 1);
            if last == 0 && clipped > 0 {
                return f64::INFINITY; // q = 0 < p in the last bin
            }
            let sum_p_ln_p = p_ln_p[i - 1] + x_ln_x((last + clipped) as f64);
            let mut sum_p_ln_q = 0.0;
            let mut start = 0;
            for level in 0..QUANTIZED_BINS {
                // Source bins j with floor(j * 128 / i) == level.
                let end = ((level + 1) * i).div_ceil(QUANTIZED_BINS);
                let level_mass = mass[end] - mass[start];
                if level_mass > 0 {
                    let level_mass = level_mass as f64;
                    let ln_q = (level_mass / (nonzero[end] - nonzero[start]) as f64).ln();
                    sum_p_ln_q += level_mass * ln_q;
                    if level == QUANTIZED_BINS - 1 {
                        // The last level holds bin i - 1, which also carries the clipped mass.
                        sum_p_ln_q += clipped as f64 * ln_q;
                    }
                }
                start = end;
            }
            (sum_p_ln_p - sum_p_ln_q) / total_f + (kept as f64 / total_f).ln()
        })
        .collect()
}
