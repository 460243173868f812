//! Paths: single files vs directories of per-iteration files, and atomic replacement.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result};

/// Width of the zero-padded index in per-iteration file names (`0000000000.json`).
const INDEX_WIDTH: usize = 10;
/// Buffer size for reading and writing files.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// Whether `path` names a single file for writing: it has an extension, as in Polygraphy.
pub(crate) fn is_single_file(path: &Path) -> bool {
    path.extension().is_some()
}

/// The file name of iteration `index` in the directory form.
pub(crate) fn iteration_file_name(index: usize) -> String {
    format!("{index:0INDEX_WIDTH$}.json")
}

/// Opens a file for buffered reading; also returns its size, if known.
pub(crate) fn open(path: &Path) -> Result<(BufReader<File>, Option<u64>)> {
    let file = File::open(path).map_err(|e| Error::io(&Location::file(path), "opening", e))?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((BufReader::with_capacity(BUF_SIZE, file), size))
}

/// The `*.json` files of a directory in lexical (= index) order, hidden files excluded.
pub(crate) fn iteration_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let at = Location::file(dir);
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(&at, "listing", e))? {
        let entry = entry.map_err(|e| Error::io(&at, "listing", e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".json") && !name.starts_with('.') {
            files.push(entry.path());
        }
    }
    if files.is_empty() {
        return Err(Error::EmptyDirectory { at });
    }
    files.sort();
    Ok(files)
}

/// Writes a file atomically ([`precision_files::AtomicFile`]): `body` writes into a temporary
/// file in the same directory, which replaces `path` only when everything succeeded.
pub(crate) fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    let at = Location::file(path);
    let mut tmp = precision_files::AtomicFile::create(path)
        .map_err(|e| Error::io(&at, "creating a temporary file for", e))?;
    {
        let mut w = BufWriter::with_capacity(BUF_SIZE, tmp.file());
        body(&mut w)?;
        w.flush().map_err(|e| Error::io(&at, "writing", e))?;
    }
    tmp.commit().map_err(|e| Error::io(&at, "writing", e))
}

/// Writes a directory of per-iteration files atomically ([`precision_files::AtomicDir`]): the
/// files go into a temporary directory next to `dir`, which is renamed to `dir` when all
/// succeeded. `dir` must not exist or be an empty directory, so nothing is overwritten (as in
/// Polygraphy).
pub(crate) fn write_dir_atomic(
    dir: &Path,
    count: usize,
    mut body: impl FnMut(usize, &mut BufWriter<&mut File>, &Location) -> Result<()>,
) -> Result<()> {
    let at = Location::file(dir);
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::Destination {
                at,
                reason: "a file exists there; a path without an extension is a directory of \
                         per-iteration files, so use a path with an extension for one file"
                    .to_owned(),
            });
        }
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(|e| Error::io(&at, "listing", e))?;
            if entries.next().is_some() {
                return Err(Error::Destination {
                    at,
                    reason: "the directory is not empty; use a new path or empty it first"
                        .to_owned(),
                });
            }
        }
        Err(_) => {}
    }
    let tmp = precision_files::AtomicDir::create(dir)
        .map_err(|e| Error::io(&at, "creating a temporary directory for", e))?;
    for index in 0..count {
        let name = iteration_file_name(index);
        let file_at = Location::file(&dir.join(&name));
        let mut file = tmp.create_file(&name).map_err(|e| Error::io(&file_at, "creating", e))?;
        let mut w = BufWriter::with_capacity(BUF_SIZE, &mut file);
        body(index, &mut w, &file_at)?;
        w.flush().map_err(|e| Error::io(&file_at, "writing", e))?;
        drop(w);
        precision_files::AtomicDir::finish_file(&file)
            .map_err(|e| Error::io(&file_at, "writing", e))?;
    }
    tmp.commit().map_err(|e| Error::io(&at, "renaming into place", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(at: &Location) -> Error {
        Error::Destination { at: at.clone(), reason: "test failure".to_owned() }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out.json");
        fs::write(&target, "old").unwrap();
        let err = write_atomic(&target, |w| {
            w.write_all(&vec![b'x'; 3 * BUF_SIZE]).unwrap();
            Err(failure(&Location::file(&target)))
        })
        .unwrap_err();
        assert!(err.to_string().contains("test failure"));
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(entries(tmp.path()), ["out.json"]);
        write_atomic(&target, |w| {
            w.write_all(b"new").map_err(|e| Error::io(&Location::memory(), "writing", e))
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(entries(tmp.path()), ["out.json"]);
    }

    /// The shared writer's rules hold here: a 250-byte name works (the temporary name is
    /// short), a replaced file keeps its mode.
    #[cfg(unix)]
    #[test]
    fn long_names_work_and_a_replaced_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("r".repeat(245) + ".json");
        let write = |bytes: &'static [u8]| {
            write_atomic(&target, |w| {
                w.write_all(bytes).map_err(|e| Error::io(&Location::memory(), "writing", e))
            })
        };
        write(b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        write(b"new").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
        let dir = tmp.path().join("d".repeat(250));
        write_dir_atomic(&dir, 1, |_, w, _| {
            w.write_all(b"{}").map_err(|e| Error::io(&Location::memory(), "writing", e))
        })
        .unwrap();
        assert_eq!(entries(&dir), ["0000000000.json"]);
    }

    #[test]
    fn a_failure_in_a_later_iteration_leaves_no_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("outs");
        let err = write_dir_atomic(&target, 3, |i, w, at| {
            w.write_all(b"{}").unwrap();
            if i == 2 { Err(failure(at)) } else { Ok(()) }
        })
        .unwrap_err();
        assert!(err.to_string().contains("0000000002.json"), "{err}");
        assert!(entries(tmp.path()).is_empty());
        write_dir_atomic(&target, 2, |_, w, _| {
            w.write_all(b"{}").map_err(|e| Error::io(&Location::memory(), "writing", e))
        })
        .unwrap();
        assert_eq!(entries(&target), ["0000000000.json", "0000000001.json"]);
        assert_eq!(iteration_files(&target).unwrap().len(), 2);
    }
}
