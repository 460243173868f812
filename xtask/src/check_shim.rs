//! `cargo xtask check-tensorrt-shim`: proves the TensorRT shim compiles against a set of
//! TensorRT headers, with no TensorRT library or GPU: `g++` compiles
//! `backend-tensorrt/precision-trt-sys/shim/precision_trt.cpp` with `-Wall -Wextra -Werror`, and
//! `gcc -x c` checks that `precision_trt.h` is plain C.
//!
//! TensorRT's headers come from the NVIDIA/TensorRT repository (folder `include/`, tag `v10.x`
//! for 10.x, `main` for 11.x); CUDA's from a toolkit or pip's `nvidia-cuda-runtime` and
//! `nvidia-cuda-crt` wheels. The CUDA search order is the one of precision-trt-sys's build script.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// Flags for `cargo xtask check-tensorrt-shim`.
#[derive(clap::Args)]
pub struct Args {
    /// TensorRT's include folder (with NvInfer.h, NvInferVersion.h and NvOnnxParser.h).
    #[arg(long, value_name = "DIR")]
    trt_include: PathBuf,
    /// The CUDA runtime's include folder (with `cuda_runtime_api.h`). Default: the include folder
    /// of `CUDA_HOME`, else of `CUDA_PATH`, else `/usr/local/cuda/include`, `/usr/include`, then
    /// the nvidia-cuda-runtime wheel of `PYTHON` (or python3).
    #[arg(long, value_name = "DIR")]
    cuda_include: Option<PathBuf>,
}

/// The headers a TensorRT include folder must have.
const TRT_HEADERS: [&str; 3] = ["NvInfer.h", "NvInferVersion.h", "NvOnnxParser.h"];

/// Compiles the shim against the given headers; fails on any error or warning.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let shim = crate::project_root().join("backend-tensorrt/precision-trt-sys/shim");
    let trt = &args.trt_include;
    for header in TRT_HEADERS {
        if !trt.join(header).is_file() {
            bail!(
                "{} has no {header}: pass --trt-include the include/ folder of a TensorRT 10.x or 11.x \
                 (for example include/ of a checkout of github.com/NVIDIA/TensorRT)",
                trt.display()
            );
        }
    }
    let version_file = trt.join("NvInferVersion.h");
    let text = std::fs::read_to_string(&version_file)
        .with_context(|| format!("reading {}", version_file.display()))?;
    let Some(version) = trt_version(&text) else {
        bail!(
            "{} does not define NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR and NV_TENSORRT_PATCH as numbers",
            version_file.display()
        );
    };
    eprintln!("TensorRT {version} headers in {}", trt.display());

    let cuda = match &args.cuda_include {
        Some(dir) => {
            check_cuda_include(dir).map_err(|problem| {
                anyhow::anyhow!("--cuda-include {}: {problem}", dir.display())
            })?;
            dir.clone()
        }
        None => find_cuda_include()?,
    };
    eprintln!("CUDA runtime headers in {}", cuda.display());

    let include_trt = format!("-I{}", trt.display());
    let include_cuda = format!("-I{}", cuda.display());
    let include_shim = format!("-I{}", shim.display());
    let source = shim.join("precision_trt.cpp");
    let header = shim.join("precision_trt.h");
    let object = std::env::temp_dir().join(format!("precision_trt-check-{}.o", std::process::id()));

    crate::step(&format!(
        "g++: precision_trt.cpp against TensorRT {version} (-Wall -Wextra -Werror)"
    ));
    // -fsyntax-only first (fast, the contract); then a real compile, which also reports
    // what only code generation sees (unused functions, maybe-uninitialized at -O2).
    cmd!(
        sh,
        "g++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror {include_trt} {include_cuda} {include_shim} {source}"
    )
    .run()
    .context("the shim does not compile against these headers")?;
    let compiled = cmd!(
        sh,
        "g++ -std=c++17 -O2 -c -o {object} -Wall -Wextra -Werror {include_trt} {include_cuda} {include_shim} {source}"
    )
    .run();
    let _ = std::fs::remove_file(&object);
    compiled.context("the shim does not compile to object code against these headers")?;

    crate::step("gcc: precision_trt.h is plain C99");
    cmd!(sh, "gcc -fsyntax-only -x c -std=c99 -Wall -Wextra -Werror -pedantic {header}")
        .run()
        .context("precision_trt.h is not plain C")?;

    eprintln!(
        "\ncheck-tensorrt-shim: the shim compiles against TensorRT {version} with no warnings"
    );
    Ok(())
}

/// `major.minor.patch` from the text of NvInferVersion.h, following one level of macro
/// indirection (`#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE`).
fn trt_version(header: &str) -> Option<String> {
    let defines: Vec<(&str, &str)> = header
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix('#')?.trim_start().strip_prefix("define")?;
            let rest = rest.split("//").next()?.split("/*").next()?;
            let mut tokens = rest.split_whitespace();
            Some((tokens.next()?, tokens.next()?))
        })
        .collect();
    let lookup = |name: &str| defines.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let number = |name: &str| -> Option<u32> {
        let value = lookup(name)?;
        value.parse().ok().or_else(|| lookup(value)?.parse().ok())
    };
    Some(format!(
        "{}.{}.{}",
        number("NV_TENSORRT_MAJOR")?,
        number("NV_TENSORRT_MINOR")?,
        number("NV_TENSORRT_PATCH")?
    ))
}

/// Why `dir` cannot serve as the CUDA include folder, if it cannot.
fn check_cuda_include(dir: &Path) -> Result<(), String> {
    let api = dir.join("cuda_runtime_api.h");
    let Ok(text) = std::fs::read_to_string(&api) else {
        return Err(
            "no cuda_runtime_api.h (want the include/ folder of a CUDA toolkit or of pip's \
                    nvidia-cuda-runtime wheel)"
                .to_owned(),
        );
    };
    if text.contains("\"crt/host_defines.h\"") && !dir.join("crt/host_defines.h").is_file() {
        return Err(
            "cuda_runtime_api.h is there but crt/host_defines.h is not (CUDA 13's pip wheels ship \
                    it in nvidia-cuda-crt: install that too)"
                .to_owned(),
        );
    }
    Ok(())
}

/// The CUDA include folder, searched like precision-trt-sys's build script does.
fn find_cuda_include() -> anyhow::Result<PathBuf> {
    let env_dir = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
    let candidates: Vec<PathBuf> = if let Some(home) = env_dir("CUDA_HOME") {
        vec![home.join("include")]
    } else if let Some(path) = env_dir("CUDA_PATH") {
        vec![path.join("include")]
    } else {
        let mut dirs =
            vec![PathBuf::from("/usr/local/cuda/include"), PathBuf::from("/usr/include")];
        dirs.extend(pip_cuda_dirs().into_iter().map(|dir| dir.join("include")));
        dirs
    };
    let mut notes = Vec::new();
    for dir in &candidates {
        match check_cuda_include(dir) {
            Ok(()) => return Ok(dir.clone()),
            Err(problem) => notes.push(format!("{}: {problem}", dir.display())),
        }
    }
    bail!(
        "no CUDA runtime headers found ({}); pass --cuda-include DIR or set CUDA_HOME",
        notes.join("; ")
    )
}

/// The folders of pip's nvidia-cuda-runtime wheel (`nvidia/cu13`, `nvidia/cuda_runtime`).
fn pip_cuda_dirs() -> Vec<PathBuf> {
    const SCRIPT: &str = "
import importlib
for name in ('nvidia.cu13', 'nvidia.cuda_runtime'):
    try:
        for p in getattr(importlib.import_module(name), '__path__', []):
            print(p)
    except Exception:
        pass
";
    let python =
        std::env::var_os("PYTHON").filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into());
    match Command::new(python).arg("-c").arg(SCRIPT).output() {
        Ok(out) if out.status.success() => {
            String::from_utf8_lossy(&out.stdout).lines().map(PathBuf::from).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::trt_version;

    #[test]
    fn reads_the_version_through_one_indirection() {
        let header = "#define TRT_MAJOR_E 10\n#define NV_TENSORRT_MAJOR TRT_MAJOR_E //!< major\n\
                      #define NV_TENSORRT_MINOR 16\n#define NV_TENSORRT_PATCH 0\n";
        assert_eq!(trt_version(header).as_deref(), Some("10.16.0"));
        assert_eq!(trt_version("#define NV_TENSORRT_MAJOR 10\n"), None);
    }
}
