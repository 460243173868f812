//! Output files: written atomically (a file appears whole or not at all), checked before any
//! work against every input and output of the command, and locked while a search runs.
//! The rules live in `precision-files`; this module names the command's files.

use std::path::Path;

use anyhow::Context;
use precision_core::Precision;
use precision_files::{CommandFiles, PathLock};

use crate::args::{CheckSetup, DataArgs, ModelArgs};

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed on success.
pub fn atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    precision_files::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Serializes `value` as pretty JSON into `path`, atomically.
pub fn json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).context("serializing the report")?;
    bytes.push(b'\n');
    atomically(path, &bytes)
}

/// The files of the model flags: the model (with its external data files) and `--onnxrt-lib`
/// are read; `--calibration-cache`
/// is read when it exists, else written when `lower` has INT8 (calibration writes it);
/// `--timing-cache` is updated after every build; engines are added to the folders
/// `--save-engine` and `--trt-engine-cache` (which may hold files already).
pub fn model_files(files: &mut CommandFiles, model: &ModelArgs, lower: &[Precision]) {
    files.input("the model", &model.model);
    if model.model.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        // The model's external data files are read too. A model whose files cannot be listed
        // is refused with its reason when it is loaded, after this check.
        for data in precision_onnx::model::external_data_files(&model.model).unwrap_or_default() {
            files.input("the model's external data", &data);
        }
    }
    if let Some(lib) = &model.onnxrt_lib {
        files.input("--onnxrt-lib", lib);
    }
    if let Some(cache) = &model.calibration_cache {
        if cache.exists() {
            files.input("--calibration-cache", cache);
        } else if lower.contains(&Precision::Int8) {
            files.output("--calibration-cache", cache);
        }
    }
    if let Some(cache) = &model.timing_cache {
        files.output("--timing-cache", cache);
    }
    if let Some(dir) = &model.save_engine {
        files.output_add_to_folder("--save-engine", dir);
    }
    if let Some(dir) = &model.trt_engine_cache {
        files.output_add_to_folder("--trt-engine-cache", dir);
    }
}

/// The files of the input flags (`--load-inputs`, `--calibration-inputs`).
pub fn data_files(files: &mut CommandFiles, data: &DataArgs) {
    for inputs in &data.load_inputs {
        files.input("--load-inputs", inputs);
    }
    for inputs in &data.calibration_inputs {
        files.input("--calibration-inputs", inputs);
    }
}

/// The files every check reads: the model's, the inputs and `--golden`.
pub fn setup_files(files: &mut CommandFiles, setup: &CheckSetup) {
    model_files(files, &setup.model, &setup.precision.lower());
    data_files(files, &setup.data);
    if let Some(golden) = &setup.golden {
        files.input("--golden", golden);
    }
    if let Some(dir) = &setup.command.artifacts_dir {
        files.output_folder("--artifacts-dir", dir);
    }
}

/// A Polygraphy results or inputs file written under `role`: one file when the path has an
/// extension, else a folder of per-iteration files.
pub fn polygraphy_output(files: &mut CommandFiles, role: &str, path: &Path) {
    if path.extension().is_some() {
        files.output(role, path);
    } else {
        files.output_folder(role, path);
    }
}

/// Refuses, before any work, an output that is the same file as an input or another output,
/// or that could not be created.
pub fn check(files: &CommandFiles) -> anyhow::Result<()> {
    Ok(files.check()?)
}

/// Locks the files a search writes as it goes (`(role, path)`: the journal, the report) for
/// as long as the returned locks live, so that two searches never write one file. A file in
/// use by another process is an error that says so, unless `wait`, when this waits for it.
pub fn lock(files: &[(&str, &Path)], wait: bool) -> anyhow::Result<Vec<PathLock>> {
    let mut files = files.to_vec();
    // One order for every process, so that two waiting searches cannot deadlock.
    files.sort_by_cached_key(|(_, path)| PathLock::lock_path(path));
    let mut locks = Vec::with_capacity(files.len());
    for (role, path) in files {
        let lock = match PathLock::try_acquire(path) {
            Err(precision_files::Error::Busy { pid, .. }) => {
                let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                if !wait {
                    anyhow::bail!(
                        "{role} {} is in use by another precision process{pid}; wait for it with \
                         --wait-lock, or use another --journal/--report",
                        path.display()
                    );
                }
                crate::console::errln!(
                    "{role} {} is in use by another precision process{pid}; waiting for it to \
                     finish (--wait-lock)",
                    path.display()
                );
                PathLock::acquire(path)?
            }
            other => other?,
        };
        locks.push(lock);
    }
    Ok(locks)
}
