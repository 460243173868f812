//! The `--html` report's chart: per-layer errors as SVG bars on a log scale (propagated and
//! isolated errors, marked layers, zero, infinite and NaN values drawn apart), with its legend.

use std::fmt::Write as _;

use precision_core::Report;
use precision_core::report::SensitivityRow;

use super::esc;
use crate::display::number;

/// The width of the plot area when every layer fits (layers get at least one pixel each).
const PLOT_WIDTH: f64 = 1200.0;
/// The height of the plot area.
pub(super) const PLOT_HEIGHT: f64 = 320.0;
/// Chart margins: left (y labels), right, top (markers above capped bars), bottom (x labels).
pub(super) const MARGIN: (f64, f64, f64, f64) = (72.0, 16.0, 22.0, 52.0);

/// The per-layer error chart, or a note when nothing was measured.
pub(super) fn chart_section(out: &mut String, report: &Report) {
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
