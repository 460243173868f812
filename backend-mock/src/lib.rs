//! A simulated backend for `precision`: networks described in TOML, where every layer run in
//! a lowered precision injects a known error that flows to the layers after it.
//!
//! The format and its semantics are in [`spec`]. In short: every tensor `t` has a golden
//! float32 value `v_t` (see [`values`]) and an error `e_t`; network inputs have no error; a
//! layer running in precision `p` sets, for each of its outputs `t` and element `i`,
//! `e_t[i] = gain * sum over inputs s of e_s[i mod len(s)] + error[p] * u`, where `u` is 1
//! (`noise = "constant"`) or a pseudo-random factor in `[-1, 1]` (`noise = "uniform"`). An
//! engine returns `(v_t + e_t) as f32`, computed in float64 and rounded once. Golden values do
//! not depend on the input values; inputs are only checked for names, dtype and shape.

mod backend;
mod error;
pub mod spec;
#[cfg(feature = "testing")]
pub mod testing;
pub mod values;

pub use backend::{BuildCounter, MOCK_PLAN_FORMAT, MockBackend, MockEngine, UNMARKABLE_REASON};
pub use error::MockError;
pub use spec::{BYTES_PER_ELEMENT, ErrorAmplitudes, InputSpec, LayerSpec, MockSpec, Noise};
