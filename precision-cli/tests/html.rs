//! `--html`: a worst-first search on mock networks writes an HTML report, which headless
//! Chromium renders; the rendered DOM must agree with the JSON report of the same search.
//!
//! Needs Chromium: `PRECISION_CHROMIUM`, else `chromium`, `chromium-browser` or
//! `google-chrome` on PATH. Without one the test fails (`apt-get install chromium`).

mod common;
use common::{precision, s, text};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium binary, or a failure saying how to get one.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PRECISION_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the HTML test renders the report in headless Chromium, but none was found: \
         `apt-get install chromium` (Debian) or set PRECISION_CHROMIUM to a Chromium or Chrome \
         binary"
    );
}

/// Runs headless Chromium with `args` (after the common flags), killing it after two minutes.
/// Its output goes through files, so a large DOM cannot fill a pipe while we wait.
fn headless(profile: &Path, args: &[String]) -> (String, String) {
    let stdout = profile.with_extension("stdout");
    let stderr = profile.with_extension("stderr");
    let mut child = Command::new(chromium())
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    while child.try_wait().expect("waits").is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish in two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (read(&stdout), read(&stderr))
}

/// The value of attribute `name` in the tag text `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let rest = tag.split(&format!(" {name}=\"")).nth(1)?;
    rest.split('"').next()
}

/// Every start tag named `name` in `dom`, up to its `>`.
fn tags<'a>(dom: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name} ");
    dom.match_indices(&open)
        .map(|(i, _)| {
            let tag = &dom[i..];
            &tag[..tag.find('>').expect("tag ends")]
        })
        .collect()
}

fn classes(tag: &str) -> BTreeSet<&str> {
    attr(tag, "class").unwrap_or("").split_whitespace().collect()
}

fn search_renders(model: &Path, atol: &str, top: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let golden = dir.path().join("golden.json");
    let out = precision(&["run", s(model), "--save-outputs", s(&golden)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (report, html) = (dir.path().join("report.json"), dir.path().join("out.html"));
    let out = precision(&[
        "worst-first",
        s(model),
        "--golden",
        s(&golden),
        "--int8",
        "--atol",
        atol,
        "--rtol",
        "0",
        "--top",
        top,
        "--report",
        s(&report),
        "--html",
        s(&html),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("json");
    assert_eq!(json["status"], "found");
    let marked: BTreeSet<u64> = json["marked"]
        .as_array()
        .expect("marked")
        .iter()
        .map(|m| m["index"].as_u64().expect("index"))
        .collect();
    assert!(!marked.is_empty());
    let out = precision(&["layers", s(model), "--int8", "--json"]);
    let layers: serde_json::Value = serde_json::from_slice(&out.stdout).expect("layers json");
    let markable: Vec<u64> = layers
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["unmarkable_reason"].is_null())
        .map(|l| l["index"].as_u64().expect("index"))
        .collect();

    let url = format!("file://{}", html.canonicalize().expect("html written").display());
    let profile = dir.path().join("profile");
    let (dom, log) = headless(&profile, &["--dump-dom".to_owned(), url.clone()]);
    assert!(dom.contains("<svg id=\"sensitivity-chart\""), "no chart in the DOM: {log}");

    // One layer group per markable layer, in layer order, each with one propagated bar and a
    // tooltip; the marked ones are exactly the report's.
    let chart = &dom[dom.find("<svg id=\"sensitivity-chart\"").expect("chart")..];
    let chart = &chart[..chart.find("</svg>").expect("chart ends")];
    let groups: Vec<&str> = chart.split("<g ").skip(1).collect();
    let indices: Vec<u64> = groups
        .iter()
        .map(|g| attr(g, "data-index").expect("data-index").parse().expect("number"))
        .collect();
    assert_eq!(indices, markable);
    let mut highlighted = BTreeSet::new();
    for (group, index) in groups.iter().zip(&indices) {
        let group = &group[..group.find("</g>").expect("group ends")];
        assert!(group.contains("<title>"), "layer {index} has no tooltip");
        let bars: Vec<&str> = tags(group, "rect")
            .into_iter()
            .filter(|r| classes(r).contains("bar") && classes(r).contains("propagated"))
            .collect();
        assert_eq!(bars.len(), 1, "layer {index}: {group}");
        if classes(bars[0]).contains("marked") {
            highlighted.insert(*index);
        }
    }
    assert_eq!(highlighted, marked);
    let all_bars = tags(chart, "rect").into_iter().filter(|r| classes(r).contains("propagated"));
    assert_eq!(all_bars.count(), markable.len());

    // One row per check.
    let checks = &dom[dom.find("<table id=\"checks\">").expect("checks table")..];
    let body =
        &checks[checks.find("<tbody>").expect("tbody")..checks.find("</tbody>").expect("end")];
    let checks = json["checks"].as_array().expect("checks");
    assert_eq!(body.matches("<tr").count(), checks.len());
    assert_eq!(checks.len(), json["evaluations"].as_u64().expect("evaluations") as usize);

    // A screenshot: a PNG of the requested size, with more than a blank page in it.
    let png = dir.path().join("shot.png");
    let (_, log) = headless(
        &profile,
        &[format!("--screenshot={}", png.display()), "--window-size=1400,1000".to_owned(), url],
    );
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}; {log}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!((be32(16), be32(20)), (1400, 1000));
    assert!(bytes.len() > 30_000, "a {}-byte screenshot is nearly blank", bytes.len());
}

#[test]
fn worst_first_html_report_renders_in_chromium() {
    let model = fixtures::fixtures_dir().join("networks/demo.toml");
    search_renders(&model, "0.01", "2");
}

#[test]
fn worst_first_html_report_of_a_residual_network_renders_in_chromium() {
    let model = fixtures::fixtures_dir().join("networks/generated/residual-120-clustered3.toml");
    search_renders(&model, "0.03", "3");
}
