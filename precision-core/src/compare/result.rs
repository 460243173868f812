//! What one comparison of an output found: its statistics, each comparison function's value,
//! verdict and headroom, and how results of several input iterations combine.

use serde::{Deserialize, Serialize};

use super::{CompareFunc, ErrorStat};

fn infinite() -> f64 {
    f64::INFINITY
}

/// The result of comparing one output with its golden value.
///
/// The statistics of the simple comparison (`max_absdiff` ... `required_rtol`) are always
/// computed, for display and ranking; `passed` is the verdict of the selected functions
/// (`metrics`), under `--margin` if one is set.
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
    /// Each selected comparison function's value, verdict and headroom, in `--compare` order.
    #[serde(default)]
    pub metrics: Vec<MetricResult>,
    /// The smallest headroom of `metrics` ([`super::headroom`]): at least 1 when the output
    /// passes the user's tolerances, below 1 when it does not.
    #[serde(default = "infinite", with = "crate::json_float")]
    pub headroom: f64,
}

/// One comparison function's result for one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    /// The comparison function.
    pub function: CompareFunc,
    /// Its verdict (against the tolerance times `--margin`, if set).
    pub passed: bool,
    /// The value checked: simple, the checked statistic of the absolute difference; indices,
    /// the smallest index tolerance that passes; otherwise the metric (L2 norm, cosine
    /// similarity, PSNR or SNR in dB).
    #[serde(with = "crate::json_float")]
    pub value: f64,
    /// The user's tolerance or threshold for `value` (simple: atol).
    #[serde(with = "crate::json_float")]
    pub threshold: f64,
    /// Simple only: the checked statistic of the relative difference, and rtol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<RelativeCheck>,
    /// How far from failing against the user's threshold ([`super::headroom`]).
    #[serde(with = "crate::json_float")]
    pub headroom: f64,
}

/// The relative half of a simple comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RelativeCheck {
    /// The checked statistic of the relative difference.
    #[serde(with = "crate::json_float")]
    pub value: f64,
    /// rtol.
    #[serde(with = "crate::json_float")]
    pub threshold: f64,
}

impl MetricResult {
    /// The result of a function that could not compare the values.
    #[must_use]
    pub fn failed(function: CompareFunc, threshold: f64) -> Self {
        MetricResult {
            function,
            passed: false,
            value: f64::NAN,
            threshold,
            relative: None,
            headroom: 0.0,
        }
    }

    /// Keeps the worse of this result and `other` (of the same function): the verdict passes
    /// only if both did, the value is the one farther from passing (NaN worst), the headroom
    /// the smaller.
    pub fn absorb_worse(&mut self, other: &MetricResult) {
        self.passed &= other.passed;
        let higher_is_better = self.function.higher_is_better();
        self.value = worse_value(self.value, other.value, higher_is_better);
        if let (Some(mine), Some(theirs)) = (&mut self.relative, &other.relative) {
            mine.value = worse_value(mine.value, theirs.value, false);
        }
        self.headroom = self.headroom.min(other.headroom);
    }
}

/// The value farther from passing: the larger for upper bounds, the smaller for lower bounds,
/// NaN before anything.
fn worse_value(a: f64, b: f64, higher_is_better: bool) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if higher_is_better {
        a.min(b)
    } else {
        a.max(b)
    }
}

/// The larger of two errors, NaN being the largest.
fn worse(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

impl OutputComparison {
    /// Keeps the worse of this comparison and `other` (the same output in another input
    /// iteration): it passes only if both did, each statistic is the larger (NaN wins), each
    /// metric the worse, the headroom the smaller.
    pub fn absorb_worse(&mut self, other: OutputComparison) {
        self.passed &= other.passed;
        self.max_absdiff = worse(self.max_absdiff, other.max_absdiff);
        self.max_reldiff = worse(self.max_reldiff, other.max_reldiff);
        self.mean_absdiff = worse(self.mean_absdiff, other.mean_absdiff);
        self.mean_reldiff = worse(self.mean_reldiff, other.mean_reldiff);
        self.required_atol = worse(self.required_atol, other.required_atol);
        self.required_rtol = worse(self.required_rtol, other.required_rtol);
        if self.mismatch.is_none() {
            self.mismatch = other.mismatch;
        }
        for theirs in &other.metrics {
            match self.metrics.iter_mut().find(|m| m.function == theirs.function) {
                Some(mine) => mine.absorb_worse(theirs),
                None => self.metrics.push(theirs.clone()),
            }
        }
        self.headroom = self.headroom.min(other.headroom);
    }

    /// The result of one function, if it was selected.
    #[must_use]
    pub fn metric(&self, function: CompareFunc) -> Option<&MetricResult> {
        self.metrics.iter().find(|m| m.function == function)
    }

    /// The failed comparison of values that could not be compared at all.
    #[must_use]
    pub fn incomparable(
        name: &str,
        stat: ErrorStat,
        why: String,
        functions: &[(CompareFunc, f64)],
    ) -> Self {
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
            metrics: functions.iter().map(|&(f, t)| MetricResult::failed(f, t)).collect(),
            headroom: 0.0,
        }
    }
}
