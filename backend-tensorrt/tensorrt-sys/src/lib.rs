//! Raw bindings to precision's TensorRT shim (placeholder of the `trtshim` branch: the real
//! bindings replace this file at merge).

/// Whether the build script compiled the shim and linked TensorRT and the CUDA runtime.
pub const LINKED: bool = cfg!(ptrt_linked);
