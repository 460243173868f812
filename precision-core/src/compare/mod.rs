//! Comparing outputs with their golden values: Polygraphy 0.53.6's comparison functions.
//!
//! [`compare_tensors`] runs the functions selected in [`CompareConfig::functions`] (`--compare`)
//! on one output: `simple` ([`simple`]: atol/rtol on an error statistic, Polygraphy's default),
//! `indices` ([`indices`]), and the single-number metrics `l2`, `cosine_similarity`, `psnr` and
//! `snr` ([`metrics`]), each with Polygraphy 0.53.6's definitions, defaults and NumPy
//! arithmetic. An output passes when every selected function passes. Each result carries its
//! headroom and honours `--margin` ([`headroom`]); [`combine_iterations`] joins several input
//! iterations, by the worst or, with `--check-average`, by the average ([`average`]).

use crate::{NamedTensors, Tensor};

mod average;
mod config;
pub mod headroom;
mod indices;
mod metrics;
mod numpy;
mod pairwise;
mod result;
mod shapes;
mod simple;

pub use average::combine_iterations;
pub use config::{CompareConfig, CompareFunc, ErrorStat, PerOutput};
pub use result::{MetricResult, OutputComparison, RelativeCheck};

use headroom::{
    agree, index_headroom, index_tolerance_with_margin, metric_headroom, metric_passes, with_margin,
};
use indices::IndexCheck;
use shapes::{Flat, align_shapes};
use simple::{Request, compare_flat};

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

/// Compares `actual` with `golden` (the reference) under `config`, as Polygraphy does.
///
/// The verdict is the one Polygraphy 0.53.6's comparison functions reach on the same arrays
/// (all of the selected ones must pass; under `--margin` against the stricter tolerances); see
/// the submodules for the exact arithmetic. `required_atol`/`required_rtol` are the values
/// Polygraphy prints as "Minimum Required Tolerance" (the checked statistic; the maximum for
/// `elemwise`). When the values cannot be compared at all, `passed` is false, `mismatch` says
/// why and the statistics are NaN.
#[must_use]
pub fn compare_tensors(
    name: &str,
    actual: &Tensor,
    golden: &Tensor,
    config: &CompareConfig,
) -> OutputComparison {
    let stat = *config.check_error_stat.get(name);
    let (atol, rtol) = (*config.atol.get(name), *config.rtol.get(name));
    let margin = config.margin;
    let request = Request {
        stat,
        atol: with_margin(CompareFunc::Simple, atol, margin),
        rtol: with_margin(CompareFunc::Simple, rtol, margin),
        quantile: *config.error_quantile.get(name),
        infinities_compare_equal: config.infinities_compare_equal,
        user_atol: atol,
        user_rtol: rtol,
    };
    let permutation = match align_shapes(actual.shape(), golden.shape(), config.check_shapes) {
        Ok(p) => p,
        Err(why) => {
            return OutputComparison::incomparable(name, stat, why, &thresholds(config, name));
        }
    };
    let a = Flat::of(actual, None);
    let g = Flat::of(golden, permutation.as_deref());
    let stats = compare_flat(&a, &g, &request);
    let mut mismatch = None;
    let mut results = Vec::with_capacity(config.functions.len());
    for &function in &config.functions {
        let result = match function {
            CompareFunc::Simple => {
                let quantile_ok =
                    stat != ErrorStat::Quantile || (0.0..=1.0).contains(&request.quantile);
                if !quantile_ok {
                    mismatch.get_or_insert_with(|| {
                        format!(
                            "the error quantile {} of output '{name}' is outside [0, 1]; pass a \
                             quantile between 0 and 1",
                            request.quantile
                        )
                    });
                }
                MetricResult {
                    function,
                    passed: stats.passed && quantile_ok,
                    value: stats.required_abs,
                    threshold: atol,
                    relative: Some(RelativeCheck { value: stats.required_rel, threshold: rtol }),
                    headroom: if quantile_ok { stats.headroom } else { 0.0 },
                }
            }
            CompareFunc::Indices => {
                let tolerance = *config.index_tolerance.get(name);
                let check = if actual.shape() == golden.shape() {
                    IndexCheck::new(&a, actual.shape(), &g, golden.shape())
                } else {
                    let g = Flat::of(golden, None);
                    IndexCheck::new(&a, actual.shape(), &g, golden.shape())
                };
                match check {
                    Ok(check) => {
                        let effective = index_tolerance_with_margin(tolerance, margin);
                        let passed = check.passes(effective);
                        let required = check.required();
                        let passes_user =
                            if effective == tolerance { passed } else { check.passes(tolerance) };
                        MetricResult {
                            function,
                            passed,
                            value: required as f64,
                            threshold: tolerance as f64,
                            relative: None,
                            headroom: agree(index_headroom(tolerance, required), passes_user),
                        }
                    }
                    Err(why) => {
                        mismatch.get_or_insert(why);
                        MetricResult::failed(function, tolerance as f64)
                    }
                }
            }
            CompareFunc::L2
            | CompareFunc::CosineSimilarity
            | CompareFunc::Psnr
            | CompareFunc::Snr => {
                let threshold = config.metric_threshold(function, name).unwrap_or(f64::NAN);
                let value = match function {
                    CompareFunc::L2 => metrics::l2(&a, &g),
                    CompareFunc::CosineSimilarity => Ok(metrics::cosine_similarity(&a, &g)),
                    CompareFunc::Psnr => metrics::psnr(&a, &g),
                    _ => metrics::snr(&a, &g),
                };
                match value {
                    Ok(value) => MetricResult {
                        function,
                        passed: metric_passes(
                            function,
                            value,
                            with_margin(function, threshold, margin),
                        ),
                        value,
                        threshold,
                        relative: None,
                        headroom: metric_headroom(function, value, threshold),
                    },
                    Err(why) => {
                        mismatch.get_or_insert(format!("{function}: {why}"));
                        MetricResult::failed(function, threshold)
                    }
                }
            }
        };
        results.push(result);
    }
    let passed = mismatch.is_none() && results.iter().all(|m| m.passed);
    let headroom = if mismatch.is_some() {
        0.0
    } else {
        results.iter().map(|m| m.headroom).fold(f64::INFINITY, f64::min)
    };
    OutputComparison {
        name: name.to_owned(),
        passed,
        stat,
        max_absdiff: stats.max_abs,
        max_reldiff: stats.max_rel,
        mean_absdiff: stats.mean_abs,
        mean_reldiff: stats.mean_rel,
        required_atol: stats.required_abs,
        required_rtol: stats.required_rel,
        mismatch,
        metrics: results,
        headroom,
    }
}

/// Each selected function with the user's threshold for `output` (simple: atol; indices: the
/// index tolerance).
fn thresholds(config: &CompareConfig, output: &str) -> Vec<(CompareFunc, f64)> {
    config
        .functions
        .iter()
        .map(|&f| {
            let t = match f {
                CompareFunc::Simple => *config.atol.get(output),
                CompareFunc::Indices => *config.index_tolerance.get(output) as f64,
                _ => config.metric_threshold(f, output).unwrap_or(f64::NAN),
            };
            (f, t)
        })
        .collect()
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
