//! `element_count` and `byte_size` on random shapes, huge dimensions included: never a panic,
//! always the exact product, and `None` exactly when ndarray would refuse the shape.

use ndarray::{ArrayD, IxDyn};
use precision_core::{DType, byte_size, element_count};
use proptest::prelude::*;

const DTYPES: [DType; 9] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I32,
    DType::I64,
    DType::Bool,
];

/// A dimension: often small, sometimes zero, sometimes near or past the limits.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..8,
        2 => 1usize..100_000,
        1 => Just(0usize),
        1 => (1usize..=64).prop_map(|b| 1usize << (b - 1)),
        1 => any::<usize>(),
        1 => prop_oneof![Just(usize::MAX), Just(isize::MAX as usize), Just(1usize << 32)],
    ]
}

/// The product of the non-zero dimensions, in u128 (saturating past any shape's reach).
fn wide_nonzero(shape: &[usize]) -> u128 {
    shape.iter().filter(|&&d| d != 0).fold(1u128, |acc, &d| acc.saturating_mul(d as u128))
}

proptest! {
    #[test]
    fn sizes_match_exact_arithmetic(shape in prop::collection::vec(dim(), 0..8), t in 0usize..9) {
        let dtype = DTYPES[t];
        let limit = isize::MAX as u128;
        let nonzero = wide_nonzero(&shape);
        let has_zero = shape.contains(&0);
        let count = element_count(&shape);
        let bytes = byte_size(dtype, &shape);
        if nonzero <= limit {
            prop_assert_eq!(count, Some(if has_zero { 0 } else { nonzero as usize }));
        } else {
            prop_assert_eq!(count, None);
        }
        let wide_bytes = if has_zero { 0 } else { nonzero.saturating_mul(dtype.size() as u128) };
        if nonzero <= limit && wide_bytes <= limit {
            prop_assert_eq!(bytes, Some(wide_bytes as usize));
        } else {
            prop_assert_eq!(bytes, None);
        }
    }

    /// For shapes with a zero dimension (no data, whatever the other dimensions), ndarray's own
    /// check agrees with `element_count`.
    #[test]
    fn empty_shapes_agree_with_ndarray(mut shape in prop::collection::vec(dim(), 0..7), at in any::<prop::sample::Index>()) {
        let i = at.index(shape.len() + 1);
        shape.insert(i, 0);
        let ours = element_count(&shape);
        let theirs = ArrayD::<f32>::from_shape_vec(IxDyn(&shape), Vec::new());
        prop_assert_eq!(ours.is_some(), theirs.is_ok(), "{:?}", shape);
    }

    /// Shapes small enough to allocate build with ndarray, with `element_count` elements.
    #[test]
    fn small_shapes_build(shape in prop::collection::vec(0usize..6, 0..5)) {
        let n = element_count(&shape).unwrap();
        let array = ArrayD::<u8>::from_shape_vec(IxDyn(&shape), vec![0; n]).unwrap();
        prop_assert_eq!(array.len(), n);
        prop_assert_eq!(byte_size(DType::I64, &shape), Some(8 * n));
    }
}
