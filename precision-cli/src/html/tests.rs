//! Tests of the `--html` page: escaping, the chart's geometry and special values, the
//! sections, and a 5,000-layer report's size.

use std::time::Duration;

use precision_core::search::{LayerSensitivity, NoiseFloor};
use precision_core::{Algorithm, Direction, ErrorStat, Layer, Precision, SearchOutcome};

use super::chart::{MARGIN, PLOT_HEIGHT};
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

fn check(n: usize, marked: &[usize], passed: bool, round: usize) -> Check {
    Check {
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
        timing: None,
    }
}

fn sensitivity(index: usize, isolated: Option<f64>, out_err: f64) -> LayerSensitivity {
    LayerSensitivity { index, isolated, in_err: 0.0, out_err, ratio: f64::INFINITY }
}

fn report(network: &Network, outcome: &SearchOutcome) -> Report {
    let mut report = Report::new(
        "precision test".into(),
        "model.toml".into(),
        "mock".into(),
        network,
        &[Precision::Int8],
        Precision::Float32,
        outcome,
    );
    crate::trtexec::fill_report(&mut report, network, outcome);
    report
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
        vec![check(3, &[1], true, 1)],
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
        vec![check(2, &[1], true, 1)],
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
    let mut outcome =
        SearchOutcome::new(Algorithm::WorstFirst, None, None, vec![check(6, &[], false, 1)]);
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
            check(10, &[], false, 1),
            check(10, &[0, 1, 2, 3, 4, 5, 7], true, 2),
            check(10, &[2, 7], true, 3),
        ],
    );
    outcome.checks[0].build_error = Some("no <kernel>".into());
    outcome.checks[2].reused = true;
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
fn five_thousand_layers_render_small() {
    let n = 5000;
    let names: Vec<String> = (0..n).map(|i| format!("block{}/conv{}", i / 10, i % 10)).collect();
    let net = network(&names);
    let marked: Vec<usize> = (0..n).step_by(7).collect();
    let mut outcome = SearchOutcome::new(
        Algorithm::WorstFirst,
        None,
        Some(LayerSet::from_indices(n, marked.iter().copied())),
        (1..=12).map(|k| check(n, &marked[..marked.len() * k / 12], k == 12, k)).collect(),
    );
    outcome.sensitivity = (0..n)
        .map(|i| sensitivity(i, Some(10f64.powf(-6.0 + (i % 97) as f64 / 20.0)), 1e-3))
        .collect();
    let report = report(&net, &outcome);
    let html = render(&report, &net);
    assert!(html.len() < 4_000_000, "{} bytes", html.len());
    assert_eq!(count(&html, "<rect class=\"bar propagated"), n);
    assert_eq!(count(&html, "<rect class=\"bar propagated marked"), marked.len());
    assert_eq!(count(&html, "<title>"), n + 1);
    assert!(html.contains("... and 515 more (the --report JSON lists them all)"));
}
