//! `--html FILE`: a self-contained HTML report of a search (inline CSS and SVG, no scripts, no
//! external resources), readable in any browser and small enough for 5,000-layer networks.
//! This module lays out the page and its tables; `chart.rs` draws the per-layer error chart.

use std::fmt::Write as _;

use precision_core::report::Status;
use precision_core::{Check, LayerSet, Network, OutputComparison, Report};

use crate::console::shell_quote;
use crate::display::number;

mod chart;
/// The three-level answer (`--three-levels`): the layers of each level and trtexec's value.
fn levels_section(out: &mut String, report: &Report) {
    let Some(levels) = &report.three_levels else { return };
    let list = |layers: &[precision_core::LayerRef]| {
        if layers.is_empty() {
            return "none".to_owned();
        }
        layers
            .iter()
            .map(|l| format!("<code>{}</code>", esc(&l.name)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "<h2>Three levels</h2>\n<p id=\"three-levels\">A second search ({} checks{}) among the \
         {} marked layers: in {}: {}; in {}: {}; every other layer in {}.</p>",
        levels.evaluations,
        if levels.complete { "" } else { ", stopped early" },
        levels.higher.len() + levels.middle.len(),
        report.higher_precision,
        list(&levels.higher),
        levels.middle_precision,
        list(&levels.middle),
        report
            .lower_precisions
            .iter()
            .min_by_key(|p| p.rank())
            .map_or("the lowest precision".to_owned(), ToString::to_string),
    );
    let value = crate::trtexec::three_level_precisions(levels, report.higher_precision);
    if !value.is_empty() {
        let cmd = format!(
            "--precisionConstraints=obey {} {}",
            shell_quote(&format!("--layerPrecisions={value}")),
            shell_quote(&format!("--layerOutputTypes={value}"))
        );
        let _ = writeln!(out, "<pre id=\"trtexec-three-levels\"><code>{}</code></pre>", esc(&cmd));
    }
}

#[cfg(test)]
mod tests;

/// Marked sets up to this size are listed inline in the checks table; larger ones are folded.
const INLINE_NAMES: usize = 4;
/// At most this many names are listed per folded marked set (the JSON report has them all).
const FOLDED_NAMES: usize = 200;

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232b;
       margin: 24px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d7dde4; padding-bottom: 4px; }
table { border-collapse: collapse; }
th, td { padding: 3px 10px; text-align: left; vertical-align: top; border-bottom: 1px solid #e6eaee; }
th { background: #f3f5f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th { background: none; width: 13em; }
pre { background: #f6f8fa; border: 1px solid #e1e5ea; padding: 8px 10px; white-space: pre-wrap;
      word-break: break-all; max-height: 16em; overflow: auto; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; }
.status { font-weight: 700; padding: 1px 8px; border-radius: 4px; }
.status.found { background: #dcefdc; color: #1c5e1c; }
.status.not-found { background: #f8dcdc; color: #8a1c1c; }
.status.stopped { background: #fbeccd; color: #7a4b00; }
.pass { color: #1c6e1c; font-weight: 600; }
.fail { color: #a01c1c; font-weight: 600; }
.note { color: #5a6470; }
.chart { overflow-x: auto; border: 1px solid #e1e5ea; }
#sensitivity-chart .bar.propagated { fill: #9db8d6; }
#sensitivity-chart .bar.isolated { fill: #1f4e79; }
#sensitivity-chart .bar.propagated.marked { fill: #f0a04b; }
#sensitivity-chart .bar.isolated.marked { fill: #b3261e; }
#sensitivity-chart .bar.zero { fill: #8a939c; }
#sensitivity-chart .bar.inf { fill: url(#hatch-inf); }
#sensitivity-chart .bar.nan { fill: url(#hatch-nan); }
#sensitivity-chart .marker.inf { fill: #b3261e; }
#sensitivity-chart .marker.nan { fill: #6a2c91; }
#sensitivity-chart .hit { fill: transparent; shape-rendering: crispEdges; }
#sensitivity-chart .hit.band { fill: #fff4c2; }
#sensitivity-chart .layer:hover .hit { fill: #e3ecf6; }
#sensitivity-chart .grid { stroke: #e3e7eb; stroke-width: 1; }
#sensitivity-chart .axis { stroke: #5a6470; stroke-width: 1; }
#sensitivity-chart text { font: 11px system-ui, sans-serif; fill: #3a434d; }
#sensitivity-chart text.label { font-size: 12px; fill: #1d232b; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 0; }
.legend span.swatch { display: inline-block; width: 14px; height: 12px; margin-right: 5px;
                      vertical-align: -1px; border: 1px solid #c3c9cf; }
details summary { cursor: pointer; }
#checks td.marked { max-width: 60em; }
"#;

/// Renders `report` (made over `network`) as one self-contained HTML page.
#[must_use]
pub fn render(report: &Report, network: &Network) -> String {
    let mut out = String::with_capacity(64 * 1024 + report.sensitivity.len() * 420);
    let title = format!("precision {}: {}", report.algorithm, report.model);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    header(&mut out, report, network);
    chart::chart_section(&mut out, report);
    answer_section(&mut out, report);
    if let Some(floor) = &report.noise_floor {
        out.push_str("<h2>Noise floor</h2>\n<p>");
        let _ = writeln!(
            out,
            "With every markable layer in {} the network <span class=\"{}\">{}</span>. The \
             tolerances each output would need are the least any search can reach.</p>",
            report.higher_precision,
            if floor.passed { "pass" } else { "fail" },
            if floor.passed { "passed" } else { "failed: no search can pass" },
        );
        outputs_table(&mut out, "noise-floor", &floor.outputs);
    }
    checks_section(&mut out, report, network);
    let _ =
        write!(out, "<p class=\"note\">Written by {}.</p>\n</body>\n</html>\n", esc(&report.tool));
    out
}

/// The search summary.
fn header(out: &mut String, report: &Report, network: &Network) {
    let (class, status) = match (report.status, report.complete) {
        (Status::Found, true) => ("found", "found".to_owned()),
        (Status::NotFound, true) => ("not-found", "not found".to_owned()),
        (Status::Found, false) => {
            ("stopped", "stopped early: a passing set, not minimal".to_owned())
        }
        (Status::NotFound, false) => ("stopped", "stopped early: nothing passed yet".to_owned()),
    };
    let markable = network.layers.iter().filter(|l| l.is_markable()).count();
    let lower = report.lower_precisions.iter().map(ToString::to_string).collect::<Vec<_>>();
    let lower = if lower.is_empty() { "none".to_owned() } else { lower.join(", ") };
    let algorithm = match report.direction {
        Some(d) => format!("{} ({d})", report.algorithm),
        None => report.algorithm.to_string(),
    };
    out.push_str("<table class=\"summary\" id=\"summary\">\n");
    let mut row = |key: &str, value_html: &str| {
        let _ = writeln!(out, "<tr><th>{key}</th><td>{value_html}</td></tr>");
    };
    row("Model", &format!("<code>{}</code>", esc(&report.model)));
    row("Backend", &esc(&report.backend));
    row("Algorithm", &esc(&algorithm));
    row(
        "Precisions",
        &format!(
            "unmarked layers in {}; marked layers in {}",
            esc(&lower),
            report.higher_precision
        ),
    );
    let mut status_html = format!("<span class=\"status {class}\">{}</span>", esc(&status));
    if let Some(reason) = &report.stop_reason {
        let _ = write!(status_html, " ({})", esc(reason));
    }
    row("Status", &status_html);
    let mut checks = format!("{} in {} rounds", report.evaluations, report.rounds);
    if let Some(budget) = report.budget {
        let _ = write!(checks, " (budget: {budget})");
    }
    row("Checks", &checks);
    row("Layers", &format!("{} ({markable} markable)", report.num_layers));
    let answer = match report.status {
        Status::Found => {
            let mut s = format!("{} marked", report.marked.len());
            if let Some(from) = report.minimized_from {
                let _ = write!(s, " (minimized from {from})");
            }
            s
        }
        Status::NotFound => "none".to_owned(),
    };
    row("Answer", &answer);
    out.push_str("</table>\n");
}
/// The marked layers and the values to paste into other tools.
/// The per-layer error chart, or a note when nothing was measured.
fn answer_section(out: &mut String, report: &Report) {
    out.push_str("<h2>Answer</h2>\n");
    match report.status {
        Status::NotFound => {
            let _ = writeln!(
                out,
                "<p id=\"answer\" class=\"fail\">No configuration passed{}.</p>",
                if report.complete { "" } else { " before the search stopped" }
            );
            return;
        }
        Status::Found if report.marked.is_empty() => {
            let _ = writeln!(
                out,
                "<p id=\"answer\" class=\"pass\">The network passes with no layer marked: no \
                 layer needs {}.</p>",
                report.higher_precision
            );
            headroom_section(out, report);
            return;
        }
        Status::Found => {}
    }
    let _ = writeln!(
        out,
        "<p id=\"answer\">Keep these {} layers in {}:</p>",
        report.marked.len(),
        report.higher_precision
    );
    out.push_str(
        "<table id=\"marked\"><thead><tr><th class=\"num\">index</th><th>name</th><th>op</th>\
         </tr></thead><tbody>\n",
    );
    for l in &report.marked {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
            l.index,
            esc(&l.name),
            esc(&l.op)
        );
    }
    out.push_str("</tbody></table>\n");
    headroom_section(out, report);
    latency_section(out, report);
    prescreen_section(out, report);
    curve_section(out, report);
    groups_section(out, report);
    levels_section(out, report);
    if let Some(precisions) = report.trtexec_layer_precisions.as_ref().filter(|p| !p.is_empty()) {
        let mut cmd = format!(
            "--precisionConstraints=obey {}",
            shell_quote(&format!("--layerPrecisions={precisions}"))
        );
        if let Some(types) = &report.trtexec_layer_output_types {
            let _ = write!(cmd, " {}", shell_quote(&format!("--layerOutputTypes={types}")));
        }
        let _ =
            writeln!(out, "<p>trtexec:</p>\n<pre id=\"trtexec\"><code>{}</code></pre>", esc(&cmd));
    }
    if !report.trtexec_cannot_name.is_empty() {
        let names: Vec<String> =
            report.trtexec_cannot_name.iter().map(|n| format!("<code>{}</code>", esc(n))).collect();
        let _ = writeln!(
            out,
            "<p id=\"trtexec-cannot-name\" class=\"fail\">trtexec's <code>--layerPrecisions</code> \
             syntax cannot name {} of the marked layers (a name with <code>,</code> or \
             <code>'</code>, or the name <code>*</code>), so the flags above leave them out: {}. \
             Keep them in {} through the mixed-precision ONNX model (<code>precision export</code>) \
             or a quantizer's <code>nodes_to_exclude</code>.</p>",
            names.len(),
            names.join(", "),
            report.higher_precision
        );
    }
    let modelopt = report
        .modelopt_nodes_to_exclude
        .iter()
        .map(|n| shell_quote(n))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        out,
        "<p>ModelOpt (<code>python -m modelopt.onnx.quantization</code>; regular expressions, \
         matched with <code>re.match</code>, so each name is escaped and anchored):</p>\n\
         <pre id=\"modelopt\"><code>--nodes_to_exclude {}</code></pre>",
        esc(&modelopt)
    );
    let python = report
        .nodes_to_exclude
        .iter()
        .map(|n| crate::console::python_str(n))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "<p>ONNX Runtime (<code>quantize_static(..., nodes_to_exclude=...)</code>; exact \
         names):</p>\n<pre id=\"onnxruntime\"><code>nodes_to_exclude=[{}]</code></pre>",
        esc(&python)
    );
}

/// A table of per-output comparisons.
fn outputs_table(out: &mut String, id: &str, outputs: &[OutputComparison]) {
    let _ = writeln!(
        out,
        "<table id=\"{id}\"><thead><tr><th>output</th><th>result</th><th>statistic</th>\
         <th class=\"num\">max abs diff</th><th class=\"num\">max rel diff</th>\
         <th class=\"num\">required atol</th><th class=\"num\">required rtol</th>\
         <th>comparison values</th><th class=\"num\">headroom</th></tr></thead><tbody>"
    );
    for o in outputs {
        let result = match &o.mismatch {
            Some(why) => format!("<span class=\"fail\">mismatch</span>: {}", esc(why)),
            None if o.passed => "<span class=\"pass\">pass</span>".to_owned(),
            None => "<span class=\"fail\">fail</span>".to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{result}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&o.name),
            esc(&o.stat.to_string()),
            number(o.max_absdiff),
            number(o.max_reldiff),
            number(o.required_atol),
            number(o.required_rtol),
            esc(&metric_values(o)),
            esc(&crate::display::headroom(o.headroom))
        );
    }
    out.push_str("</tbody></table>\n");
}

/// Each comparison function's value against its threshold, e.g. `psnr 34.2 dB (>= 30 dB)`.
fn metric_values(o: &OutputComparison) -> String {
    o.metrics
        .iter()
        .map(|m| format!("{}: {}", m.function, crate::display::metric_value(o, m)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The answer's speed against float32 and every layer lowered (`--measure-latency`).
fn latency_section(out: &mut String, report: &Report) {
    let Some(latency) = &report.latency else { return };
    let _ = writeln!(
        out,
        "<h3>Latency</h3>\n<p>Median of {} timed runs after {} warm-ups, on the first input \
         sample; fastest and slowest run in brackets.</p>\n<table id=\"latency\"><thead><tr>\
         <th>plan</th><th class=\"num\">median ms</th><th class=\"num\">fastest</th>\
         <th class=\"num\">slowest</th></tr></thead><tbody>",
        latency.runs, latency.warmup
    );
    for (name, t) in [
        ("the answer", &latency.answer),
        ("float32", &latency.float32),
        ("nothing marked (every markable layer lowered)", &latency.lowered),
    ] {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td>\
             <td class=\"num\">{:.3}</td></tr>",
            esc(name),
            t.median_ms,
            t.min_ms,
            t.max_ms
        );
    }
    out.push_str("</tbody></table>\n");
    let share = latency.share_of_lowered_saving().map_or_else(
        || "; lowering every markable layer saves no time here".to_owned(),
        |share| {
            format!(
                ", keeping {:.0}% of the time that lowering every markable layer saves",
                share * 100.0
            )
        },
    );
    let _ = writeln!(
        out,
        "<p id=\"speedup\">The answer runs {:.2}x as fast as float32{}.</p>",
        latency.speedup_over_float32(),
        esc(&share)
    );
}

/// The groups of a search over groups (`--group`), the answer's marked.
fn groups_section(out: &mut String, report: &Report) {
    let Some(groups) = &report.groups else { return };
    let _ = writeln!(
        out,
        "<h3>Groups</h3>\n<p id=\"groups-answer\">Searched over {} groups ({}); the answer \
         keeps {} of them.</p>\n<table id=\"groups\"><thead><tr><th>group</th>\
         <th class=\"num\">layers</th><th>kept</th><th class=\"num\">sensitivity</th>\
         </tr></thead><tbody>",
        groups.groups.len(),
        esc(&groups.grouping),
        groups.answer.len()
    );
    for g in &groups.groups {
        let sensitivity = g.sensitivity.map_or_else(String::new, |s| match s.isolated {
            Some(e) => crate::display::number(e),
            None => format!("ratio {}", crate::display::number(s.ratio)),
        });
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&g.name),
            g.layers.len(),
            if g.marked { "yes" } else { "" },
            esc(&sensitivity)
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The trade-off curve (`--curve`): error over tolerance against layers marked, on a log
/// scale, the tolerance as a line and the answer ringed; then the points as a table.
fn curve_section(out: &mut String, report: &Report) {
    let points = &report.curve;
    if points.is_empty() {
        return;
    }
    let (width, height, left, bottom, top, right) = (560.0, 260.0, 56.0, 36.0, 12.0, 16.0);
    let x_max = points.iter().map(|p| p.layers).max().unwrap_or(1).max(1) as f64;
    let finite: Vec<f64> =
        points.iter().map(|p| p.error_ratio).filter(|e| e.is_finite() && *e > 0.0).collect();
    // Decades from below the smallest error to above the largest, at most 8 below the tolerance.
    let lo = finite.iter().copied().fold(1.0_f64, f64::min).log10().floor().clamp(-8.0, -1.0);
    let hi = finite.iter().copied().fold(1.0_f64, f64::max).log10().ceil().clamp(1.0, 12.0);
    let x_at = |layers: f64| left + layers / x_max * (width - left - right);
    let y_at = |ratio: f64| {
        // An exact match sits at the bottom; no result (a failed build, NaN) at the top.
        let v = match ratio {
            0.0 => lo,
            r if r.is_finite() && r > 0.0 => r.log10(),
            _ => hi,
        };
        let v = v.clamp(lo, hi);
        top + (hi - v) / (hi - lo) * (height - top - bottom)
    };
    let _ = writeln!(
        out,
        "<h3>Trade-off curve</h3>\n<p>Error over tolerance (at most 1 passes) of the plans \
         marking the most sensitive layers of the ranking, by layers marked; the ringed point \
         is the answer. Export another point with <code>precision export --keep K</code>.</p>\n\
         <svg id=\"curve\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"error over tolerance against layers marked\">"
    );
    for decade in (lo as i32)..=(hi as i32) {
        let yy = y_at(10f64.powi(decade));
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"{}\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">1e{decade}</text>",
            width - right,
            if decade == 0 { "#c33" } else { "#ddd" },
            left - 4.0,
            yy + 3.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">layers marked \
         (of {})</text><text x=\"{left}\" y=\"{}\" font-size=\"10\">0</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{x_max}</text>",
        (left + width - right) / 2.0,
        height - 4.0,
        report.num_layers,
        height - bottom + 14.0,
        width - right,
        height - bottom + 14.0
    );
    let heads: Vec<String> = points
        .iter()
        .filter(|p| p.head.is_some())
        .map(|p| format!("{:.1},{:.1}", x_at(p.layers as f64), y_at(p.error_ratio)))
        .collect();
    let _ =
        writeln!(out, "<polyline fill=\"none\" stroke=\"#36c\" points=\"{}\"/>", heads.join(" "));
    for p in points {
        let (cx, cy) = (x_at(p.layers as f64), y_at(p.error_ratio));
        let colour = if p.passed { "#2a2" } else { "#c33" };
        let ring = if p.answer { " stroke=\"#000\" stroke-width=\"2\"" } else { "" };
        let radius = if p.answer { 6 } else { 4 };
        let _ = writeln!(
            out,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{radius}\" fill=\"{colour}\"{ring}>\
             <title>{} marked: error/tol {}</title></circle>",
            p.layers,
            esc(&crate::display::number(p.error_ratio))
        );
    }
    // Speed, when timed: the median latency on a linear scale from 0 (bottom) to the slowest
    // median (top), labelled on the right.
    let timed: Vec<(f64, f64)> =
        points.iter().filter_map(|p| Some((p.layers as f64, p.latency?.median_ms))).collect();
    let slowest = timed.iter().map(|&(_, ms)| ms).fold(0.0_f64, f64::max);
    if slowest > 0.0 {
        let ms_at = |ms: f64| top + (1.0 - ms / slowest) * (height - top - bottom);
        let line: Vec<String> =
            timed.iter().map(|&(l, ms)| format!("{:.1},{:.1}", x_at(l), ms_at(ms))).collect();
        let _ = writeln!(
            out,
            "<polyline id=\"curve-latency\" fill=\"none\" stroke=\"#e80\" \
             stroke-dasharray=\"4 3\" points=\"{}\"/><text x=\"{}\" y=\"{:.1}\" \
             font-size=\"10\" fill=\"#e80\" text-anchor=\"end\">{slowest:.3} ms</text>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" fill=\"#e80\" \
             text-anchor=\"end\">0 ms</text>",
            line.join(" "),
            width - 2.0,
            top + 10.0,
            width - 2.0,
            height - bottom - 2.0
        );
    }
    out.push_str("</svg>\n");
    if slowest > 0.0 {
        out.push_str(
            "<p>Solid: error over tolerance (log scale, left). Dashed: median latency (linear \
             from 0, right).</p>\n",
        );
    }
    let timed = points.iter().any(|p| p.latency.is_some());
    let _ = writeln!(
        out,
        "<table id=\"curve-points\"><thead><tr><th class=\"num\">layers marked</th>\
         <th class=\"num\">error / tolerance</th><th>verdict</th>{}<th>plan</th></tr></thead><tbody>",
        if timed { "<th class=\"num\">median ms</th>" } else { "" }
    );
    for p in points {
        let latency = match (timed, p.latency) {
            (false, _) => String::new(),
            (true, Some(t)) => format!("<td class=\"num\">{:.3}</td>", t.median_ms),
            (true, None) => "<td class=\"num\">-</td>".to_owned(),
        };
        let plan = match p.head {
            _ if p.answer => "the answer".to_owned(),
            Some(0) if report.kept.is_empty() => "nothing marked".to_owned(),
            Some(0) => "only the kept layers".to_owned(),
            Some(n) => format!("the {n} most sensitive"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>{latency}\
             <td>{}</td></tr>",
            p.layers,
            esc(&crate::display::number(p.error_ratio)),
            if p.passed { "pass" } else { "fail" },
            esc(&plan)
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The layers the FP16 pre-screen kept from the start, and why.
fn prescreen_section(out: &mut String, report: &Report) {
    let Some(prescreen) = &report.prescreen else { return };
    let weights = if prescreen.weights_screened { " or weights" } else { "" };
    let _ = writeln!(
        out,
        "<h3>FP16 pre-screen</h3>\n<p id=\"prescreen\">A float32 run on {} sample(s) found {} \
         layer(s) whose values{weights} exceed {} in magnitude; every check kept them in the \
         higher precision, and the search chose among the rest.</p>",
        prescreen.samples,
        prescreen.kept.len(),
        prescreen.threshold
    );
    if prescreen.kept.is_empty() {
        return;
    }
    out.push_str(
        "<table id=\"prescreen-kept\"><thead><tr><th>layer</th><th>what exceeds</th>\
         <th class=\"num\">largest magnitude</th></tr></thead><tbody>\n",
    );
    for k in &prescreen.kept {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.4e}</td></tr>",
            esc(&k.name),
            esc(&k.source),
            k.peak
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The answer's headroom per output, against the user's tolerances.
fn headroom_section(out: &mut String, report: &Report) {
    if report.answer_outputs.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Headroom</h3>\n<p>How many times each output's error could grow and the answer \
         still pass its tolerances (below: the values and the tolerances as given).</p>\n",
    );
    if let Some(f) = report.margin {
        let _ = writeln!(
            out,
            "<p id=\"margin\">The search demanded at most {} times each tolerance \
             (<code>--margin {}</code>), so the answer's headroom is at least {}.</p>",
            esc(&f.to_string()),
            esc(&f.to_string()),
            esc(&crate::display::headroom(1.0 / f))
        );
    }
    outputs_table(out, "answer-outputs", &report.answer_outputs);
}

/// One row per check.
fn checks_section(out: &mut String, report: &Report, network: &Network) {
    let _ = writeln!(out, "<h2>Checks ({})</h2>", report.checks.len());
    let commands = report.checks.iter().any(|it| it.command.is_some());
    out.push_str(
        "<table id=\"checks\"><thead><tr><th class=\"num\">#</th><th class=\"num\">round</th>\
         <th>marked</th><th>result</th><th class=\"num\">worst max abs diff</th>\
         <th>comparison values (lowest headroom)</th>",
    );
    if commands {
        out.push_str("<th>check command</th><th class=\"num\">metric</th>");
    }
    out.push_str("<th class=\"num\">duration</th><th>reused</th></tr></thead><tbody>\n");
    for (k, it) in report.checks.iter().enumerate() {
        let result = if let Some(err) = &it.build_error {
            format!("<span class=\"fail\">build failed</span>: {}", esc(err))
        } else if it.passed {
            "<span class=\"pass\">pass</span>".to_owned()
        } else {
            "<span class=\"fail\">fail</span>".to_owned()
        };
        let worst = worst_output(it).map_or_else(
            || "-".to_owned(),
            |o| format!("{} <span class=\"note\">({})</span>", number(o.max_absdiff), esc(&o.name)),
        );
        let values =
            it.outputs.iter().min_by(|a, b| a.headroom.total_cmp(&b.headroom)).map_or_else(
                || "-".to_owned(),
                |o| {
                    format!(
                        "<code>{}</code>: {} <span class=\"note\">(headroom {})</span>",
                        esc(&o.name),
                        esc(&metric_values(o)),
                        esc(&crate::display::headroom(o.headroom))
                    )
                },
            );
        let command = if commands { command_cells(it) } else { String::new() };
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"marked\">{}</td><td>{result}</td><td class=\"num\">{worst}</td>\
             <td>{values}</td>{command}<td class=\"num\">{:.2}s</td><td>{}</td></tr>",
            if it.passed { "check-pass" } else { "check-fail" },
            k + 1,
            it.round,
            marked_cell(network, &it.marked),
            it.duration.as_secs_f64(),
            if it.reused { "yes" } else { "" }
        );
    }
    out.push_str("</tbody></table>\n");
}

/// The check command's cells of a check: its verdict and status, and its metric.
fn command_cells(it: &Check) -> String {
    let Some(c) = &it.command else {
        return "<td>not run</td><td class=\"num\">-</td>".to_owned();
    };
    let verdict = if c.passed {
        "<span class=\"pass\">pass</span>"
    } else {
        "<span class=\"fail\">fail</span>"
    };
    let metric = c.metric.map_or_else(|| "-".to_owned(), number);
    format!(
        "<td>{verdict} <span class=\"note\">({})</span></td><td class=\"num\">{metric}</td>",
        esc(&c.status)
    )
}

/// The output with the largest max abs diff (NaN counts as the largest).
fn worst_output(it: &Check) -> Option<&OutputComparison> {
    let key =
        |o: &OutputComparison| if o.max_absdiff.is_nan() { f64::INFINITY } else { o.max_absdiff };
    it.outputs.iter().max_by(|a, b| key(a).total_cmp(&key(b)))
}

/// The marked set of a check: its names when short, else a count with the names folded.
fn marked_cell(network: &Network, set: &LayerSet) -> String {
    let name = |i: usize| {
        network.layers.get(i).map_or_else(|| format!("#{i}"), |l| format!("{} (#{i})", l.name))
    };
    let n = set.len();
    if n == 0 {
        return "none".to_owned();
    }
    if n <= INLINE_NAMES {
        return set.iter().map(|i| esc(&name(i))).collect::<Vec<_>>().join(", ");
    }
    let mut names =
        set.iter().take(FOLDED_NAMES).map(|i| esc(&name(i))).collect::<Vec<_>>().join(", ");
    if n > FOLDED_NAMES {
        let _ =
            write!(names, ", ... and {} more (the --report JSON lists them all)", n - FOLDED_NAMES);
    }
    format!(
        "<details><summary>{n} layers: {}</summary>{names}</details>",
        esc(&crate::display::index_ranges(set, 6))
    )
}

/// `s` escaped for HTML text and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
