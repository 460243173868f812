//! Exclusive advisory locks on output files, so that two processes never write one file.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::identity::canonical;

/// An exclusive advisory lock on a file, held until dropped.
///
/// The lock is taken on a sibling lock file, `.precision-<hash of the name>.lock` in the
/// file's folder (found through symbolic links, so every spelling of a path shares it), not on
/// the file itself, because atomic writes replace the file. The lock file holds the holder's
/// process id, for messages, and is removed when the lock is released. A lock file left by a
/// process that died never blocks: advisory locks end with their process, and a later process
/// simply takes the lock on it.
#[derive(Debug)]
pub struct PathLock {
    lock_path: PathBuf,
    file: File,
}

impl PathLock {
    /// The lock file for `target`.
    #[must_use]
    pub fn lock_path(target: &Path) -> PathBuf {
        let real = canonical(target);
        let name = real.file_name().map(os_bytes).unwrap_or_default();
        let hash = Sha256::digest(&name);
        let mut hex = String::with_capacity(16);
        for b in &hash[..8] {
            let _ = write!(hex, "{b:02x}");
        }
        let folder = real.parent().map_or_else(|| PathBuf::from("/"), Path::to_owned);
        folder.join(format!(".precision-{hex}.lock"))
    }

    /// Takes the lock on `target`, or fails with [`Error::Busy`] when another process (or
    /// another lock in this process) holds it.
    pub fn try_acquire(target: &Path) -> Result<PathLock, Error> {
        PathLock::take(target, false)
    }

    /// Takes the lock on `target`, waiting as long as another holder keeps it.
    pub fn acquire(target: &Path) -> Result<PathLock, Error> {
        PathLock::take(target, true)
    }

    fn take(target: &Path, wait: bool) -> Result<PathLock, Error> {
        let lock_path = PathLock::lock_path(target);
        let io_err = |action| {
            let path = lock_path.clone();
            move |source| Error::Io { action, path, source }
        };
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(io_err("cannot create the lock file"))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) if wait => {
                    file.lock().map_err(io_err("cannot lock"))?;
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Busy { path: target.to_owned(), pid: holder(&file) });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err("cannot lock")(e)),
            }
            // The holder we waited for removes the lock file as it finishes; a lock on a
            // removed file protects nothing, so take the lock on the file now there.
            if is_at(&file, &lock_path) {
                let mut lock = PathLock { lock_path, file };
                // The process id is for messages only: failing to write it is no error.
                let _ = lock.file.set_len(0);
                let _ = writeln!(lock.file, "{}", std::process::id());
                return Ok(lock);
            }
        }
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        // Removed while still locked, so no other process can have taken it in between;
        // closing the file then releases the lock.
        if is_at(&self.file, &self.lock_path) {
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

/// The process id a lock file records, if it can be read.
fn holder(mut file: &File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Whether `file` is the file now at `path`.
#[cfg(unix)]
fn is_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_at(_: &File, path: &Path) -> bool {
    path.exists()
}

#[cfg(unix)]
fn os_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    std::os::unix::ffi::OsStrExt::as_bytes(name).to_vec()
}

#[cfg(not(unix))]
fn os_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    name.to_string_lossy().into_owned().into_bytes()
}

#[cfg(all(test, unix))]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holder_until_released() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("r.journal.jsonl");
        let lock = PathLock::try_acquire(&target).unwrap();
        let lock_file = PathLock::lock_path(&target);
        assert!(lock_file.exists());
        // Another spelling of the same (not yet existing) file is the same lock.
        let other = tmp.path().join(".").join("r.journal.jsonl");
        let err = PathLock::try_acquire(&other).unwrap_err();
        match &err {
            Error::Busy { path, pid } => {
                assert_eq!(path, &other);
                assert_eq!(*pid, Some(std::process::id()));
            }
            e => panic!("{e}"),
        }
        let message = err.to_string();
        assert!(message.contains("r.journal.jsonl is in use"), "{message}");
        assert!(message.contains(&format!("(pid {})", std::process::id())), "{message}");
        drop(lock);
        assert!(!lock_file.exists(), "the lock file is removed on release");
        let _again = PathLock::try_acquire(&other).unwrap();
        // Nothing but the lock file was made; the target itself is never created.
        assert!(!target.exists());
    }

    #[test]
    fn every_spelling_and_link_shares_one_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir(dir.join("sub")).unwrap();
        fs::write(dir.join("r.json"), "{}").unwrap();
        std::os::unix::fs::symlink(dir.join("r.json"), dir.join("sub/link.json")).unwrap();
        let lock = PathLock::lock_path(&dir.join("r.json"));
        for other in [dir.join("./r.json"), dir.join("sub/../r.json"), dir.join("sub/link.json")] {
            assert_eq!(PathLock::lock_path(&other), lock, "{}", other.display());
        }
        assert_ne!(PathLock::lock_path(&dir.join("r2.json")), lock);
        // Short, whatever the name's length.
        let long = PathLock::lock_path(&dir.join("n".repeat(crate::NAME_MAX)));
        assert_eq!(long.file_name().unwrap().len(), ".precision-".len() + 16 + ".lock".len());
    }

    #[test]
    fn a_stale_lock_file_never_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("j.jsonl");
        // What a killed process leaves: the lock file, with its pid, but no lock.
        fs::write(PathLock::lock_path(&target), "999999\n").unwrap();
        let lock = PathLock::try_acquire(&target).unwrap();
        let text = fs::read_to_string(PathLock::lock_path(&target)).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        drop(lock);
    }

    #[test]
    fn acquire_waits_for_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("j.jsonl");
        let released = AtomicBool::new(false);
        let held = PathLock::try_acquire(&target).unwrap();
        let lock = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                released.store(true, Ordering::SeqCst);
                drop(held);
            });
            let lock = PathLock::acquire(&target).unwrap();
            assert!(released.load(Ordering::SeqCst), "acquired before the holder released");
            lock
        });
        // The waiter holds the lock on a fresh lock file.
        assert!(matches!(PathLock::try_acquire(&target), Err(Error::Busy { .. })));
        drop(lock);
        assert!(PathLock::try_acquire(&target).is_ok());
    }
}
