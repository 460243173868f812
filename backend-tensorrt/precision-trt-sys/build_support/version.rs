//! Reads the TensorRT version out of `NvInferVersion.h`.
//!
//! Shared by `build.rs` and the crate's tests (through `#[path]`), so it depends on nothing.

use std::collections::HashMap;

/// A TensorRT version as its headers declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrtVersion {
    /// `NV_TENSORRT_MAJOR`.
    pub major: u32,
    /// `NV_TENSORRT_MINOR`.
    pub minor: u32,
    /// `NV_TENSORRT_PATCH`.
    pub patch: u32,
}

impl TrtVersion {
    /// `major * 10000 + minor * 100 + patch`, the encoding of `getInferLibVersion()`.
    pub fn encoded(self) -> u32 {
        self.major * 10_000 + self.minor * 100 + self.patch
    }
}

impl std::fmt::Display for TrtVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses `NV_TENSORRT_MAJOR`, `_MINOR` and `_PATCH` from the text of `NvInferVersion.h`.
///
/// A macro may be defined as a number or as the name of another macro defined as a number
/// (`#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE`); one level of indirection is followed.
/// `None` when a part is missing or not a number.
pub fn parse(header: &str) -> Option<TrtVersion> {
    let defines = defines(header);
    let value = |name: &str| -> Option<u32> {
        let raw = defines.get(name)?;
        number(raw).or_else(|| defines.get(raw.as_str()).and_then(|inner| number(inner)))
    };
    Some(TrtVersion {
        major: value("NV_TENSORRT_MAJOR")?,
        minor: value("NV_TENSORRT_MINOR")?,
        patch: value("NV_TENSORRT_PATCH")?,
    })
}

/// Every object-like `#define NAME VALUE` of a header (the value's first token).
fn defines(header: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in header.lines() {
        let Some(rest) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix("define") else {
            continue;
        };
        let rest = rest.split("//").next().unwrap_or_default();
        let rest = rest.split("/*").next().unwrap_or_default();
        let mut tokens = rest.split_whitespace();
        if let (Some(name), Some(value)) = (tokens.next(), tokens.next()) {
            map.insert(name.to_owned(), value.to_owned());
        }
    }
    map
}

/// A decimal number, allowing surrounding parentheses and a `u`/`U` suffix.
fn number(text: &str) -> Option<u32> {
    let trimmed = text.trim_matches(|c| c == '(' || c == ')');
    let trimmed = trimmed.trim_end_matches(['u', 'U']);
    trimmed.parse().ok()
}
