//! The Python virtual environment that the tests and benchmarks use (Polygraphy, NumPy).
//!
//! It lives outside the repository, in `$PRECISION_CACHE/venv` (default
//! `~/.cache/precision/venv`), and is created and updated from `xtask/python-requirements.txt`.

use std::path::PathBuf;

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

fn find_host_python() -> anyhow::Result<String> {
    for candidate in ["python3", "python"] {
        if std::process::Command::new(candidate).arg("--version").output().is_ok() {
            return Ok(candidate.to_owned());
        }
    }
    bail!("no python3 on PATH: the tests compare against Polygraphy, which needs Python 3.9+")
}
