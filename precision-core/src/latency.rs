//! How fast an answer runs: its plan, the all-float32 plan and the all-lowered plan, each built
//! once on the same backend and timed on the same input in one process (`--measure-latency`).
//!
//! After warm-up runs of each, the three engines are run in turn, round after round, so that
//! a slow spell of the machine falls on all three alike; each gets the median of its runs, with
//! the fastest and slowest run as the spread.

use std::time::Instant;

use serde::Serialize;

use crate::{
    Backend, BackendError, Engine, LayerSet, NamedTensors, OutputSelection, PrecisionPlan,
};

/// How many runs to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySettings {
    /// Untimed runs of each plan first (caches, lazy allocations, thread pools).
    pub warmup: usize,
    /// Timed runs of each plan (at least 1).
    pub runs: usize,
}

impl Default for LatencySettings {
    fn default() -> Self {
        LatencySettings { warmup: 3, runs: 20 }
    }
}

/// The times of one plan, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// The median run.
    pub median_ms: f64,
    /// The fastest run.
    pub min_ms: f64,
    /// The slowest run.
    pub max_ms: f64,
}

impl Timing {
    /// The timing of `samples` (milliseconds, at least one).
    fn of(mut samples: Vec<f64>) -> Timing {
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            f64::midpoint(samples[n / 2 - 1], samples[n / 2])
        };
        Timing { median_ms: median, min_ms: samples[0], max_ms: samples[n - 1] }
    }
}

/// The answer's speed against float32 and against every layer lowered. In JSON (the report's
/// `latency`) it also gives [`Latency::speedup_over_float32`] and
/// [`Latency::share_of_lowered_saving`] (`null` when lowering saves no time).
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// Untimed runs of each plan before the timed ones.
    pub warmup: usize,
    /// Timed runs of each plan.
    pub runs: usize,
    /// The answer's plan.
    pub answer: Timing,
    /// Every layer in float32.
    pub float32: Timing,
    /// Nothing marked: every markable layer in the lowest precision.
    pub lowered: Timing,
}

impl Latency {
    /// How many times faster than float32 the answer runs (median over median).
    #[must_use]
    pub fn speedup_over_float32(&self) -> f64 {
        self.float32.median_ms / self.answer.median_ms
    }

    /// The share of the time that lowering every layer saves over float32 which the answer
    /// saves too: 1 when it runs as fast as the all-lowered plan, 0 when as slow as float32.
    /// `None` when lowering everything saves no time.
    #[must_use]
    pub fn share_of_lowered_saving(&self) -> Option<f64> {
        let saved = self.float32.median_ms - self.lowered.median_ms;
        (saved > 0.0).then(|| (self.float32.median_ms - self.answer.median_ms) / saved)
    }
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The fields as written: the measurements, then the ratios derived from them.
        #[derive(Serialize)]
        struct Written<'a> {
            warmup: usize,
            runs: usize,
            answer: &'a Timing,
            float32: &'a Timing,
            lowered: &'a Timing,
            #[serde(with = "crate::json_float")]
            speedup_over_float32: f64,
            share_of_lowered_saving: Option<f64>,
        }
        Written {
            warmup: self.warmup,
            runs: self.runs,
            answer: &self.answer,
            float32: &self.float32,
            lowered: &self.lowered,
            speedup_over_float32: self.speedup_over_float32(),
            share_of_lowered_saving: self.share_of_lowered_saving(),
        }
        .serialize(serializer)
    }
}

/// Times the plan marking `answer` against the float32 and the all-lowered plans made from
/// `base`, on `inputs`, running network outputs only.
///
/// # Errors
/// When a plan does not build or run (the answer's plan built during the search, so this is
/// the backend's error, not a failed check).
pub fn measure<B: Backend>(
    backend: &mut B,
    base: &PrecisionPlan,
    answer: &LayerSet,
    inputs: &NamedTensors,
    settings: LatencySettings,
) -> Result<Latency, BackendError> {
    let plans = [
        base.with_marked(answer.clone()),
        PrecisionPlan::float32(backend.network()),
        // Every layer in the lowest precision, also under a three-level plan.
        PrecisionPlan { middle: None, ..base.with_marked(LayerSet::empty(base.marked.universe())) },
    ];
    let mut timings = time_plans(backend, &plans, inputs, settings)?.into_iter();
    let mut next = || timings.next().expect("one timing per plan");
    let runs = settings.runs.max(1);
    Ok(Latency { warmup: settings.warmup, runs, answer: next(), float32: next(), lowered: next() })
}

/// Times each of `plans` on `inputs`, network outputs only: every plan built first, then the
/// warm-ups, then the timed runs interleaved (one run of each plan in turn, so that a slower
/// moment of the machine touches them alike). One [`Timing`] per plan, in order.
///
/// # Errors
/// When a plan does not build or run.
pub fn time_plans<B: Backend>(
    backend: &mut B,
    plans: &[PrecisionPlan],
    inputs: &NamedTensors,
    settings: LatencySettings,
) -> Result<Vec<Timing>, BackendError> {
    let runs = settings.runs.max(1);
    // Timed engines run many times: the backend may pick other kernels than for a check.
    backend.expect_samples(settings.warmup + runs);
    let mut engines = Vec::with_capacity(plans.len());
    for plan in plans {
        engines.push(backend.build(plan, OutputSelection::NetworkOutputs)?);
    }
    for engine in &mut engines {
        for _ in 0..settings.warmup {
            engine.infer(inputs)?;
        }
    }
    let mut times = vec![Vec::with_capacity(runs); engines.len()];
    for _ in 0..runs {
        for (engine, times) in engines.iter_mut().zip(&mut times) {
            let start = Instant::now();
            let outputs = engine.infer(inputs)?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            drop(outputs);
        }
    }
    Ok(times.into_iter().map(Timing::of).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_take_the_median_and_the_extremes() {
        let t = Timing::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((t.median_ms, t.min_ms, t.max_ms), (2.0, 1.0, 3.0));
        let t = Timing::of(vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!((t.median_ms, t.min_ms, t.max_ms), (2.5, 1.0, 4.0));
    }

    #[test]
    fn the_answer_keeps_its_share_of_the_lowered_saving() {
        let at = |ms: f64| Timing { median_ms: ms, min_ms: ms, max_ms: ms };
        let latency =
            Latency { warmup: 0, runs: 1, answer: at(8.0), float32: at(10.0), lowered: at(6.0) };
        assert!((latency.speedup_over_float32() - 1.25).abs() < 1e-12);
        assert!((latency.share_of_lowered_saving().unwrap() - 0.5).abs() < 1e-12);
        let flat = Latency { lowered: at(10.0), ..latency.clone() };
        assert_eq!(flat.share_of_lowered_saving(), None, "lowering saved nothing");

        // The report gives the ratios next to the timings.
        let json = serde_json::to_value(&latency).unwrap();
        assert_eq!(json["answer"]["median_ms"], 8.0);
        assert_eq!(json["speedup_over_float32"], 1.25);
        assert_eq!(json["share_of_lowered_saving"], 0.5);
        let json = serde_json::to_value(&flat).unwrap();
        assert!(json["share_of_lowered_saving"].is_null(), "{json}");
    }
}
