//! What ONNX Runtime's GPU providers need on the machine, checked (and loaded) before the first
//! session, so that a missing piece is an error naming it and its fix rather than a silent
//! fallback to CPU or a failure in the middle of a search.
//!
//! In order: the ONNX Runtime library must be a GPU build (onnxruntime-gpu: the provider is in
//! its list and its `libonnxruntime_providers_*.so` files are beside it); the NVIDIA driver must
//! load (`libcuda.so.1`) and see the devices asked for; the CUDA 13 libraries (runtime, cuBLAS,
//! cuRAND, cuFFT, NVRTC) and cuDNN 9 must load, found as `onnxruntime.preload_dlls` finds them:
//! first in the `nvidia/*/lib` folders of `python3`'s pip `nvidia-*` wheels, then through the
//! system's library search (`LD_LIBRARY_PATH`, the linker cache). They are loaded with
//! `RTLD_GLOBAL`, so that the provider library finds them when ONNX Runtime loads it. The
//! TensorRT provider needs TensorRT 10 (`libnvinfer.so.10`, `libnvonnxparser.so.10`) too.
#![allow(unsafe_code, reason = "loads the CUDA driver and libraries (FFI)")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::providers::{ExecutionSettings, ProviderKind};

/// A shared library a GPU provider needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuLibrary {
    /// Its file name (soname), e.g. `libcudnn.so.9`.
    pub soname: &'static str,
    /// What it is, for messages.
    pub what: &'static str,
    /// The pip package that ships it.
    pub package: &'static str,
    /// Whether a provider can work without it (ONNX Runtime loads it only for some ops).
    pub optional: bool,
}

const fn lib(soname: &'static str, what: &'static str, package: &'static str) -> GpuLibrary {
    GpuLibrary { soname, what, package, optional: false }
}

/// What the CUDA provider of onnxruntime-gpu 1.31/1.32 (CUDA 13 build) loads, in load order
/// (cuBLASLt before cuBLAS, cuDNN's parts after cuDNN).
pub const CUDA_LIBRARIES: &[GpuLibrary] = &[
    lib("libcudart.so.13", "CUDA 13 runtime", "nvidia-cuda-runtime"),
    lib("libcublasLt.so.13", "cuBLASLt 13", "nvidia-cublas"),
    lib("libcublas.so.13", "cuBLAS 13", "nvidia-cublas"),
    lib("libcurand.so.10", "cuRAND", "nvidia-curand"),
    GpuLibrary { optional: true, ..lib("libcufft.so.12", "cuFFT", "nvidia-cufft") },
    GpuLibrary { optional: true, ..lib("libnvrtc.so.13", "NVRTC 13", "nvidia-cuda-nvrtc") },
    lib("libcudnn.so.9", "cuDNN 9", "nvidia-cudnn-cu13"),
    lib("libcudnn_graph.so.9", "cuDNN 9 graph", "nvidia-cudnn-cu13"),
    lib("libcudnn_ops.so.9", "cuDNN 9 ops", "nvidia-cudnn-cu13"),
    lib("libcudnn_cnn.so.9", "cuDNN 9 convolutions", "nvidia-cudnn-cu13"),
    lib("libcudnn_heuristic.so.9", "cuDNN 9 heuristics", "nvidia-cudnn-cu13"),
    lib("libcudnn_engines_precompiled.so.9", "cuDNN 9 engines", "nvidia-cudnn-cu13"),
    lib("libcudnn_engines_runtime_compiled.so.9", "cuDNN 9 engines", "nvidia-cudnn-cu13"),
    GpuLibrary { optional: true, ..lib("libcudnn_adv.so.9", "cuDNN 9 (adv)", "nvidia-cudnn-cu13") },
];

/// What the TensorRT provider loads besides the CUDA provider's libraries.
pub const TENSORRT_LIBRARIES: &[GpuLibrary] = &[
    lib("libnvinfer.so.10", "TensorRT 10", "tensorrt-cu13"),
    lib("libnvonnxparser.so.10", "TensorRT 10 ONNX parser", "tensorrt-cu13"),
];

/// The NVIDIA driver's library.
pub const DRIVER: &str = "libcuda.so.1";

/// Why a GPU provider cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuProblem {
    /// The ONNX Runtime library is a CPU-only build.
    #[error(
        "--providers {provider}: the ONNX Runtime at {} is a build without the {ort_name} \
         (it has: {}); install ONNX Runtime for GPUs (`pip install onnxruntime-gpu`, the CUDA 13 \
         build) and give its onnxruntime/capi/libonnxruntime.so.1.* with --onnxrt-lib or \
         ORT_DYLIB_PATH",
        library.display(),
        available.join(", ")
    )]
    CpuOnlyRuntime {
        /// The provider asked for (`cuda`).
        provider: &'static str,
        /// ONNX Runtime's name of it.
        ort_name: &'static str,
        /// The ONNX Runtime library.
        library: PathBuf,
        /// The providers the library has.
        available: Vec<String>,
    },
    /// A provider library of onnxruntime-gpu is not beside the ONNX Runtime library.
    #[error(
        "--providers {provider}: {} is missing, so ONNX Runtime cannot load the provider; the \
         onnxruntime-gpu install is incomplete: reinstall it (`pip install --force-reinstall \
         onnxruntime-gpu`)",
        file.display()
    )]
    MissingProviderLibrary {
        /// The provider asked for.
        provider: &'static str,
        /// The file that should be there.
        file: PathBuf,
    },
    /// The NVIDIA driver does not load.
    #[error(
        "--providers {provider}: no NVIDIA driver: {DRIVER} cannot be loaded ({reason}); install \
         the NVIDIA driver (in a container, start it with the GPUs, e.g. `docker run --gpus all`)"
    )]
    NoDriver {
        /// The provider asked for.
        provider: &'static str,
        /// The loader's message.
        reason: String,
    },
    /// The driver loads but does not start or sees no GPU.
    #[error(
        "--providers {provider}: no CUDA device: {reason}; check `nvidia-smi`, and that \
         CUDA_VISIBLE_DEVICES (now {visible}) names the GPUs"
    )]
    NoDevice {
        /// The provider asked for.
        provider: &'static str,
        /// What the driver said.
        reason: String,
        /// `CUDA_VISIBLE_DEVICES`, or `unset`.
        visible: String,
    },
    /// A device index past the devices the driver sees.
    #[error(
        "--providers {provider}: device {asked} does not exist: the driver sees {count} CUDA \
         device(s) (0 to {last}); give an index below {count} (cuda:N or --device-ids)",
        last = count.saturating_sub(1)
    )]
    NoSuchDevice {
        /// The provider asked for.
        provider: &'static str,
        /// The index asked for.
        asked: u32,
        /// How many devices there are.
        count: u32,
    },
    /// Libraries the provider needs that are nowhere to be found (or do not load).
    #[error("{}", missing_message(provider, missing, searched))]
    MissingLibraries {
        /// The provider asked for.
        provider: &'static str,
        /// Each missing library with why it did not load.
        missing: Vec<(GpuLibrary, String)>,
        /// The wheel folders searched before the system's search.
        searched: Vec<PathBuf>,
    },
}

fn missing_message(
    provider: &str,
    missing: &[(GpuLibrary, String)],
    searched: &[PathBuf],
) -> String {
    use std::fmt::Write as _;
    let mut text =
        format!("--providers {provider}: libraries that ONNX Runtime needs are missing:");
    for (lib, why) in missing {
        let _ = write!(text, "\n  - {} ({}): {why}", lib.soname, lib.what);
    }
    let mut packages: Vec<&str> = missing.iter().map(|(l, _)| l.package).collect();
    packages.dedup();
    let folders = if searched.is_empty() {
        "no pip nvidia-* wheel folders found".to_owned()
    } else {
        format!(
            "searched {} and the system's library path",
            searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    let _ = write!(
        text,
        "\n({folders}); to fix: `pip install {}` for python3, or add the folders that hold them \
         to LD_LIBRARY_PATH",
        packages.join(" ")
    );
    text
}

/// The folders holding pip-installed NVIDIA libraries for `python`: `<site>/nvidia/*/lib` and
/// `<site>/tensorrt_libs`, for every site-packages folder; empty when Python is not there.
#[must_use]
pub fn wheel_library_dirs(python: &str) -> Vec<PathBuf> {
    const SCRIPT: &str = "import site, sys\n\
        dirs = list(site.getsitepackages()) if hasattr(site, 'getsitepackages') else []\n\
        user = site.getusersitepackages() if hasattr(site, 'getusersitepackages') else None\n\
        dirs += [user] if isinstance(user, str) else []\n\
        dirs += [p for p in sys.path if p.endswith('-packages')]\n\
        print('\\n'.join(dict.fromkeys(dirs)))";
    let Ok(output) = Command::new(python).arg("-c").arg(SCRIPT).output() else {
        return Vec::new();
    };
    let sites: Vec<PathBuf> =
        String::from_utf8_lossy(&output.stdout).lines().map(PathBuf::from).collect();
    library_dirs_in(&sites)
}

/// `nvidia/*/lib` and `tensorrt_libs` under each of `sites`, those that exist, in order.
#[must_use]
pub fn library_dirs_in(sites: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for site in sites {
        if let Ok(entries) = std::fs::read_dir(site.join("nvidia")) {
            let mut libs: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("lib"))
                .filter(|p| p.is_dir())
                .collect();
            libs.sort();
            dirs.extend(libs);
        }
        let trt = site.join("tensorrt_libs");
        if trt.is_dir() {
            dirs.push(trt);
        }
    }
    dirs.dedup();
    dirs
}

/// The first of `dirs` that holds a file named `soname`.
#[must_use]
pub fn locate(soname: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(soname)).find(|p| p.is_file())
}

/// Loads each of `libs` (from `dirs` when there, else through the system's search) and keeps
/// it loaded for the life of the process; returns where each came from, or every required one
/// that did not load. Optional libraries that do not load are skipped.
pub fn load_libraries(
    provider: &'static str,
    libs: &[GpuLibrary],
    dirs: &[PathBuf],
) -> Result<Vec<(GpuLibrary, String)>, GpuProblem> {
    let mut loaded = Vec::new();
    let mut missing = Vec::new();
    for lib in libs {
        let from = locate(lib.soname, dirs);
        let target = from.clone().unwrap_or_else(|| PathBuf::from(lib.soname));
        match open_global(&target) {
            Ok(()) => loaded.push((
                *lib,
                from.map_or_else(|| "system library path".to_owned(), |p| p.display().to_string()),
            )),
            Err(_) if lib.optional => {}
            Err(why) => missing.push((
                *lib,
                match &from {
                    Some(path) => format!("{} does not load: {why}", path.display()),
                    None => format!("not found ({why})"),
                },
            )),
        }
    }
    if missing.is_empty() {
        Ok(loaded)
    } else {
        Err(GpuProblem::MissingLibraries { provider, missing, searched: dirs.to_vec() })
    }
}

/// Libraries loaded here, kept for the life of the process.
static KEPT: Mutex<Vec<libloading::Library>> = Mutex::new(Vec::new());

/// Opens `path` (a path, or a bare soname for the system's search) with `RTLD_NOW |
/// RTLD_GLOBAL` and keeps it loaded.
fn open_global(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        // SAFETY: loading a library runs its initialisers; these are NVIDIA's CUDA libraries
        // (or what the user put in their place), the same ones ONNX Runtime itself would load.
        let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }
            .map_err(|e| error_text(&e))?;
        if let Ok(mut kept) = KEPT.lock() {
            kept.push(library.into());
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        // SAFETY: as above.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| error_text(&e))?;
        if let Ok(mut kept) = KEPT.lock() {
            kept.push(library);
        }
        Ok(())
    }
}

/// A loader error with its causes (libloading keeps `dlerror`'s text in the source).
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The number of CUDA devices the driver `driver` (normally [`DRIVER`]) sees.
pub fn device_count(provider: &'static str, driver: &str) -> Result<u32, GpuProblem> {
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut i32) -> i32;
    // SAFETY: the NVIDIA driver library; loading it runs no code of ours.
    let library = unsafe { libloading::Library::new(driver) }
        .map_err(|e| GpuProblem::NoDriver { provider, reason: error_text(&e) })?;
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_else(|_| "unset".to_owned());
    let no_device =
        |reason: String| GpuProblem::NoDevice { provider, reason, visible: visible.clone() };
    // SAFETY: cuInit and cuDeviceGetCount have these signatures in every CUDA driver API
    // (cuda.h: CUresult cuInit(unsigned int), CUresult cuDeviceGetCount(int*)).
    let (init, count) = unsafe {
        let init: libloading::Symbol<'_, CuInit> =
            library.get(b"cuInit\0").map_err(|e| no_device(e.to_string()))?;
        let count: libloading::Symbol<'_, CuDeviceGetCount> =
            library.get(b"cuDeviceGetCount\0").map_err(|e| no_device(e.to_string()))?;
        (init, count)
    };
    // SAFETY: cuInit takes flags (0) and may be called more than once.
    let status = unsafe { init(0) };
    if status != 0 {
        let what = match status {
            100 => " (CUDA_ERROR_NO_DEVICE)",
            35 => " (CUDA_ERROR_INSUFFICIENT_DRIVER: the driver is older than CUDA 13 needs)",
            999 => " (CUDA_ERROR_UNKNOWN)",
            _ => "",
        };
        return Err(no_device(format!(
            "the driver does not start: cuInit returned {status}{what}"
        )));
    }
    let mut n = 0_i32;
    // SAFETY: `n` is a valid out pointer for the call.
    let status = unsafe { count(&raw mut n) };
    if status != 0 {
        return Err(no_device(format!("cuDeviceGetCount returned {status}")));
    }
    if n <= 0 {
        return Err(no_device("the driver sees no GPU".to_owned()));
    }
    // The driver stays loaded: ONNX Runtime's CUDA provider uses it too.
    if let Ok(mut kept) = KEPT.lock() {
        kept.push(library);
    }
    Ok(n as u32)
}

/// Refuses device indices past `count`.
pub fn check_devices(provider: &'static str, asked: &[u32], count: u32) -> Result<(), GpuProblem> {
    match asked.iter().find(|d| **d >= count) {
        Some(&asked) => Err(GpuProblem::NoSuchDevice { provider, asked, count }),
        None => Ok(()),
    }
}

/// What [`prepare`] found: the devices and where each library came from.
#[derive(Debug, Clone, Default)]
pub struct GpuReport {
    /// CUDA devices the driver sees.
    pub devices: u32,
    /// Each library loaded and where from.
    pub libraries: Vec<(GpuLibrary, String)>,
}

/// The providers a library has (ONNX Runtime's `GetAvailableProviders`, by names).
fn available_providers() -> Vec<String> {
    use ort::ep::ExecutionProvider as _;
    let mut names = Vec::new();
    if matches!(ort::ep::TensorRT::is_available(), Ok(true)) {
        names.push(ProviderKind::Tensorrt.ort_name().to_owned());
    }
    if matches!(ort::ep::CUDA::is_available(), Ok(true)) {
        names.push(ProviderKind::Cuda.ort_name().to_owned());
    }
    names.push(ProviderKind::Cpu.ort_name().to_owned());
    names
}

/// The provider library file of `kind` beside the ONNX Runtime library `library`.
fn provider_file(library: &Path, kind: ProviderKind) -> PathBuf {
    let dir = library.parent().unwrap_or(Path::new("."));
    let name = match kind {
        ProviderKind::Tensorrt => "libonnxruntime_providers_tensorrt.so",
        _ => "libonnxruntime_providers_cuda.so",
    };
    dir.join(name)
}

/// Checks and loads what the GPU providers of `settings` need (once per process; later calls
/// return the first answer). ONNX Runtime must already be loaded from `library`.
pub fn prepare(settings: &ExecutionSettings, library: &Path) -> Result<GpuReport, GpuProblem> {
    static DONE: Mutex<BTreeMap<String, Result<GpuReport, GpuProblem>>> =
        Mutex::new(BTreeMap::new());
    let key = format!("{:?}", settings.providers);
    let mut done = DONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(answer) = done.get(&key) {
        return answer.clone();
    }
    let answer = prepare_once(settings, library);
    done.insert(key, answer.clone());
    answer
}

fn prepare_once(settings: &ExecutionSettings, library: &Path) -> Result<GpuReport, GpuProblem> {
    let gpu: Vec<ProviderKind> =
        settings.providers.iter().map(|p| p.kind).filter(|k| k.is_gpu()).collect();
    let Some(&first) = gpu.first() else { return Ok(GpuReport::default()) };
    let provider = first.short_name();
    let available = available_providers();
    for kind in &gpu {
        if !available.iter().any(|a| a == kind.ort_name()) {
            return Err(GpuProblem::CpuOnlyRuntime {
                provider: kind.short_name(),
                ort_name: kind.ort_name(),
                library: library.to_owned(),
                available,
            });
        }
        for file in [
            library.parent().unwrap_or(Path::new(".")).join("libonnxruntime_providers_shared.so"),
            provider_file(library, *kind),
        ] {
            if cfg!(target_os = "linux") && !file.is_file() {
                return Err(GpuProblem::MissingProviderLibrary {
                    provider: kind.short_name(),
                    file,
                });
            }
        }
    }
    let devices = device_count(provider, DRIVER)?;
    check_devices(provider, &settings.devices(), devices)?;
    let dirs = wheel_library_dirs("python3");
    let mut libraries = load_libraries(provider, CUDA_LIBRARIES, &dirs)?;
    if gpu.contains(&ProviderKind::Tensorrt) {
        libraries.extend(load_libraries("tensorrt", TENSORRT_LIBRARIES, &dirs)?);
    }
    Ok(GpuReport { devices, libraries })
}

#[cfg(test)]
mod tests {
    use super::*;

    use tempfile::TempDir;

    #[test]
    fn wheel_folders_are_found_like_preload_dlls() {
        let site = TempDir::new().unwrap();
        for dir in ["nvidia/cu13/lib", "nvidia/cudnn/lib", "nvidia/nccl", "tensorrt_libs"] {
            std::fs::create_dir_all(site.path().join(dir)).unwrap();
        }
        let dirs = library_dirs_in(&[site.path().to_owned(), site.path().join("missing")]);
        assert_eq!(
            dirs,
            vec![
                site.path().join("nvidia/cu13/lib"),
                site.path().join("nvidia/cudnn/lib"),
                site.path().join("tensorrt_libs"),
            ]
        );
        std::fs::write(site.path().join("nvidia/cudnn/lib/libcudnn.so.9"), b"").unwrap();
        assert_eq!(
            locate("libcudnn.so.9", &dirs),
            Some(site.path().join("nvidia/cudnn/lib/libcudnn.so.9"))
        );
        assert_eq!(locate("libcudart.so.13", &dirs), None);
    }

    #[test]
    fn missing_libraries_are_named_with_their_pip_packages() {
        let empty = TempDir::new().unwrap();
        let dirs = vec![empty.path().to_owned()];
        let libs = [
            lib("libprecision-test-cudnn.so.9", "cuDNN 9", "nvidia-cudnn-cu13"),
            GpuLibrary {
                optional: true,
                ..lib("libprecision-test-cufft.so.12", "cuFFT", "nvidia-cufft")
            },
            lib("libprecision-test-cudart.so.13", "CUDA 13 runtime", "nvidia-cuda-runtime"),
        ];
        let err = load_libraries("cuda", &libs, &dirs).unwrap_err();
        let GpuProblem::MissingLibraries { missing, .. } = &err else { panic!("{err:?}") };
        // The optional library is not reported.
        let names: Vec<&str> = missing.iter().map(|(l, _)| l.soname).collect();
        assert_eq!(names, ["libprecision-test-cudnn.so.9", "libprecision-test-cudart.so.13"]);
        let text = err.to_string();
        assert!(
            text.starts_with("--providers cuda: libraries that ONNX Runtime needs are missing"),
            "{text}"
        );
        assert!(text.contains("libprecision-test-cudnn.so.9 (cuDNN 9)"), "{text}");
        assert!(text.contains("`pip install nvidia-cudnn-cu13 nvidia-cuda-runtime`"), "{text}");
        assert!(text.contains("LD_LIBRARY_PATH"), "{text}");
        assert!(text.contains(&empty.path().display().to_string()), "{text}");
        // A file that is there but is no library is reported with the loader's reason.
        std::fs::write(empty.path().join("libprecision-test-cudart.so.13"), b"junk").unwrap();
        let err = load_libraries("cuda", &libs[2..], &dirs).unwrap_err();
        assert!(
            err.to_string().contains(
                &empty.path().join("libprecision-test-cudart.so.13").display().to_string()
            ),
            "{err}"
        );
    }

    #[test]
    fn no_driver_and_bad_devices_are_refused_with_the_fix() {
        let err = device_count("cuda", "libprecision-test-no-such-driver.so.1").unwrap_err();
        let GpuProblem::NoDriver { .. } = &err else { panic!("{err:?}") };
        let text = err.to_string();
        assert!(text.contains("no NVIDIA driver: libcuda.so.1 cannot be loaded"), "{text}");
        assert!(text.contains("install the NVIDIA driver"), "{text}");
        assert_eq!(check_devices("cuda", &[0, 1], 2), Ok(()));
        let err = check_devices("cuda", &[0, 3], 2).unwrap_err();
        assert_eq!(err, GpuProblem::NoSuchDevice { provider: "cuda", asked: 3, count: 2 });
        assert!(
            err.to_string()
                .contains("device 3 does not exist: the driver sees 2 CUDA device(s) (0 to 1)"),
            "{err}"
        );
        let none = GpuProblem::NoDevice {
            provider: "cuda",
            reason: "the driver sees no GPU".into(),
            visible: "unset".into(),
        };
        assert!(none.to_string().contains("no CUDA device: the driver sees no GPU"), "{none}");
    }

    #[test]
    fn the_cpu_only_refusal_names_the_package() {
        let err = GpuProblem::CpuOnlyRuntime {
            provider: "cuda",
            ort_name: "CUDAExecutionProvider",
            library: PathBuf::from("/x/libonnxruntime.so.1.32.0"),
            available: vec!["CPUExecutionProvider".into()],
        };
        let text = err.to_string();
        assert!(
            text.contains(
                "/x/libonnxruntime.so.1.32.0 is a build without the CUDAExecutionProvider"
            ),
            "{text}"
        );
        assert!(text.contains("`pip install onnxruntime-gpu`"), "{text}");
        let missing = GpuProblem::MissingProviderLibrary {
            provider: "tensorrt",
            file: PathBuf::from("/x/libonnxruntime_providers_tensorrt.so"),
        };
        assert!(missing.to_string().contains("reinstall"), "{missing}");
    }
}
