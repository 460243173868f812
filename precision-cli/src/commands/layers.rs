//! `precision layers`: the layers a user can mark, and with `--fp16` the ones the FP16
//! pre-screen keeps from the start.

use anyhow::Context;
use precision_core::prescreen::{self, Prescreen};
use precision_core::{Backend, Layer, Network};
use serde::Serialize;

use crate::Verdict;
use crate::args::LayersArgs;
use crate::backends::{self, with_backend};
use crate::console::{escape, outln};
use crate::dataset;

/// A layer as `--json` prints it: the layer and, when the pre-screen keeps it, why.
#[derive(Serialize)]
struct LayerRow<'a> {
    #[serde(flatten)]
    layer: &'a Layer,
    #[serde(skip_serializing_if = "Option::is_none")]
    prescreen: Option<String>,
}

/// Prints the layers as a table (or JSON).
pub fn run(args: &LayersArgs) -> anyhow::Result<Verdict> {
    let mut files = precision_files::CommandFiles::new();
    crate::write::data_files(&mut files, &args.data);
    crate::write::check(&files)?;
    let opened = backends::open(&args.model, &args.precision.lower())?;
    let (network, screened) = with_backend!(opened, b => screen(b, args)?);
    let reasons: Vec<Option<String>> = network
        .layers
        .iter()
        .map(|l| {
            let screened = screened.as_ref()?;
            let k = screened.kept.iter().find(|k| k.index == l.index)?;
            Some(format!("kept from the start: {}", k.reason(screened.threshold)))
        })
        .collect();
    if args.json {
        let rows: Vec<LayerRow<'_>> = network
            .layers
            .iter()
            .zip(&reasons)
            .map(|(layer, prescreen)| LayerRow { layer, prescreen: prescreen.clone() })
            .collect();
        // Exact names, with every hidden character as a JSON escape.
        let json = serde_json::to_string_pretty(&rows)?;
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
    for (((layer, name), op), reason) in network.layers.iter().zip(&names).zip(&ops).zip(&reasons) {
        let markable = match (&layer.unmarkable_reason, reason) {
            (Some(why), _) => format!("no: {}", escape(why)),
            (None, Some(reason)) => format!("yes, {}", escape(reason)),
            (None, None) => "yes".to_owned(),
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
    if let Some(screened) = &screened {
        outln!("{}", crate::display::prescreen(screened, 0));
    }
    Ok(Verdict::Success)
}

/// The network and, when the FP16 pre-screen applies, the layers it keeps and its threshold.
fn screen<B: Backend>(
    mut backend: B,
    args: &LayersArgs,
) -> anyhow::Result<(Network, Option<Prescreen>)> {
    let network = backend.network().clone();
    let Some(threshold) = args.prescreen.threshold(&args.precision.lower()) else {
        return Ok((network, None));
    };
    if !backend.capabilities().every_layer_output {
        crate::console::errln!(
            "FP16 pre-screen skipped: the {} backend cannot return every layer's output",
            backend.name()
        );
        return Ok((network, None));
    }
    let data = &args.data;
    let inputs = match dataset::open_inputs(&network, &data.load_inputs, data, "--load-inputs") {
        Ok(inputs) => inputs,
        // Listing layers needs no inputs: without data to run, the screen is left out.
        Err(e) if data.load_inputs.is_empty() => {
            crate::console::errln!(
                "FP16 pre-screen not run: it needs inputs to run in float32, and {e:#}"
            );
            return Ok((network, None));
        }
        Err(e) => return Err(e),
    };
    let peaks = prescreen::float32_peaks(&mut backend, inputs.sets.as_ref()).context(
        "the FP16 pre-screen's float32 run with every layer output failed (skip it with \
         --no-prescreen)",
    )?;
    let weights = backend.weight_peaks();
    let kept = prescreen::screen(&network, &peaks, weights.as_deref(), threshold);
    let screened =
        Prescreen { threshold, samples: peaks.samples, weights_screened: weights.is_some(), kept };
    Ok((network, Some(screened)))
}
