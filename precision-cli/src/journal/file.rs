//! The journal file: created atomically with its header, read back on resume, and appended
//! one record per check, each flushed to disk before the search goes on.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use precision_core::{Evaluation, LayerSet, OutputSelection};

use super::format::{Header, JournalError, RecordOut, parse};

/// What [`Journal::open`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A new journal was created.
    Created,
    /// An existing journal was opened.
    Resumed {
        /// The checks it holds.
        checks: usize,
        /// The 1-based line of a torn last record that was cut off, if any.
        dropped_line: Option<usize>,
    },
}

/// What a check is journaled under: the marked layers and the outputs it compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// The marked layers, sized to the network.
    pub(super) marked: LayerSet,
    /// The outputs the check compared.
    pub(super) detail: OutputSelection,
}

/// An open journal: the answers of earlier runs, and the file new answers are appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    num_layers: usize,
    earlier: HashMap<Key, Evaluation>,
    recorded: HashSet<Key>,
}

impl Journal {
    /// Opens the journal at `path` for a search with `header`'s fingerprint over a network of
    /// `num_layers` layers: creates it (atomically, header only) when missing, otherwise reads
    /// its records and cuts off a torn last line.
    pub fn open(
        path: &Path,
        header: &Header,
        num_layers: usize,
    ) -> Result<(Journal, Opened), JournalError> {
        let read_err = |source| JournalError::Read { path: path.to_owned(), source };
        let write_err = |source| JournalError::Write { path: path.to_owned(), source };
        let mut header_line =
            serde_json::to_vec(header).map_err(|e| write_err(io::Error::other(e)))?;
        header_line.push(b'\n');
        let (parsed, opened) = match std::fs::read(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_atomically(path, &header_line).map_err(write_err)?;
                (None, Opened::Created)
            }
            Err(e) => return Err(read_err(e)),
            Ok(text) => match parse(&text, path, &header.fingerprint, num_layers)? {
                // An empty file (made by `touch`, say): it gets its header below.
                None => (None, Opened::Created),
                Some(p) => {
                    let opened =
                        Opened::Resumed { checks: p.records.len(), dropped_line: p.dropped_line };
                    (Some(p), opened)
                }
            },
        };
        let mut file = OpenOptions::new().append(true).open(path).map_err(write_err)?;
        let mut earlier = HashMap::new();
        let mut recorded = HashSet::new();
        if let Some(p) = parsed {
            file.set_len(p.good_len as u64).map_err(write_err)?;
            if p.needs_newline {
                file.write_all(b"\n").map_err(write_err)?;
            }
            file.sync_data().map_err(write_err)?;
            for (marked, detail, evaluation) in p.records {
                let key = Key { marked, detail };
                recorded.insert(key.clone());
                earlier.entry(key).or_insert(evaluation);
            }
        } else if file.metadata().map_err(read_err)?.len() == 0 {
            file.write_all(&header_line).map_err(write_err)?;
            file.sync_data().map_err(write_err)?;
        }
        let journal = Journal { path: path.to_owned(), file, num_layers, earlier, recorded };
        Ok((journal, opened))
    }

    /// The key of `marked` (normalised to the network's size), or `None` when it indexes
    /// layers the network does not have (the oracle reports that).
    pub(super) fn key(&self, marked: &LayerSet, detail: OutputSelection) -> Option<Key> {
        if marked.iter().any(|i| i >= self.num_layers) {
            return None;
        }
        Some(Key { marked: LayerSet::from_indices(self.num_layers, marked.iter()), detail })
    }

    /// The answer an earlier run recorded for `marked` and `detail`.
    pub(super) fn lookup(&self, key: &Key) -> Option<Evaluation> {
        self.earlier.get(key).cloned()
    }

    /// Appends the answer for `key` (once per key), flushed to disk before returning.
    pub(super) fn record(&mut self, key: Key, evaluation: &Evaluation) -> Result<(), JournalError> {
        if self.recorded.contains(&key) {
            return Ok(());
        }
        let write_err = |source| JournalError::Write { path: self.path.clone(), source };
        let record = RecordOut { marked: &key.marked, detail: key.detail, evaluation };
        let mut line = serde_json::to_vec(&record).map_err(|e| write_err(io::Error::other(e)))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(write_err)?;
        self.file.sync_data().map_err(write_err)?;
        self.recorded.insert(key);
        Ok(())
    }
}

/// Writes `contents` to the new file `path` atomically, so the file never exists without its
/// whole header. Fails if `path` appeared meanwhile (the search holds the journal's lock, so
/// no other precision process creates it).
fn create_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = precision_files::AtomicFile::create(path)?;
    file.file().write_all(contents)?;
    file.commit_new()
}
