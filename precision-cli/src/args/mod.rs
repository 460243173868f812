//! Command-line arguments. Flags keep Polygraphy's names and meanings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use precision_core::calibration::CalibrationMethod;
use precision_core::{CompareConfig, CompareFunc, ErrorStat, PerOutput, Precision};

/// Find the layers of a network that must stay in higher precision to match golden outputs.
#[derive(Parser, Debug)]
#[command(name = "precision", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print plain lines instead of a progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a model (float32 by default) and save its outputs as goldens.
    Run(RunArgs),
    /// Binary search for the shortest prefix or suffix of layers to keep in higher precision.
    Bisect(SearchArgs),
    /// Mark one more layer per check until the network passes.
    Linear(SearchArgs),
    /// Mark the layers that add the most error first, --top K more per check.
    WorstFirst(SearchArgs),
    /// Rank layers by their isolated error, find the shortest passing head of the ranking,
    /// and prune it to a 1-minimal set (usually far fewer layers than bisect).
    Ranked(SearchArgs),
    /// Build and compare one explicit plan; exit 0 when it passes, 1 when it fails.
    Check(CheckArgs),
    /// Compare two saved results files; B is the reference (like `polygraphy run --load-outputs A B`).
    Compare(CompareArgs),
    /// List the layers of a model: index, name, op, and whether it can be marked.
    Layers(LayersArgs),
    /// Write the mixed-precision ONNX model of a saved search report (`--report`).
    Export(ExportArgs),
    /// Re-check the answer of a saved search report on any backend or provider (e.g. found on
    /// CPU, verified with --providers cuda): pass/fail and headroom per output.
    Verify(VerifyArgs),
}

/// The backends this build can use.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The simulated backend (networks described in TOML).
    Mock,
    /// ONNX Runtime on CPU (ONNX models).
    #[value(alias = "cpu")]
    Onnxrt,
    /// TensorRT engines (ONNX models; needs a build with `--features tensorrt`).
    #[value(alias = "trt")]
    Tensorrt,
}

/// `--typing`: how TensorRT is told the precisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TypingArg {
    /// Per-layer precision hints (TensorRT 10; Polygraphy's method).
    Weak,
    /// Precision written into the ONNX graph (TensorRT 10 and 11).
    Strong,
}

/// `--precision-constraints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConstraintsArg {
    /// A hint that cannot be met fails the build (a failed check).
    Obey,
    /// TensorRT falls back where it must (reported as deviations after the build).
    Prefer,
}

/// `--layer-outputs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayerOutputsArg {
    /// Mark layer outputs as network outputs (Polygraphy's way; can break fusions).
    Outputs,
    /// Read them as debug tensors (TensorRT 10+; fusions untouched).
    Debug,
}

/// Which model and backend.
#[derive(Args, Debug)]
pub struct ModelArgs {
    /// The model: an ONNX model (.onnx) or a mock network (.toml).
    pub model: PathBuf,
    /// The backend; by default chosen from the model's file type (.onnx: onnxrt, .toml: mock).
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Mock backend only: simulated engine build time per check, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub mock_build_ms: u64,
    /// ONNX: shapes for inputs with dynamic dimensions, as in Polygraphy: x:[1,3,224,224].
    #[arg(long, num_args = 1.., value_name = "NAME:[D0,D1,...]")]
    pub input_shapes: Vec<String>,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, then the onnxruntime package of
    /// python3, then the usual library folders).
    #[arg(long, value_name = "PATH")]
    pub onnxrt_lib: Option<PathBuf>,
    /// INT8 calibration: entropy (TensorRT's EntropyCalibration2), max (MinMax) or
    /// percentile[:P] (default P = 99.99).
    #[arg(long, default_value = "entropy", value_parser = parse_calibration)]
    pub calibration: CalibrationMethod,
    /// A TensorRT calibration cache: its scales are used if it exists (no calibration),
    /// otherwise calibration writes it.
    #[arg(long, value_name = "FILE")]
    pub calibration_cache: Option<PathBuf>,
    /// TensorRT: weak (precision hints, TensorRT 10) or strong (precision written into the
    /// ONNX graph); default strong on TensorRT 11, weak on 10.
    #[arg(long, value_enum)]
    pub typing: Option<TypingArg>,
    /// TensorRT, weak typing: whether a precision hint that cannot be met fails the build.
    #[arg(long, value_enum, default_value = "obey")]
    pub precision_constraints: ConstraintsArg,
    /// TensorRT: how every-layer outputs (worst-first) are read.
    #[arg(long, value_enum, default_value = "outputs")]
    pub layer_outputs: LayerOutputsArg,
    /// TensorRT: a timing cache file, read if it exists and updated after every build.
    #[arg(long, value_name = "FILE")]
    pub timing_cache: Option<PathBuf>,
    /// TensorRT: keep every built engine in this folder (check-0001.engine, ...).
    #[arg(long, value_name = "DIR")]
    pub save_engine: Option<PathBuf>,
    /// ONNX Runtime: execution providers in priority order, as in Polygraphy: cpu (default),
    /// cuda, tensorrt; a GPU index as cuda:1. Nodes may run on CPU only when cpu is listed.
    #[arg(long, num_args = 1.., value_name = "PROVIDER")]
    pub providers: Vec<String>,
    /// ONNX Runtime on GPUs: spread the checks of --jobs over these GPUs (0,1,...).
    #[arg(long, num_args = 1.., value_name = "ID[,ID...]")]
    pub device_ids: Vec<String>,
    /// CUDA: allow TF32 in float32 convolutions and matrix products (default off: exact
    /// float32, as Polygraphy builds TensorRT engines).
    #[arg(long)]
    pub tf32: bool,
    /// CUDA: cuDNN's convolution algorithm choice: auto (the default: `default` for float16
    /// sessions that run at most 8 inputs, whose first run it makes ~20x faster, else
    /// heuristic), heuristic, exhaustive (times every algorithm: fastest, but may differ
    /// between runs) or default (no choice: starts fast, runs slower).
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_cudnn_algo)]
    pub cudnn_algo: backend_onnxrt::providers::CudnnAlgo,
    /// ONNX Runtime's TensorRT provider: keep engines and the timing cache in this folder.
    #[arg(long, value_name = "DIR")]
    pub trt_engine_cache: Option<PathBuf>,
}

fn parse_cudnn_algo(s: &str) -> Result<backend_onnxrt::providers::CudnnAlgo, String> {
    s.parse()
}

fn parse_calibration(s: &str) -> Result<CalibrationMethod, String> {
    s.parse().map_err(|e: precision_core::calibration::CalibrationError| e.to_string())
}

/// The precisions of the plan.
#[derive(Args, Debug, Clone)]
#[expect(clippy::struct_excessive_bools, reason = "one flag per precision, as in Polygraphy")]
pub struct PrecisionArgs {
    /// Enable INT8 for unmarked layers.
    #[arg(long)]
    pub int8: bool,
    /// Enable FP16 for unmarked layers.
    #[arg(long)]
    pub fp16: bool,
    /// Enable BF16 for unmarked layers.
    #[arg(long)]
    pub bf16: bool,
    /// Enable FP8 for unmarked layers.
    #[arg(long)]
    pub fp8: bool,
    /// The precision of marked layers.
    #[arg(long, default_value = "float32", value_parser = parse_precision)]
    pub precision: Precision,
}

impl PrecisionArgs {
    /// The lower precisions enabled, in flag order.
    pub fn lower(&self) -> Vec<Precision> {
        [
            (self.int8, Precision::Int8),
            (self.fp16, Precision::Float16),
            (self.bf16, Precision::BFloat16),
            (self.fp8, Precision::Fp8),
        ]
        .into_iter()
        .filter_map(|(on, p)| on.then_some(p))
        .collect()
    }
}

fn parse_precision(s: &str) -> Result<Precision, String> {
    s.parse().map_err(|e: precision_core::ParsePrecisionError| e.to_string())
}

/// Comparator flags, as in `polygraphy run`.
#[derive(Args, Debug, Clone, Default)]
pub struct ComparatorArgs {
    /// Absolute tolerance: `--atol 1e-5 out0:1e-4` (a bare value is the default for outputs not named).
    #[arg(long, alias = "abs-tol", num_args = 1.., value_name = "[OUT:]ATOL")]
    pub atol: Vec<String>,
    /// Relative tolerance, same form as --atol.
    #[arg(long, alias = "rel-tol", num_args = 1.., value_name = "[OUT:]RTOL")]
    pub rtol: Vec<String>,
    /// The error statistic to check: elemwise (default), max, mean, median or quantile; per output as OUT:STAT.
    #[arg(long, num_args = 1.., value_name = "[OUT:]STAT")]
    pub check_error_stat: Vec<String>,
    /// The quantile checked by `--check-error-stat quantile` (default 0.99); per output as OUT:Q.
    #[arg(long, num_args = 1.., value_name = "[OUT:]Q")]
    pub error_quantile: Vec<String>,
    /// Equal infinities compare as a difference of 0 (otherwise NaN, a failure).
    #[arg(long)]
    pub infinities_compare_equal: bool,
    /// Compare outputs whose shapes differ (reshaping them to match) instead of failing.
    #[arg(long)]
    pub no_shape_check: bool,
    /// The comparison functions, all of which must pass (Polygraphy 0.53.6's): `simple`
    /// (default), `indices`, `l2`, `cosine_similarity`, `psnr`, `snr`, `distance_metrics` (=
    /// `l2 cosine_similarity`), `quality_metrics` (= `psnr snr`).
    #[arg(long, alias = "compare-func", num_args = 1.., value_name = "FUNC")]
    pub compare: Vec<String>,
    /// indices: how many places apart equal values may be (default 0), as --atol: `1 out0:3`.
    #[arg(long, num_args = 1.., value_name = "[OUT:]N")]
    pub index_tolerance: Vec<String>,
    /// l2: the largest L2 norm of the difference (default 1e-5), as --atol.
    #[arg(long, alias = "l2-threshold", num_args = 1.., value_name = "[OUT:]L2")]
    pub l2_tolerance: Vec<String>,
    /// `cosine_similarity`: the smallest cosine similarity (default 0.997), as --atol.
    #[arg(long, num_args = 1.., value_name = "[OUT:]COS")]
    pub cosine_similarity_threshold: Vec<String>,
    /// psnr: the smallest peak signal-to-noise ratio in dB (default 30), as --atol.
    #[arg(long, alias = "psnr-threshold", num_args = 1.., value_name = "[OUT:]DB")]
    pub psnr_tolerance: Vec<String>,
    /// snr: the smallest signal-to-noise ratio in dB (default 20), as --atol.
    #[arg(long, alias = "snr-threshold", num_args = 1.., value_name = "[OUT:]DB")]
    pub snr_tolerance: Vec<String>,
    /// Check each metric averaged over the input iterations instead of every iteration (not
    /// with indices or the elemwise statistic).
    #[arg(long)]
    pub check_average: bool,
}

impl ComparatorArgs {
    /// The comparator settings these flags describe.
    pub fn config(&self) -> anyhow::Result<CompareConfig> {
        let defaults = CompareConfig::default();
        let parse_f64 = |flag: &'static str| {
            move |v: &str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| format!("{flag}: '{v}' is not a non-negative number"))
            }
        };
        let parse_db = |flag: &'static str| {
            move |v: &str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| !x.is_nan())
                    .ok_or_else(|| format!("{flag}: '{v}' is not a number of dB"))
            }
        };
        let config = CompareConfig {
            atol: per_output(&self.atol, defaults.atol.default, parse_f64("--atol"))?,
            rtol: per_output(&self.rtol, defaults.rtol.default, parse_f64("--rtol"))?,
            check_error_stat: per_output(
                &self.check_error_stat,
                defaults.check_error_stat.default,
                str::parse::<ErrorStat>,
            )?,
            error_quantile: per_output(
                &self.error_quantile,
                defaults.error_quantile.default,
                |v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .ok_or_else(|| format!("--error-quantile: '{v}' is not a number in [0, 1]"))
                },
            )?,
            infinities_compare_equal: self.infinities_compare_equal,
            check_shapes: !self.no_shape_check,
            functions: self.functions()?,
            index_tolerance: per_output(
                &self.index_tolerance,
                defaults.index_tolerance.default,
                |v| {
                    v.parse::<u64>().map_err(|_| {
                        format!("--index-tolerance: '{v}' is not a non-negative whole number")
                    })
                },
            )?,
            l2_threshold: per_output(
                &self.l2_tolerance,
                defaults.l2_threshold.default,
                parse_f64("--l2-tolerance"),
            )?,
            cosine_similarity_threshold: per_output(
                &self.cosine_similarity_threshold,
                defaults.cosine_similarity_threshold.default,
                |v| {
                    v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                        format!("--cosine-similarity-threshold: '{v}' is not a number")
                    })
                },
            )?,
            psnr_threshold: per_output(
                &self.psnr_tolerance,
                defaults.psnr_threshold.default,
                parse_db("--psnr-tolerance"),
            )?,
            snr_threshold: per_output(
                &self.snr_tolerance,
                defaults.snr_threshold.default,
                parse_db("--snr-tolerance"),
            )?,
            check_average: self.check_average,
            margin: defaults.margin,
        };
        self.warn_unused();
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }

    /// The selected comparison functions, aliases expanded, each once, in order.
    fn functions(&self) -> anyhow::Result<Vec<CompareFunc>> {
        if self.compare.is_empty() {
            return Ok(CompareConfig::default().functions);
        }
        let mut functions = Vec::new();
        for name in &self.compare {
            for f in CompareFunc::parse_list(name).map_err(anyhow::Error::msg)? {
                if !functions.contains(&f) {
                    functions.push(f);
                }
            }
        }
        Ok(functions)
    }

    /// Warns, as Polygraphy does, about tolerances of comparison functions not selected.
    fn warn_unused(&self) {
        let Ok(functions) = self.functions() else { return };
        for (flag, values, function) in [
            ("--index-tolerance", &self.index_tolerance, CompareFunc::Indices),
            ("--l2-tolerance", &self.l2_tolerance, CompareFunc::L2),
            (
                "--cosine-similarity-threshold",
                &self.cosine_similarity_threshold,
                CompareFunc::CosineSimilarity,
            ),
            ("--psnr-tolerance", &self.psnr_tolerance, CompareFunc::Psnr),
            ("--snr-tolerance", &self.snr_tolerance, CompareFunc::Snr),
        ] {
            if !values.is_empty() && !functions.contains(&function) {
                crate::console::err(&format!(
                    "warning: {flag} applies only to --compare {function}, which is not selected; \
                     it is ignored"
                ));
            }
        }
    }
}

/// Parses Polygraphy's per-output list form: `VALUE` sets the default, `NAME:VALUE` one output.
/// The split is on the last ':' since output names may contain ':'.
pub fn per_output<T: Clone>(
    items: &[String],
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<PerOutput<T>> {
    let mut result = PerOutput::uniform(default);
    for item in items {
        match item.rsplit_once(':') {
            Some((name, value)) if !name.is_empty() => {
                result.overrides.push((name.to_owned(), parse(value).map_err(anyhow::Error::msg)?));
            }
            Some((_, value)) => result.default = parse(value).map_err(anyhow::Error::msg)?,
            None => result.default = parse(item).map_err(anyhow::Error::msg)?,
        }
    }
    Ok(result)
}

/// How inputs are obtained: loaded from a file or generated.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Load inputs: a Polygraphy inputs JSON file (`--save-inputs` of `polygraphy run`), or a
    /// dataset: a folder of (or several) `.npz` files, one sample each with arrays named after
    /// the model inputs, or `.npy` files for a single-input model, taken in sorted order.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub load_inputs: Vec<PathBuf>,
    /// Calibrate INT8 on these inputs (same forms as --load-inputs) instead of the check
    /// inputs; calibration holds its samples in memory.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub calibration_inputs: Vec<PathBuf>,
    /// Seed of the input generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Range of generated input values: `[MIN,MAX]` or `NAME:[MIN,MAX]` (default [0,1]).
    #[arg(long, num_args = 1.., value_name = "[NAME:][MIN,MAX]")]
    pub val_range: Vec<String>,
    /// Number of generated input iterations.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub iterations: u32,
}

/// `precision run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Model and backend.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Lower precisions to run in (default: float32 throughout).
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Inputs.
    #[command(flatten)]
    pub data: DataArgs,
    /// Save the outputs as Polygraphy RunResults JSON (no extension: a directory of
    /// iterations; for a dataset of .npz/.npy inputs, a folder of one NAME.npz per sample,
    /// named after its input file, written as the samples run).
    #[arg(long, value_name = "FILE")]
    pub save_outputs: Option<PathBuf>,
    /// Save the inputs as Polygraphy inputs JSON.
    #[arg(long, value_name = "FILE")]
    pub save_inputs: Option<PathBuf>,
    /// Return every layer's output, not only the network outputs (goldens for worst-first).
    #[arg(long)]
    pub mark_all: bool,
}

/// What every check needs: the model, the precisions, the comparator, inputs and goldens.
#[derive(Args, Debug)]
pub struct CheckSetup {
    /// Model and backend.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Precisions.
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Comparator.
    #[command(flatten)]
    pub compare: ComparatorArgs,
    /// Inputs.
    #[command(flatten)]
    pub data: DataArgs,
    /// Golden outputs: Polygraphy RunResults JSON (`--save-outputs`), first runner; or, for
    /// a dataset, the folder of per-sample .npz files that `run --save-outputs DIR` wrote (not
    /// needed with --no-compare).
    #[arg(long, value_name = "FILE", required_unless_present = "no_compare")]
    pub golden: Option<PathBuf>,
    /// An external check command.
    #[command(flatten)]
    pub command: CheckCommandArgs,
}

/// An external check command run on every check's artifact, with Polygraphy `debug`'s flags.
#[derive(Args, Debug, Clone, Default)]
pub struct CheckCommandArgs {
    /// Run CMD on every check: it takes the rest of the command line (put it last), runs
    /// without a shell (write `sh -c '...'` for one), with {model} replaced by the path of the
    /// check's mixed-precision model (the mock backend writes its plan as JSON), {engine} by
    /// its TensorRT engine file (TensorRT backend), and `PRECISION_MODEL`, `PRECISION_ENGINE`,
    /// `PRECISION_CHECK` (the check's number) and `PRECISION_MARKED` (a file of the marked
    /// layer names, one per line) in its environment. It passes when it exits with
    /// 0; a check passes when the command and the built-in comparison both pass. The check
    /// journal records the command line, not the contents of scripts it runs: delete the
    /// journal (or use --no-journal) after editing a script.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "CMD")]
    pub check: Vec<String>,
    /// Exit codes of the --check command that count as failures; any other code passes.
    #[arg(long, num_args = 1.., value_name = "CODE", allow_negative_numbers = true,
          conflicts_with = "ignore_fail_code")]
    pub fail_code: Vec<i32>,
    /// Exit codes of the --check command that do not count as failures.
    #[arg(long, num_args = 1.., value_name = "CODE", allow_negative_numbers = true)]
    pub ignore_fail_code: Vec<i32>,
    /// Regular expressions marking a failure in the --check command's stdout/stderr: with
    /// one, the command fails exactly when one matches (whatever its exit code), or with
    /// --fail-code, when its code is a failure code and one matches. Rust regex syntax.
    #[arg(long, num_args = 1.., value_name = "RE")]
    pub fail_regex: Vec<String>,
    /// Take a number from the --check command's output into the report, the journal and the
    /// progress line: the first capture group of RE (or the whole match) in its last match,
    /// on stdout, else on stderr. E.g. 'top1: ([0-9.]+)'.
    #[arg(long, value_name = "RE")]
    pub metric_regex: Option<String>,
    /// Time limit of one --check command (e.g. 90s, 30m): past it, its whole process group
    /// is killed and the check fails.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub check_timeout: Option<std::time::Duration>,
    /// Let the --check command alone decide (no goldens needed; worst-first and ranked then
    /// measure layer errors against the backend's own float32 run).
    #[arg(long)]
    pub no_compare: bool,
    /// Keep every check's artifact (the model and the marked-layers file) instead of
    /// deleting it after its command.
    #[arg(long)]
    pub keep_artifacts: bool,
    /// Where the --check commands' artifacts are written (a new or empty folder; default: a
    /// temporary folder removed at the end). Put it on storage that the machines running the
    /// command share, e.g. for `--check srun eval.sh {model}`.
    #[arg(long, value_name = "DIR")]
    pub artifacts_dir: Option<PathBuf>,
}

impl CheckCommandArgs {
    /// Whether a check command was given.
    #[must_use]
    pub fn is_set(&self) -> bool {
        !self.check.is_empty()
    }
}

/// `precision check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Model, precisions, comparator, inputs and goldens.
    #[command(flatten)]
    pub setup: CheckSetup,
    /// Layers to keep in the higher precision, by name; repeat it, or separate names with ','
    /// (a value that is exactly a layer's name is that layer). Names with ',' or surrounding
    /// spaces: use --mark-file. `#INDEX` still works when no layer is named so.
    #[arg(long, value_name = "NAME[,NAME...]")]
    pub mark: Vec<String>,
    /// Layers to keep in the higher precision, by index (`precision layers`): 3,7 or 3-7.
    #[arg(long, value_name = "I[,I-J...]")]
    pub mark_index: Vec<String>,
    /// A file of layer names to keep in the higher precision, one exact name per line (nothing
    /// trimmed but the line ending; empty lines skipped).
    #[arg(long, value_name = "FILE")]
    pub mark_file: Option<PathBuf>,
    /// Write the checked plan as a mixed-precision ONNX model.
    #[arg(long, value_name = "FILE")]
    pub save_model: Option<PathBuf>,
}

/// `precision compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The results to check (Polygraphy RunResults JSON).
    pub actual: PathBuf,
    /// The reference results.
    pub reference: PathBuf,
    /// Comparator.
    #[command(flatten)]
    pub compare: ComparatorArgs,
}

/// `precision layers`.
#[derive(Args, Debug)]
pub struct LayersArgs {
    /// Model and backend.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The precisions a search would lower to (they decide which layers can be marked).
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// With --fp16: the inputs of the float32 run that finds the layers float16 cannot hold.
    #[command(flatten)]
    pub data: DataArgs,
    /// The FP16 pre-screen.
    #[command(flatten)]
    pub prescreen: PrescreenArgs,
}

/// `precision export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Model and backend (the model the report was made for).
    #[command(flatten)]
    pub model: ModelArgs,
    /// The search report (`--report` of bisect, linear or worst-first).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Where to write the mixed-precision ONNX model.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Instead of the answer, mark K layers in all: those kept from the start and the most
    /// sensitive of a ranked search's ranking (a point of its `--curve`).
    #[arg(long, value_name = "K")]
    pub keep: Option<usize>,
    /// Inputs for INT8 calibration when no --calibration-cache holds the scales.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `precision verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Model and backend (the model the report was made for), and where to run it.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The search report whose answer to re-check (`--report` of a search).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Comparator (give the tolerances the search used).
    #[command(flatten)]
    pub compare: ComparatorArgs,
    /// Inputs (the search's, with --load-inputs, or new ones).
    #[command(flatten)]
    pub data: DataArgs,
    /// Golden outputs: Polygraphy RunResults JSON.
    #[arg(long, value_name = "FILE")]
    pub golden: PathBuf,
    /// Re-check N times, each with new sessions; the verdict must be the same every time.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// After the re-checks, time the answer against float32 and every layer lowered: N timed
    /// runs of each after 3 warm-ups, on the first input sample.
    #[arg(long, value_name = "N", default_value = LATENCY_RUNS)]
    pub latency_runs: std::num::NonZeroUsize,
    /// Do not time the answer after the re-checks.
    #[arg(long, conflicts_with = "latency_runs")]
    pub no_latency: bool,
}

/// Timed runs of each plan when `--measure-latency` or `--latency-runs` gives no number: the
/// default of [`precision_core::latency::LatencySettings`].
const LATENCY_RUNS: &str = "20";

mod search;
#[cfg(test)]
mod tests;

pub use search::{JournalArgs, PrescreenArgs, SampleArgs, SearchArgs, parse_duration};
