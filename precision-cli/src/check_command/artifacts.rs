//! The folder of check artifacts: per check, the plan's model (`check-0001.onnx`, or `.json`
//! for the mock backend), its engine file when the command names `{engine}`
//! (`check-0001.engine`) and the file of its marked layer names (`check-0001.marked.txt`),
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
    /// The plan's model, unless the command needs only the engine.
    pub model: Option<PathBuf>,
    /// The plan's engine file, when the command names `{engine}`.
    pub engine: Option<PathBuf>,
    /// The marked layer names, one per line.
    pub marked: PathBuf,
}

impl Written {
    /// Every file of the check.
    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.model.iter().chain(&self.engine).chain(std::iter::once(&self.marked))
    }
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

    /// Writes check `number`'s model and engine (those given) and marked-layer names.
    pub fn write(
        &self,
        number: u64,
        model: Option<&[u8]>,
        engine: Option<&[u8]>,
        marked: &[&str],
    ) -> anyhow::Result<Written> {
        let file = |suffix: &str| self.dir.join(format!("check-{number:04}.{suffix}"));
        let written = Written {
            model: model.map(|_| file(self.extension)),
            engine: engine.map(|_| file("engine")),
            marked: file("marked.txt"),
        };
        let mut names = String::new();
        for name in marked {
            names.push_str(name);
            names.push('\n');
        }
        let contents = model.into_iter().chain(engine).chain(std::iter::once(names.as_bytes()));
        for (path, bytes) in written.paths().zip(contents) {
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
        for path in written.paths() {
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
