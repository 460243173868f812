//! Layers the fake has no implementation for in a precision ([`FakeConfig::no_kernel`]): a
//! build that would run one of them in that precision fails as TensorRT's builder does.

use precision_core::Precision;
use precision_trt_sys::shim::{
    PTRT_BUILD_FP16, PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS,
    PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS, PTRT_DTYPE_FLOAT,
};

#[cfg(doc)]
use super::FakeConfig;
use super::network::FakeNetwork;

impl FakeNetwork {
    /// The precision each layer runs in under `flags`, given which run in INT8 (`int8`):
    /// INT8; else, weakly typed with `kFP16`, float16 for a layer TensorRT may lower (no
    /// float32 hint that binds); else float32. Strongly typed networks run float16 only
    /// where the graph says so, which the fake does not model: float32.
    fn layer_precisions(&self, flags: u32, int8: &[bool]) -> Vec<Precision> {
        let fp16 = !self.strongly_typed && flags & PTRT_BUILD_FP16 != 0;
        let binding = flags
            & (PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS | PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS)
            != 0;
        let float = i32::try_from(PTRT_DTYPE_FLOAT).expect("small");
        self.layers
            .iter()
            .zip(int8)
            .map(|(l, &low)| {
                let lowerable = !matches!(l.op.as_str(), "Constant" | "Shape");
                let pinned = binding && l.precision == Some(float);
                if low {
                    Precision::Int8
                } else if fp16 && lowerable && !pinned {
                    Precision::Float16
                } else {
                    Precision::Float32
                }
            })
            .collect()
    }

    /// TensorRT's build error for the first layer (in network order) that would run in a
    /// precision [`FakeConfig::no_kernel`] has no implementation for, if any: one error line
    /// naming the node, then the failed assertion that ends the build, as TensorRT logs them.
    /// With [`FakeConfig::build_error`], that text when any layer runs below float32.
    pub(super) fn refusal(&self, flags: u32, int8: &[bool]) -> Option<String> {
        let config = &self.shared.config;
        let no_kernel = &config.no_kernel;
        if no_kernel.is_empty() && config.build_error.is_none() {
            return None;
        }
        let precisions = self.layer_precisions(flags, int8);
        if let Some(message) = &config.build_error
            && precisions.iter().any(|p| *p != Precision::Float32)
        {
            return Some(message.clone());
        }
        let refused = self.layers.iter().zip(&precisions).find(|(l, p)| {
            no_kernel.get(l.name.to_string_lossy().as_ref()).is_some_and(|q| q == *p)
        })?;
        let name = refused.0.name.to_string_lossy();
        Some(format!(
            "[optimizer.cpp::computeCosts::3869] Error Code 10: Internal Error (Could not find \
             any implementation for node {name}.)\n[builder.cpp::buildSerializedNetwork::751] \
             Error Code 2: Internal Error (Assertion engine != nullptr failed. )"
        ))
    }
}
