//! Every input and output of one command, checked before the command does any work.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic::{folder_of, probe};
use crate::{Error, FileId, NAME_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Input,
    File,
    Folder,
    /// A folder that new files are added to, which may hold files already.
    AddTo,
}

#[derive(Debug)]
struct Entry {
    role: String,
    path: PathBuf,
    kind: Kind,
}

/// The files a command reads and writes, each with its role in messages ("the model",
/// "--golden", "--report", "the journal", ...).
///
/// [`CommandFiles::check`] refuses an output that is the same file ([`FileId`]) as an input
/// or as another output, and an output that could not be created: its folder is missing or
/// no folder, no file can be created in it (tried for real, so it also holds for root, whom
/// permission bits do not stop, e.g. under `/proc` or on a read-only mount), its name is too
/// long, or what is there is of the wrong kind. Folders that files are added to
/// ([`CommandFiles::output_add_to_folder`]) may be named by several outputs.
#[derive(Debug, Default)]
pub struct CommandFiles {
    entries: Vec<Entry>,
}

impl CommandFiles {
    /// No files yet.
    #[must_use]
    pub fn new() -> Self {
        CommandFiles::default()
    }

    fn push(&mut self, role: impl Into<String>, path: &Path, kind: Kind) -> &mut Self {
        self.entries.push(Entry { role: role.into(), path: path.to_owned(), kind });
        self
    }

    /// A file or folder the command reads (one that does not exist is ignored here: reading it
    /// reports that).
    pub fn input(&mut self, role: impl Into<String>, path: &Path) -> &mut Self {
        self.push(role, path, Kind::Input)
    }

    /// A file the command writes (replaced whole, or appended to). If it exists, it must be a
    /// regular file.
    pub fn output(&mut self, role: impl Into<String>, path: &Path) -> &mut Self {
        self.push(role, path, Kind::File)
    }

    /// A folder of files the command writes; it must not exist or be an empty folder.
    pub fn output_folder(&mut self, role: impl Into<String>, path: &Path) -> &mut Self {
        self.push(role, path, Kind::Folder)
    }

    /// A folder the command adds new files to (saved engines, an engine cache), which may
    /// already hold files from earlier runs. It must be a folder, or not exist yet: then it is
    /// created with its missing parents, so its nearest existing ancestor must be a folder
    /// that files can be created in.
    pub fn output_add_to_folder(&mut self, role: impl Into<String>, path: &Path) -> &mut Self {
        self.push(role, path, Kind::AddTo)
    }

    /// [`CommandFiles::check_conflicts`], then [`CommandFiles::check_writable`].
    pub fn check(&self) -> Result<(), Error> {
        self.check_conflicts()?;
        self.check_writable()
    }

    /// Refuses an output that is the same file as an input or an earlier output.
    pub fn check_conflicts(&self) -> Result<(), Error> {
        let ids: Vec<FileId> = self.entries.iter().map(|e| FileId::of(&e.path)).collect();
        let outputs = || self.entries.iter().zip(&ids).filter(|(e, _)| e.kind != Kind::Input);
        for (output, id) in outputs() {
            let input = self
                .entries
                .iter()
                .zip(&ids)
                .find(|(e, other)| e.kind == Kind::Input && other.exists() && *other == id);
            if let Some((input, _)) = input {
                return Err(Error::OverwritesInput {
                    output_role: output.role.clone(),
                    output: output.path.clone(),
                    input_role: input.role.clone(),
                    input: input.path.clone(),
                });
            }
        }
        for (i, (second, id)) in outputs().enumerate() {
            // Files added to one folder under different names do not overwrite each other.
            let clash = |(first, other): &(&Entry, &FileId)| {
                *other == id && !(first.kind == Kind::AddTo && second.kind == Kind::AddTo)
            };
            if let Some((first, _)) = outputs().take(i).find(clash) {
                return Err(Error::SameOutput {
                    first_role: first.role.clone(),
                    first: first.path.clone(),
                    second_role: second.role.clone(),
                    second: second.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// Refuses an output that could not be created (see [`CommandFiles`]).
    pub fn check_writable(&self) -> Result<(), Error> {
        for entry in self.entries.iter().filter(|e| e.kind != Kind::Input) {
            let result = match entry.kind {
                Kind::AddTo => can_add_to(&entry.path),
                kind => writable(&entry.path, kind == Kind::Folder),
            };
            result.map_err(|reason| Error::NotWritable {
                role: entry.role.clone(),
                path: entry.path.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}

/// Why files could not be added to the folder `path` (created with its missing parents when
/// it does not exist), if they could not.
fn can_add_to(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("the path is empty; give a folder".to_owned());
    }
    if let Some(long) =
        path.components().map(std::path::Component::as_os_str).find(|c| c.len() > NAME_MAX)
    {
        return Err(format!(
            "a name in it is {} bytes long, more than the {NAME_MAX} bytes file systems allow; \
             give a shorter name",
            long.len()
        ));
    }
    // The folder itself, or else the nearest ancestor that exists, which would hold it.
    let mut existing = path;
    let meta = loop {
        match fs::metadata(existing) {
            Ok(meta) => break meta,
            // A missing folder, or a file where a folder should be (found out below).
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) =>
            {
                existing = match existing.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
            }
            Err(e) => return Err(format!("cannot reach {}: {e}", existing.display())),
        }
    };
    if !meta.is_dir() {
        return Err(if existing == path {
            "it exists and is not a folder; give a folder (existing or new)".to_owned()
        } else {
            format!("{} is not a folder, so the folder cannot be created", existing.display())
        });
    }
    probe(existing).map_err(|e| {
        if existing == path {
            format!("cannot create files in it: {e}")
        } else {
            format!("cannot create the folder in {}: {e}", existing.display())
        }
    })
}

/// Why `path` could not be written (as a folder of files when `folder`), if it could not.
fn writable(path: &Path, folder: bool) -> Result<(), String> {
    let Some(name) = path.file_name() else {
        return Err("the path names no file; give a file name".to_owned());
    };
    if name.len() > NAME_MAX {
        return Err(format!(
            "its name is {} bytes long, more than the {NAME_MAX} bytes file systems allow; \
             give a shorter name",
            name.len()
        ));
    }
    let dir = folder_of(path);
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a folder", dir.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("the folder {} does not exist; create it first", dir.display()));
        }
        Err(e) => return Err(format!("cannot reach the folder {}: {e}", dir.display())),
    }
    match (fs::metadata(path), folder) {
        (Ok(meta), false) if meta.is_dir() => {
            return Err("it is a folder; give a file name".to_owned());
        }
        (Ok(meta), false) if !meta.is_file() => {
            return Err("it exists and is not a regular file (a device, pipe or socket \
                        would be replaced); give another path"
                .to_owned());
        }
        (Ok(meta), true) if !meta.is_dir() => {
            return Err("a file exists there, and this output is a folder of files (a path \
                        without an extension is written as a folder of per-iteration files: \
                        add an extension to write one file)"
                .to_owned());
        }
        (Ok(_), true) => {
            let mut entries = fs::read_dir(path).map_err(|e| format!("cannot list it: {e}"))?;
            if entries.next().is_some() {
                return Err("the folder is not empty; give a new path or empty it first".to_owned());
            }
        }
        _ => {}
    }
    probe(dir).map_err(|e| format!("cannot create files in the folder {}: {e}", dir.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    struct Setup {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
        model: PathBuf,
        golden: PathBuf,
    }

    fn setup() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        fs::create_dir(dir.join("sub")).unwrap();
        let model = dir.join("m.toml");
        let golden = dir.join("golden.json");
        fs::write(&model, "model").unwrap();
        fs::write(&golden, "{}").unwrap();
        symlink(&model, dir.join("model-link")).unwrap();
        fs::hard_link(&golden, dir.join("golden-hard")).unwrap();
        Setup { _tmp: tmp, dir, model, golden }
    }

    fn files(s: &Setup, outputs: &[(&str, PathBuf)]) -> CommandFiles {
        let mut files = CommandFiles::new();
        files.input("the model", &s.model).input("--golden", &s.golden);
        for (role, path) in outputs {
            files.output(*role, path);
        }
        files
    }

    #[test]
    fn an_output_that_is_an_input_is_refused_however_spelled() {
        let s = setup();
        let d = &s.dir;
        let cases = [
            (d.join("m.toml"), "the model"),
            (d.join("./m.toml"), "the model"),
            (d.join("sub/../m.toml"), "the model"),
            (d.join("model-link"), "the model"),
            (d.join("golden.json"), "--golden"),
            (d.join("golden-hard"), "--golden"),
        ];
        for (output, input_role) in cases {
            for role in ["--report", "--save-model", "--html", "the journal"] {
                let err = files(&s, &[(role, output.clone())]).check().unwrap_err();
                let message = err.to_string();
                assert!(
                    matches!(&err, Error::OverwritesInput { input_role: r, .. } if r == input_role),
                    "{message}"
                );
                assert!(message.starts_with(&format!("{role} {}", output.display())), "{message}");
                assert!(message.contains("give"), "{message}");
            }
        }
        // The untouched inputs.
        assert_eq!(fs::read_to_string(&s.model).unwrap(), "model");
        files(&s, &[("--report", d.join("r.json"))]).check().unwrap();
    }

    #[test]
    fn two_outputs_that_are_one_file_are_refused() {
        let s = setup();
        let d = &s.dir;
        // Existing or not, however spelled.
        fs::write(d.join("old.json"), "old").unwrap();
        symlink(d.join("old.json"), d.join("old-link")).unwrap();
        for (a, b) in [
            (d.join("r.json"), d.join("./r.json")),
            (d.join("r.json"), d.join("sub/../r.json")),
            (d.join("old.json"), d.join("old-link")),
        ] {
            let err =
                files(&s, &[("--report", a.clone()), ("--html", b.clone())]).check().unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::SameOutput { .. }), "{message}");
            assert!(message.contains("--report") && message.contains("--html"), "{message}");
            assert!(message.contains("different paths"), "{message}");
        }
        files(&s, &[("--report", d.join("r.json")), ("--html", d.join("r.html"))]).check().unwrap();
    }

    #[test]
    fn outputs_that_cannot_be_created_are_refused_first() {
        let s = setup();
        let d = &s.dir;
        let refused = |path: PathBuf, folder: bool, needle: &str| {
            let mut f = CommandFiles::new();
            if folder {
                f.output_folder("--save-outputs", &path);
            } else {
                f.output("--report", &path);
            }
            let message = f.check().unwrap_err().to_string();
            assert!(message.contains(needle), "{needle} not in: {message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
        };
        refused(d.join("missing/r.json"), false, "does not exist");
        refused(d.join("m.toml/r.json"), false, "is not a folder");
        refused(d.join("sub"), false, "it is a folder");
        refused(PathBuf::from("/dev/null"), false, "not a regular file");
        refused(d.join("n".repeat(NAME_MAX + 1)), false, "256 bytes long");
        refused(d.join("m.toml"), true, "a file exists there");
        fs::write(d.join("sub/0.json"), "{}").unwrap();
        refused(d.join("sub"), true, "not empty");
        // A folder no file can be created in, even by root (permission bits do not stop
        // root, so the check creates a file for real; /proc refuses everyone).
        refused(PathBuf::from("/proc/r.json"), false, "cannot create files in the folder /proc");
        // A folder that permission bits protect, where they do (not as root).
        let ro = d.join("ro");
        fs::create_dir(&ro).unwrap();
        let perms = |mode| std::os::unix::fs::PermissionsExt::from_mode(mode);
        fs::set_permissions(&ro, perms(0o555)).unwrap();
        let as_root = fs::write(ro.join("x"), "x").is_ok();
        if as_root {
            fs::remove_file(ro.join("x")).unwrap();
        } else {
            refused(ro.join("r.json"), false, "cannot create files in the folder");
        }
        fs::set_permissions(&ro, perms(0o755)).unwrap();

        // What passes: new files, an existing file, the longest name, an empty folder.
        let mut ok = CommandFiles::new();
        ok.output("--report", &d.join("r.json"))
            .output("--golden-out", &s.golden)
            .output("--html", &d.join("n".repeat(NAME_MAX)))
            .output_folder("--save-outputs", &d.join("new-outs"))
            .output_folder("--save-inputs", &ro);
        ok.check().unwrap();
        // The probe leaves nothing behind.
        let mut names: Vec<_> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names.len(), 6, "{names:?}");
    }

    #[test]
    fn a_folder_files_are_added_to_may_hold_files_but_must_take_new_ones() {
        let s = setup();
        let d = &s.dir;
        let add_to = |path: &Path| {
            let mut f = CommandFiles::new();
            f.input("the model", &s.model).output_add_to_folder("--save-engine", path);
            f.check()
        };
        // An existing folder with files from earlier runs, a new folder, new nested folders,
        // the current folder.
        fs::write(d.join("sub/check-0001.engine"), "old").unwrap();
        for ok in [d.join("sub"), d.join("engines"), d.join("sub/a/b/c"), PathBuf::from(".")] {
            add_to(&ok).unwrap_or_else(|e| panic!("{}: {e}", ok.display()));
        }
        assert!(!d.join("engines").exists(), "the check creates no folder");
        let refused = |path: PathBuf, needle: &str| {
            let message = add_to(&path).unwrap_err().to_string();
            assert!(message.contains(needle), "{needle} not in: {message}");
            assert!(message.starts_with("cannot write --save-engine"), "{message}");
        };
        // An input file, however spelled, and any other file.
        let err = add_to(&d.join("model-link")).unwrap_err();
        assert!(matches!(err, Error::OverwritesInput { .. }), "{err}");
        refused(s.golden.clone(), "it exists and is not a folder");
        refused(d.join("m.toml/engines"), "m.toml is not a folder");
        refused(d.join("m.toml/a/b"), "m.toml is not a folder");
        refused(PathBuf::from("/proc/engines"), "cannot create the folder in /proc");
        refused(PathBuf::from("/proc/sys/a/b"), "cannot create the folder in /proc/sys");
        refused(PathBuf::from("/proc"), "cannot create files in it");
        refused(d.join("n".repeat(NAME_MAX + 1)).join("x"), "256 bytes long");
        refused(PathBuf::new(), "the path is empty");
        // Two roles may add files to one folder; a file output may not be that folder.
        let mut f = CommandFiles::new();
        f.output_add_to_folder("--save-engine", &d.join("sub"))
            .output_add_to_folder("--trt-engine-cache", &d.join("./sub"));
        f.check().unwrap();
        f.output("--report", &d.join("sub"));
        assert!(matches!(f.check().unwrap_err(), Error::SameOutput { .. }));
        // Nothing is left behind by the probes.
        let names: Vec<_> =
            fs::read_dir(d.join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["check-0001.engine"], "{names:?}");
    }
}
