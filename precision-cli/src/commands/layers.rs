//! `precision layers`: the layers a user can mark.

use precision_core::Backend;

use crate::Verdict;
use crate::args::LayersArgs;
use crate::backends::{self, with_backend};
use crate::console::{escape, outln};

/// Prints the layers as a table (or JSON).
pub fn run(args: &LayersArgs) -> anyhow::Result<Verdict> {
    let opened = backends::open(&args.model, &args.precision.lower())?;
    let network = with_backend!(opened, b => b.network().clone());
    if args.json {
        // Exact names, with every hidden character as a JSON escape.
        let json = serde_json::to_string_pretty(&network.layers)?;
        crate::console::out_exact(&crate::console::json_for_console(&json))?;
        return Ok(Verdict::Success);
    }
    let names: Vec<_> = network.layers.iter().map(|l| escape(&l.name)).collect();
    let ops: Vec<_> = network.layers.iter().map(|l| escape(&l.op)).collect();
    let width = |texts: &[std::borrow::Cow<'_, str>]| {
        texts.iter().map(|t| t.chars().count()).max().unwrap_or(0)
    };
    let name_width = width(&names).clamp(4, 60);
    let op_width = width(&ops).clamp(2, 30);
    outln!("{:>5}  {:name_width$}  {:op_width$}  markable", "index", "name", "op");
    for ((layer, name), op) in network.layers.iter().zip(&names).zip(&ops) {
        let markable = match &layer.unmarkable_reason {
            None => "yes".to_owned(),
            Some(why) => format!("no: {}", escape(why)),
        };
        outln!("{:>5}  {name:name_width$}  {op:op_width$}  {markable}", layer.index);
    }
    let markable = network.layers.iter().filter(|l| l.is_markable()).count();
    let list = |names: &mut dyn Iterator<Item = &str>| {
        names.map(|n| escape(n).into_owned()).collect::<Vec<_>>().join(", ")
    };
    outln!(
        "\n{}: {} layers, {markable} markable; inputs: {}; outputs: {}",
        escape(&network.name),
        network.len(),
        list(&mut network.inputs.iter().map(|i| i.name.as_str())),
        list(&mut network.outputs.iter().map(String::as_str))
    );
    Ok(Verdict::Success)
}
