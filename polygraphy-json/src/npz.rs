//! NumPy `.npz` archives (`np.savez`, `np.savez_compressed`): a zip file of `.npy` arrays, one
//! per name (`x.npy` holds the array named `x`).
//!
//! Archives come from users and may be hostile, so reading is bounded before anything is
//! inflated: each entry's declared (uncompressed) size must fit [`NpzLimits`], the sum of the
//! declared sizes too, and the `.npy` header inside must describe an array no larger than the
//! declared size (the decoder checks the header's shape against it, so storage is reserved
//! exactly once and never beyond the limit). The inflated stream is read through a bound of
//! the declared size, so a lying size cannot make it grow. Only stored and deflated entries are
//! read (the two methods NumPy writes); a name given twice, an entry that is not `.npy`, or any
//! malformed part is an error naming the file and the array.
//!
//! Writing stores arrays uncompressed (as `np.savez`), in the order given.

use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::Path;

use precision_core::{NamedTensors, Tensor};
use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::error::{Error, Location, Result};
use crate::npy::{self, Decoder};

/// The room for one `.npy` header and its prefix on top of an array's data (NumPy writes 128
/// bytes; 64 KiB holds any real shape).
const HEADER_SLACK: u64 = 64 << 10;

/// What one archive may make the reader allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpzLimits {
    /// The largest array data, in bytes (the header may add up to 1 MiB on top).
    pub max_array_bytes: u64,
    /// The largest sum of the entries' declared sizes, in bytes.
    pub max_total_bytes: u64,
    /// The most entries an archive may hold.
    pub max_entries: usize,
}

impl Default for NpzLimits {
    /// 4 GiB per array and in all, 4096 arrays.
    fn default() -> Self {
        NpzLimits { max_array_bytes: 4 << 30, max_total_bytes: 4 << 30, max_entries: 4096 }
    }
}

fn problem(at: &Location, text: impl Into<String>) -> Error {
    Error::Npz { at: at.clone(), problem: text.into() }
}

fn zip_problem(at: &Location, e: ZipError) -> Error {
    match e {
        ZipError::Io(source) => Error::io(at, "reading", source),
        other => problem(at, format!("not a readable zip archive ({other})")),
    }
}

/// Reads the `.npz` file at `path`: its arrays by name, in archive order.
pub fn read_file(path: &Path, limits: &NpzLimits) -> Result<NamedTensors> {
    let at = Location::file(path);
    let file = File::open(path).map_err(|e| Error::io(&at, "opening", e))?;
    read_from(BufReader::with_capacity(1 << 16, file), &at, limits)
}

/// Reads an `.npz` archive from `reader`; `at` names it in errors.
pub fn read_from<R: Read + Seek>(
    reader: R,
    at: &Location,
    limits: &NpzLimits,
) -> Result<NamedTensors> {
    let mut reader = reader;
    let listed = directory_entries(&mut reader).map_err(|e| Error::io(at, "reading", e))?;
    let mut archive = ZipArchive::new(reader).map_err(|e| zip_problem(at, e))?;
    // The zip reader keeps one entry per name: fewer entries than the directory lists means a
    // name given twice, which would silently pick one of the arrays.
    if let Some(listed) = listed
        && listed != archive.len() as u64
    {
        return Err(problem(
            at,
            format!(
                "its directory lists {listed} entries but {} distinct names: a name is given \
                 more than once",
                archive.len()
            ),
        ));
    }
    if archive.len() > limits.max_entries {
        return Err(problem(
            at,
            format!(
                "it holds {} entries, more than the {} allowed",
                archive.len(),
                limits.max_entries
            ),
        ));
    }
    // Every entry's declared size is checked before any is inflated.
    let mut names: Vec<String> = Vec::with_capacity(archive.len());
    let mut sizes: Vec<u64> = Vec::with_capacity(archive.len());
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|e| zip_problem(at, e))?;
        let raw_name = entry.name().to_owned();
        let Some(name) = raw_name.strip_suffix(".npy") else {
            return Err(problem(
                at,
                format!(
                    "entry '{}' is not an .npy array (np.savez names every entry NAME.npy)",
                    raw_name.escape_debug()
                ),
            ));
        };
        let array_at = at.with(format!("array '{}'", name.escape_debug()));
        if names.iter().any(|n| n == name) {
            return Err(problem(&array_at, "the archive holds this name twice"));
        }
        match entry.compression() {
            CompressionMethod::Stored | CompressionMethod::Deflated => {}
            other => {
                return Err(problem(
                    &array_at,
                    format!(
                        "compression method {other:?} is not supported (only stored and deflated, \
                         as np.savez and np.savez_compressed write)"
                    ),
                ));
            }
        }
        let size = entry.size();
        if size > limits.max_array_bytes.saturating_add(HEADER_SLACK) {
            return Err(problem(
                &array_at,
                format!(
                    "it declares {size} bytes, more than the {} allowed for one array",
                    limits.max_array_bytes
                ),
            ));
        }
        total = total.saturating_add(size.saturating_sub(HEADER_SLACK.min(size)));
        if total > limits.max_total_bytes {
            return Err(problem(
                at,
                format!(
                    "its arrays declare more than the {} bytes allowed in all",
                    limits.max_total_bytes
                ),
            ));
        }
        names.push(name.to_owned());
        sizes.push(size);
    }
    let mut tensors = NamedTensors::with_capacity(names.len());
    for (index, (name, size)) in names.into_iter().zip(sizes).enumerate() {
        let array_at = at.with(format!("array '{}'", name.escape_debug()));
        let entry = archive.by_index(index).map_err(|e| zip_problem(&array_at, e))?;
        let tensor = read_entry(entry, size, &array_at)?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// The number of entries the archive's end-of-directory record lists (`None` when it is not
/// found or defers to a zip64 record); the reader is left where it was.
fn directory_entries<R: Read + Seek>(reader: &mut R) -> std::io::Result<Option<u64>> {
    use std::io::SeekFrom;
    let start = reader.stream_position()?;
    let len = reader.seek(SeekFrom::End(0))?;
    // The record is 22 bytes, followed by a comment of at most 65535 bytes.
    let tail_len = len.min(22 + 65535);
    reader.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail)?;
    reader.seek(SeekFrom::Start(start))?;
    let found = tail
        .len()
        .checked_sub(22)
        .and_then(|last| (0..=last).rev().find(|&i| tail[i..].starts_with(b"PK\x05\x06")));
    Ok(found.and_then(|i| {
        let total = u16::from_le_bytes([tail[i + 10], tail[i + 11]]);
        (total != u16::MAX).then_some(u64::from(total))
    }))
}

/// Decodes one entry of `declared` bytes, reading at most one byte past it.
fn read_entry(entry: impl Read, declared: u64, at: &Location) -> Result<Tensor> {
    let mut decoder = Decoder::new(at.clone(), Some(declared));
    let mut bounded = entry.take(declared.saturating_add(1));
    let mut buf = vec![0u8; 1 << 16];
    let mut read: u64 = 0;
    loop {
        let n = match bounded.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(problem(at, format!("cannot inflate it ({e})"))),
        };
        read += n as u64;
        if read > declared {
            return Err(problem(at, format!("it inflates past its declared {declared} bytes")));
        }
        decoder.push(&buf[..n])?;
    }
    if read != declared {
        return Err(Error::DataLength {
            at: at.clone(),
            what: "the entry",
            expected: declared,
            found: read,
        });
    }
    decoder.finish()
}

/// Writes `tensors` as an `.npz` archive (stored, as `np.savez`) to `writer`, which is returned.
pub fn write_to<W: Write + Seek>(writer: W, tensors: &NamedTensors, at: &Location) -> Result<W> {
    let mut zip = ZipWriter::new(writer);
    for (name, tensor) in tensors {
        let bytes = npy::to_bytes(tensor);
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        let array_at = at.with(format!("array '{}'", name.escape_debug()));
        zip.start_file(format!("{name}.npy"), options).map_err(|e| zip_problem(&array_at, e))?;
        zip.write_all(&bytes).map_err(|e| Error::io(&array_at, "writing", e))?;
    }
    zip.finish().map_err(|e| zip_problem(at, e))
}

/// The `.npz` archive of `tensors`, in memory.
#[must_use]
pub fn to_bytes(tensors: &NamedTensors) -> Vec<u8> {
    let cursor = write_to(std::io::Cursor::new(Vec::new()), tensors, &Location::memory())
        .expect("writing to memory cannot fail");
    cursor.into_inner()
}

/// Reads the `.npy` file at `path`, refusing one larger than `max_bytes` before reading it.
pub fn read_npy_file(path: &Path, max_bytes: u64) -> Result<Tensor> {
    let at = Location::file(path);
    let file = File::open(path).map_err(|e| Error::io(&at, "opening", e))?;
    let size = file.metadata().map_err(|e| Error::io(&at, "reading", e))?.len();
    if size > max_bytes.saturating_add(HEADER_SLACK) {
        return Err(Error::NpyHeader {
            at,
            problem: format!("the file has {size} bytes, more than the {max_bytes} allowed"),
        });
    }
    let mut decoder = Decoder::new(at.clone(), Some(size));
    let mut reader = BufReader::with_capacity(1 << 16, file).take(size);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&at, "reading", e)),
        };
        decoder.push(&buf[..n])?;
    }
    decoder.finish()
}
