//! The fake's parser (ONNX through precision-onnx into TensorRT-like layers and tensors) and
//! the network calls of the table: layers, tensors, precision hints, output and debug marks.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, c_char, c_void};
use std::path::Path;
use std::sync::Arc;

use precision_trt_sys::shim::{
    PTRT_BUILD_INT8, PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS,
    PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS, PTRT_DTYPE_FLOAT, PTRT_DTYPE_HALF, PTRT_DTYPE_INT8,
    PTRT_DTYPE_INT64, PTRT_INVALID_ARGUMENT, PTRT_NETWORK_STRONGLY_TYPED, PTRT_OK,
    PTRT_PARSE_FAILED, PTRT_SEVERITY_ERROR, PTRT_UNSUPPORTED, ptrt_layer_info, ptrt_network,
    ptrt_status, ptrt_tensor_info,
};

use super::{Shared, dims, dropped, fail, in_slot};

#[allow(clippy::struct_excessive_bools)]
pub(super) struct Tensor {
    pub(super) name: CString,
    pub(super) dtype: u32,
    pub(super) dims: Vec<i64>,
    pub(super) is_shape: bool,
    pub(super) producer: Option<usize>,
    pub(super) network_input: bool,
    pub(super) network_output: bool,
    pub(super) debug: bool,
}

pub(super) struct FLayer {
    pub(super) name: CString,
    pub(super) type_name: CString,
    pub(super) op: String,
    pub(super) inputs: Vec<Option<usize>>,
    pub(super) outputs: Vec<usize>,
    pub(super) precision: Option<i32>,
}

/// The fake's network.
pub(super) struct FakeNetwork {
    pub(super) strongly_typed: bool,
    pub(super) tensors: Vec<Tensor>,
    pub(super) layers: Vec<FLayer>,
    pub(super) inputs: Vec<usize>,
    pub(super) shared: Arc<Shared>,
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

pub(super) fn parse(
    bytes: &[u8],
    strongly_typed: bool,
    shared: Arc<Shared>,
) -> Result<FakeNetwork, String> {
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
    pub(super) fn tensor_info(&self, id: Option<usize>, out: &mut ptrt_tensor_info) {
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

    pub(super) fn outputs(&self) -> Vec<usize> {
        (0..self.tensors.len()).filter(|i| self.tensors[*i].network_output).collect()
    }

    /// Which layers run in INT8 under `flags`, or the build error.
    pub(super) fn int8_layers(&self, flags: u32) -> Result<Vec<bool>, String> {
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
    pub(super) fn errors(&self, int8: &[bool]) -> Vec<f32> {
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

/// `ptrt_network_from_onnx` of the fake in slot `S`.
pub(super) unsafe extern "C" fn network_from_onnx<const S: usize>(
    model: *const c_void,
    size: usize,
    _path: *const c_char,
    flags: u32,
    out: *mut *mut ptrt_network,
) -> ptrt_status {
    // SAFETY: the caller passes `size` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(model.cast::<u8>(), size) };
    let Some(shared) = in_slot::<S>() else { return dropped() };
    let strongly = flags & PTRT_NETWORK_STRONGLY_TYPED != 0 || shared.config.version >= 110_000;
    match parse(bytes, strongly, shared.clone()) {
        Ok(net) => {
            shared.handle_created();
            // SAFETY: `out` is valid for writes.
            unsafe { *out = Box::into_raw(Box::new(net)).cast() };
            PTRT_OK
        }
        Err(e) => {
            shared.log(PTRT_SEVERITY_ERROR, &e);
            fail(PTRT_PARSE_FAILED, &e)
        }
    }
}

/// The fake network behind a handle.
///
/// # Safety
/// `n` came from `network_from_onnx` and is live.
pub(super) unsafe fn net<'a>(n: *const ptrt_network) -> &'a mut FakeNetwork {
    // SAFETY: per the contract.
    unsafe { &mut *n.cast::<FakeNetwork>().cast_mut() }
}

pub(super) unsafe extern "C" fn network_destroy(n: *mut ptrt_network) {
    if !n.is_null() {
        // SAFETY: `n` came from Box::into_raw in network_from_onnx.
        unsafe { net(n) }.shared.handle_destroyed();
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(n.cast::<FakeNetwork>()) });
    }
}

pub(super) unsafe extern "C" fn network_is_strongly_typed(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::from(unsafe { net(n) }.strongly_typed)
}

pub(super) unsafe extern "C" fn network_nb_layers(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { net(n) }.layers.len()).expect("small")
}

fn layer_index(n: &FakeNetwork, layer: i32) -> Option<usize> {
    usize::try_from(layer).ok().filter(|l| *l < n.layers.len())
}

pub(super) unsafe extern "C" fn network_layer(
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

pub(super) unsafe extern "C" fn network_layer_input(
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

pub(super) unsafe extern "C" fn network_layer_output(
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

pub(super) unsafe extern "C" fn network_nb_inputs(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { net(n) }.inputs.len()).expect("small")
}

pub(super) unsafe extern "C" fn network_input(
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

pub(super) unsafe extern "C" fn network_nb_outputs(n: *const ptrt_network) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { net(n) }.outputs().len()).expect("small")
}

pub(super) unsafe extern "C" fn network_output(
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

pub(super) unsafe extern "C" fn layer_set_precision(
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

pub(super) unsafe extern "C" fn layer_reset_precision(
    n: *mut ptrt_network,
    layer: i32,
) -> ptrt_status {
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

pub(super) unsafe extern "C" fn layer_set_output_type(
    n: *mut ptrt_network,
    _layer: i32,
    _output: i32,
    _dtype: i32,
) -> ptrt_status {
    // SAFETY: live handle.
    weak_only(unsafe { net(n) }).unwrap_or(PTRT_OK)
}

pub(super) unsafe extern "C" fn layer_reset_output_type(
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

pub(super) unsafe extern "C" fn mark_output(
    n: *mut ptrt_network,
    layer: i32,
    output: i32,
) -> ptrt_status {
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

pub(super) unsafe extern "C" fn unmark_output(
    n: *mut ptrt_network,
    layer: i32,
    output: i32,
) -> ptrt_status {
    // SAFETY: live handle.
    match output_tensor(unsafe { net(n) }, layer, output) {
        Ok(t) => {
            t.network_output = false;
            PTRT_OK
        }
        Err(s) => s,
    }
}

pub(super) unsafe extern "C" fn mark_debug(
    n: *mut ptrt_network,
    layer: i32,
    output: i32,
) -> ptrt_status {
    // SAFETY: live handle.
    match output_tensor(unsafe { net(n) }, layer, output) {
        Ok(t) => {
            t.debug = true;
            PTRT_OK
        }
        Err(s) => s,
    }
}

pub(super) unsafe extern "C" fn unmark_debug(
    n: *mut ptrt_network,
    layer: i32,
    output: i32,
) -> ptrt_status {
    // SAFETY: live handle.
    match output_tensor(unsafe { net(n) }, layer, output) {
        Ok(t) => {
            t.debug = false;
            PTRT_OK
        }
        Err(s) => s,
    }
}
