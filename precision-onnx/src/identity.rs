//! The identity of a loaded model for the check journal: a SHA-256 digest of the model as
//! loaded, with its external data read in, so that rewriting an external data file changes
//! the digest as surely as editing the `.onnx` file.

use std::fmt::Write as _;
use std::io::{ErrorKind, Write};
use std::path::Path;

use precision_core::calibration::CalibrationMethod;
use precision_core::{AnswerIdentity, BackendError, Precision};
use protobuf::Message as _;
use sha2::{Digest as _, Sha256};

use crate::scales::CalibrationSettings;
use crate::{InputShapes, OnnxError, OnnxModel};

/// The SHA-256 digest of `model` as loaded: the model message serialized with every
/// external-data tensor's bytes in it (the bytes the backends run, whichever files and
/// ranges they came from). Streams the serialization into the hash, so nothing the size of
/// the model is copied.
pub fn model_digest(model: &OnnxModel) -> Result<[u8; 32], OnnxError> {
    let mut hasher = Hashing(Sha256::new());
    model
        .proto
        .write_to_writer(&mut hasher)
        .map_err(|e| OnnxError::Invalid(format!("cannot encode the model to hash it: {e}")))?;
    Ok(hasher.0.finalize().into())
}

/// `--input-shapes` as identity text: `name:[d0,d1]` per input, one a line, in order.
#[must_use]
pub fn shapes_text(shapes: &InputShapes) -> String {
    shapes_of(shapes.0.iter().map(|(name, dims)| (name.as_str(), dims.as_slice())))
}

/// Input shapes as identity text: `name:[d0,d1]` per input, one a line, in order.
#[must_use]
pub fn shapes_of<'a>(shapes: impl IntoIterator<Item = (&'a str, &'a [i64])>) -> String {
    let mut text = String::new();
    for (name, dims) in shapes {
        let dims: Vec<String> = dims.iter().map(ToString::to_string).collect();
        let _ = writeln!(text, "{name}:[{}]", dims.join(","));
    }
    text
}

/// INT8 calibration settings as an identity value: the method, then the calibration cache's
/// bytes when the file exists (its scales are used instead of calibrating) or a marker that it
/// does not. Errors when the cache exists but cannot be read.
pub fn calibration_identity(
    method: &CalibrationMethod,
    cache: Option<&Path>,
) -> Result<Vec<u8>, OnnxError> {
    let mut value = format!("{method}\n").into_bytes();
    let bytes = match cache {
        None => None,
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(source) => return Err(OnnxError::Read { path: path.to_owned(), source }),
        },
    };
    match bytes {
        Some(bytes) => {
            value.extend_from_slice(b"cache\n");
            value.extend_from_slice(&bytes);
        }
        None => value.extend_from_slice(b"no cache"),
    }
    Ok(value)
}

/// Adds the `calibration` part ([`calibration_identity`] of `settings`) to `id` when `lower`
/// includes INT8, the only case in which calibration changes answers.
pub fn push_calibration(
    id: &mut AnswerIdentity,
    lower: &[Precision],
    settings: &CalibrationSettings,
) -> Result<(), BackendError> {
    if lower.contains(&Precision::Int8) {
        let value = calibration_identity(&settings.method, settings.cache.as_deref())
            .map_err(|e| BackendError::Input(e.to_string()))?;
        id.push("calibration", value);
    }
    Ok(())
}

/// A writer that feeds a hash.
struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use onnx_protobuf::{TensorProto, tensor_proto::DataLocation};
    use protobuf::Message as _;

    use super::*;

    /// A model with one node and one float initializer `w` stored as external data in
    /// `weights.bin` (4 floats), written into `dir`.
    fn write_model(dir: &Path, weights: &[f32]) -> std::path::PathBuf {
        let mut model = onnx_protobuf::ModelProto::new();
        model.ir_version = 8;
        let mut opset = onnx_protobuf::OperatorSetIdProto::new();
        opset.version = 17;
        model.opset_import.push(opset);
        let graph = model.graph.mut_or_insert_default();
        let mut w = TensorProto::new();
        w.name = "w".into();
        w.dims = vec![weights.len() as i64];
        w.data_type = 1;
        w.data_location = DataLocation::EXTERNAL.into();
        for (key, value) in [("location", "weights.bin"), ("offset", "0")] {
            let mut entry = onnx_protobuf::StringStringEntryProto::new();
            entry.key = key.into();
            entry.value = value.into();
            w.external_data.push(entry);
        }
        graph.initializer.push(w);
        let mut node = onnx_protobuf::NodeProto::new();
        node.op_type = "Identity".into();
        node.name = "id".into();
        node.input.push("w".into());
        node.output.push("y".into());
        graph.node.push(node);
        let mut y = onnx_protobuf::ValueInfoProto::new();
        y.name = "y".into();
        graph.output.push(y);
        let bytes: Vec<u8> = weights.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join("weights.bin"), bytes).unwrap();
        let path = dir.join("m.onnx");
        std::fs::write(&path, model.write_to_bytes().unwrap()).unwrap();
        path
    }

    #[test]
    fn external_data_changes_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_model(dir.path(), &[1.0, 2.0, 3.0, 4.0]);
        let first = model_digest(&OnnxModel::load(&path).unwrap()).unwrap();
        // Loading again gives the same digest.
        assert_eq!(model_digest(&OnnxModel::load(&path).unwrap()).unwrap(), first);
        // The same .onnx file, other external weights: another digest.
        let before = std::fs::read(&path).unwrap();
        write_model(dir.path(), &[1.0, 2.0, 3.0, 4.5]);
        assert_eq!(std::fs::read(&path).unwrap(), before, "the .onnx file is unchanged");
        let second = model_digest(&OnnxModel::load(&path).unwrap()).unwrap();
        assert_ne!(first, second);
    }
}
