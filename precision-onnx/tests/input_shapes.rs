//! `--input-shapes` parsing on random text and random, often huge, dimensions: never a panic;
//! a shape is accepted exactly when its dimensions are integers in `0..=i64::MAX` whose
//! product (of the non-zero ones) an array can have, and it prints back as given.

use precision_onnx::InputShapes;
use proptest::prelude::*;

/// A dimension as a user might type it: small, zero, huge, past `i64`, or past `u64`.
fn dim() -> impl Strategy<Value = u128> {
    prop_oneof![
        4 => 0u128..300,
        1 => Just(0u128),
        1 => (0u32..=70).prop_map(|b| 1u128 << b),
        1 => any::<u64>().prop_map(u128::from),
        1 => prop_oneof![
            Just(i64::MAX as u128),
            Just(i64::MAX as u128 + 1),
            Just(u128::from(u64::MAX)),
            Just(u128::from(u64::MAX) * 10),
        ],
    ]
}

/// Whether a shape is acceptable, computed independently in u128.
fn acceptable(dims: &[u128]) -> bool {
    let in_range = dims.iter().all(|&d| d <= i64::MAX as u128);
    let product = dims.iter().filter(|&&d| d != 0).try_fold(1u128, |acc, &d| acc.checked_mul(d));
    in_range && product.is_some_and(|p| p <= isize::MAX as u128)
}

proptest! {
    #[test]
    fn any_text_is_answered_without_panic(text in "\\PC{0,40}") {
        let _ = text.parse::<InputShapes>();
        let _ = InputShapes::default().add(&text);
    }

    #[test]
    fn shape_like_text_is_answered_without_panic(text in "[a-z:]{0,4}\\[[0-9, -]{0,40}\\]?") {
        let _ = InputShapes::default().add(&text);
    }

    #[test]
    fn huge_dimensions_are_refused_clearly(
        name in "[a-z_/][a-z0-9_/:.]{0,10}",
        dims in prop::collection::vec(dim(), 0..6),
    ) {
        let list: Vec<String> = dims.iter().map(u128::to_string).collect();
        let arg = format!("{name}:[{}]", list.join(","));
        let mut shapes = InputShapes::default();
        match shapes.add(&arg) {
            Ok(()) => {
                prop_assert!(acceptable(&dims), "{arg} was accepted");
                let given: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
                prop_assert_eq!(&shapes.0[&name], &given);
                prop_assert_eq!(shapes.to_string(), arg);
            }
            Err(message) => {
                prop_assert!(!acceptable(&dims), "{arg} was refused: {message}");
                prop_assert!(message.contains(&arg), "{message}");
                let past_i64 = dims.iter().any(|&d| d > i64::MAX as u128);
                let expected =
                    if past_i64 { "is not a non-negative integer" } else { "more elements" };
                prop_assert!(message.contains(expected), "{message}");
            }
        }
    }
}
