//! `precision check`: build and compare one explicit plan.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use precision_core::{Backend, LayerSet, Network, Oracle, OutputSelection};

use crate::Verdict;
use crate::args::CheckArgs;
use crate::backends::{self, with_backend};
use crate::console::{escape, outln};
use crate::display;

/// Checks the plan with the `--mark` layers in the higher precision.
pub fn run(args: &CheckArgs) -> anyhow::Result<Verdict> {
    super::check_command_flags(&args.setup, false)?;
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
    // Before the inputs, goldens and calibration: a wrong name fails at once.
    let marked = resolve_marks(backend.network(), args)?;
    let (network, plan, oracle) = super::oracle_for(backend, &args.setup)?;
    if let Some(path) = &args.save_model {
        super::save_model(oracle.backend(), &plan.with_marked(marked.clone()), path)?;
    }
    let mut oracle = super::with_check_command(oracle, &args.setup, 1)?;
    super::announce_check_command(&oracle);
    let evaluation = oracle.evaluate(&marked, OutputSelection::NetworkOutputs)?;
    outln!(
        "{} with {} in {}, the rest in {}",
        escape(&network.name),
        display::marked_summary(&network, &marked),
        plan.higher,
        plan.lowest()
    );
    if let Some(err) = &evaluation.build_error {
        outln!("FAILED: the plan did not build: {}", escape(err));
        return Ok(Verdict::Failure);
    }
    for d in &evaluation.deviations {
        outln!("warning: {}", escape(d));
    }
    for o in &evaluation.outputs {
        outln!(
            "  {} | headroom {}",
            display::outputs_summary(std::slice::from_ref(o)),
            display::headroom(o.headroom)
        );
    }
    if let Some(command) = &evaluation.command {
        outln!("  {}", display::command_summary(command));
    } else if args.setup.command.is_set() {
        outln!("  check command not run: the comparison failed");
    }
    outln!("{}", if evaluation.passed { "PASSED" } else { "FAILED" });
    Ok(if evaluation.passed { Verdict::Success } else { Verdict::Failure })
}

/// The layers `--mark`, `--mark-index` and `--mark-file` name, refusing unknown, ambiguous
/// and unmarkable layers.
pub(super) fn resolve_marks(network: &Network, args: &CheckArgs) -> anyhow::Result<LayerSet> {
    let mut layers = Vec::new();
    for value in &args.mark {
        layers.extend(mark_value(network, value)?);
    }
    for value in &args.mark_index {
        layers.extend(index_list(network, value)?);
    }
    if let Some(path) = &args.mark_file {
        layers.extend(mark_file(network, path)?);
    }
    let mut set = LayerSet::empty(network.len());
    for i in layers {
        let layer = &network.layers[i];
        if let Some(why) = &layer.unmarkable_reason {
            bail!("layer '{}' (#{i}) cannot be marked: {}", escape(&layer.name), escape(why));
        }
        set.insert(i);
    }
    Ok(set)
}

/// One `--mark` value: the layer it names exactly, else its `,`-separated parts (trimmed), each a
/// name or `#INDEX`. A value that reads both ways is refused as ambiguous.
fn mark_value(network: &Network, value: &str) -> anyhow::Result<Vec<usize>> {
    let parts: Vec<&str> = value.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    let Some(layer) = network.layer_by_name(value) else {
        return parts.iter().map(|part| mark_part(network, part)).collect();
    };
    let i = layer.index;
    if let Some(j) = hash_index(value).filter(|&j| j != i && j < network.len()) {
        bail!(ambiguous_index(network, i, j));
    }
    if parts != [value]
        && let Ok(others) =
            parts.iter().map(|part| mark_part(network, part)).collect::<anyhow::Result<Vec<_>>>()
    {
        let others: Vec<String> = others
            .iter()
            .map(|&k| format!("'{}' (#{k})", escape(&network.layers[k].name)))
            .collect();
        bail!(
            "--mark '{}' is ambiguous: it is the name of layer #{i}, and split at ',' it names \
                 {}; mark #{i} with --mark-file (one exact name per line) or --mark-index {i}, \
                 or the others with one --mark each",
            escape(value),
            others.join(", ")
        );
    }
    Ok(vec![i])
}

/// One name of a `--mark` list: a layer's exact name, or `#INDEX` when no layer has that name.
fn mark_part(network: &Network, part: &str) -> anyhow::Result<usize> {
    let by_name = network.layer_by_name(part).map(|l| l.index);
    match (by_name, hash_index(part)) {
        (Some(i), Some(j)) if i != j && j < network.len() => bail!(ambiguous_index(network, i, j)),
        (Some(i), _) => Ok(i),
        (None, Some(j)) if j < network.len() => Ok(j),
        (None, Some(j)) => bail!(
            "--mark '#{j}': {} has {} layers (#0 to #{})",
            escape(&network.name),
            network.len(),
            network.len().saturating_sub(1)
        ),
        (None, None) => bail!("--mark: {}", unknown_name(network, part)),
    }
}

/// `N` for `#N`.
fn hash_index(text: &str) -> Option<usize> {
    text.strip_prefix('#').filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
}

fn ambiguous_index(network: &Network, named: usize, index: usize) -> String {
    format!(
        "--mark '#{index}' is ambiguous: layer #{named} is named '#{index}', and #{index} is also \
         the index of layer '{}'; use --mark-index {index} for the index, or --mark-file (one \
         exact name per line) for the layer named '#{index}'",
        escape(&network.layers[index].name)
    )
}

/// "no layer named ..." with the closest name as a hint, when one is close.
fn unknown_name(network: &Network, name: &str) -> String {
    let mut text = format!(
        "no layer named '{}' in {} (`precision layers` lists them)",
        escape(name),
        escape(&network.name)
    );
    let closest = network
        .layers
        .iter()
        .map(|l| (strsim::jaro_winkler(name, &l.name), l))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((_, layer)) = closest {
        let _ = write!(text, "; did you mean '{}' (#{})", escape(&layer.name), layer.index);
        if layer.name.contains(',') || layer.name.trim() != layer.name {
            text.push_str(", which only --mark-file or --mark-index can name");
        }
        text.push('?');
    }
    text
}

/// One `--mark-index` value: indices and ranges, `3,7,10-12`.
fn index_list(network: &Network, value: &str) -> anyhow::Result<Vec<usize>> {
    let n = network.len();
    let mut indices = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |text: &str| {
            let text = text.trim();
            text.strip_prefix('#').unwrap_or(text).parse::<usize>().map_err(|_| {
                anyhow::anyhow!(
                    "--mark-index: '{}' is not a layer index or a range I-J (e.g. 3,7,10-12)",
                    escape(part)
                )
            })
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            bail!("--mark-index: the range {first}-{last} is empty; write it as {last}-{first}");
        }
        if last >= n {
            bail!(
                "--mark-index: {last} is past the last layer of {} (#{})",
                escape(&network.name),
                n.saturating_sub(1)
            );
        }
        indices.extend(first..=last);
    }
    Ok(indices)
}

/// The layers a `--mark-file` names: one exact name per line, only the line ending (`\n` or
/// `\r\n`) removed, empty lines skipped.
fn mark_file(network: &Network, path: &Path) -> anyhow::Result<Vec<usize>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read --mark-file {}", path.display()))?;
    let mut layers = Vec::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let Ok(name) = std::str::from_utf8(line) else {
            bail!(
                "--mark-file {} line {}: not UTF-8 text; write one layer name per line",
                path.display(),
                number + 1
            );
        };
        match network.layer_by_name(name) {
            Some(layer) => layers.push(layer.index),
            None => bail!(
                "--mark-file {} line {}: {}",
                path.display(),
                number + 1,
                unknown_name(network, name)
            ),
        }
    }
    Ok(layers)
}
