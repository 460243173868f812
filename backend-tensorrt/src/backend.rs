//! The TensorRT backend: each check builds an engine for the plan and runs it.
//!
//! - Weakly typed (TensorRT <= 10, Polygraphy's method): the original ONNX model is parsed
//!   once; its layers are TensorRT's network layers. A check resets every layer's precision,
//!   pins the marked ones to the higher precision, and builds with `kINT8`/`kFP16` and
//!   `kOBEY_PRECISION_CONSTRAINTS` (or prefer); INT8 is calibrated through a calibrator that
//!   streams the search's inputs, or from the calibration cache.
//! - Strongly typed (TensorRT 10 with `kSTRONGLY_TYPED`, the only mode on 11): a check builds
//!   the ONNX model that precision-onnx rewrote for the plan (Q/DQ for INT8, Casts for FP16);
//!   its layers are ONNX nodes, as on the CPU backend.
//!
//! After every build the engine inspector's layer information is read, and marked layers
//! that did not run in the higher precision are reported as plan deviations.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use precision_core::calibration::{CalibrationCache, CalibrationMethod};
use precision_core::{
    AnswerIdentity, Backend, BackendError, Capabilities, DType, Engine, Layer, NamedTensors,
    Network, OutputSelection, Precision, PrecisionPlan, TensorInfo, check_plan_fits,
};
use precision_onnx::expose::Fetch;
use precision_onnx::model::write_atomically;
use precision_onnx::rewrite::{self, int8_activation_fetches};
pub use precision_onnx::scales::CalibrationSettings;
use precision_onnx::scales::{self, Visit};
use precision_onnx::{
    ActivationScales, Bf16Mode, InputShapes, LayerTable, OnnxModel, RewriteOptions, WeightCache,
};
use precision_onnx::{check_model, identity};
use tensorrt_sys::shim::{
    PTRT_CALIBRATION_ENTROPY2, PTRT_CALIBRATION_LEGACY, PTRT_CALIBRATION_MINMAX,
};

use crate::api::Api;
use crate::error::TrtError;
use crate::inspect;
use crate::network::{
    Blob, BuildSettings, Calibrator, LayerDesc, PrecisionConstraints, TrtDType, TrtNetwork,
};
use crate::refused;
use crate::rules;
use crate::runtime::{CudaEngine, DeviceBuffer, Runner, Stream};

/// How the network's precision is expressed (`--typing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// Per-layer precision hints on TensorRT's layers (TensorRT <= 10).
    Weak,
    /// Precision written into the ONNX graph (TensorRT 10 and 11).
    Strong,
}

/// How every-layer outputs are read back in weakly typed mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerOutputs {
    /// Mark them as network outputs (Polygraphy's way; extra outputs can break fusions).
    #[default]
    Outputs,
    /// Mark them as debug tensors (TensorRT >= 10): read during the run, fusions untouched.
    Debug,
}

/// Settings of the backend.
#[derive(Debug, Clone, Default)]
pub struct TensorRtConfig {
    /// `--typing` (`None`: strong on TensorRT 11, weak on 10).
    pub typing: Option<Typing>,
    /// `--precision-constraints`.
    pub constraints: PrecisionConstraints,
    /// The precisions a search lowers to.
    pub lower: Vec<Precision>,
    /// Shapes for dynamic inputs (`--input-shapes`; other dynamic dimensions become 1).
    pub input_shapes: InputShapes,
    /// INT8 calibration.
    pub calibration: CalibrationSettings,
    /// `--timing-cache`: read at the start when it exists, written after every build.
    pub timing_cache: Option<PathBuf>,
    /// `--save-engine`: a folder where every built engine is kept.
    pub save_engines: Option<PathBuf>,
    /// Builder workspace limit in bytes (0: TensorRT's default).
    pub workspace_bytes: u64,
    /// How every-layer outputs are read (weak typing).
    pub layer_outputs: LayerOutputs,
}

/// A model built and run by TensorRT.
pub struct TensorRtBackend {
    api: &'static Api,
    typing: Typing,
    config: TensorRtConfig,
    path: PathBuf,
    model: OnnxModel,
    network: Network,
    shapes: Vec<(String, Vec<i64>)>,
    /// Weak typing: the parsed network, its layers, and the precisions the model set itself.
    weak: Option<WeakState>,
    /// Strong typing: the ONNX layer table and the INT8 scales.
    table: LayerTable,
    scales: Option<ActivationScales>,
    weights: WeightCache,
    /// Weak INT8: the inputs the calibrator streams, and the cache once there is one.
    calibration_inputs: Vec<NamedTensors>,
    calibration_cache: Option<Vec<u8>>,
    timing_cache: Option<Vec<u8>>,
    builds: usize,
    /// Numbers saved engines across this backend and its copies.
    engines_saved: Arc<AtomicUsize>,
    /// Whether a check command wants engine files ([`Backend::keep_latest_engine`]).
    keep_latest_engine: bool,
    /// The latest engine built for the network outputs and its plan, while kept.
    latest_engine: Option<(PrecisionPlan, Vec<u8>)>,
}

struct WeakState {
    trt: TrtNetwork,
    layers: Vec<LayerDesc>,
    original: HashMap<usize, TrtDType>,
}

impl TensorRtBackend {
    /// Opens `path` with the real TensorRT: fails with "TensorRT was not found when this
    /// binary was built ..." when this build has none.
    pub fn open(path: &Path, config: TensorRtConfig) -> Result<Self, TrtError> {
        Self::open_with(Api::linked()?, path, config)
    }

    /// Opens `path` through `api` (the real shim, or a test's fake).
    pub fn open_with(
        api: &'static Api,
        path: &Path,
        config: TensorRtConfig,
    ) -> Result<Self, TrtError> {
        let (_, loaded) = api.versions();
        let major = loaded / 10000;
        let typing = match config.typing {
            Some(Typing::Weak) if major >= 11 => {
                return Err(TrtError::Unsupported(format!(
                    "TensorRT {} builds only strongly typed networks: drop --typing weak (precision \
                     is then written into the ONNX graph)",
                    version_text(loaded)
                )));
            }
            Some(t) => t,
            None if major >= 11 => Typing::Strong,
            None => Typing::Weak,
        };
        api.require_device()?;
        let bytes = std::fs::read(path).map_err(|e| {
            TrtError::InvalidArgument(format!("cannot read {}: {e}", path.display()))
        })?;
        let model = OnnxModel::load(path).map_err(|e| TrtError::InvalidArgument(e.to_string()))?;
        let table = LayerTable::build(&model);
        let name = path
            .file_name()
            .map_or_else(|| "model".to_owned(), |n| n.to_string_lossy().into_owned());
        let timing_cache = match &config.timing_cache {
            Some(p) if p.exists() => Some(std::fs::read(p).map_err(|e| {
                TrtError::InvalidArgument(format!("cannot read timing cache {}: {e}", p.display()))
            })?),
            _ => None,
        };
        let (network, weak, shapes) = match typing {
            Typing::Weak => {
                let trt = TrtNetwork::from_onnx(api, &bytes, Some(path), false)?;
                let layers = trt.layers()?;
                let original =
                    layers.iter().filter_map(|l| l.precision.map(|p| (l.index, p))).collect();
                let inputs = trt.inputs()?;
                let shapes = fixed_shapes(&inputs, &config.input_shapes)?;
                let network = weak_network(&name, &layers, &inputs, &trt.outputs()?, &shapes);
                (network, Some(WeakState { trt, layers, original }), shapes)
            }
            Typing::Strong => {
                // Parse once now: a model the parser rejects is bad input, reported before
                // any search starts.
                let trt = TrtNetwork::from_onnx(api, &bytes, Some(path), true)?;
                let inputs = trt.inputs()?;
                let shapes = fixed_shapes(&inputs, &config.input_shapes)?;
                let mut shaped = model.clone();
                shaped
                    .set_input_shapes(&config.input_shapes)
                    .map_err(|e| TrtError::InvalidArgument(e.to_string()))?;
                let network = table.network(
                    &name,
                    shaped.input_infos_lenient(),
                    model.output_names(),
                    &config.lower,
                );
                (network, None, shapes)
            }
        };
        Ok(TensorRtBackend {
            api,
            typing,
            config,
            path: path.to_owned(),
            model,
            network,
            shapes,
            weak,
            table,
            scales: None,
            weights: WeightCache::default(),
            calibration_inputs: Vec::new(),
            calibration_cache: None,
            timing_cache,
            builds: 0,
            engines_saved: Arc::new(AtomicUsize::new(0)),
            keep_latest_engine: false,
            latest_engine: None,
        })
    }

    /// The typing in use.
    #[must_use]
    pub fn typing(&self) -> Typing {
        self.typing
    }

    /// How many engines were built so far.
    #[must_use]
    pub fn builds(&self) -> usize {
        self.builds
    }

    /// The TensorRT version in use, as text (`10.16.0`).
    #[must_use]
    pub fn version(&self) -> String {
        version_text(self.api.versions().1)
    }

    /// Weak typing: the calibration cache TensorRT wrote or was given, once there is one.
    #[must_use]
    pub fn calibration_cache(&self) -> Option<&[u8]> {
        self.calibration_cache.as_deref()
    }

    fn build_weak(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<(Blob, Vec<String>), BackendError> {
        let higher = TrtDType::for_precision(plan.higher).ok_or_else(|| {
            BackendError::Unsupported(format!(
                "layers can be kept in float32, float16 or bfloat16 on TensorRT, not {}",
                plan.higher
            ))
        })?;
        if plan.lower.contains(&Precision::Fp8) {
            return Err(BackendError::Unsupported(
                "FP8 needs explicit quantization: use --typing strong with --int8/--fp16 instead"
                    .into(),
            ));
        }
        let int8 = plan.lower.contains(&Precision::Int8);
        let mut calibrator = if int8 {
            Some(StreamingCalibrator::new(
                self.api,
                self.config.calibration.method,
                &self.calibration_inputs,
                self.calibration_cache.as_deref(),
            )?)
        } else {
            None
        };
        let state = self.weak.as_mut().expect("weak typing has a network");
        for layer in &state.layers {
            match state.original.get(&layer.index) {
                Some(p) => state.trt.set_precision(layer.index, *p)?,
                None => state.trt.reset_precision(layer.index)?,
            }
        }
        let mut marked = Vec::new();
        for i in plan.marked.iter().filter(|i| self.network.layers[*i].is_markable()) {
            state.trt.set_precision(i, higher)?;
            marked.push(state.layers[i].name.clone());
        }
        let settings = BuildSettings {
            fp16: plan.lower.contains(&Precision::Float16) || plan.higher == Precision::Float16,
            int8,
            bf16: plan.lower.contains(&Precision::BFloat16) || plan.higher == Precision::BFloat16,
            constraints: (!marked.is_empty()).then_some(self.config.constraints),
            workspace_bytes: self.config.workspace_bytes,
            timing_cache: self.timing_cache.as_deref(),
            input_shapes: &self.shapes,
        };
        let extra = match outputs {
            OutputSelection::NetworkOutputs => Vec::new(),
            OutputSelection::EveryLayer => rules::readable_outputs(&state.layers),
            OutputSelection::Isolated => {
                return Err(BackendError::Unsupported(
                    "the TensorRT backend cannot isolate layers; use the CPU backend for ranked"
                        .into(),
                ));
            }
        };
        let debug = self.config.layer_outputs == LayerOutputs::Debug;
        let mut marking = Ok(());
        for &(l, o) in &extra {
            marking = if debug { state.trt.mark_debug(l, o) } else { state.trt.mark_output(l, o) };
            if marking.is_err() {
                break;
            }
        }
        let built = marking.and_then(|()| {
            state.trt.build(&settings, calibrator.as_mut().map(|c| c as &mut dyn Calibrator))
        });
        for &(l, o) in &extra {
            // Undo every mark whatever happened, so the next check starts from the model.
            let _ =
                if debug { state.trt.unmark_debug(l, o) } else { state.trt.unmark_output(l, o) };
        }
        if let Some(c) = calibrator {
            if let Some(e) = c.error {
                return Err(e.into());
            }
            if let Some(cache) = c.written {
                self.store_calibration_cache(cache)?;
            }
        }
        let built = built.map_err(|e| build_error(e, &self.network))?;
        if let Some(t) = built.timing_cache {
            self.store_timing_cache(t.bytes().to_vec())?;
        }
        Ok((built.engine, marked))
    }

    fn build_strong(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<(Blob, Vec<String>), BackendError> {
        let precisions = rewrite::layer_precisions(&self.table, &self.network, plan)
            .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        let extra = match outputs {
            OutputSelection::NetworkOutputs => Vec::new(),
            OutputSelection::EveryLayer => self.every_layer_fetches(),
            OutputSelection::Isolated => {
                return Err(BackendError::Unsupported(
                    "the TensorRT backend cannot isolate layers; use the CPU backend for ranked"
                        .into(),
                ));
            }
        };
        let model = self.rewritten(&precisions, &extra)?;
        let bytes = model.to_bytes().map_err(|e| BackendError::Build(e.to_string()))?;
        let mut trt = TrtNetwork::from_onnx(self.api, &bytes, Some(&self.path), true)?;
        let settings = BuildSettings {
            workspace_bytes: self.config.workspace_bytes,
            timing_cache: self.timing_cache.as_deref(),
            input_shapes: &self.shapes,
            ..BuildSettings::default()
        };
        let built = trt.build(&settings, None).map_err(|e| build_error(e, &self.network))?;
        if let Some(t) = built.timing_cache {
            self.store_timing_cache(t.bytes().to_vec())?;
        }
        let marked = plan
            .marked
            .iter()
            .filter(|i| self.network.layers[*i].is_markable())
            .filter(|i| precisions[*i] == plan.higher)
            .map(|i| self.network.layers[i].name.clone())
            .collect();
        Ok((built.engine, marked))
    }

    fn rewritten(
        &mut self,
        precisions: &[Precision],
        extra: &[Fetch],
    ) -> Result<OnnxModel, BackendError> {
        check_model::rewritten(
            &self.model,
            &self.table,
            precisions,
            self.scales.as_ref(),
            extra,
            RewriteOptions { bf16: Bf16Mode::Native, ..RewriteOptions::default() },
            &mut self.weights,
        )
    }

    /// Strong typing: the every-layer outputs of the main graph (TensorRT cannot mark
    /// tensors inside loops or conditionals).
    fn every_layer_fetches(&self) -> Vec<Fetch> {
        let mut fetches = self.table.every_layer_fetches(&self.model);
        fetches.retain(|f| f.graph.is_empty());
        fetches
    }

    fn store_calibration_cache(&mut self, cache: Vec<u8>) -> Result<(), BackendError> {
        if let Some(path) = &self.config.calibration.cache {
            scales::write_cache_bytes(path, &cache)?;
        }
        self.calibration_cache = Some(cache);
        Ok(())
    }

    fn store_timing_cache(&mut self, cache: Vec<u8>) -> Result<(), BackendError> {
        if let Some(path) = &self.config.timing_cache {
            write_atomically(path, &cache).map_err(|e| {
                BackendError::Input(format!("cannot write timing cache {}: {e}", path.display()))
            })?;
        }
        self.timing_cache = Some(cache);
        Ok(())
    }

    /// Reads and checks the calibration cache file, if one is configured and exists: it must
    /// parse, be of the configured algorithm, and come from the TensorRT in use.
    fn read_calibration_cache(&self) -> Result<Option<CalibrationCache>, BackendError> {
        let Some(cache) = scales::existing_cache(&self.config.calibration)? else {
            return Ok(None);
        };
        let path = self.config.calibration.cache.as_deref().expect("a cache was read");
        let loaded = self.api.versions().1;
        if i64::from(cache.trt_version) != i64::from(loaded) {
            return Err(BackendError::Input(format!(
                "calibration cache {} was written by TensorRT {} (header TRT-{}-{}), but this is \
                 TensorRT {}: TensorRT would not use it; delete it to calibrate again",
                path.display(),
                version_text(i32::try_from(cache.trt_version).unwrap_or(0)),
                cache.trt_version,
                cache.algorithm,
                version_text(loaded)
            )));
        }
        Ok(Some(cache))
    }

    /// Strong typing: INT8 scales by the shared calibration flow, the float32 network run on
    /// `inputs` (once, its outputs kept for a second pass) with every quantized tensor exposed.
    fn calibrate_strong(&mut self, inputs: &[NamedTensors]) -> Result<String, BackendError> {
        let fetches: Vec<Fetch> = int8_activation_fetches(&self.model, &self.table)
            .into_iter()
            .filter(|f| f.graph.is_empty())
            .collect();
        let tensors: Vec<String> = fetches.iter().map(|f| f.tensor.clone()).collect();
        let cached = self.read_calibration_cache()?;
        let settings = self.config.calibration.clone();
        let version = u32::try_from(self.api.versions().1).unwrap_or(0);
        let names: HashMap<&str, &str> =
            fetches.iter().map(|f| (f.output.as_str(), f.tensor.as_str())).collect();
        let mut outputs: Option<Vec<NamedTensors>> = None;
        let pass = |visit: &mut Visit<'_>| {
            let outputs = match &mut outputs {
                Some(kept) => kept,
                None => outputs.insert(self.float32_outputs(&fetches, inputs)?),
            };
            for (name, tensor) in outputs.iter().flatten() {
                visit(names.get(name.as_str()).copied().unwrap_or(name.as_str()), tensor)?;
            }
            Ok(())
        };
        let calibration =
            scales::calibrate(&settings, cached, &tensors, inputs, Some(version), pass)?;
        self.scales = Some(calibration.scales);
        Ok(calibration.message)
    }

    /// Strong typing: the float32 network's outputs on `inputs`, `fetches` exposed.
    fn float32_outputs(
        &mut self,
        fetches: &[Fetch],
        inputs: &[NamedTensors],
    ) -> Result<Vec<NamedTensors>, BackendError> {
        let float32 = vec![Precision::Float32; self.table.layers.len()];
        let model = self.rewritten(&float32, fetches)?;
        let bytes = model.to_bytes().map_err(|e| BackendError::Build(e.to_string()))?;
        let mut trt = TrtNetwork::from_onnx(self.api, &bytes, Some(&self.path), true)?;
        let settings = BuildSettings {
            workspace_bytes: self.config.workspace_bytes,
            input_shapes: &self.shapes,
            ..BuildSettings::default()
        };
        let built = trt.build(&settings, None).map_err(|e| {
            BackendError::Unsupported(format!("calibration: the float32 engine did not build: {e}"))
        })?;
        let mut runner =
            Runner::new(CudaEngine::deserialize(self.api, built.engine.bytes())?, false)?;
        let mut outputs = Vec::with_capacity(inputs.len());
        for feed in inputs {
            outputs.push(runner.run(feed)?);
        }
        Ok(outputs)
    }
}

/// A plan's build error: TensorRT's build failures that name layers without an implementation
/// in their precision are [`BackendError::Refused`] with those layers of `network`
/// ([`refused`]).
fn build_error(error: TrtError, network: &Network) -> BackendError {
    match error {
        TrtError::Build(message) => refused::build_failure(message, network),
        other => other.into(),
    }
}

impl Backend for TensorRtBackend {
    type Engine = TrtEngine;

    fn name(&self) -> &'static str {
        "tensorrt"
    }

    fn network(&self) -> &Network {
        &self.network
    }

    fn capabilities(&self) -> Capabilities {
        // Weakly typed: precision hints; strongly typed: the ONNX rewrite (no FP8 in either).
        let precisions =
            vec![Precision::Float32, Precision::Float16, Precision::BFloat16, Precision::Int8];
        Capabilities {
            precisions,
            every_layer_output: true,
            isolated_layer_output: false,
            // Marking layer outputs as network outputs stops fusions and changes tactics.
            layer_outputs_change_results: true,
        }
    }

    /// The model as loaded (a digest; external data included), the typing, how precision
    /// hints bind, how every-layer outputs are read (marking them as outputs can change
    /// fusions, so answers), the input shapes, the workspace limit, the TensorRT versions
    /// (compiled against and loaded), this crate's version (the rewrite and marking rules) and
    /// with INT8 the calibration method and cache. The timing cache is left out: it grows
    /// with every build of a search, and TensorRT's tactic timing differs between builds
    /// anyway; the GPU model is not known to the shim and is left out too.
    fn answer_identity(&self) -> Result<AnswerIdentity, BackendError> {
        let model = identity::model_digest(&self.model)
            .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        let (compiled, loaded) = self.api.versions();
        let shapes = identity::shapes_of(
            self.shapes.iter().map(|(name, dims)| (name.as_str(), dims.as_slice())),
        );
        let mut id = AnswerIdentity::new()
            .with("model sha256", model)
            .with("typing", format!("{:?}", self.typing))
            .with("precision constraints", format!("{:?}", self.config.constraints))
            .with("layer outputs", format!("{:?}", self.config.layer_outputs))
            .with("input shapes", shapes)
            .with("workspace bytes", self.config.workspace_bytes.to_le_bytes())
            .with("tensorrt", format!("{compiled} {loaded}"))
            .with("rules", concat!("backend-tensorrt ", env!("CARGO_PKG_VERSION")));
        identity::push_calibration(&mut id, &self.config.lower, &self.config.calibration)?;
        Ok(id)
    }

    fn build(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<TrtEngine, BackendError> {
        check_plan_fits(&self.network, plan)?;
        let (engine_blob, marked) = match self.typing {
            Typing::Weak => self.build_weak(plan, outputs)?,
            Typing::Strong => self.build_strong(plan, outputs)?,
        };
        self.builds += 1;
        let bytes = engine_blob.bytes();
        if let Some(dir) = &self.config.save_engines {
            std::fs::create_dir_all(dir).map_err(|e| {
                BackendError::Input(format!("cannot create engine folder {}: {e}", dir.display()))
            })?;
            let n = self.engines_saved.fetch_add(1, Ordering::Relaxed) + 1;
            let path = dir.join(format!("check-{n:04}.engine"));
            write_atomically(&path, bytes).map_err(|e| {
                BackendError::Input(format!("cannot write engine {}: {e}", path.display()))
            })?;
        }
        if self.keep_latest_engine && outputs == OutputSelection::NetworkOutputs {
            self.latest_engine = Some((plan.clone(), bytes.to_vec()));
        }
        let engine = CudaEngine::deserialize(self.api, bytes)?;
        let deviations = if marked.is_empty() {
            Vec::new()
        } else {
            match engine
                .layer_information()
                .map_err(|e| e.to_string())
                .and_then(|json| inspect::engine_layers(&json))
            {
                Ok(layers) => inspect::deviations(&layers, &marked, plan.higher),
                Err(e) => {
                    vec![format!("the engine inspector's layer information could not be read: {e}")]
                }
            }
        };
        let debug = self.typing == Typing::Weak
            && self.config.layer_outputs == LayerOutputs::Debug
            && outputs == OutputSelection::EveryLayer;
        Ok(TrtEngine { runner: Runner::new(engine, debug)?, deviations })
    }

    fn calibrate(&mut self, inputs: &[NamedTensors]) -> Result<Option<String>, BackendError> {
        match self.typing {
            Typing::Strong => self.calibrate_strong(inputs).map(Some),
            Typing::Weak => {
                if let Some(cache) = self.read_calibration_cache()? {
                    self.calibration_cache = Some(cache.to_text().into_bytes());
                    return Ok(Some(format!(
                        "TensorRT reads the INT8 scales of {} tensors from the calibration cache ({})",
                        cache.scales.len(),
                        cache.algorithm
                    )));
                }
                scales::check_inputs(inputs)?;
                self.calibration_inputs = inputs.to_vec();
                Ok(Some(format!(
                    "TensorRT calibrates ({}) on {} input iteration(s) at the first INT8 build",
                    self.config.calibration.method,
                    inputs.len()
                )))
            }
        }
    }

    /// A copy with its own TensorRT network (or rewrite state), the same settings, calibration
    /// and timing cache, for parallel checks (`--jobs`): TensorRT builders are independent, so
    /// copies build at once on the same GPU.
    fn try_clone(&self, threads: usize) -> Result<Option<Self>, BackendError> {
        let _ = threads;
        let mut config = self.config.clone();
        config.typing = Some(self.typing);
        let mut copy = Self::open_with(self.api, &self.path, config)?;
        copy.scales.clone_from(&self.scales);
        copy.weights = self.weights.clone();
        copy.calibration_inputs.clone_from(&self.calibration_inputs);
        copy.calibration_cache.clone_from(&self.calibration_cache);
        copy.timing_cache.clone_from(&self.timing_cache);
        copy.engines_saved = Arc::clone(&self.engines_saved);
        copy.keep_latest_engine = self.keep_latest_engine;
        Ok(Some(copy))
    }

    fn engine_files(&self) -> bool {
        true
    }

    fn keep_latest_engine(&mut self) {
        self.keep_latest_engine = true;
    }

    /// The kept engine when it is `plan`'s (handed over once), else with `may_build` a new
    /// build for the network outputs, serialized as TensorRT wrote it.
    fn export_engine(
        &mut self,
        plan: &PrecisionPlan,
        may_build: bool,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        if self.latest_engine.as_ref().is_some_and(|(kept, _)| kept == plan) {
            return Ok(self.latest_engine.take().map(|(_, bytes)| bytes));
        }
        if !may_build {
            return Ok(None);
        }
        let (blob, _) = match self.typing {
            Typing::Weak => self.build_weak(plan, OutputSelection::NetworkOutputs)?,
            Typing::Strong => self.build_strong(plan, OutputSelection::NetworkOutputs)?,
        };
        self.builds += 1;
        Ok(Some(blob.bytes().to_vec()))
    }

    fn export_model(&self, plan: &PrecisionPlan) -> Result<Vec<u8>, BackendError> {
        if self.typing == Typing::Weak {
            return Err(BackendError::Unsupported(
                "weakly typed TensorRT plans are precision hints, not a model: use --typing strong \
                 (or the CPU backend) to save the rewritten ONNX model, or apply the printed \
                 trtexec flags"
                    .into(),
            ));
        }
        let precisions = rewrite::layer_precisions(&self.table, &self.network, plan)
            .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        // An uncalibrated INT8 export is refused, as on the CPU backend (no empty scales).
        let model = check_model::rewritten(
            &self.model,
            &self.table,
            &precisions,
            self.scales.as_ref(),
            &[],
            RewriteOptions { bf16: Bf16Mode::Native, ..RewriteOptions::default() },
            &mut WeightCache::default(),
        )?;
        model.to_bytes().map_err(|e| BackendError::Unsupported(e.to_string()))
    }
}

/// A built engine, ready to run.
pub struct TrtEngine {
    runner: Runner,
    deviations: Vec<String>,
}

impl Engine for TrtEngine {
    fn infer(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, BackendError> {
        Ok(self.runner.run(inputs)?)
    }

    fn plan_deviations(&self) -> Vec<String> {
        self.deviations.clone()
    }
}

/// Streams the search's inputs to TensorRT's calibrator, one iteration per batch.
struct StreamingCalibrator<'a> {
    api: &'static Api,
    algorithm: i32,
    inputs: &'a [NamedTensors],
    next: usize,
    buffers: Vec<DeviceBuffer>,
    cache: Option<&'a [u8]>,
    written: Option<Vec<u8>>,
    error: Option<TrtError>,
}

impl<'a> StreamingCalibrator<'a> {
    /// A calibrator streaming `inputs`, or handing TensorRT `cache` once there is one.
    fn new(
        api: &'static Api,
        method: CalibrationMethod,
        inputs: &'a [NamedTensors],
        cache: Option<&'a [u8]>,
    ) -> Result<Self, BackendError> {
        if cache.is_none() && inputs.is_empty() {
            return Err(BackendError::Unsupported(
                "INT8 needs calibration first (the search calibrates before its first INT8 build)"
                    .into(),
            ));
        }
        let algorithm = match method {
            CalibrationMethod::Entropy => PTRT_CALIBRATION_ENTROPY2,
            CalibrationMethod::Max => PTRT_CALIBRATION_MINMAX,
            CalibrationMethod::Percentile(_) => PTRT_CALIBRATION_LEGACY,
        };
        Ok(StreamingCalibrator {
            api,
            algorithm: i32::try_from(algorithm).expect("small"),
            inputs,
            next: 0,
            buffers: Vec::new(),
            cache,
            written: None,
            error: None,
        })
    }
}

impl Calibrator for StreamingCalibrator<'_> {
    fn algorithm(&self) -> i32 {
        self.algorithm
    }

    fn batch_size(&self) -> i32 {
        // Networks from ONNX have explicit batch dimensions: each batch is one input
        // iteration whatever its leading dimension, as in Polygraphy's calibrator.
        1
    }

    fn next_batch(&mut self, names: &[String]) -> Option<Vec<*mut c_void>> {
        let feed = self.inputs.get(self.next)?;
        self.next += 1;
        let result = (|| -> Result<Vec<*mut c_void>, TrtError> {
            let stream = Stream::new(self.api)?;
            let mut buffers = Vec::new();
            let mut uploads = Vec::new();
            for name in names {
                let tensor = feed.get(name).ok_or_else(|| {
                    TrtError::InvalidArgument(format!("calibration: no value for input {name}"))
                })?;
                let values: Vec<u8> =
                    tensor.to_f64_vec().iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
                let buffer = DeviceBuffer::new(self.api, values.len())?;
                buffer.upload(&values, &stream)?;
                buffers.push(buffer);
                uploads.push(values);
            }
            stream.synchronize()?;
            let pointers = buffers.iter().map(DeviceBuffer::as_ptr).collect();
            self.buffers = buffers;
            Ok(pointers)
        })();
        match result {
            Ok(p) => Some(p),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    fn read_cache(&mut self) -> Option<&[u8]> {
        self.cache
    }

    fn write_cache(&mut self, cache: &[u8]) {
        self.written = Some(cache.to_vec());
    }
}

/// The network of a weakly typed backend: TensorRT's layers, markable by Polygraphy's rule.
fn weak_network(
    name: &str,
    layers: &[LayerDesc],
    inputs: &[crate::network::TensorDesc],
    outputs: &[crate::network::TensorDesc],
    shapes: &[(String, Vec<i64>)],
) -> Network {
    let tensor_names = |list: &[crate::network::TensorDesc]| -> Vec<String> {
        list.iter().filter_map(|t| t.name.clone()).collect()
    };
    let fixed: HashMap<&str, &Vec<i64>> = shapes.iter().map(|(n, d)| (n.as_str(), d)).collect();
    Network {
        name: name.to_owned(),
        inputs: inputs
            .iter()
            .filter_map(|t| {
                let n = t.name.clone()?;
                let dims = fixed.get(n.as_str()).map_or(&t.dims, |d| *d);
                Some(TensorInfo {
                    dtype: t.dtype.host().unwrap_or(DType::F32),
                    shape: dims.iter().map(|d| usize::try_from(*d).ok()).collect(),
                    name: n,
                })
            })
            .collect(),
        layers: layers
            .iter()
            .map(|l| {
                let mut layer = Layer::new(
                    l.index,
                    l.name.clone(),
                    l.type_name.clone(),
                    tensor_names(&l.inputs),
                    tensor_names(&l.outputs),
                );
                layer.unmarkable_reason = rules::unmarkable_reason(l);
                layer
            })
            .collect(),
        outputs: tensor_names(outputs),
    }
}

/// The fixed shape of every network input: the given shape, or the declared one with dynamic
/// dimensions set to 1 (as Polygraphy does).
fn fixed_shapes(
    inputs: &[crate::network::TensorDesc],
    given: &InputShapes,
) -> Result<Vec<(String, Vec<i64>)>, TrtError> {
    for name in given.0.keys() {
        if !inputs.iter().any(|t| t.name.as_deref() == Some(name.as_str())) {
            return Err(TrtError::InvalidArgument(format!(
                "--input-shapes names {name}, which is not a network input"
            )));
        }
    }
    Ok(inputs
        .iter()
        .filter_map(|t| {
            let name = t.name.clone()?;
            let dims =
                given.0.get(&name).cloned().unwrap_or_else(|| {
                    t.dims.iter().map(|d| if *d < 0 { 1 } else { *d }).collect()
                });
            Some((name, dims))
        })
        .collect())
}

/// `101600` as `10.16.0`.
fn version_text(v: i32) -> String {
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}
