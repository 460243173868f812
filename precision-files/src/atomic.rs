//! The atomic writer: a temporary file in the target's folder, flushed and renamed.

use std::fs::{self, File, Permissions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempDir};

/// How temporary files start: hidden, and marked as ours.
pub const TEMP_PREFIX: &str = ".precision-";
/// How temporary files end.
pub const TEMP_SUFFIX: &str = ".tmp";
/// Random characters in a temporary name (62^6 names: collisions are retried by tempfile).
const TEMP_RANDOM: usize = 6;

/// The folder `path` lives in (`.` for a bare file name).
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A builder of short temporary names, created with `mode` less the umask (on Unix).
fn temp_builder(mode: u32) -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX).rand_bytes(TEMP_RANDOM);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder
}

/// The permissions `target` has when it exists (following symbolic links), to keep them.
fn existing_permissions(target: &Path) -> Option<Permissions> {
    fs::metadata(target).ok().filter(fs::Metadata::is_file).map(|m| m.permissions())
}

/// Creates a temporary file in `dir` (mode `0o666` less the umask) and removes it again:
/// whether files can be created there.
pub(crate) fn probe(dir: &Path) -> io::Result<()> {
    temp_builder(0o666).tempfile_in(dir)?.close()
}

/// Flushes the folder `dir`, so that a rename in it survives a crash. Not every file system or
/// platform can: those answer `InvalidInput` or `Unsupported`, which is not an error here.
fn sync_folder(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if !matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => {
            return Err(e);
        }
        _ => {}
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.file().write_all(bytes)?;
    file.commit()
}

/// A file being written: it replaces its target only on [`AtomicFile::commit`]; dropped
/// without a commit, it is removed and the target is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`: creates `.precision-XXXXXX.tmp` in its folder, with the mode a
    /// new file gets (`0o666` less the umask).
    pub fn create(target: &Path) -> io::Result<Self> {
        let tmp = temp_builder(0o666).tempfile_in(folder_of(target))?;
        Ok(AtomicFile { tmp, target: target.to_owned() })
    }

    /// The temporary file, to write into.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Gives the data the mode of the file it replaces (if any), flushes it to disk, renames
    /// it over the target and flushes the folder.
    pub fn commit(self) -> io::Result<()> {
        self.finish(true)
    }

    /// Like [`AtomicFile::commit`], but fails with `AlreadyExists` (leaving the target alone)
    /// when the target exists.
    pub fn commit_new(self) -> io::Result<()> {
        self.finish(false)
    }

    fn finish(self, replace: bool) -> io::Result<()> {
        let AtomicFile { tmp, target } = self;
        if replace && let Some(perms) = existing_permissions(&target) {
            tmp.as_file().set_permissions(perms)?;
        }
        tmp.as_file().sync_all()?;
        if replace {
            tmp.persist(&target).map_err(|e| e.error)?;
        } else {
            tmp.persist_noclobber(&target).map_err(|e| e.error)?;
        }
        sync_folder(folder_of(&target))
    }
}

/// A folder of files being written: it becomes its target (which must not exist, or be an
/// empty folder) only on [`AtomicDir::commit`]; dropped without a commit, it is removed with
/// everything in it.
#[derive(Debug)]
pub struct AtomicDir {
    tmp: TempDir,
    target: PathBuf,
}

impl AtomicDir {
    /// Starts writing the folder `target`: creates `.precision-XXXXXX.tmp` next to it, with the
    /// mode a new folder gets (`0o777` less the umask).
    pub fn create(target: &Path) -> io::Result<Self> {
        let tmp = temp_builder(0o777).tempdir_in(folder_of(target))?;
        Ok(AtomicDir { tmp, target: target.to_owned() })
    }

    /// The temporary folder, to create the files in.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Creates the file `name` in the folder (mode `0o666` less the umask), to be written,
    /// flushed by [`AtomicDir::finish_file`] and kept by [`AtomicDir::commit`].
    pub fn create_file(&self, name: &str) -> io::Result<File> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        options.open(self.tmp.path().join(name))
    }

    /// Flushes a file made by [`AtomicDir::create_file`] to disk.
    pub fn finish_file(file: &File) -> io::Result<()> {
        file.sync_all()
    }

    /// Gives the folder the mode of the empty folder it replaces (if any), flushes it, renames
    /// it over the target and flushes the parent folder.
    pub fn commit(self) -> io::Result<()> {
        let AtomicDir { tmp, target } = self;
        if let Ok(meta) = fs::metadata(&target)
            && meta.is_dir()
        {
            fs::set_permissions(tmp.path(), meta.permissions())?;
        }
        sync_folder(tmp.path())?;
        let tmp_path = tmp.keep();
        if let Err(e) = fs::rename(&tmp_path, &target) {
            // Best effort: the temporary folder is ours; the rename's error is what matters.
            let _ = fs::remove_dir_all(&tmp_path);
            return Err(e);
        }
        sync_folder(folder_of(&target))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::process::Command;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The umask is process-wide, so each umask is tried in a child process: this test binary
    /// run again with `PRECISION_FILES_UMASK_CHILD` set to the test to run, under `sh -c
    /// 'umask U; exec ...'`.
    fn in_child_with_umask(test: &str, umask: &str, dir: &Path) {
        let exe = std::env::current_exe().unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" --exact {test} --nocapture"))
            .arg(&exe)
            .env("PRECISION_FILES_UMASK_CHILD", dir)
            .status()
            .unwrap();
        assert!(status.success(), "{test} under umask {umask} failed");
    }

    /// Run in a child by `new_files_get_the_umask_default_mode`: writes `new`, `new-dir`.
    #[test]
    fn child_writes_new_files() {
        let Some(dir) = std::env::var_os("PRECISION_FILES_UMASK_CHILD") else { return };
        let dir = PathBuf::from(dir);
        write(&dir.join("new"), b"x").unwrap();
        let d = AtomicDir::create(&dir.join("new-dir")).unwrap();
        let f = d.create_file("0.json").unwrap();
        AtomicDir::finish_file(&f).unwrap();
        d.commit().unwrap();
    }

    #[test]
    fn new_files_get_the_umask_default_mode() {
        for (umask, file_mode, dir_mode) in [
            ("022", 0o644, 0o755),
            ("077", 0o600, 0o700),
            ("002", 0o664, 0o775),
            ("0", 0o666, 0o777),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            in_child_with_umask("atomic::tests::child_writes_new_files", umask, tmp.path());
            assert_eq!(mode(&tmp.path().join("new")), file_mode, "umask {umask}");
            assert_eq!(mode(&tmp.path().join("new-dir")), dir_mode, "umask {umask}");
            assert_eq!(mode(&tmp.path().join("new-dir/0.json")), file_mode, "umask {umask}");
        }
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        for keep in [0o644, 0o600, 0o640, 0o666, 0o755] {
            let target = tmp.path().join("r.json");
            fs::write(&target, "old").unwrap();
            fs::set_permissions(&target, Permissions::from_mode(keep)).unwrap();
            write(&target, b"new").unwrap();
            assert_eq!(fs::read_to_string(&target).unwrap(), "new");
            assert_eq!(mode(&target), keep);
            fs::remove_file(&target).unwrap();
        }
        // An empty folder replaced by a written one keeps its mode too.
        let target = tmp.path().join("outs");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, Permissions::from_mode(0o750)).unwrap();
        let d = AtomicDir::create(&target).unwrap();
        d.create_file("0.json").unwrap();
        d.commit().unwrap();
        assert_eq!(mode(&target), 0o750);
        assert_eq!(entries(&target), ["0.json"]);
    }

    #[test]
    fn the_longest_valid_name_works() {
        let tmp = tempfile::tempdir().unwrap();
        for len in [6, 200, 250, crate::NAME_MAX] {
            let name = "n".repeat(len - 5) + ".json";
            let target = tmp.path().join(&name);
            write(&target, b"{}").unwrap();
            assert_eq!(fs::read(&target).unwrap(), b"{}");
            let dir = tmp.path().join("d".repeat(len));
            let d = AtomicDir::create(&dir).unwrap();
            d.create_file("0000000000.json").unwrap();
            d.commit().unwrap();
            assert!(dir.is_dir());
        }
        let name = "n".repeat(crate::NAME_MAX + 1);
        assert!(write(&tmp.path().join(name), b"{}").is_err());
        // Only the targets remain: no temporary file is left behind.
        assert!(entries(tmp.path()).iter().all(|n| !n.starts_with(TEMP_PREFIX)));
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out.json");
        fs::write(&target, "old").unwrap();
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.file().write_all(b"half").unwrap();
            // Dropped without a commit, as on an error.
        }
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(entries(tmp.path()), ["out.json"]);
        // commit_new refuses an existing target.
        let f = AtomicFile::create(&target).unwrap();
        assert_eq!(f.commit_new().unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(entries(tmp.path()), ["out.json"]);
        // A folder over a non-empty folder fails and leaves nothing behind.
        let outs = tmp.path().join("outs");
        fs::create_dir(&outs).unwrap();
        fs::write(outs.join("keep"), "k").unwrap();
        let d = AtomicDir::create(&outs).unwrap();
        d.create_file("0.json").unwrap();
        assert!(d.commit().is_err());
        assert_eq!(entries(tmp.path()), ["out.json", "outs"]);
        assert_eq!(entries(&outs), ["keep"]);
    }

    #[test]
    fn temporary_names_are_short() {
        let tmp = tempfile::tempdir().unwrap();
        let f = AtomicFile::create(&tmp.path().join("x".repeat(crate::NAME_MAX))).unwrap();
        let name = f.tmp.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX), "{name}");
        assert_eq!(name.len(), TEMP_PREFIX.len() + TEMP_RANDOM + TEMP_SUFFIX.len());
    }
}
