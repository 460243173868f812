//! The crate's error type and the location it reports.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where in which file something went wrong: the file (if any) and the item inside it, such as
/// "runner 'trt', iteration 0, output 'y'".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    file: Option<PathBuf>,
    item: Vec<String>,
}

impl Location {
    /// A location in the given file.
    #[must_use]
    pub fn file(path: &Path) -> Self {
        Location { file: Some(path.to_path_buf()), item: Vec::new() }
    }

    /// A location in data that did not come from a named file.
    #[must_use]
    pub fn memory() -> Self {
        Location::default()
    }

    /// This location narrowed to a part of the item, such as `output 'y'`.
    #[must_use]
    pub fn with(&self, part: impl Into<String>) -> Self {
        let mut item = self.item.clone();
        item.push(part.into());
        Location { file: self.file.clone(), item }
    }

    /// The file, if known.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The item inside the file, such as "runner 'a', iteration 0, output 'y'" (empty for the
    /// whole file).
    #[must_use]
    pub fn item(&self) -> String {
        self.item.join(", ")
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{}", p.display())?,
            None => f.write_str("<in-memory data>")?,
        }
        for part in &self.item {
            write!(f, ", {part}")?;
        }
        Ok(())
    }
}

/// The dtypes this crate reads, as `.npy` descriptors (any byte order is accepted).
pub const SUPPORTED_DTYPES: &str = "<f4 <f2 <f8 |i1 |u1 <i4 <i8 |b1";

/// Everything that can go wrong reading or writing Polygraphy files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file or directory could not be read or written.
    #[error("{at}: {action} failed: {source}")]
    Io {
        /// The file concerned.
        at: Location,
        /// What was being done ("reading", "writing", "renaming into place", ...).
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The text is not JSON.
    #[error("{at}: not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// The file concerned.
        at: Location,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// The JSON ends before the document is complete.
    #[error(
        "{at}: JSON ends early at line {line}, column {column}: the file is truncated; \
         write it again"
    )]
    TruncatedJson {
        /// The file concerned.
        at: Location,
        /// 1-based line where the text ends.
        line: usize,
        /// 1-based column where the text ends.
        column: usize,
    },
    /// A JSON value has the wrong form for the Polygraphy type expected there.
    #[error("{at}: expected {expected}, found {found}")]
    Structure {
        /// Where the value is.
        at: Location,
        /// What the format requires there.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// An object is marked as a different Polygraphy class than the one expected.
    #[error(
        "{at}: polygraphy_class is '{found}' but {expected} was expected; is this the right \
         kind of file (outputs vs inputs)?"
    )]
    WrongClass {
        /// Where the object is.
        at: Location,
        /// The class(es) allowed there.
        expected: String,
        /// The class in the file.
        found: String,
    },
    /// An array payload is not valid base64.
    #[error("{at}: array payload is not valid base64: {message}")]
    Base64 {
        /// Where the array is.
        at: Location,
        /// The decoder's description.
        message: String,
    },
    /// The data does not start with the `.npy` magic string.
    #[error("{at}: not a .npy array: expected magic \\x93NUMPY, found {found}")]
    NpyMagic {
        /// Where the array is.
        at: Location,
        /// The first bytes found, escaped.
        found: String,
    },
    /// The `.npy` format version is not 1.0, 2.0 or 3.0.
    #[error("{at}: unsupported .npy format version {major}.{minor}; supported: 1.0, 2.0, 3.0")]
    NpyVersion {
        /// Where the array is.
        at: Location,
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// The `.npy` header dictionary cannot be understood.
    #[error("{at}: malformed .npy header: {problem}")]
    NpyHeader {
        /// Where the array is.
        at: Location,
        /// What is wrong with it.
        problem: String,
    },
    /// The `.npy` element type is not one this crate handles.
    #[error("{at}: unsupported dtype '{descr}'; supported: {SUPPORTED_DTYPES}")]
    UnsupportedDtype {
        /// Where the array is.
        at: Location,
        /// The descriptor in the header.
        descr: String,
    },
    /// An `.npz` archive cannot be read: not a zip, a name twice, an entry that is not
    /// `.npy`, a compression method other than stored/deflated, or a size past the limits.
    #[error("{at}: cannot read the .npz archive: {problem}")]
    Npz {
        /// The archive, and the array when one is concerned.
        at: Location,
        /// What is wrong.
        problem: String,
    },
    /// The array's data has a different length than its header implies.
    #[error(
        "{at}: {what} has the wrong length: expected {expected} bytes, found {found}; the data \
         is truncated or corrupt"
    )]
    DataLength {
        /// Where the array is.
        at: Location,
        /// Which part ("the .npy header", "the array data", ...).
        what: &'static str,
        /// Bytes required.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// A `RunResults` holds no runners.
    #[error("{at}: the RunResults holds no runners; save outputs with at least one runner")]
    EmptyRunResults {
        /// The file concerned.
        at: Location,
    },
    /// A directory of per-iteration files holds no `.json` files.
    #[error(
        "{at}: the directory holds no per-iteration .json files (0000000000.json, ...); \
         is this the right path?"
    )]
    EmptyDirectory {
        /// The directory concerned.
        at: Location,
    },
    /// A directory form cannot be written because the destination is in use.
    #[error("{at}: cannot write a directory of per-iteration files here: {reason}")]
    Destination {
        /// The destination path.
        at: Location,
        /// Why not.
        reason: String,
    },
}

impl Error {
    /// The location the error concerns.
    #[must_use]
    pub fn location(&self) -> &Location {
        match self {
            Error::Io { at, .. }
            | Error::Json { at, .. }
            | Error::TruncatedJson { at, .. }
            | Error::Structure { at, .. }
            | Error::WrongClass { at, .. }
            | Error::Base64 { at, .. }
            | Error::NpyMagic { at, .. }
            | Error::NpyVersion { at, .. }
            | Error::NpyHeader { at, .. }
            | Error::UnsupportedDtype { at, .. }
            | Error::DataLength { at, .. }
            | Error::Npz { at, .. }
            | Error::EmptyRunResults { at }
            | Error::EmptyDirectory { at }
            | Error::Destination { at, .. } => at,
        }
    }

    /// The same error, reported at `at` (for errors found before their location was known).
    pub(crate) fn relocated(mut self, at: &Location) -> Self {
        *self.location_mut() = at.clone();
        self
    }

    fn location_mut(&mut self) -> &mut Location {
        match self {
            Error::Io { at, .. }
            | Error::Json { at, .. }
            | Error::TruncatedJson { at, .. }
            | Error::Structure { at, .. }
            | Error::WrongClass { at, .. }
            | Error::Base64 { at, .. }
            | Error::NpyMagic { at, .. }
            | Error::NpyVersion { at, .. }
            | Error::NpyHeader { at, .. }
            | Error::UnsupportedDtype { at, .. }
            | Error::DataLength { at, .. }
            | Error::Npz { at, .. }
            | Error::EmptyRunResults { at }
            | Error::EmptyDirectory { at }
            | Error::Destination { at, .. } => at,
        }
    }

    pub(crate) fn io(at: &Location, action: &'static str, source: io::Error) -> Self {
        Error::Io { at: at.clone(), action, source }
    }

    pub(crate) fn structure(
        at: &Location,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::Structure { at: at.clone(), expected: expected.into(), found: found.into() }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
