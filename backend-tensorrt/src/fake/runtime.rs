//! The fake's engines and execution contexts: deserializing what the builder wrote, the
//! engine's I/O and layer information, input shapes, tensor addresses, the debug listener and
//! inference (each output is the first input plus the error the build gave it).

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::Arc;

use precision_trt_sys::shim::{
    PTRT_DTYPE_FLOAT, PTRT_ERROR, PTRT_INVALID_ARGUMENT, PTRT_NO_DEVICE, PTRT_OK, ptrt_blob,
    ptrt_context, ptrt_debug_fn, ptrt_dims, ptrt_engine, ptrt_io_info, ptrt_status,
};

use super::builder::new_blob;
use super::{Shared, dims, dims_vec, dropped, fail, in_slot};

/// What a serialized fake engine holds.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct EngineData {
    /// (name, dims, error, is input)
    pub(super) io: Vec<(String, Vec<i64>, f32, bool)>,
    /// (name, dims, error) of debug tensors.
    pub(super) debug: Vec<(String, Vec<i64>, f32)>,
    pub(super) layer_information: String,
}

struct FakeEngine {
    data: EngineData,
    names: Vec<CString>,
    shared: Arc<Shared>,
}

struct FakeContext {
    engine: *const FakeEngine,
    shared: Arc<Shared>,
    shapes: HashMap<String, Vec<i64>>,
    addresses: HashMap<String, *mut c_void>,
    listener: Option<(ptrt_debug_fn, *mut c_void)>,
}

/// `ptrt_engine_deserialize` of the fake in slot `S`.
pub(super) unsafe extern "C" fn engine_deserialize<const S: usize>(
    data: *const c_void,
    size: usize,
    out: *mut *mut ptrt_engine,
) -> ptrt_status {
    let Some(shared) = in_slot::<S>() else { return dropped() };
    if shared.config.devices < 1 {
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
    shared.handle_created();
    // SAFETY: `out` valid for writes.
    unsafe { *out = Box::into_raw(Box::new(FakeEngine { data, names, shared })).cast() };
    PTRT_OK
}

pub(super) unsafe extern "C" fn engine_destroy(e: *mut ptrt_engine) {
    if !e.is_null() {
        // SAFETY: from Box::into_raw in engine_deserialize.
        let engine = unsafe { Box::from_raw(e.cast::<FakeEngine>()) };
        engine.shared.handle_destroyed();
    }
}

pub(super) unsafe extern "C" fn engine_nb_io(e: *const ptrt_engine) -> i32 {
    // SAFETY: live handle.
    i32::try_from(unsafe { &*e.cast::<FakeEngine>() }.data.io.len()).expect("small")
}

pub(super) unsafe extern "C" fn engine_io(
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

pub(super) unsafe extern "C" fn engine_layer_information(
    e: *const ptrt_engine,
    json: *mut *mut ptrt_blob,
) -> ptrt_status {
    // SAFETY: live handle; `json` valid.
    unsafe {
        let e = &*e.cast::<FakeEngine>();
        *json = new_blob(&e.shared, e.data.layer_information.clone().into_bytes());
    };
    PTRT_OK
}

pub(super) unsafe extern "C" fn context_create(
    e: *mut ptrt_engine,
    out: *mut *mut ptrt_context,
) -> ptrt_status {
    // SAFETY: live engine handle.
    let shared = unsafe { &*e.cast::<FakeEngine>() }.shared.clone();
    shared.handle_created();
    let ctx = FakeContext {
        engine: e.cast(),
        shared,
        shapes: HashMap::new(),
        addresses: HashMap::new(),
        listener: None,
    };
    // SAFETY: `out` valid.
    unsafe { *out = Box::into_raw(Box::new(ctx)).cast() };
    PTRT_OK
}

pub(super) unsafe extern "C" fn context_destroy(c: *mut ptrt_context) {
    if !c.is_null() {
        // SAFETY: from Box::into_raw in context_create.
        let context = unsafe { Box::from_raw(c.cast::<FakeContext>()) };
        context.shared.handle_destroyed();
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

pub(super) unsafe extern "C" fn context_set_input_shape(
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

pub(super) unsafe extern "C" fn context_tensor_shape(
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

pub(super) unsafe extern "C" fn context_set_tensor_address(
    c: *mut ptrt_context,
    name: *const c_char,
    address: *mut c_void,
) -> ptrt_status {
    // SAFETY: live context and valid name.
    let (c, name) = unsafe { ctx_name(c, name) };
    c.addresses.insert(name, address);
    PTRT_OK
}

pub(super) unsafe extern "C" fn context_set_debug_listener(
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

pub(super) unsafe extern "C" fn context_enqueue(
    c: *mut ptrt_context,
    stream: *mut c_void,
) -> ptrt_status {
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
    c.shared.stats(|s| s.runs += 1);
    PTRT_OK
}
