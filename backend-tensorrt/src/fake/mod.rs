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
//! Each [`Fake`] is a value: [`Fake::new`] takes its configuration and [`Fake::api`] gives the
//! table bound to it, so tests running side by side (and the threads of parallel checks) each
//! reach their own fake. The C API passes no context pointer to the calls that create handles,
//! so each live fake takes one of [`SLOTS`] slots, whose table's functions are instantiated for
//! that slot; every handle then carries its fake.
//!
//! Modules: `network` (the parser and the network calls), `builder` (builds and the calibrator
//! run), `runtime` (engines, contexts, inference), `cuda` (the CUDA calls), `table` (the
//! function tables per slot), `refuse` (layers without an implementation).

#![allow(unsafe_code, non_upper_case_globals)]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use precision_trt_sys::shim::{ptrt_dims, ptrt_status};

use crate::api::Api;

mod builder;
mod cuda;
mod network;
mod refuse;
mod runtime;
mod table;

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

/// A test's handle on one fake: its statistics and the table bound to it.
#[derive(Clone)]
pub struct Fake {
    shared: Arc<Shared>,
}

impl Fake {
    /// A fake that behaves as `config` says, in a free slot.
    ///
    /// # Panics
    /// When [`SLOTS`] fakes are alive at once (a test that keeps that many is wrong).
    #[must_use]
    pub fn new(config: FakeConfig) -> Fake {
        for (slot, entry) in FAKES.iter().enumerate() {
            let mut entry = entry.lock().expect("not poisoned");
            if entry.strong_count() == 0 {
                let shared = Arc::new(Shared {
                    config,
                    slot,
                    stats: Mutex::new(FakeStats::default()),
                    mallocs: Mutex::new(0),
                });
                *entry = Arc::downgrade(&shared);
                return Fake { shared };
            }
        }
        panic!("more than {SLOTS} fakes are alive at once: drop some (and their backends)")
    }

    /// A copy of the statistics so far.
    #[must_use]
    pub fn stats(&self) -> FakeStats {
        self.shared.stats.lock().expect("not poisoned").clone()
    }

    /// The table to open backends with: its calls reach this fake, from any thread.
    #[must_use]
    pub fn api(&self) -> &'static Api {
        static APIS: [OnceLock<Api>; SLOTS] = [const { OnceLock::new() }; SLOTS];
        let slot = self.shared.slot;
        APIS[slot].get_or_init(|| {
            Api::new(table::TABLES[slot](), cuda::CUDA[slot]())
                .expect("the fake's table is complete")
        })
    }
}

/// How many fakes can be alive at once.
pub const SLOTS: usize = 64;

/// An array of `$f::<S>` for every slot `S` (`0..SLOTS`, written out: const generics cannot
/// be counted).
macro_rules! per_slot {
    ($f:ident) => {
        $crate::fake::per_slot!(@ $f; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63)
    };
    (@ $f:ident; $($s:literal)*) => {
        [$($f::<$s>),*]
    };
}
pub(crate) use per_slot;

/// The fake in each slot; a slot whose fake is gone (no [`Fake`] and no handle left) is free.
static FAKES: [Mutex<Weak<Shared>>; SLOTS] = [const { Mutex::new(Weak::new()) }; SLOTS];

/// The fake in slot `S`, if it is still alive.
fn in_slot<const S: usize>() -> Option<Arc<Shared>> {
    FAKES[S].lock().expect("not poisoned").upgrade()
}

/// Fails a call made through the table of a slot whose fake was dropped.
fn dropped() -> ptrt_status {
    fail(
        precision_trt_sys::shim::PTRT_ERROR,
        "the fake behind this table was dropped before the call",
    )
}

/// One fake's configuration and what it saw; every handle it creates holds it.
struct Shared {
    config: FakeConfig,
    slot: usize,
    stats: Mutex<FakeStats>,
    mallocs: Mutex<usize>,
}

impl Shared {
    fn stats<R>(&self, f: impl FnOnce(&mut FakeStats) -> R) -> R {
        f(&mut self.stats.lock().expect("not poisoned"))
    }

    fn handle_created(&self) {
        self.stats(|s| s.live_handles += 1);
    }

    fn handle_destroyed(&self) {
        self.stats(|s| s.live_handles -= 1);
    }

    /// Records `message` and sends it to the calling thread's logger, if it wants it.
    fn log(&self, severity: u32, message: &str) {
        self.stats(|s| s.logs.push(message.to_owned()));
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
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// The logger callback, its user pointer and the least severe level it wants.
    static LOGGER: RefCell<Option<LoggerEntry>> = const { RefCell::new(None) };
}

type LoggerEntry = (unsafe extern "C" fn(*mut c_void, i32, *const c_char), *mut c_void, i32);

/// Sets the calling thread's error text and returns `status`.
fn fail(status: ptrt_status, message: &str) -> ptrt_status {
    LAST_ERROR
        .with(|e| *e.borrow_mut() = CString::new(message.replace('\0', " ")).expect("no NUL"));
    status
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
