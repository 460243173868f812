//! What a comparison checks: the comparison functions (`--compare`), their tolerances and
//! thresholds, per output, and the search's `--margin`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

/// A comparison function of Polygraphy 0.53.6 (`--compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareFunc {
    /// Absolute and relative tolerances on an error statistic (`SimpleCompareFunc`).
    Simple,
    /// Positions of equal values, e.g. Top-K indices (`IndicesCompareFunc`).
    Indices,
    /// The L2 norm of the difference must not exceed a threshold (`L2CompareFunc`).
    L2,
    /// The cosine similarity must reach a threshold (`CosineSimilarityCompareFunc`).
    CosineSimilarity,
    /// The peak signal-to-noise ratio, in dB, must reach a threshold (`PsnrCompareFunc`).
    Psnr,
    /// The signal-to-noise ratio, in dB, must reach a threshold (`SnrCompareFunc`).
    Snr,
}

impl CompareFunc {
    /// The name as written on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CompareFunc::Simple => "simple",
            CompareFunc::Indices => "indices",
            CompareFunc::L2 => "l2",
            CompareFunc::CosineSimilarity => "cosine_similarity",
            CompareFunc::Psnr => "psnr",
            CompareFunc::Snr => "snr",
        }
    }

    /// The functions a `--compare` name stands for: one, or two for Polygraphy's aliases
    /// `distance_metrics` (`l2`, `cosine_similarity`) and `quality_metrics` (`psnr`, `snr`).
    ///
    /// # Errors
    /// An unknown name, or `perceptual_metrics` (LPIPS needs torch and downloaded network
    /// weights, which this tool does not run).
    pub fn parse_list(name: &str) -> Result<Vec<CompareFunc>, String> {
        Ok(match name {
            "simple" => vec![CompareFunc::Simple],
            "indices" => vec![CompareFunc::Indices],
            "l2" => vec![CompareFunc::L2],
            "cosine_similarity" => vec![CompareFunc::CosineSimilarity],
            "distance_metrics" => vec![CompareFunc::L2, CompareFunc::CosineSimilarity],
            "psnr" => vec![CompareFunc::Psnr],
            "snr" => vec![CompareFunc::Snr],
            "quality_metrics" => vec![CompareFunc::Psnr, CompareFunc::Snr],
            "perceptual_metrics" => {
                return Err("--compare perceptual_metrics (LPIPS) needs torch and the lpips \
                            package's network weights, which precision does not run; use \
                            psnr, snr, cosine_similarity or l2 instead, or compute LPIPS in your \
                            own evaluation script"
                    .to_owned());
            }
            _ => {
                return Err(format!(
                    "unknown comparison function '{name}' (expected simple, indices, l2, \
                     cosine_similarity, distance_metrics, psnr, snr or quality_metrics)"
                ));
            }
        })
    }

    /// Whether the metric is a lower bound (the value must reach the threshold).
    #[must_use]
    pub fn higher_is_better(self) -> bool {
        matches!(self, CompareFunc::CosineSimilarity | CompareFunc::Psnr | CompareFunc::Snr)
    }
}

impl fmt::Display for CompareFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Comparison settings: the comparison functions and their tolerances as in `polygraphy run`
/// (`--compare`, `--atol`, `--rtol`, `--check-error-stat`, `--error-quantile`,
/// `--infinities-compare-equal`, `--no-shape-check`, `--index-tolerance`, `--l2-tolerance`,
/// `--cosine-similarity-threshold`, `--psnr-tolerance`, `--snr-tolerance`, `--check-average`),
/// plus the search's `--margin`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    /// The comparison functions; an output passes when every one passes. Default `[simple]`.
    pub functions: Vec<CompareFunc>,
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
    /// `indices`: how far apart equal values may be, default 0.
    pub index_tolerance: PerOutput<u64>,
    /// `l2`: the largest L2 norm of the difference, default 1e-5.
    pub l2_threshold: PerOutput<f64>,
    /// `cosine_similarity`: the smallest cosine similarity, default 0.997.
    pub cosine_similarity_threshold: PerOutput<f64>,
    /// `psnr`: the smallest PSNR in dB, default 30.
    pub psnr_threshold: PerOutput<f64>,
    /// `snr`: the smallest SNR in dB, default 20.
    pub snr_threshold: PerOutput<f64>,
    /// Check the average of each metric over the input iterations instead of every iteration.
    pub check_average: bool,
    /// The search's `--margin` F (0 < F <= 1): the verdict demands an error of at most F times
    /// the tolerance (see [`crate::compare::headroom`] for each function); headroom is still
    /// measured against the tolerances above. Default 1.
    pub margin: f64,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            functions: vec![CompareFunc::Simple],
            atol: PerOutput::uniform(1e-5),
            rtol: PerOutput::uniform(1e-5),
            check_error_stat: PerOutput::uniform(ErrorStat::Elemwise),
            error_quantile: PerOutput::uniform(0.99),
            infinities_compare_equal: false,
            check_shapes: true,
            index_tolerance: PerOutput::uniform(0),
            l2_threshold: PerOutput::uniform(1e-5),
            cosine_similarity_threshold: PerOutput::uniform(0.997),
            psnr_threshold: PerOutput::uniform(30.0),
            snr_threshold: PerOutput::uniform(20.0),
            check_average: false,
            margin: 1.0,
        }
    }
}

impl CompareConfig {
    /// Whether `function` is among the selected comparison functions.
    #[must_use]
    pub fn uses(&self, function: CompareFunc) -> bool {
        self.functions.contains(&function)
    }

    /// The user's threshold of a single-metric function for `output` (`None` for simple and
    /// indices).
    #[must_use]
    pub fn metric_threshold(&self, function: CompareFunc, output: &str) -> Option<f64> {
        match function {
            CompareFunc::Simple | CompareFunc::Indices => None,
            CompareFunc::L2 => Some(*self.l2_threshold.get(output)),
            CompareFunc::CosineSimilarity => Some(*self.cosine_similarity_threshold.get(output)),
            CompareFunc::Psnr => Some(*self.psnr_threshold.get(output)),
            CompareFunc::Snr => Some(*self.snr_threshold.get(output)),
        }
    }
}

impl CompareConfig {
    /// Checks the settings Polygraphy refuses, and `margin`.
    ///
    /// # Errors
    /// `--check-average` with `indices` or with the `elemwise` statistic of `simple` (nothing to
    /// average), no comparison function, or a margin outside (0, 1].
    pub fn validate(&self) -> Result<(), String> {
        if self.functions.is_empty() {
            return Err("no comparison function selected; pass --compare simple (the default) \
                        or another function"
                .to_owned());
        }
        if !(self.margin > 0.0 && self.margin <= 1.0) {
            return Err(format!(
                "--margin {} is outside (0, 1]; pass e.g. --margin 0.5 to demand half the \
                 tolerance",
                self.margin
            ));
        }
        if self.check_average {
            if self.uses(CompareFunc::Indices) {
                return Err("--check-average cannot be used with --compare indices: an index \
                            comparison has no value to average"
                    .to_owned());
            }
            let elemwise = self.check_error_stat.default == ErrorStat::Elemwise
                || self.check_error_stat.overrides.iter().any(|(_, s)| *s == ErrorStat::Elemwise);
            if self.uses(CompareFunc::Simple) && elemwise {
                return Err("--check-average is not supported with --check-error-stat elemwise \
                            (the default): a per-element check has no statistic to average; \
                            pass --check-error-stat max, mean, median or quantile"
                    .to_owned());
            }
        }
        Ok(())
    }
}
