//! Fresh tensor and node names for what a rewrite adds, and the layer names of a model's
//! nodes.

use std::collections::{HashMap, HashSet};

use onnx_protobuf::{GraphProto, NodeProto};

use crate::layers::{GraphPath, GraphStep};
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

/// How many times [`layer_names`] renames before it settles (each round reserves at least one
/// more name of a named node; real models settle in the first or second round).
const MAX_NAMING_ROUNDS: usize = 64;

/// The layer name of every node of `graph` and of its subgraphs, keyed by graph path and node
/// index: the node's own name (in a subgraph, after the path through its parent, e.g.
/// `If_3/then_branch/mul`), or `<op>_<position>` for a node without one. Real names always
/// win: a generated name, or the suffixed name of a duplicate (`name_1`, `name_2`, ...), never
/// takes a name that a named node has, neither a node's own name nor any node's full path name
/// (through parents that may themselves be named or not).
pub(crate) fn layer_names(graph: &GraphProto) -> HashMap<(GraphPath, usize), String> {
    // Names a generated name must skip: every node's own name, anywhere in the model; then
    // (after a round) the path names of named nodes that a generated name took.
    let mut reserved = HashSet::new();
    collect_node_names(graph, &mut reserved);
    let mut round = 0;
    loop {
        let mut naming = Naming {
            reserved: &reserved,
            taken: HashSet::new(),
            own: HashSet::new(),
            lost: Vec::new(),
            names: HashMap::new(),
        };
        naming.assign(graph, &Vec::new(), "");
        round += 1;
        if naming.lost.is_empty() || round >= MAX_NAMING_ROUNDS {
            return naming.names;
        }
        reserved.extend(naming.lost);
    }
}

/// The prefix of the layers of subgraph `index` of attribute `attr` of `node`, named `name`:
/// `name/attr/`, or `name/attr[index]/` for an attribute holding a list of graphs.
pub(crate) fn subgraph_prefix(node: &NodeProto, name: &str, attr: &str, index: usize) -> String {
    if index == 0 && node.attribute.iter().all(|a| a.name != attr || a.graphs.is_empty()) {
        format!("{name}/{attr}/")
    } else {
        format!("{name}/{attr}[{index}]/")
    }
}

/// One naming round.
struct Naming<'a> {
    /// Names a generated name must not take.
    reserved: &'a HashSet<String>,
    /// Names given so far.
    taken: HashSet<String>,
    /// Names given to a named node under its own (path) name.
    own: HashSet<String>,
    /// Path names of named nodes that a generated name took first (in an earlier graph).
    lost: Vec<String>,
    names: HashMap<(GraphPath, usize), String>,
}

impl Naming<'_> {
    fn assign(&mut self, graph: &GraphProto, path: &GraphPath, prefix: &str) {
        let wants: Vec<Option<String>> = graph
            .node
            .iter()
            .map(|n| (!n.name.is_empty()).then(|| format!("{prefix}{}", n.name)))
            .collect();
        let mut given: Vec<Option<String>> = vec![None; wants.len()];
        // Named nodes first, each under its own name unless an earlier node holds it.
        for (i, want) in wants.iter().enumerate() {
            let Some(want) = want else { continue };
            if self.taken.insert(want.clone()) {
                self.own.insert(want.clone());
                given[i] = Some(want.clone());
            } else if !self.own.contains(want) {
                self.lost.push(want.clone());
            }
        }
        // Then unnamed nodes and duplicates, under names nobody has.
        for (i, node) in graph.node.iter().enumerate() {
            if given[i].is_some() {
                continue;
            }
            let base = wants[i].clone().unwrap_or_else(|| format!("{prefix}{}_{i}", node.op_type));
            let mut name = base.clone();
            let mut k = 1;
            while self.taken.contains(&name) || self.reserved.contains(&name) {
                name = format!("{base}_{k}");
                k += 1;
            }
            self.taken.insert(name.clone());
            given[i] = Some(name);
        }
        for (i, (node, name)) in graph.node.iter().zip(given).enumerate() {
            let name = name.expect("every node is named above");
            for (attr, gi, sub) in proto::subgraphs(node) {
                let mut sub_path = path.clone();
                sub_path.push(GraphStep { node: i, attr: attr.to_owned(), index: gi });
                self.assign(sub, &sub_path, &subgraph_prefix(node, &name, attr, gi));
            }
            self.names.insert((path.clone(), i), name);
        }
    }
}

fn collect_node_names(graph: &GraphProto, out: &mut HashSet<String>) {
    for node in &graph.node {
        if !node.name.is_empty() {
            out.insert(node.name.clone());
        }
        for (_, _, g) in proto::subgraphs(node) {
            collect_node_names(g, out);
        }
    }
}
