//! Choosing and opening a backend for a model file.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use backend_mock::MockBackend;
use backend_onnxrt::{CalibrationSettings, OnnxrtBackend, OnnxrtConfig};
use precision_core::Precision;
use precision_onnx::InputShapes;

use crate::args::{BackendKind, ModelArgs};

/// A backend opened for a model. Commands are generic over `Backend`; this enum is where the
/// generics are instantiated.
pub enum Opened {
    /// The simulated backend.
    Mock(MockBackend),
    /// ONNX Runtime on CPU.
    Onnxrt(Box<OnnxrtBackend>),
}

/// Expands `$body` once per backend type, with `$b` bound to the opened backend.
macro_rules! with_backend {
    ($opened:expr, $b:ident => $body:expr) => {
        match $opened {
            $crate::backends::Opened::Mock($b) => $body,
            $crate::backends::Opened::Onnxrt($b) => {
                let $b = *$b;
                $body
            }
        }
    };
}
pub(crate) use with_backend;

/// Opens the backend `args` ask for (or the one the model's file type implies); `lower` is
/// the precisions the command lowers to, which decide the markable layers of ONNX models.
pub fn open(args: &ModelArgs, lower: &[Precision]) -> anyhow::Result<Opened> {
    let kind = match args.backend {
        Some(kind) => kind,
        None => infer_kind(&args.model)?,
    };
    if kind != BackendKind::Onnxrt && !args.input_shapes.is_empty() {
        bail!("--input-shapes applies to ONNX models only");
    }
    match kind {
        BackendKind::Mock => {
            let backend = MockBackend::from_path(&args.model)
                .with_context(|| format!("cannot load mock network {}", args.model.display()))?;
            Ok(Opened::Mock(backend.with_build_delay(Duration::from_millis(args.mock_build_ms))))
        }
        BackendKind::Onnxrt => {
            let mut input_shapes = InputShapes::default();
            for arg in &args.input_shapes {
                input_shapes.add(arg).map_err(|e| anyhow::anyhow!("--input-shapes: {e}"))?;
            }
            let config = OnnxrtConfig {
                library: args.onnxrt_lib.clone(),
                input_shapes,
                lower: lower.to_vec(),
                calibration: CalibrationSettings {
                    method: args.calibration,
                    cache: args.calibration_cache.clone(),
                },
                ..OnnxrtConfig::default()
            };
            let backend = OnnxrtBackend::open(&args.model, config).with_context(|| {
                format!("cannot open {} with ONNX Runtime", args.model.display())
            })?;
            Ok(Opened::Onnxrt(Box::new(backend)))
        }
    }
}

fn infer_kind(model: &Path) -> anyhow::Result<BackendKind> {
    match model.extension().and_then(|e| e.to_str()) {
        Some("toml") => Ok(BackendKind::Mock),
        Some("onnx") => Ok(BackendKind::Onnxrt),
        Some("engine" | "plan" | "trt") => bail!(
            "{} looks like a serialized TensorRT engine; engines cannot be modified, so their \
             precision cannot be searched: give the ONNX model instead",
            model.display()
        ),
        _ => bail!(
            "cannot tell the backend for {}: give an ONNX model (.onnx) or a mock network \
             (.toml), or choose with --backend onnxrt|mock",
            model.display()
        ),
    }
}
