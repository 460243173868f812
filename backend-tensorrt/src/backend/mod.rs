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
//!
//! This module holds the configuration and the `Backend` implementation; `weak.rs` and
//! `strong.rs` build (and calibrate) in each typing.

mod strong;
mod weak;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use precision_core::calibration::CalibrationCache;
use precision_core::{
    AnswerIdentity, Backend, BackendError, Capabilities, Engine, NamedTensors, Network,
    OutputSelection, Precision, PrecisionPlan, check_plan_fits,
};
use precision_onnx::expose::Fetch;
use precision_onnx::model::write_atomically;
use precision_onnx::rewrite;
use precision_onnx::scales;
pub use precision_onnx::scales::CalibrationSettings;
use precision_onnx::{
    ActivationScales, Bf16Mode, InputShapes, LayerTable, OnnxModel, RewriteOptions, WeightCache,
};
use precision_onnx::{check_model, identity};

use crate::api::Api;
use crate::error::TrtError;
use crate::inspect;
use crate::network::{Blob, PrecisionConstraints, TrtNetwork};
use crate::refused;
use crate::runtime::{CudaEngine, Runner};

use weak::{WeakState, weak_network};

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
}

/// A plan's build error: TensorRT's build failures that name layers without an implementation
/// in their precision are [`BackendError::Refused`] with those layers of `network`
/// ([`refused`]).
impl TensorRtBackend {
    /// Builds `plan` (refused when it marks a layer the network lacks) in this backend's
    /// typing, counting the build: the serialized engine and the names of the layers marked.
    fn build_blob(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<(Blob, Vec<String>), BackendError> {
        check_plan_fits(&self.network, plan)?;
        let built = match self.typing {
            Typing::Weak if plan.middle.is_some() => {
                return Err(BackendError::Unsupported(
                    "a three-level plan (--three-levels) needs strong typing: weakly typed \
                     TensorRT sets one higher precision per build; use --typing strong"
                        .to_owned(),
                ));
            }
            Typing::Weak => self.build_weak(plan, outputs)?,
            Typing::Strong => self.build_strong(plan, outputs)?,
        };
        self.builds += 1;
        Ok(built)
    }
}

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
        let (engine_blob, marked) = self.build_blob(plan, outputs)?;
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
        let (blob, _) = self.build_blob(plan, OutputSelection::NetworkOutputs)?;
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
