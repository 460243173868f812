//! The journal's file format: the header line, one JSON record per check, and parsing that
//! drops a torn last line (a write a kill cut short) and refuses anything else damaged.

use std::io;
use std::path::{Path, PathBuf};

use precision_core::{Evaluation, LayerSet, OutputSelection};
use serde::{Deserialize, Serialize};

/// The journal format version this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be read.
    #[error("cannot read journal {}: {source}", path.display())]
    Read {
        /// The journal.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file could not be created or written.
    #[error("cannot write journal {}: {source}", path.display())]
    Write {
        /// The journal.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not a journal (its first line is no journal header).
    #[error(
        "{} is not a precision journal (its first line is not a journal header); it was left \
         untouched: pass another file with --journal FILE, or --no-journal",
        path.display()
    )]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
    /// The journal was written by a format this build does not know.
    #[error(
        "journal {} has format version {found} (this precision reads version {FORMAT_VERSION}): \
         delete it to start over, or pass --journal OTHER to keep it",
        path.display()
    )]
    Version {
        /// The journal.
        path: PathBuf,
        /// The version in its header.
        found: u64,
    },
    /// The journal was written for another model, backend, settings, inputs, goldens or
    /// tolerances.
    #[error(
        "journal {} was written for another model, backend, precision or calibration settings, \
         inputs, goldens or tolerances (by {created_by}, for {model}), so its checks do not \
         apply: delete it to start over, or pass --journal OTHER to keep it",
        path.display()
    )]
    Mismatch {
        /// The journal.
        path: PathBuf,
        /// The model named in its header.
        model: String,
        /// The tool named in its header.
        created_by: String,
    },
    /// A line other than the last is not a valid record.
    #[error(
        "journal {}, line {line}: {reason}; the file is damaged: delete it to start over, or \
         pass --journal OTHER to keep it",
        path.display()
    )]
    BadRecord {
        /// The journal.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// The first line of a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The format version, [`FORMAT_VERSION`].
    pub precision_journal: u64,
    /// The setup's [`fingerprint::fingerprint`].
    pub fingerprint: String,
    /// The model, as given on the command line (for messages only).
    pub model: String,
    /// The tool and version that created the journal (for messages only).
    pub created_by: String,
}

impl Header {
    /// The header of a new journal for `fingerprint` and `model`, written by this build.
    #[must_use]
    pub fn new(fingerprint: String, model: String) -> Self {
        Header {
            precision_journal: FORMAT_VERSION,
            fingerprint,
            model,
            created_by: format!("precision {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// One check as written.
#[derive(Serialize)]
pub(super) struct RecordOut<'a> {
    pub(super) marked: &'a LayerSet,
    pub(super) detail: OutputSelection,
    pub(super) evaluation: &'a Evaluation,
}

/// One check as read.
#[derive(Deserialize)]
struct RecordIn {
    marked: Vec<usize>,
    detail: OutputSelection,
    evaluation: Evaluation,
}

/// What a journal's text holds.
#[derive(Debug)]
pub struct Parsed {
    /// The checks, in file order.
    pub records: Vec<(LayerSet, OutputSelection, Evaluation)>,
    /// How many leading bytes are good (the rest is a torn last line, to be cut off).
    pub good_len: usize,
    /// The 1-based number of the last line when it was dropped as torn.
    pub dropped_line: Option<usize>,
    /// Whether the good part lacks its final newline (a header written without one).
    pub needs_newline: bool,
}

/// Reads a journal's text (`path` is for messages). `Ok(None)` for an empty file.
///
/// The first line must be a header of this format version with fingerprint `expected`; every
/// other line must be a record whose layer indices are below `num_layers`, except the last,
/// which is dropped when it is unfinished (no newline) or invalid: that is what a kill in the
/// middle of a write leaves. Blank lines are skipped. Never panics, whatever the bytes.
pub fn parse(
    text: &[u8],
    path: &Path,
    expected: &str,
    num_layers: usize,
) -> Result<Option<Parsed>, JournalError> {
    let lines = split_lines(text);
    let Some(&(start, end, terminated)) = lines.first() else {
        return Ok(None);
    };
    parse_header(&text[start..end], path, expected)?;
    let mut parsed = Parsed {
        records: Vec::new(),
        good_len: if terminated { end + 1 } else { end },
        dropped_line: None,
        needs_newline: !terminated,
    };
    for (index, &(start, end, terminated)) in lines.iter().enumerate().skip(1) {
        let line = index + 1;
        let is_last = index + 1 == lines.len();
        let bytes = &text[start..end];
        if is_last && !terminated {
            parsed.dropped_line = Some(line);
            break;
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            parsed.good_len = end + 1;
            continue;
        }
        match parse_record(bytes, num_layers) {
            Ok(record) => {
                parsed.records.push(record);
                parsed.good_len = end + 1;
            }
            Err(_) if is_last => {
                parsed.dropped_line = Some(line);
            }
            Err(reason) => {
                return Err(JournalError::BadRecord { path: path.to_owned(), line, reason });
            }
        }
    }
    Ok(Some(parsed))
}

/// The lines of `text` as (start, end without the newline, whether a newline ended it).
fn split_lines(text: &[u8]) -> Vec<(usize, usize, bool)> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < text.len() {
        if let Some(offset) = text[start..].iter().position(|&b| b == b'\n') {
            lines.push((start, start + offset, true));
            start += offset + 1;
        } else {
            lines.push((start, text.len(), false));
            break;
        }
    }
    lines
}

fn parse_header(bytes: &[u8], path: &Path, expected: &str) -> Result<(), JournalError> {
    let not_a_journal = || JournalError::NotAJournal { path: path.to_owned() };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| not_a_journal())?;
    let Some(version) = value.get("precision_journal") else {
        return Err(not_a_journal());
    };
    let Some(found) = version.as_u64() else {
        return Err(not_a_journal());
    };
    if found != FORMAT_VERSION {
        return Err(JournalError::Version { path: path.to_owned(), found });
    }
    let header: Header = serde_json::from_value(value).map_err(|e| JournalError::BadRecord {
        path: path.to_owned(),
        line: 1,
        reason: format!("invalid journal header: {e}"),
    })?;
    if header.fingerprint != expected {
        return Err(JournalError::Mismatch {
            path: path.to_owned(),
            model: header.model,
            created_by: header.created_by,
        });
    }
    Ok(())
}

fn parse_record(
    bytes: &[u8],
    num_layers: usize,
) -> Result<(LayerSet, OutputSelection, Evaluation), String> {
    let record: RecordIn =
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid check record: {e}"))?;
    if let Some(bad) = record.marked.iter().find(|&&i| i >= num_layers) {
        return Err(format!(
            "layer index {bad} is out of range: the network has {num_layers} layers"
        ));
    }
    let marked = LayerSet::from_indices(num_layers, record.marked);
    let mut evaluation = record.evaluation;
    evaluation.reused = true;
    Ok((marked, record.detail, evaluation))
}
