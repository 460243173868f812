//! Choosing and opening a backend for a model file.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use backend_mock::{MockBackend, MockSpec};
use backend_onnxrt::providers::{
    CudnnAlgo, ExecutionSettings, ProviderKind, parse_device_ids, parse_providers,
};
use backend_onnxrt::{CalibrationSettings, OnnxrtBackend, OnnxrtConfig};
use precision_core::Precision;
use precision_onnx::InputShapes;

use backend_tensorrt::{
    LayerOutputs, PrecisionConstraints, TensorRtBackend, TensorRtConfig, Typing,
};

use crate::args::{BackendKind, ConstraintsArg, LayerOutputsArg, ModelArgs, TypingArg};

/// A backend opened for a model. Commands are generic over `Backend`; this enum is where the
/// generics are instantiated.
pub enum Opened {
    /// The simulated backend.
    Mock(MockBackend),
    /// ONNX Runtime on CPU.
    Onnxrt(Box<OnnxrtBackend>),
    /// TensorRT.
    Tensorrt(Box<TensorRtBackend>),
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
            $crate::backends::Opened::Tensorrt($b) => {
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
    refuse_engine(&args.model)?;
    let kind = match args.backend {
        Some(kind) => kind,
        None => infer_kind(&args.model)?,
    };
    if kind == BackendKind::Mock && !args.input_shapes.is_empty() {
        bail!("--input-shapes applies to ONNX models only");
    }
    let tensorrt_only = args.typing.is_some()
        || args.timing_cache.is_some()
        || args.save_engine.is_some()
        || args.precision_constraints != ConstraintsArg::Obey
        || args.layer_outputs != LayerOutputsArg::Outputs;
    let execution = execution_settings(args)?;
    if kind != BackendKind::Onnxrt && (execution.uses_gpu() || !args.providers.is_empty()) {
        bail!(
            "--providers, --device-ids, --tf32, --cudnn-algo and --trt-engine-cache apply to the \
             ONNX Runtime backend only (--backend onnxrt)"
        );
    }
    if kind != BackendKind::Tensorrt && tensorrt_only {
        bail!(
            "--typing, --precision-constraints, --layer-outputs, --timing-cache and --save-engine \
             apply to the TensorRT backend only: add --backend tensorrt"
        );
    }
    match kind {
        BackendKind::Mock => {
            let context = || format!("cannot load mock network {}", args.model.display());
            let spec = MockSpec::from_path(&args.model).with_context(context)?;
            mock_fits(&spec, &args.model)?;
            let backend = MockBackend::from_spec(spec).with_context(context)?;
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
                execution,
                ..OnnxrtConfig::default()
            };
            if !config.execution.uses_gpu() && lower.contains(&Precision::Float16) {
                crate::console::errln!(
                    "note: ONNX Runtime's CPU provider rounds float16 tensors but computes most \
                     float16 ops in float32, so it understates FP16 error and the answer may \
                     not hold on a GPU; search with --providers cuda, or re-check the answer \
                     there with `precision verify MODEL --report R --providers cuda`"
                );
            }
            let backend = OnnxrtBackend::open(&args.model, config).with_context(|| {
                format!("cannot open {} with ONNX Runtime", args.model.display())
            })?;
            if let Some(placement) = backend.placement() {
                crate::console::errln!(
                    "ONNX Runtime on {}; float32 nodes placed: {}",
                    backend.execution().describe(backend.device()),
                    placement.summary()
                );
            }
            Ok(Opened::Onnxrt(Box::new(backend)))
        }
        BackendKind::Tensorrt => {
            let mut input_shapes = InputShapes::default();
            for arg in &args.input_shapes {
                input_shapes.add(arg).map_err(|e| anyhow::anyhow!("--input-shapes: {e}"))?;
            }
            let config = TensorRtConfig {
                typing: args.typing.map(|t| match t {
                    TypingArg::Weak => Typing::Weak,
                    TypingArg::Strong => Typing::Strong,
                }),
                constraints: match args.precision_constraints {
                    ConstraintsArg::Obey => PrecisionConstraints::Obey,
                    ConstraintsArg::Prefer => PrecisionConstraints::Prefer,
                },
                lower: lower.to_vec(),
                input_shapes,
                calibration: backend_tensorrt::CalibrationSettings {
                    method: args.calibration,
                    cache: args.calibration_cache.clone(),
                },
                timing_cache: args.timing_cache.clone(),
                save_engines: args.save_engine.clone(),
                workspace_bytes: 0,
                layer_outputs: match args.layer_outputs {
                    LayerOutputsArg::Outputs => LayerOutputs::Outputs,
                    LayerOutputsArg::Debug => LayerOutputs::Debug,
                },
            };
            let backend = TensorRtBackend::open(&args.model, config)
                .with_context(|| format!("cannot open {} with TensorRT", args.model.display()))?;
            Ok(Opened::Tensorrt(Box::new(backend)))
        }
    }
}

/// Refuses a mock network whose simulated values need more memory than is available.
fn mock_fits(spec: &MockSpec, path: &Path) -> anyhow::Result<()> {
    let tensors = spec.inputs.len() + spec.layers.iter().map(|l| l.outputs.len()).sum::<usize>();
    let need = crate::memory::Need {
        what: format!(
            "{} values in {tensors} tensors of the inputs' shapes {}, {} bytes each",
            spec.element_count().unwrap_or(usize::MAX),
            spec.input_shapes(),
            backend_mock::BYTES_PER_ELEMENT
        ),
        bytes: spec.memory_bytes().unwrap_or(u64::MAX),
    };
    crate::memory::ensure_fits(
        &format!("the shapes of mock network {}", path.display()),
        &[need],
        1,
        "use smaller input shapes",
    )
}

/// The `--providers`, `--device-ids`, `--tf32`, `--cudnn-algo` and `--trt-engine-cache`
/// settings, refusing those that do not apply to the providers asked for.
pub fn execution_settings(args: &ModelArgs) -> anyhow::Result<ExecutionSettings> {
    let providers = parse_providers(&args.providers)?;
    let mut settings = ExecutionSettings {
        providers,
        tf32: args.tf32,
        cudnn_algo: args.cudnn_algo,
        trt_engine_cache: args.trt_engine_cache.clone(),
        ..ExecutionSettings::default()
    };
    let gpu = settings.uses_gpu();
    if !gpu && (args.tf32 || args.cudnn_algo != CudnnAlgo::default() || !args.device_ids.is_empty())
    {
        bail!("--tf32, --cudnn-algo and --device-ids apply to GPU providers: add --providers cuda");
    }
    let tensorrt = settings.providers.iter().any(|p| p.kind == ProviderKind::Tensorrt);
    if args.trt_engine_cache.is_some() && !tensorrt {
        bail!("--trt-engine-cache applies to the TensorRT provider: add --providers tensorrt");
    }
    if !args.device_ids.is_empty() {
        if let Some(p) = settings.providers.iter().find(|p| p.device.is_some()) {
            bail!(
                "--device-ids and a provider with its own device ({p}) do not go together: \
                 give the devices one way"
            );
        }
        settings.device_ids = parse_device_ids(&args.device_ids)?;
    }
    Ok(settings)
}

/// Refuses serialized TensorRT engines, whatever the backend: they cannot be modified.
fn refuse_engine(model: &Path) -> anyhow::Result<()> {
    if let Some("engine" | "plan" | "trt") = model.extension().and_then(|e| e.to_str()) {
        bail!(
            "{} looks like a serialized TensorRT engine; engines cannot be modified, so their \
             precision cannot be searched: give the ONNX model instead",
            model.display()
        );
    }
    Ok(())
}

fn infer_kind(model: &Path) -> anyhow::Result<BackendKind> {
    match model.extension().and_then(|e| e.to_str()) {
        Some("toml") => Ok(BackendKind::Mock),
        Some("onnx") => Ok(BackendKind::Onnxrt),
        _ => bail!(
            "cannot tell the backend for {}: give an ONNX model (.onnx) or a mock network \
             (.toml), or choose with --backend onnxrt|mock",
            model.display()
        ),
    }
}
