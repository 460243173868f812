//! [`JournaledOracle`]: answers from the journal of earlier runs, records every new answer.

use precision_core::{Evaluation, LayerSet, Network, Oracle, OutputSelection, SearchError};

use super::file::{Journal, Key};

/// An oracle that answers from the journal of earlier runs when it can, and records every
/// new answer of the inner oracle in the journal as soon as it is made.
///
/// Answers from the journal come back with [`Evaluation::reused`] set. Without a journal it
/// only passes calls on.
#[derive(Debug)]
pub struct JournaledOracle<O> {
    pub(super) inner: O,
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

    fn key(&self, marked: &LayerSet, detail: OutputSelection) -> Option<Key> {
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

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
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
        detail: OutputSelection,
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
