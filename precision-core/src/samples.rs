//! Where a check's samples come from: the input feeds and their golden outputs, one pair per
//! sample, read on demand so that a dataset of any length is held a few samples at a time.
//!
//! precision-core reads no files: [`TensorSets`] is the seam. The in-memory form is a
//! `Vec<NamedTensors>`; the CLI implements it over folders of `.npz`/`.npy` files.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{NamedTensors, OutputComparison};

/// A list of tensor sets (one input feed, or one sample's golden outputs, per index), each
/// produced when asked for.
pub trait TensorSets: Send + Sync {
    /// How many sets there are.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Set `index` (< [`TensorSets::len`]); an error text names what could not be read.
    fn get(&self, index: usize) -> Result<Cow<'_, NamedTensors>, String>;

    /// What set `index` is called in reports: a file name, or `sample N` by default.
    fn label(&self, index: usize) -> String {
        format!("sample {index}")
    }
}

impl TensorSets for Vec<NamedTensors> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn get(&self, index: usize) -> Result<Cow<'_, NamedTensors>, String> {
        self.as_slice()
            .get(index)
            .map(Cow::Borrowed)
            .ok_or_else(|| format!("there is no sample {index}"))
    }
}

/// The samples every check runs: input feeds and golden outputs, index by index.
pub struct Samples {
    /// The input feeds.
    pub inputs: Box<dyn TensorSets>,
    /// The golden outputs, one per input feed.
    pub goldens: Box<dyn TensorSets>,
}

impl Samples {
    /// Samples held in memory.
    #[must_use]
    pub fn in_memory(inputs: Vec<NamedTensors>, goldens: Vec<NamedTensors>) -> Self {
        Samples { inputs: Box::new(inputs), goldens: Box::new(goldens) }
    }

    /// How many samples there are (input feeds).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// What sample `index` is called in reports (its input's label).
    #[must_use]
    pub fn label(&self, index: usize) -> String {
        self.inputs.label(index)
    }
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samples").field("len", &self.len()).finish_non_exhaustive()
    }
}

/// At most this many failing samples are listed per check (all are counted).
pub const MAX_LISTED_FAILURES: usize = 20;

/// How the samples of one check fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleTally {
    /// The samples the check ran.
    pub total: usize,
    /// How many of them matched their goldens on every output.
    pub passed: usize,
    /// The first failing samples (at most [`MAX_LISTED_FAILURES`]), in sample order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<SampleFailure>,
}

/// One sample that did not match its goldens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleFailure {
    /// The sample's index in the dataset (sorted order).
    pub index: usize,
    /// Its name (the input file, or `sample N`).
    pub label: String,
    /// The outputs that did not match, with their errors on this sample.
    pub outputs: Vec<OutputComparison>,
}

impl SampleTally {
    /// Counts one sample's comparisons.
    pub fn add(
        &mut self,
        index: usize,
        label: impl FnOnce() -> String,
        compared: &[OutputComparison],
    ) {
        self.total += 1;
        if compared.iter().all(|c| c.passed) {
            self.passed += 1;
        } else if self.failures.len() < MAX_LISTED_FAILURES {
            let outputs = compared.iter().filter(|c| !c.passed).cloned().collect();
            self.failures.push(SampleFailure { index, label: label(), outputs });
        }
    }

    /// How many samples failed.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.total - self.passed
    }
}

/// How much a sample errs, one number per network output: its largest absolute difference
/// (NaN counts as infinite). Used to find the samples the nothing-marked plan errs most on.
#[must_use]
pub fn sample_errors(compared: &[OutputComparison]) -> Vec<f64> {
    compared
        .iter()
        .map(|c| if c.max_absdiff.is_nan() { f64::INFINITY } else { c.max_absdiff })
        .collect()
}

/// The `k` samples that err most: each output's error is divided by the largest error of that
/// output over all samples (so outputs of different scales weigh alike), a sample's score is
/// its largest such ratio, and the `k` highest scores win (ties: the lower index). Returned in
/// sample order.
#[must_use]
pub fn worst_samples(errors: &[Vec<f64>], k: usize) -> Vec<usize> {
    let outputs = errors.iter().map(Vec::len).max().unwrap_or(0);
    let scale: Vec<f64> = (0..outputs)
        .map(|o| errors.iter().filter_map(|e| e.get(o)).copied().fold(0.0, f64::max))
        .collect();
    let score = |e: &Vec<f64>| {
        e.iter()
            .zip(&scale)
            .map(|(&v, &s)| {
                if s.is_infinite() {
                    if v.is_infinite() { 1.0 } else { 0.0 }
                } else if s > 0.0 {
                    v / s
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max)
    };
    let mut order: Vec<(usize, f64)> = errors.iter().map(score).enumerate().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = order.into_iter().take(k).map(|(i, _)| i).collect();
    chosen.sort_unstable();
    chosen
}

/// What data a search used, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataReport {
    /// The check inputs (`--load-inputs`, or how they were generated).
    pub inputs: String,
    /// How many samples every check ran.
    pub samples: usize,
    /// What INT8 calibration ran on (absent when nothing was calibrated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
    /// The samples that sensitivity was measured on (`--ranking-samples`), by index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_samples: Option<Vec<usize>>,
    /// The answer's check on data the search never saw (`--holdout-inputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutReport>,
}

/// The answer checked once on held-out data after the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutReport {
    /// The held-out inputs, as given.
    pub inputs: String,
    /// Whether the answer matched the held-out goldens on every sample.
    pub passed: bool,
    /// The check itself (outputs, per-sample tally).
    pub check: crate::Evaluation,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_samples_weigh_outputs_alike() {
        // Output 0 is large-scaled, output 1 small; sample 2 is worst on output 1 only.
        let errors = vec![vec![100.0, 0.001], vec![50.0, 0.002], vec![10.0, 0.01], vec![0.0, 0.0]];
        assert_eq!(worst_samples(&errors, 1), vec![0]);
        assert_eq!(worst_samples(&errors, 2), vec![0, 2]);
        assert_eq!(worst_samples(&errors, 9), vec![0, 1, 2, 3]);
        let nan = vec![vec![1.0], vec![f64::INFINITY]];
        assert_eq!(worst_samples(&nan, 1), vec![1]);
    }
}
