//! Running built engines: the deserialized engine, its execution context, device buffers and
//! a CUDA stream, each freed on drop, and one inference with copies to and from the host.

#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_void};
use std::ptr::{self, NonNull};
use std::sync::Mutex;

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use precision_core::{DType, NamedTensors, Tensor};
use precision_trt_sys::cuda::{cudaMemcpyDeviceToHost, cudaMemcpyHostToDevice, cudaStream_t};
use precision_trt_sys::shim::{ptrt_context, ptrt_dims, ptrt_engine, ptrt_io_info};

use crate::api::{Api, shim_call};
use crate::error::TrtError;
use crate::network::{TrtDType, blob, dims_of, dims_vec, string};

/// An input or output of an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoDesc {
    /// Its name.
    pub name: String,
    /// Its type.
    pub dtype: TrtDType,
    /// Whether it is an input.
    pub is_input: bool,
    /// Its shape as built (-1: dynamic).
    pub dims: Vec<i64>,
}

/// A deserialized engine.
pub struct CudaEngine {
    api: &'static Api,
    raw: NonNull<ptrt_engine>,
}

// SAFETY: an engine is immutable once built and TensorRT allows use from any thread.
unsafe impl Send for CudaEngine {}

impl Drop for CudaEngine {
    fn drop(&mut self) {
        // SAFETY: `raw` came from engine_deserialize and is destroyed exactly once, after
        // every context of it (contexts borrow the engine).
        unsafe { shim_call!(self.api, engine_destroy(self.raw.as_ptr())) };
    }
}

impl CudaEngine {
    /// Deserializes `bytes` on the current CUDA device.
    pub fn deserialize(api: &'static Api, bytes: &[u8]) -> Result<CudaEngine, TrtError> {
        let mut raw = ptr::null_mut();
        // SAFETY: `bytes` is valid for its length; `raw` is valid for writes.
        let status = unsafe {
            shim_call!(api, engine_deserialize(bytes.as_ptr().cast(), bytes.len(), &raw mut raw))
        };
        api.check(status)?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| TrtError::Trt("engine_deserialize returned no engine".into()))?;
        Ok(CudaEngine { api, raw })
    }

    /// The engine's inputs and outputs.
    pub fn io(&self) -> Result<Vec<IoDesc>, TrtError> {
        // SAFETY: `raw` is live; each info is valid for writes and its name belongs to the
        // engine.
        unsafe {
            let count = shim_call!(self.api, engine_nb_io(self.raw.as_ptr()));
            (0..count)
                .map(|i| {
                    let mut info = ptrt_io_info::default();
                    let status =
                        shim_call!(self.api, engine_io(self.raw.as_ptr(), i, &raw mut info));
                    self.api.check(status)?;
                    Ok(IoDesc {
                        name: string(info.name).unwrap_or_default(),
                        dtype: TrtDType::from_raw(info.dtype),
                        is_input: info.is_input != 0,
                        dims: dims_vec(&info.dims),
                    })
                })
                .collect()
        }
    }

    /// The engine inspector's JSON on every layer.
    pub fn layer_information(&self) -> Result<String, TrtError> {
        let mut raw = ptr::null_mut();
        // SAFETY: `raw` is live and the out pointer valid.
        let status = unsafe {
            shim_call!(self.api, engine_layer_information(self.raw.as_ptr(), &raw mut raw))
        };
        self.api.check(status)?;
        let json = blob(self.api, raw)?;
        Ok(String::from_utf8_lossy(json.bytes()).into_owned())
    }
}

/// An execution context of an engine, with a CUDA stream and the device buffers of one run.
/// Holds the engine, and drops the context before it.
pub struct Runner {
    context: NonNull<ptrt_context>,
    stream: Stream,
    /// Debug tensors copied out during the last run.
    debug: Box<DebugSink>,
    engine: CudaEngine,
    io: Vec<IoDesc>,
}

// SAFETY: the context, stream and engine are used from one thread at a time (`&mut self`).
unsafe impl Send for Runner {}

impl Drop for Runner {
    fn drop(&mut self) {
        // SAFETY: the context is destroyed once, before `engine` (dropped after this).
        unsafe { shim_call!(self.engine.api, context_destroy(self.context.as_ptr())) };
    }
}

/// A tensor copied to the host.
struct HostCopy {
    /// The tensor's name.
    name: String,
    /// Its element type.
    dtype: TrtDType,
    /// Its shape.
    dims: Vec<i64>,
    /// Its elements, little-endian.
    bytes: Vec<u8>,
}

/// Where the debug listener puts the tensors it copies.
struct DebugSink {
    api: &'static Api,
    /// Host copies of debug tensors.
    tensors: Mutex<Vec<HostCopy>>,
    /// The first error of a copy.
    error: Mutex<Option<TrtError>>,
}

/// The debug listener's callback: copies one debug tensor to the host. A panic in the copy
/// is recorded as the run's error and ends the listener's part (it never unwinds into
/// TensorRT).
unsafe extern "C" fn debug_tensor(
    user: *mut c_void,
    address: *const c_void,
    dtype: i32,
    dims: *const ptrt_dims,
    name: *const c_char,
    stream: *mut c_void,
) -> i32 {
    // SAFETY: TensorRT's arguments, passed on unchanged under the same contract.
    let copied = crate::callback::guarded(|| unsafe {
        copy_debug_tensor(user, address, dtype, dims, name, stream)
    });
    copied.unwrap_or_else(|panic| {
        // SAFETY: as in `copy_debug_tensor`.
        let sink = unsafe { &*user.cast::<DebugSink>() };
        if let Ok(mut error) = sink.error.lock() {
            error.get_or_insert(TrtError::Trt(format!("copying a debug tensor panicked: {panic}")));
        }
        0
    })
}

/// Copies one debug tensor to the host (see [`debug_tensor`]).
///
/// # Safety
/// `user` is the runner's boxed sink, alive while the context is; TensorRT's arguments as in
/// `ptrt_debug_fn`.
unsafe fn copy_debug_tensor(
    user: *mut c_void,
    address: *const c_void,
    dtype: i32,
    dims: *const ptrt_dims,
    name: *const c_char,
    stream: *mut c_void,
) -> i32 {
    // SAFETY: `user` is the runner's boxed sink, alive while the context is; TensorRT passes
    // a device address holding a tensor of `dims` and `dtype`, a name and its stream.
    unsafe {
        let sink = &*user.cast::<DebugSink>();
        let dims = dims_vec(&*dims);
        let dtype = TrtDType::from_raw(dtype);
        let name = string(name).unwrap_or_default();
        let Some(host) = dtype.host() else { return 1 };
        let count: usize = dims.iter().map(|d| usize::try_from(*d).unwrap_or(0)).product();
        let mut bytes = vec![0u8; count * host.size()];
        // The tensor is only guaranteed during this call: wait for it to be computed, copy
        // it, and wait for the copy (as Polygraphy's listener does).
        let sync = (sink.api.cuda().stream_synchronize)(stream.cast());
        if let Err(e) = sink.api.check_cuda("cudaStreamSynchronize (debug tensor)", sync) {
            sink.error.lock().expect("not poisoned").get_or_insert(e);
            return 0;
        }
        let code = (sink.api.cuda().memcpy_async)(
            bytes.as_mut_ptr().cast(),
            address,
            bytes.len(),
            cudaMemcpyDeviceToHost,
            stream.cast(),
        );
        let done = if code == precision_trt_sys::cuda::cudaSuccess {
            (sink.api.cuda().stream_synchronize)(stream.cast())
        } else {
            code
        };
        if let Err(e) = sink.api.check_cuda("cudaMemcpyAsync (debug tensor)", done) {
            sink.error.lock().expect("not poisoned").get_or_insert(e);
            return 0;
        }
        sink.tensors.lock().expect("not poisoned").push(HostCopy { name, dtype, dims, bytes });
        1
    }
}

impl Runner {
    /// A context for `engine` with its own stream; with `debug`, a listener that copies
    /// every debug tensor to the host.
    pub fn new(engine: CudaEngine, debug: bool) -> Result<Runner, TrtError> {
        let api = engine.api;
        let io = engine.io()?;
        let mut raw = ptr::null_mut();
        // SAFETY: the engine is live; `raw` is valid for writes.
        let status = unsafe { shim_call!(api, context_create(engine.raw.as_ptr(), &raw mut raw)) };
        api.check(status)?;
        let context = NonNull::new(raw)
            .ok_or_else(|| TrtError::Trt("context_create returned no context".into()))?;
        let stream = match Stream::new(api) {
            Ok(s) => s,
            Err(e) => {
                // SAFETY: the context was just created and is destroyed once.
                unsafe { shim_call!(api, context_destroy(context.as_ptr())) };
                return Err(e);
            }
        };
        let sink =
            Box::new(DebugSink { api, tensors: Mutex::new(Vec::new()), error: Mutex::new(None) });
        let runner = Runner { context, stream, debug: sink, engine, io };
        if debug {
            // SAFETY: the sink is boxed (a stable address) and lives as long as the context.
            let status = unsafe {
                shim_call!(
                    api,
                    context_set_debug_listener(
                        runner.context.as_ptr(),
                        Some(debug_tensor),
                        ptr::from_ref::<DebugSink>(&runner.debug).cast_mut().cast(),
                    )
                )
            };
            api.check(status)?;
        }
        Ok(runner)
    }

    /// The engine's inputs and outputs.
    #[must_use]
    pub fn io(&self) -> &[IoDesc] {
        &self.io
    }

    /// Runs one inference: copies `inputs` to the device, enqueues, copies every output (and
    /// every debug tensor) back.
    pub fn run(&mut self, inputs: &NamedTensors) -> Result<NamedTensors, TrtError> {
        let api = self.engine.api;
        let mut buffers = Vec::new();
        let mut uploads = Vec::new();
        for io in self.io.iter().filter(|io| io.is_input) {
            let tensor = inputs.get(&io.name).ok_or_else(|| {
                TrtError::InvalidArgument(format!("no value given for engine input {}", io.name))
            })?;
            let bytes = host_bytes(tensor, io)?;
            let dims: Vec<i64> =
                tensor.shape().iter().map(|d| i64::try_from(*d).unwrap_or(i64::MAX)).collect();
            let name = c_name(&io.name)?;
            let shape = dims_of(&dims)?;
            // SAFETY: the context is live; `name` and `shape` outlive the call.
            let status = unsafe {
                shim_call!(
                    api,
                    context_set_input_shape(self.context.as_ptr(), name.as_ptr(), &raw const shape)
                )
            };
            api.check(status)?;
            let buffer = DeviceBuffer::new(api, bytes.len())?;
            buffer.upload(&bytes, &self.stream)?;
            self.set_address(&name, &buffer)?;
            buffers.push(buffer);
            uploads.push(bytes);
        }
        let mut outputs = Vec::new();
        for io in self.io.iter().filter(|io| !io.is_input) {
            let name = c_name(&io.name)?;
            let mut shape = ptrt_dims::default();
            // SAFETY: the context is live; `name` and `shape` are valid.
            let status = unsafe {
                shim_call!(
                    api,
                    context_tensor_shape(self.context.as_ptr(), name.as_ptr(), &raw mut shape)
                )
            };
            api.check(status)?;
            let dims = dims_vec(&shape);
            let host = io.dtype.host().ok_or_else(|| {
                TrtError::Unsupported(format!("output {} has type {:?}", io.name, io.dtype))
            })?;
            let count = element_count(&dims, &io.name)?;
            let buffer = DeviceBuffer::new(api, count * host.size())?;
            self.set_address(&name, &buffer)?;
            outputs.push((io.name.clone(), io.dtype, dims, buffer));
        }
        self.debug.tensors.lock().expect("not poisoned").clear();
        // SAFETY: every tensor has a live device address; the stream is live.
        let status = unsafe {
            shim_call!(api, context_enqueue(self.context.as_ptr(), self.stream.raw.cast()))
        };
        api.check(status)?;
        let mut copies = Vec::new();
        for (name, dtype, dims, buffer) in &outputs {
            let mut bytes = vec![0u8; buffer.bytes];
            buffer.download(&mut bytes, &self.stream)?;
            copies.push(HostCopy { name: name.clone(), dtype: *dtype, dims: dims.clone(), bytes });
        }
        self.stream.synchronize()?;
        drop(uploads);
        if let Some(e) = self.debug.error.lock().expect("not poisoned").take() {
            return Err(e);
        }
        let debug = std::mem::take(&mut *self.debug.tensors.lock().expect("not poisoned"));
        let mut result = NamedTensors::new();
        for HostCopy { name, dtype, dims, bytes } in copies.into_iter().chain(debug) {
            let tensor = tensor_from_bytes(dtype, &dims, &bytes, &name)?;
            result.insert(name, tensor);
        }
        Ok(result)
    }

    fn set_address(&self, name: &CString, buffer: &DeviceBuffer) -> Result<(), TrtError> {
        let api = self.engine.api;
        // SAFETY: the context is live; the buffer outlives the run that uses it.
        let status = unsafe {
            shim_call!(
                api,
                context_set_tensor_address(self.context.as_ptr(), name.as_ptr(), buffer.ptr)
            )
        };
        api.check(status)
    }
}

/// A CUDA stream, destroyed on drop.
pub struct Stream {
    api: &'static Api,
    raw: cudaStream_t,
}

impl Stream {
    /// A new stream.
    pub fn new(api: &'static Api) -> Result<Stream, TrtError> {
        let mut raw: cudaStream_t = ptr::null_mut();
        // SAFETY: `raw` is valid for writes.
        let code = unsafe { (api.cuda().stream_create)(&raw mut raw) };
        api.check_cuda("cudaStreamCreate", code)?;
        Ok(Stream { api, raw })
    }

    /// Waits for everything queued on the stream.
    pub fn synchronize(&self) -> Result<(), TrtError> {
        // SAFETY: the stream is live.
        let code = unsafe { (self.api.cuda().stream_synchronize)(self.raw) };
        self.api.check_cuda("cudaStreamSynchronize", code)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the stream is live and destroyed once; work on it is waited for first.
        unsafe {
            (self.api.cuda().stream_synchronize)(self.raw);
            (self.api.cuda().stream_destroy)(self.raw);
        }
    }
}

/// Device memory, freed on drop.
pub struct DeviceBuffer {
    api: &'static Api,
    ptr: *mut c_void,
    bytes: usize,
}

// SAFETY: device memory is not tied to a host thread.
unsafe impl Send for DeviceBuffer {}

impl DeviceBuffer {
    /// `bytes` bytes of device memory (at least one, so every tensor has an address).
    pub fn new(api: &'static Api, bytes: usize) -> Result<DeviceBuffer, TrtError> {
        let mut ptr = ptr::null_mut();
        // SAFETY: `ptr` is valid for writes.
        let code = unsafe { (api.cuda().malloc)(&raw mut ptr, bytes.max(1)) };
        api.check_cuda("cudaMalloc", code)?;
        Ok(DeviceBuffer { api, ptr, bytes })
    }

    /// The device address.
    #[must_use]
    pub fn as_ptr(&self) -> *mut c_void {
        self.ptr
    }

    /// Queues a copy of `data` (at most the buffer's size) to the device on `stream`; `data`
    /// must stay alive until the stream is synchronized.
    pub fn upload(&self, data: &[u8], stream: &Stream) -> Result<(), TrtError> {
        let n = data.len().min(self.bytes);
        // SAFETY: both regions hold at least `n` bytes.
        let code = unsafe {
            (self.api.cuda().memcpy_async)(
                self.ptr,
                data.as_ptr().cast(),
                n,
                cudaMemcpyHostToDevice,
                stream.raw,
            )
        };
        self.api.check_cuda("cudaMemcpyAsync (to device)", code)
    }

    /// Queues a copy of the buffer into `out` on `stream`; read `out` after synchronizing.
    pub fn download(&self, out: &mut [u8], stream: &Stream) -> Result<(), TrtError> {
        let n = out.len().min(self.bytes);
        // SAFETY: both regions hold at least `n` bytes.
        let code = unsafe {
            (self.api.cuda().memcpy_async)(
                out.as_mut_ptr().cast(),
                self.ptr,
                n,
                cudaMemcpyDeviceToHost,
                stream.raw,
            )
        };
        self.api.check_cuda("cudaMemcpyAsync (to host)", code)
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: the pointer came from cudaMalloc and is freed once.
        unsafe { (self.api.cuda().free)(self.ptr) };
    }
}

fn c_name(name: &str) -> Result<CString, TrtError> {
    CString::new(name)
        .map_err(|_| TrtError::InvalidArgument(format!("tensor name {name:?} has a NUL")))
}

fn element_count(dims: &[i64], name: &str) -> Result<usize, TrtError> {
    dims.iter().try_fold(1usize, |acc, d| {
        usize::try_from(*d).ok().and_then(|d| acc.checked_mul(d)).ok_or_else(|| {
            TrtError::InvalidArgument(format!("tensor {name} has an unresolved shape {dims:?}"))
        })
    })
}

/// The little-endian bytes of `tensor`, converted to the engine's type for `io` where that is
/// a plain widening or narrowing of floats.
fn host_bytes(tensor: &Tensor, io: &IoDesc) -> Result<Vec<u8>, TrtError> {
    let want = io.dtype.host().ok_or_else(|| {
        TrtError::Unsupported(format!("engine input {} has type {:?}", io.name, io.dtype))
    })?;
    let converted;
    let tensor = if tensor.dtype() == want {
        tensor
    } else if tensor.dtype().is_float() && want.is_float() {
        let values = tensor.to_f64_vec();
        let shape = tensor.shape().to_vec();
        converted = match want {
            DType::F32 => Tensor::F32(array(&shape, values.iter().map(|v| *v as f32))),
            DType::F16 => Tensor::F16(array(&shape, values.iter().map(|v| f16::from_f64(*v)))),
            DType::BF16 => Tensor::BF16(array(&shape, values.iter().map(|v| bf16::from_f64(*v)))),
            _ => Tensor::F64(array(&shape, values.into_iter())),
        };
        &converted
    } else {
        return Err(TrtError::InvalidArgument(format!(
            "engine input {} takes {want}, but the value given is {}",
            io.name,
            tensor.dtype()
        )));
    };
    Ok(tensor.to_le_bytes())
}

fn array<T>(shape: &[usize], values: impl Iterator<Item = T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), values.collect()).expect("same element count")
}

/// A host tensor from the little-endian bytes of a tensor of `dtype` and `dims`.
pub(crate) fn tensor_from_bytes(
    dtype: TrtDType,
    dims: &[i64],
    bytes: &[u8],
    name: &str,
) -> Result<Tensor, TrtError> {
    let shape: Vec<usize> = dims.iter().map(|d| usize::try_from(*d).unwrap_or(0)).collect();
    let host = dtype
        .host()
        .ok_or_else(|| TrtError::Unsupported(format!("tensor {name} has type {dtype:?}")))?;
    Tensor::from_le_bytes(host, &shape, bytes).ok_or_else(|| {
        let count: usize = shape.iter().product();
        TrtError::Trt(format!(
            "tensor {name}: {} bytes for {count} elements of {host}",
            bytes.len()
        ))
    })
}
