//! `precision check`: build and compare one explicit plan.

use anyhow::bail;
use precision_core::{Backend, Detail, LayerSet, Network, Oracle};

use crate::Verdict;
use crate::args::CheckArgs;
use crate::backends::{self, with_backend};
use crate::display;

/// Checks the plan with the `--mark` layers in the higher precision.
pub fn run(args: &CheckArgs) -> anyhow::Result<Verdict> {
    let mut files = precision_files::CommandFiles::new();
    crate::write::setup_files(&mut files, &args.setup);
    if let Some(path) = &args.save_model {
        files.output("--save-model", path);
    }
    crate::write::check(&files)?;
    let opened = backends::open(&args.setup.model, &args.setup.precision.lower())?;
    with_backend!(opened, b => check_with(b, args))
}

fn check_with<B: Backend>(backend: B, args: &CheckArgs) -> anyhow::Result<Verdict> {
    let (network, plan, mut oracle) = super::oracle_for(backend, &args.setup)?;
    let marked = resolve_marks(&network, &args.mark)?;
    if let Some(path) = &args.save_model {
        super::save_model(oracle.backend(), &plan.with_marked(marked.clone()), path)?;
    }
    let evaluation = oracle.evaluate(&marked, Detail::NetworkOutputs)?;
    println!(
        "{} with {} in {}, the rest in {}",
        network.name,
        display::marked_summary(&network, &marked),
        plan.higher,
        plan.lowest()
    );
    if let Some(err) = &evaluation.build_error {
        println!("FAILED: the plan did not build: {err}");
        return Ok(Verdict::Failure);
    }
    for d in &evaluation.deviations {
        println!("warning: {d}");
    }
    for o in &evaluation.outputs {
        println!("  {}", display::outputs_summary(std::slice::from_ref(o)));
    }
    println!("{}", if evaluation.passed { "PASSED" } else { "FAILED" });
    Ok(if evaluation.passed { Verdict::Success } else { Verdict::Failure })
}

/// Turns `--mark` names (or `#INDEX`) into a layer set, refusing unknown and unmarkable layers.
pub(super) fn resolve_marks(network: &Network, names: &[String]) -> anyhow::Result<LayerSet> {
    let mut set = LayerSet::empty(network.len());
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let layer = match network.layer_by_name(name) {
            Some(l) => l,
            None => match name.strip_prefix('#').and_then(|i| i.parse::<usize>().ok()) {
                Some(i) if i < network.len() => &network.layers[i],
                _ => bail!(
                    "--mark: no layer named '{name}' in {} (see `precision layers`)",
                    network.name
                ),
            },
        };
        if let Some(why) = &layer.unmarkable_reason {
            bail!("--mark: layer '{}' cannot be marked: {why}", layer.name);
        }
        set.insert(layer.index);
    }
    Ok(set)
}
