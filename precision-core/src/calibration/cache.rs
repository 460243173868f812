//! TensorRT's calibration cache text format: a `TRT-<version>-<algorithm>` header line and
//! one `name: <hex scale>` line per tensor, parsed with every error located.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::{self, Write as _};

use indexmap::IndexMap;

use super::{CalibrationError, CalibrationMethod, DEFAULT_TRT_VERSION, amax_from_scale};

/// A TensorRT calibration cache: the header and a scale per tensor, in file order.
///
/// The text form is `TRT-<version>-<algorithm>` on the first line, then one
/// `<tensor name>: <8 hex digits>` line per tensor, the hex being the big-endian IEEE-754
/// float32 bit pattern of the scale (`data: 3c008912` is a scale of about 0.00785, a range of
/// about 0.996). Names may contain spaces, `/` and `:`; a line is split at its last `": "`.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationCache {
    /// The TensorRT version of the header, `major * 10000 + minor * 100 + patch` for 10.x
    /// (`major * 1000 + ...` for 8.x).
    pub trt_version: u32,
    /// The calibration algorithm of the header, e.g. `EntropyCalibration2`.
    pub algorithm: String,
    /// The scale of each tensor (`amax / 127`), in file order.
    pub scales: IndexMap<String, f32>,
}

impl CalibrationCache {
    /// An empty cache for `method`, with header version [`DEFAULT_TRT_VERSION`].
    #[must_use]
    pub fn new(method: CalibrationMethod) -> Self {
        CalibrationCache {
            trt_version: DEFAULT_TRT_VERSION,
            algorithm: method.trt_algorithm().to_owned(),
            scales: IndexMap::new(),
        }
    }

    /// Parses the text of a cache; `\n` and `\r\n` line ends, blank lines and trailing
    /// whitespace are accepted.
    pub fn parse(text: &str) -> Result<Self, CacheParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.split('\n').map(str::trim_end).enumerate().map(|(i, l)| (i + 1, l));
        let (_, header) = lines.next().unwrap_or((1, ""));
        let (trt_version, algorithm) = parse_header(header)
            .ok_or_else(|| CacheParseError::BadHeader { found: snippet(header) })?;
        let mut scales = IndexMap::new();
        let mut first_line: HashMap<&str, usize> = HashMap::new();
        for (line, text) in lines {
            if text.is_empty() {
                continue;
            }
            let Some((name, hex)) = text.rsplit_once(": ") else {
                return Err(CacheParseError::MissingSeparator { line, found: snippet(text) });
            };
            if name.is_empty() {
                return Err(CacheParseError::EmptyName { line });
            }
            if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(CacheParseError::BadHex {
                    line,
                    tensor: snippet(name),
                    found: snippet(hex),
                });
            }
            let bits = u32::from_str_radix(hex, 16).expect("8 hex digits fit in u32");
            let scale = f32::from_bits(bits);
            if !scale.is_finite() || scale < 0.0 {
                return Err(CacheParseError::BadScale {
                    line,
                    tensor: snippet(name),
                    hex: hex.to_owned(),
                    scale,
                });
            }
            match first_line.entry(name) {
                Entry::Occupied(first) => {
                    return Err(CacheParseError::Duplicate {
                        line,
                        first: *first.get(),
                        tensor: snippet(name),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(line);
                }
            }
            scales.insert(name.to_owned(), scale);
        }
        Ok(CalibrationCache { trt_version, algorithm: algorithm.to_owned(), scales })
    }

    /// The text form: the header, then one line per tensor in order, `\n` line ends,
    /// lowercase hex.
    ///
    /// Tensor names must not contain line breaks (no ONNX or TensorRT name does); such a
    /// name would not read back.
    #[must_use]
    pub fn to_text(&self) -> String {
        // Header plus about 32 bytes per line.
        let mut text = String::with_capacity(64 + 32 * self.scales.len());
        writeln!(text, "TRT-{}-{}", self.trt_version, self.algorithm).expect("write to String");
        for (name, scale) in &self.scales {
            writeln!(text, "{name}: {:08x}", scale.to_bits()).expect("write to String");
        }
        text
    }

    /// Checks that the cache was written by `method`'s algorithm (TensorRT rejects a cache
    /// whose header algorithm differs from its calibrator's; so do we).
    pub fn check_method(&self, method: CalibrationMethod) -> Result<(), CalibrationError> {
        if self.algorithm == method.trt_algorithm() {
            Ok(())
        } else {
            Err(CalibrationError::AlgorithmMismatch { found: self.algorithm.clone(), method })
        }
    }

    /// The dynamic range (`scale * 127`) of `tensor`, if the cache has it.
    #[must_use]
    pub fn amax(&self, tensor: &str) -> Option<f32> {
        self.scales.get(tensor).copied().map(amax_from_scale)
    }
}

impl fmt::Display for CalibrationCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// `TRT-<digits>-<algorithm>` into its version and algorithm.
fn parse_header(header: &str) -> Option<(u32, &str)> {
    let (version, algorithm) = header.strip_prefix("TRT-")?.split_once('-')?;
    if version.is_empty()
        || !version.bytes().all(|b| b.is_ascii_digit())
        || algorithm.is_empty()
        || algorithm.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some((version.parse().ok()?, algorithm))
}

/// At most 80 characters of `text`, for error messages.
pub(super) fn snippet(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Why a calibration cache could not be read; every variant names its 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheParseError {
    /// The first line is not `TRT-<version digits>-<algorithm>`.
    #[error(
        "calibration cache line 1: expected a header like 'TRT-100300-EntropyCalibration2' \
         (TRT-<version digits>-<algorithm>), then lines like 'data: 3c008912'; found '{found}'"
    )]
    BadHeader {
        /// The first line (shortened).
        found: String,
    },
    /// A line without `": "` between a tensor name and its scale.
    #[error(
        "calibration cache line {line}: expected '<tensor name>: <8 hex digits>' like \
         'data: 3c008912', found '{found}'"
    )]
    MissingSeparator {
        /// The 1-based line number.
        line: usize,
        /// The line (shortened).
        found: String,
    },
    /// A line whose tensor name is empty.
    #[error(
        "calibration cache line {line}: the tensor name is empty; expected \
         '<tensor name>: <8 hex digits>' like 'data: 3c008912'"
    )]
    EmptyName {
        /// The 1-based line number.
        line: usize,
    },
    /// A scale that is not exactly 8 hex digits.
    #[error(
        "calibration cache line {line}: the scale of '{tensor}' must be exactly 8 hex digits \
         (the float32 bit pattern, like 'data: 3c008912'), found '{found}'"
    )]
    BadHex {
        /// The 1-based line number.
        line: usize,
        /// The tensor (shortened).
        tensor: String,
        /// The text after the last `": "` (shortened).
        found: String,
    },
    /// A scale that is NaN, infinite or negative.
    #[error(
        "calibration cache line {line}: the scale of '{tensor}' is {scale} (hex {hex}); a \
         scale must be finite and not negative, like 'data: 3c008912' (about 0.00785)"
    )]
    BadScale {
        /// The 1-based line number.
        line: usize,
        /// The tensor (shortened).
        tensor: String,
        /// The hex digits as written.
        hex: String,
        /// The scale they encode.
        scale: f32,
    },
    /// A tensor listed twice.
    #[error(
        "calibration cache line {line}: tensor '{tensor}' already has a scale on line {first}; \
         each tensor may appear once"
    )]
    Duplicate {
        /// The 1-based line number of the repetition.
        line: usize,
        /// The 1-based line number of the first occurrence.
        first: usize,
        /// The tensor (shortened).
        tensor: String,
    },
}

impl CacheParseError {
    /// The 1-based line number the error concerns.
    #[must_use]
    pub fn line(&self) -> usize {
        match self {
            CacheParseError::BadHeader { .. } => 1,
            CacheParseError::MissingSeparator { line, .. }
            | CacheParseError::EmptyName { line }
            | CacheParseError::BadHex { line, .. }
            | CacheParseError::BadScale { line, .. }
            | CacheParseError::Duplicate { line, .. } => *line,
        }
    }
}
