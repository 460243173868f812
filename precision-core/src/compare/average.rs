//! Combining the comparisons of several input iterations into one per output: the worst of
//! them (Polygraphy's default: every iteration must pass), or with `--check-average` the
//! verdict on each metric averaged over the iterations (Polygraphy's
//! `AccuracyResult.average_results`: the arithmetic mean of each value, NaN propagating, an
//! iteration that could not be compared failing the output).

use super::headroom::{agree, metric_headroom, metric_passes, ratio, with_margin};
use super::simple::stat_fails;
use super::{CompareConfig, CompareFunc, OutputComparison};

/// One comparison per output from the comparisons of every input iteration (outputs in order
/// of first appearance).
#[must_use]
pub fn combine_iterations(
    per_iteration: Vec<Vec<OutputComparison>>,
    config: &CompareConfig,
) -> Vec<OutputComparison> {
    let mut groups: Vec<Vec<OutputComparison>> = Vec::new();
    for iteration in per_iteration {
        for c in iteration {
            match groups.iter_mut().find(|g| g[0].name == c.name) {
                Some(g) => g.push(c),
                None => groups.push(vec![c]),
            }
        }
    }
    groups
        .into_iter()
        .map(|group| if config.check_average { average(&group, config) } else { worst(group) })
        .collect()
}

/// The worst of the iterations' comparisons of one output.
fn worst(group: Vec<OutputComparison>) -> OutputComparison {
    let mut iter = group.into_iter();
    let mut acc = iter.next().expect("groups are never empty");
    for c in iter {
        acc.absorb_worse(c);
    }
    acc
}

/// Python's `sum(values) / len(values)`.
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    sum / n as f64
}

/// The comparison of one output judged on its metrics averaged over the iterations.
fn average(group: &[OutputComparison], config: &CompareConfig) -> OutputComparison {
    if let Some((i, bad)) = group.iter().enumerate().find(|(_, c)| c.mismatch.is_some()) {
        let mut failed = bad.clone();
        failed.passed = false;
        failed.headroom = 0.0;
        failed.mismatch = Some(format!(
            "--check-average: input iteration {i} could not be compared ({}), so no average \
             can be taken",
            bad.mismatch.as_deref().unwrap_or("")
        ));
        return failed;
    }
    let name = group[0].name.clone();
    let avg = |f: fn(&OutputComparison) -> f64| mean(group.iter().map(f));
    let mut out = OutputComparison {
        name: name.clone(),
        passed: true,
        stat: group[0].stat,
        max_absdiff: avg(|c| c.max_absdiff),
        max_reldiff: avg(|c| c.max_reldiff),
        mean_absdiff: avg(|c| c.mean_absdiff),
        mean_reldiff: avg(|c| c.mean_reldiff),
        required_atol: avg(|c| c.required_atol),
        required_rtol: avg(|c| c.required_rtol),
        mismatch: None,
        metrics: Vec::new(),
        headroom: f64::INFINITY,
    };
    let margin = config.margin;
    for (j, first) in group[0].metrics.iter().enumerate() {
        let function = first.function;
        let mut m = first.clone();
        let values = || group.iter().filter_map(|c| c.metrics.get(j));
        match function {
            CompareFunc::Indices => {
                // Not averageable (the configuration refuses it): the worst iteration.
                for other in values().skip(1) {
                    m.absorb_worse(other);
                }
            }
            CompareFunc::Simple => {
                m.value = mean(values().map(|r| r.value));
                let rel = mean(values().filter_map(|r| r.relative.map(|x| x.value)));
                let rtol = m.relative.map_or(0.0, |r| r.threshold);
                if let Some(r) = &mut m.relative {
                    r.value = rel;
                }
                let (atol_eff, rtol_eff) = (
                    with_margin(function, m.threshold, margin),
                    with_margin(function, rtol, margin),
                );
                m.passed = !(stat_fails(m.value, atol_eff) && stat_fails(rel, rtol_eff));
                m.headroom = ratio(m.threshold, m.value).max(ratio(rtol, rel));
                if margin == 1.0 {
                    m.headroom = agree(m.headroom, m.passed);
                }
            }
            _ => {
                m.value = mean(values().map(|r| r.value));
                m.passed =
                    metric_passes(function, m.value, with_margin(function, m.threshold, margin));
                m.headroom = metric_headroom(function, m.value, m.threshold);
            }
        }
        out.passed &= m.passed;
        out.headroom = out.headroom.min(m.headroom);
        out.metrics.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorStat;
    use crate::compare::{MetricResult, OutputComparison};

    fn l2_result(value: f64, threshold: f64) -> OutputComparison {
        let passed = value <= threshold;
        OutputComparison {
            name: "out".into(),
            passed,
            stat: ErrorStat::Elemwise,
            max_absdiff: value,
            max_reldiff: value,
            mean_absdiff: value,
            mean_reldiff: value,
            required_atol: value,
            required_rtol: value,
            mismatch: None,
            metrics: vec![MetricResult {
                function: CompareFunc::L2,
                passed,
                value,
                threshold,
                relative: None,
                headroom: metric_headroom(CompareFunc::L2, value, threshold),
            }],
            headroom: metric_headroom(CompareFunc::L2, value, threshold),
        }
    }

    #[test]
    fn average_passes_where_the_worst_iteration_fails() {
        let per_iteration = vec![vec![l2_result(0.5, 1.0)], vec![l2_result(1.2, 1.0)]];
        let config = CompareConfig { functions: vec![CompareFunc::L2], ..CompareConfig::default() };
        let worst = combine_iterations(per_iteration.clone(), &config);
        assert!(!worst[0].passed);
        assert_eq!(worst[0].metrics[0].value, 1.2);
        let config = CompareConfig { check_average: true, ..config };
        let avg = combine_iterations(per_iteration, &config);
        assert!(avg[0].passed);
        assert_eq!(avg[0].metrics[0].value, 0.85);
        assert!((avg[0].headroom - 1.0 / 0.85).abs() < 1e-12);
        // NaN in one iteration fails the average.
        let nan = vec![vec![l2_result(0.5, 1.0)], vec![l2_result(f64::NAN, 1.0)]];
        assert!(!combine_iterations(nan, &config)[0].passed);
    }
}
