//! Precision plans: which lower precisions are enabled and which layers stay higher.

use std::fmt;

use fixedbitset::FixedBitSet;
use serde::Serialize;

use crate::{Network, Precision};

/// A set of layer indices, stored as a bit set (one bit per layer).
///
/// A 10,000-layer set costs 1.25 KB, so a search can keep every check's set in its log.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct LayerSet {
    bits: FixedBitSet,
}

impl LayerSet {
    /// The empty set over `num_layers` layers.
    #[must_use]
    pub fn empty(num_layers: usize) -> Self {
        LayerSet { bits: FixedBitSet::with_capacity(num_layers) }
    }

    /// The set holding the given indices; indices must be `< num_layers`.
    #[must_use]
    pub fn from_indices(num_layers: usize, indices: impl IntoIterator<Item = usize>) -> Self {
        let mut set = Self::empty(num_layers);
        for i in indices {
            set.insert(i);
        }
        set
    }

    /// The number of layers this set ranges over.
    #[must_use]
    pub fn universe(&self) -> usize {
        self.bits.len()
    }

    /// Adds a layer.
    ///
    /// # Panics
    /// If `index` is outside the universe.
    pub fn insert(&mut self, index: usize) {
        self.bits.insert(index);
    }

    /// Removes a layer.
    pub fn remove(&mut self, index: usize) {
        if index < self.bits.len() {
            self.bits.set(index, false);
        }
    }

    /// Whether the layer is in the set.
    #[must_use]
    pub fn contains(&self, index: usize) -> bool {
        self.bits.contains(index)
    }

    /// The number of layers in the set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bits.count_ones(..)
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bits.is_clear()
    }

    /// The indices in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.ones()
    }

    /// The indices in increasing order, collected.
    #[must_use]
    pub fn to_vec(&self) -> Vec<usize> {
        self.iter().collect()
    }

    /// Whether every layer of `self` is also in `other`.
    #[must_use]
    pub fn is_subset(&self, other: &LayerSet) -> bool {
        self.bits.is_subset(&other.bits)
    }
}

impl fmt::Debug for LayerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for LayerSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// What a check builds: the lower precisions enabled, the higher precision, and the layers
/// kept in the higher precision ("marked").
///
/// Every layer that is not marked, and every layer that cannot be marked, runs in the lowest
/// precision enabled ([`PrecisionPlan::lowest`]); with no lower precision enabled, everything
/// runs in float32.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PrecisionPlan {
    /// The lower precisions enabled (`--int8`, `--fp16`, ...), in no particular order.
    pub lower: Vec<Precision>,
    /// The precision of marked layers (`--precision`, float32 by default).
    pub higher: Precision,
    /// The marked layers.
    pub marked: LayerSet,
    /// A third level between the lowest precision and `higher` (`--three-levels`): its
    /// layers run in its precision unless they are marked. `None` for two-level plans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle: Option<Middle>,
}

/// The middle level of a three-level plan: layers that leave the lowest precision but need
/// not be in the higher one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Middle {
    /// The precision of the middle level (float16 with `--int8 --fp16`).
    pub precision: Precision,
    /// The layers in it (a marked layer among them runs in the higher precision).
    pub layers: LayerSet,
}

/// Why a [`PrecisionPlan`] cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No lower precision was asked for, so there is nothing to search.
    #[error("no lower precision is enabled: pass --int8, --fp16, --bf16 or --fp8")]
    NothingLowered,
    /// The higher precision is not more precise than the lowest enabled one.
    #[error(
        "the higher precision {higher} is not more precise than the lowest enabled precision {lowest}"
    )]
    HigherNotHigher {
        /// The requested higher precision.
        higher: Precision,
        /// The lowest enabled precision.
        lowest: Precision,
    },
}

impl PrecisionPlan {
    /// A plan over `network` with nothing marked, after checking that `higher` is more precise
    /// than the lowest enabled precision.
    pub fn new(
        network: &Network,
        lower: Vec<Precision>,
        higher: Precision,
    ) -> Result<Self, PlanError> {
        let plan =
            PrecisionPlan { lower, higher, marked: LayerSet::empty(network.len()), middle: None };
        let lowest = plan.lowest();
        if lowest == Precision::Float32 && higher == Precision::Float32 {
            return Err(PlanError::NothingLowered);
        }
        if higher.rank() <= lowest.rank() {
            return Err(PlanError::HigherNotHigher { higher, lowest });
        }
        Ok(plan)
    }

    /// The float32 reference plan: nothing lowered.
    #[must_use]
    pub fn float32(network: &Network) -> Self {
        PrecisionPlan {
            lower: Vec::new(),
            higher: Precision::Float32,
            marked: LayerSet::empty(network.len()),
            middle: None,
        }
    }

    /// The same plan (middle level included) with another set of marked layers.
    #[must_use]
    pub fn with_marked(&self, marked: LayerSet) -> Self {
        PrecisionPlan {
            lower: self.lower.clone(),
            higher: self.higher,
            marked,
            middle: self.middle.clone(),
        }
    }

    /// The precision a middle level of this plan takes: the least precise enabled precision
    /// above the lowest one (float16 with `--int8 --fp16`), if it is below `higher`.
    #[must_use]
    pub fn middle_precision(&self) -> Option<Precision> {
        let lowest = self.lowest();
        self.lower
            .iter()
            .copied()
            .filter(|p| p.rank() > lowest.rank() && p.rank() < self.higher.rank())
            .min_by_key(|p| p.rank())
    }

    /// The least precise enabled precision: int8 before fp8 before float16 before bfloat16;
    /// float32 when nothing is lowered.
    #[must_use]
    pub fn lowest(&self) -> Precision {
        const ORDER: [Precision; 4] =
            [Precision::Int8, Precision::Fp8, Precision::Float16, Precision::BFloat16];
        ORDER.into_iter().find(|p| self.lower.contains(p)).unwrap_or(Precision::Float32)
    }

    /// The precision layer `index` runs in under this plan.
    #[must_use]
    pub fn precision_of(&self, network: &Network, index: usize) -> Precision {
        if !network.layers[index].is_markable() {
            return self.lowest();
        }
        if self.marked.contains(index) {
            return self.higher;
        }
        match &self.middle {
            Some(middle) if middle.layers.contains(index) => middle.precision,
            _ => self.lowest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_set_basics() {
        let mut s = LayerSet::from_indices(10, [3, 1, 7]);
        assert_eq!(s.to_vec(), vec![1, 3, 7]);
        assert_eq!(s.len(), 3);
        assert!(s.contains(3));
        s.remove(3);
        s.remove(99);
        assert!(!s.contains(3));
        assert!(LayerSet::from_indices(10, [1]).is_subset(&s));
        assert_eq!(format!("{s:?}"), "{1, 7}");
        assert_eq!(serde_json_like(&s), "[1,7]");
    }

    fn serde_json_like(s: &LayerSet) -> String {
        serde_json::to_string(s).unwrap()
    }

    #[test]
    fn lowest_precision_order() {
        let net = Network { name: "n".into(), inputs: vec![], layers: vec![], outputs: vec![] };
        let plan =
            PrecisionPlan::new(&net, vec![Precision::Float16, Precision::Int8], Precision::Float32)
                .unwrap();
        assert_eq!(plan.lowest(), Precision::Int8);
        assert_eq!(
            PrecisionPlan::new(&net, vec![], Precision::Float32).unwrap_err(),
            PlanError::NothingLowered
        );
        assert!(matches!(
            PrecisionPlan::new(&net, vec![Precision::Float16], Precision::Float16),
            Err(PlanError::HigherNotHigher { .. })
        ));
        assert!(PrecisionPlan::new(&net, vec![Precision::Int8], Precision::Float16).is_ok());
    }
}
