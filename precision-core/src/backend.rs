//! The seam between the searches and the engines that build and run plans.

use crate::{NamedTensors, Network, Precision, PrecisionPlan};
use serde::{Deserialize, Serialize};

/// Which tensors a check needs and an engine should return. The oracle's answers and the
/// journal's keys carry it (in kebab case: `network-outputs`, `every-layer`, `sensitivity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputSelection {
    /// Only the network outputs.
    NetworkOutputs,
    /// The network outputs and every layer output the backend can expose (worst-first,
    /// `--mark-all`): the oracle compares every layer output against its float32 reference.
    /// Backends without [`Capabilities::every_layer_output`] reject it.
    EveryLayer,
    /// Everything [`OutputSelection::EveryLayer`] returns and, for every markable layer that
    /// the plan runs below float32, each float output `T` computed by that layer alone, in its
    /// plan precision, from the float32 values of its inputs, under [`isolated_name`]`(T)`.
    /// This measures the error each layer adds by itself (the ranked search's sensitivity
    /// pass; the oracle reports it as [`crate::Evaluation::isolated`]). Backends without
    /// [`Capabilities::isolated_layer_output`] reject it; a backend may leave out layers it
    /// cannot isolate (for example ones inside subgraphs). The oracle falls back to
    /// [`OutputSelection::EveryLayer`] on backends that cannot isolate layers.
    #[serde(rename = "sensitivity")]
    Isolated,
}

/// The name under which an [`OutputSelection::Isolated`] engine returns the isolated value of
/// layer output `tensor`.
#[must_use]
pub fn isolated_name(tensor: &str) -> String {
    format!("{ISOLATED_PREFIX}{tensor}")
}

/// The prefix of [`isolated_name`].
pub const ISOLATED_PREFIX: &str = "isolated:";

/// What a backend can do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// The precisions layers can run in on this backend.
    pub precisions: Vec<Precision>,
    /// Whether [`OutputSelection::EveryLayer`] is supported.
    pub every_layer_output: bool,
    /// Whether [`OutputSelection::Isolated`] is supported.
    pub isolated_layer_output: bool,
    /// Whether returning more than the network outputs can change the network outputs
    /// themselves (a runtime that no longer fuses ops whose intermediate values are
    /// returned, as ONNX Runtime and TensorRT do). Then a check that needs layer outputs
    /// takes its verdict from a separate build of the plan with the network outputs only,
    /// so that every verdict is that of the plan as deployed.
    pub layer_outputs_change_results: bool,
}

/// What decides a backend's answers besides the plan and what the search owns (inputs,
/// goldens, comparator settings): the model as loaded (external data included) and every
/// setting that can change an output. Each part is a name and a value (large contents as a
/// digest); the check journal hashes the parts and refuses the answers of a journal written
/// under another identity, so a backend lists everything that can change an answer, and
/// nothing that cannot (else resumed searches are refused for nothing).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnswerIdentity {
    parts: Vec<(String, Vec<u8>)>,
}

impl AnswerIdentity {
    /// An identity with no parts.
    #[must_use]
    pub fn new() -> Self {
        AnswerIdentity::default()
    }

    /// Adds the part `name` with `value`.
    pub fn push(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.parts.push((name.to_owned(), value.as_ref().to_vec()));
    }

    /// The identity with the part `name` added.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.push(name, value);
        self
    }

    /// The parts, in the order they were added.
    #[must_use]
    pub fn parts(&self) -> &[(String, Vec<u8>)] {
        &self.parts
    }
}

/// Why a backend could not build or run a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The plan cannot be built (no implementation in that precision, a builder error).
    /// A search records this as a failed check and goes on.
    #[error("build failed: {0}")]
    Build(String),
    /// The plan cannot be built because the builder has no implementation for these layers
    /// in their plan precision (a layer with no lower-precision kernel, for example). A failed
    /// check, like [`BackendError::Build`], that also names the layers, so that worst-first
    /// can start from the plan with exactly those layers marked. Backends that cannot tell
    /// which layers the builder refused return [`BackendError::Build`].
    #[error("build failed: {message}")]
    Refused {
        /// The builder's error text.
        message: String,
        /// The indices of the refused layers (never empty).
        layers: Vec<usize>,
    },
    /// The backend cannot do what was asked at all (a precision or option it lacks).
    #[error("{0}")]
    Unsupported(String),
    /// The inputs do not fit the network (names, shapes, dtypes).
    #[error("{0}")]
    Input(String),
    /// Running a built engine failed.
    #[error("inference failed: {0}")]
    Inference(String),
}

impl BackendError {
    /// Whether this error means only that this plan failed to build (a failed check), as
    /// opposed to an error that should stop the search.
    #[must_use]
    pub fn is_build_failure(&self) -> bool {
        matches!(self, BackendError::Build(_) | BackendError::Refused { .. })
    }

    /// The builder's error text, for a build failure.
    #[must_use]
    pub fn build_message(&self) -> Option<&str> {
        match self {
            BackendError::Build(message) | BackendError::Refused { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The layers the builder refused, when it named them ([`BackendError::Refused`]).
    #[must_use]
    pub fn refused_layers(&self) -> &[usize] {
        match self {
            BackendError::Refused { layers, .. } => layers,
            _ => &[],
        }
    }
}

/// Refuses a plan that marks a layer `network` does not have: a plan made for another
/// network, which no backend can build. [`BackendError::Unsupported`], not a failed check.
pub fn check_plan_fits(network: &Network, plan: &PrecisionPlan) -> Result<(), BackendError> {
    match plan.marked.iter().find(|&i| i >= network.len()) {
        Some(beyond) => Err(BackendError::Unsupported(format!(
            "the plan marks layer {beyond}, but network '{}' has only {} layers",
            network.name,
            network.len()
        ))),
        None => Ok(()),
    }
}

/// An engine: one plan, built, ready to run inference.
pub trait Engine {
    /// Runs one inference.
    fn infer(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, BackendError>;

    /// Notes on how the built engine differs from the plan (for example marked layers that
    /// did not run in the requested precision). Empty by default.
    fn plan_deviations(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Something that builds a [`PrecisionPlan`] of one [`Network`] into an [`Engine`]. Backends are
/// `Send` so that copies of one ([`Backend::try_clone`]) can check plans on other threads.
///
/// Each backend applies a plan its own way (per-layer constraints, a rewritten graph, a
/// simulation); the searches only ever see the results through an [`crate::Oracle`].
pub trait Backend: Send {
    /// The engine type this backend builds.
    type Engine: Engine;

    /// A short name for messages (`mock`, `onnxrt`, `tensorrt`).
    fn name(&self) -> &str;

    /// The network, its layers in the order plans index them.
    fn network(&self) -> &Network;

    /// What this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// What makes this backend's answers what they are: the model (with its external data)
    /// and every setting that can change a check's outputs, for the check journal's
    /// fingerprint ([`AnswerIdentity`]). Settings that cannot change an answer (threads,
    /// caches of built sessions, simulated build time) are left out. Errors when a file
    /// that decides answers (a calibration cache) cannot be read.
    fn answer_identity(&self) -> Result<AnswerIdentity, BackendError>;

    /// Builds `plan`, returning the tensors chosen by `outputs` when run.
    ///
    /// A plan the backend cannot build is [`BackendError::Build`], or
    /// [`BackendError::Refused`] when the backend can tell which layers the builder refused.
    fn build(
        &mut self,
        plan: &PrecisionPlan,
        outputs: OutputSelection,
    ) -> Result<Self::Engine, BackendError>;

    /// Prepares INT8 calibration from the search's inputs, once, before the first build of a
    /// plan that lowers to INT8 (backends that need no calibration keep the default, which
    /// does nothing). Returns a line for the console saying what was done, if anything.
    fn calibrate(&mut self, inputs: &[NamedTensors]) -> Result<Option<String>, BackendError> {
        let _ = inputs;
        Ok(None)
    }

    /// The model rewritten for `plan` and serialized, for backends whose plans are models
    /// (an ONNX model with the precision written into the graph). Others keep the default,
    /// which says that they cannot.
    fn export_model(&self, plan: &PrecisionPlan) -> Result<Vec<u8>, BackendError> {
        let _ = plan;
        Err(BackendError::Unsupported(format!(
            "the {} backend cannot write a model for a plan: saving a model needs an ONNX model",
            self.name()
        )))
    }

    /// The file extension of what [`Backend::export_model`] writes (without the dot): `onnx`
    /// unless a backend writes another kind of file.
    fn model_extension(&self) -> &'static str {
        "onnx"
    }

    /// A second, independent instance of this backend (same model, settings and calibration)
    /// for running checks in parallel (`--jobs`), or `None` when the backend cannot run two
    /// builds at once (the default). `threads` is how many CPU threads the copy should use.
    fn try_clone(&self, threads: usize) -> Result<Option<Self>, BackendError>
    where
        Self: Sized,
    {
        let _ = threads;
        Ok(None)
    }

    /// Each engine built from now on will run `samples` inputs, one after another (the
    /// samples of a check, or the runs of a timing). A backend may size its memory for it, or
    /// pick kernels that start fast for few runs (ONNX Runtime); answers must not change
    /// between two engines built under the same count. The default ignores it.
    fn expect_samples(&mut self, samples: usize) {
        let _ = samples;
    }

    /// Whether [`Backend::export_engine`] gives engine files (a check command's `{engine}`);
    /// false by default.
    fn engine_files(&self) -> bool {
        false
    }

    /// A check command will ask for engines: keep the latest engine built for the network
    /// outputs, so that handing it over ([`Backend::export_engine`]) needs no second build.
    /// The default keeps nothing.
    fn keep_latest_engine(&mut self) {}

    /// The engine file of `plan` (for TensorRT, the serialized engine `trtexec --loadEngine`
    /// reads): the kept one when it is `plan`'s ([`Backend::keep_latest_engine`]), else, with
    /// `may_build`, a new build. `None` when there is no such engine, and always for backends
    /// without engine files (the default).
    fn export_engine(
        &mut self,
        plan: &PrecisionPlan,
        may_build: bool,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        let _ = (plan, may_build);
        Ok(None)
    }

    /// The largest magnitude of each layer's float weights (constant inputs such as a Conv's
    /// kernel), in layer order, `None` for a layer without any; `None` as a whole when the
    /// backend cannot tell (the default). The FP16 pre-screen ([`crate::prescreen`]) keeps
    /// layers whose weights float16 cannot hold.
    fn weight_peaks(&self) -> Option<Vec<Option<f64>>> {
        None
    }

    /// No more plans will be built with layer outputs ([`OutputSelection::EveryLayer`],
    /// [`OutputSelection::Isolated`]) in this search: sessions or engines kept for them may be
    /// freed. The default keeps everything.
    fn layer_outputs_done(&mut self) {}
}
