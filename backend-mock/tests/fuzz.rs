//! Fuzzing the spec parser with proptest: arbitrary text, truncations and byte mutations of
//! valid specs must give a network or a `MockError`, never a panic.

use backend_mock::MockBackend;
use backend_mock::testing::{GenOptions, arb_spec, to_toml};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = MockBackend::from_toml_str(&text, "fuzz");
    }

    #[test]
    fn truncated_and_mutated_specs_never_panic(
        spec in arb_spec(GenOptions::default()),
        cut in 0.0f64..1.0,
        flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..6),
    ) {
        let text = to_toml(&spec);
        let truncated: String = text.chars().take((text.chars().count() as f64 * cut) as usize).collect();
        let _ = MockBackend::from_toml_str(&truncated, "fuzz");
        let mut bytes = text.into_bytes();
        for (at, byte) in flips {
            let i = ((bytes.len() as f64) * at) as usize;
            if i < bytes.len() {
                bytes[i] = byte;
            }
        }
        let mutated = String::from_utf8_lossy(&bytes);
        if let Err(err) = MockBackend::from_toml_str(&mutated, "fuzz") {
            // Every error names the file it concerns.
            prop_assert!(err.to_string().contains("fuzz"), "{err}");
        }
    }
}
