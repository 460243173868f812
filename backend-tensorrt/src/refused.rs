//! Which layers a failed TensorRT build refused, so that a plan TensorRT cannot build because
//! some layers have no implementation in their precision is a [`BackendError::Refused`] build
//! failure naming those layers (worst-first and ranked then start from the plan with them
//! marked).
//!
//! TensorRT says so in its error log, in a few forms:
//! - `Could not find any implementation for node NODE.` (usually inside `Error Code 10:
//!   Internal Error (...)`), the builder's form, also under `kOBEY_PRECISION_CONSTRAINTS`;
//! - `No implementation of layer NODE obeys the requested constraints ...`;
//! - `NODE: no implementation obeys reformatting-free rules ...` and `NODE: could not find any
//!   supported formats consistent with input/output data types`.
//!
//! `NODE` is one layer's name, or the name of a fused node made of several: `A + B`,
//! `PWN(A, B)`, `A || B`, `A[Conv] + B[Relu]` (with layer types), `{ForeignNode[A...B]}` (the
//! first and last layer of a range). Names are never guessed from that syntax: the text is
//! searched for the network's own layer names, each standing on its own (not inside a longer
//! name), so only layers the network has are named. A fused range names its two ends only;
//! if the build still fails with them marked, the next error names the next layer.

use precision_core::{BackendError, Network};

/// Phrases after which TensorRT names the node it has no implementation for.
const NODE_AFTER: &[&str] =
    &["could not find any implementation for node ", "no implementation of layer "];

/// Phrases before which TensorRT names the node (`NODE: phrase`).
const NODE_BEFORE: &[&str] = &[
    "no implementation obeys reformatting-free rules",
    "could not find any supported formats consistent with input/output data types",
];

/// Where a node's name ends in the text after a [`NODE_AFTER`] phrase.
const NODE_END: &[&str] = &[" obeys ", " that obeys ", " with "];

/// The build failure for a TensorRT build that failed with `message` (its error log):
/// [`BackendError::Refused`] when the log names layers of `network` that have no
/// implementation, else [`BackendError::Build`].
pub(crate) fn build_failure(message: String, network: &Network) -> BackendError {
    let layers = refused_layers(&message, network);
    if layers.is_empty() {
        BackendError::Build(message)
    } else {
        BackendError::Refused { message, layers }
    }
}

/// The indices (ascending, each once) of the layers of `network` that `message` says have
/// no implementation.
#[must_use]
pub(crate) fn refused_layers(message: &str, network: &Network) -> Vec<usize> {
    let mut found = Vec::new();
    for line in message.lines() {
        // ASCII lowercasing keeps every byte offset, so positions found in `lower` hold in
        // `line`.
        let lower = line.to_ascii_lowercase();
        for phrase in NODE_AFTER {
            for (at, _) in lower.match_indices(phrase) {
                let start = at + phrase.len();
                let rest = &lower[start..];
                let end = NODE_END.iter().filter_map(|e| rest.find(e)).min().unwrap_or(rest.len());
                found.extend(named_layers(&line[start..start + end], network));
            }
        }
        for phrase in NODE_BEFORE {
            for (at, _) in lower.match_indices(phrase) {
                found.extend(named_layers(node_before(&line[..at]), network));
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// The text naming the node in `before` (what precedes a [`NODE_BEFORE`] phrase): without the
/// log's prefix (`[file.cpp::function::42] Error Code 4: Internal Error (`).
fn node_before(before: &str) -> &str {
    let before = before.rfind("Error (").map_or(before, |i| &before[i + "Error (".len()..]);
    before.rfind("] ").map_or(before, |i| &before[i + 2..])
}

/// Characters that may stand next to a name in TensorRT's node text.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || "{}[]()<>,+|.:;'\"".contains(c)
}

/// The layers of `network` whose names stand on their own in `text`: at the text's ends or
/// next to a delimiter, not inside a longer name found there, and not a layer type in
/// brackets right after a name (`conv[Conv]`).
fn named_layers(text: &str, network: &Network) -> Vec<usize> {
    // (start, end, layer) of every occurrence with delimiters on both sides.
    let mut hits: Vec<(usize, usize, usize)> = Vec::new();
    for layer in &network.layers {
        let name = layer.name.as_str();
        if name.is_empty() {
            continue;
        }
        for (start, _) in text.match_indices(name) {
            let end = start + name.len();
            let before = text[..start].chars().next_back();
            let after = text[end..].chars().next();
            if before.is_none_or(is_delimiter) && after.is_none_or(is_delimiter) {
                hits.push((start, end, layer.index));
            }
        }
    }
    let inside_longer = |&(s, e, _): &(usize, usize, usize)| {
        hits.iter().any(|&(s2, e2, _)| s2 <= s && e <= e2 && (s2, e2) != (s, e))
    };
    let type_tag = |&(s, e, _): &(usize, usize, usize)| {
        s > 0
            && text[..s].ends_with('[')
            && text[e..].starts_with(']')
            && hits.iter().any(|&(_, e2, _)| e2 == s - 1)
    };
    hits.iter().filter(|&h| !inside_longer(h) && !type_tag(h)).map(|&(_, _, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use precision_core::Layer;

    use super::*;

    fn network(names: &[&str]) -> Network {
        Network {
            name: "n".into(),
            inputs: Vec::new(),
            layers: names
                .iter()
                .enumerate()
                .map(|(i, n)| Layer::new(i, (*n).to_owned(), "Op", Vec::new(), Vec::new()))
                .collect(),
            outputs: Vec::new(),
        }
    }

    fn names(message: &str, net: &Network) -> Vec<String> {
        refused_layers(message, net).iter().map(|&i| net.layers[i].name.clone()).collect()
    }

    #[test]
    fn every_form_tensorrt_uses_names_the_right_layers() {
        let net = network(&[
            "Conv_1",
            "Conv_10",
            "Relu_11",
            "/model/conv1/Conv",
            "Conv",
            "p2o.Slice.111",
            "p2o.Slice",
            "(Unnamed Layer* 146) [Shuffle]",
            "Reshape_81",
            "onnx::Gather_543",
            "Transpose_3934 + Reshape_3943",
            "mm1",
        ]);
        let prefix = "[optimizer.cpp::computeCosts::3869] Error Code 10: Internal Error (";
        let cases: &[(String, &[&str])] = &[
            (format!("{prefix}Could not find any implementation for node Conv_10.)"), &["Conv_10"]),
            (format!("{prefix}Could not find any implementation for node Conv_1.)"), &["Conv_1"]),
            (
                "10: Could not find any implementation for node /model/conv1/Conv.".into(),
                &["/model/conv1/Conv"],
            ),
            (
                format!("{prefix}Could not find any implementation for node Conv_10 + Relu_11.)"),
                &["Conv_10", "Relu_11"],
            ),
            (
                format!(
                    "{prefix}Could not find any implementation for node PWN(Conv_1, Relu_11).)"
                ),
                &["Conv_1", "Relu_11"],
            ),
            (
                format!("{prefix}Could not find any implementation for node Conv_1 || Conv_10.)"),
                &["Conv_1", "Conv_10"],
            ),
            (
                format!(
                    "{prefix}Could not find any implementation for node {{ForeignNode[(Unnamed \
                     Layer* 146) [Shuffle]...p2o.Slice.111]}}.)"
                ),
                &["p2o.Slice.111", "(Unnamed Layer* 146) [Shuffle]"],
            ),
            (
                format!(
                    "{prefix}Could not find any implementation for node \
                     {{ForeignNode[onnx::Gather_543...Transpose_3934 + Reshape_3943]}}.)"
                ),
                &["onnx::Gather_543", "Transpose_3934 + Reshape_3943"],
            ),
            (
                "No implementation of layer Conv_10[Conv] + Relu_11[Relu] obeys the requested \
                 constraints in strict mode."
                    .into(),
                &["Conv_10", "Relu_11"],
            ),
            (
                "[E] 4: [optimizer.cpp::f::12] Error Code 4: Internal Error (Reshape_81: could \
                 not find any supported formats consistent with input/output data types)"
                    .into(),
                &["Reshape_81"],
            ),
            (
                "Conv_1: no implementation obeys reformatting-free rules, at least 2 \
                 reformatting nodes are needed"
                    .into(),
                &["Conv_1"],
            ),
            (
                "Could not find any implementation for node mm1 that obeys the precision \
                 constraint (kFLOAT)"
                    .into(),
                &["mm1"],
            ),
            // Two lines, as the shim joins TensorRT's errors; the second names nothing.
            (
                format!(
                    "{prefix}Could not find any implementation for node Relu_11.)\n[builder.cpp::\
                     buildSerializedNetwork::751] Error Code 2: Internal Error (Assertion engine \
                     != nullptr failed. )"
                ),
                &["Relu_11"],
            ),
        ];
        for (message, want) in cases {
            let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
            want.sort_by_key(|n| net.layer_by_name(n).unwrap().index);
            assert_eq!(names(message, &net), want, "{message}");
            let error = build_failure(message.clone(), &net);
            assert!(matches!(error, BackendError::Refused { .. }), "{message}");
            assert_eq!(error.to_string(), format!("build failed: {message}"));
        }
    }

    #[test]
    fn text_naming_no_known_layer_is_a_plain_build_failure() {
        let net = network(&["Conv_1", "Relu_2", "Internal", "Error"]);
        for message in [
            // A name the network lacks, and names that only start or end like a layer's.
            "Error Code 10: Internal Error (Could not find any implementation for node Conv_12.)",
            "Could not find any implementation for node xConv_1.",
            "Could not find any implementation for node /Conv_1/Relu_2x.",
            // A layer named in another error is not refused.
            "Error Code 2: Internal Error (Assertion engine != nullptr failed. ) near Conv_1",
            "Error Code 1: Cuda Runtime (out of memory) while building Relu_2",
            "",
        ] {
            assert!(refused_layers(message, &net).is_empty(), "{message}");
            assert_eq!(
                build_failure(message.to_owned(), &net),
                BackendError::Build(message.to_owned())
            );
        }
    }
}
