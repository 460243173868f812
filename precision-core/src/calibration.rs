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

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use indexmap::IndexMap;

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
fn max_abs_finite(values: &[f32]) -> (f32, usize) {
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
fn percentile_bins(histogram: &[u64], percentile: f64) -> usize {
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
fn entropy_bins(histogram: &[u64]) -> usize {
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
fn entropy_divergences(histogram: &[u64]) -> Vec<f64> {
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

/// A TensorRT calibration cache: the header and a scale per tensor, in file order.
///
/// The text form is `TRT-<version>-<algorithm>` on the first line, then one
/// `<tensor name>: <8 hex digits>` line per tensor, the hex being the big-endian IEEE-754
/// float32 bit pattern of the scale (`data: 3c008912` is a scale of about 0.00785, a range of
/// about 0.996). Names may contain spaces, `/` and `:`; a line is split at its last `": "`.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationCache {
    /// The TensorRT version of the header, `major * 10000 + minor * 100 + patch` for 10.x
    /// (`major * 1000 + ...` for 8.x).
    pub trt_version: u32,
    /// The calibration algorithm of the header, e.g. `EntropyCalibration2`.
    pub algorithm: String,
    /// The scale of each tensor (`amax / 127`), in file order.
    pub scales: IndexMap<String, f32>,
}

impl CalibrationCache {
    /// An empty cache for `method`, with header version [`DEFAULT_TRT_VERSION`].
    #[must_use]
    pub fn new(method: CalibrationMethod) -> Self {
        CalibrationCache {
            trt_version: DEFAULT_TRT_VERSION,
            algorithm: method.trt_algorithm().to_owned(),
            scales: IndexMap::new(),
        }
    }

    /// Parses the text of a cache; `\n` and `\r\n` line ends, blank lines and trailing
    /// whitespace are accepted.
    pub fn parse(text: &str) -> Result<Self, CacheParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.split('\n').map(str::trim_end).enumerate().map(|(i, l)| (i + 1, l));
        let (_, header) = lines.next().unwrap_or((1, ""));
        let (trt_version, algorithm) = parse_header(header)
            .ok_or_else(|| CacheParseError::BadHeader { found: snippet(header) })?;
        let mut scales = IndexMap::new();
        let mut first_line: HashMap<&str, usize> = HashMap::new();
        for (line, text) in lines {
            if text.is_empty() {
                continue;
            }
            let Some((name, hex)) = text.rsplit_once(": ") else {
                return Err(CacheParseError::MissingSeparator { line, found: snippet(text) });
            };
            if name.is_empty() {
                return Err(CacheParseError::EmptyName { line });
            }
            if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(CacheParseError::BadHex {
                    line,
                    tensor: snippet(name),
                    found: snippet(hex),
                });
            }
            let bits = u32::from_str_radix(hex, 16).expect("8 hex digits fit in u32");
            let scale = f32::from_bits(bits);
            if !scale.is_finite() || scale < 0.0 {
                return Err(CacheParseError::BadScale {
                    line,
                    tensor: snippet(name),
                    hex: hex.to_owned(),
                    scale,
                });
            }
            match first_line.entry(name) {
                Entry::Occupied(first) => {
                    return Err(CacheParseError::Duplicate {
                        line,
                        first: *first.get(),
                        tensor: snippet(name),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(line);
                }
            }
            scales.insert(name.to_owned(), scale);
        }
        Ok(CalibrationCache { trt_version, algorithm: algorithm.to_owned(), scales })
    }

    /// The text form: the header, then one line per tensor in order, `\n` line ends,
    /// lowercase hex.
    ///
    /// Tensor names must not contain line breaks (no ONNX or TensorRT name does); such a
    /// name would not read back.
    #[must_use]
    pub fn to_text(&self) -> String {
        // Header plus about 32 bytes per line.
        let mut text = String::with_capacity(64 + 32 * self.scales.len());
        writeln!(text, "TRT-{}-{}", self.trt_version, self.algorithm).expect("write to String");
        for (name, scale) in &self.scales {
            writeln!(text, "{name}: {:08x}", scale.to_bits()).expect("write to String");
        }
        text
    }

    /// Checks that the cache was written by `method`'s algorithm (TensorRT rejects a cache
    /// whose header algorithm differs from its calibrator's; so do we).
    pub fn check_method(&self, method: CalibrationMethod) -> Result<(), CalibrationError> {
        if self.algorithm == method.trt_algorithm() {
            Ok(())
        } else {
            Err(CalibrationError::AlgorithmMismatch { found: self.algorithm.clone(), method })
        }
    }

    /// The dynamic range (`scale * 127`) of `tensor`, if the cache has it.
    #[must_use]
    pub fn amax(&self, tensor: &str) -> Option<f32> {
        self.scales.get(tensor).copied().map(amax_from_scale)
    }
}

impl fmt::Display for CalibrationCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// `TRT-<digits>-<algorithm>` into its version and algorithm.
fn parse_header(header: &str) -> Option<(u32, &str)> {
    let (version, algorithm) = header.strip_prefix("TRT-")?.split_once('-')?;
    if version.is_empty()
        || !version.bytes().all(|b| b.is_ascii_digit())
        || algorithm.is_empty()
        || algorithm.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some((version.parse().ok()?, algorithm))
}

/// At most 80 characters of `text`, for error messages.
fn snippet(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Why a calibration cache could not be read; every variant names its 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheParseError {
    /// The first line is not `TRT-<version digits>-<algorithm>`.
    #[error(
        "calibration cache line 1: expected a header like 'TRT-100300-EntropyCalibration2' \
         (TRT-<version digits>-<algorithm>), then lines like 'data: 3c008912'; found '{found}'"
    )]
    BadHeader {
        /// The first line (shortened).
        found: String,
    },
    /// A line without `": "` between a tensor name and its scale.
    #[error(
        "calibration cache line {line}: expected '<tensor name>: <8 hex digits>' like \
         'data: 3c008912', found '{found}'"
    )]
    MissingSeparator {
        /// The 1-based line number.
        line: usize,
        /// The line (shortened).
        found: String,
    },
    /// A line whose tensor name is empty.
    #[error(
        "calibration cache line {line}: the tensor name is empty; expected \
         '<tensor name>: <8 hex digits>' like 'data: 3c008912'"
    )]
    EmptyName {
        /// The 1-based line number.
        line: usize,
    },
    /// A scale that is not exactly 8 hex digits.
    #[error(
        "calibration cache line {line}: the scale of '{tensor}' must be exactly 8 hex digits \
         (the float32 bit pattern, like 'data: 3c008912'), found '{found}'"
    )]
    BadHex {
        /// The 1-based line number.
        line: usize,
        /// The tensor (shortened).
        tensor: String,
        /// The text after the last `": "` (shortened).
        found: String,
    },
    /// A scale that is NaN, infinite or negative.
    #[error(
        "calibration cache line {line}: the scale of '{tensor}' is {scale} (hex {hex}); a \
         scale must be finite and not negative, like 'data: 3c008912' (about 0.00785)"
    )]
    BadScale {
        /// The 1-based line number.
        line: usize,
        /// The tensor (shortened).
        tensor: String,
        /// The hex digits as written.
        hex: String,
        /// The scale they encode.
        scale: f32,
    },
    /// A tensor listed twice.
    #[error(
        "calibration cache line {line}: tensor '{tensor}' already has a scale on line {first}; \
         each tensor may appear once"
    )]
    Duplicate {
        /// The 1-based line number of the repetition.
        line: usize,
        /// The 1-based line number of the first occurrence.
        first: usize,
        /// The tensor (shortened).
        tensor: String,
    },
}

impl CacheParseError {
    /// The 1-based line number the error concerns.
    #[must_use]
    pub fn line(&self) -> usize {
        match self {
            CacheParseError::BadHeader { .. } => 1,
            CacheParseError::MissingSeparator { line, .. }
            | CacheParseError::EmptyName { line }
            | CacheParseError::BadHex { line, .. }
            | CacheParseError::BadScale { line, .. }
            | CacheParseError::Duplicate { line, .. } => *line,
        }
    }
}

#[cfg(test)]
mod tests {
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
