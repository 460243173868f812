//! The check journal: every check a search makes is appended to a JSON-lines file the moment
//! it finishes, so a search that is interrupted (Ctrl-C, `kill -9`, a crash, a reboot) resumes
//! where it stopped instead of building every plan again.
//!
//! The file holds a header line and then one record per check:
//!
//! ```text
//! {"precision_journal":1,"fingerprint":"<sha-256 hex>","model":"m.onnx","created_by":"precision 0.1.0"}
//! {"marked":[3,4],"detail":"network-outputs","evaluation":{...}}
//! ```
//!
//! The fingerprint ([`fingerprint`]) covers the model, the backend, every setting that changes
//! answers, the inputs, the goldens and the comparator settings; a journal with another
//! fingerprint is refused rather than trusted. Each record is written with one `write` and
//! flushed to disk (`fdatasync`) before the search goes on, so a killed search loses at most
//! the check that was running; the torn last line such a kill can leave is dropped on the next
//! start. A search holds an exclusive lock on its journal (and report) from before its first
//! check until its report is written (`write::lock`), so two searches never write one journal:
//! the second stops with a message, or waits with `--wait-lock`.

pub mod fingerprint;

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context;
use precision_core::oracle::BackendOracle;
use precision_core::{Backend, Detail, Evaluation, LayerSet, Network, Oracle, SearchError};
use serde::{Deserialize, Serialize};

use crate::args::{CheckSetup, JournalArgs};
use crate::check_command::CommandOracle;

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
struct RecordOut<'a> {
    marked: &'a LayerSet,
    detail: Detail,
    evaluation: &'a Evaluation,
}

/// One check as read.
#[derive(Deserialize)]
struct RecordIn {
    marked: Vec<usize>,
    detail: Detail,
    evaluation: Evaluation,
}

/// What a journal's text holds.
#[derive(Debug)]
pub struct Parsed {
    /// The checks, in file order.
    pub records: Vec<(LayerSet, Detail, Evaluation)>,
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

fn parse_record(bytes: &[u8], num_layers: usize) -> Result<(LayerSet, Detail, Evaluation), String> {
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

type Key = (LayerSet, Detail);

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
                let key = (marked, detail);
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
    fn key(&self, marked: &LayerSet, detail: Detail) -> Option<Key> {
        if marked.iter().any(|i| i >= self.num_layers) {
            return None;
        }
        Some((LayerSet::from_indices(self.num_layers, marked.iter()), detail))
    }

    /// The answer an earlier run recorded for `marked` and `detail`.
    fn lookup(&self, key: &Key) -> Option<Evaluation> {
        self.earlier.get(key).cloned()
    }

    /// Appends the answer for `key` (once per key), flushed to disk before returning.
    fn record(&mut self, key: Key, evaluation: &Evaluation) -> Result<(), JournalError> {
        if self.recorded.contains(&key) {
            return Ok(());
        }
        let write_err = |source| JournalError::Write { path: self.path.clone(), source };
        let record = RecordOut { marked: &key.0, detail: key.1, evaluation };
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

/// An oracle that answers from the journal of earlier runs when it can, and records every
/// new answer of the inner oracle in the journal as soon as it is made.
///
/// Answers from the journal come back with [`Evaluation::reused`] set. Without a journal it
/// only passes calls on.
#[derive(Debug)]
pub struct JournaledOracle<O> {
    inner: O,
    journal: Option<Journal>,
    /// Whether appending still works (after a write error, the search goes on unrecorded).
    writable: bool,
}

impl<O: Oracle> JournaledOracle<O> {
    /// Wraps `inner`, answering from and recording in `journal` if given.
    #[must_use]
    pub fn new(inner: O, journal: Option<Journal>) -> Self {
        JournaledOracle { inner, journal, writable: true }
    }

    /// Records `evaluation` for `key`; a write error is reported once and ends recording.
    fn record(&mut self, key: Option<Key>, evaluation: &Evaluation) {
        let (Some(journal), Some(key)) = (self.journal.as_mut(), key) else { return };
        if !self.writable {
            return;
        }
        if let Err(e) = journal.record(key, evaluation) {
            crate::console::errln!(
                "warning: {e}; the search goes on, but its further checks are not recorded"
            );
            self.writable = false;
        }
    }

    fn key(&self, marked: &LayerSet, detail: Detail) -> Option<Key> {
        self.journal.as_ref().and_then(|j| j.key(marked, detail))
    }

    fn lookup(&self, key: Option<&Key>) -> Option<Evaluation> {
        self.journal.as_ref().zip(key).and_then(|(j, k)| j.lookup(k))
    }
}

impl<O> std::ops::Deref for JournaledOracle<O> {
    type Target = O;

    fn deref(&self) -> &O {
        &self.inner
    }
}

impl<O> std::ops::DerefMut for JournaledOracle<O> {
    /// The wrapped oracle, for work outside the search (the holdout check), which is not
    /// journaled.
    fn deref_mut(&mut self) -> &mut O {
        &mut self.inner
    }
}

impl<O: Oracle> Oracle for JournaledOracle<O> {
    fn network(&self) -> &Network {
        self.inner.network()
    }

    fn evaluate(&mut self, marked: &LayerSet, detail: Detail) -> Result<Evaluation, SearchError> {
        let key = self.key(marked, detail);
        if let Some(found) = self.lookup(key.as_ref()) {
            return Ok(found);
        }
        let evaluation = self.inner.evaluate(marked, detail)?;
        self.record(key, &evaluation);
        Ok(evaluation)
    }

    fn evaluate_batch(
        &mut self,
        sets: &[LayerSet],
        detail: Detail,
    ) -> Result<Vec<Evaluation>, SearchError> {
        let mut answers: Vec<Option<Evaluation>> = Vec::with_capacity(sets.len());
        let mut misses: Vec<(usize, Option<Key>)> = Vec::new();
        for (i, set) in sets.iter().enumerate() {
            let key = self.key(set, detail);
            let found = self.lookup(key.as_ref());
            if found.is_none() {
                misses.push((i, key));
            }
            answers.push(found);
        }
        if !misses.is_empty() {
            let to_check: Vec<LayerSet> = misses.iter().map(|(i, _)| sets[*i].clone()).collect();
            let evaluations = self.inner.evaluate_batch(&to_check, detail)?;
            for ((i, key), evaluation) in misses.into_iter().zip(evaluations) {
                self.record(key, &evaluation);
                answers[i] = Some(evaluation);
            }
        }
        answers
            .into_iter()
            .zip(sets)
            .map(|(answer, set)| match answer {
                Some(a) => Ok(a),
                // The inner oracle answered fewer sets than asked: ask again one by one.
                None => self.evaluate(set, detail),
            })
            .collect()
    }

    fn jobs(&self) -> usize {
        self.inner.jobs()
    }

    fn layer_outputs_done(&mut self) {
        self.inner.layer_outputs_done();
    }
}

/// The journal file for a search: `--journal FILE`, else next to `--report R.json` as
/// `R.journal.jsonl`, else none; none with `--no-journal`.
#[must_use]
pub fn path_for(args: &JournalArgs, report: Option<&Path>) -> Option<PathBuf> {
    if args.no_journal {
        return None;
    }
    args.journal.clone().or_else(|| report.map(|r| r.with_extension("journal.jsonl")))
}

/// Wraps the search oracle in the journal that `args` and `report` ask for, printing a line
/// when it resumes from earlier checks.
pub fn attach<B: Backend>(
    oracle: CommandOracle<B>,
    setup: &CheckSetup,
    args: &JournalArgs,
    report: Option<&Path>,
) -> anyhow::Result<JournaledOracle<CommandOracle<B>>> {
    let Some(path) = path_for(args, report) else {
        return Ok(JournaledOracle::new(oracle, None));
    };
    let fingerprint = setup_fingerprint(oracle.inner(), oracle.identity().as_deref())?;
    let header = Header::new(fingerprint, setup.model.model.display().to_string());
    let (journal, opened) = Journal::open(&path, &header, oracle.network().len())?;
    if let Opened::Resumed { checks, dropped_line } = opened {
        if let Some(line) = dropped_line {
            crate::console::errln!(
                "journal {}: dropped the unfinished record on line {line} (the last run stopped \
                 while writing it)",
                path.display()
            );
        }
        crate::console::errln!("resuming from {}: {checks} checks already done", path.display());
    }
    Ok(JournaledOracle::new(oracle, Some(journal)))
}

/// The fingerprint of the setup `oracle` was made from: the backend's answer identity
/// ([`Backend::answer_identity`]), the plan's precisions, the inputs, goldens and comparator,
/// and the check command's settings (`check_command`), if any.
fn setup_fingerprint<B: Backend>(
    oracle: &BackendOracle<B>,
    check_command: Option<&[u8]>,
) -> anyhow::Result<String> {
    let backend = oracle.backend();
    let identity = backend.answer_identity().with_context(|| {
        format!("cannot tell what decides the {} backend's answers", backend.name())
    })?;
    let base = oracle.base_plan();
    fingerprint::fingerprint(&fingerprint::Ingredients {
        backend: backend.name(),
        identity: &identity,
        lower: &base.lower,
        higher: base.higher,
        inputs: oracle.samples().inputs.as_ref(),
        goldens: oracle.samples().goldens.as_ref(),
        compare: oracle.config(),
        ranking_samples: oracle.ranking_samples(),
        check_command,
    })
    .map_err(|e| anyhow::anyhow!("cannot fingerprint the search's data for the journal: {e}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use precision_core::{ErrorStat, Layer, OutputComparison};
    use proptest::prelude::*;

    use super::*;

    const FP: &str = "00ff";
    const LAYERS: usize = 8;

    fn network() -> Network {
        Network {
            name: "net".to_owned(),
            inputs: Vec::new(),
            layers: (0..LAYERS)
                .map(|i| Layer::new(i, format!("l{i}"), "Op", Vec::new(), Vec::new()))
                .collect(),
            outputs: vec!["y".to_owned()],
        }
    }

    /// Passes when at least two layers are marked; counts what it was asked.
    struct Counting {
        network: Network,
        evaluated: Vec<Vec<usize>>,
        batches: Vec<usize>,
    }

    impl Counting {
        fn new() -> Self {
            Counting { network: network(), evaluated: Vec::new(), batches: Vec::new() }
        }
    }

    fn answer(marked: &LayerSet) -> Evaluation {
        let error = if marked.len() >= 2 { 0.0 } else { f64::NAN };
        Evaluation {
            passed: marked.len() >= 2,
            build_error: None,
            outputs: vec![OutputComparison {
                name: "y".to_owned(),
                passed: marked.len() >= 2,
                stat: ErrorStat::Elemwise,
                max_absdiff: error,
                max_reldiff: f64::INFINITY,
                mean_absdiff: 1e-7,
                mean_reldiff: 0.5,
                required_atol: error,
                required_rtol: f64::NEG_INFINITY,
                mismatch: None,
                metrics: Vec::new(),
                headroom: f64::INFINITY,
            }],
            layer_outputs: None,
            isolated: None,
            deviations: vec![format!("{} marked", marked.len())],
            duration: Duration::from_millis(250),
            reused: false,
            refused: Vec::new(),
            samples: None,
            command: None,
        }
    }

    impl Oracle for Counting {
        fn network(&self) -> &Network {
            &self.network
        }

        fn evaluate(
            &mut self,
            marked: &LayerSet,
            _detail: Detail,
        ) -> Result<Evaluation, SearchError> {
            self.evaluated.push(marked.to_vec());
            Ok(answer(marked))
        }

        fn evaluate_batch(
            &mut self,
            sets: &[LayerSet],
            detail: Detail,
        ) -> Result<Vec<Evaluation>, SearchError> {
            self.batches.push(sets.len());
            sets.iter().map(|s| self.evaluate(s, detail)).collect()
        }

        fn jobs(&self) -> usize {
            3
        }
    }

    fn set(indices: &[usize]) -> LayerSet {
        LayerSet::from_indices(LAYERS, indices.iter().copied())
    }

    fn header_line(fingerprint: &str) -> String {
        serde_json::to_string(&Header::new(fingerprint.to_owned(), "m.toml".to_owned())).unwrap()
    }

    fn record_line(indices: &[usize]) -> String {
        let marked = set(indices);
        let evaluation = answer(&marked);
        let record =
            RecordOut { marked: &marked, detail: Detail::NetworkOutputs, evaluation: &evaluation };
        serde_json::to_string(&record).unwrap()
    }

    fn journal_text(records: &[&[usize]]) -> String {
        let mut text = header_line(FP) + "\n";
        for r in records {
            text += &record_line(r);
            text.push('\n');
        }
        text
    }

    fn parse_text(text: &str) -> Result<Option<Parsed>, JournalError> {
        parse(text.as_bytes(), Path::new("j.jsonl"), FP, LAYERS)
    }

    #[test]
    fn records_read_back_as_reused_answers() {
        let text = journal_text(&[&[1, 2], &[3]]);
        let parsed = parse_text(&text).unwrap().unwrap();
        assert_eq!(parsed.good_len, text.len());
        assert_eq!(parsed.dropped_line, None);
        assert_eq!(parsed.records.len(), 2);
        let (marked, detail, evaluation) = &parsed.records[1];
        assert_eq!(marked, &set(&[3]));
        assert_eq!(*detail, Detail::NetworkOutputs);
        assert!(evaluation.reused);
        let fresh = answer(&set(&[3]));
        assert!(evaluation.outputs[0].max_absdiff.is_nan());
        assert_eq!(evaluation.outputs[0].required_rtol, f64::NEG_INFINITY);
        assert_eq!(evaluation.duration, fresh.duration);
        assert_eq!(evaluation.deviations, fresh.deviations);
        assert!(parse_text("").unwrap().is_none());
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let good = journal_text(&[&[1, 2], &[3]]);
        let full_last = record_line(&[4, 5]);
        for torn in [&full_last[..10], &full_last[..], "{\"marked\": [1"] {
            let text = format!("{good}{torn}");
            let parsed = parse_text(&text).unwrap().unwrap();
            assert_eq!(parsed.good_len, good.len(), "{torn}");
            assert_eq!(parsed.dropped_line, Some(4));
            assert_eq!(parsed.records.len(), 2);
        }
        // Terminated but invalid (zeros a crash left, say): dropped as well.
        let text = format!("{good}\0\0\0\n");
        let parsed = parse_text(&text).unwrap().unwrap();
        assert_eq!((parsed.good_len, parsed.dropped_line), (good.len(), Some(4)));
    }

    #[test]
    fn a_bad_middle_line_is_an_error_naming_it() {
        let good = journal_text(&[&[1, 2]]);
        for bad in ["{\"marked\": [1", "[]", "{\"marked\":[99],\"detail\":\"network-outputs\"}"] {
            let text = format!("{good}{bad}\n{}\n", record_line(&[3]));
            let err = parse_text(&text).unwrap_err();
            assert!(matches!(err, JournalError::BadRecord { line: 3, .. }), "{err}");
            let message = err.to_string();
            assert!(message.contains("j.jsonl, line 3"), "{message}");
            assert!(message.contains("delete it"), "{message}");
        }
        let out_of_range = record_line(&[1]).replace("[1]", "[8]");
        let err = parse_text(&format!("{good}{out_of_range}\n\n")).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        // Blank lines are skipped.
        let text = format!("{good}\n  \n{}\n", record_line(&[3]));
        assert_eq!(parse_text(&text).unwrap().unwrap().records.len(), 2);
    }

    #[test]
    fn another_setup_or_file_is_refused() {
        let text = journal_text(&[&[1, 2]]).replace(FP, "abcd");
        let err = parse_text(&text).unwrap_err();
        assert!(matches!(err, JournalError::Mismatch { .. }), "{err}");
        let message = err.to_string();
        for needle in ["j.jsonl", "another model", "tolerances", "delete it", "--journal OTHER"] {
            assert!(message.contains(needle), "{message}");
        }
        for text in ["{\"tool\": \"precision\"}\n", "hello", "\u{1}\u{2}"] {
            let err = parse_text(text).unwrap_err();
            assert!(matches!(err, JournalError::NotAJournal { .. }), "{err}");
        }
        let v2 = journal_text(&[]).replace("\"precision_journal\":1", "\"precision_journal\":2");
        assert!(matches!(parse_text(&v2).unwrap_err(), JournalError::Version { found: 2, .. }));
        let no_fp = "{\"precision_journal\":1}\n";
        assert!(matches!(parse_text(no_fp).unwrap_err(), JournalError::BadRecord { line: 1, .. }));
    }

    #[test]
    fn open_creates_resumes_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let header = Header::new(FP.to_owned(), "m.toml".to_owned());
        let (mut journal, opened) = Journal::open(&path, &header, LAYERS).unwrap();
        assert_eq!(opened, Opened::Created);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), header_line(FP) + "\n");
        let key = journal.key(&set(&[1, 2]), Detail::NetworkOutputs).unwrap();
        journal.record(key.clone(), &answer(&set(&[1, 2]))).unwrap();
        journal.record(key, &answer(&set(&[1, 2]))).unwrap();
        let key = journal.key(&set(&[3]), Detail::EveryLayer).unwrap();
        journal.record(key, &answer(&set(&[3]))).unwrap();
        drop(journal);
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written.lines().count(), 3, "{written}");

        let mut torn = written.clone();
        torn.push_str("{\"marked\":[5,");
        std::fs::write(&path, &torn).unwrap();
        let (journal, opened) = Journal::open(&path, &header, LAYERS).unwrap();
        assert_eq!(opened, Opened::Resumed { checks: 2, dropped_line: Some(4) });
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
        let key = journal.key(&set(&[3]), Detail::EveryLayer).unwrap();
        assert!(journal.lookup(&key).unwrap().reused);
        let key = journal.key(&set(&[3]), Detail::NetworkOutputs).unwrap();
        assert!(journal.lookup(&key).is_none());
        assert!(journal.key(&set(&[3]), Detail::NetworkOutputs).is_some());
        drop(journal);

        // Another fingerprint: refused, the file untouched.
        let other = Header::new("beef".to_owned(), "m.toml".to_owned());
        let err = Journal::open(&path, &other, LAYERS).unwrap_err();
        assert!(matches!(err, JournalError::Mismatch { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written);

        // An empty file gets a header; a file that is no journal is left alone.
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        let (_, opened) = Journal::open(&empty, &header, LAYERS).unwrap();
        assert_eq!(opened, Opened::Created);
        assert_eq!(std::fs::read_to_string(&empty).unwrap(), header_line(FP) + "\n");
        let model = dir.path().join("model.toml");
        std::fs::write(&model, "name = \"x\"").unwrap();
        let err = Journal::open(&model, &header, LAYERS).unwrap_err();
        assert!(matches!(err, JournalError::NotAJournal { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&model).unwrap(), "name = \"x\"");
    }

    #[test]
    fn the_oracle_builds_only_what_the_journal_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let header = Header::new(FP.to_owned(), "m.toml".to_owned());
        let detail = Detail::NetworkOutputs;

        let (journal, _) = Journal::open(&path, &header, LAYERS).unwrap();
        let mut first = JournaledOracle::new(Counting::new(), Some(journal));
        assert_eq!(first.jobs(), 3);
        let a = first.evaluate(&set(&[1, 2]), detail).unwrap();
        assert!(!a.reused);
        let batch = first.evaluate_batch(&[set(&[3]), set(&[4, 5]), set(&[3])], detail).unwrap();
        assert!(batch.iter().all(|e| !e.reused));
        assert_eq!(first.inner.evaluated.len(), 4);
        drop(first);
        // One record per distinct set.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);

        let (journal, opened) = Journal::open(&path, &header, LAYERS).unwrap();
        assert_eq!(opened, Opened::Resumed { checks: 3, dropped_line: None });
        let mut second = JournaledOracle::new(Counting::new(), Some(journal));
        let again = second.evaluate(&set(&[1, 2]), detail).unwrap();
        assert!(again.reused);
        assert_eq!(Evaluation { reused: false, ..again }, a);
        let sets = [set(&[4, 5]), set(&[6]), set(&[3]), set(&[6, 7])];
        let batch = second.evaluate_batch(&sets, detail).unwrap();
        assert_eq!(batch.iter().map(|e| e.reused).collect::<Vec<_>>(), [true, false, true, false]);
        assert_eq!(batch[1].deviations, ["1 marked"]);
        assert_eq!(batch[3].deviations, ["2 marked"]);
        // Only the two misses were built, in one batch.
        assert_eq!(second.inner.evaluated, [vec![6], vec![6, 7]]);
        assert_eq!(second.inner.batches, [2]);
        let all_known = second.evaluate_batch(&[set(&[3]), set(&[1, 2])], detail).unwrap();
        assert!(all_known.iter().all(|e| e.reused));
        assert_eq!(second.inner.batches, [2]);
        drop(second);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 6);

        // Without a journal, calls pass through.
        let mut plain = JournaledOracle::new(Counting::new(), None);
        assert!(!plain.evaluate(&set(&[1, 2]), detail).unwrap().reused);
        assert_eq!(plain.inner.evaluated.len(), 1);
    }

    #[test]
    fn journal_path_defaults_next_to_the_report() {
        let args = |journal: Option<&str>, no_journal| JournalArgs {
            journal: journal.map(PathBuf::from),
            no_journal,
            wait_lock: false,
        };
        let report = Some(Path::new("out/r.json"));
        assert_eq!(
            path_for(&args(None, false), report),
            Some(PathBuf::from("out/r.journal.jsonl"))
        );
        assert_eq!(path_for(&args(None, false), None), None);
        assert_eq!(path_for(&args(Some("j"), false), report), Some(PathBuf::from("j")));
        assert_eq!(path_for(&args(Some("j"), false), None), Some(PathBuf::from("j")));
        assert_eq!(path_for(&args(None, true), report), None);
    }

    /// Byte edits applied to a valid journal.
    fn mutated_journal() -> impl Strategy<Value = Vec<u8>> {
        let edits = proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 0..6);
        (edits, 0usize..4).prop_map(|(edits, n)| {
            let records: Vec<Vec<usize>> = (0..n).map(|i| vec![i, i + 1]).collect();
            let refs: Vec<&[usize]> = records.iter().map(Vec::as_slice).collect();
            let mut bytes = journal_text(&refs).into_bytes();
            for (at, byte, op) in edits {
                let at = at % (bytes.len() + 1);
                match op {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => bytes[at] = byte,
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            bytes
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
        ))]

        /// Whatever the bytes, reading a journal answers Ok or Err, and an Ok keeps only a
        /// prefix made of whole lines.
        #[test]
        fn parsing_never_panics(bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            mutated_journal(),
        ]) {
            if let Ok(Some(parsed)) = parse(&bytes, Path::new("j"), FP, LAYERS) {
                prop_assert!(parsed.good_len <= bytes.len());
                prop_assert!(parsed.good_len == bytes.len() || bytes[parsed.good_len - 1] == b'\n');
                prop_assert!(parsed.records.iter().all(|(_, _, e)| e.reused));
            }
        }
    }
}
