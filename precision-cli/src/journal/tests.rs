//! Tests of the journal: the format round trip, torn and damaged files, resuming, and the
//! oracle wrapper.

use std::time::Duration;

use precision_core::{ErrorStat, Layer, OutputComparison};
use proptest::prelude::*;

use precision_core::{Evaluation, LayerSet, Network, OutputSelection, SearchError};

use super::file::*;
use super::format::*;
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
        timing: None,
    }
}

impl Oracle for Counting {
    fn network(&self) -> &Network {
        &self.network
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        _detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        self.evaluated.push(marked.to_vec());
        Ok(answer(marked))
    }

    fn evaluate_batch(
        &mut self,
        sets: &[LayerSet],
        detail: OutputSelection,
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
    let record = RecordOut {
        marked: &marked,
        detail: OutputSelection::NetworkOutputs,
        evaluation: &evaluation,
    };
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
    assert_eq!(*detail, OutputSelection::NetworkOutputs);
    assert!(evaluation.reused);
    let fresh = answer(&set(&[3]));
    assert!(evaluation.outputs[0].max_absdiff.is_nan());
    assert_eq!(evaluation.outputs[0].required_rtol, f64::NEG_INFINITY);
    assert_eq!(evaluation.duration, fresh.duration);
    assert_eq!(evaluation.deviations, fresh.deviations);
    assert!(parse_text("").unwrap().is_none());
}

/// The journal keys a check by the outputs it needed under the names journals have always
/// used, so journals written before `Detail` and `OutputSelection` became one enum still read.
#[test]
fn output_selections_keep_their_journal_names() {
    for (selection, name) in [
        (OutputSelection::NetworkOutputs, "network-outputs"),
        (OutputSelection::EveryLayer, "every-layer"),
        (OutputSelection::Isolated, "sensitivity"),
    ] {
        assert_eq!(serde_json::to_string(&selection).unwrap(), format!("\"{name}\""));
        let line = record_line(&[2]).replace("\"network-outputs\"", &format!("\"{name}\""));
        let text = header_line(FP) + "\n" + &line + "\n";
        let parsed = parse_text(&text).unwrap().unwrap();
        assert_eq!(parsed.records[0].1, selection, "{name}");
    }
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
    let key = journal.key(&set(&[1, 2]), OutputSelection::NetworkOutputs).unwrap();
    journal.record(key.clone(), &answer(&set(&[1, 2]))).unwrap();
    journal.record(key, &answer(&set(&[1, 2]))).unwrap();
    let key = journal.key(&set(&[3]), OutputSelection::EveryLayer).unwrap();
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
    let key = journal.key(&set(&[3]), OutputSelection::EveryLayer).unwrap();
    assert!(journal.lookup(&key).unwrap().reused);
    let key = journal.key(&set(&[3]), OutputSelection::NetworkOutputs).unwrap();
    assert!(journal.lookup(&key).is_none());
    assert!(journal.key(&set(&[3]), OutputSelection::NetworkOutputs).is_some());
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
    let detail = OutputSelection::NetworkOutputs;

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
    assert_eq!(path_for(&args(None, false), report), Some(PathBuf::from("out/r.journal.jsonl")));
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
