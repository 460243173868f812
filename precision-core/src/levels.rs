//! Three-level answers (`--three-levels`): a first search finds the layers that cannot stay
//! in the lowest precision (they are marked in the higher one); a second search, among those
//! only, finds the ones that must stay in the higher precision, while the others run in the
//! middle precision (float16 with `--int8 --fp16`).
//!
//! The second search is an ordinary search on the same backend: its base plan puts the first
//! answer in the middle level ([`BackendOracle::set_middle`]) and [`AmongOracle`] shows every
//! other layer as one that cannot be marked, so every algorithm, budget and noise-floor check
//! works unchanged. Its "nothing marked" plan is the first answer in the middle precision, and
//! its floor (every candidate marked) is the first answer itself.

use crate::oracle::BackendOracle;
use crate::search::{Observer, SearchOptions, SearchOutcome, run_search};
use crate::{
    Backend, Evaluation, LayerSet, Middle, Network, Oracle, OutputSelection, Precision, SearchError,
};

/// Why a layer outside the first answer cannot be marked in the second search.
pub const NOT_IN_FIRST_LEVEL: &str =
    "stays in the lowest precision: the first level's answer does not need it";

/// An oracle adapter for the second search: the network as the inner oracle has it, except
/// that markable layers outside `among` cannot be marked. Sets pass through unchanged.
pub struct AmongOracle<'a> {
    inner: &'a mut dyn Oracle,
    network: Network,
}

impl<'a> AmongOracle<'a> {
    /// Wraps `inner`, leaving only the layers of `among` markable.
    pub fn new(inner: &'a mut dyn Oracle, among: &LayerSet) -> Self {
        let mut network = inner.network().clone();
        for layer in &mut network.layers {
            if layer.is_markable() && !among.contains(layer.index) {
                layer.unmarkable_reason = Some(NOT_IN_FIRST_LEVEL.to_owned());
            }
        }
        AmongOracle { inner, network }
    }
}

impl Oracle for AmongOracle<'_> {
    fn network(&self) -> &Network {
        &self.network
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        self.inner.evaluate(marked, detail)
    }

    fn evaluate_batch(
        &mut self,
        sets: &[LayerSet],
        detail: OutputSelection,
    ) -> Result<Vec<Evaluation>, SearchError> {
        self.inner.evaluate_batch(sets, detail)
    }

    fn jobs(&self) -> usize {
        self.inner.jobs()
    }

    fn layer_outputs_done(&mut self) {
        self.inner.layer_outputs_done();
    }
}

/// The middle precision of `oracle`'s plans, or why a three-level search cannot run: it
/// needs two lower precisions below the higher one (`--int8 --fp16`).
pub fn middle_precision<B: Backend>(oracle: &BackendOracle<B>) -> Result<Precision, SearchError> {
    let plan = oracle.base_plan();
    plan.middle_precision().ok_or_else(|| {
        SearchError::InvalidOption(format!(
            "--three-levels needs a middle precision between the lowest enabled one ({}) and \
             the higher one ({}): enable two lower precisions, for example --int8 --fp16",
            plan.lowest(),
            plan.higher
        ))
    })
}

/// The second search of a three-level answer: among the layers of `first` (the first
/// search's answer), which must stay in the higher precision when the others run in the
/// middle precision. Runs `options` (without the curve) on `oracle`, whose plans keep
/// `first` in the middle level afterwards, so that timing, holdout checks and saved models of
/// the second answer use the three-level plan.
///
/// The answer of the returned outcome is the set in the higher precision; the middle level is
/// `first` without it.
pub fn second_level<B: Backend>(
    oracle: &mut BackendOracle<B>,
    first: &LayerSet,
    options: &SearchOptions,
    observer: &mut dyn Observer,
) -> Result<SearchOutcome, SearchError> {
    let precision = middle_precision(oracle)?;
    oracle.set_middle(Some(Middle { precision, layers: first.clone() }));
    let options = SearchOptions { curve: false, ..options.clone() };
    let mut among = AmongOracle::new(oracle, first);
    run_search(&mut among, &options, observer)
}
