//! `precision export`: the mixed-precision model of a saved search report.

use anyhow::{Context, bail};
use precision_core::{Backend, LayerSet, Middle, Precision, PrecisionPlan};

use crate::Verdict;
use crate::args::ExportArgs;
use crate::backends::{self, with_backend};
use crate::dataset;

/// The parts of a report that export and verify read.
#[derive(serde::Deserialize)]
pub(super) struct ReportPlan {
    pub(super) status: String,
    pub(super) higher_precision: Precision,
    pub(super) lower_precisions: Vec<Precision>,
    pub(super) marked: Vec<MarkedLayer>,
    /// The layers every check marked from the start (the FP16 pre-screen's).
    #[serde(default)]
    pub(super) kept: Vec<MarkedLayer>,
    /// The ranked search's order, most sensitive first.
    #[serde(default)]
    pub(super) ranking: Vec<MarkedLayer>,
    /// The three-level answer (`--three-levels`), which the plan takes when present.
    #[serde(default)]
    pub(super) three_levels: Option<ReportLevels>,
}

/// The three-level answer of a report.
#[derive(serde::Deserialize)]
pub(super) struct ReportLevels {
    pub(super) middle_precision: Precision,
    pub(super) higher: Vec<MarkedLayer>,
    pub(super) middle: Vec<MarkedLayer>,
}

impl ReportPlan {
    /// The plan marking `keep` layers in all instead of the answer: the kept layers and the
    /// most sensitive of the ranking (`precision export --keep K`, a point of the trade-off
    /// curve).
    pub(super) fn with_keep(mut self, keep: usize, path: &std::path::Path) -> anyhow::Result<Self> {
        if self.ranking.is_empty() {
            bail!(
                "--keep K takes the K most sensitive layers of a ranked search's ranking, but {} \
                 has no ranking: search with `precision ranked --report`",
                path.display()
            );
        }
        let kept = self.kept.len();
        let most = kept + self.ranking.len();
        if keep < kept || keep > most {
            bail!(
                "--keep {keep}: the plans of {} mark between {kept} layers (those kept from the \
                 start) and {most} (every layer ranked); choose K in that range",
                path.display()
            );
        }
        let mut marked = std::mem::take(&mut self.kept);
        marked.extend(self.ranking.drain(..keep - kept));
        self.marked = marked;
        // A head of the first search's ranking is a two-level plan.
        self.three_levels = None;
        Ok(self)
    }
}

/// A marked layer of a report.
#[derive(serde::Deserialize)]
pub(super) struct MarkedLayer {
    pub(super) name: String,
}

/// Reads a search report that found an answer.
pub(super) fn read_report(path: &std::path::Path) -> anyhow::Result<ReportPlan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read report {}", path.display()))?;
    let report: ReportPlan = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a search report (write one with --report on bisect, linear or worst-first)",
            path.display()
        )
    })?;
    if report.status != "found" {
        bail!(
            "{} records a search that found no configuration: there is no answer in it",
            path.display()
        );
    }
    Ok(report)
}

/// The plan of `report` on `network`: its precisions and marked layers, found by name.
pub(super) fn report_plan(
    network: &precision_core::Network,
    report: &ReportPlan,
    model: &std::path::Path,
) -> anyhow::Result<PrecisionPlan> {
    let mut base =
        PrecisionPlan::new(network, report.lower_precisions.clone(), report.higher_precision)?;
    let layers = |list: &[MarkedLayer]| -> anyhow::Result<LayerSet> {
        let mut set = LayerSet::empty(network.len());
        for layer in list {
            let Some(l) = network.layer_by_name(&layer.name) else {
                bail!(
                    "the report marks layer '{}', which {} does not have: was the report made \
                     for another model?",
                    layer.name,
                    model.display()
                );
            };
            set.insert(l.index);
        }
        Ok(set)
    };
    let Some(levels) = &report.three_levels else {
        return Ok(base.with_marked(layers(&report.marked)?));
    };
    if base.middle_precision() != Some(levels.middle_precision) {
        bail!(
            "the report's three-level answer puts layers in {}, which is not between the lowest \
             enabled precision ({}) and the higher one ({}): was the report edited?",
            levels.middle_precision,
            base.lowest(),
            base.higher
        );
    }
    base.middle =
        Some(Middle { precision: levels.middle_precision, layers: layers(&levels.middle)? });
    Ok(base.with_marked(layers(&levels.higher)?))
}

/// Reads the report, rebuilds its plan on the model and writes the rewritten model.
pub fn run(args: &ExportArgs) -> anyhow::Result<Verdict> {
    let mut report = read_report(&args.report)?;
    if let Some(keep) = args.keep {
        report = report.with_keep(keep, &args.report)?;
    }
    let mut files = precision_files::CommandFiles::new();
    crate::write::model_files(&mut files, &args.model, &report.lower_precisions);
    crate::write::data_files(&mut files, &args.data);
    files.input("--report", &args.report).output("--output", &args.output);
    crate::write::check(&files)?;
    let opened = backends::open(&args.model, &report.lower_precisions)?;
    with_backend!(opened, b => export_with(b, args, &report))
}

fn export_with<B: Backend>(
    mut backend: B,
    args: &ExportArgs,
    report: &ReportPlan,
) -> anyhow::Result<Verdict> {
    let network = backend.network().clone();
    let plan = report_plan(&network, report, &args.model.model)?;
    if report.lower_precisions.contains(&Precision::Int8) {
        let data = &args.data;
        let inputs = dataset::open_inputs(&network, &data.load_inputs, data, "--load-inputs")?;
        super::calibrate_for(&mut backend, &report.lower_precisions, &network, data, &inputs)?;
    }
    super::save_model(&backend, &plan, &args.output)?;
    Ok(Verdict::Success)
}

#[cfg(test)]
mod tests {
    use super::read_report;

    /// A report written before the log of checks was called `checks` (it was `iterations`)
    /// still reads.
    #[test]
    fn reads_a_report_whose_checks_are_called_iterations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.json");
        let old = r#"{"tool": "precision 0.1.0", "status": "found", "higher_precision": "float32",
            "lower_precisions": ["int8"], "marked": [{"index": 1, "name": "l1", "op": "Conv"}],
            "evaluations": 1, "iterations": [{"marked": [1], "passed": true, "build_error": null,
            "outputs": [], "deviations": [], "duration": 0.5, "round": 1}]}"#;
        std::fs::write(&path, old).unwrap();
        let report = read_report(&path).unwrap();
        assert_eq!(report.higher_precision, precision_core::Precision::Float32);
        assert_eq!(report.lower_precisions, [precision_core::Precision::Int8]);
        assert_eq!(report.marked.len(), 1);
        assert_eq!(report.marked[0].name, "l1");
    }
}
