//! Numeric precisions a layer can run in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A numeric precision a layer can run in, from most to least precise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// IEEE-754 single precision, the reference precision.
    Float32,
    /// IEEE-754 half precision.
    Float16,
    /// Brain floating point (8-bit exponent, 7-bit mantissa).
    #[serde(rename = "bfloat16")]
    BFloat16,
    /// 8-bit floating point (E4M3).
    Fp8,
    /// 8-bit integer quantization.
    Int8,
}

impl Precision {
    /// Every precision, most precise first.
    pub const ALL: [Precision; 5] = [
        Precision::Float32,
        Precision::Float16,
        Precision::BFloat16,
        Precision::Fp8,
        Precision::Int8,
    ];

    /// The canonical name, as Polygraphy and this tool print it (`float32`, `int8`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Float16 => "float16",
            Precision::BFloat16 => "bfloat16",
            Precision::Fp8 => "fp8",
            Precision::Int8 => "int8",
        }
    }

    /// The short name trtexec takes in `--layerPrecisions` (`fp32`, `fp16`, ...).
    #[must_use]
    pub fn trtexec_name(self) -> &'static str {
        match self {
            Precision::Float32 => "fp32",
            Precision::Float16 => "fp16",
            Precision::BFloat16 => "bf16",
            Precision::Fp8 => "fp8",
            Precision::Int8 => "int8",
        }
    }

    /// Whether this is a floating-point format (every precision but int8).
    #[must_use]
    pub fn is_float(self) -> bool {
        self != Precision::Int8
    }

    /// Orders precisions by how precise they are: a higher rank is more precise.
    ///
    /// `float32` > `float16` = `bfloat16` > `fp8` = `int8`.
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            Precision::Float32 => 3,
            Precision::Float16 | Precision::BFloat16 => 2,
            Precision::Fp8 | Precision::Int8 => 1,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a precision name that is not recognised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown precision '{0}' (expected one of: float32/fp32, float16/fp16, bfloat16/bf16, fp8, int8)"
)]
pub struct ParsePrecisionError(pub String);

impl FromStr for Precision {
    type Err = ParsePrecisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let lower = lower.strip_prefix("datatype.").unwrap_or(&lower);
        Ok(match lower {
            "float32" | "fp32" | "f32" | "float" => Precision::Float32,
            "float16" | "fp16" | "f16" | "half" => Precision::Float16,
            "bfloat16" | "bf16" => Precision::BFloat16,
            "fp8" | "float8" | "fp8e4m3" | "float8e4m3" | "float8e4m3fn" => Precision::Fp8,
            "int8" | "i8" => Precision::Int8,
            _ => return Err(ParsePrecisionError(s.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_spellings() {
        for (text, want) in [
            ("float32", Precision::Float32),
            ("FP32", Precision::Float32),
            ("DataType.FLOAT", Precision::Float32),
            ("fp16", Precision::Float16),
            ("half", Precision::Float16),
            ("bf16", Precision::BFloat16),
            ("int8", Precision::Int8),
            ("fp8", Precision::Fp8),
        ] {
            assert_eq!(text.parse::<Precision>().unwrap(), want, "{text}");
        }
        let err = "fp4".parse::<Precision>().unwrap_err();
        assert!(err.to_string().contains("'fp4'"));
    }

    #[test]
    fn names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
            assert_eq!(p.trtexec_name().parse::<Precision>().unwrap(), p);
        }
    }
}
