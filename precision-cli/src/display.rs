//! Text for people: layer sets, check lines and the final answer.

use std::fmt::Write as _;

use precision_core::{
    Algorithm, Direction, Iteration, LayerSet, Network, OutputComparison, Precision, SearchOutcome,
    trtexec_layer_precisions,
};

/// How many layer names a console line lists before eliding the rest.
const NAMES_SHOWN: usize = 12;

/// `name (#i), name (#j), ...`, eliding past [`NAMES_SHOWN`] names.
pub fn layer_names(network: &Network, set: &LayerSet) -> String {
    let mut out = String::new();
    for (k, i) in set.iter().enumerate() {
        if k == NAMES_SHOWN {
            let _ = write!(out, ", ... and {} more", set.len() - NAMES_SHOWN);
            break;
        }
        if k > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} (#{i})", network.layers[i].name);
    }
    out
}

/// Index ranges of a set, e.g. `#3-#7, #12`.
pub fn index_ranges(set: &LayerSet) -> String {
    let mut parts = Vec::new();
    let mut iter = set.iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        parts.push(if end == start { format!("#{start}") } else { format!("#{start}-#{end}") });
    }
    if parts.len() > 8 {
        let more = parts.len() - 8;
        parts.truncate(8);
        parts.push(format!("... ({more} more ranges)"));
    }
    parts.join(", ")
}

/// A short description of the marked set of a check.
pub fn marked_summary(network: &Network, set: &LayerSet) -> String {
    match set.len() {
        0 => "no layers marked".to_owned(),
        n if n <= 4 => format!("{n} marked: {}", layer_names(network, set)),
        n => format!("{n} marked: {}", index_ranges(set)),
    }
}

/// The per-output part of a check line: the tolerances each output would need.
pub fn outputs_summary(outputs: &[OutputComparison]) -> String {
    outputs
        .iter()
        .map(|o| {
            let verdict = if o.passed { "ok" } else { "FAIL" };
            match &o.mismatch {
                Some(why) => format!("{}: {verdict} ({why})", o.name),
                None => format!(
                    "{}: {verdict}, needs atol {} or rtol {} ({})",
                    o.name,
                    number(o.required_atol),
                    number(o.required_rtol),
                    o.stat
                ),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One line for a finished check.
pub fn check_line(
    network: &Network,
    number_: usize,
    budget: Option<usize>,
    it: &Iteration,
) -> String {
    let total = budget.map_or_else(String::new, |b| format!("/{b}"));
    let verdict = if it.passed { "PASSED" } else { "FAILED" };
    let mut line = format!(
        "check {number_}{total} | {} | {verdict} | {:.2}s",
        marked_summary(network, &it.marked),
        it.duration.as_secs_f64()
    );
    if let Some(err) = &it.build_error {
        let _ = write!(line, " | build failed: {err}");
    } else if !it.outputs.is_empty() {
        let _ = write!(line, " | {}", outputs_summary(&it.outputs));
    }
    for d in &it.deviations {
        let _ = write!(line, "\n    warning: {d}");
    }
    line
}

/// A number for tolerances: short, scientific when small.
pub fn number(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x == 0.0 {
        "0".to_owned()
    } else if x.is_infinite() {
        "inf".to_owned()
    } else if x.abs() >= 1e-3 && x.abs() < 1e4 {
        format!("{x:.5}").trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{x:.4e}")
    }
}

/// The final answer of a search, for the console.
pub fn answer(
    network: &Network,
    outcome: &SearchOutcome,
    higher: Precision,
    lowest: Precision,
) -> String {
    let Some(set) = &outcome.answer else {
        let markable = network.layers.iter().filter(|l| l.is_markable()).count();
        return format!(
            "Could not find a configuration that resulted in acceptable accuracy \
             ({} checks; with up to {markable} markable layers in {higher}).",
            outcome.iterations.len()
        );
    };
    if set.is_empty() {
        return format!(
            "The network already passes with every layer in {lowest}: no layer needs {higher}."
        );
    }
    let n = set.len();
    let plural = if n == 1 { "layer" } else { "layers" };
    let which = match (outcome.algorithm, outcome.direction) {
        (Algorithm::Bisect | Algorithm::Linear, Some(Direction::Forward)) => {
            format!("the first {n} {plural}")
        }
        (Algorithm::Bisect | Algorithm::Linear, _) => format!("the last {n} {plural}"),
        _ => format!("these {n} {plural}"),
    };
    let mut text = format!(
        "To achieve acceptable accuracy, try running {which} in {higher} precision: {}",
        layer_names(network, set)
    );
    let _ = write!(
        text,
        "\ntrtexec: --precisionConstraints=obey --layerPrecisions={}",
        elide(&trtexec_layer_precisions(network, set, higher), 2000)
    );
    text
}

fn elide(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let cut = s[..max].rfind(',').unwrap_or(max);
    format!("{}... (the full value is in the --report file)", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_numbers() {
        let set = LayerSet::from_indices(20, [1, 2, 3, 7, 9, 10]);
        assert_eq!(index_ranges(&set), "#1-#3, #7, #9-#10");
        assert_eq!(number(0.031_25), "0.03125");
        assert_eq!(number(2.5e-6), "2.5000e-6");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
