//! `precision export`: the mixed-precision model of a saved search report.

use anyhow::{Context, bail};
use precision_core::{Backend, LayerSet, Precision, PrecisionPlan};

use crate::Verdict;
use crate::args::ExportArgs;
use crate::backends::{self, with_backend};
use crate::inputs;

/// The parts of a report that export reads.
#[derive(serde::Deserialize)]
struct ReportPlan {
    status: String,
    higher_precision: Precision,
    lower_precisions: Vec<Precision>,
    marked: Vec<MarkedLayer>,
}

#[derive(serde::Deserialize)]
struct MarkedLayer {
    name: String,
}

/// Reads the report, rebuilds its plan on the model and writes the rewritten model.
pub fn run(args: &ExportArgs) -> anyhow::Result<Verdict> {
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("cannot read report {}", args.report.display()))?;
    let report: ReportPlan = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a search report (write one with --report on bisect, linear or worst-first)",
            args.report.display()
        )
    })?;
    if report.status != "found" {
        bail!(
            "{} records a search that found no configuration: there is nothing to export",
            args.report.display()
        );
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
    let base =
        PrecisionPlan::new(&network, report.lower_precisions.clone(), report.higher_precision)?;
    let mut marked = LayerSet::empty(network.len());
    for layer in &report.marked {
        let Some(l) = network.layer_by_name(&layer.name) else {
            bail!(
                "the report marks layer '{}', which {} does not have: was the report made for \
                 another model?",
                layer.name,
                args.model.model.display()
            );
        };
        marked.insert(l.index);
    }
    if report.lower_precisions.contains(&Precision::Int8) {
        let feeds = inputs::obtain(&network, &args.data)?;
        super::calibrate_if_int8(&mut backend, &report.lower_precisions, &feeds)?;
    }
    super::save_model(&backend, &base.with_marked(marked), &args.output)?;
    Ok(Verdict::Success)
}
