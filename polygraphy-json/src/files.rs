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

/// The directory a path lives in, for temporary files next to it.
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name_of(path: &Path) -> String {
    path.file_name().map_or_else(|| "out".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Writes a file atomically: `body` writes into a temporary file in the same directory, which
/// replaces `path` only when everything succeeded.
pub(crate) fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
) -> Result<()> {
    let at = Location::file(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name_of(path)))
        .suffix(".tmp")
        .tempfile_in(parent_of(path))
        .map_err(|e| Error::io(&at, "creating a temporary file for", e))?;
    {
        let mut w = BufWriter::with_capacity(BUF_SIZE, tmp.as_file_mut());
        body(&mut w)?;
        w.flush().map_err(|e| Error::io(&at, "writing", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(&at, "writing", e))?;
    set_mode(tmp.path(), 0o644).map_err(|e| Error::io(&at, "setting permissions of", e))?;
    tmp.persist(path).map_err(|e| Error::io(&at, "renaming into place", e.error))?;
    Ok(())
}

/// Writes a directory of per-iteration files atomically: the files go into a temporary directory
/// next to `dir`, which is renamed to `dir` when all succeeded. `dir` must not exist or be an
/// empty directory, so nothing is overwritten (as in Polygraphy).
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
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name_of(dir)))
        .suffix(".tmp")
        .tempdir_in(parent_of(dir))
        .map_err(|e| Error::io(&at, "creating a temporary directory for", e))?;
    for index in 0..count {
        let path = tmp.path().join(iteration_file_name(index));
        let file_at = Location::file(&dir.join(iteration_file_name(index)));
        let mut file = File::create(&path).map_err(|e| Error::io(&file_at, "creating", e))?;
        let mut w = BufWriter::with_capacity(BUF_SIZE, &mut file);
        body(index, &mut w, &file_at)?;
        w.flush().map_err(|e| Error::io(&file_at, "writing", e))?;
        drop(w);
        file.sync_all().map_err(|e| Error::io(&file_at, "writing", e))?;
    }
    set_mode(tmp.path(), 0o755).map_err(|e| Error::io(&at, "setting permissions of", e))?;
    let tmp_path = tmp.keep();
    if let Err(e) = fs::rename(&tmp_path, dir) {
        // Best effort: the temporary directory is ours, the error below is what matters.
        let _ = fs::remove_dir_all(&tmp_path);
        return Err(Error::io(&at, "renaming into place", e));
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
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
