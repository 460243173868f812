//! The machine-readable report of a search (`--report F`), and the values users paste into
//! other tools.

use serde::Serialize;

use crate::search::{LayerSensitivity, NoiseFloor};
use crate::{Algorithm, Direction, Iteration, LayerSet, Network, Precision, SearchOutcome};

/// Whether a search found a passing configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A passing set of marked layers was found.
    Found,
    /// No configuration passed.
    NotFound,
}

/// A layer named in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerRef {
    /// The layer's index in topological order.
    pub index: usize,
    /// The layer's name.
    pub name: String,
    /// The layer's operator type.
    pub op: String,
}

impl LayerRef {
    /// The layers of `set`, in index order.
    #[must_use]
    pub fn list(network: &Network, set: &LayerSet) -> Vec<LayerRef> {
        set.iter()
            .map(|i| {
                let l = &network.layers[i];
                LayerRef { index: i, name: l.name.clone(), op: l.op.clone() }
            })
            .collect()
    }
}

/// A layer's measured error contribution, as written in a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensitivityRow {
    /// The layer.
    #[serde(flatten)]
    pub layer: LayerRef,
    /// Whether the answer marks it.
    pub marked: bool,
    /// The measurements.
    #[serde(flatten)]
    pub measured: LayerSensitivity,
}

/// Everything a search did and found, as written by `--report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The tool and its version, e.g. `precision 0.1.0`.
    pub tool: String,
    /// The model searched (a path, as given).
    pub model: String,
    /// The backend that built and ran the plans.
    pub backend: String,
    /// The search algorithm.
    pub algorithm: Algorithm,
    /// The direction, for bisect and linear.
    pub direction: Option<Direction>,
    /// Whether a configuration was found.
    pub status: Status,
    /// Whether the search ran to its end (`false`: a budget stopped it and `marked` is the
    /// smallest passing set seen, not a minimal one).
    pub complete: bool,
    /// Why the search stopped early, if it did.
    pub stop_reason: Option<String>,
    /// The precision of marked layers.
    pub higher_precision: Precision,
    /// The lower precisions enabled.
    pub lower_precisions: Vec<Precision>,
    /// The number of layers in the network.
    pub num_layers: usize,
    /// The layers to keep in the higher precision (empty when not found).
    pub marked: Vec<LayerRef>,
    /// The number of checks made.
    pub evaluations: usize,
    /// The number of rounds (checks of one round ran at once).
    pub rounds: usize,
    /// The most checks the search said it would make.
    pub budget: Option<usize>,
    /// The size of the answer before it was pruned to a 1-minimal set, if it was.
    pub minimized_from: Option<usize>,
    /// The layers the search marked from the start because the plan with nothing marked
    /// failed to build and the builder refused them in the lower precision (worst-first,
    /// ranked); left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<LayerRef>,
    /// The check with every markable layer marked, if made.
    pub noise_floor: Option<NoiseFloor>,
    /// The value for trtexec's `--layerPrecisions` (with `--precisionConstraints=obey`).
    pub trtexec_layer_precisions: Option<String>,
    /// The value for trtexec's `--layerOutputTypes`.
    pub trtexec_layer_output_types: Option<String>,
    /// The marked layers' names as ONNX quantizers take them (`nodes_to_exclude` of
    /// ONNX Runtime's `quantize_static` and ModelOpt's `--nodes_to_exclude`).
    pub nodes_to_exclude: Vec<String>,
    /// Each markable layer's measured error contribution, when measured.
    pub sensitivity: Vec<SensitivityRow>,
    /// Every check, in order.
    pub iterations: Vec<Iteration>,
}

impl Report {
    /// Builds the report of `outcome` over `network`.
    #[must_use]
    pub fn new(
        tool: String,
        model: String,
        backend: String,
        network: &Network,
        lower: &[Precision],
        higher: Precision,
        outcome: &SearchOutcome,
    ) -> Self {
        let marked =
            outcome.answer.as_ref().map(|s| LayerRef::list(network, s)).unwrap_or_default();
        let sensitivity = outcome
            .sensitivity
            .iter()
            .map(|m| {
                let l = &network.layers[m.index];
                SensitivityRow {
                    layer: LayerRef { index: m.index, name: l.name.clone(), op: l.op.clone() },
                    marked: outcome.answer.as_ref().is_some_and(|a| a.contains(m.index)),
                    measured: *m,
                }
            })
            .collect();
        Report {
            tool,
            model,
            backend,
            algorithm: outcome.algorithm,
            direction: outcome.direction,
            status: if outcome.answer.is_some() { Status::Found } else { Status::NotFound },
            complete: outcome.complete,
            stop_reason: outcome.stop_reason.clone(),
            higher_precision: higher,
            lower_precisions: lower.to_vec(),
            num_layers: network.len(),
            trtexec_layer_precisions: outcome
                .answer
                .as_ref()
                .map(|s| trtexec_layer_precisions(network, s, higher)),
            trtexec_layer_output_types: outcome
                .answer
                .as_ref()
                .map(|s| trtexec_layer_output_types(network, s, higher)),
            nodes_to_exclude: marked.iter().map(|l| l.name.clone()).collect(),
            marked,
            evaluations: outcome.iterations.len(),
            rounds: outcome.rounds(),
            budget: outcome.budget,
            minimized_from: outcome.minimized_from,
            refused: LayerRef::list(
                network,
                &LayerSet::from_indices(network.len(), outcome.refused.iter().copied()),
            ),
            noise_floor: outcome.noise_floor.clone(),
            sensitivity,
            iterations: outcome.iterations.clone(),
        }
    }
}

/// The trtexec `--layerOutputTypes` value that keeps the outputs of `marked` in `higher`,
/// e.g. `fc2:fp32,softmax:fp32` (one type per layer; trtexec applies it to every output).
#[must_use]
pub fn trtexec_layer_output_types(
    network: &Network,
    marked: &LayerSet,
    higher: Precision,
) -> String {
    trtexec_layer_precisions(network, marked, higher)
}

/// The trtexec `--layerPrecisions` value that keeps `marked` in `higher`, e.g.
/// `fc2:fp32,softmax:fp32`.
#[must_use]
pub fn trtexec_layer_precisions(network: &Network, marked: &LayerSet, higher: Precision) -> String {
    marked
        .iter()
        .map(|i| format!("{}:{}", network.layers[i].name, higher.trtexec_name()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;

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
        assert_eq!(
            trtexec_layer_precisions(&network, &set, Precision::Float32),
            "a:fp32,b/fc:fp32"
        );
        let outcome = SearchOutcome::new(
            Algorithm::Bisect,
            Some(Direction::Reverse),
            Some(LayerSet::from_indices(2, [1])),
            vec![],
        );
        let report = Report::new(
            "precision 0".into(),
            "m.toml".into(),
            "mock".into(),
            &network,
            &[Precision::Int8],
            Precision::Float32,
            &outcome,
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "found");
        assert_eq!(json["direction"], "reverse");
        assert_eq!(json["marked"][0]["name"], "b/fc");
        assert_eq!(json["lower_precisions"][0], "int8");
    }
}
