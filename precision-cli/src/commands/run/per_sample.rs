//! `run --save-outputs DIR` for a dataset: one `NAME.npz` of outputs per sample (named after
//! its input file), written as the samples run into a temporary folder that becomes `DIR`
//! only when every sample succeeded.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use polygraphy_json::Location;
use precision_core::NamedTensors;
use precision_files::AtomicDir;

/// A folder of per-sample golden files being written.
pub struct GoldenFolder {
    dir: AtomicDir,
    target: PathBuf,
}

impl GoldenFolder {
    /// Starts the folder `target`, which must not exist yet or be empty (nothing is
    /// overwritten).
    pub fn create(target: &Path) -> anyhow::Result<Self> {
        if let Ok(meta) = std::fs::metadata(target) {
            let empty = meta.is_dir()
                && std::fs::read_dir(target).is_ok_and(|mut entries| entries.next().is_none());
            if !empty {
                bail!(
                    "--save-outputs {}: it exists and is not an empty folder; a dataset's goldens \
                     are written to a new folder (one NAME.npz per sample): name another",
                    target.display()
                );
            }
        }
        let dir = AtomicDir::create(target)
            .with_context(|| format!("cannot create a folder next to {}", target.display()))?;
        Ok(GoldenFolder { dir, target: target.to_owned() })
    }

    /// Writes sample `name`'s outputs as `name.npz`.
    pub fn add(&mut self, name: &str, outputs: &NamedTensors) -> anyhow::Result<()> {
        let file_name = format!("{name}.npz");
        let path = self.target.join(&file_name);
        let file = self
            .dir
            .create_file(&file_name)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let writer =
            polygraphy_json::npz::write_to(BufWriter::new(file), outputs, &Location::file(&path))?;
        let file = writer
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .with_context(|| format!("cannot write {}", path.display()))?;
        AtomicDir::finish_file(&file).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Renames the finished folder into place and returns its path.
    pub fn commit(self) -> anyhow::Result<PathBuf> {
        let target = self.target;
        self.dir.commit().with_context(|| format!("cannot write {}", target.display()))?;
        Ok(target)
    }
}
