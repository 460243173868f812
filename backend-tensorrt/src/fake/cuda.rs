//! The fake's CUDA runtime: devices as configured, host memory as device memory (with an
//! optional allocation limit), streams as tokens, copies done at once.

use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::{Arc, Mutex};

use precision_trt_sys::CudaFns;
use precision_trt_sys::cuda::{
    cudaError_t, cudaErrorInvalidValue, cudaErrorNoDevice, cudaStream_t, cudaSuccess,
};

use super::{SLOTS, Shared, in_slot};

/// The CUDA calls of each slot, by slot.
pub(super) static CUDA: [fn() -> CudaFns; SLOTS] = super::per_slot!(cuda_for_slot);

unsafe extern "C" fn cuda_device_count<const S: usize>(count: *mut c_int) -> cudaError_t {
    let devices = in_slot::<S>().map_or(0, |shared| shared.config.devices);
    // SAFETY: valid pointer.
    unsafe { *count = devices };
    if devices < 1 { cudaErrorNoDevice } else { cudaSuccess }
}

unsafe extern "C" fn cuda_error_string(code: cudaError_t) -> *const c_char {
    match code {
        cudaSuccess => c"no error".as_ptr(),
        cudaErrorNoDevice => c"no CUDA-capable device is detected".as_ptr(),
        precision_trt_sys::cuda::cudaErrorMemoryAllocation => c"out of memory".as_ptr(),
        _ => c"invalid argument".as_ptr(),
    }
}

unsafe extern "C" fn cuda_malloc<const S: usize>(
    out: *mut *mut c_void,
    size: usize,
) -> cudaError_t {
    let Some(shared) = in_slot::<S>() else { return cudaErrorNoDevice };
    let mut n = shared.mallocs.lock().expect("not poisoned");
    if shared.config.malloc_limit.is_some_and(|limit| *n >= limit) {
        return precision_trt_sys::cuda::cudaErrorMemoryAllocation;
    }
    *n += 1;
    drop(n);
    // Eight-byte aligned, zeroed memory stands in for device memory.
    let words = vec![0u64; size.div_ceil(8)].into_boxed_slice();
    let len = words.len();
    let p = Box::into_raw(words).cast::<u64>();
    ALLOCATIONS.lock().expect("not poisoned").push((p as usize, len, shared.clone()));
    shared.stats(|s| s.live_buffers += 1);
    // SAFETY: valid pointer.
    unsafe { *out = p.cast() };
    cudaSuccess
}

/// Live fake device allocations (of every fake): address, length in words, and the fake.
static ALLOCATIONS: Mutex<Vec<(usize, usize, Arc<Shared>)>> = Mutex::new(Vec::new());

unsafe extern "C" fn cuda_free(p: *mut c_void) -> cudaError_t {
    let (_, len, shared) = {
        let mut all = ALLOCATIONS.lock().expect("not poisoned");
        let Some(i) = all.iter().position(|(q, ..)| *q == p as usize) else {
            return cudaErrorInvalidValue;
        };
        all.swap_remove(i)
    };
    shared.stats(|s| s.live_buffers -= 1);
    // SAFETY: `p` came from cuda_malloc's Box of `len` words.
    drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p.cast::<u64>(), len)) });
    cudaSuccess
}

unsafe extern "C" fn cuda_memcpy_async(
    dst: *mut c_void,
    src: *const c_void,
    count: usize,
    _kind: precision_trt_sys::cuda::cudaMemcpyKind,
    _stream: cudaStream_t,
) -> cudaError_t {
    // SAFETY: both regions hold `count` bytes (the caller's contract).
    unsafe { ptr::copy_nonoverlapping(src.cast::<u8>(), dst.cast::<u8>(), count) };
    cudaSuccess
}

unsafe extern "C" fn cuda_stream_create<const S: usize>(out: *mut cudaStream_t) -> cudaError_t {
    let Some(shared) = in_slot::<S>() else { return cudaErrorNoDevice };
    shared.stats(|s| s.live_streams += 1);
    // SAFETY: valid pointer; the stream is an opaque non-null token that holds its fake.
    unsafe { *out = Box::into_raw(Box::new(shared)).cast() };
    cudaSuccess
}

unsafe extern "C" fn cuda_stream_destroy(s: cudaStream_t) -> cudaError_t {
    // SAFETY: from Box::into_raw in cuda_stream_create.
    let shared = unsafe { Box::from_raw(s.cast::<Arc<Shared>>()) };
    shared.stats(|st| st.live_streams -= 1);
    cudaSuccess
}

unsafe extern "C" fn cuda_stream_synchronize(_s: cudaStream_t) -> cudaError_t {
    cudaSuccess
}

/// The CUDA calls of the fake in slot `S`.
fn cuda_for_slot<const S: usize>() -> CudaFns {
    CudaFns {
        get_device_count: cuda_device_count::<S>,
        get_error_string: cuda_error_string,
        malloc: cuda_malloc::<S>,
        free: cuda_free,
        memcpy_async: cuda_memcpy_async,
        stream_create: cuda_stream_create::<S>,
        stream_destroy: cuda_stream_destroy,
        stream_synchronize: cuda_stream_synchronize,
    }
}
