//! Choosing and opening a backend for a model file.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use backend_mock::MockBackend;

use crate::args::{BackendKind, ModelArgs};

/// A backend opened for a model. Commands are generic over `Backend`; this enum is where the
/// generics are instantiated.
pub enum Opened {
    /// The simulated backend.
    Mock(MockBackend),
}

/// Expands `$body` once per backend type, with `$b` bound to the opened backend.
macro_rules! with_backend {
    ($opened:expr, $b:ident => $body:expr) => {
        match $opened {
            $crate::backends::Opened::Mock($b) => $body,
        }
    };
}
pub(crate) use with_backend;

/// Opens the backend `args` ask for (or the one the model's file type implies).
pub fn open(args: &ModelArgs) -> anyhow::Result<Opened> {
    let kind = match args.backend {
        Some(kind) => kind,
        None => infer_kind(&args.model)?,
    };
    match kind {
        BackendKind::Mock => {
            let backend = MockBackend::from_path(&args.model)
                .with_context(|| format!("cannot load mock network {}", args.model.display()))?;
            Ok(Opened::Mock(backend.with_build_delay(Duration::from_millis(args.mock_build_ms))))
        }
    }
}

fn infer_kind(model: &Path) -> anyhow::Result<BackendKind> {
    match model.extension().and_then(|e| e.to_str()) {
        Some("toml") => Ok(BackendKind::Mock),
        Some("engine" | "plan" | "trt") => bail!(
            "{} looks like a serialized TensorRT engine; engines cannot be modified, so their \
             precision cannot be searched: give the ONNX model instead",
            model.display()
        ),
        _ => bail!(
            "cannot tell the backend for {}: this build supports mock networks (.toml, \
             --backend mock)",
            model.display()
        ),
    }
}
