//! Finding the ONNX Runtime shared library.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), so something must say where the
//! library file is. [`find_library`] looks, in this order, at
//!
//! 1. the `--onnxrt-lib` flag (if given, the file must exist; it wins over the variable);
//! 2. the `ORT_DYLIB_PATH` environment variable (if set, the file must exist);
//! 3. the `onnxruntime` Python package of `python3` on `PATH` (`<package>/capi/`), which is
//!    what `pip install onnxruntime` provides;
//! 4. the usual library folders ([`DEFAULT_FOLDERS`]).
//!
//! The search itself ([`Search::find`]) takes its inputs as plain data, so tests can run it
//! against temporary folders without touching the real environment.
//!
//! Before the library is loaded, [`check_library`] reads the file: a truncated or damaged
//! library would otherwise be mapped and crash the process (SIGBUS) with no message.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

mod check;
pub use check::{BadLibrary, LibraryFile, check_library};

/// The environment variable that names the library file (the one `ort` itself reads).
pub const ENV_VAR: &str = "ORT_DYLIB_PATH";

/// The command-line flag that names the library file.
pub const FLAG: &str = "--onnxrt-lib";

/// The folders searched last, after the flag, the environment variable and Python.
#[cfg(target_os = "linux")]
pub const DEFAULT_FOLDERS: &[&str] = &[
    "/usr/local/lib",
    "/usr/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/opt/onnxruntime/lib",
];

/// The folders searched last, after the environment variable, the flag and Python.
#[cfg(target_os = "macos")]
pub const DEFAULT_FOLDERS: &[&str] =
    &["/usr/local/lib", "/opt/homebrew/lib", "/usr/lib", "/opt/onnxruntime/lib"];

/// The folders searched last, after the environment variable, the flag and Python.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub const DEFAULT_FOLDERS: &[&str] = &[];

/// The library's file names on this platform, as the error message shows them.
#[cfg(target_os = "macos")]
const NAMES: &str = "libonnxruntime.dylib or libonnxruntime.<version>.dylib";
/// The library's file names on this platform, as the error message shows them.
#[cfg(windows)]
const NAMES: &str = "onnxruntime.dll";
/// The library's file names on this platform, as the error message shows them.
#[cfg(not(any(target_os = "macos", windows)))]
const NAMES: &str = "libonnxruntime.so or libonnxruntime.so.<version>";

/// The default Python command.
const PYTHON: &str = if cfg!(windows) { "python" } else { "python3" };

/// Prints the interpreter and the `onnxruntime` package folder (an empty line when the package
/// is not installed). `find_spec` does not import the package, so this stays fast.
const PYTHON_SCRIPT: &str = "import importlib.util, os, sys
s = importlib.util.find_spec('onnxruntime')
print(sys.executable)
print(os.path.dirname(s.origin) if s is not None and s.origin else '')";

/// Why no ONNX Runtime library was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryNotFound {
    /// `ORT_DYLIB_PATH` is set but does not name a file.
    #[error(
        "{var} is set to {}, which is not a file; set it to the ONNX Runtime library file \
         (e.g. .../site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0) or unset it",
        path.display(),
        var = ENV_VAR
    )]
    EnvVarNotAFile {
        /// The variable's value.
        path: PathBuf,
    },
    /// The `--onnxrt-lib` flag does not name a file.
    #[error(
        "{flag} {}: no such file; give the path of the ONNX Runtime library file \
         (e.g. .../site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0)",
        path.display(),
        flag = FLAG
    )]
    FlagNotAFile {
        /// The flag's value.
        path: PathBuf,
    },
    /// Nothing was found anywhere.
    #[error("{}", not_found_message(looked))]
    NotFound {
        /// Every place looked at, each with what was found there, in search order.
        looked: Vec<String>,
    },
}

fn not_found_message(looked: &[String]) -> String {
    let mut message = String::from("the ONNX Runtime shared library was not found; looked at:");
    for place in looked {
        let _ = write!(message, "\n  - {place}");
    }
    let _ = write!(
        message,
        "\nto fix: `pip install onnxruntime` (it is then found through {PYTHON}), \
         or set {ENV_VAR} to the library file"
    );
    message
}

/// Finds the ONNX Runtime shared library, looking at the real environment: `flag` (the
/// `--onnxrt-lib` value), then `ORT_DYLIB_PATH`, then `python3`'s `onnxruntime` package, then
/// [`DEFAULT_FOLDERS`].
pub fn find_library(flag: Option<&Path>) -> Result<PathBuf, LibraryNotFound> {
    Search::from_env(flag).find()
}

/// The ONNX Runtime version in a library's file name, when the name carries one:
/// `libonnxruntime.so.1.32.0` and `libonnxruntime.1.32.0.dylib` give `"1.32.0"`;
/// `libonnxruntime.so` and `onnxruntime.dll` give `None`.
#[must_use]
pub fn version_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let version = name
        .strip_prefix("libonnxruntime.so.")
        .or_else(|| name.strip_prefix("libonnxruntime.")?.strip_suffix(".dylib"))?;
    parse_version(version).map(|_| version.to_owned())
}

/// `"1.32.0"` as `[1, 32, 0]`; `None` unless every part is a number.
fn parse_version(version: &str) -> Option<Vec<u32>> {
    version.split('.').map(|part| part.parse().ok()).collect()
}

/// The inputs of the search, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The value of `ORT_DYLIB_PATH` (an empty value counts as unset).
    pub env_path: Option<PathBuf>,
    /// The value of `--onnxrt-lib`.
    pub flag: Option<PathBuf>,
    /// The Python command whose `onnxruntime` package to look in; `None` skips this step.
    pub python: Option<OsString>,
    /// The folders to look in last, in order.
    pub folders: Vec<PathBuf>,
}

impl Search {
    /// The search over the real environment: `flag`, `ORT_DYLIB_PATH`, `python3` on `PATH` and
    /// [`DEFAULT_FOLDERS`].
    #[must_use]
    pub fn from_env(flag: Option<&Path>) -> Self {
        Self {
            env_path: std::env::var_os(ENV_VAR).map(PathBuf::from),
            flag: flag.map(Path::to_owned),
            python: Some(PYTHON.into()),
            folders: DEFAULT_FOLDERS.iter().map(PathBuf::from).collect(),
        }
    }

    /// Runs the search. A given flag or a set `ORT_DYLIB_PATH` that does not name a file is an
    /// error at once (the user asked for that file); otherwise the first library found wins.
    /// The flag wins over the variable: it is the more specific request.
    pub fn find(&self) -> Result<PathBuf, LibraryNotFound> {
        let mut looked = Vec::new();
        match &self.flag {
            Some(path) if path.is_file() => return Ok(path.clone()),
            Some(path) => return Err(LibraryNotFound::FlagNotAFile { path: path.clone() }),
            None => looked.push(format!("{FLAG}: not given")),
        }
        match self.env_path.as_deref().filter(|p| !p.as_os_str().is_empty()) {
            Some(path) if path.is_file() => return Ok(path.to_owned()),
            Some(path) => return Err(LibraryNotFound::EnvVarNotAFile { path: path.to_owned() }),
            None => looked.push(format!("{ENV_VAR}: not set")),
        }
        if let Some(python) = &self.python {
            match python_capi_dir(python) {
                Ok(capi) => match newest_library_in(&capi) {
                    Ok(found) => return Ok(found),
                    Err(why) => looked.push(format!("{}: {why}", capi.display())),
                },
                Err(why) => looked.push(format!("{}: {why}", python.to_string_lossy())),
            }
        }
        for folder in &self.folders {
            match newest_library_in(folder) {
                Ok(found) => return Ok(found),
                Err(why) => looked.push(format!("{}: {why}", folder.display())),
            }
        }
        Err(LibraryNotFound::NotFound { looked })
    }
}

/// Asks `python` for its `onnxruntime` package and returns `<package>/capi`, or says why not.
fn python_capi_dir(python: &OsString) -> Result<PathBuf, String> {
    let output = match Command::new(python).arg("-c").arg(PYTHON_SCRIPT).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("not found on PATH".to_owned());
        }
        Err(e) => return Err(format!("could not be run: {e}")),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(format!("failed ({}): {last}", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let executable = lines.next().unwrap_or("").trim();
    match lines.next().map(str::trim) {
        Some(package) if !package.is_empty() => Ok(Path::new(package).join("capi")),
        _ => Err(format!("no onnxruntime package installed (interpreter {executable})")),
    }
}

/// The library in `folder` with the highest version in its name (a name without a version
/// comes last), or why there is none.
fn newest_library_in(folder: &Path) -> Result<PathBuf, String> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("no such folder".to_owned());
        }
        Err(e) => return Err(format!("cannot be read: {e}")),
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter_map(|path| library_rank(&path).map(|rank| (rank, path)))
        // `is_file` follows symlinks: `libonnxruntime.so -> libonnxruntime.so.1.32.0` counts.
        .filter(|(_, path)| path.is_file())
        .max()
        .map(|(_, path)| path)
        .ok_or_else(|| format!("no {NAMES}"))
}

/// Whether `path` is named like the library on this platform, and if so how it ranks
/// against the others in its folder: its version, higher preferred (empty for a name without a
/// version, which ranks lowest).
fn library_rank(path: &Path) -> Option<Vec<u32>> {
    let name = path.file_name()?.to_str()?;
    if cfg!(windows) {
        return (name == "onnxruntime.dll").then(Vec::new);
    }
    let version = if cfg!(target_os = "macos") {
        if name == "libonnxruntime.dylib" {
            return Some(Vec::new());
        }
        name.strip_prefix("libonnxruntime.")?.strip_suffix(".dylib")?
    } else {
        if name == "libonnxruntime.so" {
            return Some(Vec::new());
        }
        name.strip_prefix("libonnxruntime.so.")?
    };
    parse_version(version)
}

#[cfg(test)]
mod tests {
    use super::check::this_machine;
    use super::*;

    use std::fs;
    use std::sync::Mutex;

    use tempfile::TempDir;

    /// Serialises the tests that write an executable and run it: a process forked by another
    /// test thread while the script is open for writing would make exec fail with ETXTBSY.
    static SPAWN: Mutex<()> = Mutex::new(());

    /// The library's file name on this platform, with a version where the platform has one.
    fn lib_name(version: &str) -> String {
        if cfg!(windows) {
            "onnxruntime.dll".to_owned()
        } else if cfg!(target_os = "macos") {
            format!("libonnxruntime.{version}.dylib")
        } else {
            format!("libonnxruntime.so.{version}")
        }
    }

    fn touch(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, b"not really a library").unwrap();
        path
    }

    /// A search with nothing set, no Python, and the given folders.
    fn search(folders: &[&Path]) -> Search {
        Search {
            env_path: None,
            flag: None,
            python: None,
            folders: folders.iter().map(|f| f.to_path_buf()).collect(),
        }
    }

    fn looked(result: Result<PathBuf, LibraryNotFound>) -> Vec<String> {
        match result {
            Err(LibraryNotFound::NotFound { looked }) => looked,
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    /// A fake `python` that prints what the real script would print for `package`.
    #[cfg(unix)]
    fn fake_python(dir: &Path, package: Option<&Path>) -> OsString {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("fake-python");
        let package = package.map_or(String::new(), |p| p.display().to_string());
        fs::write(&path, format!("#!/bin/sh\necho /fake/bin/python3\necho '{package}'\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path.into_os_string()
    }

    #[test]
    fn flag_wins_over_everything() {
        let dir = TempDir::new().unwrap();
        let from_env = touch(dir.path(), "from-env.so");
        let from_flag = touch(dir.path(), "from-flag.so");
        touch(dir.path(), &lib_name("1.32.0"));
        let mut s = search(&[dir.path()]);
        s.env_path = Some(from_env.clone());
        s.flag = Some(from_flag.clone());
        assert_eq!(s.find(), Ok(from_flag));
        // Without the flag the variable wins over the folders.
        s.flag = None;
        assert_eq!(s.find(), Ok(from_env));
    }

    #[test]
    fn a_missing_flag_file_is_an_error_even_with_the_env_var_set() {
        let dir = TempDir::new().unwrap();
        let from_env = touch(dir.path(), "from-env.so");
        let missing = dir.path().join("missing.so");
        let mut s = search(&[dir.path()]);
        s.env_path = Some(from_env);
        s.flag = Some(missing.clone());
        assert_eq!(s.find(), Err(LibraryNotFound::FlagNotAFile { path: missing }));
    }

    #[test]
    fn env_var_naming_no_file_is_an_error_naming_the_variable() {
        let dir = TempDir::new().unwrap();
        let missing = dir.path().join("missing.so");
        let mut s = search(&[dir.path()]);
        s.env_path = Some(missing.clone());
        let err = s.find().unwrap_err();
        assert_eq!(err, LibraryNotFound::EnvVarNotAFile { path: missing });
        let message = err.to_string();
        assert!(message.starts_with("ORT_DYLIB_PATH is set to "), "{message}");
        // A folder is not a library file either.
        s.env_path = Some(dir.path().to_owned());
        assert!(matches!(s.find(), Err(LibraryNotFound::EnvVarNotAFile { .. })));
    }

    #[test]
    fn empty_env_var_counts_as_unset() {
        let dir = TempDir::new().unwrap();
        let lib = touch(dir.path(), &lib_name("1.32.0"));
        let mut s = search(&[dir.path()]);
        s.env_path = Some(PathBuf::new());
        assert_eq!(s.find(), Ok(lib));
    }

    #[test]
    fn flag_wins_over_python_and_folders() {
        let dir = TempDir::new().unwrap();
        let from_flag = touch(dir.path(), "custom-name.so");
        touch(dir.path(), &lib_name("1.32.0"));
        let mut s = search(&[dir.path()]);
        s.flag = Some(from_flag.clone());
        s.python = Some("no-such-python-for-precision-tests".into());
        assert_eq!(s.find(), Ok(from_flag));
    }

    #[test]
    fn flag_naming_no_file_is_an_error() {
        let dir = TempDir::new().unwrap();
        touch(dir.path(), &lib_name("1.32.0"));
        let missing = dir.path().join("missing.so");
        let mut s = search(&[dir.path()]);
        s.flag = Some(missing.clone());
        let err = s.find().unwrap_err();
        assert_eq!(err, LibraryNotFound::FlagNotAFile { path: missing });
        assert!(err.to_string().starts_with("--onnxrt-lib "), "{err}");
    }

    #[test]
    fn python_not_found_falls_through_to_the_folders() {
        let dir = TempDir::new().unwrap();
        let lib = touch(dir.path(), &lib_name("1.20.1"));
        let mut s = search(&[dir.path()]);
        s.python = Some("no-such-python-for-precision-tests".into());
        assert_eq!(s.find(), Ok(lib));
        s.folders.clear();
        let looked = looked(s.find());
        assert_eq!(looked[2], "no-such-python-for-precision-tests: not found on PATH");
    }

    #[cfg(unix)]
    #[test]
    fn python_package_wins_over_the_folders() {
        let _spawn = SPAWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = TempDir::new().unwrap();
        let package = dir.path().join("site-packages/onnxruntime");
        fs::create_dir_all(package.join("capi")).unwrap();
        let in_package = touch(&package.join("capi"), &lib_name("1.32.0"));
        touch(&package.join("capi"), "libonnxruntime_providers_shared.so");
        let folder = dir.path().join("lib");
        fs::create_dir(&folder).unwrap();
        touch(&folder, &lib_name("1.99.0"));
        let mut s = search(&[&folder]);
        s.python = Some(fake_python(dir.path(), Some(&package)));
        assert_eq!(s.find(), Ok(in_package));
    }

    #[cfg(unix)]
    #[test]
    fn onnxruntime_not_installed_falls_through_to_the_folders() {
        let _spawn = SPAWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = TempDir::new().unwrap();
        let folder = dir.path().join("lib");
        fs::create_dir(&folder).unwrap();
        let lib = touch(&folder, &lib_name("1.32.0"));
        let python = fake_python(dir.path(), None);
        let mut s = search(&[&folder]);
        s.python = Some(python.clone());
        assert_eq!(s.find(), Ok(lib));
        s.folders.clear();
        let looked = looked(s.find());
        assert_eq!(
            looked[2],
            format!(
                "{}: no onnxruntime package installed (interpreter /fake/bin/python3)",
                python.to_string_lossy()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn package_without_a_library_says_which_folder() {
        let _spawn = SPAWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = TempDir::new().unwrap();
        let package = dir.path().join("onnxruntime");
        fs::create_dir_all(package.join("capi")).unwrap();
        let mut s = search(&[]);
        s.python = Some(fake_python(dir.path(), Some(&package)));
        let looked = looked(s.find());
        assert_eq!(looked[2], format!("{}: no {NAMES}", package.join("capi").display()));
    }

    #[cfg(not(windows))]
    #[test]
    fn the_highest_version_wins() {
        let dir = TempDir::new().unwrap();
        for version in ["1.9.0", "1.32.0", "1.4.1", "1.32"] {
            touch(dir.path(), &lib_name(version));
        }
        let unversioned =
            if cfg!(target_os = "macos") { "libonnxruntime.dylib" } else { "libonnxruntime.so" };
        touch(dir.path(), unversioned);
        // Not the library, and not a version: both ignored.
        touch(dir.path(), "libonnxruntime_providers_shared.so");
        touch(dir.path(), &lib_name("1.99.0.debug"));
        assert_eq!(search(&[dir.path()]).find(), Ok(dir.path().join(lib_name("1.32.0"))));
    }

    #[cfg(not(windows))]
    #[test]
    fn an_unversioned_name_is_found_alone() {
        let dir = TempDir::new().unwrap();
        let name =
            if cfg!(target_os = "macos") { "libonnxruntime.dylib" } else { "libonnxruntime.so" };
        let lib = touch(dir.path(), name);
        assert_eq!(search(&[dir.path()]).find(), Ok(lib));
    }

    #[test]
    fn folders_are_searched_in_order() {
        let first = TempDir::new().unwrap();
        let second = TempDir::new().unwrap();
        let lib = touch(first.path(), &lib_name("1.2.0"));
        touch(second.path(), &lib_name("1.32.0"));
        assert_eq!(search(&[first.path(), second.path()]).find(), Ok(lib));
    }

    #[test]
    fn not_found_lists_every_place_and_the_fix() {
        let dir = TempDir::new().unwrap();
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let missing = dir.path().join("missing");
        let mut s = search(&[&empty, &missing]);
        s.python = Some("no-such-python-for-precision-tests".into());
        let err = s.find().unwrap_err();
        assert_eq!(
            err,
            LibraryNotFound::NotFound {
                looked: vec![
                    "--onnxrt-lib: not given".to_owned(),
                    "ORT_DYLIB_PATH: not set".to_owned(),
                    "no-such-python-for-precision-tests: not found on PATH".to_owned(),
                    format!("{}: no {NAMES}", empty.display()),
                    format!("{}: no such folder", missing.display()),
                ]
            }
        );
        let message = err.to_string();
        assert!(message.contains("`pip install onnxruntime`"), "{message}");
        assert!(message.contains("set ORT_DYLIB_PATH to the library file"), "{message}");
        assert!(message.contains(&format!("\n  - {}: no such folder", missing.display())));
    }

    #[test]
    fn version_from_the_file_name() {
        let version = |name: &str| version_from_file_name(Path::new(name));
        assert_eq!(version("/x/libonnxruntime.so.1.32.0").as_deref(), Some("1.32.0"));
        assert_eq!(version("libonnxruntime.so.1").as_deref(), Some("1"));
        assert_eq!(version("libonnxruntime.1.32.0.dylib").as_deref(), Some("1.32.0"));
        assert_eq!(version("libonnxruntime.so"), None);
        assert_eq!(version("libonnxruntime.dylib"), None);
        assert_eq!(version("onnxruntime.dll"), None);
        assert_eq!(version("libonnxruntime.so.1.32.0.debug"), None);
        assert_eq!(version("libonnxruntime_providers_shared.so"), None);
    }

    /// A minimal 64-bit ELF file for this machine: the header, one segment covering the whole
    /// file, a section table at the end, and `body` in between.
    fn elf(body: &[u8]) -> Vec<u8> {
        let mut file = vec![0_u8; 64 + 56];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 2;
        file[5] = 1;
        file[18..20].copy_from_slice(&this_machine().unwrap_or(62).to_le_bytes());
        file.extend_from_slice(body);
        let shoff = file.len() as u64;
        let total = shoff + 2 * 64;
        file[32..40].copy_from_slice(&64_u64.to_le_bytes());
        file[40..48].copy_from_slice(&shoff.to_le_bytes());
        file[54..56].copy_from_slice(&56_u16.to_le_bytes());
        file[56..58].copy_from_slice(&1_u16.to_le_bytes());
        file[58..60].copy_from_slice(&64_u16.to_le_bytes());
        file[60..62].copy_from_slice(&2_u16.to_le_bytes());
        // The one program header: PT_LOAD, offset 0, the whole file.
        file[64..68].copy_from_slice(&1_u32.to_le_bytes());
        file[64 + 32..64 + 40].copy_from_slice(&total.to_le_bytes());
        file.resize(total as usize, 0);
        file
    }

    const ORT_BODY: &[u8] = b"OrtGetApiBase\0VERS_1.31.0\0VERS_1.32.0\0VERS_1.4.0\0";

    #[cfg(target_os = "linux")]
    #[test]
    fn a_sound_library_passes_with_its_version() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(lib_name("1.32.0"));
        let bytes = elf(ORT_BODY);
        fs::write(&path, &bytes).unwrap();
        let file = check_library(&path).unwrap();
        assert_eq!(file, LibraryFile { size: bytes.len() as u64, version: Some("1.32.0".into()) });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_truncated_library_is_refused_wherever_it_is_cut() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join(lib_name("1.32.0"));
        let whole = elf(ORT_BODY);
        for cut in
            [0, 3, 4, 20, 63, 64, 100, 120, whole.len() / 2, whole.len() - 64, whole.len() - 1]
        {
            fs::write(&path, &whole[..cut]).unwrap();
            let err = check_library(&path).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "cut {cut}: {message}");
            if cut < 4 {
                assert!(matches!(err, BadLibrary::NotElf { .. }), "cut {cut}: {err:?}");
            } else {
                assert!(matches!(err, BadLibrary::Truncated { .. }), "cut {cut}: {err:?}");
                assert!(message.contains("is truncated"), "{message}");
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn headers_pointing_past_the_end_are_refused() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("lib.so");
        // A segment that claims more bytes than the file has.
        let mut bytes = elf(ORT_BODY);
        bytes[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(check_library(&path), Err(BadLibrary::Truncated { .. })));
        // A section table whose size overflows.
        let mut bytes = elf(ORT_BODY);
        bytes[40..48].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(check_library(&path), Err(BadLibrary::Truncated { .. })));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn other_files_are_refused_with_what_they_are() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("lib.so");
        fs::write(&path, b"not really a library").unwrap();
        assert!(matches!(check_library(&path), Err(BadLibrary::NotElf { .. })));
        let mut bytes = elf(ORT_BODY);
        bytes[4] = 1;
        fs::write(&path, &bytes).unwrap();
        let err = check_library(&path).unwrap_err();
        assert!(err.to_string().contains("not 64-bit little-endian"), "{err}");
        let mut bytes = elf(ORT_BODY);
        bytes[18..20].copy_from_slice(&40_u16.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(check_library(&path), Err(BadLibrary::WrongMachine { .. })));
        fs::write(&path, elf(b"libonnxruntime_providers_cuda\0")).unwrap();
        let err = check_library(&path).unwrap_err();
        assert!(matches!(err, BadLibrary::NotOnnxRuntime { .. }), "{err:?}");
        assert!(err.to_string().contains("OrtGetApiBase"), "{err}");
        let missing = dir.path().join("missing.so");
        assert!(matches!(check_library(&missing), Err(BadLibrary::Unreadable { .. })));
    }
}
