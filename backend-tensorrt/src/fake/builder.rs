//! The fake's builder: precision flags and hints to the layers that run in INT8, the
//! calibrator run as TensorRT drives it, timing caches, and the serialized engine; and the
//! blobs (byte buffers) it hands out.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_void};
use std::fmt::Write as _;
use std::ptr;
use std::sync::Arc;

use precision_trt_sys::shim::{
    PTRT_BUILD_BF16, PTRT_BUILD_FAILED, PTRT_BUILD_FP16, PTRT_BUILD_INT8,
    PTRT_BUILD_OBEY_PRECISION_CONSTRAINTS, PTRT_BUILD_PREFER_PRECISION_CONSTRAINTS,
    PTRT_CACHE_REJECTED, PTRT_ERROR, PTRT_OK, PTRT_SEVERITY_ERROR, PTRT_SEVERITY_INFO,
    PTRT_UNSUPPORTED, ptrt_blob, ptrt_build_options, ptrt_network, ptrt_status,
};
use serde_json::json;

use super::network::{FakeNetwork, Tensor, net};
use super::runtime::EngineData;
use super::{Shared, dims_vec, fail};

/// Bytes the fake hands out (a serialized engine, a timing cache, layer information).
struct Blob {
    bytes: Vec<u8>,
    shared: Arc<Shared>,
}

/// A new blob handle holding `bytes`, counted as a live handle of `shared`'s fake.
pub(super) fn new_blob(shared: &Arc<Shared>, bytes: Vec<u8>) -> *mut ptrt_blob {
    shared.handle_created();
    Box::into_raw(Box::new(Blob { bytes, shared: shared.clone() })).cast()
}

const TIMING_MAGIC: &[u8] = b"fake-timing-cache v1";

pub(super) unsafe extern "C" fn build(
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
            n.shared.stats(|s| s.builds_with_timing_cache += 1);
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
        n.shared.stats(|s| {
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
            n.shared.stats(|s| s.builds += 1);
            n.shared.log(PTRT_SEVERITY_INFO, "fake: engine built");
            // SAFETY: the out pointers are valid for writes.
            unsafe {
                *engine = new_blob(&n.shared, bytes);
                if !timing_out.is_null() {
                    *timing_out = new_blob(&n.shared, TIMING_MAGIC.to_vec());
                }
            }
            PTRT_OK
        }
        Err((status, message)) => {
            n.shared.stats(|s| s.failed_builds += 1);
            n.shared.log(PTRT_SEVERITY_ERROR, &message);
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
        precision_trt_sys::shim::PTRT_CALIBRATION_ENTROPY2 => "EntropyCalibration2",
        precision_trt_sys::shim::PTRT_CALIBRATION_MINMAX => "MinMaxCalibration",
        precision_trt_sys::shim::PTRT_CALIBRATION_ENTROPY => "EntropyCalibration",
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
        n.shared.stats(|s| s.calibration_batches += 1);
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

pub(super) unsafe extern "C" fn blob_data(
    b: *const ptrt_blob,
    data: *mut *const c_void,
    size: *mut usize,
) {
    // SAFETY: `b` came from new_blob; out pointers valid.
    unsafe {
        let bytes = &(*b.cast::<Blob>()).bytes;
        *data = bytes.as_ptr().cast();
        *size = bytes.len();
    }
}

pub(super) unsafe extern "C" fn blob_destroy(b: *mut ptrt_blob) {
    if !b.is_null() {
        // SAFETY: `b` came from Box::into_raw in new_blob.
        let blob = unsafe { Box::from_raw(b.cast::<Blob>()) };
        blob.shared.handle_destroyed();
    }
}
