//! The search subcommands' arguments: the search itself, its samples, the check journal and
//! the FP16 pre-screen.

use std::path::PathBuf;

use clap::Args;
use precision_core::Direction;

use super::{CheckSetup, LATENCY_RUNS};

/// The search subcommands' arguments.
#[derive(Args, Debug)]
#[expect(clippy::struct_excessive_bools, reason = "each is one command-line switch")]
pub struct SearchArgs {
    /// Model, precisions, comparator, inputs and goldens.
    #[command(flatten)]
    pub setup: CheckSetup,
    /// Mark a prefix (forward) or a suffix (reverse) of the layers.
    #[arg(long, default_value = "reverse", value_parser = parse_direction)]
    pub mode: Direction,
    /// worst-first: how many more layers to mark per check.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Time the answer against float32 and every layer lowered: RUNS timed runs of each
    /// (20 when not given) after 3 warm-ups, on the first input sample.
    #[arg(long, value_name = "RUNS", num_args = 0..=1, default_missing_value = LATENCY_RUNS)]
    pub measure_latency: Option<std::num::NonZeroUsize>,
    /// Search over groups of layers instead of single layers: `op-type` (keep every
    /// Softmax, say, or none) or `name-prefix:N` (blocks named by the first N '/'-separated
    /// parts of node names, as torch.onnx.export writes them: /encoder/layer.3/...). The answer is
    /// given in groups and in nodes.
    #[arg(long, value_name = "HOW", value_parser = parse_grouping)]
    pub group: Option<precision_core::group::Grouping>,
    /// ranked: after the answer, measure the trade-off curve: the error of up to 8 heads of
    /// the ranking from none to every layer (at most 8 more checks), shown on the console and
    /// in the report and HTML; with --measure-latency each point is timed too. Pick another
    /// point with `precision export --keep K`.
    #[arg(long)]
    pub curve: bool,
    /// With two lower precisions (--int8 --fp16): answer in three levels. After the search,
    /// a second search of the same kind, among the layers it marked, finds those that must
    /// stay in the higher precision; the others run in the middle one (float16), every other
    /// layer in the lowest (int8).
    #[arg(long)]
    pub three_levels: bool,
    /// How pruning removes layers: `single`, one at a time (at most one check per layer), or
    /// `blocks`, the largest untried block first, halving a block that cannot go (at most
    /// 2n-1 checks for n layers; far smaller answers where errors partly cancel). Default:
    /// blocks when the lowest precision is float16 or bfloat16, single otherwise.
    #[arg(long, value_name = "HOW")]
    pub prune: Option<precision_core::search::Prune>,
    /// Write a JSON report of the search.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a self-contained HTML report: summary, per-layer error chart, answer, checks.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the answer as a mixed-precision ONNX model (ONNX models only).
    #[arg(long, value_name = "FILE")]
    pub save_model: Option<PathBuf>,
    /// Prune the answer to a 1-minimal set (ranked always does; see --prune for how).
    #[arg(long)]
    pub minimize: bool,
    /// Run up to P checks at once (on CPU, P copies of the model share the cores); bisect
    /// becomes a (P+1)-ary search with fewer rounds.
    #[arg(long, short = 'j', value_name = "P", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Stop after building N checks and report the best passing plan so far (not minimal).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_checks: Option<u64>,
    /// Stop starting checks after this much time (e.g. 90s, 30m, 2h, 1h30m) and report the
    /// best passing plan so far (not minimal).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub time_budget: Option<std::time::Duration>,
    /// Skip the first check with every layer marked (the noise floor), which otherwise stops
    /// the search at once when even that fails.
    #[arg(long)]
    pub no_floor_check: bool,
    /// Set --atol/--rtol per output to F times the error measured with every markable layer
    /// marked (the backend's noise floor); F >= 1.
    #[arg(long, value_name = "F", value_parser = parse_factor, conflicts_with = "no_floor_check")]
    pub auto_tolerance: Option<f64>,
    /// Demand an error of at most F times the tolerance (0 < F <= 1) so that the answer has
    /// headroom of at least 1/F; the report still states the tolerance and the headroom
    /// against it.
    #[arg(long, value_name = "F", value_parser = parse_margin)]
    pub margin: Option<f64>,
    /// The check journal (resume after an interruption).
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Held-out data and sensitivity samples.
    #[command(flatten)]
    pub samples: SampleArgs,
    /// The FP16 pre-screen.
    #[command(flatten)]
    pub prescreen: PrescreenArgs,
}

/// The FP16 pre-screen: with `--fp16`, one float32 run with every layer output finds the
/// layers whose values or weights float16 cannot hold, and they are kept from the start.
#[derive(Args, Debug, Clone, Default)]
pub struct PrescreenArgs {
    /// With --fp16, search every markable layer: do not keep from the start the layers whose
    /// float32 values or weights float16 cannot hold.
    #[arg(long)]
    pub no_prescreen: bool,
    /// With --fp16, keep from the start every layer that reads or writes a value, or holds a
    /// weight, above T in magnitude in the float32 run (default 65504, float16's largest
    /// finite value; ModelOpt's `AutoCast` uses 512 for values).
    #[arg(long, value_name = "T", value_parser = parse_threshold, conflicts_with = "no_prescreen")]
    pub prescreen_threshold: Option<f64>,
}

impl PrescreenArgs {
    /// The threshold to screen with, or `None` when the pre-screen does not apply: off, or
    /// no float16 among the lower precisions.
    #[must_use]
    pub fn threshold(&self, lower: &[precision_core::Precision]) -> Option<f64> {
        (!self.no_prescreen && lower.contains(&precision_core::Precision::Float16))
            .then(|| self.prescreen_threshold.unwrap_or(precision_core::prescreen::FLOAT16_MAX))
    }
}

fn parse_grouping(text: &str) -> Result<precision_core::group::Grouping, String> {
    text.parse()
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0)
        .ok_or_else(|| format!("'{text}' is not a positive number (a magnitude, e.g. 512)"))
}

/// Which samples measure sensitivity, and the held-out data the answer is checked on.
#[derive(Args, Debug, Clone, Default)]
pub struct SampleArgs {
    /// ranked and worst-first: measure sensitivity (every-layer checks) on only the K samples
    /// the nothing-marked plan errs most on; checks of the network outputs still use all.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub ranking_samples: Option<u64>,
    /// After the search, check the answer once on these inputs, which the search never saw
    /// (same forms as --load-inputs); needs --holdout-golden.
    #[arg(long, value_name = "PATH", num_args = 1.., requires = "holdout_golden")]
    pub holdout_inputs: Vec<PathBuf>,
    /// The goldens of --holdout-inputs (a RunResults JSON, or a folder of per-sample .npz
    /// written by `precision run --save-outputs DIR`).
    #[arg(long, value_name = "PATH", requires = "holdout_inputs")]
    pub holdout_golden: Option<PathBuf>,
}

/// `90s`, `30m`, `2h`, `1h30m`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || {
        format!(
            "invalid duration '{text}': write e.g. 90s, 30m, 2h or 1h30m (a bare number is seconds)"
        )
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let mut total = 0.0_f64;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return Err(bad()),
        };
        let value: f64 = number.parse().map_err(|_| bad())?;
        total += value * unit;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| bad())
}

fn parse_margin(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| *f > 0.0 && *f <= 1.0)
        .ok_or_else(|| format!("--margin: '{text}' is not a number in (0, 1] (e.g. 0.5)"))
}

fn parse_factor(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 1.0)
        .ok_or_else(|| format!("--auto-tolerance: '{text}' is not a number >= 1"))
}

/// Where a search records its checks, to resume from them after an interruption.
#[derive(Args, Debug, Clone, Default)]
pub struct JournalArgs {
    /// Record every check in FILE as it finishes, and reuse the checks already there (default:
    /// next to the report, R.journal.jsonl for --report R.json; none without --report).
    #[arg(long, value_name = "FILE", conflicts_with = "no_journal")]
    pub journal: Option<PathBuf>,
    /// Neither record checks nor reuse recorded ones.
    #[arg(long)]
    pub no_journal: bool,
    /// When another search is using the journal or the report, wait for it to finish instead
    /// of stopping.
    #[arg(long)]
    pub wait_lock: bool,
}

fn parse_direction(s: &str) -> Result<Direction, String> {
    s.parse()
}
