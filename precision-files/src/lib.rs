//! Output files for `precision`, in one place so that every crate writes them the same way:
//!
//! - [`write`], [`AtomicFile`] and [`AtomicDir`]: a file (or a folder of files) appears whole
//!   or not at all. The data goes to a temporary file with a short name
//!   (`.precision-XXXXXX.tmp`, so any valid target name works) in the target's folder; it gets
//!   the mode a new file gets (`0o666` less the umask) or, when it replaces a file, that file's
//!   mode; it is flushed to disk, renamed over the target, and the folder is flushed too. On
//!   any error the temporary file is removed and the target is untouched.
//! - [`FileId`]: what a path names (device and inode when it exists, else the canonical
//!   folder plus the name), so `./r.json`, `r.json`, a symbolic link and a hard link to it are
//!   all the same file.
//! - [`CommandFiles`]: every input and output path of one command, checked before any work:
//!   no output may be the same file as an input or another output, and every output must be
//!   creatable (its folder exists, is a folder, and a file can be created in it).
//! - [`PathLock`]: an exclusive advisory lock that keeps two processes from writing one file.

mod atomic;
mod check;
mod identity;
mod lock;

use std::io;
use std::path::PathBuf;

pub use atomic::{AtomicDir, AtomicFile, TEMP_PREFIX, TEMP_SUFFIX, write};
pub use check::CommandFiles;
pub use identity::FileId;
pub use lock::PathLock;

/// The longest file name (one path component, in bytes) that Linux file systems accept.
pub const NAME_MAX: usize = 255;

/// Why a command's files cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An output is the same file as an input, which writing it would destroy.
    #[error(
        "{output_role} {} is the same file as {input_role} {}: writing it would overwrite \
         {input_role}; give {output_role} another path",
        output.display(),
        input.display()
    )]
    OverwritesInput {
        /// The output's role ("--report", "the journal", ...).
        output_role: String,
        /// The output, as given.
        output: PathBuf,
        /// The input's role ("the model", "--golden", ...).
        input_role: String,
        /// The input, as given.
        input: PathBuf,
    },
    /// Two outputs are the same file: one would overwrite the other.
    #[error(
        "{first_role} {} and {second_role} {} are the same file: one would overwrite the \
         other; give them different paths",
        first.display(),
        second.display()
    )]
    SameOutput {
        /// The first output's role.
        first_role: String,
        /// The first output, as given.
        first: PathBuf,
        /// The second output's role.
        second_role: String,
        /// The second output, as given.
        second: PathBuf,
    },
    /// An output could not be written.
    #[error("cannot write {role} {}: {reason}", path.display())]
    NotWritable {
        /// The output's role.
        role: String,
        /// The output, as given.
        path: PathBuf,
        /// What is wrong, and how to fix it.
        reason: String,
    },
    /// Another process holds the lock on a file.
    #[error(
        "{} is in use by another process{}",
        path.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Busy {
        /// The file that is locked.
        path: PathBuf,
        /// The process that holds the lock, when it could be told.
        pid: Option<u32>,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("locking", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}
