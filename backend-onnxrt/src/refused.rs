//! Which layer an ONNX Runtime session error names, so that a plan ONNX Runtime cannot load
//! because one node has no kernel in its precision is a [`BackendError::Refused`] build
//! failure naming that layer (worst-first then starts from the plan with it marked).

use precision_core::{BackendError, Network};

/// The build failure for a session that ONNX Runtime could not create with `message`:
/// [`BackendError::Refused`] when the message names a node that is a layer of `network`
/// (`Could not find an implementation for Sin(7) node with name 'sin'`), else
/// [`BackendError::Build`].
pub(crate) fn session_error(message: &str, network: &Network) -> BackendError {
    let message = format!("ONNX Runtime could not create a session: {message}");
    match named_layer(&message, network) {
        Some(layer) => BackendError::Refused { message, layers: vec![layer] },
        None => BackendError::Build(message),
    }
}

/// The index of the layer whose name follows `node with name '` in `message`.
fn named_layer(message: &str, network: &Network) -> Option<usize> {
    const MARKER: &str = "node with name '";
    let start = message.find(MARKER)? + MARKER.len();
    let rest = &message[start..];
    let name = &rest[..rest.find('\'')?];
    network.layers.iter().position(|l| l.name == name)
}

#[cfg(test)]
mod tests {
    use precision_core::Layer;

    use super::*;

    fn network() -> Network {
        Network {
            name: "n".into(),
            inputs: Vec::new(),
            layers: ["conv", "sin", "it's"]
                .iter()
                .enumerate()
                .map(|(i, n)| Layer::new(i, (*n).to_owned(), "Op", Vec::new(), Vec::new()))
                .collect(),
            outputs: Vec::new(),
        }
    }

    #[test]
    fn a_named_node_is_a_refused_layer() {
        let text = "Could not find an implementation for Sin(7) node with name 'sin'";
        let error = session_error(text, &network());
        assert_eq!(error.refused_layers(), &[1]);
        assert!(error.is_build_failure());
        assert!(error.to_string().contains(text), "{error}");
    }

    #[test]
    fn anything_else_is_a_plain_build_failure() {
        for text in [
            "Could not find an implementation for Sin(7) node with name 'sin_added_by_rewrite'",
            "Could not find an implementation for Sin(7) node with name 'unterminated",
            "Load model failed: protobuf parsing failed",
            "",
        ] {
            let error = session_error(text, &network());
            assert!(error.refused_layers().is_empty(), "{text}");
            assert!(matches!(error, BackendError::Build(_)), "{text}");
        }
    }
}
