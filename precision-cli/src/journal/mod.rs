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
//!
//! Modules: `format.rs` the file format (header, records, parsing with a torn last line),
//! `file.rs` the durable file (open or create, append with `fdatasync`), `oracle.rs` the
//! oracle wrapper, `fingerprint.rs` the setup's fingerprint; this module wires them to the
//! command line.

mod file;
pub mod fingerprint;
mod format;
mod oracle;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::Context;
use precision_core::oracle::BackendOracle;
use precision_core::{Backend, Oracle};

use file::{Journal, Opened};
use format::Header;
pub use oracle::JournaledOracle;

use crate::args::{CheckSetup, JournalArgs};
use crate::check_command::CommandOracle;

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
