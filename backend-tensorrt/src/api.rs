//! The table of shim and CUDA functions every safe type calls through: the real one when
//! this build linked TensorRT, or a test's fake.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use precision_trt_sys::CudaFns;
use precision_trt_sys::cuda::{cudaError_t, cudaSuccess};
use precision_trt_sys::shim::{
    PTRT_ABI_VERSION, PTRT_BUILD_FAILED, PTRT_CACHE_REJECTED, PTRT_INVALID_ARGUMENT,
    PTRT_NO_DEVICE, PTRT_OK, PTRT_OUT_OF_MEMORY, PTRT_PARSE_FAILED, PTRT_UNSUPPORTED, ptrt_api,
    ptrt_status,
};

use crate::error::TrtError;

/// The functions of the shim and of the CUDA runtime, checked to be all present.
#[derive(Debug)]
pub struct Api {
    shim: ptrt_api,
    cuda: CudaFns,
}

/// Calls `$field` of the shim's table with `$args`.
///
/// Every field was checked to be present when the [`Api`] was made.
macro_rules! shim_call {
    ($api:expr, $field:ident ( $($arg:expr),* $(,)? )) => {
        ($api.shim().$field.expect(concat!("checked when the table was made: ", stringify!($field))))($($arg),*)
    };
}
pub(crate) use shim_call;

impl Api {
    /// The real shim and CUDA runtime: [`TrtError::NotBuilt`] when this binary has no TensorRT.
    pub fn linked() -> Result<&'static Api, TrtError> {
        static LINKED: OnceLock<Result<Api, TrtError>> = OnceLock::new();
        LINKED
            .get_or_init(|| {
                let linked = precision_trt_sys::linked().ok_or(TrtError::NotBuilt)?;
                let api = Api::new(*linked.shim, linked.cuda)?;
                api.set_log_handler(Severity::from_env(), print_log);
                Ok(api)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A table from its parts, after checking its ABI version and that no function is missing.
    pub fn new(shim: ptrt_api, cuda: CudaFns) -> Result<Api, TrtError> {
        if shim.abi_version != PTRT_ABI_VERSION {
            return Err(TrtError::Abi { found: shim.abi_version, expected: PTRT_ABI_VERSION });
        }
        let missing = missing_functions(&shim);
        if !missing.is_empty() {
            return Err(TrtError::Trt(format!(
                "the shim's table lacks {}; rebuild the shim",
                missing.join(", ")
            )));
        }
        Ok(Api { shim, cuda })
    }

    /// Routes TensorRT's log messages of `min` severity or worse to `handler` (through the
    /// shim's `ILogger`, which calls back into Rust from whatever thread TensorRT logs on).
    pub fn set_log_handler(&self, min: Severity, handler: LogHandler) {
        // SAFETY: the trampoline is a valid callback for the program's lifetime, and the user
        // pointer is a plain function pointer it turns back into `handler`.
        unsafe {
            shim_call!(self, set_logger(Some(log_trampoline), handler as *mut c_void, min as i32));
        }
    }

    /// The shim's table.
    pub(crate) fn shim(&self) -> &ptrt_api {
        &self.shim
    }

    /// The CUDA runtime functions.
    pub(crate) fn cuda(&self) -> &CudaFns {
        &self.cuda
    }

    /// The TensorRT versions the shim was compiled against and runs with
    /// (`major * 10000 + minor * 100 + patch`).
    #[must_use]
    pub fn versions(&self) -> (i32, i32) {
        let (mut compiled, mut loaded) = (0, 0);
        // SAFETY: both pointers are valid for writes for the duration of the call.
        unsafe { shim_call!(self, version(&raw mut compiled, &raw mut loaded)) };
        (compiled, loaded)
    }

    /// The calling thread's last error text from the shim.
    pub(crate) fn last_error(&self) -> String {
        // SAFETY: last_error returns a NUL-terminated string valid until the next shim call
        // on this thread (or null); it is copied at once.
        unsafe {
            let text = shim_call!(self, last_error());
            if text.is_null() {
                String::new()
            } else {
                CStr::from_ptr(text).to_string_lossy().into_owned()
            }
        }
    }

    /// `Ok` for `PTRT_OK`, else the error the status and last error text describe.
    pub(crate) fn check(&self, status: ptrt_status) -> Result<(), TrtError> {
        if status == PTRT_OK {
            return Ok(());
        }
        let text = self.last_error();
        let text = if text.is_empty() { format!("status {status}, no message") } else { text };
        Err(match status {
            PTRT_PARSE_FAILED => TrtError::Parse(text),
            PTRT_BUILD_FAILED => TrtError::Build(text),
            PTRT_NO_DEVICE => TrtError::NoDevice(text),
            PTRT_OUT_OF_MEMORY => TrtError::OutOfMemory(text),
            PTRT_CACHE_REJECTED => TrtError::CacheRejected(text),
            PTRT_UNSUPPORTED => TrtError::Unsupported(text),
            PTRT_INVALID_ARGUMENT => TrtError::InvalidArgument(text),
            _ => TrtError::Trt(text),
        })
    }

    /// `Ok` for `cudaSuccess`, else [`TrtError::Cuda`] naming `call` (or
    /// [`TrtError::OutOfMemory`] / [`TrtError::NoDevice`] for those errors).
    pub(crate) fn check_cuda(&self, call: &'static str, code: cudaError_t) -> Result<(), TrtError> {
        if code == cudaSuccess {
            return Ok(());
        }
        // SAFETY: cudaGetErrorString returns a static NUL-terminated string for any code
        // (or null, handled).
        let message = unsafe {
            let text = (self.cuda.get_error_string)(code);
            if text.is_null() {
                format!("error {code}")
            } else {
                CStr::from_ptr(text).to_string_lossy().into_owned()
            }
        };
        Err(match code {
            precision_trt_sys::cuda::cudaErrorMemoryAllocation => {
                TrtError::OutOfMemory(format!("{call}: {message}"))
            }
            precision_trt_sys::cuda::cudaErrorNoDevice
            | precision_trt_sys::cuda::cudaErrorInsufficientDriver => {
                TrtError::NoDevice(format!("{call}: {message}"))
            }
            _ => TrtError::Cuda { call, message },
        })
    }

    /// Fails with [`TrtError::NoDevice`] unless at least one CUDA device is usable.
    pub fn require_device(&self) -> Result<(), TrtError> {
        let mut count: c_int = 0;
        // SAFETY: `count` is valid for writes.
        let code = unsafe { (self.cuda.get_device_count)(&raw mut count) };
        self.check_cuda("cudaGetDeviceCount", code)?;
        if count < 1 {
            return Err(TrtError::NoDevice("cudaGetDeviceCount found no device".into()));
        }
        Ok(())
    }
}

/// The severity of a TensorRT log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// An internal error: TensorRT cannot go on.
    InternalError = 0,
    /// An error.
    Error = 1,
    /// A warning (for example a precision constraint TensorRT could not follow).
    Warning = 2,
    /// Information.
    Info = 3,
    /// Verbose detail.
    Verbose = 4,
}

impl Severity {
    fn from_raw(raw: i32) -> Severity {
        match raw {
            0 => Severity::InternalError,
            1 => Severity::Error,
            2 => Severity::Warning,
            3 => Severity::Info,
            _ => Severity::Verbose,
        }
    }

    /// The severity `PRECISION_TRT_LOG` asks for (`error`, `warning`, `info`, `verbose`), or
    /// warning.
    #[must_use]
    pub fn from_env() -> Severity {
        match std::env::var("PRECISION_TRT_LOG").as_deref() {
            Ok("error") => Severity::Error,
            Ok("info") => Severity::Info,
            Ok("verbose") => Severity::Verbose,
            _ => Severity::Warning,
        }
    }
}

/// Receives TensorRT's log messages.
pub type LogHandler = fn(Severity, &str);

/// Prints a TensorRT log message on stderr.
pub fn print_log(severity: Severity, message: &str) {
    let level = match severity {
        Severity::InternalError => "internal error",
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
        Severity::Verbose => "verbose",
    };
    eprintln!("TensorRT {level}: {message}");
}

unsafe extern "C" fn log_trampoline(user: *mut c_void, severity: i32, message: *const c_char) {
    if user.is_null() || message.is_null() {
        return;
    }
    // SAFETY: `user` is the `LogHandler` set_log_handler passed; `message` is NUL-terminated.
    let (handler, text) = unsafe {
        (
            std::mem::transmute::<*mut c_void, LogHandler>(user),
            CStr::from_ptr(message).to_string_lossy(),
        )
    };
    let severity = Severity::from_raw(severity);
    if let Err(panic) = crate::callback::guarded(|| handler(severity, &text)) {
        eprintln!("the TensorRT log handler panicked ({panic}) on: {text}");
    }
}

/// The names of the table's missing functions.
fn missing_functions(t: &ptrt_api) -> Vec<&'static str> {
    let present = [
        ("last_error", t.last_error.is_some()),
        ("version", t.version.is_some()),
        ("set_logger", t.set_logger.is_some()),
        ("network_from_onnx", t.network_from_onnx.is_some()),
        ("network_destroy", t.network_destroy.is_some()),
        ("network_is_strongly_typed", t.network_is_strongly_typed.is_some()),
        ("network_nb_layers", t.network_nb_layers.is_some()),
        ("network_layer", t.network_layer.is_some()),
        ("network_layer_input", t.network_layer_input.is_some()),
        ("network_layer_output", t.network_layer_output.is_some()),
        ("network_nb_inputs", t.network_nb_inputs.is_some()),
        ("network_input", t.network_input.is_some()),
        ("network_nb_outputs", t.network_nb_outputs.is_some()),
        ("network_output", t.network_output.is_some()),
        ("layer_set_precision", t.layer_set_precision.is_some()),
        ("layer_reset_precision", t.layer_reset_precision.is_some()),
        ("layer_set_output_type", t.layer_set_output_type.is_some()),
        ("layer_reset_output_type", t.layer_reset_output_type.is_some()),
        ("mark_output", t.mark_output.is_some()),
        ("unmark_output", t.unmark_output.is_some()),
        ("mark_debug", t.mark_debug.is_some()),
        ("unmark_debug", t.unmark_debug.is_some()),
        ("build", t.build.is_some()),
        ("blob_data", t.blob_data.is_some()),
        ("blob_destroy", t.blob_destroy.is_some()),
        ("engine_deserialize", t.engine_deserialize.is_some()),
        ("engine_destroy", t.engine_destroy.is_some()),
        ("engine_nb_io", t.engine_nb_io.is_some()),
        ("engine_io", t.engine_io.is_some()),
        ("engine_layer_information", t.engine_layer_information.is_some()),
        ("context_create", t.context_create.is_some()),
        ("context_destroy", t.context_destroy.is_some()),
        ("context_set_input_shape", t.context_set_input_shape.is_some()),
        ("context_tensor_shape", t.context_tensor_shape.is_some()),
        ("context_set_tensor_address", t.context_set_tensor_address.is_some()),
        ("context_set_debug_listener", t.context_set_debug_listener.is_some()),
        ("context_enqueue", t.context_enqueue.is_some()),
    ];
    present.into_iter().filter(|(_, p)| !p).map(|(n, _)| n).collect()
}
