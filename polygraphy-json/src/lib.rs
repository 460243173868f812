//! Reads and writes the files of NVIDIA Polygraphy 0.53.6: saved inference outputs
//! (`polygraphy run --save-outputs`), saved inputs (`--save-inputs`), and the `.npy` arrays
//! inside them.
//!
//! # Formats
//!
//! Polygraphy writes JSON with four-space indentation; every custom object carries
//! `"polygraphy_class": "<TypeName>"`. Readers accept keys in any order. In Polygraphy's key
//! order (which the writers follow, so that our files equal Polygraphy's byte for byte):
//!
//! - `ndarray`: `{"array": <base64 of a .npy file>, "polygraphy_class": "ndarray"}`; see
//!   [`npy`] for the array format itself.
//! - `LazyArray`: `{"values": <ndarray>, "polygraphy_class": "LazyArray"}`.
//! - `IterationResult`: `{"outputs": {<name>: <LazyArray>, ...}, "runtime": <seconds>,`
//!   `"runner_name": <str>, "polygraphy_class": "IterationResult"}`, outputs in the model's
//!   order.
//! - `RunResults` (an outputs file, `--save-outputs`):
//!   `{"lst": [[<runner name>, [<IterationResult>, ...]], ...], "polygraphy_class": "RunResults"}`.
//! - Inputs file (`--save-inputs`): a JSON list with one `{<input name>: <ndarray>}` object per
//!   iteration.
//! - Directory form: a path without an extension is a directory of `0000000000.json`,
//!   `0000000001.json`, ... one per iteration. For outputs each file is a `RunResults` holding
//!   iteration *i* of every runner that has one (Polygraphy's `RunResults.split`); reading joins
//!   them by runner name. For inputs each file is one `{<input name>: <ndarray>}` object (a file
//!   holding a list is also accepted). A directory is written only if it does not exist yet or is
//!   empty, as in Polygraphy.
//!
//! Readers also accept the legacy forms: the marker key
//! `"__polygraphy_encoded_<Type>": "polygraphy_serialized_json_type"` instead of
//! `polygraphy_class`, the old class name `LazyNumpyArray`, ndarrays directly in `outputs`, and
//! an ndarray payload holding the `.npy` bytes as a latin-1 string instead of base64 (Polygraphy
//! tries base64 first and falls back to latin-1; since `.npy` data starts with byte 0x93, which
//! is not a base64 character, the first character decides). A missing `runtime` or `null` reads
//! as NaN, a missing `runner_name` as `custom_runner`; a non-finite runtime is written as `null`
//! (standard JSON has no literal for it). NPZ payloads and torch tensors are not supported.
//!
//! # Memory and safety
//!
//! Big arrays are held once. While the JSON parser reads a file, a reader in front of it
//! recognises each `"array"` payload string and decodes it in bounded chunks straight into the
//! tensor's element buffer, sized once from the `.npy` header; neither the base64 text nor the
//! raw `.npy` bytes are ever held whole (reading a 341 MB file holding a 256 MiB array peaks at
//! about 266 MB resident). Writing streams each array through a base64 encoder into a buffered
//! file. Every write goes to a temporary file (or directory) next to the destination, which is
//! renamed into place only on success, so a failure never leaves a half-written file.

mod decode;
mod encode;
mod error;
mod files;
pub mod npy;
pub mod npz;
mod stream;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

pub use error::{Error, Location, Result, SUPPORTED_DTYPES};
pub use precision_core::{DType, NamedTensors, Tensor};

/// The outputs of one inference iteration of one runner.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationResult {
    /// The output tensors by name, in the model's output order.
    pub outputs: NamedTensors,
    /// The time the inference took, in seconds (NaN when unknown).
    pub runtime: f64,
    /// The runner that produced the outputs.
    pub runner_name: String,
}

/// All iterations of one runner.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerResults {
    /// The runner's name, such as `onnxrt-runner-N0-11/25/26-18:33:20`.
    pub name: String,
    /// Its iterations, in order.
    pub iterations: Vec<IterationResult>,
}

/// Saved inference outputs: Polygraphy's `RunResults`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunResults {
    /// The runners, in the order they ran.
    pub runners: Vec<RunnerResults>,
}

impl RunResults {
    /// The results of the runner with this name (the first, if several share it).
    #[must_use]
    pub fn runner(&self, name: &str) -> Option<&RunnerResults> {
        self.runners.iter().find(|r| r.name == name)
    }

    /// Appends another run's iterations, joining runners by name (Polygraphy's `concat`).
    fn concat(&mut self, other: RunResults) {
        for runner in other.runners {
            match self.runners.iter_mut().find(|r| r.name == runner.name) {
                Some(existing) => existing.iterations.extend(runner.iterations),
                None => self.runners.push(runner),
            }
        }
    }
}

/// Saved inputs: one feed (input name to tensor) per iteration.
pub type InputData = Vec<NamedTensors>;

fn non_empty(results: RunResults, at: &Location) -> Result<RunResults> {
    if results.runners.is_empty() {
        return Err(Error::EmptyRunResults { at: at.clone() });
    }
    Ok(results)
}

fn parse_run_results(reader: impl BufRead, size: Option<u64>, at: &Location) -> Result<RunResults> {
    let slot = decode::Slot::default();
    decode::parse(reader, size, at, &slot, decode::RunResultsSeed { slot: &slot, at: at.clone() })
}

fn parse_inputs(
    reader: impl BufRead,
    size: Option<u64>,
    at: &Location,
    first: usize,
) -> Result<InputData> {
    let slot = decode::Slot::default();
    let seed = decode::InputsSeed { slot: &slot, at: at.clone(), first };
    decode::parse(reader, size, at, &slot, seed)
}

fn parse_run_results_file(path: &Path, at: &Location) -> Result<RunResults> {
    let (reader, size) = files::open(path)?;
    parse_run_results(reader, size, at)
}

fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

/// Reads saved outputs: a `RunResults` JSON file, or a directory of per-iteration files.
///
/// Fails if the file holds no runners.
pub fn read_run_results(path: impl AsRef<Path>) -> Result<RunResults> {
    let path = path.as_ref();
    let at = Location::file(path);
    if !is_dir(path) {
        return non_empty(parse_run_results_file(path, &at)?, &at);
    }
    let mut all = RunResults::default();
    for file in files::iteration_files(path)? {
        let file_at = Location::file(&file);
        all.concat(non_empty(parse_run_results_file(&file, &file_at)?, &file_at)?);
    }
    non_empty(all, &at)
}

/// Reads a `RunResults` JSON document from a reader (fails if it holds no runners).
pub fn run_results_from_reader(reader: impl Read) -> Result<RunResults> {
    let at = Location::memory();
    non_empty(parse_run_results(BufReader::new(reader), None, &at)?, &at)
}

/// Writes a `RunResults` JSON document to a writer, laid out as Polygraphy writes it.
pub fn run_results_to_writer(writer: impl Write, results: &RunResults) -> Result<()> {
    let at = Location::memory();
    let mut w = encode::JsonWriter::new(writer, at.clone());
    w.run_results(non_empty_ref(results, &at)?, None)?;
    w.into_inner().flush().map_err(|e| Error::io(&at, "writing", e))
}

fn non_empty_ref<'a>(results: &'a RunResults, at: &Location) -> Result<&'a RunResults> {
    if results.runners.is_empty() {
        return Err(Error::EmptyRunResults { at: at.clone() });
    }
    Ok(results)
}

/// Writes saved outputs atomically: one JSON file if `path` has an extension, otherwise a
/// directory of per-iteration files (which must not exist yet, or be empty).
pub fn write_run_results(path: impl AsRef<Path>, results: &RunResults) -> Result<()> {
    let path = path.as_ref();
    let at = Location::file(path);
    non_empty_ref(results, &at)?;
    if files::is_single_file(path) {
        return files::write_atomic(path, |w| {
            encode::JsonWriter::new(w, at.clone()).run_results(results, None)
        });
    }
    let count = results.runners.iter().map(|r| r.iterations.len()).max().unwrap_or(0);
    files::write_dir_atomic(path, count, |index, w, file_at| {
        encode::JsonWriter::new(w, file_at.clone()).run_results(results, Some(index))
    })
}

/// Reads saved inputs: a JSON file holding a list of feeds (or a single feed), or a directory
/// of per-iteration files.
pub fn read_inputs(path: impl AsRef<Path>) -> Result<InputData> {
    let path = path.as_ref();
    if !is_dir(path) {
        return {
            let (reader, size) = files::open(path)?;
            parse_inputs(reader, size, &Location::file(path), 0)
        };
    }
    let mut all = InputData::new();
    for file in files::iteration_files(path)? {
        let (reader, size) = files::open(&file)?;
        let feeds = parse_inputs(reader, size, &Location::file(&file), all.len())?;
        all.extend(feeds);
    }
    Ok(all)
}

/// Reads an inputs JSON document from a reader.
pub fn inputs_from_reader(reader: impl Read) -> Result<InputData> {
    parse_inputs(BufReader::new(reader), None, &Location::memory(), 0)
}

/// Writes an inputs JSON document (a list of feeds) to a writer.
pub fn inputs_to_writer(writer: impl Write, inputs: &[NamedTensors]) -> Result<()> {
    let at = Location::memory();
    let mut w = encode::JsonWriter::new(writer, at.clone());
    w.inputs(inputs)?;
    w.into_inner().flush().map_err(|e| Error::io(&at, "writing", e))
}

/// Writes saved inputs atomically: one JSON file if `path` has an extension, otherwise a
/// directory with one file per feed (which must not exist yet, or be empty).
pub fn write_inputs(path: impl AsRef<Path>, inputs: &[NamedTensors]) -> Result<()> {
    let path = path.as_ref();
    let at = Location::file(path);
    if files::is_single_file(path) {
        return files::write_atomic(path, |w| {
            encode::JsonWriter::new(w, at.clone()).inputs(inputs)
        });
    }
    files::write_dir_atomic(path, inputs.len(), |index, w, file_at| {
        encode::JsonWriter::new(w, file_at.clone()).single_feed(&inputs[index], index)
    })
}
