//! The fake's function tables, one per slot: the calls that create handles without a parent
//! (`version`, `network_from_onnx`, `engine_deserialize`) are instantiated for the slot, so
//! they reach the slot's fake; the others find it through their handle.

use std::ffi::{c_char, c_void};

use precision_trt_sys::shim::{PTRT_ABI_VERSION, ptrt_api, ptrt_log_fn};

use super::builder::{blob_data, blob_destroy, build};
use super::network::{
    layer_reset_output_type, layer_reset_precision, layer_set_output_type, layer_set_precision,
    mark_debug, mark_output, network_destroy, network_from_onnx, network_input,
    network_is_strongly_typed, network_layer, network_layer_input, network_layer_output,
    network_nb_inputs, network_nb_layers, network_nb_outputs, network_output, unmark_debug,
    unmark_output,
};
use super::runtime::{
    context_create, context_destroy, context_enqueue, context_set_debug_listener,
    context_set_input_shape, context_set_tensor_address, context_tensor_shape, engine_deserialize,
    engine_destroy, engine_io, engine_layer_information, engine_nb_io,
};
use super::{LAST_ERROR, LOGGER, SLOTS, in_slot};

/// The table of each slot, by slot.
pub(super) static TABLES: [fn() -> ptrt_api; SLOTS] = super::per_slot!(table_for_slot);

unsafe extern "C" fn last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The version the slot's fake claims (0 once it was dropped).
unsafe extern "C" fn version<const S: usize>(compiled: *mut i32, loaded: *mut i32) {
    let v = in_slot::<S>().map_or(0, |shared| shared.config.version);
    // SAFETY: the caller passes valid pointers.
    unsafe {
        *compiled = v;
        *loaded = v;
    }
}

/// Sets the calling thread's logger.
unsafe extern "C" fn set_logger(f: ptrt_log_fn, user: *mut c_void, min: i32) {
    LOGGER.with(|l| *l.borrow_mut() = f.map(|f| (f, user, min)));
}

/// The table of the fake in slot `S`.
fn table_for_slot<const S: usize>() -> ptrt_api {
    ptrt_api {
        abi_version: PTRT_ABI_VERSION,
        last_error: Some(last_error),
        version: Some(version::<S>),
        set_logger: Some(set_logger),
        network_from_onnx: Some(network_from_onnx::<S>),
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
        engine_deserialize: Some(engine_deserialize::<S>),
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
