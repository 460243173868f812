//! Layer names: a named node keeps its own name (in a subgraph, after the path through its
//! parent); a generated name (`<op>_<position>`, or a duplicate's `name_1`) never takes a real
//! node's name nor any named node's path name, in the main graph or in `If`/`Loop` subgraphs.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use onnx_protobuf::{AttributeProto, GraphProto, NodeProto};
use precision_onnx::proto::{self, elem};
use precision_onnx::{LayerTable, OnnxModel};
use proptest::prelude::*;

/// The layer names, in table order.
fn names(model: &OnnxModel) -> Vec<String> {
    LayerTable::build(model).layers.into_iter().map(|l| l.name).collect()
}

/// Collects, with each parent's layer name as the prefix: every node's own name, the (given,
/// wanted) names of named nodes, and the names given to unnamed nodes.
fn visit(
    g: &GraphProto,
    path: &[precision_onnx::layers::GraphStep],
    prefix: &str,
    by_place: &HashMap<(String, usize), String>,
    real: &mut HashSet<String>,
    wanted: &mut Vec<(String, String)>,
    generated: &mut Vec<String>,
) {
    for (i, node) in g.node.iter().enumerate() {
        let given = by_place[&(format!("{path:?}"), i)].clone();
        if node.name.is_empty() {
            generated.push(given.clone());
        } else {
            real.insert(node.name.clone());
            wanted.push((given.clone(), format!("{prefix}{}", node.name)));
        }
        for (attr, gi, sub) in proto::subgraphs(node) {
            let mut p = path.to_vec();
            p.push(precision_onnx::layers::GraphStep { node: i, attr: attr.to_owned(), index: gi });
            let list = node.attribute.iter().any(|a| a.name == attr && !a.graphs.is_empty());
            let sub_prefix =
                if list { format!("{given}/{attr}[{gi}]/") } else { format!("{given}/{attr}/") };
            visit(sub, &p, &sub_prefix, by_place, real, wanted, generated);
        }
    }
}

/// Checks the naming rules on `model`: names unique; each named node under its own path name
/// unless an earlier named node holds that very name; no other layer on a real node's name or
/// on a named node's path name.
fn check_rules(model: &OnnxModel) {
    let table = LayerTable::build(model);
    let mut by_place: HashMap<(String, usize), String> = HashMap::new();
    let mut seen = HashSet::new();
    for l in &table.layers {
        assert!(seen.insert(l.name.clone()), "layer name '{}' given twice", l.name);
        by_place.insert((format!("{:?}", l.graph), l.node), l.name.clone());
    }
    // Walk the graphs as the table does, with each parent's layer name as the prefix.
    let mut real = HashSet::new(); // every node's own name
    let mut wanted = Vec::new(); // (layer name given, the path name wanted) of named nodes
    let mut generated = Vec::new();
    visit(model.graph(), &[], "", &by_place, &mut real, &mut wanted, &mut generated);
    let held: HashSet<&str> =
        wanted.iter().filter(|(g, w)| g == w).map(|(g, _)| g.as_str()).collect();
    for (given, want) in &wanted {
        assert!(
            given == want || held.contains(want.as_str()),
            "named node '{want}' became '{given}' though no other named node is called so"
        );
    }
    let made: Vec<&String> =
        generated.iter().chain(wanted.iter().filter(|(g, w)| g != w).map(|(g, _)| g)).collect();
    for name in made {
        assert!(!real.contains(name), "generated name '{name}' is a real node's name");
        assert!(
            !wanted.iter().any(|(_, w)| w == name),
            "generated name '{name}' is a named node's path name"
        );
    }
}

fn relu(name: &str, input: &str, output: &str) -> NodeProto {
    node("Relu", name, &[input], &[output], vec![])
}

/// A main graph of Relu nodes named `names` ("" = unnamed), chained from `x` to `y`.
fn chain(names: &[&str]) -> OnnxModel {
    let mut g = GraphProto { name: "chain".into(), ..Default::default() };
    g.input.push(input("x", elem::FLOAT, &[4]));
    g.output.push(input("y", elem::FLOAT, &[4]));
    for (i, n) in names.iter().enumerate() {
        let from = if i == 0 { "x".to_owned() } else { format!("t{}", i - 1) };
        let to = if i + 1 == names.len() { "y".to_owned() } else { format!("t{i}") };
        g.node.push(relu(n, &from, &to));
    }
    model(g, 13)
}

#[test]
fn real_names_win_over_generated_ones_in_the_main_graph() {
    // The issue's example: an unnamed Conv-like node at 0 and a real node called like it.
    let m = chain(&["", "Relu_0", ""]);
    let n = names(&m);
    assert_eq!(n[1], "Relu_0", "the real node keeps its name");
    assert_ne!(n[0], "Relu_0");
    check_rules(&m);
    // Suffixes skip real names too.
    let m = chain(&["", "Relu_0", "Relu_0_1", "Relu_0_2", "", "Relu_4"]);
    let n = names(&m);
    assert_eq!(&n[1..4], ["Relu_0", "Relu_0_1", "Relu_0_2"]);
    assert_eq!(n[0], "Relu_0_3");
    assert_eq!(n[4], "Relu_4_1");
    assert_eq!(n[5], "Relu_4");
    check_rules(&m);
    // Duplicated real names: the first keeps it, the later ones skip every real name.
    let m = chain(&["a", "a", "a_1", "a"]);
    let n = names(&m);
    assert_eq!(n, ["a", "a_2", "a_1", "a_3"]);
    check_rules(&m);
}

/// `If` at index 1 (unnamed: `If_1`) whose branches hold unnamed and named nodes, beside
/// main-graph nodes named like subgraph layers.
fn branchy(then_names: &[&str], else_names: &[&str], main_names: &[&str]) -> OnnxModel {
    let branch = |name: &str, names: &[&str]| {
        let mut g = GraphProto { name: name.into(), ..Default::default() };
        for (i, n) in names.iter().enumerate() {
            let from = if i == 0 { "x".to_owned() } else { format!("{name}{}", i - 1) };
            g.node.push(relu(n, &from, &format!("{name}{i}")));
        }
        g.output.push(proto::value_info(&format!("{name}{}", names.len() - 1), elem::FLOAT));
        g
    };
    let mut g = GraphProto { name: "main".into(), ..Default::default() };
    g.input.push(input("x", elem::FLOAT, &[4]));
    g.input.push(input("cond", elem::BOOL, &[]));
    g.output.push(input("y", elem::FLOAT, &[4]));
    g.node.push(relu(main_names[0], "x", "r"));
    g.node.push(node(
        "If",
        "",
        &["cond"],
        &["b"],
        vec![
            graph_attr("then_branch", branch("then", then_names)),
            graph_attr("else_branch", branch("else", else_names)),
        ],
    ));
    let mut last = "b".to_owned();
    for (i, n) in main_names[1..].iter().enumerate() {
        g.node.push(relu(n, &last, &format!("m{i}")));
        last = format!("m{i}");
    }
    g.node.push(node("Add", "", &["r", &last], &["y"], vec![]));
    model(g, 13)
}

#[test]
fn real_names_win_in_if_branches() {
    // Inside a branch: a named node called like its unnamed sibling's generated name.
    let m = branchy(&["", "Relu_0"], &["Relu_0"], &["main"]);
    let n = names(&m);
    assert_eq!(n[1], "If_1");
    assert_eq!(n[3], "If_1/then_branch/Relu_0");
    assert_ne!(n[2], "If_1/then_branch/Relu_0");
    assert_eq!(n[4], "If_1/else_branch/Relu_0");
    check_rules(&m);

    // A main-graph node named like a subgraph layer's generated path name (PyTorch-style names
    // hold slashes), and one named like the unnamed `If` itself.
    let m = branchy(&[""], &[""], &["If_1/then_branch/Relu_0", "If_1", "Relu_0"]);
    let n = names(&m);
    assert_eq!(n[0], "If_1/then_branch/Relu_0");
    assert_eq!(n[1], "If_1_1", "the unnamed If skips the real 'If_1'");
    assert_eq!(n[2], "If_1_1/then_branch/Relu_0");
    assert!(n.contains(&"If_1".to_owned()) && n.contains(&"Relu_0".to_owned()));
    check_rules(&m);

    // A subgraph node's own name is a real name too: the main graph's unnamed nodes skip it.
    let m = branchy(&["Relu_0"], &["Add_3"], &["", ""]);
    let n = names(&m);
    assert_eq!(n[0], "Relu_0_1", "'Relu_0' is the name of a node in the then-branch");
    assert_eq!(n.last().unwrap(), "Add_3_1", "'Add_3' is the name of a node in the else-branch");
    check_rules(&m);
}

/// A Loop named `loop_name` whose body holds nodes named `body_names`, after the main-graph
/// nodes `before` (an `If` with one unnamed Relu in each branch where a name starts with `If:`).
fn looped(before: &[&str], loop_name: &str, body_names: &[&str]) -> OnnxModel {
    let mut body = GraphProto { name: "body".into(), ..Default::default() };
    body.input.push(input("i", elem::INT64, &[]));
    body.input.push(input("cond_in", elem::BOOL, &[]));
    body.input.push(input("v", elem::FLOAT, &[4]));
    let mut last = "v".to_owned();
    for (i, n) in body_names.iter().enumerate() {
        body.node.push(relu(n, &last, &format!("l{i}")));
        last = format!("l{i}");
    }
    body.node.push(node("Identity", "", &["cond_in"], &["cond_out"], vec![]));
    body.output.push(proto::value_info("cond_out", elem::BOOL));
    body.output.push(proto::value_info(&last, elem::FLOAT));

    let mut g = GraphProto { name: "main".into(), ..Default::default() };
    g.input.push(input("x", elem::FLOAT, &[4]));
    g.input.push(input("cond", elem::BOOL, &[]));
    g.output.push(input("y", elem::FLOAT, &[4]));
    g.initializer.push(proto::i64_tensor("trips", &[], &[2]));
    let mut last = "x".to_owned();
    for (i, n) in before.iter().enumerate() {
        let out = format!("p{i}");
        if let Some(name) = n.strip_prefix("If:") {
            let branch = |b: &str| {
                let mut sub = GraphProto { name: b.into(), ..Default::default() };
                sub.node.push(relu("", "x", &format!("{b}{i}")));
                sub.output.push(proto::value_info(&format!("{b}{i}"), elem::FLOAT));
                sub
            };
            let attrs: Vec<AttributeProto> = vec![
                graph_attr("then_branch", branch("then")),
                graph_attr("else_branch", branch("else")),
            ];
            g.node.push(node("If", name, &["cond"], &[&out], attrs));
        } else {
            g.node.push(relu(n, &last, &out));
        }
        last = out;
    }
    g.node.push(node(
        "Loop",
        loop_name,
        &["trips", "cond", &last],
        &["y"],
        vec![graph_attr("body", body)],
    ));
    model(g, 13)
}

#[test]
fn real_names_win_in_loop_bodies() {
    let m = looped(&[""], "", &["", "Relu_0", ""]);
    let n = names(&m);
    assert_eq!(n[1], "Loop_1");
    assert_eq!(n[3], "Loop_1/body/Relu_0");
    assert_ne!(n[2], "Loop_1/body/Relu_0");
    check_rules(&m);

    // A generated name in an earlier subgraph that equals the path name of a named node in a
    // later one: the If named "L/body" has an unnamed Relu ("L/body/then_branch/Relu_0"); the
    // Loop named "L" has a body node named "then_branch/Relu_0", whose path name is the same.
    let m = looped(&["If:L/body"], "L", &["then_branch/Relu_0"]);
    let n = names(&m);
    assert_eq!(n[0], "L/body");
    assert_eq!(n[4], "L/body/then_branch/Relu_0", "the named node keeps its path name: {n:?}");
    assert_ne!(n[1], "L/body/then_branch/Relu_0", "{n:?}");
    check_rules(&m);
}

/// A pool of names that collide in every way the rules must handle.
const POOL: &[&str] = &[
    "",
    "",
    "",
    "Relu_0",
    "Relu_1",
    "Relu_0_1",
    "If_0",
    "If_1",
    "If_1_1",
    "If_0/then_branch/Relu_0",
    "If_1/else_branch/Relu_0",
    "then_branch/Relu_0",
    "a",
    "a_1",
];

/// A model of up to 4 main-graph nodes, each a Relu or an `If` whose branches hold up to 3
/// Relu nodes (one nesting level deeper where chosen), every name drawn from [`POOL`].
fn random_model() -> impl Strategy<Value = OnnxModel> {
    let name = proptest::sample::select(POOL);
    let leaf = (name.clone(), proptest::collection::vec(name.clone(), 0..3))
        .prop_map(|(n, inner)| (n, inner, Vec::<&str>::new()));
    let branch = proptest::collection::vec(leaf, 1..3);
    let main =
        proptest::collection::vec((name, proptest::option::of((branch.clone(), branch))), 1..5);
    main.prop_map(|nodes| {
        fn graph(gname: &str, nodes: &[(&str, Vec<&str>, Vec<&str>)], depth: usize) -> GraphProto {
            let mut g = GraphProto { name: gname.into(), ..Default::default() };
            let mut last = "x".to_owned();
            for (i, (n, inner, _)) in nodes.iter().enumerate() {
                let out = format!("{gname}_{depth}_{i}");
                if inner.is_empty() {
                    g.node.push(relu(n, &last, &out));
                } else {
                    let sub: Vec<(&str, Vec<&str>, Vec<&str>)> =
                        inner.iter().map(|s| (*s, Vec::new(), Vec::new())).collect();
                    let attrs = vec![
                        graph_attr("then_branch", graph(&format!("{out}t"), &sub, depth + 1)),
                        graph_attr("else_branch", graph(&format!("{out}e"), &sub, depth + 1)),
                    ];
                    g.node.push(node("If", n, &["cond"], &[&out], attrs));
                }
                last = out;
            }
            g.output.push(proto::value_info(&last, elem::FLOAT));
            g
        }
        let mut g = GraphProto { name: "main".into(), ..Default::default() };
        g.input.push(input("x", elem::FLOAT, &[4]));
        g.input.push(input("cond", elem::BOOL, &[]));
        let mut last = "x".to_owned();
        for (i, (n, branches)) in nodes.iter().enumerate() {
            let out = format!("m{i}");
            match branches {
                None => g.node.push(relu(n, &last, &out)),
                Some((then_nodes, else_nodes)) => {
                    let attrs = vec![
                        graph_attr("then_branch", graph(&format!("t{i}"), then_nodes, 1)),
                        graph_attr("else_branch", graph(&format!("e{i}"), else_nodes, 1)),
                    ];
                    g.node.push(node("If", n, &["cond"], &[&out], attrs));
                }
            }
            last = out;
        }
        g.output.push(input(&last, elem::FLOAT, &[4]));
        model(g, 13)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn naming_rules_hold_for_any_mix_of_names(m in random_model()) {
        check_rules(&m);
    }
}
