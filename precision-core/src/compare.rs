//! Polygraphy's default ("simple") comparison of an output against its golden value.
//!
//! [`compare_tensors`] reaches the same pass/fail verdict as Polygraphy 0.53.6's
//! `CompareFunc.simple()` (with NumPy 2) on the same arrays, and reports the same statistics:
//!
//! - **Shapes.** Different shapes fail unless `check_shapes` is off; then the golden is matched to
//!   the actual shape as `util.try_match_shape` does (a transpose when both have the same rank and
//!   the same dimensions in another order, else a C-order reshape); different sizes fail.
//! - **Widening.** float16 (and bfloat16) become float32, int8/uint8 int32; then `absdiff` is
//!   `|actual - golden|` in NumPy's promoted type: float32 for float32-family/bool pairs, float64
//!   when either side is float64 or a float meets an integer, else int32/int64 (wrapping, as
//!   NumPy does: `|i32::MIN|` stays negative). Two bools use `xor`.
//! - **`infinities_compare_equal`** sets `absdiff` to 0 where `actual` is infinite and equal to
//!   `golden`; otherwise `inf - inf` is NaN and fails. Polygraphy's `where(cond, 0, absdiff)`
//!   makes the 0 an int64 array, so with this option float32 differences become float64 and
//!   int32 ones int64 (which changes how the mean, median and quantile are computed).
//! - **`reldiff`** is `absdiff / |golden|`, with exact zeros of a float golden replaced by
//!   [`RELDIFF_EPSILON`] in the golden's widened type (float32 zeros get `float32(2.22e-16)`).
//!   It is float32 when `absdiff` is, else float64 (integer zeros give inf or NaN).
//! - **elemwise:** an element fails iff `(absdiff > atol or NaN) and (reldiff > rtol or NaN)`,
//!   compared in float64 (Polygraphy's `greater` makes the tolerance a float64 array).
//! - **max/mean/median/quantile:** the output fails iff the statistic of `absdiff` fails `atol`
//!   and that of `reldiff` fails `rtol`; a statistic fails if NaN or greater (compared in
//!   float64). max propagates NaN and is 0 for an empty array; mean is `np.mean(x,
//!   dtype=float32)`, reproduced bit for bit (NumPy's pairwise float32 summation over the whole
//!   array for float32 differences, or per 8192-element cast buffer otherwise), NaN when empty
//!   (so an empty output fails the mean check); median is NumPy's (mean of the two middle values
//!   in float32 for float32 differences, float64 otherwise; 0 when empty); quantile is
//!   `np.quantile` with linear interpolation in the differences' own type (inf when empty; NaN
//!   when an infinity takes part in the interpolation, as in NumPy).
//!
//! Where Polygraphy itself raises (a quantile of two bool outputs, which NumPy refuses, or
//! outputs of different sizes with the shape check off) we interpolate the 0/1 differences, and
//! fail the output with `mismatch` set, respectively. bfloat16, which NumPy lacks, is widened to
//! float32 like float16.
//!
//! One fused pass computes `absdiff`, `reldiff`, the elemwise test, both maxima and both sums,
//! in NumPy's summation tree so that the means are bitwise equal to NumPy's; arrays of at least
//! 2^20 elements are processed on rayon's threads, splitting the same tree (deterministic).
//! Median and quantile select on a copy of the differences, only when requested.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use half::{bf16, f16};
use ndarray::ArrayD;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{NamedTensors, Tensor};

/// Which statistic of the error is checked against the tolerances (`--check-error-stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorStat {
    /// Every element must pass (absdiff <= atol or reldiff <= rtol). The default.
    Elemwise,
    /// The maximum error must pass.
    Max,
    /// The mean error must pass.
    Mean,
    /// The median error must pass.
    Median,
    /// The `--error-quantile` quantile of the error must pass.
    Quantile,
}

impl ErrorStat {
    /// The name as written on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ErrorStat::Elemwise => "elemwise",
            ErrorStat::Max => "max",
            ErrorStat::Mean => "mean",
            ErrorStat::Median => "median",
            ErrorStat::Quantile => "quantile",
        }
    }
}

impl fmt::Display for ErrorStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ErrorStat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "elemwise" => ErrorStat::Elemwise,
            "max" => ErrorStat::Max,
            "mean" => ErrorStat::Mean,
            "median" => ErrorStat::Median,
            "quantile" => ErrorStat::Quantile,
            _ => {
                return Err(format!(
                    "invalid error statistic '{s}' (expected elemwise, max, mean, median or quantile)"
                ));
            }
        })
    }
}

/// A setting with a default and per-output overrides, as in `--atol 1e-5 out0:1e-4`.
#[derive(Debug, Clone, PartialEq)]
pub struct PerOutput<T> {
    /// The value for outputs not named in `overrides`.
    pub default: T,
    /// Values for named outputs.
    pub overrides: Vec<(String, T)>,
}

impl<T> PerOutput<T> {
    /// The same value for every output.
    pub fn uniform(default: T) -> Self {
        PerOutput { default, overrides: Vec::new() }
    }

    /// The value for `output`.
    pub fn get(&self, output: &str) -> &T {
        self.overrides.iter().rev().find(|(n, _)| n == output).map_or(&self.default, |(_, v)| v)
    }
}

/// Comparison settings (Polygraphy's `--atol`, `--rtol`, `--check-error-stat`,
/// `--error-quantile`, `--infinities-compare-equal`, `--no-shape-check`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    /// Absolute tolerance, default 1e-5.
    pub atol: PerOutput<f64>,
    /// Relative tolerance, default 1e-5.
    pub rtol: PerOutput<f64>,
    /// The statistic checked, default elemwise.
    pub check_error_stat: PerOutput<ErrorStat>,
    /// The quantile used by [`ErrorStat::Quantile`], default 0.99.
    pub error_quantile: PerOutput<f64>,
    /// Whether equal infinities compare as a difference of 0.
    pub infinities_compare_equal: bool,
    /// Whether outputs of different shapes fail (`true`, the default) or are reshaped to match.
    pub check_shapes: bool,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            atol: PerOutput::uniform(1e-5),
            rtol: PerOutput::uniform(1e-5),
            check_error_stat: PerOutput::uniform(ErrorStat::Elemwise),
            error_quantile: PerOutput::uniform(0.99),
            infinities_compare_equal: false,
            check_shapes: true,
        }
    }
}

/// The result of comparing one output with its golden value.
///
/// In JSON, non-finite numbers are the strings `"NaN"`, `"inf"` and `"-inf"` ([`crate::json_float`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputComparison {
    /// The output's name.
    pub name: String,
    /// Whether the output matched within tolerance.
    pub passed: bool,
    /// The statistic that was checked.
    pub stat: ErrorStat,
    /// Maximum absolute difference.
    #[serde(with = "crate::json_float")]
    pub max_absdiff: f64,
    /// Maximum relative difference.
    #[serde(with = "crate::json_float")]
    pub max_reldiff: f64,
    /// Mean absolute difference.
    #[serde(with = "crate::json_float")]
    pub mean_absdiff: f64,
    /// Mean relative difference.
    #[serde(with = "crate::json_float")]
    pub mean_reldiff: f64,
    /// The atol that would have made this output pass on its own (the checked statistic of
    /// the absolute difference).
    #[serde(with = "crate::json_float")]
    pub required_atol: f64,
    /// The rtol that would have made this output pass on its own.
    #[serde(with = "crate::json_float")]
    pub required_rtol: f64,
    /// Why the values could not be compared at all (shape mismatch), if so.
    pub mismatch: Option<String>,
}

/// The error of `actual` relative to the range of `reference`: `max |a - r| / max |r|`, a
/// scale-free measure used to rank layers by their isolated error. 0 when both are exactly
/// equal (including both all-zero), infinity when the reference is all zero but `actual` is
/// not or when a difference is NaN; `None` when the shapes differ.
#[must_use]
pub fn relative_error(actual: &Tensor, reference: &Tensor) -> Option<f64> {
    if actual.shape() != reference.shape() {
        return None;
    }
    let (a, r) = (actual.to_f64_vec(), reference.to_f64_vec());
    let mut max_diff = 0.0_f64;
    let mut max_ref = 0.0_f64;
    for (x, y) in a.iter().zip(&r) {
        let d = (x - y).abs();
        if d.is_nan() {
            return Some(f64::INFINITY);
        }
        max_diff = max_diff.max(d);
        max_ref = max_ref.max(y.abs());
    }
    Some(if max_diff == 0.0 {
        0.0
    } else if max_ref == 0.0 || !max_ref.is_finite() {
        f64::INFINITY
    } else {
        max_diff / max_ref
    })
}

/// Why outputs could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The golden results lack an output the run produced.
    #[error("the golden results have no output named '{0}'")]
    MissingGolden(String),
}

/// The epsilon Polygraphy adds to exact zeros of a floating-point golden before dividing.
pub const RELDIFF_EPSILON: f64 = 2.220_446_049_250_313e-16;

/// NumPy's pairwise summation sums blocks of at most this many elements with 8 accumulators.
const PAIRWISE_BLOCK: usize = 128;
/// NumPy's default ufunc buffer size: a reduction that casts works through buffers of this many
/// elements, summing each pairwise and adding the buffer sums one after another.
const CAST_BUFFER: usize = 8192;
/// Arrays at least this long are compared on several threads.
const PARALLEL_MIN_LEN: usize = 1 << 20;
/// In parallel, the pairwise recursion hands halves at least this long to other threads.
const PARALLEL_SPLIT_LEN: usize = 1 << 17;

/// Compares `actual` with `golden` (the reference) under `config`, as Polygraphy does.
///
/// The verdict is the one Polygraphy 0.53.6's `CompareFunc.simple()` reaches on the same arrays;
/// see the module documentation for the exact arithmetic. `required_atol`/`required_rtol` are the
/// values Polygraphy prints as "Minimum Required Tolerance" (the checked statistic; the maximum
/// for `elemwise`). When the values cannot be compared at all, `passed` is false, `mismatch` says
/// why and the statistics are NaN.
#[must_use]
pub fn compare_tensors(
    name: &str,
    actual: &Tensor,
    golden: &Tensor,
    config: &CompareConfig,
) -> OutputComparison {
    let stat = *config.check_error_stat.get(name);
    let request = Request {
        stat,
        atol: *config.atol.get(name),
        rtol: *config.rtol.get(name),
        quantile: *config.error_quantile.get(name),
        infinities_compare_equal: config.infinities_compare_equal,
    };
    let permutation = match align_shapes(actual.shape(), golden.shape(), config.check_shapes) {
        Ok(p) => p,
        Err(why) => return OutputComparison::incomparable(name, stat, why),
    };
    let a = Flat::of(actual, None);
    let g = Flat::of(golden, permutation.as_deref());
    let stats = compare_flat(&a, &g, &request);
    let mismatch =
        (stat == ErrorStat::Quantile && !(0.0..=1.0).contains(&request.quantile)).then(|| {
            format!(
                "the error quantile {} of output '{name}' is outside [0, 1]; pass a quantile \
                 between 0 and 1",
                request.quantile
            )
        });
    OutputComparison {
        name: name.to_owned(),
        passed: stats.passed && mismatch.is_none(),
        stat,
        max_absdiff: stats.max_abs,
        max_reldiff: stats.max_rel,
        mean_absdiff: stats.mean_abs,
        mean_reldiff: stats.mean_rel,
        required_atol: stats.required_abs,
        required_rtol: stats.required_rel,
        mismatch,
    }
}

impl OutputComparison {
    /// The failed comparison of values that could not be compared at all.
    fn incomparable(name: &str, stat: ErrorStat, why: String) -> Self {
        OutputComparison {
            name: name.to_owned(),
            passed: false,
            stat,
            max_absdiff: f64::NAN,
            max_reldiff: f64::NAN,
            mean_absdiff: f64::NAN,
            mean_reldiff: f64::NAN,
            required_atol: f64::NAN,
            required_rtol: f64::NAN,
            mismatch: Some(why),
        }
    }
}

/// Polygraphy's `_align_shapes` + `util.try_match_shape`: decides how the golden's elements line
/// up with the actual output's. `Ok(None)`: in C order as stored (equal shapes, or a reshape);
/// `Ok(Some(perm))`: the golden transposed by `perm` first; `Err`: not comparable.
fn align_shapes(
    actual: &[usize],
    golden: &[usize],
    check_shapes: bool,
) -> Result<Option<Vec<usize>>, String> {
    if actual == golden {
        return Ok(None);
    }
    if check_shapes {
        return Err(format!(
            "will not compare outputs of different shapes {actual:?} (actual) and {golden:?} \
             (golden); disable the shape check (--no-shape-check) to compare them anyway"
        ));
    }
    let (na, ng): (usize, usize) = (actual.iter().product(), golden.iter().product());
    if na != ng {
        return Err(format!(
            "cannot match shape {golden:?} (golden, {ng} elements) to {actual:?} (actual, {na} \
             elements); the outputs have different sizes"
        ));
    }
    // Same rank and the same dimensions in another order: Polygraphy transposes, taking for each
    // dimension of `actual` the first golden axis of that length not used yet.
    let mut sorted_a = actual.to_vec();
    let mut sorted_g = golden.to_vec();
    sorted_a.sort_unstable();
    sorted_g.sort_unstable();
    if actual.len() != golden.len() || sorted_a != sorted_g {
        return Ok(None);
    }
    let mut used = vec![false; golden.len()];
    let mut perm = Vec::with_capacity(actual.len());
    for &d in actual {
        let axis = (0..golden.len()).find(|&i| !used[i] && golden[i] == d).ok_or_else(|| {
            format!("cannot permute shape {golden:?} (golden) to {actual:?} (actual)")
        })?;
        used[axis] = true;
        perm.push(axis);
    }
    Ok(Some(perm))
}

/// The elements of a tensor in C order (borrowed when the tensor already is).
enum Flat<'a> {
    F32(Cow<'a, [f32]>),
    F16(Cow<'a, [f16]>),
    BF16(Cow<'a, [bf16]>),
    F64(Cow<'a, [f64]>),
    I8(Cow<'a, [i8]>),
    U8(Cow<'a, [u8]>),
    I32(Cow<'a, [i32]>),
    I64(Cow<'a, [i64]>),
    Bool(Cow<'a, [bool]>),
}

/// The elements of `a` in C order, after transposing by `perm` if given.
fn c_order<'a, T: Copy>(a: &'a ArrayD<T>, perm: Option<&[usize]>) -> Cow<'a, [T]> {
    match perm {
        Some(p) => Cow::Owned(a.view().permuted_axes(p.to_vec()).iter().copied().collect()),
        None => match a.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(a.iter().copied().collect()),
        },
    }
}

impl<'a> Flat<'a> {
    fn of(t: &'a Tensor, perm: Option<&[usize]>) -> Self {
        match t {
            Tensor::F32(a) => Flat::F32(c_order(a, perm)),
            Tensor::F16(a) => Flat::F16(c_order(a, perm)),
            Tensor::BF16(a) => Flat::BF16(c_order(a, perm)),
            Tensor::F64(a) => Flat::F64(c_order(a, perm)),
            Tensor::I8(a) => Flat::I8(c_order(a, perm)),
            Tensor::U8(a) => Flat::U8(c_order(a, perm)),
            Tensor::I32(a) => Flat::I32(c_order(a, perm)),
            Tensor::I64(a) => Flat::I64(c_order(a, perm)),
            Tensor::Bool(a) => Flat::Bool(c_order(a, perm)),
        }
    }

    /// The type Polygraphy's `cast_up` widens this element type to.
    fn widened(&self) -> Wide {
        match self {
            Flat::F32(_) | Flat::F16(_) | Flat::BF16(_) => Wide::F32,
            Flat::F64(_) => Wide::F64,
            Flat::I8(_) | Flat::U8(_) | Flat::I32(_) => Wide::I32,
            Flat::I64(_) => Wide::I64,
            Flat::Bool(_) => Wide::Bool,
        }
    }
}

/// Element types after Polygraphy's `cast_up` (bfloat16, which NumPy lacks, is treated like
/// float16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wide {
    F32,
    F64,
    I32,
    I64,
    Bool,
}

/// The NumPy type of `absdiff`: `logical_xor` for two bools, else the promotion of the two
/// widened types (the relative difference is float32 for `F32`, float64 otherwise).
fn absdiff_kind(a: Wide, g: Wide) -> Wide {
    use Wide::{Bool, F32, F64, I32, I64};
    match (a, g) {
        (Bool, Bool) => Bool,
        (F64, _) | (_, F64) | (F32, I32 | I64) | (I32 | I64, F32) => F64,
        (F32, _) | (_, F32) => F32,
        (I64, _) | (_, I64) => I64,
        _ => I32,
    }
}

/// What to compute for one output.
struct Request {
    stat: ErrorStat,
    atol: f64,
    rtol: f64,
    quantile: f64,
    infinities_compare_equal: bool,
}

/// The statistics of one comparison, as Polygraphy reports them (converted to float64).
struct Stats {
    passed: bool,
    max_abs: f64,
    max_rel: f64,
    mean_abs: f64,
    mean_rel: f64,
    required_abs: f64,
    required_rel: f64,
}

macro_rules! pair_dispatch {
    (@inner $xs:ident, $g:expr, $call:ident($arg:expr), [$($vg:ident),*]) => {
        match $g {
            $(Flat::$vg(ys) => $call(&**$xs, &**ys, $arg),)*
            #[allow(unreachable_patterns)]
            _ => unreachable!("absdiff_kind admits only the listed golden types"),
        }
    };
    ($a:expr, $g:expr, $call:ident($arg:expr), [$($va:ident),*], $gl:tt) => {
        match $a {
            $(Flat::$va(xs) => pair_dispatch!(@inner xs, $g, $call($arg), $gl),)*
            #[allow(unreachable_patterns)]
            _ => unreachable!("absdiff_kind admits only the listed actual types"),
        }
    };
}

fn compare_flat(a: &Flat<'_>, g: &Flat<'_>, req: &Request) -> Stats {
    let kind = absdiff_kind(a.widened(), g.widened());
    if req.infinities_compare_equal {
        // Polygraphy's `util.array.where(cond, 0, absdiff)` turns the 0 into an int64 0-d array,
        // so NumPy promotes `absdiff` with int64: float32 becomes float64, int32 int64.
        match kind {
            Wide::F32 => {
                return pair_dispatch!(
                    a,
                    g,
                    compare_f32_promoted(req),
                    [F32, F16, BF16, Bool],
                    [F32, F16, BF16, Bool]
                );
            }
            Wide::I32 => {
                return pair_dispatch!(
                    a,
                    g,
                    compare_i32_promoted(req),
                    [I8, U8, I32, Bool],
                    [I8, U8, I32, Bool]
                );
            }
            Wide::F64 | Wide::I64 | Wide::Bool => {}
        }
    }
    match kind {
        Wide::F32 => {
            pair_dispatch!(a, g, compare_f32(req), [F32, F16, BF16, Bool], [F32, F16, BF16, Bool])
        }
        Wide::F64 => pair_dispatch!(
            a,
            g,
            compare_f64(req),
            [F32, F16, BF16, F64, I8, U8, I32, I64, Bool],
            [F32, F16, BF16, F64, I8, U8, I32, I64, Bool]
        ),
        Wide::I32 => {
            pair_dispatch!(a, g, compare_i32(req), [I8, U8, I32, Bool], [I8, U8, I32, Bool])
        }
        Wide::I64 => pair_dispatch!(
            a,
            g,
            compare_i64(req),
            [I8, U8, I32, I64, Bool],
            [I8, U8, I32, I64, Bool]
        ),
        Wide::Bool => pair_dispatch!(a, g, compare_bool(req), [Bool], [Bool]),
    }
}

fn compare_f32<X: Input, Y: Input>(xs: &[X], ys: &[Y], req: &Request) -> Stats {
    run(xs, ys, req, |x: X, y: Y| {
        let d = (x.f32v() - y.f32v()).abs();
        (d, d / y.den32())
    })
}

/// float32 differences with `infinities_compare_equal`: computed in float32, then held (and
/// divided) in float64.
fn compare_f32_promoted<X: Input, Y: Input>(xs: &[X], ys: &[Y], req: &Request) -> Stats {
    run(xs, ys, req, |x: X, y: Y| {
        let (a, b) = (x.f32v(), y.f32v());
        let d = if x.is_inf() && a == b { 0.0 } else { f64::from((a - b).abs()) };
        (d, d / f64::from(y.den32()))
    })
}

/// int32 differences with `infinities_compare_equal`: computed in int32 (wrapping), then held
/// in int64.
fn compare_i32_promoted<X: Input, Y: Input>(xs: &[X], ys: &[Y], req: &Request) -> Stats {
    run(xs, ys, req, |x: X, y: Y| {
        let d = i64::from(x.i32v().wrapping_sub(y.i32v()).wrapping_abs());
        (d, d as f64 / y.den64())
    })
}

fn compare_f64<X: Input, Y: Input>(xs: &[X], ys: &[Y], req: &Request) -> Stats {
    let ice = req.infinities_compare_equal;
    run(xs, ys, req, move |x: X, y: Y| {
        let (a, b) = (x.f64v(), y.f64v());
        let mut d = (a - b).abs();
        if ice && x.is_inf() && a == b {
            d = 0.0;
        }
        (d, d / y.den64())
    })
}

fn compare_i32<X: Input, Y: Input>(xs: &[X], ys: &[Y], req: &Request) -> Stats {
    run(xs, ys, req, |x: X, y: Y| {
        let d = x.i32v().wrapping_sub(y.i32v()).wrapping_abs();
        (d, f64::from(d) / y.den64())
    })
}

fn compare_i64<X: Input, Y: Input>(xs: &[X], ys: &[Y], req: &Request) -> Stats {
    run(xs, ys, req, |x: X, y: Y| {
        let d = x.i64v().wrapping_sub(y.i64v()).wrapping_abs();
        (d, d as f64 / y.den64())
    })
}

fn compare_bool(xs: &[bool], ys: &[bool], req: &Request) -> Stats {
    run(xs, ys, req, |x: bool, y: bool| {
        let d = x ^ y;
        (d, f64::from(u8::from(d)) / f64::from(u8::from(y)))
    })
}

/// An element type of an input array, with NumPy's conversions.
trait Input: Copy + Send + Sync {
    /// `astype(float32)`.
    fn f32v(self) -> f32;
    /// `astype(float64)`.
    fn f64v(self) -> f64;
    /// `astype(int32)` (only called for types that widen to int32 or narrower).
    fn i32v(self) -> i32;
    /// `astype(int64)` (only called for integer and bool types).
    fn i64v(self) -> i64;
    /// `np.isinf`.
    fn is_inf(self) -> bool;
    /// `abs(cast_up(golden) with zeros + epsilon)` as float64.
    fn den64(self) -> f64;
    /// The same as float32 (only called for float32-family and bool goldens).
    fn den32(self) -> f32 {
        self.den64() as f32
    }
}

/// `abs` of a float32 golden with exact zeros replaced by the float32 epsilon.
#[inline]
fn den_f32(v: f32) -> f32 {
    if v == 0.0 { RELDIFF_EPSILON as f32 } else { v.abs() }
}

macro_rules! impl_input_float16 {
    ($($t:ty),*) => {$(
        impl Input for $t {
            #[inline]
            fn f32v(self) -> f32 { f32::from(self) }
            #[inline]
            fn f64v(self) -> f64 { f64::from(self) }
            fn i32v(self) -> i32 { f32::from(self) as i32 }
            fn i64v(self) -> i64 { f32::from(self) as i64 }
            #[inline]
            fn is_inf(self) -> bool { f32::from(self).is_infinite() }
            #[inline]
            fn den64(self) -> f64 { f64::from(den_f32(f32::from(self))) }
            #[inline]
            fn den32(self) -> f32 { den_f32(f32::from(self)) }
        }
    )*};
}
impl_input_float16!(f16, bf16);

impl Input for f32 {
    #[inline]
    fn f32v(self) -> f32 {
        self
    }
    #[inline]
    fn f64v(self) -> f64 {
        f64::from(self)
    }
    fn i32v(self) -> i32 {
        self as i32
    }
    fn i64v(self) -> i64 {
        self as i64
    }
    #[inline]
    fn is_inf(self) -> bool {
        self.is_infinite()
    }
    #[inline]
    fn den64(self) -> f64 {
        f64::from(den_f32(self))
    }
    #[inline]
    fn den32(self) -> f32 {
        den_f32(self)
    }
}

impl Input for f64 {
    #[inline]
    fn f32v(self) -> f32 {
        self as f32
    }
    #[inline]
    fn f64v(self) -> f64 {
        self
    }
    fn i32v(self) -> i32 {
        self as i32
    }
    fn i64v(self) -> i64 {
        self as i64
    }
    #[inline]
    fn is_inf(self) -> bool {
        self.is_infinite()
    }
    #[inline]
    fn den64(self) -> f64 {
        if self == 0.0 { RELDIFF_EPSILON } else { self.abs() }
    }
}

macro_rules! impl_input_int {
    ($($t:ty => $wide:ty),*) => {$(
        #[allow(clippy::cast_lossless, reason = "one macro for lossless and lossy NumPy casts")]
        impl Input for $t {
            #[inline]
            fn f32v(self) -> f32 { self as f32 }
            #[inline]
            fn f64v(self) -> f64 { self as f64 }
            #[inline]
            fn i32v(self) -> i32 { self as i32 }
            #[inline]
            fn i64v(self) -> i64 { self as i64 }
            #[inline]
            fn is_inf(self) -> bool { false }
            #[inline]
            fn den64(self) -> f64 { (self as $wide).wrapping_abs() as f64 }
        }
    )*};
}
impl_input_int!(i8 => i32, u8 => i32, i32 => i32, i64 => i64);

impl Input for bool {
    #[inline]
    fn f32v(self) -> f32 {
        f32::from(u8::from(self))
    }
    #[inline]
    fn f64v(self) -> f64 {
        f64::from(u8::from(self))
    }
    #[inline]
    fn i32v(self) -> i32 {
        i32::from(self)
    }
    #[inline]
    fn i64v(self) -> i64 {
        i64::from(self)
    }
    #[inline]
    fn is_inf(self) -> bool {
        false
    }
    #[inline]
    fn den64(self) -> f64 {
        f64::from(u8::from(self))
    }
}

/// An element type of `absdiff`/`reldiff`, with the NumPy arithmetic Polygraphy's statistics use.
trait Diff: Copy + Send + Sync + PartialOrd {
    /// Whether `np.mean(x, dtype=float32)` sums this type without casting (one pairwise sum over
    /// the whole array instead of one per cast buffer).
    const IS_F32: bool;
    /// The starting value of a maximum.
    const LOWEST: Self;
    fn is_nan(self) -> bool;
    fn to_f64(self) -> f64;
    /// `astype(float32)`.
    fn to_f32(self) -> f32;
    /// Polygraphy's `util.array.greater(x, tol)`: it turns the tolerance into a float64 0-d
    /// array first, so NumPy compares in float64 whatever the type of `x`.
    fn exceeds(self, tol: f64) -> bool;
    /// The larger of two values, ignoring NaN (tracked separately).
    fn max_no_nan(self, other: Self) -> Self;
    fn total_order(&self, other: &Self) -> Ordering;
    /// `np.mean` of the single middle element (odd-length median).
    fn mean1(self) -> f64;
    /// `np.mean` of the two middle elements (even-length median).
    fn mean2(self, other: Self) -> f64;
    /// NumPy's `_lerp(a, b, t)` for `np.quantile(..., method="linear")`.
    fn lerp(self, b: Self, t: f64) -> f64;
}

impl Diff for f32 {
    const IS_F32: bool = true;
    const LOWEST: Self = f32::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn exceeds(self, tol: f64) -> bool {
        f64::from(self) > tol
    }
    #[inline]
    fn max_no_nan(self, other: Self) -> Self {
        self.max(other)
    }
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
    fn mean1(self) -> f64 {
        f64::from(self)
    }
    #[expect(clippy::manual_midpoint, reason = "NumPy's mean overflows to inf; midpoint does not")]
    fn mean2(self, other: Self) -> f64 {
        f64::from((self + other) / 2.0)
    }
    fn lerp(self, b: Self, t: f64) -> f64 {
        let diff = b - self;
        let r = if t >= 0.5 { b - diff * (1.0 - t) as f32 } else { self + diff * t as f32 };
        f64::from(r)
    }
}

impl Diff for f64 {
    const IS_F32: bool = false;
    const LOWEST: Self = f64::NEG_INFINITY;
    #[inline]
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline]
    fn exceeds(self, tol: f64) -> bool {
        self > tol
    }
    #[inline]
    fn max_no_nan(self, other: Self) -> Self {
        self.max(other)
    }
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
    fn mean1(self) -> f64 {
        self
    }
    #[expect(clippy::manual_midpoint, reason = "NumPy's mean overflows to inf; midpoint does not")]
    fn mean2(self, other: Self) -> f64 {
        (self + other) / 2.0
    }
    fn lerp(self, b: Self, t: f64) -> f64 {
        let diff = b - self;
        if t >= 0.5 { b - diff * (1.0 - t) } else { self + diff * t }
    }
}

macro_rules! impl_diff_int {
    ($($t:ty),*) => {$(
        #[allow(clippy::cast_lossless, reason = "one macro for lossless and lossy NumPy casts")]
        impl Diff for $t {
            const IS_F32: bool = false;
            const LOWEST: Self = <$t>::MIN;
            #[inline]
            fn is_nan(self) -> bool { false }
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn to_f32(self) -> f32 { self as f32 }
            #[inline]
            fn exceeds(self, tol: f64) -> bool { self as f64 > tol }
            #[inline]
            fn max_no_nan(self, other: Self) -> Self { Ord::max(self, other) }
            fn total_order(&self, other: &Self) -> Ordering { self.cmp(other) }
            fn mean1(self) -> f64 { self as f64 }
            fn mean2(self, other: Self) -> f64 { (self as f64 + other as f64) / 2.0 }
            fn lerp(self, b: Self, t: f64) -> f64 {
                // The difference is taken in the integer type (wrapping), then scaled in float64.
                let diff = b.wrapping_sub(self) as f64;
                if t >= 0.5 { b as f64 - diff * (1.0 - t) } else { self as f64 + diff * t }
            }
        }
    )*};
}
impl_diff_int!(i32, i64);

impl Diff for bool {
    const IS_F32: bool = false;
    const LOWEST: Self = false;
    #[inline]
    fn is_nan(self) -> bool {
        false
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
    #[inline]
    fn to_f32(self) -> f32 {
        f32::from(u8::from(self))
    }
    #[inline]
    fn exceeds(self, tol: f64) -> bool {
        f64::from(u8::from(self)) > tol
    }
    #[inline]
    fn max_no_nan(self, other: Self) -> Self {
        self | other
    }
    fn total_order(&self, other: &Self) -> Ordering {
        self.cmp(other)
    }
    fn mean1(self) -> f64 {
        self.to_f64()
    }
    fn mean2(self, other: Self) -> f64 {
        self.to_f64().mean2(other.to_f64())
    }
    fn lerp(self, b: Self, t: f64) -> f64 {
        // NumPy refuses quantiles of bool arrays; interpolate their 0/1 values instead.
        self.to_f64().lerp(b.to_f64(), t)
    }
}

/// Statistics of a run of elements.
#[derive(Clone, Copy)]
struct Partial<A, R> {
    /// NumPy's float32 sum of `absdiff` over the run (in its pairwise order).
    sum_abs: f32,
    sum_rel: f32,
    max_abs: A,
    max_rel: R,
    nan_abs: bool,
    nan_rel: bool,
    /// Elements failing the elemwise check (counted only for that check).
    mismatches: usize,
}

impl<A: Diff, R: Diff> Partial<A, R> {
    /// Joins the statistics of a run with those of the run after it.
    #[inline]
    fn join(self, o: Self) -> Self {
        Partial {
            sum_abs: self.sum_abs + o.sum_abs,
            sum_rel: self.sum_rel + o.sum_rel,
            max_abs: self.max_abs.max_no_nan(o.max_abs),
            max_rel: self.max_rel.max_no_nan(o.max_rel),
            nan_abs: self.nan_abs | o.nan_abs,
            nan_rel: self.nan_rel | o.nan_rel,
            mismatches: self.mismatches + o.mismatches,
        }
    }
}

/// Tolerances for the fused pass; `elemwise` says whether to count mismatches.
#[derive(Clone, Copy)]
struct Tol {
    elemwise: bool,
    atol: f64,
    rtol: f64,
}

/// NumPy's `pairwise_sum` of at most [`PAIRWISE_BLOCK`] float32 values: fewer than 8 summed in
/// order, else 8 interleaved accumulators combined as a tree, then the remainder in order.
#[inline]
fn pairwise_leaf(v: &[f32]) -> f32 {
    let n = v.len();
    if n < 8 {
        let mut res = -0.0f32;
        for &x in v {
            res += x;
        }
        return res;
    }
    let mut r = [0f32; 8];
    r.copy_from_slice(&v[..8]);
    let full = n - n % 8;
    for block in v[8..full].chunks_exact(8) {
        for (acc, &x) in r.iter_mut().zip(block) {
            *acc += x;
        }
    }
    let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for &x in &v[full..] {
        res += x;
    }
    res
}

/// One leaf of the pairwise recursion: computes the differences of up to
/// [`PAIRWISE_BLOCK`] elements and all their statistics in one pass.
#[inline]
fn leaf<X, Y, A, R, K>(xs: &[X], ys: &[Y], k: &K, tol: Tol) -> Partial<A, R>
where
    X: Copy,
    Y: Copy,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R),
{
    let n = xs.len();
    let mut abs32 = [0f32; PAIRWISE_BLOCK];
    let mut rel32 = [0f32; PAIRWISE_BLOCK];
    let (mut max_abs, mut max_rel) = (A::LOWEST, R::LOWEST);
    let (mut nan_abs, mut nan_rel) = (false, false);
    let mut mismatches = 0usize;
    let outs = abs32.iter_mut().zip(rel32.iter_mut());
    for ((&x, &y), (sa, sr)) in xs.iter().zip(ys).zip(outs) {
        let (a, r) = k(x, y);
        *sa = a.to_f32();
        *sr = r.to_f32();
        max_abs = max_abs.max_no_nan(a);
        max_rel = max_rel.max_no_nan(r);
        nan_abs |= a.is_nan();
        nan_rel |= r.is_nan();
        if tol.elemwise {
            let fail_abs = a.exceeds(tol.atol) | a.is_nan();
            let fail_rel = r.exceeds(tol.rtol) | r.is_nan();
            mismatches += usize::from(fail_abs & fail_rel);
        }
    }
    Partial {
        sum_abs: pairwise_leaf(&abs32[..n]),
        sum_rel: pairwise_leaf(&rel32[..n]),
        max_abs,
        max_rel,
        nan_abs,
        nan_rel,
        mismatches,
    }
}

/// NumPy's pairwise summation structure over a run (recursively halving at a multiple of 8 until
/// runs of at most 128), with every statistic computed alongside. Runs of at least
/// [`PARALLEL_SPLIT_LEN`] are split across threads when `parallel`; the tree, and so every
/// result, is the same either way.
fn pairwise<X, Y, A, R, K>(xs: &[X], ys: &[Y], k: &K, tol: Tol, parallel: bool) -> Partial<A, R>
where
    X: Copy + Sync,
    Y: Copy + Sync,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R) + Sync,
{
    let n = xs.len();
    if n <= PAIRWISE_BLOCK {
        return leaf(xs, ys, k, tol);
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    let (xl, xr) = xs.split_at(n2);
    let (yl, yr) = ys.split_at(n2);
    if parallel && n >= PARALLEL_SPLIT_LEN {
        let (l, r) = rayon::join(
            || pairwise(xl, yl, k, tol, parallel),
            || pairwise(xr, yr, k, tol, parallel),
        );
        l.join(r)
    } else {
        pairwise(xl, yl, k, tol, false).join(pairwise(xr, yr, k, tol, false))
    }
}

/// The fused pass over all elements, in NumPy's summation order for `np.mean(x, dtype=float32)`:
/// one pairwise sum over the whole array when the differences are float32, else (NumPy casts
/// through buffers) one pairwise sum per [`CAST_BUFFER`] elements, added in order.
fn fused<X, Y, A, R, K>(xs: &[X], ys: &[Y], k: &K, tol: Tol) -> Partial<A, R>
where
    X: Copy + Sync,
    Y: Copy + Sync,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R) + Sync,
{
    debug_assert_eq!(A::IS_F32, R::IS_F32, "absdiff and reldiff are both float32 or neither");
    let parallel = xs.len() >= PARALLEL_MIN_LEN && rayon::current_num_threads() > 1;
    let start = Partial {
        sum_abs: 0.0,
        sum_rel: 0.0,
        max_abs: A::LOWEST,
        max_rel: R::LOWEST,
        nan_abs: false,
        nan_rel: false,
        mismatches: 0,
    };
    if A::IS_F32 {
        return start.join(pairwise(xs, ys, k, tol, parallel));
    }
    if parallel {
        let parts: Vec<Partial<A, R>> = xs
            .par_chunks(CAST_BUFFER)
            .zip(ys.par_chunks(CAST_BUFFER))
            .map(|(x, y)| pairwise(x, y, k, tol, false))
            .collect();
        parts.into_iter().fold(start, Partial::join)
    } else {
        xs.chunks(CAST_BUFFER)
            .zip(ys.chunks(CAST_BUFFER))
            .fold(start, |acc, (x, y)| acc.join(pairwise(x, y, k, tol, false)))
    }
}

/// `np.median` after `cast_up` (0 for an empty array, NaN if any value is NaN).
fn median<A: Diff>(v: &mut [A]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let n = v.len();
    let (left, &mut upper, _) = v.select_nth_unstable_by(n / 2, A::total_order);
    if n % 2 == 1 {
        return upper.mean1();
    }
    let lower = left.iter().copied().fold(A::LOWEST, A::max_no_nan);
    lower.mean2(upper)
}

/// `np.quantile(x, q)` with the default linear method (inf for an empty array, NaN if any value is
/// NaN), including NumPy's index and interpolation arithmetic.
#[expect(clippy::many_single_char_names, reason = "NumPy's names: a, b, n, q")]
fn quantile<A: Diff>(v: &mut [A], q: f64) -> f64 {
    if v.is_empty() {
        return f64::INFINITY;
    }
    if v.iter().any(|x| x.is_nan()) || q.is_nan() {
        return f64::NAN;
    }
    let n = v.len();
    let last = (n - 1) as f64;
    let virtual_index = last * q;
    let (prev, next, gamma) = if virtual_index >= last {
        // NumPy takes the last element twice, with gamma measured from index -1.
        (n - 1, n - 1, virtual_index + 1.0)
    } else if virtual_index < 0.0 {
        (0, 0, virtual_index)
    } else {
        let p = virtual_index.floor();
        (p as usize, p as usize + 1, virtual_index - p)
    };
    let (_, &mut a, right) = v.select_nth_unstable_by(prev, A::total_order);
    let b = if next == prev {
        a
    } else {
        right
            .iter()
            .copied()
            .reduce(|m, x| if x.total_order(&m).is_lt() { x } else { m })
            .unwrap_or(a)
    };
    a.lerp(b, gamma)
}

/// Polygraphy's check of a scalar statistic: it fails if NaN or above the tolerance.
fn stat_fails(value: f64, tol: f64) -> bool {
    value.is_nan() || value > tol
}

/// Runs the fused pass (and, for median/quantile, a selection on a copy of the differences) and
/// applies Polygraphy's verdict.
fn run<X, Y, A, R, K>(xs: &[X], ys: &[Y], req: &Request, k: K) -> Stats
where
    X: Copy + Sync,
    Y: Copy + Sync,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R) + Sync,
{
    let n = xs.len();
    let tol = Tol { elemwise: req.stat == ErrorStat::Elemwise, atol: req.atol, rtol: req.rtol };
    let p = fused(xs, ys, &k, tol);
    let finish_max = |m: f64, nan: bool| {
        if n == 0 {
            0.0
        } else if nan {
            f64::NAN
        } else {
            m
        }
    };
    let max_abs = finish_max(p.max_abs.to_f64(), p.nan_abs);
    let max_rel = finish_max(p.max_rel.to_f64(), p.nan_rel);
    // np.mean(x, dtype=float32): the float32 sum divided in float32 (NaN when empty).
    let count = n as f32;
    let mean_abs = if n == 0 { f64::NAN } else { f64::from(p.sum_abs / count) };
    let mean_rel = if n == 0 { f64::NAN } else { f64::from(p.sum_rel / count) };
    let (required_abs, required_rel) = match req.stat {
        ErrorStat::Elemwise | ErrorStat::Max => (max_abs, max_rel),
        ErrorStat::Mean => (mean_abs, mean_rel),
        ErrorStat::Median | ErrorStat::Quantile => {
            let pairs = xs.par_iter().zip(ys.par_iter()).with_min_len(CAST_BUFFER);
            let (mut abs, mut rel): (Vec<A>, Vec<R>) = pairs.map(|(&x, &y)| k(x, y)).unzip();
            // The two selections are independent: run them on two threads.
            if req.stat == ErrorStat::Median {
                rayon::join(|| median(&mut abs), || median(&mut rel))
            } else {
                let q = req.quantile;
                rayon::join(|| quantile(&mut abs, q), || quantile(&mut rel, q))
            }
        }
    };
    let passed = if req.stat == ErrorStat::Elemwise {
        p.mismatches == 0
    } else {
        !(stat_fails(required_abs, req.atol) && stat_fails(required_rel, req.rtol))
    };
    Stats { passed, max_abs, max_rel, mean_abs, mean_rel, required_abs, required_rel }
}

/// Compares every tensor in `actual` with the tensor of the same name in `golden`, in the order
/// of `actual`.
pub fn compare_outputs(
    actual: &NamedTensors,
    golden: &NamedTensors,
    config: &CompareConfig,
) -> Result<Vec<OutputComparison>, CompareError> {
    actual
        .iter()
        .map(|(name, a)| {
            let g = golden.get(name).ok_or_else(|| CompareError::MissingGolden(name.clone()))?;
            Ok(compare_tensors(name, a, g, config))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap().into()
    }

    fn vec32(v: &[f32]) -> Tensor {
        f32s(&[v.len()], v)
    }

    fn config(stat: ErrorStat, atol: f64, rtol: f64) -> CompareConfig {
        CompareConfig {
            atol: PerOutput::uniform(atol),
            rtol: PerOutput::uniform(rtol),
            check_error_stat: PerOutput::uniform(stat),
            ..CompareConfig::default()
        }
    }

    fn cmp(actual: &Tensor, golden: &Tensor, c: &CompareConfig) -> OutputComparison {
        compare_tensors("out", actual, golden, c)
    }

    #[test]
    fn elemwise_fails_an_element_only_when_both_tolerances_fail() {
        let golden = vec32(&[1.0, 100.0]);
        // Element 0: abs 0.5 > 0.1 and rel 0.5 > 0.01 -> fails.
        let r = cmp(&vec32(&[1.5, 100.0]), &golden, &config(ErrorStat::Elemwise, 0.1, 0.01));
        assert!(!r.passed);
        assert_eq!(r.required_atol, 0.5);
        assert_eq!(r.required_rtol, 0.5);
        // Element 1: abs 0.5 > 0.1 but rel 0.005 <= 0.01 -> passes.
        let r = cmp(&vec32(&[1.0, 100.5]), &golden, &config(ErrorStat::Elemwise, 0.1, 0.01));
        assert!(r.passed);
        assert_eq!(r.required_atol, 0.5);
        assert_eq!(r.required_rtol, f64::from(0.5f32 / 100.0));
        // Both elements pass one tolerance each, though the maxima fail both.
        let r = cmp(&vec32(&[1.05, 100.5]), &golden, &config(ErrorStat::Elemwise, 0.1, 0.01));
        assert!(r.passed);
        let r = cmp(&vec32(&[1.05, 100.5]), &golden, &config(ErrorStat::Max, 0.1, 0.01));
        assert!(!r.passed, "max checks max absdiff 0.5 > 0.1 and max reldiff 0.05 > 0.01");
    }

    #[test]
    fn elemwise_is_not_numpy_isclose() {
        // isclose: |a - b| <= atol + rtol * |b| = 1e-3 + 1e-3 passes 0.0015; Polygraphy does not.
        let c = config(ErrorStat::Elemwise, 1e-3, 1e-5);
        let golden = Tensor::from(ArrayD::from_elem(IxDyn(&[1]), 100.0f64));
        let actual = Tensor::from(ArrayD::from_elem(IxDyn(&[1]), 100.0015f64));
        assert!(!cmp(&actual, &golden, &c).passed);
    }

    #[test]
    fn tolerances_compare_in_float64() {
        // float32(0.1) > 0.1 in float64, so an absdiff of float32(0.1) fails atol 0.1.
        let r = cmp(&vec32(&[0.1]), &vec32(&[0.0]), &config(ErrorStat::Elemwise, 0.1, 0.0));
        assert!(!r.passed);
        assert_eq!(r.required_atol, f64::from(0.1f32));
    }

    #[test]
    fn zero_golden_gets_float32_epsilon() {
        let r = cmp(&vec32(&[1e-20]), &vec32(&[0.0]), &config(ErrorStat::Elemwise, 0.0, 1e-3));
        let expected = f64::from(1e-20f32 / (RELDIFF_EPSILON as f32));
        assert_eq!(r.required_rtol, expected);
        assert!(r.passed, "reldiff {expected} <= 1e-3");
        // A float64 golden gets the float64 epsilon; an integer golden none (x / 0 = inf).
        let g64 = Tensor::from(ArrayD::from_elem(IxDyn(&[1]), 0.0f64));
        let a64 = Tensor::from(ArrayD::from_elem(IxDyn(&[1]), 1e-20f64));
        let r = cmp(&a64, &g64, &config(ErrorStat::Max, 0.0, 0.0));
        assert_eq!(r.required_rtol, 1e-20 / RELDIFF_EPSILON);
        let gi = Tensor::from(ArrayD::from_elem(IxDyn(&[1]), 0i32));
        let r = cmp(&vec32(&[0.5]), &gi, &config(ErrorStat::Max, 0.0, 0.0));
        assert_eq!(r.required_rtol, f64::INFINITY);
    }

    #[test]
    fn nan_fails_whatever_the_tolerance() {
        let c = config(ErrorStat::Elemwise, 1e30, 1e30);
        let r = cmp(&vec32(&[f32::NAN, 1.0]), &vec32(&[1.0, 1.0]), &c);
        assert!(!r.passed);
        assert!(r.max_absdiff.is_nan() && r.max_reldiff.is_nan() && r.mean_absdiff.is_nan());
        for stat in [ErrorStat::Max, ErrorStat::Mean, ErrorStat::Median, ErrorStat::Quantile] {
            assert!(
                !cmp(&vec32(&[1.0, 1.0]), &vec32(&[f32::NAN, 1.0]), &config(stat, 1e30, 1e30))
                    .passed
            );
        }
    }

    #[test]
    fn equal_infinities_pass_only_with_infinities_compare_equal() {
        let actual = vec32(&[f32::INFINITY, f32::NEG_INFINITY, 1.0]);
        let golden = vec32(&[f32::INFINITY, f32::NEG_INFINITY, 1.0]);
        let mut c = config(ErrorStat::Elemwise, 1e-5, 1e-5);
        assert!(!cmp(&actual, &golden, &c).passed, "inf - inf is NaN");
        c.infinities_compare_equal = true;
        let r = cmp(&actual, &golden, &c);
        assert!(r.passed);
        assert_eq!(r.required_atol, 0.0);
        // Opposite infinities still differ by inf.
        let r = cmp(&vec32(&[f32::INFINITY]), &vec32(&[f32::NEG_INFINITY]), &c);
        assert!(!r.passed);
        assert_eq!(r.max_absdiff, f64::INFINITY);
    }

    #[test]
    fn statistics_fail_only_when_both_fail() {
        let golden = vec32(&[1.0, 2.0, 4.0, 8.0]);
        let actual = vec32(&[1.5, 2.5, 4.5, 9.0]);
        // absdiff 0.5 0.5 0.5 1.0, reldiff 0.5 0.25 0.125 0.125.
        let r = cmp(&actual, &golden, &config(ErrorStat::Mean, 0.6, 0.0));
        assert_eq!((r.required_atol, r.required_rtol), (0.625, 0.25));
        assert_eq!((r.mean_absdiff, r.mean_reldiff), (0.625, 0.25));
        assert!(!r.passed, "0.625 > 0.6 and 0.25 > 0");
        assert!(cmp(&actual, &golden, &config(ErrorStat::Mean, 0.6, 0.25)).passed);
        assert!(cmp(&actual, &golden, &config(ErrorStat::Mean, 0.625, 0.0)).passed);
        let r = cmp(&actual, &golden, &config(ErrorStat::Median, 0.0, 0.0));
        assert_eq!((r.required_atol, r.required_rtol), (0.5, 0.1875));
        assert!(!r.passed);
        assert!(cmp(&actual, &golden, &config(ErrorStat::Median, 0.5, 0.0)).passed);
        let r = cmp(&actual, &golden, &config(ErrorStat::Max, 1.0, 0.0));
        assert_eq!((r.required_atol, r.required_rtol), (1.0, 0.5));
        assert!(r.passed);
        let mut c = config(ErrorStat::Quantile, 0.0, 0.0);
        c.error_quantile = PerOutput::uniform(0.5);
        let r = cmp(&actual, &golden, &c);
        assert_eq!((r.required_atol, r.required_rtol), (0.5, 0.1875));
        // (n - 1) * 0.99 = 2.97: 0.5 + (1.0 - 0.5) * 0.97 in float32, from the top: 1.0 - 0.5 * 0.03.
        c.error_quantile = PerOutput::uniform(0.99);
        let r = cmp(&actual, &golden, &c);
        assert_eq!(r.required_atol, f64::from(1.0f32 - 0.5f32 * (1.0f64 - 0.97) as f32));
    }

    #[test]
    fn quantile_interpolation_through_infinity_is_nan_as_in_numpy() {
        let mut c = config(ErrorStat::Quantile, 1e30, 1e30);
        c.error_quantile = PerOutput::uniform(0.0);
        // Sorted absdiff [1, inf]: NumPy computes 1 + (inf - 1) * 0 = NaN.
        let r = cmp(&vec32(&[2.0, f32::INFINITY]), &vec32(&[1.0, 0.0]), &c);
        assert!(r.required_atol.is_nan());
    }

    #[test]
    fn mean_sums_in_numpys_float32_pairwise_order() {
        // NumPy: 8 accumulators give 16777216 + 1 + ... = 16777222, then + 1 + 1 rounds to
        // 16777224; a running sum would stay at 16777216.
        let mut v = vec![1.0f32; 10];
        v[0] = 16_777_216.0;
        let r = cmp(&vec32(&v), &vec32(&[0.0; 10]), &config(ErrorStat::Mean, 0.0, 0.0));
        assert_eq!(r.mean_absdiff, f64::from(16_777_224.0f32 / 10.0));
        assert_eq!(pairwise_leaf(&[1.0, 2.0, 3.0]), 6.0);
    }

    #[test]
    fn parallel_and_sequential_passes_agree() {
        let n = PARALLEL_MIN_LEN + 12_345;
        let golden: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 7.0).collect();
        let actual: Vec<f32> =
            golden.iter().enumerate().map(|(i, g)| g + (i % 13) as f32 * 1e-6).collect();
        let tol = Tol { elemwise: true, atol: 1e-5, rtol: 1e-5 };
        let k = |x: f32, y: f32| {
            let d = (x - y).abs();
            (d, d / den_f32(y))
        };
        let par: Partial<f32, f32> = pairwise(&actual, &golden, &k, tol, true);
        let seq: Partial<f32, f32> = pairwise(&actual, &golden, &k, tol, false);
        assert_eq!(par.sum_abs.to_bits(), seq.sum_abs.to_bits());
        assert_eq!(par.sum_rel.to_bits(), seq.sum_rel.to_bits());
        assert_eq!(par.mismatches, seq.mismatches);
        assert_eq!(par.max_abs, seq.max_abs);
    }

    #[test]
    fn empty_outputs_fail_only_mean_and_quantile() {
        let e = vec32(&[]);
        for (stat, passes) in [
            (ErrorStat::Elemwise, true),
            (ErrorStat::Max, true),
            (ErrorStat::Mean, false),
            (ErrorStat::Median, true),
            (ErrorStat::Quantile, false),
        ] {
            let r = cmp(&e, &e, &config(stat, 1e-5, 1e-5));
            assert_eq!(r.passed, passes, "{stat}");
            assert_eq!(r.max_absdiff, 0.0);
        }
    }

    #[test]
    fn shapes_must_match_unless_the_check_is_off() {
        let actual = f32s(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        // The transpose of `actual`: equal once Polygraphy permutes it back.
        let golden = f32s(&[3, 2], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let mut c = config(ErrorStat::Elemwise, 0.0, 0.0);
        let r = cmp(&actual, &golden, &c);
        assert!(!r.passed && r.mismatch.is_some() && r.max_absdiff.is_nan());
        c.check_shapes = false;
        let r = cmp(&actual, &golden, &c);
        assert!(r.passed && r.mismatch.is_none());
        // A reshape keeps the C order.
        let r = cmp(&actual, &f32s(&[6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), &c);
        assert!(r.passed);
        // Different sizes cannot be compared.
        let r = cmp(&actual, &f32s(&[5], &[0.0; 5]), &c);
        assert!(!r.passed && r.mismatch.is_some());
        assert_eq!(align_shapes(&[2, 2, 3], &[3, 2, 2], false), Ok(Some(vec![1, 2, 0])));
    }

    #[test]
    fn bools_use_xor_and_integers_wrap_like_numpy() {
        let b = |v: &[bool]| {
            Tensor::from(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
        };
        let r = cmp(&b(&[true, false]), &b(&[true, true]), &config(ErrorStat::Max, 0.0, 0.0));
        assert_eq!((r.required_atol, r.required_rtol), (1.0, 1.0));
        assert!(!r.passed);
        // i32::MAX - (-1) wraps to i32::MIN, whose abs stays negative: the element passes.
        let i = |v: &[i32]| {
            Tensor::from(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
        };
        let r = cmp(&i(&[i32::MAX]), &i(&[-1]), &config(ErrorStat::Elemwise, 0.0, 0.0));
        assert!(r.passed);
        assert_eq!(r.max_absdiff, f64::from(i32::MIN));
        // int8 is widened to int32 first, so no wrap there.
        let i8s = Tensor::from(ArrayD::from_shape_vec(IxDyn(&[1]), vec![127i8]).unwrap());
        let g8 = Tensor::from(ArrayD::from_shape_vec(IxDyn(&[1]), vec![-128i8]).unwrap());
        assert_eq!(cmp(&i8s, &g8, &config(ErrorStat::Max, 0.0, 0.0)).max_absdiff, 255.0);
    }

    #[test]
    fn per_output_settings_and_invalid_quantiles() {
        let mut c = config(ErrorStat::Elemwise, 0.0, 0.0);
        c.atol.overrides.push(("out".into(), 1.0));
        assert!(cmp(&vec32(&[1.5]), &vec32(&[1.0]), &c).passed);
        let mut c = config(ErrorStat::Quantile, 1.0, 1.0);
        c.error_quantile = PerOutput::uniform(1.5);
        let r = cmp(&vec32(&[1.0]), &vec32(&[1.0]), &c);
        assert!(!r.passed && r.mismatch.is_some());
    }
}
