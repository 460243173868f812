//! Polygraphy's default ("simple") comparison of an output against its golden value.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::{NamedTensors, Tensor};

/// Which statistic of the error is checked against the tolerances (`--check-error-stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputComparison {
    /// The output's name.
    pub name: String,
    /// Whether the output matched within tolerance.
    pub passed: bool,
    /// The statistic that was checked.
    pub stat: ErrorStat,
    /// Maximum absolute difference.
    pub max_absdiff: f64,
    /// Maximum relative difference.
    pub max_reldiff: f64,
    /// Mean absolute difference.
    pub mean_absdiff: f64,
    /// Mean relative difference.
    pub mean_reldiff: f64,
    /// The atol that would have made this output pass on its own (the checked statistic of
    /// the absolute difference).
    pub required_atol: f64,
    /// The rtol that would have made this output pass on its own.
    pub required_rtol: f64,
    /// Why the values could not be compared at all (shape mismatch), if so.
    pub mismatch: Option<String>,
}

/// Why outputs could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The golden results lack an output the run produced.
    #[error("the golden results have no output named '{0}'")]
    MissingGolden(String),
}

/// Compares `actual` with `golden` (the reference) under `config`, as Polygraphy does.
#[must_use]
pub fn compare_tensors(
    name: &str,
    actual: &Tensor,
    golden: &Tensor,
    config: &CompareConfig,
) -> OutputComparison {
    let _ = (name, actual, golden, config);
    todo!("implemented by the comparator work")
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
