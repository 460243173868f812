//! The folder of check artifacts: per check, the plan's model (`check-0001.onnx`, or `.json`
//! for the mock backend) and the file of its marked layer names (`check-0001.marked.txt`),
//! each written whole (through `precision-files`) and never over an existing file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::interrupt;

/// Where artifacts go, and whether they stay.
#[derive(Debug)]
pub struct Artifacts {
    dir: PathBuf,
    /// The default temporary folder, removed when dropped.
    temporary: Option<tempfile::TempDir>,
    keep: bool,
    extension: &'static str,
}

/// The files of one check.
#[derive(Debug, Clone)]
pub struct Written {
    /// The plan's model.
    pub model: PathBuf,
    /// The marked layer names, one per line.
    pub marked: PathBuf,
}

impl Artifacts {
    /// Artifacts in `dir` (created if missing; the command checked that it is new or empty)
    /// or, without one, in a new temporary folder; models get `extension`.
    pub fn new(dir: Option<&Path>, keep: bool, extension: &'static str) -> anyhow::Result<Self> {
        let (dir, temporary) = if let Some(dir) = dir {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the --artifacts-dir folder {}", dir.display())
            })?;
            let dir = std::path::absolute(dir)
                .with_context(|| format!("cannot resolve {}", dir.display()))?;
            (dir, None)
        } else {
            let temporary = tempfile::Builder::new()
                .prefix("precision-checks-")
                .tempdir()
                .context("cannot create a temporary folder for the check artifacts")?;
            interrupt::remove_on_signal(temporary.path());
            (temporary.path().to_owned(), Some(temporary))
        };
        Ok(Artifacts { dir, temporary, keep, extension })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes check `number`'s model and marked-layer names.
    pub fn write(&self, number: u64, model: &[u8], marked: &[&str]) -> anyhow::Result<Written> {
        let written = Written {
            model: self.dir.join(format!("check-{number:04}.{}", self.extension)),
            marked: self.dir.join(format!("check-{number:04}.marked.txt")),
        };
        let mut names = String::new();
        for name in marked {
            names.push_str(name);
            names.push('\n');
        }
        for (path, bytes) in [(&written.model, model), (&written.marked, names.as_bytes())] {
            if !self.keep {
                interrupt::remove_on_signal(path);
            }
            write_new(path, bytes)
                .with_context(|| format!("cannot write the check artifact {}", path.display()))?;
        }
        Ok(written)
    }

    /// Removes a check's files after its command, unless they are kept.
    pub fn finish(&self, written: &Written) {
        if self.keep {
            return;
        }
        for path in [&written.model, &written.marked] {
            let _ = std::fs::remove_file(path);
            interrupt::keep_on_signal(path);
        }
    }

    /// Whether artifacts stay after their command.
    pub fn kept(&self) -> bool {
        self.keep
    }
}

impl Drop for Artifacts {
    fn drop(&mut self) {
        if let Some(temporary) = &self.temporary {
            interrupt::keep_on_signal(temporary.path());
        }
    }
}

/// Writes `bytes` to the new file `path` atomically; an existing file is an error, not
/// replaced.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = precision_files::AtomicFile::create(path)?;
    file.file().write_all(bytes)?;
    file.commit_new()
}
