//! Build script of `precision-trt-sys`.
//!
//! Without the `tensorrt` feature it only declares the `ptrt_linked` cfg. With it, it looks for
//! TensorRT (headers, `nvinfer`, `nvonnxparser`) and the CUDA runtime (`cudart`), compiles the
//! shim `shim/precision_trt.cpp` with `cc`, links the libraries (with an rpath, so binaries run
//! without `LD_LIBRARY_PATH`) and sets `cfg(ptrt_linked)`. When something is missing it prints
//! warnings saying what it searched and which variables to set, and builds the crate without
//! `ptrt_linked`: it never fails the build.
//!
//! Search order, TensorRT: `TENSORRT_INCLUDE_DIR` / `TENSORRT_LIB_DIR`, else `TENSORRT_ROOT`
//! (`include/`, `lib/` or `lib64/`), else the Debian/Ubuntu multiarch folders,
//! `/usr/local/TensorRT`, `/usr/local/tensorrt`, `/opt/tensorrt` and the `tensorrt_libs` folder of
//! pip's `tensorrt` wheel (libraries only). CUDA: `CUDA_HOME`, else `CUDA_PATH`, else
//! `/usr/local/cuda`, `/usr`, and pip's `nvidia-cuda-runtime` wheel. Python is `$PYTHON` or
//! `python3`.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "build_support/version.rs"]
mod version;

use version::TrtVersion;

/// Every environment variable the search reads.
const ENV_VARS: &[&str] = &[
    "TENSORRT_ROOT",
    "TENSORRT_INCLUDE_DIR",
    "TENSORRT_LIB_DIR",
    "CUDA_HOME",
    "CUDA_PATH",
    "PYTHON",
];

/// The oldest TensorRT major version the shim supports.
const MIN_TRT_MAJOR: u32 = 10;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ptrt_linked)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build_support/version.rs");
    println!("cargo::rerun-if-changed=shim/precision_trt.h");
    println!("cargo::rerun-if-changed=shim/precision_trt.cpp");
    if env::var_os("CARGO_FEATURE_TENSORRT").is_none() {
        return;
    }
    for var in ENV_VARS {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if let Err(lines) = link() {
        println!(
            "cargo::warning=the `tensorrt` feature is on, but the TensorRT shim is not \
             built; the crate builds without it"
        );
        for line in lines {
            println!("cargo::warning={line}");
        }
    }
}

/// A shared library to link: the folder it is in and the name to give the linker.
struct Lib {
    dir: PathBuf,
    /// `nvinfer` for `libnvinfer.so`, or the file name (`libnvinfer.so.10`) when only a
    /// versioned file exists, linked verbatim.
    name: String,
    verbatim: bool,
}

impl Lib {
    fn link_directive(&self) -> String {
        if self.verbatim {
            format!("dylib:+verbatim={}", self.name)
        } else {
            format!("dylib={}", self.name)
        }
    }
}

/// Finds everything, compiles the shim and prints the link directives; on failure, the lines
/// of the warning.
fn link() -> Result<(), Vec<String>> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".to_owned());
    let pip = PipDirs::query();
    let mut problems = Vec::new();

    let trt = find_tensorrt(&arch, &pip);
    let cuda = find_cuda(&arch, &pip);
    let (trt, cuda) = match (trt, cuda) {
        (Ok(trt), Ok(cuda)) => (trt, cuda),
        (trt, cuda) => {
            if let Err(mut lines) = trt {
                problems.append(&mut lines);
            }
            if let Err(mut lines) = cuda {
                problems.append(&mut lines);
            }
            return Err(problems);
        }
    };

    compile_shim(&trt.include, &cuda.include).map_err(|error| {
        vec![
            format!(
                "compiling shim/precision_trt.cpp against TensorRT {} ({}) and CUDA ({}) failed: {error}",
                trt.version,
                trt.include.display(),
                cuda.include.display()
            ),
            "check that the headers belong to one TensorRT 10.x/11.x installation, or set \
             TENSORRT_INCLUDE_DIR and CUDA_HOME"
                .to_owned(),
        ]
    })?;

    let libs = [&trt.nvinfer, &trt.nvonnxparser, &cuda.cudart];
    let dirs: BTreeSet<&Path> = libs.iter().map(|lib| lib.dir.as_path()).collect();
    for dir in &dirs {
        println!("cargo::rustc-link-search=native={}", dir.display());
    }
    for lib in libs {
        println!("cargo::rustc-link-lib={}", lib.link_directive());
    }
    // rustc-link-arg only reaches this package's own binaries and tests; dependents get the
    // folders as DEP_PRECISION_TRT_RPATH and can pass them on the same way.
    let rpath: Vec<String> = dirs
        .iter()
        .filter(|dir| !is_default_lib_dir(dir))
        .map(|dir| dir.display().to_string())
        .collect();
    for dir in &rpath {
        println!("cargo::rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo::metadata=rpath={}", rpath.join(":"));
    println!("cargo::metadata=include={}", trt.include.display());
    println!("cargo::metadata=version={}", trt.version.encoded());
    println!("cargo::rustc-env=PTRT_TRT_VERSION={}", trt.version.encoded());
    println!("cargo::rustc-cfg=ptrt_linked");
    Ok(())
}

/// Folders the dynamic loader searches anyway (no rpath needed).
fn is_default_lib_dir(dir: &Path) -> bool {
    ["/lib", "/lib64", "/usr/lib", "/usr/lib64"]
        .iter()
        .any(|root| dir.parent() == Some(Path::new(root)) || dir == Path::new(root))
}

#[cfg(feature = "tensorrt")]
fn compile_shim(trt_include: &Path, cuda_include: &Path) -> Result<(), String> {
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("shim/precision_trt.cpp")
        .include("shim")
        .include(trt_include)
        .include(cuda_include)
        .warnings(true)
        .extra_warnings(true)
        .try_compile("precision_trt")
        .map_err(|error| error.to_string())
}

#[cfg(not(feature = "tensorrt"))]
fn compile_shim(_trt_include: &Path, _cuda_include: &Path) -> Result<(), String> {
    Err("cc is only a dependency with the `tensorrt` feature".to_owned())
}

// ---------------------------------------------------------------------------------------------
// TensorRT

struct TensorRt {
    include: PathBuf,
    version: TrtVersion,
    nvinfer: Lib,
    nvonnxparser: Lib,
}

/// The headers TensorRT's include folder must have.
const TRT_HEADERS: &[&str] = &["NvInfer.h", "NvInferVersion.h", "NvOnnxParser.h"];

fn find_tensorrt(arch: &str, pip: &PipDirs) -> Result<TensorRt, Vec<String>> {
    let root = env_path("TENSORRT_ROOT");
    let include_candidates: Vec<PathBuf> = if let Some(dir) = env_path("TENSORRT_INCLUDE_DIR") {
        vec![dir]
    } else if let Some(root) = &root {
        vec![root.join("include")]
    } else {
        let mut dirs =
            vec![PathBuf::from(format!("/usr/include/{arch}-linux-gnu")), "/usr/include".into()];
        dirs.extend(
            ["/usr/local/TensorRT", "/usr/local/tensorrt", "/opt/tensorrt"]
                .map(|r| Path::new(r).join("include")),
        );
        dirs.extend(pip.tensorrt_libs.iter().map(|dir| dir.join("include")));
        dirs
    };
    let lib_candidates: Vec<PathBuf> = if let Some(dir) = env_path("TENSORRT_LIB_DIR") {
        vec![dir]
    } else if let Some(root) = &root {
        vec![root.join("lib"), root.join("lib64")]
    } else {
        let mut dirs = vec![PathBuf::from(format!("/usr/lib/{arch}-linux-gnu"))];
        for r in ["/usr/local/TensorRT", "/usr/local/tensorrt", "/opt/tensorrt"] {
            dirs.push(Path::new(r).join("lib"));
            dirs.push(Path::new(r).join("lib64"));
        }
        dirs.extend(pip.tensorrt_libs.iter().cloned());
        dirs
    };
    let how_to = "set TENSORRT_ROOT (a folder with include/ and lib/ or lib64/), or TENSORRT_INCLUDE_DIR and \
                  TENSORRT_LIB_DIR (pip's tensorrt wheel has the libraries in tensorrt_libs/ but no headers: \
                  take them from the NVIDIA/TensorRT repository's include/ folder of the same version)";

    let Some(include) = include_candidates
        .iter()
        .find(|dir| TRT_HEADERS.iter().all(|h| dir.join(h).is_file()))
        .cloned()
    else {
        return Err(vec![
            format!(
                "TensorRT headers ({}) not found in: {}",
                TRT_HEADERS.join(", "),
                list(&include_candidates)
            ),
            how_to.to_owned(),
        ]);
    };
    let version_file = include.join("NvInferVersion.h");
    let Some(version) = fs::read_to_string(&version_file).ok().as_deref().and_then(version::parse)
    else {
        return Err(vec![format!(
            "could not read NV_TENSORRT_MAJOR/MINOR/PATCH from {}",
            version_file.display()
        )]);
    };
    if version.major < MIN_TRT_MAJOR {
        return Err(vec![format!(
            "TensorRT {version} in {} is too old: the shim needs TensorRT {MIN_TRT_MAJOR} or newer; {how_to}",
            include.display()
        )]);
    }

    let nvinfer = find_lib("nvinfer", Some(version.major), &lib_candidates);
    let nvonnxparser = find_lib("nvonnxparser", Some(version.major), &lib_candidates);
    match (nvinfer, nvonnxparser) {
        (Some(nvinfer), Some(nvonnxparser)) => {
            Ok(TensorRt { include, version, nvinfer, nvonnxparser })
        }
        (nvinfer, nvonnxparser) => {
            let missing: Vec<String> =
                [("nvinfer", nvinfer.is_none()), ("nvonnxparser", nvonnxparser.is_none())]
                    .iter()
                    .filter(|(_, missing)| *missing)
                    .map(|(name, _)| format!("lib{name}.so (or lib{name}.so.{})", version.major))
                    .collect();
            Err(vec![
                format!(
                    "found TensorRT {version} headers in {}, but not {} in: {}",
                    include.display(),
                    missing.join(" or "),
                    list(&lib_candidates)
                ),
                how_to.to_owned(),
            ])
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CUDA runtime

struct Cuda {
    include: PathBuf,
    cudart: Lib,
}

fn find_cuda(arch: &str, pip: &PipDirs) -> Result<Cuda, Vec<String>> {
    // (include folder, library folders) pairs, in search order.
    let roots: Vec<PathBuf> = if let Some(home) = env_path("CUDA_HOME") {
        vec![home]
    } else if let Some(path) = env_path("CUDA_PATH") {
        vec![path]
    } else {
        let mut roots = vec![PathBuf::from("/usr/local/cuda")];
        roots.extend(pip.cuda.iter().cloned());
        roots
    };
    let mut candidates: Vec<(PathBuf, Vec<PathBuf>)> = roots
        .iter()
        .map(|root| (root.join("include"), vec![root.join("lib64"), root.join("lib")]))
        .collect();
    if env_path("CUDA_HOME").is_none() && env_path("CUDA_PATH").is_none() {
        // Debian's nvidia-cuda-toolkit installs into the system folders.
        candidates.insert(
            1,
            ("/usr/include".into(), vec![PathBuf::from(format!("/usr/lib/{arch}-linux-gnu"))]),
        );
    }

    let mut notes = Vec::new();
    for (include, lib_dirs) in &candidates {
        let api = include.join("cuda_runtime_api.h");
        let Ok(text) = fs::read_to_string(&api) else {
            notes.push(format!("{}: no cuda_runtime_api.h", include.display()));
            continue;
        };
        // CUDA 13's pip wheels ship crt/ in a wheel of its own (nvidia-cuda-crt).
        if text.contains("\"crt/host_defines.h\"")
            && !include.join("crt").join("host_defines.h").is_file()
        {
            notes.push(format!(
                "{}: cuda_runtime_api.h without crt/host_defines.h (with pip, also install nvidia-cuda-crt)",
                include.display()
            ));
            continue;
        }
        match find_lib("cudart", None, lib_dirs) {
            Some(cudart) => return Ok(Cuda { include: include.clone(), cudart }),
            None => notes.push(format!("{}: no libcudart.so*", list(lib_dirs))),
        }
    }
    Err(vec![
        format!("CUDA runtime not found ({})", notes.join("; ")),
        "set CUDA_HOME to a CUDA toolkit (include/cuda_runtime_api.h, lib64/ or lib/ with libcudart.so), or \
         pip install nvidia-cuda-runtime (and nvidia-cuda-crt for CUDA 13) into $PYTHON"
            .to_owned(),
    ])
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The first folder with `lib<name>.so`, else with `lib<name>.so.<major>` (any major when
/// `major` is None; the highest wins).
fn find_lib(name: &str, major: Option<u32>, dirs: &[PathBuf]) -> Option<Lib> {
    let plain = format!("lib{name}.so");
    for dir in dirs {
        if dir.join(&plain).exists() {
            return Some(Lib { dir: dir.clone(), name: name.to_owned(), verbatim: false });
        }
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let best = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter_map(|file| {
                let found: u32 = file.strip_prefix(&plain)?.strip_prefix('.')?.parse().ok()?;
                (major.is_none() || major == Some(found)).then_some((found, file))
            })
            .max();
        if let Some((_, file)) = best {
            return Some(Lib { dir: dir.clone(), name: file, verbatim: true });
        }
    }
    None
}

/// A non-empty path from an environment variable.
fn env_path(var: &str) -> Option<PathBuf> {
    env::var_os(var).filter(|value| !value.is_empty()).map(PathBuf::from)
}

fn list(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Folders of pip-installed wheels, asked from Python once.
struct PipDirs {
    /// `tensorrt_libs` (TensorRT's libraries from the `tensorrt` wheel).
    tensorrt_libs: Vec<PathBuf>,
    /// `nvidia/cu13` or `nvidia/cuda_runtime` (the `nvidia-cuda-runtime` wheel).
    cuda: Vec<PathBuf>,
}

impl PipDirs {
    const SCRIPT: &str = "
import importlib
def paths(name):
    try:
        return list(getattr(importlib.import_module(name), '__path__', []))
    except Exception:
        return []
for p in paths('tensorrt_libs'):
    print('trt=' + p)
for name in ('nvidia.cu13', 'nvidia.cuda_runtime'):
    for p in paths(name):
        print('cuda=' + p)
";

    fn query() -> PipDirs {
        let python =
            env::var_os("PYTHON").filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
        let output = Command::new(python).arg("-c").arg(Self::SCRIPT).output();
        let stdout = match output {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
            _ => String::new(),
        };
        let mut dirs = PipDirs { tensorrt_libs: Vec::new(), cuda: Vec::new() };
        for line in stdout.lines() {
            if let Some(dir) = line.strip_prefix("trt=") {
                dirs.tensorrt_libs.push(dir.into());
            } else if let Some(dir) = line.strip_prefix("cuda=") {
                dirs.cuda.push(dir.into());
            }
        }
        dirs
    }
}
