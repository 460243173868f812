//! Searching over groups of layers instead of single layers (`--group`): every `Softmax` and
//! `LayerNormalization` together ("keep the op type in float32"), or the blocks that `PyTorch`
//! exports name by path (`/encoder/layer.3/attention/...`).
//!
//! [`GroupedOracle`] shows any oracle's network as one layer per group and checks a set of
//! groups as the set of their layers, so every search runs on groups unchanged;
//! [`GroupedOracle::expand_outcome`] turns its outcome back into layers for reports, exports
//! and tools that take node names.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::search::{LayerSensitivity, SearchOutcome};
use crate::{Evaluation, Layer, LayerSet, Network, Oracle, OutputSelection, SearchError};

/// How layers are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// One group per operator type.
    OpType,
    /// One group per first `N` `/`-separated parts of the layer name (empty parts skipped);
    /// a name with fewer parts is its own group.
    NamePrefix(usize),
}

impl FromStr for Grouping {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid grouping '{s}': expected op-type or name-prefix:N with N >= 1 (the \
                 number of leading '/'-separated parts of node names that name a block)"
            )
        };
        match s.split_once(':') {
            None if s == "op-type" => Ok(Grouping::OpType),
            Some(("name-prefix", n)) => match n.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Grouping::NamePrefix(n)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grouping::OpType => f.write_str("op-type"),
            Grouping::NamePrefix(n) => write!(f, "name-prefix:{n}"),
        }
    }
}

impl Grouping {
    /// The group `layer` belongs to.
    #[must_use]
    pub fn key(self, layer: &Layer) -> String {
        match self {
            Grouping::OpType => layer.op.clone(),
            Grouping::NamePrefix(n) => {
                let parts: Vec<&str> = layer.name.split('/').filter(|p| !p.is_empty()).collect();
                if parts.len() <= n {
                    layer.name.clone()
                } else {
                    let prefix = parts[..n].join("/");
                    if layer.name.starts_with('/') { format!("/{prefix}") } else { prefix }
                }
            }
        }
    }
}

/// A group of layers searched as one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Its name: the op type or the name prefix.
    pub name: String,
    /// Its layers, in topological order.
    pub layers: Vec<usize>,
}

/// The groups of the markable layers of `network` not in `excluded`, in the order of their
/// first layer.
#[must_use]
pub fn group_layers(network: &Network, grouping: Grouping, excluded: &LayerSet) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for layer in network.layers.iter().filter(|l| l.is_markable() && !excluded.contains(l.index)) {
        let key = grouping.key(layer);
        let g = *by_name.entry(key.clone()).or_insert_with(|| {
            groups.push(Group { name: key, layers: Vec::new() });
            groups.len() - 1
        });
        groups[g].layers.push(layer.index);
    }
    groups
}

/// What a search over groups found, in groups (the report's `groups`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    /// The grouping, as given (`op-type`, `name-prefix:N`).
    pub grouping: String,
    /// The groups the answer marks, by name.
    pub answer: Vec<String>,
    /// How many groups the answer had before it was pruned, if it was.
    pub minimized_from: Option<usize>,
    /// With op-type groups, the answer as ModelOpt's `--op_types_to_exclude` takes it (every
    /// node of these op types stays in the higher precision); empty otherwise.
    pub op_types_to_exclude: Vec<String>,
    /// Every group searched, in the order of its first layer.
    pub groups: Vec<GroupRow>,
}

/// One group of a [`GroupReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// The group's name.
    pub name: String,
    /// Its layers' indices.
    pub layers: Vec<usize>,
    /// Whether the answer marks it.
    pub marked: bool,
    /// Its measured error contribution, when the search measured one (ranked, worst-first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<LayerSensitivity>,
}

/// An [`Oracle`] over groups: its network has one layer per group (reading what the group
/// reads from outside it, writing every output of its layers), and checking a set of groups
/// checks the inner oracle's plan marking their layers and the `always` layers.
pub struct GroupedOracle<'a> {
    inner: &'a mut dyn Oracle,
    groups: Vec<Group>,
    always: LayerSet,
    network: Network,
    /// For each inner layer, its group.
    group_of: Vec<Option<usize>>,
}

impl<'a> GroupedOracle<'a> {
    /// Groups the markable layers of `inner`'s network not in `always` by `grouping`; every
    /// check also marks the `always` layers (the FP16 pre-screen's).
    #[must_use]
    pub fn new(inner: &'a mut dyn Oracle, grouping: Grouping, always: LayerSet) -> Self {
        let real = inner.network();
        let groups = group_layers(real, grouping, &always);
        let mut group_of = vec![None; real.len()];
        for (g, group) in groups.iter().enumerate() {
            for &i in &group.layers {
                group_of[i] = Some(g);
            }
        }
        let layers = groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                let written: BTreeSet<&str> = group
                    .layers
                    .iter()
                    .flat_map(|&i| real.layers[i].outputs.iter().map(String::as_str))
                    .collect();
                let mut inputs: Vec<String> = Vec::new();
                for &i in &group.layers {
                    for t in &real.layers[i].inputs {
                        if !written.contains(t.as_str()) && !inputs.contains(t) {
                            inputs.push(t.clone());
                        }
                    }
                }
                let ops: BTreeSet<&str> =
                    group.layers.iter().map(|&i| real.layers[i].op.as_str()).collect();
                Layer::new(
                    g,
                    group.name.clone(),
                    ops.into_iter().collect::<Vec<_>>().join("+"),
                    inputs,
                    written.into_iter().map(str::to_owned).collect(),
                )
            })
            .collect();
        let network = Network {
            name: real.name.clone(),
            inputs: real.inputs.clone(),
            layers,
            outputs: real.outputs.clone(),
        };
        GroupedOracle { inner, groups, always, network, group_of }
    }

    /// The groups, in the order of the network this oracle shows.
    #[must_use]
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The inner plan of a set of groups: their layers and the `always` layers.
    #[must_use]
    pub fn expand(&self, groups: &LayerSet) -> LayerSet {
        let mut set = self.always.clone();
        for g in groups.iter() {
            for &i in &self.groups[g].layers {
                set.insert(i);
            }
        }
        set
    }

    /// `outcome` (of a search on this oracle) in the inner network's layers, and what it
    /// said in groups: every check's marked set and the answer expanded, the ranking expanded
    /// group by group, the refused groups' layers, the `always` layers as kept, each curve
    /// point's layer count. The sensitivities and the size before pruning are of groups, so
    /// they move to the [`GroupReport`].
    #[must_use]
    pub fn expand_outcome(
        &self,
        grouping: Grouping,
        mut outcome: SearchOutcome,
    ) -> (SearchOutcome, GroupReport) {
        let answer_groups = outcome.answer.clone();
        let sensitivity: HashMap<usize, LayerSensitivity> =
            outcome.sensitivity.drain(..).map(|s| (s.index, s)).collect();
        let answer: Vec<String> = answer_groups
            .as_ref()
            .map(|a| a.iter().map(|g| self.groups[g].name.clone()).collect())
            .unwrap_or_default();
        let report = GroupReport {
            grouping: grouping.to_string(),
            op_types_to_exclude: if grouping == Grouping::OpType {
                answer.clone()
            } else {
                Vec::new()
            },
            answer,
            minimized_from: outcome.minimized_from.take(),
            groups: self
                .groups
                .iter()
                .enumerate()
                .map(|(g, group)| GroupRow {
                    name: group.name.clone(),
                    layers: group.layers.clone(),
                    marked: answer_groups.as_ref().is_some_and(|a| a.contains(g)),
                    sensitivity: sensitivity.get(&g).copied(),
                })
                .collect(),
        };
        for check in &mut outcome.checks {
            check.marked = self.expand(&check.marked);
        }
        outcome.answer = answer_groups.map(|a| self.expand(&a));
        outcome.refused =
            outcome.refused.iter().flat_map(|&g| self.groups[g].layers.iter().copied()).collect();
        outcome.ranking =
            outcome.ranking.iter().flat_map(|&g| self.groups[g].layers.iter().copied()).collect();
        outcome.kept = self.always.to_vec();
        for point in &mut outcome.curve {
            point.layers = outcome.checks[point.check - 1].marked.len();
        }
        (outcome, report)
    }

    /// The groups of the layers in `layers` (as a set of groups).
    fn groups_of(&self, layers: &[usize]) -> Vec<usize> {
        let mut groups: Vec<usize> =
            layers.iter().filter_map(|&i| self.group_of.get(i).copied().flatten()).collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    /// An inner evaluation in terms of groups (the refused layers become their groups).
    fn regroup(&self, mut evaluation: Evaluation) -> Evaluation {
        evaluation.refused = self.groups_of(&evaluation.refused);
        evaluation
    }
}

impl Oracle for GroupedOracle<'_> {
    fn network(&self) -> &Network {
        &self.network
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        let layers = self.expand(marked);
        let evaluation = self.inner.evaluate(&layers, detail)?;
        Ok(self.regroup(evaluation))
    }

    fn evaluate_batch(
        &mut self,
        sets: &[LayerSet],
        detail: OutputSelection,
    ) -> Result<Vec<Evaluation>, SearchError> {
        let layers: Vec<LayerSet> = sets.iter().map(|s| self.expand(s)).collect();
        let evaluations = self.inner.evaluate_batch(&layers, detail)?;
        Ok(evaluations.into_iter().map(|e| self.regroup(e)).collect())
    }

    fn jobs(&self) -> usize {
        self.inner.jobs()
    }

    fn layer_outputs_done(&mut self) {
        self.inner.layer_outputs_done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(i: usize, name: &str, op: &str) -> Layer {
        Layer::new(i, name, op, vec![format!("t{i}")], vec![format!("t{}", i + 1)])
    }

    #[test]
    fn groupings_parse_and_print() {
        assert_eq!("op-type".parse::<Grouping>(), Ok(Grouping::OpType));
        assert_eq!("name-prefix:2".parse::<Grouping>(), Ok(Grouping::NamePrefix(2)));
        for bad in ["name-prefix:0", "name-prefix:", "name-prefix:x", "op", "", "op-type:1"] {
            assert!(bad.parse::<Grouping>().unwrap_err().contains("invalid grouping"), "{bad}");
        }
        assert_eq!(Grouping::NamePrefix(3).to_string(), "name-prefix:3");
    }

    #[test]
    fn name_prefixes_follow_pytorch_paths() {
        let key = |name: &str, n| Grouping::NamePrefix(n).key(&layer(0, name, "MatMul"));
        assert_eq!(key("/encoder/layer.3/attention/self/MatMul", 2), "/encoder/layer.3");
        assert_eq!(key("/encoder/layer.3/attention/self/MatMul", 1), "/encoder");
        assert_eq!(key("encoder/layer.3/MatMul", 2), "encoder/layer.3");
        assert_eq!(key("/head/MatMul", 2), "/head/MatMul");
        assert_eq!(key("Conv.2", 1), "Conv.2");
    }

    #[test]
    fn groups_skip_unmarkable_and_excluded_layers() {
        let mut shape = layer(2, "/a/shape", "Shape");
        shape.unmarkable_reason = Some("shape".into());
        let net = Network {
            name: "n".into(),
            inputs: vec![],
            layers: vec![
                layer(0, "/a/x", "Conv"),
                layer(1, "/b/y", "Relu"),
                shape,
                layer(3, "/a/z", "Conv"),
                layer(4, "/b/w", "Conv"),
            ],
            outputs: vec![],
        };
        let none = LayerSet::empty(5);
        let by_op = group_layers(&net, Grouping::OpType, &none);
        assert_eq!(
            by_op,
            vec![
                Group { name: "Conv".into(), layers: vec![0, 3, 4] },
                Group { name: "Relu".into(), layers: vec![1] },
            ]
        );
        let by_block = group_layers(&net, Grouping::NamePrefix(1), &LayerSet::from_indices(5, [4]));
        assert_eq!(
            by_block,
            vec![
                Group { name: "/a".into(), layers: vec![0, 3] },
                Group { name: "/b".into(), layers: vec![1] },
            ]
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Parsing any text never panics; what parses prints back to itself.
        #[test]
        fn grouping_parses_or_refuses_any_text(text in ".{0,24}", n in 1usize..10_000) {
            if let Ok(grouping) = text.parse::<Grouping>() {
                prop_assert_eq!(grouping.to_string(), text);
            }
            let prefix = format!("name-prefix:{n}");
            prop_assert_eq!(prefix.parse::<Grouping>(), Ok(Grouping::NamePrefix(n)));
        }

        /// A name-prefix key's parts are the name's first parts: at most N of them, or the
        /// whole name when it has no more.
        #[test]
        fn name_prefix_keys_are_leading_parts(name in "[/a-z.0-9]{0,40}", n in 1usize..5) {
            let layer = Layer::new(0, name.clone(), "Op", vec![], vec![]);
            let key = Grouping::NamePrefix(n).key(&layer);
            let parts = |s: &str| s.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect::<Vec<_>>();
            let (name_parts, key_parts) = (parts(&name), parts(&key));
            if name_parts.len() <= n {
                prop_assert_eq!(&key, &name);
            } else {
                prop_assert_eq!(&key_parts[..], &name_parts[..n]);
            }
        }
    }
}
