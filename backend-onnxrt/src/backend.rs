//! The ONNX Runtime backend: each check rewrites the model for the plan, creates a session
//! and runs it on CPU.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::environment::Environment;
use ort::logging::LogLevel;
use ort::session::Session;
use precision_core::{
    AnswerIdentity, Backend, BackendError, Capabilities, Engine, NamedTensors, Network,
    OutputSelection, Precision, PrecisionPlan,
};
use precision_onnx::expose::{Fetch, expose};
use precision_onnx::rewrite::{self, int8_activation_fetches, int8_activation_tensors};
use precision_onnx::scales::scales_for;
use precision_onnx::{
    ActivationScales, Bf16Mode, InputShapes, LayerTable, OnnxModel, RewriteOptions, WeightCache,
};
use precision_onnx::{check_model, identity, isolate};

use crate::calibrate::{Calibration, CalibrationSettings};
use crate::convert;
use crate::providers::{CudnnAlgo, ExecutionSettings, Placement, PlacementLog, shape_only_nodes};

/// Settings of the backend.
#[derive(Debug, Clone)]
pub struct OnnxrtConfig {
    /// The ONNX Runtime library (`--onnxrt-lib`); searched for when `None`.
    pub library: Option<PathBuf>,
    /// Shapes for dynamic inputs (`--input-shapes`).
    pub input_shapes: InputShapes,
    /// The precisions a search lowers to; decides which layers are markable.
    pub lower: Vec<Precision>,
    /// INT8 calibration.
    pub calibration: CalibrationSettings,
    /// Intra-op threads per session (`None`: ONNX Runtime's default, one per core).
    pub threads: Option<usize>,
    /// How many sessions to keep for plans that come back (0: a new session every build).
    pub keep_sessions: usize,
    /// How many bytes of models the kept sessions may hold together, each session counted by
    /// the size of the model it was created from (weights included); `None`: the size of the
    /// loaded model, so the kept sessions hold about one more copy of the weights at most.
    /// Sessions are dropped, least recently used first, before a new one is created.
    pub keep_bytes: Option<usize>,
    /// Where sessions run (`--providers`, TF32, cuDNN, TensorRT caches, devices).
    pub execution: ExecutionSettings,
}

impl Default for OnnxrtConfig {
    fn default() -> Self {
        OnnxrtConfig {
            library: None,
            input_shapes: InputShapes::default(),
            lower: Vec::new(),
            calibration: CalibrationSettings::default(),
            threads: None,
            keep_sessions: 8,
            keep_bytes: None,
            execution: ExecutionSettings::default(),
        }
    }
}

/// Why the backend cannot open a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The model does not load.
    #[error(transparent)]
    Model(#[from] precision_onnx::OnnxError),
    /// ONNX Runtime is missing or does not load.
    #[error("{0}")]
    Runtime(String),
}

/// The process-wide ONNX Runtime environment, loaded from the library once.
static ENVIRONMENT: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();

/// Loads ONNX Runtime (once per process) and returns its environment and library path.
pub fn environment(flag: Option<&Path>) -> Result<&'static (Environment, PathBuf), String> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = crate::library::find_library(flag).map_err(|e| e.to_string())?;
            crate::library::check_library(&path).map_err(|e| e.to_string())?;
            let builder = ort::init_from(&path).map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {}: {e}. Install a matching build with `pip \
                     install onnxruntime`, or set ORT_DYLIB_PATH to its libonnxruntime.so",
                    path.display()
                )
            })?;
            let env = builder
                .with_name("precision")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
            Ok((env, path))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A model run by ONNX Runtime on CPU.
pub struct OnnxrtBackend {
    /// The model, shared read-only with the copies made for `--jobs`.
    model: Arc<OnnxModel>,
    table: Arc<LayerTable>,
    network: Network,
    config: OnnxrtConfig,
    scales: Option<ActivationScales>,
    /// Weights converted by earlier checks (shared with copies, see [`WeightCache`]).
    weights: WeightCache,
    /// Recently used sessions, the most recent last, within [`OnnxrtConfig::keep_sessions`]
    /// and the byte budget.
    sessions: Vec<Cached>,
    /// The byte budget of the kept sessions ([`OnnxrtConfig::keep_bytes`]).
    keep_bytes: usize,
    sessions_created: usize,
    /// The GPU this copy runs on when `--device-ids` spreads copies over GPUs.
    device: Option<u32>,
    /// Where ONNX Runtime placed the nodes of the last session created, when recorded.
    placement: Option<Placement>,
}

/// What a session is created from.
struct SessionSource {
    /// The serialized model.
    bytes: Vec<u8>,
    /// The names of its shape-only nodes, when the node placement is checked.
    shape_only: Option<HashSet<String>>,
    /// cuDNN's algorithm search for the session ([`ExecutionSettings::cudnn_for`]).
    cudnn: CudnnAlgo,
}

/// A kept session: its key, the session, and the size of the model it was created from.
struct Cached {
    key: SessionKey,
    part: Part,
    bytes: usize,
}

/// A session's cache key: the layer precisions and what it returns. Under
/// [`OutputSelection::Isolated`] the key names the session of the isolated layers alone (the
/// plan's own outputs come from its [`OutputSelection::EveryLayer`] session).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionKey {
    /// The precision of each layer.
    precisions: Vec<Precision>,
    /// What the session returns.
    selection: OutputSelection,
    /// cuDNN's algorithm search it was made with (`--cudnn-algo auto` decides per session).
    cudnn: CudnnAlgo,
}

/// A session and the names of its outputs (a clone shares the session).
#[derive(Clone)]
struct Part {
    /// The session.
    session: Arc<Mutex<Session>>,
    /// The names of its outputs, in order.
    outputs: Vec<String>,
}

impl OnnxrtBackend {
    /// Opens `path` with `config`: loads ONNX Runtime and the model, lists the layers.
    pub fn open(path: &Path, config: OnnxrtConfig) -> Result<Self, OpenError> {
        let (_, library) = environment(config.library.as_deref()).map_err(OpenError::Runtime)?;
        crate::gpu::prepare(&config.execution, library)
            .map_err(|e| OpenError::Runtime(e.to_string()))?;
        let model = OnnxModel::load(path)?;
        model.check_ops()?;
        let mut backend = Self::with_model(model, path, config)?;
        // One float32 session up front: a model ONNX Runtime cannot load is bad input, to be
        // reported now, not a failed check in the middle of a search.
        let bytes = backend.model.to_bytes().map_err(|e| OpenError::Runtime(e.to_string()))?;
        // The default budget of kept sessions: the size of the model.
        backend.keep_bytes = backend.config.keep_bytes.unwrap_or(bytes.len());
        let shape_only =
            backend.config.execution.records_placement().then(|| shape_only_nodes(&backend.model));
        backend
            .session(SessionSource { bytes, shape_only, cudnn: backend.cudnn_for(&[]) })
            .map_err(|e| OpenError::Runtime(format!("ONNX Runtime cannot load the model: {e}")))?;
        Ok(backend)
    }

    fn with_model(model: OnnxModel, path: &Path, config: OnnxrtConfig) -> Result<Self, OpenError> {
        // The shapes only describe the inputs to feed: the model itself keeps its dynamic
        // dimensions, as Polygraphy's ONNX Runtime runner does, so that ONNX Runtime
        // optimizes (and computes) exactly as it does for `polygraphy run --onnxrt`.
        let mut shaped = model.clone();
        shaped.set_input_shapes(&config.input_shapes)?;
        let table = LayerTable::build(&model);
        let name = path
            .file_name()
            .map_or_else(|| "model".to_owned(), |n| n.to_string_lossy().into_owned());
        let network =
            table.network(&name, shaped.input_infos_lenient(), model.output_names(), &config.lower);
        let keep_bytes = config.keep_bytes.unwrap_or(usize::MAX);
        Ok(OnnxrtBackend {
            model: Arc::new(model),
            table: Arc::new(table),
            network,
            scales: None,
            weights: WeightCache::default(),
            sessions: Vec::new(),
            keep_bytes,
            sessions_created: 0,
            device: config.execution.take_device(),
            placement: None,
            config,
        })
    }

    /// The loaded model (as in the file, external data read in).
    #[must_use]
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// The layer table of the model.
    #[must_use]
    pub fn layers(&self) -> &LayerTable {
        &self.table
    }

    /// Where ONNX Runtime placed the nodes of the last session created (recorded for GPU
    /// providers, or with [`ExecutionSettings::record_placement`]).
    #[must_use]
    pub fn placement(&self) -> Option<&Placement> {
        self.placement.as_ref()
    }

    /// Where sessions run.
    #[must_use]
    pub fn execution(&self) -> &ExecutionSettings {
        &self.config.execution
    }

    /// The GPU this copy of the backend runs on, when `--device-ids` assigned one.
    #[must_use]
    pub fn device(&self) -> Option<u32> {
        self.device
    }

    /// How many sessions were created so far (each one an engine build).
    #[must_use]
    pub fn sessions_created(&self) -> usize {
        self.sessions_created
    }

    /// How many sessions are kept for plans that come back, and the bytes they count against
    /// the budget ([`OnnxrtConfig::keep_bytes`]).
    #[must_use]
    pub fn sessions_kept(&self) -> (usize, usize) {
        (self.sessions.len(), self.sessions.iter().map(|c| c.bytes).sum())
    }

    /// The byte budget of the kept sessions ([`OnnxrtConfig::keep_bytes`], or the model's
    /// size by default).
    #[must_use]
    pub fn session_budget(&self) -> usize {
        self.keep_bytes
    }

    /// The converted weights kept across checks (shared with copies made by `try_clone`).
    #[must_use]
    pub fn weight_cache(&self) -> &WeightCache {
        &self.weights
    }

    /// The INT8 activation scales in use, once calibrated.
    #[must_use]
    pub fn scales(&self) -> Option<&ActivationScales> {
        self.scales.as_ref()
    }

    /// Sets the INT8 activation scales directly (instead of calibrating).
    pub fn set_scales(&mut self, scales: ActivationScales) {
        self.scales = Some(scales);
        self.sessions.clear();
    }

    /// The model rewritten for `plan`, as written for other runtimes: bfloat16 layers hold
    /// real bfloat16 tensors (ONNX Runtime's CPU kernels run them emulated instead).
    pub fn export(&self, plan: &PrecisionPlan) -> Result<OnnxModel, BackendError> {
        let precisions = self.layer_precisions(plan)?;
        self.rewritten(&precisions, Bf16Mode::Native, &[], &mut WeightCache::default())
    }

    /// The precision of every layer under `plan`.
    fn layer_precisions(&self, plan: &PrecisionPlan) -> Result<Vec<Precision>, BackendError> {
        rewrite::layer_precisions(&self.table, &self.network, plan)
            .map_err(|e| BackendError::Unsupported(e.to_string()))
    }

    /// The model rewritten to `precisions` (one per layer), with `extra_outputs` fetchable.
    fn rewritten(
        &self,
        precisions: &[Precision],
        bf16: Bf16Mode,
        extra_outputs: &[Fetch],
        cache: &mut WeightCache,
    ) -> Result<OnnxModel, BackendError> {
        check_model::rewritten(
            &self.model,
            &self.table,
            precisions,
            self.scales.as_ref(),
            extra_outputs,
            RewriteOptions { bf16, upgrade_for_float16_kernels: self.config.execution.uses_gpu() },
            cache,
        )
    }

    /// Serializes `model` (already rewritten) and drops it, so that only the bytes are alive
    /// while ONNX Runtime creates the session. When the session's node placement is checked,
    /// also the names of the nodes that only compute shapes (allowed on CPU).
    /// `cudnn` is the session's algorithm search ([`Self::cudnn_for`]).
    fn model_bytes(
        &self,
        model: OnnxModel,
        cudnn: CudnnAlgo,
    ) -> Result<SessionSource, BackendError> {
        let bytes = model.to_bytes().map_err(|e| BackendError::Build(e.to_string()))?;
        let shape_only =
            self.config.execution.records_placement().then(|| shape_only_nodes(&model));
        drop(model);
        Ok(SessionSource { bytes, shape_only, cudnn })
    }

    /// cuDNN's algorithm search for a session of the layer `precisions` (empty: float32).
    fn cudnn_for(&self, precisions: &[Precision]) -> CudnnAlgo {
        self.config.execution.cudnn_for(precisions.contains(&Precision::Float16))
    }

    /// Creates a session from the bytes of a model (already rewritten); the bytes are freed as
    /// soon as the session exists.
    fn session(
        &mut self,
        SessionSource { bytes, shape_only, cudnn }: SessionSource,
    ) -> Result<(Session, Vec<String>), BackendError> {
        let (env, _) =
            environment(self.config.library.as_deref()).map_err(BackendError::Unsupported)?;
        let build_err =
            |e: ort::Error| crate::refused::session_error(&e.to_string(), &self.network);
        let mut builder = Session::builder(env).map_err(build_err)?;
        builder = builder.with_log_level(LogLevel::Error).map_err(|e| build_err(e.into()))?;
        if let Some(n) = self.config.threads {
            builder = builder.with_intra_threads(n).map_err(|e| build_err(e.into()))?;
        }
        let execution = &self.config.execution;
        let log = PlacementLog::default();
        builder = execution
            .configure(builder, self.device, &self.config.lower, cudnn, &log)
            .map_err(build_err)?;
        let session = builder.commit_from_memory(&bytes).map_err(build_err)?;
        drop(bytes);
        if let Some(shape_only) = shape_only {
            let placement = log.placement();
            // Never a GPU answer that ran on CPU: the session is refused as a failed build.
            placement.check_with(execution, &shape_only).map_err(BackendError::Build)?;
            self.placement = Some(placement);
        }
        self.sessions_created += 1;
        let outputs = session.outputs().iter().map(|o| o.name().to_owned()).collect();
        Ok((session, outputs))
    }

    /// The session for `precisions` and `selection` (see [`SessionKey`]), from the cache or
    /// newly created; `None` for the isolated part of a plan that isolates no layer.
    fn cached_part(
        &mut self,
        precisions: &[Precision],
        selection: OutputSelection,
    ) -> Result<Option<Part>, BackendError> {
        let cudnn = self.cudnn_for(precisions);
        if let Some(pos) = self.sessions.iter().position(|c| {
            c.key.precisions == precisions && c.key.selection == selection && c.key.cudnn == cudnn
        }) {
            let entry = self.sessions.remove(pos);
            let part = entry.part.clone();
            self.sessions.push(entry);
            return Ok(Some(part));
        }
        let mut cache = std::mem::take(&mut self.weights);
        let model = match selection {
            OutputSelection::NetworkOutputs => {
                self.rewritten(precisions, Bf16Mode::Emulated, &[], &mut cache).map(Some)
            }
            OutputSelection::EveryLayer => {
                let extra = self.table.every_layer_fetches(&self.model);
                self.rewritten(precisions, Bf16Mode::Emulated, &extra, &mut cache).map(Some)
            }
            OutputSelection::Isolated => self.isolated(precisions, &mut cache),
        };
        self.weights = cache;
        let Some(model) = model? else { return Ok(None) };
        let source = self.model_bytes(model, cudnn)?;
        let size = source.bytes.len();
        let keep = self.make_room(size);
        let (session, names) = self.session(source)?;
        let part = Part { session: Arc::new(Mutex::new(session)), outputs: names };
        if keep {
            let key = SessionKey { precisions: precisions.to_vec(), selection, cudnn };
            self.sessions.push(Cached { key, part: part.clone(), bytes: size });
        }
        Ok(Some(part))
    }

    /// Drops kept sessions, least recently used first, until a new session of a `size`-byte
    /// model fits both limits of the cache; returns whether the new one is to be kept. Making
    /// room before the session is created keeps the old ones from adding to the peak.
    fn make_room(&mut self, size: usize) -> bool {
        let keep = self.config.keep_sessions > 0 && size <= self.keep_bytes;
        let mut used: usize = self.sessions.iter().map(|c| c.bytes).sum();
        let limit = if keep { self.keep_bytes - size } else { 0 };
        let count = if keep { self.config.keep_sessions - 1 } else { 0 };
        while !self.sessions.is_empty() && (used > limit || self.sessions.len() > count) {
            used -= self.sessions.remove(0).bytes;
        }
        keep
    }

    /// The model of the markable top-level layers that `precisions` lowers, each run alone
    /// from float32 inputs; `None` when there is none.
    fn isolated(
        &self,
        precisions: &[Precision],
        cache: &mut WeightCache,
    ) -> Result<Option<OnnxModel>, BackendError> {
        let markable = self.network.layers.iter().filter(|l| l.is_markable()).map(|l| l.index);
        let layers = isolate::isolated_layers(&self.table, precisions, markable);
        if layers.is_empty() {
            return Ok(None);
        }
        let scales = scales_for(self.scales.as_ref(), precisions)?;
        let options = RewriteOptions {
            bf16: Bf16Mode::Emulated,
            upgrade_for_float16_kernels: self.config.execution.uses_gpu(),
        };
        isolate::isolated_model(
            &self.model,
            &self.table,
            precisions,
            layers,
            scales,
            options,
            cache,
        )
        .map_err(|e| BackendError::Unsupported(e.to_string()))
    }

    /// Runs the float32 model on every input, handing each fetched tensor to `visit` under its
    /// name in its own graph.
    pub(crate) fn run_float32_fetching<E: From<BackendError>>(
        &mut self,
        fetches: &[Fetch],
        inputs: &[NamedTensors],
        mut visit: impl FnMut(&str, &precision_core::Tensor) -> Result<(), E>,
    ) -> Result<(), E> {
        // Graph inputs are read from the feeds, not fetched as outputs.
        let is_input = |f: &Fetch| {
            f.graph.is_empty() && self.network.inputs.iter().any(|i| i.name == f.tensor)
        };
        let from_feed: Vec<&Fetch> = fetches.iter().filter(|f| is_input(f)).collect();
        let fetched: Vec<Fetch> = fetches.iter().filter(|f| !is_input(f)).cloned().collect();
        let tensor_of: HashMap<&str, &str> =
            fetched.iter().map(|f| (f.output.as_str(), f.tensor.as_str())).collect();
        let mut model = self.model.as_ref().clone();
        expose(&mut model, &fetched).map_err(|e| BackendError::Unsupported(e.to_string()))?;
        let (session, names) = self.session(self.model_bytes(model, self.cudnn_for(&[]))?)?;
        let mut engine = OnnxrtEngine {
            parts: vec![Part { session: Arc::new(Mutex::new(session)), outputs: names }],
        };
        for feed in inputs {
            for f in &from_feed {
                if let Some(tensor) = feed.get(&f.tensor) {
                    visit(&f.tensor, tensor)?;
                }
            }
            let outputs = engine.infer(feed)?;
            for (name, tensor) in &outputs {
                if let Some(t) = tensor_of.get(name.as_str()) {
                    visit(t, tensor)?;
                }
            }
        }
        Ok(())
    }

    /// The tensors INT8 plans quantize (what calibration measures).
    #[must_use]
    pub fn int8_tensors(&self) -> Vec<String> {
        int8_activation_tensors(&self.model, &self.table)
    }

    /// [`Self::int8_tensors`] with where each is, to fetch them.
    #[must_use]
    pub fn int8_fetches(&self) -> Vec<Fetch> {
        int8_activation_fetches(&self.model, &self.table)
    }
}

impl Backend for OnnxrtBackend {
    type Engine = OnnxrtEngine;

    fn name(&self) -> &'static str {
        "onnxrt"
    }

    fn network(&self) -> &Network {
        &self.network
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            precisions: vec![
                Precision::Float32,
                Precision::Float16,
                Precision::BFloat16,
                Precision::Int8,
            ],
            every_layer_output: true,
            isolated_layer_output: true,
            // Returned intermediate tensors stop ONNX Runtime's fusions (Conv+Add, the Q/DQ
            // patterns of integer kernels), which changes the outputs (on CUDA in float16 by
            // several times the error).
            layer_outputs_change_results: true,
        }
    }

    /// The model as loaded (a digest; external data included), the input shapes, the ONNX
    /// Runtime build and this crate's version (which fixes the rewrite rules), and with INT8
    /// the calibration method and cache. Threads are left out: `--jobs` copies run with
    /// other thread counts within one search, so answers must not depend on them.
    fn weight_peaks(&self) -> Option<Vec<Option<f64>>> {
        Some(self.table.weight_peaks(&self.model))
    }

    fn answer_identity(&self) -> Result<AnswerIdentity, BackendError> {
        let model = identity::model_digest(&self.model)
            .map_err(|e| BackendError::Unsupported(e.to_string()))?;
        let mut id = AnswerIdentity::new()
            .with("model sha256", model)
            .with("input shapes", identity::shapes_text(&self.config.input_shapes))
            .with("onnxruntime", ort::info())
            .with("rewrite", concat!("backend-onnxrt ", env!("CARGO_PKG_VERSION")))
            // Providers, TF32 and cuDNN's algorithm choice change results; the engine cache
            // folder and the device a copy runs on do not.
            .with("execution", self.config.execution.describe(None));
        identity::push_calibration(&mut id, &self.config.lower, &self.config.calibration)?;
        Ok(id)
    }

    /// Builds `plan`. Under [`OutputSelection::Isolated`] the engine runs two sessions on the
    /// same inputs: the plan with every layer output, and the float32 model with a lowered copy
    /// of each markable top-level layer the plan runs below float32 (see
    /// [`precision_onnx::isolate`]); layers inside `If`/`Loop`/`Scan` subgraphs are not
    /// isolated.
    fn build(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<OnnxrtEngine, BackendError> {
        let precisions = self.layer_precisions(plan)?;
        let mut parts = Vec::with_capacity(2);
        match outputs {
            OutputSelection::NetworkOutputs | OutputSelection::EveryLayer => {
                parts.extend(self.cached_part(&precisions, outputs)?);
            }
            OutputSelection::Isolated => {
                parts.extend(self.cached_part(&precisions, OutputSelection::EveryLayer)?);
                parts.extend(self.cached_part(&precisions, OutputSelection::Isolated)?);
            }
        }
        Ok(OnnxrtEngine { parts })
    }

    fn export_model(&self, plan: &PrecisionPlan) -> Result<Vec<u8>, BackendError> {
        self.export(plan)?.to_bytes().map_err(|e| BackendError::Unsupported(e.to_string()))
    }

    fn calibrate(&mut self, inputs: &[NamedTensors]) -> Result<Option<String>, BackendError> {
        if self.scales.is_some() {
            return Ok(None);
        }
        // Sessions of the old scales are of no use any more: not kept during calibration.
        self.sessions.clear();
        let Calibration { scales, message } = crate::calibrate::calibrate(self, inputs)?;
        self.scales = Some(scales);
        self.sessions.clear();
        Ok(Some(message))
    }

    /// A copy with the same settings and calibration scales, and ONNX Runtime sessions that
    /// use `threads` intra-op threads (0: ONNX Runtime's default). The model, the layer table
    /// and the weights converted so far are shared read-only (not copied); nothing mutable is
    /// shared. A copy keeps no sessions: it checks the other plans of a batch, which do not
    /// come back, and a cache per copy would multiply the memory kept by the number of jobs.
    /// Drops the kept sessions that return layer outputs (every-layer and isolated ones):
    /// the rest of the search builds plans with network outputs only.
    fn layer_outputs_done(&mut self) {
        self.sessions.retain(|c| c.key.selection == OutputSelection::NetworkOutputs);
    }

    fn expect_samples(&mut self, samples: usize) {
        self.config.execution.cpu_arena = samples > 1;
        self.config.execution.runs_per_session = samples.max(1);
    }

    fn try_clone(&self, threads: usize) -> Result<Option<Self>, BackendError> {
        let mut config = self.config.clone();
        config.threads = (threads > 0).then_some(threads);
        let device = config.execution.take_device();
        Ok(Some(OnnxrtBackend {
            model: Arc::clone(&self.model),
            table: Arc::clone(&self.table),
            network: self.network.clone(),
            config,
            scales: self.scales.clone(),
            weights: self.weights.clone(),
            sessions: Vec::new(),
            keep_bytes: 0,
            sessions_created: 0,
            device,
            placement: None,
        }))
    }
}

impl OnnxrtBackend {
    pub(crate) fn calibration_settings(&self) -> &CalibrationSettings {
        &self.config.calibration
    }
}

/// A built plan ready to run: one session, or two for [`OutputSelection::Isolated`] (the
/// plan's and the isolated layers'), run on the same inputs.
pub struct OnnxrtEngine {
    parts: Vec<Part>,
}

impl Engine for OnnxrtEngine {
    fn infer(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, BackendError> {
        let mut feed = Vec::with_capacity(inputs.len());
        for (name, tensor) in inputs {
            feed.push((name.clone(), convert::to_value(name, tensor)?));
        }
        let mut out = NamedTensors::new();
        for Part { session, outputs } in &self.parts {
            let mut session = session
                .lock()
                .map_err(|_| BackendError::Inference("a previous run panicked".into()))?;
            let known: Vec<String> = session.inputs().iter().map(|i| i.name().to_owned()).collect();
            if let Some((name, _)) = feed.iter().find(|(n, _)| !known.contains(n)) {
                return Err(BackendError::Input(format!(
                    "the inputs hold '{name}', which is not an input of the model (its inputs: {})",
                    known.join(", ")
                )));
            }
            // The inputs are passed as views so that they outlive the outputs, which ONNX
            // Runtime may alias to them (an input that is also an output).
            let views: Vec<(&str, ort::session::SessionInputValue<'_>)> =
                feed.iter().map(|(n, v)| (n.as_str(), v.into())).collect();
            let mut results = session
                .run(views)
                .map_err(|e| BackendError::Inference(format!("ONNX Runtime: {e}")))?;
            // Each output is released as soon as it is copied, so that every-layer runs do not
            // hold all outputs twice.
            for name in outputs {
                let value = results.remove(name.as_str()).ok_or_else(|| {
                    BackendError::Inference(format!("ONNX Runtime returned no output '{name}'"))
                })?;
                out.insert(name.clone(), convert::from_value(name, &value)?);
            }
        }
        Ok(out)
    }
}
