//! `--html FILE`: a self-contained HTML report of a search (inline CSS and SVG, no scripts, no
//! external resources), readable in any browser and small enough for 5,000-layer networks.

use std::fmt::Write as _;

use precision_core::report::{SensitivityRow, Status};
use precision_core::{Iteration, LayerSet, Network, OutputComparison, Report};

use crate::console::shell_quote;
use crate::display::number;

/// The width of the plot area when every layer fits (layers get at least one pixel each).
const PLOT_WIDTH: f64 = 1200.0;
/// The height of the plot area.
const PLOT_HEIGHT: f64 = 320.0;
/// Chart margins: left (y labels), right, top (markers above capped bars), bottom (x labels).
const MARGIN: (f64, f64, f64, f64) = (72.0, 16.0, 22.0, 52.0);
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
    chart_section(&mut out, report);
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

/// The per-layer error chart, or a note when nothing was measured.
fn chart_section(out: &mut String, report: &Report) {
    out.push_str("<h2>Per-layer error</h2>\n");
    if report.sensitivity.is_empty() {
        out.push_str(
            "<p class=\"note\" id=\"no-sensitivity\">This search measured no per-layer errors; \
             run <code>precision ranked</code> or <code>precision worst-first</code> to see \
             them.</p>\n",
        );
        return;
    }
    let rows = &report.sensitivity;
    let has_isolated = rows.iter().any(|r| r.measured.isolated.is_some());
    let _ = writeln!(
        out,
        "<p class=\"note\">One bar per markable layer, in topological order, on a log scale. \
         {} Hover a bar for its layer, operator and values; layers the answer marks are \
         highlighted.</p>",
        if has_isolated {
            "The light bar is the propagated error (the largest difference of the layer's \
             outputs when every layer runs in the lower precision); the dark bar inside it is \
             the isolated error (the layer's own relative error with exact inputs)."
        } else {
            "Each bar is the propagated error: the largest difference of the layer's outputs \
             when every layer runs in the lower precision."
        }
    );
    out.push_str("<div class=\"chart\">\n");
    chart_svg(out, rows);
    out.push_str("</div>\n");
    legend(out, rows, has_isolated);
}

/// The y range of the chart in decades: floor and ceiling of log10 over the finite positive
/// values, with half a decade of room below the smallest.
fn decades(rows: &[SensitivityRow]) -> (i32, i32) {
    let values = rows
        .iter()
        .flat_map(|r| [r.measured.isolated, Some(r.measured.out_err)])
        .flatten()
        .filter(|v| v.is_finite() && *v > 0.0);
    let (min, max) = values.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if max == 0.0 {
        return (-6, 0);
    }
    let lo = (min.log10() - 0.5).floor() as i32;
    let hi = (max.log10().ceil() as i32).max(lo + 1);
    (lo, hi)
}

/// How a value is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// A bar up to the value.
    Finite(f64),
    /// A stub at the baseline.
    Zero,
    /// A hatched bar to the top with a marker.
    Inf,
    /// A hatched bar to the top with a marker, in another colour.
    Nan,
}

impl Kind {
    fn of(v: f64) -> Kind {
        if v.is_nan() {
            Kind::Nan
        } else if v.is_infinite() {
            Kind::Inf
        } else if v <= 0.0 {
            Kind::Zero
        } else {
            Kind::Finite(v)
        }
    }

    fn class(self) -> &'static str {
        match self {
            Kind::Finite(_) => "",
            Kind::Zero => " zero",
            Kind::Inf => " inf",
            Kind::Nan => " nan",
        }
    }
}

/// The chart geometry.
struct Scale {
    lo: f64,
    hi: f64,
    top: f64,
    bottom: f64,
}

impl Scale {
    /// The y of `v` (clamped to the plot), for a positive finite value.
    fn y(&self, v: f64) -> f64 {
        let t = ((v.log10() - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.bottom - t * (self.bottom - self.top)
    }

    /// The top y and height of the bar for `kind`.
    fn bar(&self, kind: Kind) -> (f64, f64) {
        match kind {
            Kind::Finite(v) => {
                let y = self.y(v).min(self.bottom - 1.0);
                (y, self.bottom - y)
            }
            Kind::Zero => (self.bottom - 2.0, 2.0),
            Kind::Inf | Kind::Nan => (self.top, self.bottom - self.top),
        }
    }
}

fn chart_svg(out: &mut String, rows: &[SensitivityRow]) {
    let n = rows.len();
    let step = (PLOT_WIDTH / n as f64).max(1.0);
    let (left, right, top, bottom_margin) = MARGIN;
    let plot_w = step * n as f64;
    let width = left + plot_w + right;
    let height = top + PLOT_HEIGHT + bottom_margin;
    let (lo, hi) = decades(rows);
    let scale = Scale { lo: f64::from(lo), hi: f64::from(hi), top, bottom: top + PLOT_HEIGHT };
    let _ = write!(
        out,
        "<svg id=\"sensitivity-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" \
         height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" \
         aria-label=\"per-layer error, log scale\">\n\
         <defs><pattern id=\"hatch-inf\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" fill=\"#f3c9c6\"/>\
         <rect width=\"2\" height=\"4\" fill=\"#b3261e\"/></pattern>\
         <pattern id=\"hatch-nan\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(-45)\"><rect width=\"4\" height=\"4\" fill=\"#e2d2ee\"/>\
         <rect width=\"2\" height=\"4\" fill=\"#6a2c91\"/></pattern></defs>\n"
    );
    // Decade grid lines and labels, at most about 12 labelled.
    let stride = ((hi - lo) / 12 + 1).max(1);
    let mut d = lo;
    while d <= hi {
        let y = scale.y(10f64.powi(d));
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">1e{d}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0
        );
        d += stride;
    }
    // The layers.
    let gap = if step >= 3.0 { step * 0.12 } else { 0.0 };
    for (i, row) in rows.iter().enumerate() {
        let x = left + i as f64 * step;
        let marked = if row.marked { " marked" } else { "" };
        let _ = write!(
            out,
            "<g class=\"layer{marked}\" data-index=\"{}\"><title>{}</title>\
             <rect class=\"hit{}\" x=\"{x:.2}\" y=\"{top}\" width=\"{step:.2}\" height=\"{PLOT_HEIGHT}\"/>",
            row.layer.index,
            esc(&bar_title(row)),
            if row.marked { " band" } else { "" },
        );
        let prop = Kind::of(row.measured.out_err);
        bar(out, &scale, "propagated", marked, prop, x + gap, step - 2.0 * gap);
        if let Some(iso) = row.measured.isolated {
            let iso = Kind::of(iso);
            let w = (step - 2.0 * gap) * 0.5;
            bar(out, &scale, "isolated", marked, iso, x + (step - w) / 2.0, w);
        }
        out.push_str("</g>\n");
    }
    // Axes, x ticks and labels.
    let bottom = scale.bottom;
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom}\"/>\
         <line class=\"axis\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{bottom}\" y2=\"{bottom}\"/>",
        left + plot_w
    );
    let tick = nice_stride(n);
    let mut i = 0;
    while i < n {
        let x = left + (i as f64 + 0.5) * step;
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{bottom}\" y2=\"{:.0}\"/>\
             <text x=\"{x:.1}\" y=\"{:.0}\" text-anchor=\"middle\">#{}</text>",
            bottom + 4.0,
            bottom + 16.0,
            rows[i].layer.index
        );
        i += tick;
    }
    let _ = writeln!(
        out,
        "<text class=\"label\" x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">markable layers in \
         topological order (ticks: layer index)</text>\
         <text class=\"label\" transform=\"translate(16 {:.0}) rotate(-90)\" \
         text-anchor=\"middle\">error (log scale)</text>\n</svg>",
        left + plot_w.min(PLOT_WIDTH) / 2.0,
        height - 10.0,
        top + PLOT_HEIGHT / 2.0
    );
}

/// One bar, with a marker above it when it stands for infinity or NaN.
fn bar(out: &mut String, scale: &Scale, series: &str, marked: &str, kind: Kind, x: f64, w: f64) {
    let (y, h) = scale.bar(kind);
    let _ = write!(
        out,
        "<rect class=\"bar {series}{marked}{}\" x=\"{x:.2}\" y=\"{y:.1}\" width=\"{w:.2}\" \
         height=\"{h:.1}\"/>",
        kind.class()
    );
    if matches!(kind, Kind::Inf | Kind::Nan) {
        let cx = x + w / 2.0;
        let _ = write!(
            out,
            "<path class=\"marker{}\" d=\"M{:.2} {:.1}l4 -7h-8z\"/>",
            kind.class(),
            cx,
            scale.top - 2.0
        );
    }
}

/// A tick stride of 1, 2 or 5 times a power of ten giving about ten ticks.
fn nice_stride(n: usize) -> usize {
    let target = (n / 10).max(1);
    let mut p = 1;
    loop {
        for m in [1, 2, 5] {
            if m * p >= target {
                return m * p;
            }
        }
        p *= 10;
    }
}

/// The tooltip of a layer: name, op and every measured value.
fn bar_title(row: &SensitivityRow) -> String {
    let m = &row.measured;
    let mut t = format!("#{} {} ({})", row.layer.index, row.layer.name, row.layer.op);
    if row.marked {
        t.push_str(" - marked");
    }
    if let Some(iso) = m.isolated {
        let _ = write!(t, "\nisolated error: {}", number(iso));
    }
    let _ = write!(
        t,
        "\npropagated error (out): {}\ninput error (in): {}\nratio out/in: {}",
        number(m.out_err),
        number(m.in_err),
        number(m.ratio)
    );
    t
}

fn legend(out: &mut String, rows: &[SensitivityRow], has_isolated: bool) {
    let item = |out: &mut String, style: &str, text: &str| {
        let _ = write!(out, "<span><span class=\"swatch\" style=\"{style}\"></span>{text}</span>");
    };
    out.push_str("<div class=\"legend\" id=\"chart-legend\">");
    item(out, "background:#9db8d6", "propagated error");
    if has_isolated {
        item(out, "background:#1f4e79", "isolated error");
    }
    item(out, "background:#f0a04b", "propagated error, marked layer");
    if has_isolated {
        item(out, "background:#b3261e", "isolated error, marked layer");
    }
    item(out, "background:#fff4c2", "marked layer");
    let values =
        || rows.iter().flat_map(|r| [r.measured.isolated, Some(r.measured.out_err)]).flatten();
    if values().any(|v| v == 0.0) {
        item(out, "background:#8a939c", "0 (exact): a stub at the baseline");
    }
    if values().any(f64::is_infinite) {
        item(
            out,
            "background:repeating-linear-gradient(45deg,#b3261e 0 2px,#f3c9c6 2px 4px)",
            "infinite: a hatched bar to the top, with a red marker",
        );
    }
    if values().any(f64::is_nan) {
        item(
            out,
            "background:repeating-linear-gradient(-45deg,#6a2c91 0 2px,#e2d2ee 2px 4px)",
            "NaN: a hatched bar to the top, with a purple marker",
        );
    }
    out.push_str("</div>\n");
}

/// The marked layers and the values to paste into other tools.
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
    let _ = writeln!(out, "<h2>Checks ({})</h2>", report.iterations.len());
    let commands = report.iterations.iter().any(|it| it.command.is_some());
    out.push_str(
        "<table id=\"checks\"><thead><tr><th class=\"num\">#</th><th class=\"num\">round</th>\
         <th>marked</th><th>result</th><th class=\"num\">worst max abs diff</th>\
         <th>comparison values (lowest headroom)</th>",
    );
    if commands {
        out.push_str("<th>check command</th><th class=\"num\">metric</th>");
    }
    out.push_str("<th class=\"num\">duration</th><th>reused</th></tr></thead><tbody>\n");
    for (k, it) in report.iterations.iter().enumerate() {
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
fn command_cells(it: &Iteration) -> String {
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
fn worst_output(it: &Iteration) -> Option<&OutputComparison> {
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
    format!("<details><summary>{n} layers: {}</summary>{names}</details>", esc(&ranges(set)))
}

/// Index ranges of a set, e.g. `#3-#7, #12`, eliding past 6 ranges.
fn ranges(set: &LayerSet) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = set.iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while let Some(next) = iter.next_if_eq(&(end + 1)) {
            end = next;
        }
        parts.push(if end == start { format!("#{start}") } else { format!("#{start}-#{end}") });
    }
    if parts.len() > 6 {
        let more = parts.len() - 6;
        parts.truncate(6);
        parts.push(format!("... ({more} more ranges)"));
    }
    parts.join(", ")
}

/// `s` escaped for HTML text and attribute values.
fn esc(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use precision_core::search::{LayerSensitivity, NoiseFloor};
    use precision_core::{Algorithm, Direction, ErrorStat, Layer, Precision, SearchOutcome};

    use super::*;

    fn network(names: &[String]) -> Network {
        let layers = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let input = if i == 0 { "x".to_owned() } else { format!("t{}", i - 1) };
                Layer::new(i, name.clone(), "Conv", vec![input], vec![format!("t{i}")])
            })
            .collect();
        Network {
            name: "n".into(),
            inputs: vec![],
            layers,
            outputs: vec![format!("t{}", names.len() - 1)],
        }
    }

    fn comparison(name: &str, passed: bool, max_absdiff: f64) -> OutputComparison {
        OutputComparison {
            name: name.into(),
            passed,
            stat: ErrorStat::Elemwise,
            max_absdiff,
            max_reldiff: max_absdiff,
            mean_absdiff: max_absdiff,
            mean_reldiff: max_absdiff,
            required_atol: max_absdiff,
            required_rtol: max_absdiff,
            mismatch: None,
            metrics: Vec::new(),
            headroom: f64::INFINITY,
        }
    }

    fn iteration(n: usize, marked: &[usize], passed: bool, round: usize) -> Iteration {
        Iteration {
            marked: LayerSet::from_indices(n, marked.iter().copied()),
            passed,
            build_error: None,
            outputs: vec![comparison("out", passed, if passed { 1e-4 } else { 0.5 })],
            deviations: vec![],
            duration: Duration::from_millis(120),
            round,
            reused: false,
            samples: None,
            command: None,
        }
    }

    fn sensitivity(index: usize, isolated: Option<f64>, out_err: f64) -> LayerSensitivity {
        LayerSensitivity { index, isolated, in_err: 0.0, out_err, ratio: f64::INFINITY }
    }

    fn report(network: &Network, outcome: &SearchOutcome) -> Report {
        Report::new(
            "precision test".into(),
            "model.toml".into(),
            "mock".into(),
            network,
            &[Precision::Int8],
            Precision::Float32,
            outcome,
        )
    }

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn names_are_escaped_everywhere() {
        let evil = r#"<script>&"'"#.to_owned();
        let net = network(&["a".into(), evil.clone(), "b".into()]);
        let mut outcome = SearchOutcome::new(
            Algorithm::WorstFirst,
            None,
            Some(LayerSet::from_indices(3, [1])),
            vec![iteration(3, &[1], true, 1)],
        );
        outcome.sensitivity = (0..3).map(|i| sensitivity(i, None, 0.01)).collect();
        let html = render(&report(&net, &outcome), &net);
        assert!(!html.contains("<script"), "an unescaped name reached the page");
        assert!(!html.contains(&evil));
        let escaped = "&lt;script&gt;&amp;&quot;&#39;";
        // The chart tooltip, the marked table, the trtexec warning and the checks table.
        assert!(count(&html, escaped) >= 4, "{html}");
        // A name with ' cannot be named to trtexec: left out of the flags, and said so.
        assert!(!html.contains("id=\"trtexec\""), "{html}");
        assert!(html.contains("syntax cannot name 1 of the marked layers"));
        // Regex-escaped (`\&`), shell-quoted ('\'' for the quote inside), then HTML-escaped.
        let quoted = "&#39;&lt;script&gt;\\&amp;&quot;&#39;\\&#39;&#39;\\Z&#39;";
        assert!(html.contains(&format!("--nodes_to_exclude {quoted}")), "{html}");
        assert!(html.contains(r"nodes_to_exclude=[&quot;&lt;script&gt;&amp;\&quot;&#39;&quot;]"));
    }

    #[test]
    fn empty_sensitivity_shows_a_note_instead_of_the_chart() {
        let net = network(&["a".into(), "b".into()]);
        let outcome = SearchOutcome::new(
            Algorithm::Bisect,
            Some(Direction::Reverse),
            Some(LayerSet::from_indices(2, [1])),
            vec![iteration(2, &[1], true, 1)],
        );
        let html = render(&report(&net, &outcome), &net);
        assert!(!html.contains("<svg"));
        assert!(html.contains("id=\"no-sensitivity\""));
        assert!(html.contains("<code>precision ranked</code>"));
        assert!(html.contains("bisect (reverse)"));
    }

    /// The (y, height) of the bar with `class` in the group of layer `index`.
    fn bar_geometry(html: &str, index: usize, class: &str) -> (f64, f64) {
        let group = html.split(&format!("data-index=\"{index}\"")).nth(1).unwrap();
        let group = &group[..group.find("</g>").unwrap()];
        let rect = group.split(&format!("class=\"{class}")).nth(1).unwrap();
        let attr = |name: &str| -> f64 {
            let v = rect.split(&format!(" {name}=\"")).nth(1).unwrap();
            v[..v.find('"').unwrap()].parse().unwrap()
        };
        (attr("y"), attr("height"))
    }

    #[test]
    fn zero_inf_and_nan_are_drawn_distinctly() {
        let names: Vec<String> = (0..6).map(|i| format!("l{i}")).collect();
        let net = network(&names);
        let mut outcome = SearchOutcome::new(
            Algorithm::WorstFirst,
            None,
            None,
            vec![iteration(6, &[], false, 1)],
        );
        outcome.sensitivity = vec![
            sensitivity(0, Some(1e-5), 1e-3),
            sensitivity(1, Some(0.0), 0.0),
            sensitivity(2, Some(f64::INFINITY), f64::INFINITY),
            sensitivity(3, Some(f64::NAN), f64::NAN),
            sensitivity(4, None, 1e-1),
            sensitivity(5, Some(2e-2), 2.0),
        ];
        let html = render(&report(&net, &outcome), &net);
        assert_eq!(count(&html, "<rect class=\"bar propagated"), 6);
        assert_eq!(count(&html, "<rect class=\"bar isolated"), 5);
        assert_eq!(count(&html, "class=\"bar propagated zero\""), 1);
        assert_eq!(count(&html, "class=\"bar propagated inf\""), 1);
        assert_eq!(count(&html, "class=\"bar propagated nan\""), 1);
        assert_eq!(count(&html, "class=\"bar isolated zero\""), 1);
        assert_eq!(count(&html, "<path class=\"marker inf\""), 2);
        assert_eq!(count(&html, "<path class=\"marker nan\""), 2);
        assert!(html.contains("0 (exact)") && html.contains("infinite:") && html.contains("NaN:"));
        // Log scale: from 1e-5 (decade floor -6) to 2 (ceiling 1), so 1e-3 sits at 3/7 height.
        let (top, bottom) = (MARGIN.2, MARGIN.2 + PLOT_HEIGHT);
        let (y, h) = bar_geometry(&html, 0, "bar propagated");
        assert!((y + h - bottom).abs() < 0.1);
        assert!((h - PLOT_HEIGHT * 3.0 / 7.0).abs() < 0.2, "{h}");
        let (y_inf, h_inf) = bar_geometry(&html, 2, "bar propagated inf");
        assert!((y_inf - top).abs() < 0.1 && (h_inf - PLOT_HEIGHT).abs() < 0.1);
        let (_, h_zero) = bar_geometry(&html, 1, "bar propagated zero");
        assert!(h_zero > 0.0 && h_zero < 5.0);
        let (_, h_big) = bar_geometry(&html, 5, "bar propagated");
        let (_, h_mid) = bar_geometry(&html, 4, "bar propagated");
        assert!(h_big > h_mid && h_mid > h);
        assert!(html.contains("not found"));
        assert!(html.contains("No configuration passed"));
    }

    #[test]
    fn answer_summary_floor_and_checks() {
        let names: Vec<String> = (0..10).map(|i| format!("layer{i}")).collect();
        let net = network(&names);
        let mut outcome = SearchOutcome::new(
            Algorithm::WorstFirst,
            None,
            Some(LayerSet::from_indices(10, [2, 7])),
            vec![
                iteration(10, &[], false, 1),
                iteration(10, &[0, 1, 2, 3, 4, 5, 7], true, 2),
                iteration(10, &[2, 7], true, 3),
            ],
        );
        outcome.iterations[0].build_error = Some("no <kernel>".into());
        outcome.iterations[2].reused = true;
        outcome.complete = false;
        outcome.stop_reason = Some("--max-checks 3 reached".into());
        outcome.budget = Some(3);
        outcome.minimized_from = Some(7);
        outcome.noise_floor =
            Some(NoiseFloor { passed: true, outputs: vec![comparison("out", true, 3e-6)] });
        outcome.sensitivity = (0..10).map(|i| sensitivity(i, None, 1e-3)).collect();
        let html = render(&report(&net, &outcome), &net);
        assert!(html.contains("stopped early: a passing set, not minimal"));
        assert!(html.contains("(--max-checks 3 reached)"));
        assert!(html.contains("3 in 3 rounds (budget: 3)"));
        assert!(html.contains("2 marked (minimized from 7)"));
        assert_eq!(count(&html, "<g class=\"layer marked\""), 2);
        assert!(html.contains("data-index=\"7\"><title>#7 layer7 (Conv) - marked"));
        assert!(html.contains(
            "--precisionConstraints=obey --layerPrecisions=layer2:fp32,layer7:fp32 \
             --layerOutputTypes=layer2:fp32,layer7:fp32"
        ));
        assert!(html.contains("--nodes_to_exclude &#39;layer2\\Z&#39; &#39;layer7\\Z&#39;"));
        assert!(html.contains("nodes_to_exclude=[&quot;layer2&quot;, &quot;layer7&quot;]"));
        assert!(html.contains("<table id=\"noise-floor\">"));
        assert!(html.contains("3.0000e-6"));
        let checks = html.split("<table id=\"checks\">").nth(1).unwrap();
        let body = &checks[checks.find("<tbody>").unwrap()..checks.find("</tbody>").unwrap()];
        assert_eq!(count(body, "<tr"), 3);
        assert!(body.contains("build failed</span>: no &lt;kernel&gt;"));
        assert!(body.contains("<details><summary>7 layers: #0-#5, #7</summary>"));
        assert!(body.contains("layer2 (#2), layer7 (#7)"));
        assert_eq!(count(body, ">yes</td>"), 1);
    }

    #[test]
    fn five_thousand_layers_render_fast_and_small() {
        let n = 5000;
        let names: Vec<String> =
            (0..n).map(|i| format!("block{}/conv{}", i / 10, i % 10)).collect();
        let net = network(&names);
        let marked: Vec<usize> = (0..n).step_by(7).collect();
        let mut outcome = SearchOutcome::new(
            Algorithm::WorstFirst,
            None,
            Some(LayerSet::from_indices(n, marked.iter().copied())),
            (1..=12).map(|k| iteration(n, &marked[..marked.len() * k / 12], k == 12, k)).collect(),
        );
        outcome.sensitivity = (0..n)
            .map(|i| sensitivity(i, Some(10f64.powf(-6.0 + (i % 97) as f64 / 20.0)), 1e-3))
            .collect();
        let report = report(&net, &outcome);
        let start = Instant::now();
        let html = render(&report, &net);
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_millis(900), "rendering took {elapsed:?}");
        assert!(html.len() < 4_000_000, "{} bytes", html.len());
        assert_eq!(count(&html, "<rect class=\"bar propagated"), n);
        assert_eq!(count(&html, "<rect class=\"bar propagated marked"), marked.len());
        assert_eq!(count(&html, "<title>"), n + 1);
        assert!(html.contains("... and 515 more (the --report JSON lists them all)"));
    }
}
