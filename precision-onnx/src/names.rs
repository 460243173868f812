//! Fresh tensor and node names for what a rewrite adds.

use std::collections::HashSet;

use onnx_protobuf::GraphProto;

use crate::proto;

/// Every name in use in a model (tensors and nodes, subgraphs included), handing out new ones
/// that collide with none of them.
pub(crate) struct NameSource {
    used: HashSet<String>,
}

impl NameSource {
    /// The names in use in `graph` and its subgraphs.
    pub(crate) fn new(graph: &GraphProto) -> Self {
        let mut used = HashSet::new();
        collect_names(graph, &mut used);
        NameSource { used }
    }

    /// `base`, or `base_1`, `base_2`, ... whichever is free; it is then in use.
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut k = 1;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

fn collect_names(graph: &GraphProto, used: &mut HashSet<String>) {
    used.extend(graph.initializer.iter().map(|t| t.name.clone()));
    used.extend(graph.input.iter().map(|t| t.name.clone()));
    for node in &graph.node {
        used.extend(node.output.iter().cloned());
        used.insert(node.name.clone());
        for (_, _, g) in proto::subgraphs(node) {
            collect_names(g, used);
        }
    }
}
