//! Engine-agnostic core of `precision`: precision types, the network and plan model, the
//! [`Backend`] seam, Polygraphy's comparator, INT8 calibration, and the precision searches.
//!
//! This crate does no file I/O and links no native code.

pub mod backend;
pub mod calibration;
pub mod command;
pub mod compare;
pub mod group;
pub mod json_float;
pub mod latency;
pub mod levels;
pub mod network;
pub mod oracle;
pub mod plan;
pub mod precision;
pub mod prescreen;
pub mod report;
pub mod samples;
pub mod search;
pub mod tensor;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{
    AnswerIdentity, Backend, BackendError, Capabilities, Engine, ISOLATED_PREFIX, OutputSelection,
    check_plan_fits, isolated_name,
};
pub use calibration::{
    CacheParseError, CalibrationCache, CalibrationError, CalibrationMethod, DEFAULT_TRT_VERSION,
    RangeCollector, amax_from_scale, scale_from_amax,
};
pub use command::CommandOutcome;
pub use compare::{
    CompareConfig, CompareError, CompareFunc, ErrorStat, MetricResult, OutputComparison, PerOutput,
    RelativeCheck, combine_iterations, compare_outputs, compare_tensors, relative_error,
};
pub use network::{Layer, Network, NetworkError};
pub use oracle::{CheckTiming, Evaluation, IsolatedMeasurement, Oracle, SearchError};
pub use plan::{LayerSet, Middle, PlanError, PrecisionPlan};
pub use precision::{ParsePrecisionError, Precision};
pub use report::{
    LayerRef, Report, SensitivityRow, Status, ThreeLevels, is_hidden_char, modelopt_pattern,
};
pub use samples::{DataReport, HoldoutReport, SampleFailure, SampleTally, Samples, TensorSets};
pub use search::{
    Algorithm, Check, Direction, NoObserver, Observer, SearchOptions, SearchOutcome, run_search,
};
pub use tensor::{DType, NamedTensors, Tensor, TensorInfo, byte_size, element_count};
