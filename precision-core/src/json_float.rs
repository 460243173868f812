//! Serde for `f64` that survives JSON: finite numbers as numbers, NaN and the infinities as
//! the strings `"NaN"`, `"inf"` and `"-inf"` (JSON has no literal for them, and `serde_json`
//! would otherwise write `null` and fail to read it back).
//!
//! Use with `#[serde(with = "precision_core::json_float")]`.

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `value`, non-finite values as strings.
pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if value.is_infinite() {
        serializer.serialize_str(if *value > 0.0 { "inf" } else { "-inf" })
    } else {
        serializer.serialize_f64(*value)
    }
}

/// Reads what [`serialize`] wrote.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(f64),
        Text(String),
    }
    match NumberOrText::deserialize(deserializer)? {
        NumberOrText::Number(x) => Ok(x),
        NumberOrText::Text(t) => match t.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(serde::de::Error::custom(format!(
                "expected a number, \"NaN\", \"inf\" or \"-inf\", found \"{t}\""
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug)]
    struct Wrap(#[serde(with = "super")] f64);

    #[test]
    fn non_finite_values_round_trip() {
        for x in [0.0, -1.5, 1e-300, f64::INFINITY, f64::NEG_INFINITY, f64::MAX] {
            let text = serde_json::to_string(&Wrap(x)).unwrap();
            assert_eq!(serde_json::from_str::<Wrap>(&text).unwrap().0, x, "{text}");
        }
        let nan = serde_json::to_string(&Wrap(f64::NAN)).unwrap();
        assert_eq!(nan, "\"NaN\"");
        assert!(serde_json::from_str::<Wrap>(&nan).unwrap().0.is_nan());
        assert!(serde_json::from_str::<Wrap>("\"big\"").is_err());
    }
}
