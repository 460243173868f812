//! Engine-agnostic core of `precision`: precision types, the network and plan model, the
//! [`Backend`] seam, Polygraphy's comparator, and the precision searches.
//!
//! This crate does no file I/O and links no native code.

pub mod backend;
pub mod compare;
pub mod network;
pub mod oracle;
pub mod plan;
pub mod precision;
pub mod search;
pub mod tensor;

pub use backend::{Backend, BackendError, Capabilities, Engine, OutputSelection};
pub use compare::{
    CompareConfig, CompareError, ErrorStat, OutputComparison, PerOutput, compare_outputs,
    compare_tensors,
};
pub use network::{Layer, Network, NetworkError};
pub use oracle::{Detail, Evaluation, Oracle, SearchError};
pub use plan::{LayerSet, PlanError, PrecisionPlan};
pub use precision::{ParsePrecisionError, Precision};
pub use search::{
    Algorithm, Direction, Iteration, NoObserver, Observer, SearchOptions, SearchOutcome, run_search,
};
pub use tensor::{DType, NamedTensors, Tensor, TensorInfo};
