//! A TensorRT network parsed from ONNX: its layers and tensors, precision hints, marked
//! outputs, and engine builds. Owns the shim's network handle and frees it on drop.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::ptr::{self, NonNull};

use precision_core::{DType, Precision};
use precision_trt_sys::shim::{
    PTRT_BUILD_BF16, PTRT_BUILD_DETAILED_PROFILING, PTRT_BUILD_DISABLE_TF32, PTRT_BUILD_FP16,
    PTRT_BUILD_INT8, PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS,
    PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS, PTRT_DTYPE_BF16, PTRT_DTYPE_BOOL, PTRT_DTYPE_FLOAT,
    PTRT_DTYPE_FP4, PTRT_DTYPE_FP8, PTRT_DTYPE_HALF, PTRT_DTYPE_INT4, PTRT_DTYPE_INT8,
    PTRT_DTYPE_INT32, PTRT_DTYPE_INT64, PTRT_DTYPE_UINT8, PTRT_MAX_DIMS,
    PTRT_NETWORK_STRONGLY_TYPED, ptrt_blob, ptrt_build_options, ptrt_calibrator, ptrt_dims,
    ptrt_input_shape, ptrt_layer_info, ptrt_network, ptrt_tensor_info,
};

use crate::api::{Api, shim_call};
use crate::error::TrtError;

/// A TensorRT data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrtDType {
    /// float32.
    Float,
    /// float16.
    Half,
    /// int8.
    Int8,
    /// int32.
    Int32,
    /// bool.
    Bool,
    /// uint8.
    Uint8,
    /// fp8 (E4M3).
    Fp8,
    /// bfloat16.
    Bf16,
    /// int64.
    Int64,
    /// int4.
    Int4,
    /// fp4.
    Fp4,
    /// A type this build does not know.
    Other(i32),
}

impl TrtDType {
    /// From the shim's `PTRT_DTYPE_*` value.
    #[must_use]
    pub fn from_raw(raw: i32) -> TrtDType {
        match u32::try_from(raw).unwrap_or(u32::MAX) {
            PTRT_DTYPE_FLOAT => TrtDType::Float,
            PTRT_DTYPE_HALF => TrtDType::Half,
            PTRT_DTYPE_INT8 => TrtDType::Int8,
            PTRT_DTYPE_INT32 => TrtDType::Int32,
            PTRT_DTYPE_BOOL => TrtDType::Bool,
            PTRT_DTYPE_UINT8 => TrtDType::Uint8,
            PTRT_DTYPE_FP8 => TrtDType::Fp8,
            PTRT_DTYPE_BF16 => TrtDType::Bf16,
            PTRT_DTYPE_INT64 => TrtDType::Int64,
            PTRT_DTYPE_INT4 => TrtDType::Int4,
            PTRT_DTYPE_FP4 => TrtDType::Fp4,
            _ => TrtDType::Other(raw),
        }
    }

    /// The shim's `PTRT_DTYPE_*` value.
    #[must_use]
    pub fn to_raw(self) -> i32 {
        let raw = match self {
            TrtDType::Float => PTRT_DTYPE_FLOAT,
            TrtDType::Half => PTRT_DTYPE_HALF,
            TrtDType::Int8 => PTRT_DTYPE_INT8,
            TrtDType::Int32 => PTRT_DTYPE_INT32,
            TrtDType::Bool => PTRT_DTYPE_BOOL,
            TrtDType::Uint8 => PTRT_DTYPE_UINT8,
            TrtDType::Fp8 => PTRT_DTYPE_FP8,
            TrtDType::Bf16 => PTRT_DTYPE_BF16,
            TrtDType::Int64 => PTRT_DTYPE_INT64,
            TrtDType::Int4 => PTRT_DTYPE_INT4,
            TrtDType::Fp4 => PTRT_DTYPE_FP4,
            TrtDType::Other(raw) => return raw,
        };
        i32::try_from(raw).expect("dtype values are small")
    }

    /// The host element type of tensors of this type, if the tool exchanges them.
    #[must_use]
    pub fn host(self) -> Option<DType> {
        match self {
            TrtDType::Float => Some(DType::F32),
            TrtDType::Half => Some(DType::F16),
            TrtDType::Bf16 => Some(DType::BF16),
            TrtDType::Int8 => Some(DType::I8),
            TrtDType::Uint8 => Some(DType::U8),
            TrtDType::Int32 => Some(DType::I32),
            TrtDType::Int64 => Some(DType::I64),
            TrtDType::Bool => Some(DType::Bool),
            _ => None,
        }
    }

    /// The type a layer is pinned to for running in `precision` (float32 and float16 only,
    /// as in Polygraphy).
    #[must_use]
    pub fn for_precision(precision: Precision) -> Option<TrtDType> {
        match precision {
            Precision::Float32 => Some(TrtDType::Float),
            Precision::Float16 => Some(TrtDType::Half),
            Precision::BFloat16 => Some(TrtDType::Bf16),
            _ => None,
        }
    }

    /// Whether values of this type are activations a precision applies to
    /// (float32, float16, int8: Polygraphy's rule for layers it may mark).
    #[must_use]
    pub fn is_activation(self) -> bool {
        matches!(self, TrtDType::Float | TrtDType::Half | TrtDType::Int8)
    }
}

/// A network tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "the shim's flags, one per field")]
pub struct TensorDesc {
    /// Its name (`None` for an absent optional input).
    pub name: Option<String>,
    /// Its type.
    pub dtype: TrtDType,
    /// Whether TensorRT treats it as a shape tensor.
    pub is_shape_tensor: bool,
    /// Whether it is a network input.
    pub is_network_input: bool,
    /// Whether it is a network output.
    pub is_network_output: bool,
    /// Whether it is marked as a debug tensor.
    pub is_debug: bool,
    /// Its declared shape (-1 for dynamic dimensions).
    pub dims: Vec<i64>,
}

/// A network layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    /// Its index in the network.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// TensorRT's layer type (`CONVOLUTION`, `CONSTANT`, `SHAPE`, ...).
    pub type_name: String,
    /// Its inputs.
    pub inputs: Vec<TensorDesc>,
    /// Its outputs.
    pub outputs: Vec<TensorDesc>,
    /// The precision set on it, if any.
    pub precision: Option<TrtDType>,
}

/// How strictly precision hints bind (`--precision-constraints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrecisionConstraints {
    /// `kOBEY_PRECISION_CONSTRAINTS`: a hint that cannot be met fails the build.
    #[default]
    Obey,
    /// `kPREFER_PRECISION_CONSTRAINTS`: TensorRT falls back, with a warning.
    Prefer,
}

/// What one build enables.
#[derive(Debug, Clone, Default)]
pub struct BuildSettings<'a> {
    /// Allow FP16 kernels (weak typing).
    pub fp16: bool,
    /// Allow INT8 kernels (weak typing).
    pub int8: bool,
    /// Allow BF16 kernels (weak typing).
    pub bf16: bool,
    /// How precision hints bind (weak typing; `None` when no hint is set).
    pub constraints: Option<PrecisionConstraints>,
    /// Builder workspace limit in bytes (0: TensorRT's default).
    pub workspace_bytes: u64,
    /// A serialized timing cache to start from.
    pub timing_cache: Option<&'a [u8]>,
    /// Fixed shapes of dynamic inputs.
    pub input_shapes: &'a [(String, Vec<i64>)],
}

/// An INT8 calibrator: streams batches (as device pointers) and reads and writes the cache.
pub trait Calibrator {
    /// The algorithm (`PTRT_CALIBRATION_*`).
    fn algorithm(&self) -> i32;
    /// The batch size (the leading dimension of each batch).
    fn batch_size(&self) -> i32;
    /// Device pointers of the next batch, one per name in `names`, or `None` at the end.
    fn next_batch(&mut self, names: &[String]) -> Option<Vec<*mut c_void>>;
    /// A cache to use instead of calibrating.
    fn read_cache(&mut self) -> Option<&[u8]>;
    /// The cache TensorRT wrote.
    fn write_cache(&mut self, cache: &[u8]);
}

/// The result of a build: the serialized engine and the updated timing cache.
pub struct Built {
    /// The serialized engine.
    pub engine: Blob,
    /// The timing cache after the build.
    pub timing_cache: Option<Blob>,
}

/// A TensorRT network with its builder and parser.
pub struct TrtNetwork {
    api: &'static Api,
    raw: NonNull<ptrt_network>,
}

// SAFETY: the shim's network is used from one thread at a time (`&mut self` for changes);
// TensorRT objects are not tied to the thread that created them.
unsafe impl Send for TrtNetwork {}

impl Drop for TrtNetwork {
    fn drop(&mut self) {
        // SAFETY: `raw` came from network_from_onnx and is destroyed exactly once.
        unsafe { shim_call!(self.api, network_destroy(self.raw.as_ptr())) };
    }
}

impl TrtNetwork {
    /// Parses `model` (ONNX bytes) into a network; `path` locates external weights.
    pub fn from_onnx(
        api: &'static Api,
        model: &[u8],
        path: Option<&Path>,
        strongly_typed: bool,
    ) -> Result<TrtNetwork, TrtError> {
        let path = path
            .map(|p| {
                CString::new(p.to_string_lossy().as_bytes()).map_err(|_| {
                    TrtError::InvalidArgument(format!("model path {} has a NUL", p.display()))
                })
            })
            .transpose()?;
        let flags = if strongly_typed { PTRT_NETWORK_STRONGLY_TYPED } else { 0 };
        let mut raw = ptr::null_mut();
        // SAFETY: `model` is valid for `model.len()` bytes, `path` is NUL-terminated or null,
        // and `raw` is valid for writes.
        let status = unsafe {
            shim_call!(
                api,
                network_from_onnx(
                    model.as_ptr().cast(),
                    model.len(),
                    path.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
                    flags,
                    &raw mut raw,
                )
            )
        };
        api.check(status)?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| TrtError::Trt("network_from_onnx returned no network".into()))?;
        Ok(TrtNetwork { api, raw })
    }

    /// Whether the network is strongly typed.
    #[must_use]
    pub fn is_strongly_typed(&self) -> bool {
        // SAFETY: `raw` is a live network.
        unsafe { shim_call!(self.api, network_is_strongly_typed(self.raw.as_ptr())) != 0 }
    }

    /// Every layer, in network order.
    pub fn layers(&self) -> Result<Vec<LayerDesc>, TrtError> {
        // SAFETY: `raw` is a live network.
        let count = unsafe { shim_call!(self.api, network_nb_layers(self.raw.as_ptr())) };
        (0..count).map(|i| self.layer(i)).collect()
    }

    fn layer(&self, i: i32) -> Result<LayerDesc, TrtError> {
        let mut info = ptrt_layer_info::default();
        // SAFETY: `raw` is live and `info` valid for writes.
        let status =
            unsafe { shim_call!(self.api, network_layer(self.raw.as_ptr(), i, &raw mut info)) };
        self.api.check(status)?;
        let mut inputs = Vec::new();
        for j in 0..info.nb_inputs {
            let mut t = ptrt_tensor_info::default();
            // SAFETY: as above.
            let status = unsafe {
                shim_call!(self.api, network_layer_input(self.raw.as_ptr(), i, j, &raw mut t))
            };
            self.api.check(status)?;
            inputs.push(tensor_desc(&t));
        }
        let mut outputs = Vec::new();
        for j in 0..info.nb_outputs {
            let mut t = ptrt_tensor_info::default();
            // SAFETY: as above.
            let status = unsafe {
                shim_call!(self.api, network_layer_output(self.raw.as_ptr(), i, j, &raw mut t))
            };
            self.api.check(status)?;
            outputs.push(tensor_desc(&t));
        }
        Ok(LayerDesc {
            index: usize::try_from(i).expect("layer indices are not negative"),
            // SAFETY: the strings belong to the live network.
            name: unsafe { string(info.name) }.unwrap_or_default(),
            // SAFETY: as above.
            type_name: unsafe { string(info.type_name) }.unwrap_or_else(|| "UNKNOWN".into()),
            inputs,
            outputs,
            precision: (info.precision_is_set != 0).then(|| TrtDType::from_raw(info.precision)),
        })
    }

    /// The network inputs.
    pub fn inputs(&self) -> Result<Vec<TensorDesc>, TrtError> {
        // SAFETY: `raw` is live; each info is valid for writes.
        let count = unsafe { shim_call!(self.api, network_nb_inputs(self.raw.as_ptr())) };
        (0..count)
            .map(|i| {
                let mut t = ptrt_tensor_info::default();
                // SAFETY: as above.
                let status = unsafe {
                    shim_call!(self.api, network_input(self.raw.as_ptr(), i, &raw mut t))
                };
                self.api.check(status).map(|()| tensor_desc(&t))
            })
            .collect()
    }

    /// The network outputs.
    pub fn outputs(&self) -> Result<Vec<TensorDesc>, TrtError> {
        // SAFETY: `raw` is live; each info is valid for writes.
        let count = unsafe { shim_call!(self.api, network_nb_outputs(self.raw.as_ptr())) };
        (0..count)
            .map(|i| {
                let mut t = ptrt_tensor_info::default();
                // SAFETY: as above.
                let status = unsafe {
                    shim_call!(self.api, network_output(self.raw.as_ptr(), i, &raw mut t))
                };
                self.api.check(status).map(|()| tensor_desc(&t))
            })
            .collect()
    }

    /// Pins `layer` to `dtype` (a precision hint; weak typing only).
    pub fn set_precision(&mut self, layer: usize, dtype: TrtDType) -> Result<(), TrtError> {
        let layer = index(layer)?;
        // SAFETY: `raw` is live.
        let status = unsafe {
            shim_call!(self.api, layer_set_precision(self.raw.as_ptr(), layer, dtype.to_raw()))
        };
        self.api.check(status)
    }

    /// Clears the precision hint of `layer`.
    pub fn reset_precision(&mut self, layer: usize) -> Result<(), TrtError> {
        let layer = index(layer)?;
        // SAFETY: `raw` is live.
        let status =
            unsafe { shim_call!(self.api, layer_reset_precision(self.raw.as_ptr(), layer)) };
        self.api.check(status)
    }

    /// Makes output `output` of `layer` a network output.
    pub fn mark_output(&mut self, layer: usize, output: usize) -> Result<(), TrtError> {
        let (l, o) = (index(layer)?, index(output)?);
        // SAFETY: `raw` is live.
        let status = unsafe { shim_call!(self.api, mark_output(self.raw.as_ptr(), l, o)) };
        self.api.check(status)
    }

    /// Stops output `output` of `layer` being a network output.
    pub fn unmark_output(&mut self, layer: usize, output: usize) -> Result<(), TrtError> {
        let (l, o) = (index(layer)?, index(output)?);
        // SAFETY: `raw` is live.
        let status = unsafe { shim_call!(self.api, unmark_output(self.raw.as_ptr(), l, o)) };
        self.api.check(status)
    }

    /// Marks output `output` of `layer` as a debug tensor.
    pub fn mark_debug(&mut self, layer: usize, output: usize) -> Result<(), TrtError> {
        let (l, o) = (index(layer)?, index(output)?);
        // SAFETY: `raw` is live.
        let status = unsafe { shim_call!(self.api, mark_debug(self.raw.as_ptr(), l, o)) };
        self.api.check(status)
    }

    /// Unmarks a debug tensor.
    pub fn unmark_debug(&mut self, layer: usize, output: usize) -> Result<(), TrtError> {
        let (l, o) = (index(layer)?, index(output)?);
        // SAFETY: `raw` is live.
        let status = unsafe { shim_call!(self.api, unmark_debug(self.raw.as_ptr(), l, o)) };
        self.api.check(status)
    }

    /// Builds a serialized engine with `settings`, calibrating with `calibrator` when INT8 is
    /// on.
    pub fn build(
        &mut self,
        settings: &BuildSettings<'_>,
        calibrator: Option<&mut dyn Calibrator>,
    ) -> Result<Built, TrtError> {
        let mut flags = PTRT_BUILD_DISABLE_TF32 | PTRT_BUILD_DETAILED_PROFILING;
        if settings.fp16 {
            flags |= PTRT_BUILD_FP16;
        }
        if settings.int8 {
            flags |= PTRT_BUILD_INT8;
        }
        if settings.bf16 {
            flags |= PTRT_BUILD_BF16;
        }
        match settings.constraints {
            Some(PrecisionConstraints::Obey) => flags |= PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS,
            Some(PrecisionConstraints::Prefer) => {
                flags |= PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS;
            }
            None => {}
        }
        let names: Vec<CString> = settings
            .input_shapes
            .iter()
            .map(|(n, _)| {
                CString::new(n.as_str())
                    .map_err(|_| TrtError::InvalidArgument(format!("input name {n:?} has a NUL")))
            })
            .collect::<Result<_, _>>()?;
        let shapes: Vec<ptrt_input_shape> = settings
            .input_shapes
            .iter()
            .zip(&names)
            .map(|((_, dims), name)| {
                Ok(ptrt_input_shape { name: name.as_ptr(), dims: dims_of(dims)? })
            })
            .collect::<Result<_, TrtError>>()?;
        let mut bridge =
            calibrator.map(|c| CalibratorBridge { inner: c, pointers: Vec::new(), panic: None });
        let raw_calibrator = bridge.as_mut().map(|b| ptrt_calibrator {
            user: ptr::from_mut(b).cast(),
            algorithm: b.inner.algorithm(),
            batch_size: b.inner.batch_size(),
            get_batch: Some(calibrator_get_batch),
            read_cache: Some(calibrator_read_cache),
            write_cache: Some(calibrator_write_cache),
        });
        let options = ptrt_build_options {
            flags,
            workspace_bytes: settings.workspace_bytes,
            timing_cache: settings.timing_cache.map_or(ptr::null(), |c| c.as_ptr().cast()),
            timing_cache_size: settings.timing_cache.map_or(0, <[u8]>::len),
            input_shapes: if shapes.is_empty() { ptr::null() } else { shapes.as_ptr() },
            nb_input_shapes: i32::try_from(shapes.len())
                .map_err(|_| TrtError::InvalidArgument("too many input shapes".into()))?,
            calibrator: raw_calibrator.as_ref().map_or(ptr::null(), ptr::from_ref),
        };
        let mut engine = ptr::null_mut();
        let mut timing = ptr::null_mut();
        // SAFETY: `options` and everything it points to (names, shapes, the timing cache, the
        // calibrator bridge) live until the call returns; the out pointers are valid.
        let status = unsafe {
            shim_call!(
                self.api,
                build(self.raw.as_ptr(), &raw const options, &raw mut engine, &raw mut timing)
            )
        };
        let timing_cache = NonNull::new(timing).map(|raw| Blob { api: self.api, raw });
        if let Some(panic) = bridge.and_then(|b| b.panic) {
            return Err(TrtError::Trt(format!("the INT8 calibrator panicked: {panic}")));
        }
        self.api.check(status)?;
        let engine = NonNull::new(engine)
            .map(|raw| Blob { api: self.api, raw })
            .ok_or_else(|| TrtError::Trt("build returned no engine".into()))?;
        Ok(Built { engine, timing_cache })
    }
}

/// The calibrator behind the C callbacks during one build.
struct CalibratorBridge<'c> {
    inner: &'c mut dyn Calibrator,
    /// Keeps the last batch's pointers alive while TensorRT reads them.
    pointers: Vec<*mut c_void>,
    /// The message of the first panic in the calibrator: the build then fails with it.
    panic: Option<String>,
}

impl CalibratorBridge<'_> {
    /// Runs `f` on the calibrator, or nothing once it has panicked; a panic is recorded and
    /// `None` returned (no more batches, no cache), so it never unwinds into TensorRT.
    fn call<R>(&mut self, f: impl FnOnce(&mut dyn Calibrator) -> R) -> Option<R> {
        if self.panic.is_some() {
            return None;
        }
        let inner = &mut *self.inner;
        match crate::callback::guarded(|| f(inner)) {
            Ok(r) => Some(r),
            Err(panic) => {
                self.panic = Some(panic);
                None
            }
        }
    }
}

unsafe extern "C" fn calibrator_get_batch(
    user: *mut c_void,
    bindings: *mut *mut c_void,
    names: *const *const c_char,
    nb: i32,
) -> i32 {
    // SAFETY: `user` is the bridge set in `build`, alive for the build; TensorRT passes `nb`
    // valid names and room for `nb` bindings.
    unsafe {
        let bridge = &mut *user.cast::<CalibratorBridge<'_>>();
        let count = usize::try_from(nb).unwrap_or(0);
        let names: Vec<String> =
            (0..count).map(|i| string(*names.add(i)).unwrap_or_default()).collect();
        match bridge.call(|c| c.next_batch(&names)).flatten() {
            Some(pointers) if pointers.len() == count => {
                for (i, p) in pointers.iter().enumerate() {
                    *bindings.add(i) = *p;
                }
                bridge.pointers = pointers;
                1
            }
            _ => 0,
        }
    }
}

unsafe extern "C" fn calibrator_read_cache(
    user: *mut c_void,
    data: *mut *const c_void,
    size: *mut usize,
) {
    // SAFETY: as in `calibrator_get_batch`; the cache bytes belong to the calibrator, which
    // outlives the build.
    unsafe {
        let bridge = &mut *user.cast::<CalibratorBridge<'_>>();
        let cache = bridge.call(|c| c.read_cache().map(|b| (b.as_ptr(), b.len()))).flatten();
        if let Some((bytes, len)) = cache {
            *data = bytes.cast();
            *size = len;
        } else {
            *data = ptr::null();
            *size = 0;
        }
    }
}

unsafe extern "C" fn calibrator_write_cache(user: *mut c_void, data: *const c_void, size: usize) {
    // SAFETY: as in `calibrator_get_batch`; TensorRT passes `size` readable bytes.
    unsafe {
        let bridge = &mut *user.cast::<CalibratorBridge<'_>>();
        if !data.is_null() {
            let cache = std::slice::from_raw_parts(data.cast::<u8>(), size);
            bridge.call(|c| c.write_cache(cache));
        }
    }
}

/// Bytes made by the shim; freed on drop.
pub struct Blob {
    api: &'static Api,
    raw: NonNull<ptrt_blob>,
}

// SAFETY: a blob is plain bytes owned by the shim.
unsafe impl Send for Blob {}

impl Blob {
    /// The bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        let (mut data, mut size) = (ptr::null(), 0usize);
        // SAFETY: `raw` is live; the bytes stay valid while the blob lives.
        unsafe {
            shim_call!(self.api, blob_data(self.raw.as_ptr(), &raw mut data, &raw mut size));
            if data.is_null() || size == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(data.cast::<u8>(), size)
            }
        }
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        // SAFETY: `raw` came from the shim and is destroyed exactly once.
        unsafe { shim_call!(self.api, blob_destroy(self.raw.as_ptr())) };
    }
}

/// Wraps a blob the shim returned.
pub(crate) fn blob(api: &'static Api, raw: *mut ptrt_blob) -> Result<Blob, TrtError> {
    NonNull::new(raw)
        .map(|raw| Blob { api, raw })
        .ok_or_else(|| TrtError::Trt("the shim returned no data".into()))
}

/// A shape as the shim's struct.
pub(crate) fn dims_of(dims: &[i64]) -> Result<ptrt_dims, TrtError> {
    let max = PTRT_MAX_DIMS as usize;
    if dims.len() > max {
        return Err(TrtError::InvalidArgument(format!(
            "a shape of {} dimensions is more than TensorRT's {max}",
            dims.len()
        )));
    }
    let mut out =
        ptrt_dims { nb_dims: i32::try_from(dims.len()).expect("<= 8"), ..Default::default() };
    out.d[..dims.len()].copy_from_slice(dims);
    Ok(out)
}

/// The dimensions of a shim shape.
pub(crate) fn dims_vec(dims: &ptrt_dims) -> Vec<i64> {
    let n = usize::try_from(dims.nb_dims).unwrap_or(0).min(dims.d.len());
    dims.d[..n].to_vec()
}

fn tensor_desc(t: &ptrt_tensor_info) -> TensorDesc {
    TensorDesc {
        // SAFETY: the name belongs to the live network that filled `t`.
        name: unsafe { string(t.name) },
        dtype: TrtDType::from_raw(t.dtype),
        is_shape_tensor: t.is_shape_tensor != 0,
        is_network_input: t.is_network_input != 0,
        is_network_output: t.is_network_output != 0,
        is_debug: t.is_debug != 0,
        dims: dims_vec(&t.dims),
    }
}

fn index(i: usize) -> Result<i32, TrtError> {
    i32::try_from(i).map_err(|_| TrtError::InvalidArgument(format!("index {i} is out of range")))
}

/// Copies a NUL-terminated string (`None` for null).
///
/// # Safety
/// `p` is null or points to a NUL-terminated string.
pub(crate) unsafe fn string(p: *const c_char) -> Option<String> {
    // SAFETY: per the contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
