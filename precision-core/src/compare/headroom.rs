//! Headroom: how far a comparison is from failing, and `--margin`.
//!
//! **Headroom** is the factor by which the output's error could grow, in amplitude, and the
//! comparison still pass against the user's tolerance: at least 1 exactly when it passes, below
//! 1 when it fails, infinite when no growth of the error can fail it (an exact match), 0 when the
//! error is NaN or the values cannot be compared. Per comparison function:
//!
//! - **simple**, a statistic (max, mean, median, quantile) with values `abs`, `rel`: passing
//!   needs `abs <= atol` or `rel <= rtol`, so the headroom is `max(atol / abs, rtol / rel)`,
//!   equivalently the factor by which both tolerances could shrink and the output still pass.
//!   Each ratio `tol / err` is infinite when `err <= 0` (0 <= tol), 0 when `tol` is 0 and
//!   `err > 0` or when `err` is NaN; so with `atol = 0` only `rtol` counts, and vice versa.
//! - **simple**, `elemwise`: the same ratio per element, `min` over elements of
//!   `max(atol / abs_i, rtol / rel_i)` (infinite for an empty output): the factor by which both
//!   tolerances could shrink and every element still pass. It can exceed what the maxima
//!   suggest, since each element may pass through a different tolerance.
//! - **l2**: `threshold / l2` (the L2 norm grows linearly with the error).
//! - **`cosine_similarity`**: `sqrt((1 - threshold) / (1 - cosine))`: `1 - cosine` is the cosine
//!   distance, which grows with the square of a small error (`1 - cos θ ≈ θ² / 2`).
//! - **psnr**, **snr** (dB, lower bounds): `10 ^ ((value - threshold) / 20)`: an error `k` times
//!   larger lowers either by `20 log10 k` dB.
//! - **indices**: `tolerance / required` where `required` is the smallest index tolerance that
//!   passes (infinite when `required` is 0; 0 when the tolerance is 0 and `required` is not).
//!
//! The output's headroom is the smallest over its comparison functions and, over several input
//! iterations, over the iterations (with `--check-average`, that of the averaged metrics).
//! Where rounding could put a ratio on the wrong side of 1, it is moved to agree with the
//! comparison's own verdict, so `headroom >= 1` iff the output passes its tolerances.
//!
//! **Margin** `F` (0 < F <= 1) makes the verdict demand an error at most `F` times the
//! tolerance in the same terms, so a passing answer has headroom of at least `1 / F` (up to
//! rounding): `atol`, `rtol` and the L2 threshold become `F` times theirs; cosine similarity
//! must reach `1 - F² (1 - threshold)`; PSNR and SNR must reach `threshold - 20 log10 F` dB
//! (`F = 0.5`: 6.02 dB more); the index tolerance becomes `floor(F × tolerance)`.

use super::CompareFunc;

/// `tol / err` as a headroom: infinite when `err <= 0` and `err <= tol`, 0 when `err` is NaN or
/// `tol < err <= 0`.
#[must_use]
pub fn ratio(tol: f64, err: f64) -> f64 {
    if err.is_nan() {
        0.0
    } else if err <= 0.0 {
        if err <= tol { f64::INFINITY } else { 0.0 }
    } else {
        (tol / err).max(0.0)
    }
}

/// Moves `headroom` to the side of 1 that the verdict `passed` says (rounding can put a ratio
/// computed from a passing value just below 1, or the reverse); NaN becomes 0 or infinity.
#[must_use]
pub fn agree(headroom: f64, passed: bool) -> f64 {
    if headroom.is_nan() {
        return if passed { f64::INFINITY } else { 0.0 };
    }
    match (passed, headroom >= 1.0) {
        (true, false) => 1.0,
        (false, true) => 1.0 - f64::EPSILON / 2.0,
        _ => headroom,
    }
}

/// The headroom of a single-metric function's `value` against the user's `threshold`.
#[must_use]
pub fn metric_headroom(function: CompareFunc, value: f64, threshold: f64) -> f64 {
    let raw = match function {
        CompareFunc::L2 => ratio(threshold, value),
        CompareFunc::CosineSimilarity => ratio(1.0 - threshold, 1.0 - value).sqrt(),
        CompareFunc::Psnr | CompareFunc::Snr => {
            if value == f64::INFINITY && threshold < f64::INFINITY {
                f64::INFINITY
            } else {
                10f64.powf((value - threshold) / 20.0)
            }
        }
        CompareFunc::Simple | CompareFunc::Indices => f64::NAN,
    };
    agree(raw, metric_passes(function, value, threshold))
}

/// Polygraphy's verdict for a single-metric function: `value <= threshold` for l2,
/// `value >= threshold` for the others; NaN fails.
#[must_use]
pub fn metric_passes(function: CompareFunc, value: f64, threshold: f64) -> bool {
    if function.higher_is_better() { value >= threshold } else { value <= threshold }
}

/// The threshold the verdict uses under `--margin` (the user's when `margin` is 1).
#[must_use]
pub fn with_margin(function: CompareFunc, threshold: f64, margin: f64) -> f64 {
    if margin == 1.0 {
        return threshold;
    }
    match function {
        CompareFunc::Simple | CompareFunc::L2 => threshold * margin,
        CompareFunc::CosineSimilarity => 1.0 - margin * margin * (1.0 - threshold),
        CompareFunc::Psnr | CompareFunc::Snr => threshold - 20.0 * margin.log10(),
        CompareFunc::Indices => (threshold * margin).floor(),
    }
}

/// The index tolerance the verdict uses under `--margin`.
#[must_use]
pub fn index_tolerance_with_margin(tolerance: u64, margin: f64) -> u64 {
    with_margin(CompareFunc::Indices, tolerance as f64, margin) as u64
}

/// The headroom of an index comparison needing `required` against `tolerance`.
#[must_use]
pub fn index_headroom(tolerance: u64, required: u64) -> f64 {
    if required == 0 { f64::INFINITY } else { tolerance as f64 / required as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_of_zero_and_nan() {
        assert_eq!(ratio(1e-3, 5e-4), 2.0);
        assert_eq!(ratio(0.0, 0.0), f64::INFINITY);
        assert_eq!(ratio(0.0, 1e-9), 0.0);
        assert_eq!(ratio(1e-3, f64::NAN), 0.0);
        assert_eq!(ratio(1e-3, f64::INFINITY), 0.0);
        // A wrapped integer difference is negative and passes any tolerance.
        assert_eq!(ratio(0.0, -5.0), f64::INFINITY);
    }

    #[test]
    fn l2_headroom_is_linear() {
        assert_eq!(metric_headroom(CompareFunc::L2, 0.25, 1.0), 4.0);
        assert_eq!(metric_headroom(CompareFunc::L2, 0.0, 1.0), f64::INFINITY);
        assert_eq!(metric_headroom(CompareFunc::L2, f64::NAN, 1.0), 0.0);
        assert!(metric_headroom(CompareFunc::L2, 2.0, 1.0) < 1.0);
    }

    #[test]
    fn cosine_headroom_is_the_square_root_of_the_distance_ratio() {
        let h = metric_headroom(CompareFunc::CosineSimilarity, 0.99925, 0.997);
        assert!((h - 2.0).abs() < 1e-9, "{h}");
        assert_eq!(metric_headroom(CompareFunc::CosineSimilarity, 1.0, 0.997), f64::INFINITY);
        assert!(metric_headroom(CompareFunc::CosineSimilarity, 0.99, 0.997) < 1.0);
        assert_eq!(metric_headroom(CompareFunc::CosineSimilarity, f64::NAN, 0.997), 0.0);
        // A threshold of 1 needs an exact match.
        assert_eq!(metric_headroom(CompareFunc::CosineSimilarity, 1.0, 1.0), f64::INFINITY);
        assert!(metric_headroom(CompareFunc::CosineSimilarity, 0.999_999, 1.0) < 1.0);
    }

    #[test]
    fn decibel_headroom() {
        let h = metric_headroom(CompareFunc::Psnr, 36.0, 30.0);
        assert!((h - 10f64.powf(0.3)).abs() < 1e-12);
        assert_eq!(metric_headroom(CompareFunc::Snr, f64::INFINITY, 20.0), f64::INFINITY);
        assert_eq!(metric_headroom(CompareFunc::Snr, f64::NEG_INFINITY, 20.0), 0.0);
        assert_eq!(metric_headroom(CompareFunc::Snr, 20.0, 20.0), 1.0);
        assert!(metric_headroom(CompareFunc::Psnr, 29.999, 30.0) < 1.0);
    }

    #[test]
    fn margins_are_stricter_in_every_direction() {
        assert_eq!(with_margin(CompareFunc::L2, 2.0, 0.5), 1.0);
        assert_eq!(with_margin(CompareFunc::Simple, 1e-3, 0.5), 5e-4);
        let c = with_margin(CompareFunc::CosineSimilarity, 0.996, 0.5);
        assert!((c - 0.999).abs() < 1e-12, "{c}");
        let p = with_margin(CompareFunc::Psnr, 30.0, 0.5);
        assert!((p - 36.0206).abs() < 1e-4, "{p}");
        assert_eq!(index_tolerance_with_margin(3, 0.5), 1);
        assert_eq!(with_margin(CompareFunc::CosineSimilarity, 0.1, 1.0), 0.1);
        // What passes with the margin has headroom of at least 1 / F.
        let value = with_margin(CompareFunc::Psnr, 30.0, 0.5);
        assert!(metric_headroom(CompareFunc::Psnr, value, 30.0) >= 2.0 - 1e-12);
        let value = with_margin(CompareFunc::CosineSimilarity, 0.997, 0.5);
        assert!(metric_headroom(CompareFunc::CosineSimilarity, value, 0.997) >= 2.0 - 1e-9);
    }

    #[test]
    fn index_headroom_and_agreement() {
        assert_eq!(index_headroom(3, 0), f64::INFINITY);
        assert_eq!(index_headroom(0, 0), f64::INFINITY);
        assert_eq!(index_headroom(4, 2), 2.0);
        assert_eq!(index_headroom(0, 1), 0.0);
        assert_eq!(agree(0.999_999_999_999_999_9, true), 1.0);
        assert!(agree(1.0, false) < 1.0);
        assert_eq!(agree(f64::NAN, true), f64::INFINITY);
    }
}
