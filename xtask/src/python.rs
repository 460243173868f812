//! The Python virtual environment that the tests and benchmarks use (Polygraphy, NumPy,
//! ONNX Runtime, ONNX).
//!
//! It lives outside the repository, in `$PRECISION_CACHE/venv` (default
//! `~/.cache/precision/venv`), and is created and updated from `xtask/python-requirements.txt`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// The folder for caches that outlive `cargo clean` (venv, downloaded models).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PRECISION_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("precision")
}

/// Makes sure the venv exists and holds the pinned requirements; returns its python.
pub fn ensure_venv(sh: &Shell) -> anyhow::Result<PathBuf> {
    let venv = cache_dir().join("venv");
    let python = venv.join("bin/python");
    let requirements = crate::project_root().join("xtask/python-requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join(".requirements");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    crate::step(&format!("Python venv for tests: {}", venv.display()));
    let host = find_host_python()?;
    if !python.exists() {
        cmd!(sh, "{host} -m venv {venv}").run().context(
            "creating the Python venv failed; install Python 3 with the venv module \
             (Debian: apt-get install python3-venv)",
        )?;
    }
    cmd!(sh, "{python} -m pip install --quiet --disable-pip-version-check -r {requirements}")
        .run()
        .context("pip install of the test requirements failed; is PyPI reachable?")?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// The ONNX Runtime shared library that the venv's `onnxruntime` wheel ships
/// (`<site-packages>/onnxruntime/capi/libonnxruntime.so.1.*`, the highest version if several),
/// for `ORT_DYLIB_PATH`.
pub fn onnxruntime_library(sh: &Shell, python: &Path) -> anyhow::Result<PathBuf> {
    let script = "import importlib.util, os
s = importlib.util.find_spec('onnxruntime')
print(os.path.dirname(s.origin) if s is not None and s.origin else '')";
    let package = cmd!(sh, "{python} -c {script}")
        .quiet()
        .read()
        .with_context(|| format!("asking {} for its onnxruntime package", python.display()))?;
    if package.trim().is_empty() {
        bail!(
            "{} has no onnxruntime package; delete the venv ({}) so that xtask makes it again \
             from xtask/python-requirements.txt",
            python.display(),
            cache_dir().join("venv").display()
        );
    }
    let capi = Path::new(package.trim()).join("capi");
    let entries =
        std::fs::read_dir(&capi).with_context(|| format!("reading {}", capi.display()))?;
    let mut found: Option<(Vec<u32>, PathBuf)> = None;
    for entry in entries {
        let path = entry?.path();
        let Some(version) = path.file_name().and_then(|n| n.to_str()).and_then(library_version)
        else {
            continue;
        };
        if found.as_ref().is_none_or(|(best, _)| version > *best) {
            found = Some((version, path));
        }
    }
    match found {
        Some((_, path)) => Ok(path),
        None => bail!(
            "no ONNX Runtime library (libonnxruntime.so.1.*, libonnxruntime.1.*.dylib or \
             onnxruntime.dll) in {}; reinstall it: {} -m pip install --force-reinstall \
             -r xtask/python-requirements.txt",
            capi.display(),
            python.display()
        ),
    }
}

/// The version in an ONNX Runtime library's file name (`libonnxruntime.so.1.32.0`,
/// `libonnxruntime.1.32.0.dylib`; `onnxruntime.dll` has none and ranks lowest).
fn library_version(name: &str) -> Option<Vec<u32>> {
    if name == "onnxruntime.dll" {
        return Some(Vec::new());
    }
    let version = name
        .strip_prefix("libonnxruntime.so.")
        .or_else(|| name.strip_prefix("libonnxruntime.")?.strip_suffix(".dylib"))?;
    version.split('.').map(|part| part.parse().ok()).collect()
}

fn find_host_python() -> anyhow::Result<String> {
    for candidate in ["python3", "python"] {
        if std::process::Command::new(candidate).arg("--version").output().is_ok() {
            return Ok(candidate.to_owned());
        }
    }
    bail!("no python3 on PATH: the tests compare against Polygraphy, which needs Python 3.9+")
}
