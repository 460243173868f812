//! A fake implementation of the shim's C API (and of the CUDA calls), in Rust, for tests of
//! the safe layer and of searches on this backend without TensorRT or a GPU.
//!
//! The fake parses ONNX with precision-onnx: one layer per node (named after the node, typed
//! after its operator), plus a `CONSTANT` layer per initializer, as TensorRT's parser makes.
//! It computes every tensor as the first network input plus an error: the sum of
//! [`FakeConfig::int8_error`] over the layers upstream of the tensor that run in INT8. A layer
//! runs in INT8 when, weakly typed, the build enables INT8 and the layer has no float
//! precision hint (or has one it cannot obey, under prefer); strongly typed, when one of its
//! inputs comes from a `DequantizeLinear`. "Device" memory is host memory.
//!
//! The fake keeps its configuration per thread: call [`install`] on the thread that uses the
//! backend. Threads that did not install one (parallel checks) use the one installed last, so
//! tests with parallel checks belong in a test binary of their own.

#![allow(unsafe_code, non_upper_case_globals)]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fmt::Write as _;
use std::path::Path;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;
use tensorrt_sys::CudaFns;
use tensorrt_sys::cuda::{
    cudaError_t, cudaErrorInvalidValue, cudaErrorNoDevice, cudaStream_t, cudaSuccess,
};
use tensorrt_sys::shim::{
    PTRT_ABI_VERSION, PTRT_BUILD_BF16, PTRT_BUILD_FAILED, PTRT_BUILD_FP16, PTRT_BUILD_INT8,
    PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS, PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS,
    PTRT_CACHE_REJECTED, PTRT_DTYPE_FLOAT, PTRT_DTYPE_HALF, PTRT_DTYPE_INT8, PTRT_DTYPE_INT64,
    PTRT_ERROR, PTRT_INVALID_ARGUMENT, PTRT_NETWORK_STRONGLY_TYPED, PTRT_NO_DEVICE, PTRT_OK,
    PTRT_PARSE_FAILED, PTRT_SEVERITY_ERROR, PTRT_SEVERITY_INFO, PTRT_UNSUPPORTED, ptrt_api,
    ptrt_blob, ptrt_build_options, ptrt_context, ptrt_debug_fn, ptrt_dims, ptrt_engine,
    ptrt_io_info, ptrt_layer_info, ptrt_log_fn, ptrt_network, ptrt_status, ptrt_tensor_info,
};

use crate::api::Api;

mod refuse;

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The TensorRT version it claims (`major * 10000 + minor * 100 + patch`).
    pub version: i32,
    /// How many CUDA devices it has.
    pub devices: i32,
    /// The error each layer (by name) adds downstream when it runs in INT8.
    pub int8_error: HashMap<String, f32>,
    /// Layers without a float32 kernel: marking them fails the build under obey and is
    /// silently ignored under prefer.
    pub no_float_kernel: HashSet<String>,
    /// Layers (by name) with no implementation in a precision: a build that would run one
    /// in that precision (INT8; float16 in weakly typed networks with `kFP16`; float32
    /// otherwise) fails with TensorRT's "Could not find any implementation for node" error
    /// naming the first such layer.
    pub no_kernel: HashMap<String, precision_core::Precision>,
    /// Makes every build that runs some layer below float32 fail with this text as
    /// TensorRT's error log (for tests of how build errors are read).
    pub build_error: Option<String>,
    /// Operators the parser rejects.
    pub unsupported_ops: HashSet<String>,
    /// Makes `cudaMalloc` fail with out-of-memory after this many allocations.
    pub malloc_limit: Option<usize>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            version: 101_600,
            devices: 1,
            int8_error: HashMap::new(),
            no_float_kernel: HashSet::new(),
            no_kernel: HashMap::new(),
            build_error: None,
            unsupported_ops: HashSet::new(),
            malloc_limit: None,
        }
    }
}

/// What the fake saw, for tests to check.
#[derive(Debug, Clone, Default)]
pub struct FakeStats {
    /// Engines built.
    pub builds: usize,
    /// Builds that failed.
    pub failed_builds: usize,
    /// Calibration batches TensorRT pulled through the calibrator.
    pub calibration_batches: usize,
    /// Builds that were given a timing cache.
    pub builds_with_timing_cache: usize,
    /// Build flags of the last build.
    pub last_flags: u32,
    /// Layers with a precision hint in the last build.
    pub last_hinted: Vec<String>,
    /// Layers that ran in INT8 in the last build.
    pub last_int8: Vec<String>,
    /// Networks, blobs, engines and contexts not yet destroyed.
    pub live_handles: i64,
    /// Device buffers not yet freed.
    pub live_buffers: i64,
    /// Streams not yet destroyed.
    pub live_streams: i64,
    /// Inferences run.
    pub runs: usize,
    /// Log messages sent to the logger.
    pub logs: Vec<String>,
}

/// A test's handle on the installed fake.
#[derive(Clone)]
pub struct Fake {
    shared: Arc<Shared>,
}

impl Fake {
    /// A copy of the statistics so far.
    #[must_use]
    pub fn stats(&self) -> FakeStats {
        self.shared.stats.lock().expect("not poisoned").clone()
    }

    /// The table to open backends with.
    #[must_use]
    pub fn api(&self) -> &'static Api {
        api()
    }
}

struct Shared {
    config: FakeConfig,
    stats: Mutex<FakeStats>,
    mallocs: Mutex<usize>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Installs a fake with `config` for the calling thread.
#[must_use]
pub fn install(config: FakeConfig) -> Fake {
    let shared = Arc::new(Shared {
        config,
        stats: Mutex::new(FakeStats::default()),
        mallocs: Mutex::new(0),
    });
    CURRENT.with(|c| *c.borrow_mut() = Some(shared.clone()));
    *INSTALLED.lock().expect("not poisoned") = Some(shared.clone());
    Fake { shared }
}

/// The fake installed last, for calls from threads that did not install one (the threads of
/// parallel checks).
static INSTALLED: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

fn current() -> Arc<Shared> {
    CURRENT
        .with(|c| c.borrow().clone())
        .or_else(|| INSTALLED.lock().expect("not poisoned").clone())
        .expect("fake::install was called")
}

fn stats<R>(f: impl FnOnce(&mut FakeStats) -> R) -> R {
    let shared = current();
    let mut s = shared.stats.lock().expect("not poisoned");
    f(&mut s)
}

/// The fake's table (the same for every fake; behaviour comes from [`install`]).
#[must_use]
pub fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| Api::new(table(), cuda()).expect("the fake's table is complete"))
}

fn fail(status: ptrt_status, message: &str) -> ptrt_status {
    LAST_ERROR
        .with(|e| *e.borrow_mut() = CString::new(message.replace('\0', " ")).expect("no NUL"));
    status
}

fn log(severity: u32, message: &str) {
    stats(|s| s.logs.push(message.to_owned()));
    LOGGER.with(|l| {
        if let Some((f, user, min)) = *l.borrow()
            && i32::try_from(severity).is_ok_and(|s| s <= min)
        {
            let text = CString::new(message).expect("no NUL");
            // SAFETY: the callback was registered by the safe layer with its user pointer.
            unsafe { f(user, i32::try_from(severity).expect("small"), text.as_ptr()) };
        }
    });
}

thread_local! {
    /// The logger callback, its user pointer and the least severe level it wants.
    static LOGGER: RefCell<Option<LoggerEntry>> = const { RefCell::new(None) };
}

type LoggerEntry = (unsafe extern "C" fn(*mut c_void, i32, *const c_char), *mut c_void, i32);

#[allow(clippy::struct_excessive_bools)]
struct Tensor {
    name: CString,
    dtype: u32,
    dims: Vec<i64>,
    is_shape: bool,
    producer: Option<usize>,
    network_input: bool,
    network_output: bool,
    debug: bool,
}

struct FLayer {
    name: CString,
    type_name: CString,
    op: String,
    inputs: Vec<Option<usize>>,
    outputs: Vec<usize>,
    precision: Option<i32>,
}

/// The fake's network.
struct FakeNetwork {
    strongly_typed: bool,
    tensors: Vec<Tensor>,
    layers: Vec<FLayer>,
    inputs: Vec<usize>,
    shared: Arc<Shared>,
}

/// What a serialized fake engine holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct EngineData {
    /// (name, dims, error, is input)
    io: Vec<(String, Vec<i64>, f32, bool)>,
    /// (name, dims, error) of debug tensors.
    debug: Vec<(String, Vec<i64>, f32)>,
    layer_information: String,
}

struct FakeEngine {
    data: EngineData,
    names: Vec<CString>,
}

struct FakeContext {
    engine: *const FakeEngine,
    shapes: HashMap<String, Vec<i64>>,
    addresses: HashMap<String, *mut c_void>,
    listener: Option<(ptrt_debug_fn, *mut c_void)>,
}

fn op_type(op: &str) -> &'static str {
    match op {
        "Conv" | "ConvTranspose" => "CONVOLUTION",
        "MatMul" | "Gemm" => "MATRIX_MULTIPLY",
        "Relu" | "Sigmoid" | "Tanh" | "LeakyRelu" | "Clip" => "ACTIVATION",
        "Add" | "Sub" | "Mul" | "Div" => "ELEMENTWISE",
        "Softmax" => "SOFTMAX",
        "Shape" => "SHAPE",
        "Constant" => "CONSTANT",
        "QuantizeLinear" => "QUANTIZE",
        "DequantizeLinear" => "DEQUANTIZE",
        "Cast" => "CAST",
        "Reshape" | "Flatten" | "Transpose" => "SHUFFLE",
        "GlobalAveragePool" | "MaxPool" | "AveragePool" => "POOLING",
        _ => "UNKNOWN",
    }
}

fn parse(bytes: &[u8], strongly_typed: bool, shared: Arc<Shared>) -> Result<FakeNetwork, String> {
    let model =
        precision_onnx::OnnxModel::from_bytes(bytes, Path::new("model.onnx"), Path::new("."))
            .map_err(|e| format!("In node -1 (parseGraph): INVALID_GRAPH: {e}"))?;
    let g = model.graph();
    let mut errors = Vec::new();
    for (i, n) in g.node.iter().enumerate() {
        if shared.config.unsupported_ops.contains(&n.op_type) {
            errors.push(format!(
                "node {i} '{}' ({}): no importer registered for op: {}",
                n.name, n.op_type, n.op_type
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let mut net = FakeNetwork {
        strongly_typed,
        tensors: Vec::new(),
        layers: Vec::new(),
        inputs: Vec::new(),
        shared,
    };
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let inits: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let dims_of = |name: &str| -> Vec<i64> {
        g.input
            .iter()
            .chain(g.output.iter())
            .chain(g.value_info.iter())
            .find(|v| v.name == name)
            .and_then(|v| v.type_.as_ref())
            .filter(|t| t.has_tensor_type())
            .map(onnx_protobuf::TypeProto::tensor_type)
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim.iter().map(|d| if d.has_dim_value() { d.dim_value() } else { -1 }).collect()
            })
            .unwrap_or_default()
    };
    for input in g.input.iter().filter(|i| !inits.contains(i.name.as_str())) {
        let id = net.tensors.len();
        net.tensors.push(Tensor {
            name: CString::new(input.name.as_str()).map_err(|e| e.to_string())?,
            dtype: PTRT_DTYPE_FLOAT,
            dims: dims_of(&input.name),
            is_shape: false,
            producer: None,
            network_input: true,
            network_output: false,
            debug: false,
        });
        by_name.insert(input.name.clone(), id);
        net.inputs.push(id);
    }
    for init in &g.initializer {
        let layer = net.layers.len();
        let id = net.tensors.len();
        net.tensors.push(Tensor {
            name: CString::new(init.name.as_str()).map_err(|e| e.to_string())?,
            dtype: PTRT_DTYPE_FLOAT,
            dims: init.dims.clone(),
            is_shape: false,
            producer: Some(layer),
            network_input: false,
            network_output: false,
            debug: false,
        });
        by_name.insert(init.name.clone(), id);
        net.layers.push(FLayer {
            name: CString::new(format!("constant:{}", init.name)).map_err(|e| e.to_string())?,
            type_name: c"CONSTANT".to_owned(),
            op: "Constant".into(),
            inputs: Vec::new(),
            outputs: vec![id],
            precision: None,
        });
    }
    for (i, n) in g.node.iter().enumerate() {
        let layer = net.layers.len();
        let inputs = n.input.iter().map(|t| by_name.get(t).copied()).collect();
        let mut outputs = Vec::new();
        for o in &n.output {
            let id = net.tensors.len();
            let (dtype, is_shape) = match n.op_type.as_str() {
                "Shape" => (PTRT_DTYPE_INT64, true),
                "QuantizeLinear" => (PTRT_DTYPE_INT8, false),
                _ => (PTRT_DTYPE_FLOAT, false),
            };
            net.tensors.push(Tensor {
                name: CString::new(o.as_str()).map_err(|e| e.to_string())?,
                dtype,
                dims: dims_of(o),
                is_shape,
                producer: Some(layer),
                network_input: false,
                network_output: false,
                debug: false,
            });
            by_name.insert(o.clone(), id);
            outputs.push(id);
        }
        let name = if n.name.is_empty() { format!("node_{i}") } else { n.name.clone() };
        net.layers.push(FLayer {
            name: CString::new(name).map_err(|e| e.to_string())?,
            type_name: CString::new(op_type(&n.op_type)).expect("no NUL"),
            op: n.op_type.clone(),
            inputs,
            outputs,
            precision: None,
        });
    }
    for o in &g.output {
        let id = by_name
            .get(&o.name)
            .ok_or_else(|| format!("graph output {} is not produced", o.name))?;
        net.tensors[*id].network_output = true;
    }
    Ok(net)
}

impl FakeNetwork {
    fn tensor_info(&self, id: Option<usize>, out: &mut ptrt_tensor_info) {
        *out = ptrt_tensor_info::default();
        let Some(t) = id.map(|i| &self.tensors[i]) else { return };
        out.name = t.name.as_ptr();
        out.dtype = i32::try_from(t.dtype).expect("small");
        out.is_shape_tensor = i32::from(t.is_shape);
        out.is_network_input = i32::from(t.network_input);
        out.is_network_output = i32::from(t.network_output);
        out.is_debug = i32::from(t.debug);
        out.dims = dims(&t.dims);
    }

    fn outputs(&self) -> Vec<usize> {
        (0..self.tensors.len()).filter(|i| self.tensors[*i].network_output).collect()
    }

    /// Which layers run in INT8 under `flags`, or the build error.
    fn int8_layers(&self, flags: u32) -> Result<Vec<bool>, String> {
        let int8 = flags & PTRT_BUILD_INT8 != 0;
        let obey = flags & PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS != 0;
        let prefer = flags & PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS != 0;
        let float = [PTRT_DTYPE_FLOAT, PTRT_DTYPE_HALF].map(|d| i32::try_from(d).expect("small"));
        let mut out = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let name = l.name.to_string_lossy();
            let quantizable = !matches!(l.op.as_str(), "Constant" | "Shape");
            let lowered = if self.strongly_typed {
                l.inputs.iter().flatten().any(|t| {
                    self.tensors[*t]
                        .producer
                        .is_some_and(|p| self.layers[p].op == "DequantizeLinear")
                })
            } else if !int8 || !quantizable {
                false
            } else {
                match l.precision {
                    Some(p) if float.contains(&p) => {
                        if self.shared.config.no_float_kernel.contains(name.as_ref()) {
                            if obey {
                                return Err(format!(
                                    "Could not find any implementation for node {name} that obeys \
                                     the precision constraint (kFLOAT); try prefer"
                                ));
                            }
                            // Under prefer (or no constraint flag), TensorRT falls back.
                            prefer || !obey
                        } else {
                            !(obey || prefer)
                        }
                    }
                    _ => true,
                }
            };
            out.push(lowered);
        }
        Ok(out)
    }

    /// The error of every tensor when `int8[l]` says which layers run in INT8.
    fn errors(&self, int8: &[bool]) -> Vec<f32> {
        let mut err = vec![0.0f32; self.tensors.len()];
        for (i, l) in self.layers.iter().enumerate() {
            let upstream = l.inputs.iter().flatten().map(|t| err[*t]).fold(0.0f32, f32::max);
            let own = if int8[i] {
                self.shared
                    .config
                    .int8_error
                    .get(l.name.to_string_lossy().as_ref())
                    .copied()
                    .unwrap_or(0.0)
            } else {
                0.0
            };
            for o in &l.outputs {
                err[*o] = upstream + own;
            }
        }
        err
    }
}

fn dims(d: &[i64]) -> ptrt_dims {
    let mut out =
        ptrt_dims { nb_dims: i32::try_from(d.len().min(8)).expect("small"), ..Default::default() };
    for (i, v) in d.iter().take(8).enumerate() {
        out.d[i] = *v;
    }
    out
}

fn dims_vec(d: &ptrt_dims) -> Vec<i64> {
    d.d[..usize::try_from(d.nb_dims).unwrap_or(0).min(8)].to_vec()
}

fn handle_created() {
    stats(|s| s.live_handles += 1);
}

fn handle_destroyed() {
    stats(|s| s.live_handles -= 1);
}

// --- the table -------------------------------------------------------------------------

unsafe extern "C" fn last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

unsafe extern "C" fn version(compiled: *mut i32, loaded: *mut i32) {
    let v = current().config.version;
    // SAFETY: the caller passes valid pointers.
    unsafe {
        *compiled = v;
        *loaded = v;
    }
}

unsafe extern "C" fn set_logger(f: ptrt_log_fn, user: *mut c_void, min: i32) {
    LOGGER.with(|l| *l.borrow_mut() = f.map(|f| (f, user, min)));
}

unsafe extern "C" fn network_from_onnx(
    model: *const c_void,
    size: usize,
    _path: *const c_char,
    flags: u32,
    out: *mut *mut ptrt_network,
) -> ptrt_status {
    // SAFETY: the caller passes `size` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(model.cast::<u8>(), size) };
    let shared = current();
    let strongly = flags & PTRT_NETWORK_STRONGLY_TYPED != 0 || shared.config.version >= 110_000;
    match parse(bytes, strongly, shared) {
        Ok(net) => {
            handle_created();
            // SAFETY: `out` is valid for writes.
            unsafe { *out = Box::into_raw(Box::new(net)).cast() };
            PTRT_OK
        }
        Err(e) => {
            log(PTRT_SEVERITY_ERROR, &e);
            fail(PTRT_PARSE_FAILED, &e)
        }
    }
}

/// The fake network behind a handle.
///
/// # Safety
/// `n` came from `network_from_onnx` and is live.
unsafe fn net<'a>(n: *const ptrt_network) -> &'a mut FakeNetwork {
    // SAFETY: per the contract.
    unsafe { &mut *n.cast::<FakeNetwork>().cast_mut() }
}

unsafe extern "C" fn network_destroy(n: *mut ptrt_network) {
    if !n.is_null() {
        handle_destroyed();
        // SAFETY: `n` came from Box::into_raw in network_from_onnx.
        drop(unsafe { Box::from_raw(n.cast::<FakeNetwork>()) });
    }
}

unsafe extern "C" fn network_is_strongly_typed(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::from(unsafe { net(n) }.strongly_typed)
}

unsafe extern "C" fn network_nb_layers(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { net(n) }.layers.len()).expect("small")
}

fn layer_index(n: &FakeNetwork, layer: i32) -> Option<usize> {
    usize::try_from(layer).ok().filter(|l| *l < n.layers.len())
}

unsafe extern "C" fn network_layer(
    n: *const ptrt_network,
    layer: i32,
    out: *mut ptrt_layer_info,
) -> ptrt_status {
    // SAFETY: live handle; `out` valid.
    let (n, out) = unsafe { (net(n), &mut *out) };
    let Some(i) = layer_index(n, layer) else {
        return fail(PTRT_INVALID_ARGUMENT, "layer index out of range");
    };
    let l = &n.layers[i];
    *out = ptrt_layer_info {
        name: l.name.as_ptr(),
        type_name: l.type_name.as_ptr(),
        nb_inputs: i32::try_from(l.inputs.len()).expect("small"),
        nb_outputs: i32::try_from(l.outputs.len()).expect("small"),
        precision_is_set: i32::from(l.precision.is_some()),
        precision: l.precision.unwrap_or(0),
    };
    PTRT_OK
}

unsafe extern "C" fn network_layer_input(
    n: *const ptrt_network,
    layer: i32,
    input: i32,
    out: *mut ptrt_tensor_info,
) -> ptrt_status {
    // SAFETY: live handle; `out` valid.
    let (n, out) = unsafe { (net(n), &mut *out) };
    let Some(i) = layer_index(n, layer) else {
        return fail(PTRT_INVALID_ARGUMENT, "layer index out of range");
    };
    let Some(t) = usize::try_from(input).ok().and_then(|j| n.layers[i].inputs.get(j)) else {
        return fail(PTRT_INVALID_ARGUMENT, "input index out of range");
    };
    n.tensor_info(*t, out);
    PTRT_OK
}

unsafe extern "C" fn network_layer_output(
    n: *const ptrt_network,
    layer: i32,
    output: i32,
    out: *mut ptrt_tensor_info,
) -> ptrt_status {
    // SAFETY: live handle; `out` valid.
    let (n, out) = unsafe { (net(n), &mut *out) };
    let Some(i) = layer_index(n, layer) else {
        return fail(PTRT_INVALID_ARGUMENT, "layer index out of range");
    };
    let Some(t) = usize::try_from(output).ok().and_then(|j| n.layers[i].outputs.get(j)) else {
        return fail(PTRT_INVALID_ARGUMENT, "output index out of range");
    };
    n.tensor_info(Some(*t), out);
    PTRT_OK
}

unsafe extern "C" fn network_nb_inputs(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { net(n) }.inputs.len()).expect("small")
}

unsafe extern "C" fn network_input(
    n: *const ptrt_network,
    index: i32,
    out: *mut ptrt_tensor_info,
) -> ptrt_status {
    // SAFETY: live handle; `out` valid.
    let (n, out) = unsafe { (net(n), &mut *out) };
    let Some(t) = usize::try_from(index).ok().and_then(|i| n.inputs.get(i)) else {
        return fail(PTRT_INVALID_ARGUMENT, "input index out of range");
    };
    n.tensor_info(Some(*t), out);
    PTRT_OK
}

unsafe extern "C" fn network_nb_outputs(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { net(n) }.outputs().len()).expect("small")
}

unsafe extern "C" fn network_output(
    n: *const ptrt_network,
    index: i32,
    out: *mut ptrt_tensor_info,
) -> ptrt_status {
    // SAFETY: live handle; `out` valid.
    let (n, out) = unsafe { (net(n), &mut *out) };
    let outputs = n.outputs();
    let Some(t) = usize::try_from(index).ok().and_then(|i| outputs.get(i)) else {
        return fail(PTRT_INVALID_ARGUMENT, "output index out of range");
    };
    n.tensor_info(Some(*t), out);
    PTRT_OK
}

fn weak_only(n: &FakeNetwork) -> Option<ptrt_status> {
    (n.strongly_typed || n.shared.config.version >= 110_000).then(|| {
        fail(PTRT_UNSUPPORTED, "precision hints need a weakly typed network on TensorRT <= 10")
    })
}

unsafe extern "C" fn layer_set_precision(
    n: *mut ptrt_network,
    layer: i32,
    dtype: i32,
) -> ptrt_status {
    // SAFETY: live handle.
    let n = unsafe { net(n) };
    if let Some(s) = weak_only(n) {
        return s;
    }
    let Some(i) = layer_index(n, layer) else {
        return fail(PTRT_INVALID_ARGUMENT, "layer index out of range");
    };
    n.layers[i].precision = Some(dtype);
    PTRT_OK
}

unsafe extern "C" fn layer_reset_precision(n: *mut ptrt_network, layer: i32) -> ptrt_status {
    // SAFETY: live handle.
    let n = unsafe { net(n) };
    if let Some(s) = weak_only(n) {
        return s;
    }
    let Some(i) = layer_index(n, layer) else {
        return fail(PTRT_INVALID_ARGUMENT, "layer index out of range");
    };
    n.layers[i].precision = None;
    PTRT_OK
}

unsafe extern "C" fn layer_set_output_type(
    n: *mut ptrt_network,
    _layer: i32,
    _output: i32,
    _dtype: i32,
) -> ptrt_status {
    // SAFETY: live handle.
    weak_only(unsafe { net(n) }).unwrap_or(PTRT_OK)
}

unsafe extern "C" fn layer_reset_output_type(
    n: *mut ptrt_network,
    _layer: i32,
    _output: i32,
) -> ptrt_status {
    // SAFETY: live handle.
    weak_only(unsafe { net(n) }).unwrap_or(PTRT_OK)
}

/// The tensor of output `output` of `layer`.
fn output_tensor(n: &mut FakeNetwork, layer: i32, output: i32) -> Result<&mut Tensor, ptrt_status> {
    let i = layer_index(n, layer)
        .ok_or_else(|| fail(PTRT_INVALID_ARGUMENT, "layer index out of range"))?;
    let t = *usize::try_from(output)
        .ok()
        .and_then(|j| n.layers[i].outputs.get(j))
        .ok_or_else(|| fail(PTRT_INVALID_ARGUMENT, "output index out of range"))?;
    Ok(&mut n.tensors[t])
}

unsafe extern "C" fn mark_output(n: *mut ptrt_network, layer: i32, output: i32) -> ptrt_status {
    // SAFETY: live handle.
    match output_tensor(unsafe { net(n) }, layer, output) {
        Ok(t) if t.is_shape => {
            fail(PTRT_INVALID_ARGUMENT, "a shape tensor cannot be an output here")
        }
        Ok(t) => {
            t.network_output = true;
            PTRT_OK
        }
        Err(s) => s,
    }
}

unsafe extern "C" fn unmark_output(n: *mut ptrt_network, layer: i32, output: i32) -> ptrt_status {
    // SAFETY: live handle.
    match output_tensor(unsafe { net(n) }, layer, output) {
        Ok(t) => {
            t.network_output = false;
            PTRT_OK
        }
        Err(s) => s,
    }
}

unsafe extern "C" fn mark_debug(n: *mut ptrt_network, layer: i32, output: i32) -> ptrt_status {
    // SAFETY: live handle.
    match output_tensor(unsafe { net(n) }, layer, output) {
        Ok(t) => {
            t.debug = true;
            PTRT_OK
        }
        Err(s) => s,
    }
}

unsafe extern "C" fn unmark_debug(n: *mut ptrt_network, layer: i32, output: i32) -> ptrt_status {
    // SAFETY: live handle.
    match output_tensor(unsafe { net(n) }, layer, output) {
        Ok(t) => {
            t.debug = false;
            PTRT_OK
        }
        Err(s) => s,
    }
}

fn new_blob(bytes: Vec<u8>) -> *mut ptrt_blob {
    handle_created();
    Box::into_raw(Box::new(bytes)).cast()
}

const TIMING_MAGIC: &[u8] = b"fake-timing-cache v1";

unsafe extern "C" fn build(
    n: *mut ptrt_network,
    options: *const ptrt_build_options,
    engine: *mut *mut ptrt_blob,
    timing_out: *mut *mut ptrt_blob,
) -> ptrt_status {
    // SAFETY: live handle and valid options (with the pointers they hold) from the caller.
    let (n, o) = unsafe { (net(n), &*options) };
    let result = (|| -> Result<Vec<u8>, (ptrt_status, String)> {
        let precision_flags = PTRT_BUILD_FP16
            | PTRT_BUILD_INT8
            | PTRT_BUILD_BF16
            | PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS
            | PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS;
        if n.strongly_typed && o.flags & precision_flags != 0 {
            return Err((
                PTRT_UNSUPPORTED,
                "strongly typed networks take no precision flags".into(),
            ));
        }
        if !o.timing_cache.is_null() {
            // SAFETY: the caller passes `timing_cache_size` readable bytes.
            let cache = unsafe {
                std::slice::from_raw_parts(o.timing_cache.cast::<u8>(), o.timing_cache_size)
            };
            if !cache.starts_with(TIMING_MAGIC) {
                return Err((
                    PTRT_CACHE_REJECTED,
                    "the timing cache is not from this TensorRT".into(),
                ));
            }
            stats(|s| s.builds_with_timing_cache += 1);
        }
        let mut shapes: HashMap<String, Vec<i64>> = HashMap::new();
        for i in 0..usize::try_from(o.nb_input_shapes).unwrap_or(0) {
            // SAFETY: `nb_input_shapes` entries with NUL-terminated names.
            let s = unsafe { &*o.input_shapes.add(i) };
            let name = unsafe { CStr::from_ptr(s.name) }.to_string_lossy().into_owned();
            shapes.insert(name, dims_vec(&s.dims));
        }
        if o.flags & PTRT_BUILD_INT8 != 0 {
            calibrate(n, o, &shapes)?;
        }
        let int8 = n.int8_layers(o.flags).map_err(|e| (PTRT_BUILD_FAILED, e))?;
        if let Some(message) = n.refusal(o.flags, &int8) {
            return Err((PTRT_BUILD_FAILED, message));
        }
        let errors = n.errors(&int8);
        let input_dims = |t: &Tensor| -> Vec<i64> {
            shapes.get(t.name.to_string_lossy().as_ref()).cloned().unwrap_or_else(|| t.dims.clone())
        };
        let base = n.inputs.first().map(|i| input_dims(&n.tensors[*i])).unwrap_or_default();
        let mut io = Vec::new();
        for i in &n.inputs {
            let t = &n.tensors[*i];
            io.push((t.name.to_string_lossy().into_owned(), input_dims(t), 0.0, true));
        }
        for i in n.outputs() {
            let t = &n.tensors[i];
            let d = if t.dims.is_empty() || t.dims.iter().any(|d| *d < 0) {
                base.clone()
            } else {
                t.dims.clone()
            };
            io.push((t.name.to_string_lossy().into_owned(), d, errors[i], false));
        }
        let debug = (0..n.tensors.len())
            .filter(|i| n.tensors[*i].debug)
            .map(|i| {
                let t = &n.tensors[i];
                let d = if t.dims.is_empty() || t.dims.iter().any(|d| *d < 0) {
                    base.clone()
                } else {
                    t.dims.clone()
                };
                (t.name.to_string_lossy().into_owned(), d, errors[i])
            })
            .collect();
        let format = |low: bool| {
            if low {
                "Four wide channel vectorized row major Int8 format"
            } else {
                "Row major linear FP32"
            }
        };
        let layers: Vec<serde_json::Value> = n
            .layers
            .iter()
            .zip(&int8)
            .filter(|(l, _)| l.op != "Constant")
            .map(|(l, low)| {
                json!({
                    "Name": l.name.to_string_lossy(),
                    "LayerType": l.type_name.to_string_lossy(),
                    "Inputs": l.inputs.iter().flatten().map(|_| json!({"Format/Datatype": format(*low)})).collect::<Vec<_>>(),
                    "Outputs": l.outputs.iter().map(|_| json!({"Format/Datatype": format(*low)})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let data =
            EngineData { io, debug, layer_information: json!({ "Layers": layers }).to_string() };
        stats(|s| {
            s.last_flags = o.flags;
            s.last_hinted = n
                .layers
                .iter()
                .filter(|l| l.precision.is_some())
                .map(|l| l.name.to_string_lossy().into_owned())
                .collect();
            s.last_int8 = n
                .layers
                .iter()
                .zip(&int8)
                .filter(|(_, x)| **x)
                .map(|(l, _)| l.name.to_string_lossy().into_owned())
                .collect();
        });
        serde_json::to_vec(&data).map_err(|e| (PTRT_ERROR, e.to_string()))
    })();
    match result {
        Ok(bytes) => {
            stats(|s| s.builds += 1);
            log(PTRT_SEVERITY_INFO, "fake: engine built");
            // SAFETY: the out pointers are valid for writes.
            unsafe {
                *engine = new_blob(bytes);
                if !timing_out.is_null() {
                    *timing_out = new_blob(TIMING_MAGIC.to_vec());
                }
            }
            PTRT_OK
        }
        Err((status, message)) => {
            stats(|s| s.failed_builds += 1);
            log(PTRT_SEVERITY_ERROR, &message);
            fail(status, &message)
        }
    }
}

/// Runs the calibrator like TensorRT: the cache if it gives one (checked), else batches.
#[allow(clippy::many_single_char_names)]
fn calibrate(
    n: &FakeNetwork,
    o: &ptrt_build_options,
    shapes: &HashMap<String, Vec<i64>>,
) -> Result<(), (ptrt_status, String)> {
    if n.strongly_typed {
        return Ok(());
    }
    // SAFETY: a non-null calibrator is valid for the build.
    let Some(c) = (unsafe { o.calibrator.as_ref() }) else {
        return Err((PTRT_BUILD_FAILED, "INT8 without a calibrator or dynamic ranges".into()));
    };
    let algorithm = match u32::try_from(c.algorithm).unwrap_or(99) {
        tensorrt_sys::shim::PTRT_CALIBRATION_ENTROPY2 => "EntropyCalibration2",
        tensorrt_sys::shim::PTRT_CALIBRATION_MINMAX => "MinMaxCalibration",
        tensorrt_sys::shim::PTRT_CALIBRATION_ENTROPY => "EntropyCalibration",
        _ => "LegacyCalibration",
    };
    let header = format!("TRT-{}-{algorithm}", n.shared.config.version);
    let (mut data, mut size) = (ptr::null(), 0usize);
    // SAFETY: the callbacks are the safe layer's, with its user pointer.
    unsafe { (c.read_cache.expect("set"))(c.user, &raw mut data, &raw mut size) };
    if size > 0 {
        // SAFETY: the calibrator gives `size` readable bytes.
        let cache = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) };
        let first = cache.split(|b| *b == b'\n').next().unwrap_or_default();
        if first != header.as_bytes() {
            return Err((
                PTRT_CACHE_REJECTED,
                format!(
                    "calibration cache header {} does not match {header}",
                    String::from_utf8_lossy(first)
                ),
            ));
        }
        return Ok(());
    }
    let names: Vec<CString> = n.inputs.iter().map(|i| n.tensors[*i].name.clone()).collect();
    let name_ptrs: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
    let counts: Vec<usize> = n
        .inputs
        .iter()
        .map(|i| {
            let t = &n.tensors[*i];
            let d = shapes.get(t.name.to_string_lossy().as_ref()).unwrap_or(&t.dims);
            d.iter().map(|v| usize::try_from(*v).unwrap_or(1)).product()
        })
        .collect();
    let mut amax = vec![0.0f32; names.len()];
    loop {
        let mut bindings = vec![ptr::null_mut::<c_void>(); names.len()];
        // SAFETY: as above; room for one binding per name.
        let more = unsafe {
            (c.get_batch.expect("set"))(
                c.user,
                bindings.as_mut_ptr(),
                name_ptrs.as_ptr(),
                i32::try_from(names.len()).expect("small"),
            )
        };
        if more == 0 {
            break;
        }
        stats(|s| s.calibration_batches += 1);
        for (k, b) in bindings.iter().enumerate() {
            if b.is_null() {
                return Err((PTRT_BUILD_FAILED, "calibrator gave a null binding".into()));
            }
            // SAFETY: the calibrator's device (here: host) buffer holds `counts[k]` floats.
            let values = unsafe { std::slice::from_raw_parts(b.cast::<f32>(), counts[k]) };
            amax[k] = values.iter().fold(amax[k], |a, v| a.max(v.abs()));
        }
    }
    let mut text = format!("{header}\n");
    for (name, a) in names.iter().zip(&amax) {
        let _ = writeln!(text, "{}: {:08x}", name.to_string_lossy(), (a / 127.0).to_bits());
    }
    // SAFETY: as above.
    unsafe { (c.write_cache.expect("set"))(c.user, text.as_ptr().cast(), text.len()) };
    Ok(())
}

unsafe extern "C" fn blob_data(b: *const ptrt_blob, data: *mut *const c_void, size: *mut usize) {
    // SAFETY: `b` came from new_blob; out pointers valid.
    unsafe {
        let bytes = &*b.cast::<Vec<u8>>();
        *data = bytes.as_ptr().cast();
        *size = bytes.len();
    }
}

unsafe extern "C" fn blob_destroy(b: *mut ptrt_blob) {
    if !b.is_null() {
        handle_destroyed();
        // SAFETY: `b` came from Box::into_raw in new_blob.
        drop(unsafe { Box::from_raw(b.cast::<Vec<u8>>()) });
    }
}

unsafe extern "C" fn engine_deserialize(
    data: *const c_void,
    size: usize,
    out: *mut *mut ptrt_engine,
) -> ptrt_status {
    if current().config.devices < 1 {
        return fail(PTRT_NO_DEVICE, "no CUDA-capable device is detected");
    }
    // SAFETY: `size` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) };
    let Ok(data) = serde_json::from_slice::<EngineData>(bytes) else {
        return fail(
            PTRT_ERROR,
            "the engine plan file is not compatible with this version of TensorRT",
        );
    };
    let names = data.io.iter().map(|(n, ..)| CString::new(n.as_str()).expect("no NUL")).collect();
    handle_created();
    // SAFETY: `out` valid for writes.
    unsafe { *out = Box::into_raw(Box::new(FakeEngine { data, names })).cast() };
    PTRT_OK
}

unsafe extern "C" fn engine_destroy(e: *mut ptrt_engine) {
    if !e.is_null() {
        handle_destroyed();
        // SAFETY: from Box::into_raw in engine_deserialize.
        drop(unsafe { Box::from_raw(e.cast::<FakeEngine>()) });
    }
}

unsafe extern "C" fn engine_nb_io(e: *const ptrt_engine) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { &*e.cast::<FakeEngine>() }.data.io.len()).expect("small")
}

unsafe extern "C" fn engine_io(
    e: *const ptrt_engine,
    index: i32,
    out: *mut ptrt_io_info,
) -> ptrt_status {
    // SAFETY: live handle; `out` valid.
    let (e, out) = unsafe { (&*e.cast::<FakeEngine>(), &mut *out) };
    let Some(i) = usize::try_from(index).ok().filter(|i| *i < e.data.io.len()) else {
        return fail(PTRT_INVALID_ARGUMENT, "io index out of range");
    };
    let (_, d, _, is_input) = &e.data.io[i];
    *out = ptrt_io_info {
        name: e.names[i].as_ptr(),
        dtype: i32::try_from(PTRT_DTYPE_FLOAT).expect("small"),
        is_input: i32::from(*is_input),
        dims: dims(d),
    };
    PTRT_OK
}

unsafe extern "C" fn engine_layer_information(
    e: *const ptrt_engine,
    json: *mut *mut ptrt_blob,
) -> ptrt_status {
    // SAFETY: live handle; `json` valid.
    unsafe {
        *json = new_blob((*e.cast::<FakeEngine>()).data.layer_information.clone().into_bytes());
    };
    PTRT_OK
}

unsafe extern "C" fn context_create(
    e: *mut ptrt_engine,
    out: *mut *mut ptrt_context,
) -> ptrt_status {
    handle_created();
    let ctx = FakeContext {
        engine: e.cast(),
        shapes: HashMap::new(),
        addresses: HashMap::new(),
        listener: None,
    };
    // SAFETY: `out` valid.
    unsafe { *out = Box::into_raw(Box::new(ctx)).cast() };
    PTRT_OK
}

unsafe extern "C" fn context_destroy(c: *mut ptrt_context) {
    if !c.is_null() {
        handle_destroyed();
        // SAFETY: from Box::into_raw in context_create.
        drop(unsafe { Box::from_raw(c.cast::<FakeContext>()) });
    }
}

/// # Safety
/// `c` is a live context; `name` NUL-terminated.
unsafe fn ctx_name<'a>(
    c: *const ptrt_context,
    name: *const c_char,
) -> (&'a mut FakeContext, String) {
    // SAFETY: per the contract.
    unsafe {
        (
            &mut *c.cast::<FakeContext>().cast_mut(),
            CStr::from_ptr(name).to_string_lossy().into_owned(),
        )
    }
}

unsafe extern "C" fn context_set_input_shape(
    c: *mut ptrt_context,
    name: *const c_char,
    d: *const ptrt_dims,
) -> ptrt_status {
    // SAFETY: live context, valid name and dims.
    let (c, name) = unsafe { ctx_name(c, name) };
    // SAFETY: the context's engine outlives it.
    let engine = unsafe { &*c.engine };
    let Some((_, built, ..)) = engine.data.io.iter().find(|(n, _, _, input)| *n == name && *input)
    else {
        return fail(PTRT_INVALID_ARGUMENT, &format!("{name} is not an input of the engine"));
    };
    // SAFETY: valid dims.
    let given = dims_vec(unsafe { &*d });
    if given != *built {
        return fail(
            PTRT_INVALID_ARGUMENT,
            &format!("input {name}: shape {given:?} is outside the profile {built:?}"),
        );
    }
    c.shapes.insert(name, given);
    PTRT_OK
}

unsafe extern "C" fn context_tensor_shape(
    c: *const ptrt_context,
    name: *const c_char,
    out: *mut ptrt_dims,
) -> ptrt_status {
    // SAFETY: live context, valid name, `out` valid.
    let (c, name) = unsafe { ctx_name(c, name) };
    // SAFETY: the context's engine outlives it.
    let engine = unsafe { &*c.engine };
    match engine.data.io.iter().find(|(n, ..)| *n == name) {
        Some((_, d, ..)) => {
            // SAFETY: `out` valid.
            unsafe { *out = dims(d) };
            PTRT_OK
        }
        None => fail(PTRT_INVALID_ARGUMENT, &format!("{name} is not a tensor of the engine")),
    }
}

unsafe extern "C" fn context_set_tensor_address(
    c: *mut ptrt_context,
    name: *const c_char,
    address: *mut c_void,
) -> ptrt_status {
    // SAFETY: live context and valid name.
    let (c, name) = unsafe { ctx_name(c, name) };
    c.addresses.insert(name, address);
    PTRT_OK
}

unsafe extern "C" fn context_set_debug_listener(
    c: *mut ptrt_context,
    f: ptrt_debug_fn,
    user: *mut c_void,
) -> ptrt_status {
    // SAFETY: live context.
    let c = unsafe { &mut *c.cast::<FakeContext>() };
    c.listener = Some((f, user));
    PTRT_OK
}

fn count(d: &[i64]) -> usize {
    d.iter().map(|v| usize::try_from(*v).unwrap_or(0)).product()
}

unsafe extern "C" fn context_enqueue(c: *mut ptrt_context, stream: *mut c_void) -> ptrt_status {
    // SAFETY: live context whose engine outlives it.
    let (c, engine) =
        unsafe { (&mut *c.cast::<FakeContext>(), &*(*c.cast::<FakeContext>()).engine) };
    let mut base: Option<Vec<f32>> = None;
    for (name, d, _, is_input) in &engine.data.io {
        let Some(address) = c.addresses.get(name).copied() else {
            return fail(PTRT_ERROR, &format!("tensor {name} has no address"));
        };
        if *is_input {
            if !c.shapes.contains_key(name) {
                return fail(PTRT_ERROR, &format!("input {name} has no shape set"));
            }
            if base.is_none() {
                // SAFETY: the caller's buffer holds the input's floats.
                base = Some(
                    unsafe { std::slice::from_raw_parts(address.cast::<f32>(), count(d)) }.to_vec(),
                );
            }
        }
    }
    let base = base.unwrap_or_else(|| vec![0.0]);
    let values = |d: &[i64], err: f32| -> Vec<f32> {
        (0..count(d)).map(|k| base[k % base.len().max(1)] + err).collect()
    };
    for (name, d, err, is_input) in &engine.data.io {
        if *is_input {
            continue;
        }
        let v = values(d, *err);
        // SAFETY: the caller's output buffer holds the output's floats.
        unsafe { ptr::copy_nonoverlapping(v.as_ptr(), c.addresses[name].cast::<f32>(), v.len()) };
    }
    if let Some((Some(f), user)) = c.listener {
        for (name, d, err) in &engine.data.debug {
            let v = values(d, *err);
            let cname = CString::new(name.as_str()).expect("no NUL");
            let shape = dims(d);
            // SAFETY: the listener is the safe layer's; `v` lives through the (synchronous,
            // in this fake) copy it makes.
            let ok = unsafe {
                f(
                    user,
                    v.as_ptr().cast(),
                    i32::try_from(PTRT_DTYPE_FLOAT).expect("small"),
                    &raw const shape,
                    cname.as_ptr(),
                    stream,
                )
            };
            if ok == 0 {
                return fail(PTRT_ERROR, "the debug listener failed");
            }
        }
    }
    stats(|s| s.runs += 1);
    PTRT_OK
}

fn table() -> ptrt_api {
    ptrt_api {
        abi_version: PTRT_ABI_VERSION,
        last_error: Some(last_error),
        version: Some(version),
        set_logger: Some(set_logger),
        network_from_onnx: Some(network_from_onnx),
        network_destroy: Some(network_destroy),
        network_is_strongly_typed: Some(network_is_strongly_typed),
        network_nb_layers: Some(network_nb_layers),
        network_layer: Some(network_layer),
        network_layer_input: Some(network_layer_input),
        network_layer_output: Some(network_layer_output),
        network_nb_inputs: Some(network_nb_inputs),
        network_input: Some(network_input),
        network_nb_outputs: Some(network_nb_outputs),
        network_output: Some(network_output),
        layer_set_precision: Some(layer_set_precision),
        layer_reset_precision: Some(layer_reset_precision),
        layer_set_output_type: Some(layer_set_output_type),
        layer_reset_output_type: Some(layer_reset_output_type),
        mark_output: Some(mark_output),
        unmark_output: Some(unmark_output),
        mark_debug: Some(mark_debug),
        unmark_debug: Some(unmark_debug),
        build: Some(build),
        blob_data: Some(blob_data),
        blob_destroy: Some(blob_destroy),
        engine_deserialize: Some(engine_deserialize),
        engine_destroy: Some(engine_destroy),
        engine_nb_io: Some(engine_nb_io),
        engine_io: Some(engine_io),
        engine_layer_information: Some(engine_layer_information),
        context_create: Some(context_create),
        context_destroy: Some(context_destroy),
        context_set_input_shape: Some(context_set_input_shape),
        context_tensor_shape: Some(context_tensor_shape),
        context_set_tensor_address: Some(context_set_tensor_address),
        context_set_debug_listener: Some(context_set_debug_listener),
        context_enqueue: Some(context_enqueue),
    }
}

// --- CUDA -----------------------------------------------------------------------------

unsafe extern "C" fn cuda_device_count(count: *mut c_int) -> cudaError_t {
    let devices = current().config.devices;
    // SAFETY: valid pointer.
    unsafe { *count = devices };
    if devices < 1 { cudaErrorNoDevice } else { cudaSuccess }
}

unsafe extern "C" fn cuda_error_string(code: cudaError_t) -> *const c_char {
    match code {
        cudaSuccess => c"no error".as_ptr(),
        cudaErrorNoDevice => c"no CUDA-capable device is detected".as_ptr(),
        tensorrt_sys::cuda::cudaErrorMemoryAllocation => c"out of memory".as_ptr(),
        _ => c"invalid argument".as_ptr(),
    }
}

unsafe extern "C" fn cuda_malloc(out: *mut *mut c_void, size: usize) -> cudaError_t {
    let shared = current();
    let mut n = shared.mallocs.lock().expect("not poisoned");
    if shared.config.malloc_limit.is_some_and(|limit| *n >= limit) {
        return tensorrt_sys::cuda::cudaErrorMemoryAllocation;
    }
    *n += 1;
    drop(n);
    // Eight-byte aligned, zeroed memory stands in for device memory.
    let words = vec![0u64; size.div_ceil(8)].into_boxed_slice();
    let len = words.len();
    let p = Box::into_raw(words).cast::<u64>();
    ALLOCATIONS.lock().expect("not poisoned").push((p as usize, len));
    stats(|s| s.live_buffers += 1);
    // SAFETY: valid pointer.
    unsafe { *out = p.cast() };
    cudaSuccess
}

/// Live fake device allocations: address and length in words.
static ALLOCATIONS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

unsafe extern "C" fn cuda_free(p: *mut c_void) -> cudaError_t {
    let len = {
        let mut all = ALLOCATIONS.lock().expect("not poisoned");
        let Some(i) = all.iter().position(|(q, _)| *q == p as usize) else {
            return cudaErrorInvalidValue;
        };
        all.swap_remove(i).1
    };
    stats(|s| s.live_buffers -= 1);
    // SAFETY: `p` came from cuda_malloc's Box of `len` words.
    drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p.cast::<u64>(), len)) });
    cudaSuccess
}

unsafe extern "C" fn cuda_memcpy_async(
    dst: *mut c_void,
    src: *const c_void,
    count: usize,
    _kind: tensorrt_sys::cuda::cudaMemcpyKind,
    _stream: cudaStream_t,
) -> cudaError_t {
    // SAFETY: both regions hold `count` bytes (the caller's contract).
    unsafe { ptr::copy_nonoverlapping(src.cast::<u8>(), dst.cast::<u8>(), count) };
    cudaSuccess
}

unsafe extern "C" fn cuda_stream_create(out: *mut cudaStream_t) -> cudaError_t {
    stats(|s| s.live_streams += 1);
    // SAFETY: valid pointer; the stream is an opaque non-null token.
    unsafe { *out = Box::into_raw(Box::new(0u8)).cast() };
    cudaSuccess
}

unsafe extern "C" fn cuda_stream_destroy(s: cudaStream_t) -> cudaError_t {
    stats(|st| st.live_streams -= 1);
    // SAFETY: from Box::into_raw in cuda_stream_create.
    drop(unsafe { Box::from_raw(s.cast::<u8>()) });
    cudaSuccess
}

unsafe extern "C" fn cuda_stream_synchronize(_s: cudaStream_t) -> cudaError_t {
    cudaSuccess
}

fn cuda() -> CudaFns {
    CudaFns {
        get_device_count: cuda_device_count,
        get_error_string: cuda_error_string,
        malloc: cuda_malloc,
        free: cuda_free,
        memcpy_async: cuda_memcpy_async,
        stream_create: cuda_stream_create,
        stream_destroy: cuda_stream_destroy,
        stream_synchronize: cuda_stream_synchronize,
    }
}
