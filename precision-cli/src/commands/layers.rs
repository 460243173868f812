//! `precision layers`: the layers a user can mark.

use precision_core::Backend;

use crate::Verdict;
use crate::args::LayersArgs;
use crate::backends::{self, with_backend};

/// Prints the layers as a table (or JSON).
pub fn run(args: &LayersArgs) -> anyhow::Result<Verdict> {
    let opened = backends::open(&args.model, &args.precision.lower())?;
    let network = with_backend!(opened, b => b.network().clone());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&network.layers)?);
        return Ok(Verdict::Success);
    }
    let name_width = network.layers.iter().map(|l| l.name.len()).max().unwrap_or(4).clamp(4, 60);
    let op_width = network.layers.iter().map(|l| l.op.len()).max().unwrap_or(2).clamp(2, 30);
    println!("{:>5}  {:name_width$}  {:op_width$}  markable", "index", "name", "op");
    for layer in &network.layers {
        let markable = match &layer.unmarkable_reason {
            None => "yes".to_owned(),
            Some(why) => format!("no: {why}"),
        };
        println!(
            "{:>5}  {:name_width$}  {:op_width$}  {markable}",
            layer.index, layer.name, layer.op
        );
    }
    let markable = network.layers.iter().filter(|l| l.is_markable()).count();
    println!(
        "\n{}: {} layers, {markable} markable; inputs: {}; outputs: {}",
        network.name,
        network.len(),
        network.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "),
        network.outputs.join(", ")
    );
    Ok(Verdict::Success)
}
