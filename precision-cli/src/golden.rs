//! Golden outputs from Polygraphy RunResults files.

use std::path::Path;

use anyhow::{Context, bail};
use precision_core::{NamedTensors, Tensor};

/// The iterations of the first runner in the RunResults file at `path`.
pub fn load(path: &Path) -> anyhow::Result<Vec<NamedTensors>> {
    let results = polygraphy_json::read_run_results(path)
        .with_context(|| format!("cannot load golden outputs from {}", path.display()))?;
    let Some(runner) = results.runners.into_iter().next() else {
        bail!(
            "{} holds no runner results; make goldens with `precision run MODEL --save-outputs {}`",
            path.display(),
            path.display()
        );
    };
    if runner.iterations.is_empty() {
        bail!("runner '{}' in {} has no iterations", runner.name, path.display());
    }
    Ok(runner.iterations.into_iter().map(|it| it.outputs).collect())
}

/// The NaN values of a tensor: how many, and the C-order index of the first.
fn nan_count(tensor: &Tensor) -> (usize, Option<usize>) {
    fn count<T>(
        values: impl Iterator<Item = T>,
        is_nan: impl Fn(T) -> bool,
    ) -> (usize, Option<usize>) {
        let mut n = 0;
        let mut first = None;
        for (i, v) in values.enumerate() {
            if is_nan(v) {
                n += 1;
                first.get_or_insert(i);
            }
        }
        (n, first)
    }
    match tensor {
        Tensor::F32(a) => count(a.iter(), |v| v.is_nan()),
        Tensor::F64(a) => count(a.iter(), |v| v.is_nan()),
        Tensor::F16(a) => count(a.iter(), |v| v.is_nan()),
        Tensor::BF16(a) => count(a.iter(), |v| v.is_nan()),
        _ => (0, None),
    }
}

/// The multi-index of the C-order position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = flat % dim;
            flat /= dim;
        }
    }
    index
}

/// Refuses goldens whose network outputs hold NaN: a NaN never matches (as in Polygraphy), so
/// every check would fail, which would read as a tolerance below the backend's noise.
pub fn refuse_nan(goldens: &[NamedTensors], outputs: &[String], path: &Path) -> anyhow::Result<()> {
    for (iteration, golden) in goldens.iter().enumerate() {
        for name in outputs {
            let Some(tensor) = golden.get(name) else { continue };
            if let (n, Some(first)) = nan_count(tensor) {
                bail!(
                    "the golden output '{}' in {} holds {n} NaN value{} (iteration {iteration}, \
                     the first at index {:?} of shape {:?}); NaN never matches (as in \
                     Polygraphy), so no configuration could pass: make goldens from a run whose \
                     outputs are finite (`precision run MODEL --save-outputs FILE`)",
                    crate::console::escape(name),
                    path.display(),
                    if n == 1 { "" } else { "s" },
                    unravel(first, tensor.shape()),
                    tensor.shape()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use super::*;

    #[test]
    fn nan_in_any_float_type_is_found_with_its_index() {
        let mut floats = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
        floats[[1, 2]] = f32::NAN;
        floats[[1, 0]] = f32::NAN;
        assert_eq!(nan_count(&Tensor::F32(floats)), (2, Some(3)));
        assert_eq!(unravel(3, &[2, 3]), [1, 0]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        let halves = ArrayD::from_elem(IxDyn(&[4]), half::f16::NAN);
        assert_eq!(nan_count(&Tensor::F16(halves)), (4, Some(0)));
        let brains = ArrayD::from_elem(IxDyn(&[1]), half::bf16::NAN);
        assert_eq!(nan_count(&Tensor::BF16(brains)), (1, Some(0)));
        let doubles = ArrayD::from_elem(IxDyn(&[3]), f64::INFINITY);
        assert_eq!(nan_count(&Tensor::F64(doubles)), (0, None));
        let ints = ArrayD::from_elem(IxDyn(&[3]), 7_i64);
        assert_eq!(nan_count(&Tensor::I64(ints)), (0, None));
    }
}
