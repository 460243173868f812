//! Checking an ONNX Runtime library file before it is loaded: an ELF shared object for this
//! machine, not truncated, and the version its symbols name.

#[allow(clippy::wildcard_imports)]
use super::*;

/// What [`check_library`] read from a library file that looks sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryFile {
    /// The file's size in bytes.
    pub size: u64,
    /// The ONNX Runtime version of its symbol versions (`VERS_1.32.0` gives `"1.32.0"`), when
    /// it has them.
    pub version: Option<String>,
}

/// Why a library file must not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadLibrary {
    /// The file cannot be read.
    #[error("the ONNX Runtime library {} cannot be read: {reason}", path.display())]
    Unreadable {
        /// The library file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// The file is not a shared library at all.
    #[error(
        "{} is not a shared library (no ELF header): give the ONNX Runtime library file with \
         {FLAG} or {ENV_VAR} (e.g. .../site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0)",
        path.display()
    )]
    NotElf {
        /// The library file.
        path: PathBuf,
    },
    /// A shared library for another machine (class, byte order or architecture).
    #[error(
        "{} is a shared library for another machine ({what}); install ONNX Runtime for this \
         one (`pip install onnxruntime`)",
        path.display()
    )]
    WrongMachine {
        /// The library file.
        path: PathBuf,
        /// What does not match.
        what: String,
    },
    /// The file is shorter than its own headers say: loading it would crash the process.
    #[error(
        "the ONNX Runtime library {} is truncated: it has {size} bytes but its ELF headers \
         need {needed}; an interrupted download or copy? Reinstall it (`pip install \
         --force-reinstall onnxruntime`) or point {FLAG} / {ENV_VAR} to a complete copy",
        path.display()
    )]
    Truncated {
        /// The library file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The size its headers need.
        needed: u64,
    },
    /// A sound shared library, but not ONNX Runtime (no `OrtGetApiBase`).
    #[error(
        "{} is not the ONNX Runtime library (it has no OrtGetApiBase symbol): give \
         libonnxruntime.so itself, not a provider library, with {FLAG} or {ENV_VAR}",
        path.display()
    )]
    NotOnnxRuntime {
        /// The library file.
        path: PathBuf,
    },
}

/// Checks `path` before it is loaded: an ELF shared library for this machine, as long as its
/// headers say (segments, section table), that exports `OrtGetApiBase`. Loading a truncated
/// library maps pages past the end of the file, and the first touch of one kills the process
/// with SIGBUS and no message; this turns that into an error naming the file. Only ELF (Linux)
/// libraries are checked; elsewhere the file is only read.
pub fn check_library(path: &Path) -> Result<LibraryFile, BadLibrary> {
    let bytes = std::fs::read(path)
        .map_err(|e| BadLibrary::Unreadable { path: path.to_owned(), reason: e.to_string() })?;
    if cfg!(target_os = "linux") {
        check_elf(path, &bytes)?;
    }
    if memchr::memmem::find(&bytes, b"OrtGetApiBase\0").is_none() {
        return Err(BadLibrary::NotOnnxRuntime { path: path.to_owned() });
    }
    Ok(LibraryFile { size: bytes.len() as u64, version: symbol_version(&bytes) })
}

/// The highest `VERS_<version>` symbol version in the file, as ONNX Runtime's Linux builds name
/// theirs.
pub(super) fn symbol_version(bytes: &[u8]) -> Option<String> {
    memchr::memmem::find_iter(bytes, b"VERS_")
        .filter_map(|at| {
            let rest = &bytes[at + 5..];
            let end = rest.iter().position(|b| !(b.is_ascii_digit() || *b == b'.'))?;
            let text = std::str::from_utf8(&rest[..end]).ok()?;
            parse_version(text).map(|v| (v, text.to_owned()))
        })
        .max()
        .map(|(_, text)| text)
}

/// The ELF machine number of this build's target (`e_machine`), where known.
pub(super) const fn this_machine() -> Option<u16> {
    if cfg!(target_arch = "x86_64") {
        Some(62)
    } else if cfg!(target_arch = "aarch64") {
        Some(183)
    } else {
        None
    }
}

/// Checks an ELF file's identification and that the file holds everything its headers point
/// to: the program headers, every segment's file bytes and the section header table.
pub(super) fn check_elf(path: &Path, bytes: &[u8]) -> Result<(), BadLibrary> {
    if bytes.len() < 4 || bytes[..4] != *b"\x7fELF" {
        return Err(BadLibrary::NotElf { path: path.to_owned() });
    }
    let size = bytes.len() as u64;
    let truncated = |needed: u64| BadLibrary::Truncated { path: path.to_owned(), size, needed };
    let wrong = |what: String| BadLibrary::WrongMachine { path: path.to_owned(), what };
    // The 64-bit header is 64 bytes; a shorter file is cut inside it.
    if bytes.len() < 64 {
        return Err(truncated(64));
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err(wrong(format!(
            "ELF class {} and data encoding {}, not 64-bit little-endian",
            bytes[4], bytes[5]
        )));
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u64_at = |at: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let machine = u16_at(18);
    if let Some(ours) = this_machine().filter(|ours| *ours != machine) {
        return Err(wrong(format!("ELF machine {machine}, this one is {ours}")));
    }
    let (phoff, shoff) = (u64_at(32), u64_at(40));
    let (phentsize, phnum) = (u64::from(u16_at(54)), u64::from(u16_at(56)));
    let (shentsize, shnum) = (u64::from(u16_at(58)), u64::from(u16_at(60)));
    let table_end = |offset: u64, entry: u64, count: u64| {
        entry.checked_mul(count).and_then(|n| offset.checked_add(n)).unwrap_or(u64::MAX)
    };
    let program_end = table_end(phoff, phentsize, phnum);
    if program_end > size {
        return Err(truncated(program_end));
    }
    let mut needed = table_end(shoff, shentsize, shnum);
    // Each program header: p_offset at 8 and p_filesz at 32 (64-bit layout).
    if phentsize >= 40 {
        for i in 0..phnum {
            let at = (phoff + i * phentsize) as usize;
            needed = needed.max(u64_at(at + 8).saturating_add(u64_at(at + 32)));
        }
    }
    if needed > size {
        return Err(truncated(needed));
    }
    Ok(())
}
