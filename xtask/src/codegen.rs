//! `cargo xtask codegen`: regenerate (or with `--check`, verify) the checked-in FFI bindings
//! of `precision-trt-sys`.
//!
//! The bindings are made with bindgen, which needs libclang. bindgen's `runtime` feature
//! loads libclang when this task runs, so building xtask (or the workspace) never needs it,
//! and the generated files are checked in so that neither does building `precision-trt-sys`.
//!
//! - `backend-tensorrt/precision-trt-sys/src/shim.rs` from `shim/precision_trt.h`;
//! - `backend-tensorrt/precision-trt-sys/src/cuda.rs` from the CUDA runtime's
//!   `cuda_runtime_api.h` (the few functions precision calls, and the types they need).
//!
//! Both are formatted with the project's rustfmt settings, so `cargo fmt --check` accepts
//! them as they are.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Flags for `cargo xtask codegen`.
#[derive(clap::Args)]
pub struct Args {
    /// Only check that the checked-in bindings are what the headers give.
    #[arg(long)]
    pub check: bool,
    /// The folder with the CUDA runtime's headers (`cuda_runtime_api.h`). Default:
    /// `$CUDA_HOME/include`, else the `nvidia-cuda-runtime` wheel in the project's Python venv.
    #[arg(long, value_name = "DIR")]
    pub cuda_include: Option<PathBuf>,
}

/// The CUDA runtime functions precision calls; `cuda.rs` binds only these (and the types
/// they need).
const CUDA_FUNCTIONS: &[&str] = &[
    "cudaMalloc",
    "cudaFree",
    "cudaMemcpy",
    "cudaMemcpyAsync",
    "cudaMemsetAsync",
    "cudaStreamCreate",
    "cudaStreamDestroy",
    "cudaStreamSynchronize",
    "cudaGetDeviceCount",
    "cudaSetDevice",
    "cudaGetDevice",
    "cudaGetErrorString",
    "cudaGetErrorName",
    "cudaMemGetInfo",
    "cudaDeviceSynchronize",
    "cudaRuntimeGetVersion",
    "cudaDriverGetVersion",
];

/// One generated file: where it goes and its text.
struct Generated {
    path: PathBuf,
    text: String,
}

/// Runs `cargo xtask codegen [--check] [--cuda-include DIR]`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.check {
        return check(args.cuda_include.as_deref());
    }
    for file in generate_all(args.cuda_include.as_deref())? {
        let current = std::fs::read_to_string(&file.path).unwrap_or_default();
        if current == file.text {
            eprintln!("up to date: {}", file.path.display());
            continue;
        }
        std::fs::write(&file.path, &file.text)
            .with_context(|| format!("writing {}", file.path.display()))?;
        eprintln!("wrote {}", file.path.display());
    }
    Ok(())
}

/// Regenerates the bindings in memory and fails when a checked-in file differs.
pub fn check(cuda_include: Option<&Path>) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for file in generate_all(cuda_include)? {
        let current = std::fs::read_to_string(&file.path).unwrap_or_default();
        if current != file.text {
            let path = file.path.strip_prefix(crate::project_root()).unwrap_or(&file.path);
            stale.push(path.display().to_string());
        }
    }
    if !stale.is_empty() {
        bail!("bindings are out of date: run `cargo xtask codegen` ({})", stale.join(", "));
    }
    eprintln!("bindings are up to date");
    Ok(())
}

/// The include folder of the `nvidia-cuda-runtime` wheel in the project's venv
/// (`<venv>/lib/python3.*/site-packages/nvidia/cu13/include`), if it is installed.
pub fn venv_cuda_include() -> Option<PathBuf> {
    let lib = crate::python::cache_dir().join("venv/lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("site-packages/nvidia/cu13/include"))
        .filter(|dir| dir.join("cuda_runtime_api.h").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn generate_all(cuda_include: Option<&Path>) -> anyhow::Result<Vec<Generated>> {
    load_libclang()?;
    let crate_dir = crate::project_root().join("backend-tensorrt/precision-trt-sys");
    let cuda_include = find_cuda_include(cuda_include)?;
    Ok(vec![
        Generated { path: crate_dir.join("src/shim.rs"), text: shim_bindings(&crate_dir)? },
        Generated { path: crate_dir.join("src/cuda.rs"), text: cuda_bindings(&cuda_include)? },
    ])
}

/// Loads libclang (bindgen would panic without it) so a missing one is a clear error.
fn load_libclang() -> anyhow::Result<()> {
    if clang_sys::is_loaded() {
        return Ok(());
    }
    clang_sys::load().map_err(|e| {
        anyhow::anyhow!(
            "bindgen needs libclang to read the C headers and none was found: install it \
             (Debian: apt-get install libclang-dev) or set LIBCLANG_PATH to the folder that \
             holds libclang.so ({e})"
        )
    })
}

/// `--cuda-include`, else `$CUDA_HOME/include`, else the venv's CUDA runtime wheel.
fn find_cuda_include(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let (dir, source) = if let Some(dir) = given {
        (dir.to_owned(), "--cuda-include")
    } else if let Some(home) = std::env::var_os("CUDA_HOME") {
        (PathBuf::from(home).join("include"), "$CUDA_HOME/include")
    } else if let Some(dir) = venv_cuda_include() {
        (dir, "the Python venv's nvidia/cu13/include")
    } else {
        bail!(
            "no CUDA runtime headers: pass --cuda-include DIR (the folder with \
             cuda_runtime_api.h), set CUDA_HOME, or run `cargo xtask ci` once so that the \
             project's venv ({}) has the nvidia-cuda-runtime wheel",
            crate::python::cache_dir().join("venv").display()
        );
    };
    if !dir.join("cuda_runtime_api.h").is_file() {
        bail!("{source} ({}) has no cuda_runtime_api.h", dir.display());
    }
    if !dir.join("crt/host_defines.h").is_file() {
        bail!(
            "{source} ({}) has no crt/host_defines.h, which cuda_runtime_api.h includes; \
             install the nvidia-cuda-crt wheel of the same version as nvidia-cuda-runtime \
             (CUDA 13 ships it apart)",
            dir.display()
        );
    }
    Ok(dir)
}

/// Settings both files share.
fn builder(header: &Path) -> bindgen::Builder {
    bindgen::Builder::default()
        .header(header.to_string_lossy())
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .derive_default(true)
        .derive_debug(true)
        // `use_core` is left off: the bindings use `std::os::raw` types.
        // rustfmt runs afterwards with the project's settings, so the files pass
        // `cargo fmt --check` as generated.
        .formatter(bindgen::Formatter::None)
}

fn shim_bindings(crate_dir: &Path) -> anyhow::Result<String> {
    let header = crate_dir.join("shim/precision_trt.h");
    let bindings =
        generate(builder(&header).allowlist_item("ptrt_.*|PTRT_.*").layout_tests(true), &header)?;
    let notice = "// Generated by `cargo xtask codegen` from shim/precision_trt.h.\n\
                  // Do not edit: change the header and run `cargo xtask codegen` again.\n\n";
    rustfmt(&format!("{notice}{bindings}"))
}

fn cuda_bindings(include: &Path) -> anyhow::Result<String> {
    let header = include.join("cuda_runtime_api.h");
    let text = std::fs::read_to_string(&header)
        .with_context(|| format!("reading {}", header.display()))?;
    let version = cudart_version(&text)
        .with_context(|| format!("{} defines no CUDART_VERSION", header.display()))?;
    let mut builder = builder(&header).clang_arg(format!("-I{}", include.display()));
    for function in CUDA_FUNCTIONS {
        builder = builder.allowlist_function(function);
    }
    let builder = builder
        .layout_tests(false)
        // NVIDIA's documentation stays in NVIDIA's headers (its indented lines would also
        // run as doctests).
        .generate_comments(false);
    let bindings = generate(builder, &header)?;
    let notice = format!(
        "// Generated by `cargo xtask codegen` from cuda_runtime_api.h of CUDA {}.{}\n\
         // (CUDART_VERSION {version}; CI reads it from the nvidia-cuda-runtime wheel pinned\n\
         // in xtask/python-requirements.txt). Do not edit: run `cargo xtask codegen` again.\n\n",
        version / 1000,
        version % 1000 / 10,
    );
    rustfmt(&format!("{notice}{bindings}"))
}

/// Runs bindgen; a missing builtin header (clang's own `stddef.h`) gets a hint.
fn generate(builder: bindgen::Builder, header: &Path) -> anyhow::Result<String> {
    match builder.generate() {
        Ok(bindings) => Ok(bindings.to_string()),
        Err(e) => {
            let hint = if e.to_string().contains("'stddef.h' file not found") {
                " (clang's own headers are missing: install the ones of your libclang's version, \
                 Debian: apt-get install libclang-common-14-dev)"
            } else {
                ""
            };
            bail!("bindgen failed on {}{hint}: {e}", header.display())
        }
    }
}

/// The value of `#define CUDART_VERSION <n>` in `cuda_runtime_api.h` (13050 for CUDA 13.5).
fn cudart_version(header: &str) -> Option<u32> {
    header.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("#define")?.trim_start();
        let value = rest.strip_prefix("CUDART_VERSION")?;
        value.starts_with(char::is_whitespace).then(|| value.trim().parse().ok())?
    })
}

/// Formats Rust source with the project's rustfmt settings (as `cargo fmt` does).
fn rustfmt(source: &str) -> anyhow::Result<String> {
    let config = crate::project_root().join("rustfmt.toml");
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--config-path"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running rustfmt failed; install it with `rustup component add rustfmt`")?;
    child.stdin.take().context("rustfmt's stdin")?.write_all(source.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("rustfmt failed on the generated bindings ({})", output.status);
    }
    String::from_utf8(output.stdout).context("rustfmt printed invalid UTF-8")
}
