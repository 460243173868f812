//! `precision check`: build and compare one explicit plan.

use anyhow::{Context, bail};
use precision_core::oracle::BackendOracle;
use precision_core::{Backend, Detail, LayerSet, Network, Oracle};

use crate::Verdict;
use crate::args::CheckArgs;
use crate::backends::{self, with_backend};
use crate::{display, golden, inputs};

/// Checks the plan with the `--mark` layers in the higher precision.
pub fn run(args: &CheckArgs) -> anyhow::Result<Verdict> {
    let opened = backends::open(&args.model)?;
    with_backend!(opened, b => check_with(b, args))
}

fn check_with<B: Backend>(backend: B, args: &CheckArgs) -> anyhow::Result<Verdict> {
    let network = backend.network().clone();
    let plan = super::base_plan(&network, &args.precision)?;
    let marked = resolve_marks(&network, &args.mark)?;
    let config = args.compare.config()?;
    let feeds = inputs::obtain(&network, &args.data)?;
    let goldens = golden::load(&args.golden)?;
    let mut oracle = BackendOracle::new(backend, plan.clone(), feeds, goldens, config)
        .with_context(|| {
            format!("golden outputs in {} do not fit the model", args.golden.display())
        })?;
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
fn resolve_marks(network: &Network, names: &[String]) -> anyhow::Result<LayerSet> {
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
