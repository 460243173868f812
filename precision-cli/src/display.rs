//! Text for people: layer sets, check lines and the final answer.

use std::fmt::Write as _;

use precision_core::{
    Algorithm, Check, CompareFunc, Direction, LayerSet, MetricResult, Network, OutputComparison,
    Precision, SearchOutcome, modelopt_pattern,
};

use crate::console::{escape, needs_escape, python_str, shell_quote};

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
        let _ = write!(out, "{} (#{i})", escape(&network.layers[i].name));
    }
    out
}

/// Index ranges of a set, e.g. `#3-#7, #12`, eliding past `shown` ranges (the console shows
/// 8, the HTML report's folded sets 6).
pub fn index_ranges(set: &LayerSet, shown: usize) -> String {
    let mut parts = Vec::new();
    let mut iter = set.iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        parts.push(if end == start { format!("#{start}") } else { format!("#{start}-#{end}") });
    }
    if parts.len() > shown {
        let more = parts.len() - shown;
        parts.truncate(shown);
        parts.push(format!("... ({more} more ranges)"));
    }
    parts.join(", ")
}

/// A short description of the marked set of a check.
pub fn marked_summary(network: &Network, set: &LayerSet) -> String {
    match set.len() {
        0 => "no layers marked".to_owned(),
        n if n <= 4 => format!("{n} marked: {}", layer_names(network, set)),
        n => format!("{n} marked: {}", index_ranges(set, 8)),
    }
}

/// The per-output part of a check line: the tolerances each output would need (simple) and
/// each other comparison function's value against its threshold.
pub fn outputs_summary(outputs: &[OutputComparison]) -> String {
    outputs
        .iter()
        .map(|o| {
            let verdict = if o.passed { "ok" } else { "FAIL" };
            let name = escape(&o.name);
            match &o.mismatch {
                Some(why) => format!("{name}: {verdict} ({})", escape(why)),
                None if o.metrics.iter().all(|m| m.function == CompareFunc::Simple) => format!(
                    "{name}: {verdict}, needs atol {} or rtol {} ({})",
                    number(o.required_atol),
                    number(o.required_rtol),
                    o.stat
                ),
                None => {
                    let parts: Vec<String> = o.metrics.iter().map(|m| metric_value(o, m)).collect();
                    format!("{name}: {verdict}, {}", parts.join(", "))
                }
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One comparison function's value against the user's threshold, e.g. `psnr 34.2 dB (>= 30)`.
pub fn metric_value(output: &OutputComparison, m: &MetricResult) -> String {
    match m.function {
        CompareFunc::Simple => format!(
            "needs atol {} or rtol {} ({})",
            number(m.value),
            number(m.relative.map_or(f64::NAN, |r| r.value)),
            output.stat
        ),
        CompareFunc::Indices => {
            format!("needs index tolerance {} (<= {})", number(m.value), number(m.threshold))
        }
        f => {
            let unit = if matches!(f, CompareFunc::Psnr | CompareFunc::Snr) { " dB" } else { "" };
            let relation = if f.higher_is_better() { ">=" } else { "<=" };
            format!(
                "{} {}{unit} ({relation} {}{unit})",
                metric_threshold_label(f),
                value(m.value),
                number(m.threshold)
            )
        }
    }
}

/// A metric value with 6 significant digits (Polygraphy prints at least 5).
pub fn value(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return number(x);
    }
    let magnitude = x.abs().log10().floor();
    if (-3.0..5.0).contains(&magnitude) {
        let decimals = (5.0 - magnitude) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.5e}")
    }
}

/// The short name of a single-metric function's value.
pub fn metric_threshold_label(function: CompareFunc) -> &'static str {
    match function {
        CompareFunc::Simple => "atol",
        CompareFunc::Indices => "index tolerance",
        CompareFunc::L2 => "l2",
        CompareFunc::CosineSimilarity => "cosine similarity",
        CompareFunc::Psnr => "psnr",
        CompareFunc::Snr => "snr",
    }
}

/// A headroom factor for people: `inf` for an exact match, else a short number and `x`.
pub fn headroom(h: f64) -> String {
    if h.is_infinite() {
        "inf (exact)".to_owned()
    } else if h >= 100.0 {
        format!("{h:.0}x")
    } else {
        format!("{h:.2}x")
    }
}

/// A search over groups' answer, in groups (and for op types as ModelOpt's flag).
pub fn groups(report: &precision_core::group::GroupReport) -> String {
    let names: Vec<String> =
        report.answer.iter().map(|n| format!("'{}'", crate::console::escape(n))).collect();
    let mut text = format!(
        "In groups (--group {}): keep {} of {} group(s){}{}",
        report.grouping,
        report.answer.len(),
        report.groups.len(),
        if names.is_empty() { "" } else { ": " },
        names.join(", ")
    );
    if !report.op_types_to_exclude.is_empty() {
        let _ = write!(
            text,
            "\nModelOpt (op types): --op_types_to_exclude {}",
            report
                .op_types_to_exclude
                .iter()
                .map(|t| shell_quote(t).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    text
}

/// The trade-off curve (`--curve`) as a table: layers marked, error over tolerance, verdict
/// and, when timed, the median latency.
pub fn curve(points: &[precision_core::search::CurvePoint], layers: usize) -> String {
    let timed = points.iter().any(|p| p.latency.is_some());
    let mut text = format!(
        "Trade-off curve (error over tolerance; at most 1 passes):\n  {:>7}  {:>10}  {:<6}{}",
        "marked",
        "error/tol",
        "result",
        if timed { "  median ms" } else { "" }
    );
    for p in points {
        let verdict = if p.passed { "pass" } else { "fail" };
        let _ = write!(
            text,
            "\n  {:>7}  {:>10}  {verdict:<6}",
            format!("{}/{layers}", p.layers),
            number(p.error_ratio)
        );
        if let Some(t) = p.latency {
            let _ = write!(text, "  {:>9.3}", t.median_ms);
        } else if timed {
            let _ = write!(text, "  {:>9}", "-");
        }
        if p.answer {
            text.push_str("  <- the answer");
        } else if let Some(n) = p.head {
            let _ = write!(text, "  (head of {n})");
        }
    }
    text
}

/// What the FP16 pre-screen kept from the start (up to `shown` layers named; none when 0),
/// for the console.
pub fn prescreen(prescreen: &precision_core::prescreen::Prescreen, shown: usize) -> String {
    let what = if prescreen.weights_screened { "values or weights" } else { "values" };
    if prescreen.kept.is_empty() {
        return format!(
            "FP16 pre-screen: no layer's float32 {what} exceed {} on {} sample(s); every \
             markable layer is searched",
            prescreen.threshold, prescreen.samples
        );
    }
    let mut text = format!(
        "FP16 pre-screen: {} layer(s) kept in the higher precision from the start, their \
         float32 {what} exceeding {} on {} sample(s) (--no-prescreen searches them too){}",
        prescreen.kept.len(),
        prescreen.threshold,
        prescreen.samples,
        if shown > 0 { ":" } else { "" }
    );
    for k in prescreen.kept.iter().take(shown) {
        let _ = write!(
            text,
            "\n  '{}': {} reaches {:.4e}",
            crate::console::escape(&k.name),
            crate::console::escape(&k.source),
            k.peak
        );
    }
    if shown > 0 && prescreen.kept.len() > shown {
        let _ = write!(text, "\n  ... and {} more (see the report)", prescreen.kept.len() - shown);
    }
    text
}

/// The answer's speed (`--measure-latency`): the three medians, the speedup over float32 and
/// the share of the all-lowered plan's saving that the answer keeps.
pub fn latency(latency: &precision_core::latency::Latency) -> String {
    let t = |timing: &precision_core::latency::Timing| {
        format!("{:.3} ms ({:.3}-{:.3})", timing.median_ms, timing.min_ms, timing.max_ms)
    };
    let mut text = format!(
        "Latency (median of {} runs after {} warm-ups, fastest-slowest in brackets):\n  \
         answer: {}\n  float32: {}\n  nothing marked: {}\n  the answer runs {:.2}x \
         as fast as float32",
        latency.runs,
        latency.warmup,
        t(&latency.answer),
        t(&latency.float32),
        t(&latency.lowered),
        latency.speedup_over_float32(),
    );
    match latency.share_of_lowered_saving() {
        Some(share) => {
            let _ = write!(
                text,
                " and keeps {:.0}% of the time that lowering every markable layer saves",
                share * 100.0
            );
        }
        None => {
            let _ = write!(text, "; lowering every markable layer saves no time here");
        }
    }
    text
}

/// The answer's headroom per output, for the console: how many times its error could grow
/// (against the user's tolerances) and still pass; `None` without an answer.
pub fn answer_headroom(outcome: &SearchOutcome, margin: Option<f64>) -> Option<String> {
    let check = outcome.answer_check()?;
    let mut text = String::from(
        "Headroom of the answer (how many times its error could grow and still pass):",
    );
    for o in &check.outputs {
        let _ = write!(text, "\n  {}: {}", escape(&o.name), headroom(o.headroom));
        if o.metrics.len() > 1 || o.metrics.iter().any(|m| m.function != CompareFunc::Simple) {
            let parts: Vec<String> = o
                .metrics
                .iter()
                .map(|m| format!("{} {}, {}", m.function, headroom(m.headroom), metric_value(o, m)))
                .collect();
            let _ = write!(text, " ({})", parts.join("; "));
        }
    }
    if let Some(f) = margin {
        let _ = write!(
            text,
            "\n  (--margin {f}: the search demanded at most {f} times each tolerance, so at \
             least {} headroom)",
            headroom(1.0 / f)
        );
    }
    Some(text)
}

/// One line for a finished check.
pub fn check_line(network: &Network, number_: usize, budget: Option<usize>, it: &Check) -> String {
    let total = budget.map_or_else(String::new, |b| format!("/{b}"));
    let verdict = if it.passed { "PASSED" } else { "FAILED" };
    let mut line = format!(
        "check {number_}{total} | {} | {verdict} | {:.2}s",
        marked_summary(network, &it.marked),
        it.duration.as_secs_f64()
    );
    if let Some(err) = &it.build_error {
        let _ = write!(line, " | build failed: {}", escape(err));
    } else if !it.outputs.is_empty() {
        let _ = write!(line, " | {}", outputs_summary(&it.outputs));
    }
    if let Some(tally) = it.samples.as_ref().filter(|t| t.total > 1) {
        let _ = write!(line, " | {}/{} samples passed", tally.passed, tally.total);
    }
    if let Some(command) = &it.command {
        let _ = write!(line, " | {}", command_summary(command));
    }
    for d in &it.deviations {
        let _ = write!(line, "\n    warning: {}", escape(d));
    }
    line
}

/// A check command's verdict, with the end of its output when it failed (indented).
pub fn command_summary(command: &precision_core::CommandOutcome) -> String {
    let mut text = command.summary();
    for tail_line in command.output_tail.lines() {
        let _ = write!(text, "\n    | {}", escape(tail_line));
    }
    text
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

/// The final answer of a search, for the console. `journaled`: whether a check journal recorded
/// the checks (a rerun then continues from it).
pub fn answer(
    network: &Network,
    outcome: &SearchOutcome,
    higher: Precision,
    lowest: Precision,
    journaled: bool,
) -> String {
    let Some(set) = &outcome.answer else {
        if let Some(floor) = outcome.noise_floor.as_ref().filter(|f| !f.passed) {
            return floor_failure(&floor.outputs, higher);
        }
        if let Some(reason) = &outcome.stop_reason {
            return format!(
                "Stopped early ({reason}) before any configuration passed ({} checks). {}",
                outcome.checks.len(),
                rerun_hint(journaled)
            );
        }
        let markable = network.layers.iter().filter(|l| l.is_markable()).count();
        return format!(
            "Could not find a configuration that resulted in acceptable accuracy \
             ({} checks; with up to {markable} markable layers in {higher}).",
            outcome.checks.len()
        );
    };
    if set.is_empty() {
        return format!(
            "The network already passes with every layer in {lowest}: no layer needs {higher}."
        );
    }
    let n = set.len();
    let plural = if n == 1 { "layer" } else { "layers" };
    let contiguous = outcome.minimized_from.is_none() && outcome.complete;
    let which = match (outcome.algorithm, outcome.direction) {
        (Algorithm::Bisect | Algorithm::Linear, Some(Direction::Forward)) if contiguous => {
            format!("the first {n} {plural}")
        }
        (Algorithm::Bisect | Algorithm::Linear, _) if contiguous => {
            format!("the last {n} {plural}")
        }
        _ => format!("these {n} {plural}"),
    };
    let mut text = String::new();
    if let Some(reason) = &outcome.stop_reason {
        let _ = writeln!(
            text,
            "Stopped early ({reason}): the best passing configuration found so far is shown; it \
             is not minimal. {}",
            rerun_hint(journaled)
        );
    }
    let _ = write!(
        text,
        "To achieve acceptable accuracy, try running {which} in {higher} precision: {}",
        layer_names(network, set)
    );
    if let Some(from) = outcome.minimized_from {
        let _ = write!(
            text,
            "\n(pruned from {from} layers; removing any one of these {n} fails the check)"
        );
    }
    text.push_str(&tool_values(network, set, higher));
    text
}

/// The three-level answer: the layers in `higher`, those in the middle precision, the rest
/// in `lowest`, and trtexec's value for the three-level plan.
pub fn three_levels(
    network: &Network,
    levels: &precision_core::ThreeLevels,
    higher: Precision,
    lowest: Precision,
) -> String {
    let set = |layers: &[precision_core::LayerRef]| {
        LayerSet::from_indices(network.len(), layers.iter().map(|l| l.index))
    };
    let (top, middle) = (set(&levels.higher), set(&levels.middle));
    let count = |n: usize| if n == 1 { "1 layer".to_owned() } else { format!("{n} layers") };
    let mut text = format!(
        "Three levels ({} checks more{}): {} in {higher}{}{}; {} in {}{}{}; every other layer in \
         {lowest}.",
        levels.evaluations,
        if levels.complete { "" } else { ", stopped early: not minimal" },
        count(top.len()),
        if top.is_empty() { "" } else { ": " },
        layer_names(network, &top),
        count(middle.len()),
        levels.middle_precision,
        if middle.is_empty() { "" } else { ": " },
        layer_names(network, &middle),
    );
    let value = crate::trtexec::three_level_precisions(levels, higher);
    if !value.is_empty() {
        let _ = write!(
            text,
            "\ntrtexec (strongly typed builds take the model from --save-model instead): \
             --precisionConstraints=obey --layerPrecisions={value} --layerOutputTypes={value}"
        );
    }
    text
}

/// What to do after a search a budget stopped.
fn rerun_hint(journaled: bool) -> &'static str {
    if journaled {
        "Rerun the same command to continue from the journal."
    } else {
        "No journal recorded these checks (--no-journal, or no --report or --journal), so a rerun \
         starts over; with --journal FILE the next run can be resumed."
    }
}

/// Why no configuration can pass when the noise floor (every markable layer marked) fails.
fn floor_failure(outputs: &[OutputComparison], higher: Precision) -> String {
    let nan: Vec<String> = outputs
        .iter()
        .filter(|o| !o.passed && (o.required_atol.is_nan() || o.required_rtol.is_nan()))
        .map(|o| format!("'{}'", escape(&o.name)))
        .collect();
    if !nan.is_empty() {
        // Goldens with NaN are refused before the search, so the NaN comes from this run.
        return format!(
            "No configuration can pass: even with every markable layer in {higher}, the \
             difference from the goldens is NaN for {}: the backend's outputs hold NaN (or an \
             infinity where the golden holds another value; --infinities-compare-equal makes \
             equal infinities match). No tolerance admits NaN; check the model and its inputs.",
            nan.join(", ")
        );
    }
    format!(
        "No configuration can pass: even with every markable layer in {higher} the outputs \
         differ from the goldens ({}). The tolerance is below the backend's own noise: loosen \
         --atol/--rtol, or use --auto-tolerance F to set them to F times this floor.",
        outputs_summary(outputs)
    )
}

/// The lines to paste into other tools: trtexec flags (one shell word each), ModelOpt's
/// patterns and ONNX Runtime's exact names, each line saying which tool it is for.
fn tool_values(network: &Network, set: &LayerSet, higher: Precision) -> String {
    let mut text = String::new();
    let names: Vec<&str> = set.iter().map(|i| network.layers[i].name.as_str()).collect();
    let precisions = crate::trtexec::layer_precisions(network, set, higher);
    if !precisions.is_empty() {
        let _ = write!(
            text,
            "\ntrtexec: --precisionConstraints=obey {} {}",
            // Escaped first: a line break in a name must not end the console line.
            shell_word_elided(&escape(&format!("--layerPrecisions={precisions}"))),
            shell_word_elided(&escape(&format!(
                "--layerOutputTypes={}",
                crate::trtexec::layer_output_types(network, set, higher)
            )))
        );
    }
    let unnamed: Vec<String> = set
        .iter()
        .filter_map(|i| {
            let name = &network.layers[i].name;
            crate::trtexec::cannot_name(name).map(|why| format!("'{}' (#{i}: {why})", escape(name)))
        })
        .collect();
    if !unnamed.is_empty() {
        let _ = write!(
            text,
            "\nwarning: trtexec's --layerPrecisions/--layerOutputTypes syntax cannot name {} of \
             the marked layers, so the trtexec flags leave them out: {}. Keep them in {higher} \
             through the mixed-precision ONNX model (--save-model, or `precision export`) or a \
             quantizer's nodes_to_exclude below.",
            unnamed.len(),
            elide(&unnamed.join(", "), 2000)
        );
    }
    let patterns: Vec<String> =
        names.iter().map(|n| shell_quote(&modelopt_pattern(n)).into_owned()).collect();
    let _ = write!(
        text,
        "\nModelOpt (regular expressions for re.match): --nodes_to_exclude {}",
        elide(&patterns.join(" "), 2000)
    );
    let exact: Vec<String> = names.iter().map(|n| python_str(n)).collect();
    let _ = write!(
        text,
        "\nONNX Runtime quantize_static (exact names): nodes_to_exclude=[{}]",
        elide(&exact.join(", "), 2000)
    );
    let hidden = names.iter().filter(|n| needs_escape(n)).count();
    if hidden > 0 {
        let _ = write!(
            text,
            "\nnote: {hidden} marked layer names hold control or bidirectional characters, shown \
             as \\x.. escapes: the trtexec line cannot reproduce them when pasted (the ModelOpt \
             and ONNX Runtime values can); the --report JSON has the exact names."
        );
    }
    text
}

/// `word` quoted for a POSIX shell; when longer than the console shows, cut at a `,` and
/// marked as cut (the quoted part stays one safe word).
fn shell_word_elided(word: &str) -> String {
    const MAX: usize = 2000;
    if word.len() <= MAX {
        return shell_quote(word).into_owned();
    }
    let max = (0..=MAX).rev().find(|&i| word.is_char_boundary(i)).unwrap_or(0);
    let cut = word[..max].rfind(',').unwrap_or(max);
    format!("{}... (cut: the full value is in the --report file)", shell_quote(&word[..cut]))
}

fn elide(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let max = (0..=max).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
    let cut = s[..max].rfind([',', ' ']).unwrap_or(max);
    format!("{}... (the full value is in the --report file)", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_numbers() {
        let set = LayerSet::from_indices(20, [1, 2, 3, 7, 9, 10]);
        assert_eq!(index_ranges(&set, 8), "#1-#3, #7, #9-#10");
        assert_eq!(number(0.031_25), "0.03125");
        assert_eq!(number(2.5e-6), "2.5000e-6");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn elide_cuts_at_a_separator_and_never_inside_a_character() {
        let long = "ä,".repeat(2000);
        let cut = elide(&long, 2001);
        assert!(cut.ends_with("... (the full value is in the --report file)"));
        let word = shell_word_elided(&format!("--layerPrecisions={}", "a b:fp32,".repeat(400)));
        assert!(word.starts_with("'--layerPrecisions=a b:fp32,a b:fp32"), "{word}");
        assert!(word.ends_with("a b:fp32'... (cut: the full value is in the --report file)"));
    }
}
