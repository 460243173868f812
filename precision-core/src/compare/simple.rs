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

use rayon::prelude::*;

use super::ErrorStat;
use super::headroom::{agree, ratio};
use super::numpy::{Diff, Input};
use super::pairwise::{CAST_BUFFER, Tol, fused, median, quantile};
use super::shapes::{Flat, Wide, absdiff_kind};

/// What to compute for one output.
pub(super) struct Request {
    pub(super) stat: ErrorStat,
    pub(super) atol: f64,
    pub(super) rtol: f64,
    pub(super) quantile: f64,
    pub(super) infinities_compare_equal: bool,
    /// The user's tolerances (`atol`/`rtol` above are them times `--margin`), for headroom.
    pub(super) user_atol: f64,
    pub(super) user_rtol: f64,
}

/// The statistics of one comparison, as Polygraphy reports them (converted to float64).
pub(super) struct Stats {
    pub(super) passed: bool,
    pub(super) max_abs: f64,
    pub(super) max_rel: f64,
    pub(super) mean_abs: f64,
    pub(super) mean_rel: f64,
    pub(super) required_abs: f64,
    pub(super) required_rel: f64,
    /// How far from failing against the user's tolerances ([`super::headroom`]).
    pub(super) headroom: f64,
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

pub(super) fn compare_flat(a: &Flat<'_>, g: &Flat<'_>, req: &Request) -> Stats {
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

/// Polygraphy's check of a scalar statistic: it fails if NaN or above the tolerance.
pub(super) fn stat_fails(value: f64, tol: f64) -> bool {
    value.is_nan() || value > tol
}

/// Runs the fused pass (and, for median/quantile, a selection on a copy of the differences) and
/// applies Polygraphy's verdict.
pub(super) fn run<X, Y, A, R, K>(xs: &[X], ys: &[Y], req: &Request, k: K) -> Stats
where
    X: Copy + Sync,
    Y: Copy + Sync,
    A: Diff,
    R: Diff,
    K: Fn(X, Y) -> (A, R) + Sync,
{
    let n = xs.len();
    let tol = Tol {
        elemwise: req.stat == ErrorStat::Elemwise,
        atol: req.atol,
        rtol: req.rtol,
        inv_user_atol: 1.0 / req.user_atol,
        inv_user_rtol: 1.0 / req.user_rtol,
    };
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
    let mut headroom = if req.stat == ErrorStat::Elemwise {
        // The worst element's error over tolerance, inverted (0 -> inf, inf -> 0).
        1.0 / p.worst_ratio
    } else {
        ratio(req.user_atol, required_abs).max(ratio(req.user_rtol, required_rel))
    };
    if req.atol == req.user_atol && req.rtol == req.user_rtol {
        // The verdict is the one against the user's tolerances.
        headroom = agree(headroom, passed);
    }
    Stats { passed, max_abs, max_rel, mean_abs, mean_rel, required_abs, required_rel, headroom }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;
    use crate::compare::numpy::den_f32;
    use crate::compare::pairwise::{PARALLEL_MIN_LEN, Partial, Tol, pairwise, pairwise_leaf};
    use crate::compare::shapes::align_shapes;
    use crate::compare::{
        CompareConfig, OutputComparison, PerOutput, RELDIFF_EPSILON, compare_tensors,
    };
    use ndarray::{ArrayD, IxDyn};

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
        let tol =
            Tol { elemwise: true, atol: 1e-5, rtol: 1e-5, inv_user_atol: 1e5, inv_user_rtol: 1e5 };
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
