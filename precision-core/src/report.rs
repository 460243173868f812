//! The machine-readable report of a search (`--report F`), and the values users paste into
//! other tools.

use serde::Serialize;

use crate::search::{LayerSensitivity, NoiseFloor};
use crate::{
    Algorithm, Check, Direction, LayerSet, Network, OutputComparison, Precision, SearchOutcome,
};

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
    /// The layers every check marked from the start (the FP16 pre-screen's); left out when
    /// none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<LayerRef>,
    /// The ranked search's order, most sensitive first: with `kept`, its heads are the plans
    /// of the trade-off curve and of `precision export --keep K`; left out for the other
    /// searches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranking: Vec<LayerRef>,
    /// The trade-off curve (`--curve`), by layers marked; left out when not measured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<crate::search::CurvePoint>,
    /// The check with every markable layer marked, if made.
    pub noise_floor: Option<NoiseFloor>,
    /// The value for trtexec's `--layerPrecisions` (with `--precisionConstraints=obey`); it
    /// leaves out the layers in `trtexec_cannot_name`. Presentation for one tool, so set by
    /// the caller (the CLI's `trtexec` module); `None` from [`Report::new`].
    pub trtexec_layer_precisions: Option<String>,
    /// The value for trtexec's `--layerOutputTypes` (the same layers; set like
    /// `trtexec_layer_precisions`).
    pub trtexec_layer_output_types: Option<String>,
    /// Marked layers whose names trtexec's `name:precision,...` syntax cannot express; apply
    /// them through the exported model or a quantizer instead (set like
    /// `trtexec_layer_precisions`; empty from [`Report::new`]).
    pub trtexec_cannot_name: Vec<String>,
    /// The marked layers' exact names, as ONNX Runtime's `quantize_static(nodes_to_exclude=...)`
    /// takes them.
    pub nodes_to_exclude: Vec<String>,
    /// The same layers as ModelOpt's `--nodes_to_exclude` takes them: regular expressions that
    /// `re.match` each node name, so each is the name escaped and anchored at its end
    /// ([`modelopt_pattern`]).
    pub modelopt_nodes_to_exclude: Vec<String>,
    /// The answer's check, per network output: each comparison function's value, the user's
    /// tolerance and the headroom against it (empty when not found).
    pub answer_outputs: Vec<OutputComparison>,
    /// The `--margin` F the search demanded (the answer's headroom is then at least 1/F).
    pub margin: Option<f64>,
    /// Each markable layer's measured error contribution, when measured.
    pub sensitivity: Vec<SensitivityRow>,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The data the search used: how many samples, what calibrated, the ranking samples, the
    /// holdout verdict (set by the caller; absent when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<crate::DataReport>,
    /// The answer's speed against float32 and every layer lowered (`--measure-latency`;
    /// set by the caller, absent when not measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<crate::latency::Latency>,
    /// The answer in groups, with every group searched (`--group`; set by the caller, absent
    /// for searches over layers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<crate::group::GroupReport>,
    /// The FP16 pre-screen: the layers kept from the start and why (set by the caller;
    /// absent when it did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prescreen: Option<crate::prescreen::Prescreen>,
    /// The three-level answer (`--three-levels`; set by the caller, absent otherwise).
    /// `marked` stays the first search's two-level answer, which passes on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub three_levels: Option<ThreeLevels>,
}

/// A three-level answer ([`crate::levels`]): the layers in the higher precision, those in the
/// middle one, every other layer in the lowest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreeLevels {
    /// The middle precision (float16 with `--int8 --fp16`).
    pub middle_precision: Precision,
    /// The layers in the higher precision: the second search's answer.
    pub higher: Vec<LayerRef>,
    /// The layers in the middle precision: the first search's answer without `higher`.
    pub middle: Vec<LayerRef>,
    /// The second search's checks.
    pub evaluations: usize,
    /// The most checks the second search said it would make.
    pub budget: Option<usize>,
    /// Whether the second search ran to its end (otherwise `higher` is its anytime answer).
    pub complete: bool,
    /// The second search's log of checks.
    pub checks: Vec<crate::search::Check>,
}

impl ThreeLevels {
    /// The three-level answer of `second` (the second search over `first`, the first
    /// search's answer) on `network`; `None` when the second search found no answer.
    #[must_use]
    pub fn new(
        network: &Network,
        first: &LayerSet,
        middle_precision: Precision,
        second: &SearchOutcome,
    ) -> Option<Self> {
        let higher = second.answer.as_ref()?;
        let mut middle = first.clone();
        for i in higher.iter() {
            middle.remove(i);
        }
        Some(ThreeLevels {
            middle_precision,
            higher: LayerRef::list(network, higher),
            middle: LayerRef::list(network, &middle),
            evaluations: second.checks.len(),
            budget: second.budget,
            complete: second.complete,
            checks: second.checks.clone(),
        })
    }
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
            trtexec_layer_precisions: None,
            trtexec_layer_output_types: None,
            trtexec_cannot_name: Vec::new(),
            nodes_to_exclude: marked.iter().map(|l| l.name.clone()).collect(),
            modelopt_nodes_to_exclude: marked.iter().map(|l| modelopt_pattern(&l.name)).collect(),
            marked,
            evaluations: outcome.checks.len(),
            rounds: outcome.rounds(),
            budget: outcome.budget,
            minimized_from: outcome.minimized_from,
            refused: LayerRef::list(
                network,
                &LayerSet::from_indices(network.len(), outcome.refused.iter().copied()),
            ),
            kept: LayerRef::list(
                network,
                &LayerSet::from_indices(network.len(), outcome.kept.iter().copied()),
            ),
            ranking: outcome
                .ranking
                .iter()
                .map(|&i| {
                    let l = &network.layers[i];
                    LayerRef { index: i, name: l.name.clone(), op: l.op.clone() }
                })
                .collect(),
            curve: outcome.curve.clone(),
            noise_floor: outcome.noise_floor.clone(),
            answer_outputs: outcome.answer_check().map(|it| it.outputs.clone()).unwrap_or_default(),
            margin: None,
            sensitivity,
            checks: outcome.checks.clone(),
            data: None,
            latency: None,
            groups: None,
            prescreen: None,
            three_levels: None,
        }
    }
}

/// Whether `c` is invisible or rearranges text on a terminal: a control character (C0, DEL,
/// C1), a bidirectional override, embedding, isolate or mark, or a line or paragraph separator.
/// The console shows these as escapes.
#[must_use]
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `name` as a ModelOpt `--nodes_to_exclude` pattern that matches exactly that node name.
///
/// ModelOpt tests each pattern with Python's `re.match`, which anchors only the start, so the
/// name is escaped as `re.escape` does (Python 3.7 and later) and `\Z` anchors the end (`$`
/// would also match the name followed by a line break). Hidden characters
/// ([`is_hidden_char`]) are written as the regular-expression escapes `\xNN` or `\uNNNN`
/// instead, so the pattern stays printable and can be pasted; it matches the same names.
#[must_use]
pub fn modelopt_pattern(name: &str) -> String {
    use std::fmt::Write as _;
    /// The printable characters `re.escape` escapes (it also escapes `\t\n\r\v\f`).
    const SPECIAL: &str = "()[]{}?*+-|^$\\.&~# ";
    let mut pattern = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        let code = u32::from(c);
        if is_hidden_char(c) {
            // Every hidden character is in the Basic Multilingual Plane.
            let _ = if code < 0x100 {
                write!(pattern, "\\x{code:02x}")
            } else {
                write!(pattern, "\\u{code:04x}")
            };
            continue;
        }
        if SPECIAL.contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("\\Z");
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;

    #[test]
    fn report_names_the_answer() {
        let network = Network {
            name: "n".into(),
            inputs: vec![],
            layers: vec![
                Layer::new(0, "a", "Conv", vec![], vec!["a_out".into()]),
                Layer::new(1, "b/fc", "Gemm", vec!["a_out".into()], vec!["b_out".into()]),
            ],
            outputs: vec!["b_out".into()],
        };
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

    #[test]
    fn modelopt_patterns_escape_what_re_escape_escapes() {
        assert_eq!(modelopt_pattern("Conv.1"), "Conv\\.1\\Z");
        assert_eq!(modelopt_pattern("/m/Conv_0"), "/m/Conv_0\\Z");
        assert_eq!(modelopt_pattern("a b\\d[e]-f"), "a\\ b\\\\d\\[e\\]\\-f\\Z");
        assert_eq!(modelopt_pattern("t\tn\n\u{1b}\u{202e}"), "t\\x09n\\x0a\\x1b\\u202e\\Z");
        assert_eq!(modelopt_pattern("ä_名:,'\"!%"), "ä_名:,'\"!%\\Z");
    }
}
