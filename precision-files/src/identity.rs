//! File identity: whether two paths name the same file, however they are spelled.

use std::fs;
use std::path::{Path, PathBuf};

use crate::atomic::folder_of;

/// What a path names, so that two spellings of one file compare equal: `r.json`, `./r.json`,
/// `out/../r.json`, a symbolic link to it and (for an existing file) a hard link to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileId {
    /// An existing file or folder (symbolic links followed): its device and inode on Unix,
    /// its canonical path elsewhere.
    Existing(Key),
    /// Nothing exists at the path (or it is a dangling symbolic link, which a rename
    /// replaces): the canonical path of its folder joined with its name.
    New(PathBuf),
}

/// The identity of an existing file.
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    dev: u64,
    ino: u64,
}

/// The identity of an existing file.
#[cfg(not(unix))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(PathBuf);

impl FileId {
    /// The identity of `path` now. Never fails: a path that cannot be examined is taken as
    /// not existing (a later read or write of it reports why).
    #[must_use]
    pub fn of(path: &Path) -> FileId {
        match fs::metadata(path) {
            Ok(meta) => FileId::Existing(key(path, &meta)),
            Err(_) => FileId::New(canonical_new(path)),
        }
    }

    /// Whether the path named an existing file or folder.
    #[must_use]
    pub fn exists(&self) -> bool {
        matches!(self, FileId::Existing(_))
    }
}

#[cfg(unix)]
fn key(_: &Path, meta: &fs::Metadata) -> Key {
    use std::os::unix::fs::MetadataExt as _;
    Key { dev: meta.dev(), ino: meta.ino() }
}

#[cfg(not(unix))]
fn key(path: &Path, _: &fs::Metadata) -> Key {
    Key(fs::canonicalize(path).unwrap_or_else(|_| canonical_new(path)))
}

/// The canonical form of a path where nothing exists: its folder made canonical (links
/// resolved) when it exists, else absolute, joined with the file name.
pub(crate) fn canonical_new(path: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let Some(name) = path.file_name() else { return absolute(path) };
    let folder = folder_of(path);
    fs::canonicalize(folder).unwrap_or_else(|_| absolute(folder)).join(name)
}

/// Where the file `path` names really is: the canonical path when it exists (symbolic links
/// followed), else [`canonical_new`].
pub(crate) fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| canonical_new(path))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn spellings_links_and_hard_links_are_the_same_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir(dir.join("sub")).unwrap();
        let file = dir.join("m.toml");
        fs::write(&file, "x").unwrap();
        std::os::unix::fs::symlink(&file, dir.join("link")).unwrap();
        std::os::unix::fs::symlink("sub/..", dir.join("dirlink")).unwrap();
        fs::hard_link(&file, dir.join("hard")).unwrap();
        let id = FileId::of(&file);
        assert!(id.exists());
        for other in [
            dir.join("./m.toml"),
            dir.join("sub/../m.toml"),
            dir.join("link"),
            dir.join("hard"),
            dir.join("dirlink/m.toml"),
        ] {
            assert_eq!(FileId::of(&other), id, "{}", other.display());
        }
        assert_ne!(FileId::of(&dir.join("sub")), id);

        // Files that do not exist yet: the same when their folders are.
        let new = FileId::of(&dir.join("r.json"));
        assert!(!new.exists());
        for other in [dir.join("./r.json"), dir.join("sub/../r.json"), dir.join("dirlink/r.json")] {
            assert_eq!(FileId::of(&other), new, "{}", other.display());
        }
        assert_ne!(FileId::of(&dir.join("sub/r.json")), new);
        // Relative to the current folder.
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(FileId::of(Path::new("no-such-file")), FileId::of(&cwd.join("no-such-file")));
        assert_eq!(FileId::of(Path::new("./no-such-file")), FileId::of(&cwd.join("no-such-file")));
    }
}
