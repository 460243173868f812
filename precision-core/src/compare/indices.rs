//! Polygraphy 0.53.6's `indices` comparison (`IndicesCompareFunc`), e.g. for Top-K outputs.
//!
//! The outputs must have the same shape (there is no shape matching). Every index over the
//! leading dimensions is a batch of the last dimension's values. With index tolerance `t`, the
//! last `t` values of each actual batch are skipped; every other actual value at position `i`
//! passes if the golden holds the same value at `i`, or if the first golden position `j` holding
//! it has `|i - j| <= t`; a value the golden does not hold (NaN included) fails. Values of
//! different types compare as NumPy promotes them: integers and bools exactly, anything with a
//! float in float64. A 0-d output has no batches to iterate, which Polygraphy fails on: an error.

use super::shapes::{Flat, Wide};

/// The values of one output for comparing equality as NumPy does.
enum Keys {
    Exact(Vec<i64>),
    Float(Vec<f64>),
}

impl Keys {
    fn of(flat: &Flat<'_>, exact: bool) -> Keys {
        if exact { Keys::Exact(flat.to_i64s()) } else { Keys::Float(flat.to_f64s()) }
    }
}

/// Whether `a[i] == g[j]`.
fn equal(a: &Keys, i: usize, g: &Keys, j: usize) -> bool {
    match (a, g) {
        (Keys::Exact(a), Keys::Exact(g)) => a[i] == g[j],
        (Keys::Float(a), Keys::Float(g)) => a[i] == g[j],
        _ => unreachable!("both sides use the same representation"),
    }
}

/// The two outputs, ready to be checked at any index tolerance.
pub(super) struct IndexCheck {
    actual: Keys,
    golden: Keys,
    /// The length of the last dimension.
    row: usize,
}

impl IndexCheck {
    /// Prepares the check, or says why the outputs cannot be compared.
    pub(super) fn new(
        a: &Flat<'_>,
        a_shape: &[usize],
        g: &Flat<'_>,
        g_shape: &[usize],
    ) -> Result<Self, String> {
        if a_shape != g_shape {
            return Err(format!(
                "the indices comparison needs outputs of the same shape; got {a_shape:?} \
                 (actual) and {g_shape:?} (golden)"
            ));
        }
        let Some(&row) = a_shape.last() else {
            return Err("the indices comparison needs outputs with at least one dimension \
                        (Polygraphy cannot iterate a 0-d output)"
                .to_owned());
        };
        let integral = |w: Wide| matches!(w, Wide::I32 | Wide::I64 | Wide::Bool);
        let exact = integral(a.widened()) && integral(g.widened());
        Ok(IndexCheck { actual: Keys::of(a, exact), golden: Keys::of(g, exact), row })
    }

    /// Polygraphy's verdict at index tolerance `tolerance`.
    pub(super) fn passes(&self, tolerance: u64) -> bool {
        let row = self.row;
        if row == 0 {
            return true;
        }
        let skip = usize::try_from(tolerance).unwrap_or(usize::MAX);
        let checked = row.saturating_sub(skip);
        let len = match &self.actual {
            Keys::Exact(v) => v.len(),
            Keys::Float(v) => v.len(),
        };
        for start in (0..len).step_by(row) {
            for i in 0..checked {
                if equal(&self.actual, start + i, &self.golden, start + i) {
                    continue;
                }
                let found =
                    (0..row).find(|&j| equal(&self.actual, start + i, &self.golden, start + j));
                match found {
                    Some(j) if (i.abs_diff(j) as u64) <= tolerance => {}
                    _ => return false,
                }
            }
        }
        true
    }

    /// The smallest index tolerance that passes (passing only grows with the tolerance, and
    /// a tolerance of the row length skips every value).
    pub(super) fn required(&self) -> u64 {
        let (mut lo, mut hi) = (0u64, self.row as u64);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.passes(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn check(a: &[i64], g: &[i64], shape: &[usize]) -> IndexCheck {
        IndexCheck::new(&Flat::I64(Cow::Borrowed(a)), shape, &Flat::I64(Cow::Borrowed(g)), shape)
            .unwrap()
    }

    #[test]
    fn polygraphys_examples() {
        // [0, 1, 2] vs [1, 0, 2]: swapped neighbours need tolerance 1.
        let c = check(&[0, 1, 2], &[1, 0, 2], &[3]);
        assert!(!c.passes(0));
        assert!(c.passes(1));
        assert_eq!(c.required(), 1);
        // [0, 1, 2] vs [1, 2, 0]: the 0 moved two places.
        let c = check(&[0, 1, 2], &[1, 2, 0], &[3]);
        assert!(!c.passes(1));
        assert!(c.passes(2));
        assert_eq!(c.required(), 2);
    }

    #[test]
    fn batches_missing_values_and_shapes() {
        let c = check(&[0, 1, 5, 6], &[0, 1, 6, 5], &[2, 2]);
        assert_eq!(c.required(), 1);
        // A value the golden lacks fails until it is skipped as one of the last values.
        let c = check(&[7, 1], &[1, 2], &[2]);
        assert!(!c.passes(1));
        assert_eq!(c.required(), 2);
        let f = [1.0f32];
        let g = [1.0f32, 2.0];
        assert!(
            IndexCheck::new(
                &Flat::F32(Cow::Borrowed(&f)),
                &[1],
                &Flat::F32(Cow::Borrowed(&g)),
                &[2]
            )
            .is_err()
        );
        assert!(
            IndexCheck::new(&Flat::F32(Cow::Borrowed(&f)), &[], &Flat::F32(Cow::Borrowed(&f)), &[])
                .is_err()
        );
    }
}
