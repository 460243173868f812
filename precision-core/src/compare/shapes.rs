//! Lining up the golden with the actual output (Polygraphy's shape matching), the elements in
//! C order, and the NumPy type of their difference.

use std::borrow::Cow;

use half::{bf16, f16};
use ndarray::ArrayD;

use super::numpy::Input;
use crate::Tensor;

/// Polygraphy's `_align_shapes` + `util.try_match_shape`: decides how the golden's elements line
/// up with the actual output's. `Ok(None)`: in C order as stored (equal shapes, or a reshape);
/// `Ok(Some(perm))`: the golden transposed by `perm` first; `Err`: not comparable.
pub(super) fn align_shapes(
    actual: &[usize],
    golden: &[usize],
    check_shapes: bool,
) -> Result<Option<Vec<usize>>, String> {
    if actual == golden {
        return Ok(None);
    }
    if check_shapes {
        return Err(format!(
            "will not compare outputs of different shapes {actual:?} (actual) and {golden:?} \
             (golden); disable the shape check (--no-shape-check) to compare them anyway"
        ));
    }
    let (na, ng): (usize, usize) = (actual.iter().product(), golden.iter().product());
    if na != ng {
        return Err(format!(
            "cannot match shape {golden:?} (golden, {ng} elements) to {actual:?} (actual, {na} \
             elements); the outputs have different sizes"
        ));
    }
    // Same rank and the same dimensions in another order: Polygraphy transposes, taking for each
    // dimension of `actual` the first golden axis of that length not used yet.
    let mut sorted_a = actual.to_vec();
    let mut sorted_g = golden.to_vec();
    sorted_a.sort_unstable();
    sorted_g.sort_unstable();
    if actual.len() != golden.len() || sorted_a != sorted_g {
        return Ok(None);
    }
    let mut used = vec![false; golden.len()];
    let mut perm = Vec::with_capacity(actual.len());
    for &d in actual {
        let axis = (0..golden.len()).find(|&i| !used[i] && golden[i] == d).ok_or_else(|| {
            format!("cannot permute shape {golden:?} (golden) to {actual:?} (actual)")
        })?;
        used[axis] = true;
        perm.push(axis);
    }
    Ok(Some(perm))
}

/// Applies `$body` to the slice of any [`Flat`] variant, bound to `$v`.
macro_rules! flat_map {
    ($flat:expr, $v:ident => $body:expr) => {
        match $flat {
            Flat::F32($v) => $body,
            Flat::F16($v) => $body,
            Flat::BF16($v) => $body,
            Flat::F64($v) => $body,
            Flat::I8($v) => $body,
            Flat::U8($v) => $body,
            Flat::I32($v) => $body,
            Flat::I64($v) => $body,
            Flat::Bool($v) => $body,
        }
    };
}

/// The elements of a tensor in C order (borrowed when the tensor already is).
pub(super) enum Flat<'a> {
    F32(Cow<'a, [f32]>),
    F16(Cow<'a, [f16]>),
    BF16(Cow<'a, [bf16]>),
    F64(Cow<'a, [f64]>),
    I8(Cow<'a, [i8]>),
    U8(Cow<'a, [u8]>),
    I32(Cow<'a, [i32]>),
    I64(Cow<'a, [i64]>),
    Bool(Cow<'a, [bool]>),
}

/// The elements of `a` in C order, after transposing by `perm` if given.
pub(super) fn c_order<'a, T: Copy>(a: &'a ArrayD<T>, perm: Option<&[usize]>) -> Cow<'a, [T]> {
    match perm {
        Some(p) => Cow::Owned(a.view().permuted_axes(p.to_vec()).iter().copied().collect()),
        None => match a.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(a.iter().copied().collect()),
        },
    }
}

impl<'a> Flat<'a> {
    pub(super) fn of(t: &'a Tensor, perm: Option<&[usize]>) -> Self {
        match t {
            Tensor::F32(a) => Flat::F32(c_order(a, perm)),
            Tensor::F16(a) => Flat::F16(c_order(a, perm)),
            Tensor::BF16(a) => Flat::BF16(c_order(a, perm)),
            Tensor::F64(a) => Flat::F64(c_order(a, perm)),
            Tensor::I8(a) => Flat::I8(c_order(a, perm)),
            Tensor::U8(a) => Flat::U8(c_order(a, perm)),
            Tensor::I32(a) => Flat::I32(c_order(a, perm)),
            Tensor::I64(a) => Flat::I64(c_order(a, perm)),
            Tensor::Bool(a) => Flat::Bool(c_order(a, perm)),
        }
    }

    /// The number of elements.
    pub(super) fn len(&self) -> usize {
        flat_map!(self, v => v.len())
    }

    /// The elements as NumPy's `astype(float32)` makes them.
    pub(super) fn to_f32s(&self) -> Vec<f32> {
        flat_map!(self, v => v.iter().map(|&x| x.f32v()).collect())
    }

    /// The elements as NumPy's `astype(float64)` makes them.
    pub(super) fn to_f64s(&self) -> Vec<f64> {
        flat_map!(self, v => v.iter().map(|&x| x.f64v()).collect())
    }

    /// The elements as NumPy's `astype(int64)` makes them (integers and bools).
    pub(super) fn to_i64s(&self) -> Vec<i64> {
        flat_map!(self, v => v.iter().map(|&x| x.i64v()).collect())
    }

    /// The type Polygraphy's `cast_up` widens this element type to.
    pub(super) fn widened(&self) -> Wide {
        match self {
            Flat::F32(_) | Flat::F16(_) | Flat::BF16(_) => Wide::F32,
            Flat::F64(_) => Wide::F64,
            Flat::I8(_) | Flat::U8(_) | Flat::I32(_) => Wide::I32,
            Flat::I64(_) => Wide::I64,
            Flat::Bool(_) => Wide::Bool,
        }
    }
}

/// Element types after Polygraphy's `cast_up` (bfloat16, which NumPy lacks, is treated like
/// float16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wide {
    F32,
    F64,
    I32,
    I64,
    Bool,
}

/// The NumPy type of `absdiff`: `logical_xor` for two bools, else the promotion of the two
/// widened types (the relative difference is float32 for `F32`, float64 otherwise).
pub(super) fn absdiff_kind(a: Wide, g: Wide) -> Wide {
    use Wide::{Bool, F32, F64, I32, I64};
    match (a, g) {
        (Bool, Bool) => Bool,
        (F64, _) | (_, F64) | (F32, I32 | I64) | (I32 | I64, F32) => F64,
        (F32, _) | (_, F32) => F32,
        (I64, _) | (_, I64) => I64,
        _ => I32,
    }
}
