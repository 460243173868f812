//! trtexec's `--layerPrecisions`/`--layerOutputTypes` values: presentation for one tool, so
//! the CLI, not the engine-agnostic core, writes them (into the report and the console).

use precision_core::{LayerSet, Network, Precision, Report, SearchOutcome, ThreeLevels};

/// Sets the report's trtexec fields for the answer of `outcome` (none when it found none):
/// the `--layerPrecisions` and `--layerOutputTypes` values and the marked layers trtexec
/// cannot name.
pub fn fill_report(report: &mut Report, network: &Network, outcome: &SearchOutcome) {
    let higher = report.higher_precision;
    let answer = outcome.answer.as_ref();
    report.trtexec_layer_precisions = answer.map(|s| layer_precisions(network, s, higher));
    report.trtexec_layer_output_types = answer.map(|s| layer_output_types(network, s, higher));
    report.trtexec_cannot_name = report
        .marked
        .iter()
        .filter(|l| cannot_name(&l.name).is_some())
        .map(|l| l.name.clone())
        .collect();
}

/// The trtexec `--layerOutputTypes` value that keeps the outputs of `marked` in `higher`,
/// e.g. `fc2:fp32,softmax:fp32` (one type per layer; trtexec applies it to every output).
#[must_use]
pub fn layer_output_types(network: &Network, marked: &LayerSet, higher: Precision) -> String {
    layer_precisions(network, marked, higher)
}

/// The trtexec `--layerPrecisions` value that keeps `marked` in `higher`, e.g.
/// `fc2:fp32,softmax:fp32`. Layers whose names the syntax cannot express
/// ([`cannot_name`]) are left out: written in, they would set other layers.
#[must_use]
pub fn layer_precisions(network: &Network, marked: &LayerSet, higher: Precision) -> String {
    marked
        .iter()
        .map(|i| network.layers[i].name.as_str())
        .filter(|name| cannot_name(name).is_none())
        .map(|name| format!("{name}:{}", higher.trtexec_name()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The trtexec `--layerPrecisions` value of a three-level answer: its higher layers in
/// `higher`, its middle layers in the middle precision, e.g. `fc2:fp32,conv1:fp16` (the same
/// value serves `--layerOutputTypes`). Layers trtexec cannot name are left out.
#[must_use]
pub fn three_level_precisions(levels: &ThreeLevels, higher: Precision) -> String {
    let higher = levels.higher.iter().map(|l| (l, higher));
    let middle = levels.middle.iter().map(|l| (l, levels.middle_precision));
    let mut layers: Vec<_> = higher.chain(middle).collect();
    layers.sort_by_key(|(l, _)| l.index);
    layers
        .into_iter()
        .filter(|(l, _)| cannot_name(&l.name).is_none())
        .map(|(l, p)| format!("{}:{}", l.name, p.trtexec_name()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why trtexec's `--layerPrecisions`/`--layerOutputTypes` syntax cannot name the layer `name`,
/// or `None` when it can.
///
/// trtexec splits the value on every `,`, then each item at its last `:` (so `:` inside a name
/// is fine), removes every `'` from the name, and reads the name `*` as "every layer"; it trims
/// nothing, so spaces are kept.
#[must_use]
pub fn cannot_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the name is empty")
    } else if name.contains(',') {
        Some("trtexec splits the list at every ','")
    } else if name.contains('\'') {
        Some("trtexec removes every \"'\" from layer names")
    } else if name == "*" {
        Some("trtexec reads the name '*' as every layer")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use precision_core::{Algorithm, Layer};

    use super::*;

    #[test]
    fn trtexec_value_names_layers() {
        let network = Network {
            name: "n".into(),
            inputs: vec![],
            layers: vec![
                Layer::new(0, "a", "Conv", vec![], vec!["a_out".into()]),
                Layer::new(1, "b/fc", "Gemm", vec!["a_out".into()], vec!["b_out".into()]),
            ],
            outputs: vec!["b_out".into()],
        };
        let set = LayerSet::from_indices(2, [0, 1]);
        assert_eq!(layer_precisions(&network, &set, Precision::Float32), "a:fp32,b/fc:fp32");
    }

    #[test]
    fn names_trtexec_cannot_express_are_left_out_and_listed() {
        let names = ["a,b", "it's", "*", "c:0", " spaced ", "fc$(x)"];
        let layers = names
            .iter()
            .enumerate()
            .map(|(i, n)| Layer::new(i, *n, "Conv", vec![], vec![format!("t{i}")]))
            .collect();
        let network =
            Network { name: "n".into(), inputs: vec![], layers, outputs: vec!["t5".into()] };
        let all = LayerSet::from_indices(names.len(), 0..names.len());
        assert_eq!(
            layer_precisions(&network, &all, Precision::Float16),
            "c:0:fp16, spaced :fp16,fc$(x):fp16"
        );
        for name in ["a,b", "it's", "*", "", "'"] {
            assert!(cannot_name(name).is_some(), "{name}");
        }
        for name in ["c:0", " spaced ", "a:b:c", "**", "#2", "x\ty"] {
            assert!(cannot_name(name).is_none(), "{name}");
        }
        let outcome = SearchOutcome::new(Algorithm::Linear, None, Some(all.clone()), vec![]);
        let mut report = Report::new(
            "precision 0".into(),
            "m.toml".into(),
            "mock".into(),
            &network,
            &[Precision::Float16],
            Precision::Float32,
            &outcome,
        );
        fill_report(&mut report, &network, &outcome);
        assert_eq!(report.trtexec_cannot_name, ["a,b", "it's", "*"]);
        assert_eq!(report.nodes_to_exclude, names);
        assert_eq!(report.modelopt_nodes_to_exclude[0], "a,b\\Z");
        assert_eq!(report.modelopt_nodes_to_exclude[5], "fc\\$\\(x\\)\\Z");
    }

    /// The CLI's report JSON is what it was when the core wrote these fields: the same
    /// values, at the same place (after `noise_floor`, before `nodes_to_exclude`).
    #[test]
    fn the_report_json_keeps_its_trtexec_fields_in_place() {
        let network = Network {
            name: "n".into(),
            inputs: vec![],
            layers: vec![
                Layer::new(0, "a", "Conv", vec![], vec!["a_out".into()]),
                Layer::new(1, "it's", "Gemm", vec!["a_out".into()], vec!["b_out".into()]),
            ],
            outputs: vec!["b_out".into()],
        };
        let outcome = SearchOutcome::new(
            Algorithm::Bisect,
            None,
            Some(LayerSet::from_indices(2, [0, 1])),
            vec![],
        );
        let mut report = Report::new(
            "precision 0".into(),
            "m.toml".into(),
            "mock".into(),
            &network,
            &[Precision::Int8],
            Precision::Float32,
            &outcome,
        );
        fill_report(&mut report, &network, &outcome);
        let json = serde_json::to_string(&report).unwrap();
        let expected = concat!(
            r#""noise_floor":null,"trtexec_layer_precisions":"a:fp32","#,
            r#""trtexec_layer_output_types":"a:fp32","trtexec_cannot_name":["it's"],"#,
            r#""nodes_to_exclude":["a","it's"],"#
        );
        assert!(json.contains(expected), "{json}");
    }
}
