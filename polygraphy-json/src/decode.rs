//! Reading Polygraphy JSON with serde seeds that decode array payloads straight into tensors.
//!
//! serde's error type cannot carry our typed [`Error`], so a seed that finds a problem stores the
//! typed error in a shared slot and aborts with a placeholder; [`parse`] returns the stored error.

use std::cell::RefCell;
use std::fmt;
use std::io::{BufRead, BufReader};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use crate::error::{Error, Location, Result};
use crate::npy::Decoder;
use crate::stream::{PayloadReader, Payloads};
use crate::{IterationResult, RunResults, RunnerResults};
use precision_core::{NamedTensors, Tensor};

/// The value Polygraphy's legacy type marker keys hold.
pub(crate) const LEGACY_MARKER: &str = "polygraphy_serialized_json_type";
const LEGACY_PREFIX: &str = "__polygraphy_encoded_";
const CLASS_KEY: &str = "polygraphy_class";
/// Base64 characters decoded per step (a multiple of 4).
const B64_CHUNK: usize = 1 << 16;

/// State shared by the seeds of one parse: the typed error a seed leaves behind a serde abort,
/// and the tensors the stream reader decoded.
#[derive(Default)]
pub(crate) struct Slot {
    error: RefCell<Option<Error>>,
    payloads: Payloads,
}

fn fail<E: de::Error>(slot: &Slot, err: Error) -> E {
    let msg = err.to_string();
    *slot.error.borrow_mut() = Some(err);
    E::custom(msg)
}

/// Deserializes one JSON document from `reader` with `seed` (built around `slot`), returning the
/// typed error a seed stored, or `serde_json`'s error mapped to ours.
///
/// Array payloads are decoded while they stream past (see [`crate::stream`]); `size`, the
/// input's length if known, bounds how much element storage is reserved up front.
pub(crate) fn parse<S, T>(
    reader: impl BufRead,
    size: Option<u64>,
    at: &Location,
    slot: &Slot,
    seed: S,
) -> Result<T>
where
    S: for<'de> DeserializeSeed<'de, Value = T>,
{
    let reader =
        BufReader::with_capacity(1 << 16, PayloadReader::new(reader, &slot.payloads, size));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    result.map_err(|e| slot.error.borrow_mut().take().unwrap_or_else(|| json_error(&e, at)))
}

fn json_error(e: &serde_json::Error, at: &Location) -> Error {
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Eof => Error::TruncatedJson { at: at.clone(), line, column },
        Category::Io => Error::Io {
            at: at.clone(),
            action: "reading",
            source: std::io::Error::other(e.to_string()),
        },
        Category::Syntax => {
            Error::Json { at: at.clone(), line, column, message: strip_position(e) }
        }
        Category::Data => Error::Structure {
            at: at.clone(),
            expected: "the Polygraphy format".to_owned(),
            found: format!("{} (line {line}, column {column})", strip_position(e)),
        },
    }
}

/// `serde_json`'s message without its " at line L column C" suffix (we report those separately).
fn strip_position(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    }
}

/// Which Polygraphy class a marker key or `polygraphy_class` value names.
fn class_from_key(key: &str) -> Option<&str> {
    key.strip_prefix(LEGACY_PREFIX).or(if key == "LazyNumpyArray" { Some(key) } else { None })
}

/// Reads a marker's value: a class name for `polygraphy_class`, the legacy marker otherwise.
fn read_class<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
    slot: &Slot,
    at: &Location,
) -> Result<Option<String>, A::Error> {
    let value: serde_json::Value = map.next_value()?;
    if key == CLASS_KEY {
        return match value {
            serde_json::Value::String(s) => Ok(Some(s)),
            other => Err(fail(
                slot,
                Error::structure(at, "a string for polygraphy_class", describe_json(&other)),
            )),
        };
    }
    match (class_from_key(key), value) {
        (Some(class), serde_json::Value::String(s)) if s == LEGACY_MARKER => {
            Ok(Some(class.to_owned()))
        }
        // Not a marker after all: an ordinary key that Polygraphy would ignore.
        _ => Ok(None),
    }
}

fn describe_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => format!("the number {n}"),
        serde_json::Value::String(s) => format!("the string '{s}'"),
        serde_json::Value::Array(_) => "a JSON list".to_owned(),
        serde_json::Value::Object(_) => "a JSON object".to_owned(),
    }
}

fn is_marker_key(key: &str) -> bool {
    key == CLASS_KEY || class_from_key(key).is_some()
}

fn check_class(at: &Location, class: Option<&str>, allowed: &[&str]) -> Result<()> {
    match class {
        Some(c) if allowed.contains(&c) => Ok(()),
        Some(c) => Err(Error::WrongClass {
            at: at.clone(),
            expected: allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" or "),
            found: c.to_owned(),
        }),
        None => Err(Error::structure(
            at,
            format!("an object with polygraphy_class '{}'", allowed[0]),
            "an object without polygraphy_class",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Arrays

/// An `ndarray` or `LazyArray` object, decoded into a tensor.
pub(crate) struct ArraySeed<'s> {
    pub(crate) slot: &'s Slot,
    pub(crate) at: Location,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_> {
    type Value = Tensor;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Tensor, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_> {
    type Value = Tensor;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an ndarray or LazyArray object for {}", self.at.item())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Tensor, A::Error> {
        Err(fail(
            self.slot,
            Error::structure(&self.at, "an ndarray or LazyArray object", "a JSON list"),
        ))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Tensor, E> {
        Err(fail(
            self.slot,
            Error::structure(&self.at, "an ndarray or LazyArray object", "a string"),
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tensor, A::Error> {
        let mut class: Option<String> = None;
        let mut array: Option<Tensor> = None;
        let mut values: Option<Tensor> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "array" => {
                    if array.is_some() {
                        return Err(fail(
                            self.slot,
                            Error::structure(&self.at, "one 'array' key", "two"),
                        ));
                    }
                    array =
                        Some(map.next_value_seed(PayloadSeed { slot: self.slot, at: &self.at })?);
                }
                "values" => {
                    if values.is_some() {
                        return Err(fail(
                            self.slot,
                            Error::structure(&self.at, "one 'values' key", "two"),
                        ));
                    }
                    values = Some(
                        map.next_value_seed(ArraySeed { slot: self.slot, at: self.at.clone() })?,
                    );
                }
                k if is_marker_key(k) => {
                    if let Some(c) = read_class(&mut map, k, self.slot, &self.at)? {
                        class = Some(c);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let result = match (array, values) {
            (Some(t), None) => check_class(&self.at, class.as_deref(), &["ndarray"]).map(|()| t),
            (None, Some(t)) => {
                check_class(&self.at, class.as_deref(), &["LazyArray", "LazyNumpyArray"])
                    .map(|()| t)
            }
            (None, None) => match class {
                Some(c) if c != "ndarray" && !c.starts_with("Lazy") => Err(Error::WrongClass {
                    at: self.at.clone(),
                    expected: "'ndarray' or 'LazyArray'".to_owned(),
                    found: c,
                }),
                _ => Err(Error::structure(
                    &self.at,
                    "an ndarray object with an 'array' key or a LazyArray with 'values'",
                    "neither key",
                )),
            },
            (Some(_), Some(_)) => Err(Error::structure(
                &self.at,
                "either 'array' (ndarray) or 'values' (LazyArray)",
                "both keys",
            )),
        };
        result.map_err(|e| fail(self.slot, e))
    }
}

/// The `array` string of an ndarray: base64 of a `.npy` file, or (legacy) its bytes as latin-1.
struct PayloadSeed<'a> {
    slot: &'a Slot,
    at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Tensor;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Tensor, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for PayloadSeed<'_> {
    type Value = Tensor;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a base64 string of a .npy file for {}", self.at.item())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Tensor, E> {
        let result = match self.slot.payloads.take(s) {
            Some(decoded) => decoded.map_err(|e| e.relocated(self.at)),
            None => decode_payload(s, self.at),
        };
        result.map_err(|e| fail(self.slot, e))
    }
}

/// Decodes an ndarray payload string into a tensor, in bounded chunks.
pub(crate) fn decode_payload(s: &str, at: &Location) -> Result<Tensor> {
    // The .npy magic starts with byte 0x93, which is not a base64 character: a latin-1 payload
    // (written by old Polygraphy versions) is recognised by its first character. Polygraphy itself
    // tries base64 first and falls back to latin-1 on any failure, which decides the same way for
    // every payload that can be read.
    if s.starts_with('\u{93}') {
        return decode_latin1(s, at);
    }
    crate::stream::decode_base64(s.as_bytes()).map_err(|e| e.relocated(at))
}

fn decode_latin1(s: &str, at: &Location) -> Result<Tensor> {
    let total = s.chars().count();
    let mut decoder = Decoder::new(at.clone(), Some(total as u64));
    let mut buf = Vec::with_capacity(B64_CHUNK);
    for (i, c) in s.chars().enumerate() {
        let Ok(b) = u8::try_from(u32::from(c)) else {
            return Err(Error::Base64 {
                at: at.clone(),
                message: format!(
                    "the payload is neither base64 nor latin-1: character {c:?} at position {i} \
                     is outside latin-1"
                ),
            });
        };
        buf.push(b);
        if buf.len() == B64_CHUNK {
            decoder.push(&buf)?;
            buf.clear();
        }
    }
    decoder.push(&buf)?;
    decoder.finish()
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// A feed dict: `{input name: ndarray}`.
struct FeedSeed<'s> {
    slot: &'s Slot,
    at: Location,
}

impl<'de> DeserializeSeed<'de> for FeedSeed<'_> {
    type Value = NamedTensors;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<NamedTensors, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FeedSeed<'_> {
    type Value = NamedTensors;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object mapping input names to ndarrays for {}", self.at.item())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedTensors, A::Error> {
        let mut feed = NamedTensors::new();
        while let Some(name) = map.next_key::<String>()? {
            if is_marker_key(&name) {
                let class: serde_json::Value = map.next_value()?;
                let found = match class {
                    serde_json::Value::String(s) if name == CLASS_KEY => s,
                    _ => name.clone(),
                };
                return Err(fail(
                    self.slot,
                    Error::WrongClass {
                        at: self.at.clone(),
                        expected: "a feed dict {input name: ndarray} (an inputs file)".to_owned(),
                        found,
                    },
                ));
            }
            let at = self.at.with(format!("input '{name}'"));
            let t = map.next_value_seed(ArraySeed { slot: self.slot, at })?;
            feed.insert(name, t);
        }
        Ok(feed)
    }
}

/// An inputs file: a list of feed dicts, or one feed dict (one file of the directory form).
pub(crate) struct InputsSeed<'s> {
    pub(crate) slot: &'s Slot,
    pub(crate) at: Location,
    /// The index of the first iteration in this file, for messages.
    pub(crate) first: usize,
}

impl<'de> DeserializeSeed<'de> for InputsSeed<'_> {
    type Value = Vec<NamedTensors>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InputsSeed<'_> {
    type Value = Vec<NamedTensors>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of {input name: ndarray} objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let at = self.at.with(format!("iteration {}", self.first + out.len()));
            match seq.next_element_seed(FeedSeed { slot: self.slot, at })? {
                Some(feed) => out.push(feed),
                None => return Ok(out),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let at = self.at.with(format!("iteration {}", self.first));
        let feed = FeedSeed { slot: self.slot, at }.visit_map(map)?;
        Ok(vec![feed])
    }
}

// ---------------------------------------------------------------------------------------------
// RunResults

/// A `RunResults` object.
pub(crate) struct RunResultsSeed<'s> {
    pub(crate) slot: &'s Slot,
    pub(crate) at: Location,
}

impl<'de> DeserializeSeed<'de> for RunResultsSeed<'_> {
    type Value = RunResults;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RunResults, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RunResultsSeed<'_> {
    type Value = RunResults;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a RunResults object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<RunResults, A::Error> {
        Err(fail(
            self.slot,
            Error::structure(
                &self.at,
                "a RunResults object (an outputs file)",
                "a JSON list (is this an inputs file?)",
            ),
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RunResults, A::Error> {
        let mut class = None;
        let mut runners = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "lst" => {
                    runners =
                        Some(map.next_value_seed(RunnersSeed { slot: self.slot, at: &self.at })?);
                }
                k if is_marker_key(k) => {
                    if let Some(c) = read_class(&mut map, k, self.slot, &self.at)? {
                        check_class(&self.at, Some(&c), &["RunResults"])
                            .map_err(|e| fail(self.slot, e))?;
                        class = Some(c);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        check_class(&self.at, class.as_deref(), &["RunResults"]).map_err(|e| fail(self.slot, e))?;
        let Some(runners) = runners else {
            return Err(fail(
                self.slot,
                Error::structure(&self.at, "a RunResults object with an 'lst' key", "no 'lst'"),
            ));
        };
        Ok(RunResults { runners })
    }
}

struct RunnersSeed<'a> {
    slot: &'a Slot,
    at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for RunnersSeed<'_> {
    type Value = Vec<RunnerResults>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RunnersSeed<'_> {
    type Value = Vec<RunnerResults>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of [runner name, [IterationResult, ...]] pairs for 'lst'")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let seed = RunnerSeed { slot: self.slot, at: self.at.clone(), index: out.len() };
            match seq.next_element_seed(seed)? {
                Some(r) => out.push(r),
                None => return Ok(out),
            }
        }
    }
}

struct RunnerSeed<'s> {
    slot: &'s Slot,
    at: Location,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for RunnerSeed<'_> {
    type Value = RunnerResults;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RunnerSeed<'_> {
    type Value = RunnerResults;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a [runner name, [IterationResult, ...]] pair for runner #{}", self.index)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let pair = "a [runner name, [IterationResult, ...]] pair";
        let Some(name) = seq.next_element::<String>()? else {
            let at = self.at.with(format!("runner #{}", self.index));
            return Err(fail(self.slot, Error::structure(&at, pair, "an empty list")));
        };
        let at = self.at.with(format!("runner '{name}'"));
        let Some(iterations) =
            seq.next_element_seed(IterationsSeed { slot: self.slot, at: &at })?
        else {
            return Err(fail(self.slot, Error::structure(&at, pair, "only the name")));
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(fail(self.slot, Error::structure(&at, pair, "more than two items")));
        }
        Ok(RunnerResults { name, iterations })
    }
}

struct IterationsSeed<'a> {
    slot: &'a Slot,
    at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for IterationsSeed<'_> {
    type Value = Vec<IterationResult>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for IterationsSeed<'_> {
    type Value = Vec<IterationResult>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of IterationResult objects for {}", self.at.item())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let at = self.at.with(format!("iteration {}", out.len()));
            match seq.next_element_seed(IterationSeed { slot: self.slot, at })? {
                Some(it) => out.push(it),
                None => return Ok(out),
            }
        }
    }
}

struct IterationSeed<'s> {
    slot: &'s Slot,
    at: Location,
}

impl<'de> DeserializeSeed<'de> for IterationSeed<'_> {
    type Value = IterationResult;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IterationSeed<'_> {
    type Value = IterationResult;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an IterationResult object for {}", self.at.item())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut class = None;
        let mut outputs = None;
        let mut runtime = None;
        let mut runner_name = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "outputs" => {
                    outputs =
                        Some(map.next_value_seed(OutputsSeed { slot: self.slot, at: &self.at })?);
                }
                "runtime" => runtime = Some(map.next_value::<Option<f64>>()?.unwrap_or(f64::NAN)),
                "runner_name" => runner_name = map.next_value::<Option<String>>()?,
                k if is_marker_key(k) => {
                    if let Some(c) = read_class(&mut map, k, self.slot, &self.at)? {
                        check_class(&self.at, Some(&c), &["IterationResult"])
                            .map_err(|e| fail(self.slot, e))?;
                        class = Some(c);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        check_class(&self.at, class.as_deref(), &["IterationResult"])
            .map_err(|e| fail(self.slot, e))?;
        let Some(outputs) = outputs else {
            return Err(fail(
                self.slot,
                Error::structure(
                    &self.at,
                    "an IterationResult with an 'outputs' key",
                    "no 'outputs'",
                ),
            ));
        };
        Ok(IterationResult {
            outputs,
            runtime: runtime.unwrap_or(f64::NAN),
            runner_name: runner_name.unwrap_or_else(|| "custom_runner".to_owned()),
        })
    }
}

struct OutputsSeed<'a> {
    slot: &'a Slot,
    at: &'a Location,
}

impl<'de> DeserializeSeed<'de> for OutputsSeed<'_> {
    type Value = NamedTensors;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OutputsSeed<'_> {
    type Value = NamedTensors;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object mapping output names to LazyArrays for {}", self.at.item())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = NamedTensors::new();
        while let Some(name) = map.next_key::<String>()? {
            let at = self.at.with(format!("output '{name}'"));
            let t = map.next_value_seed(ArraySeed { slot: self.slot, at })?;
            out.insert(name, t);
        }
        Ok(out)
    }
}
