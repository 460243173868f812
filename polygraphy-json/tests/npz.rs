//! `.npz` archives: round trips, NumPy's own archives (`np.savez`, `np.savez_compressed`
//! through `PRECISION_PYTHON`), hostile archives (zip bombs, lying sizes, names twice, other
//! entries and methods), and property tests: random and mutated bytes never panic.

mod common;

use std::io::{Cursor, Write};

use ndarray::{ArrayD, IxDyn};
use polygraphy_json::npz::{self, NpzLimits};
use polygraphy_json::{Location, NamedTensors, Tensor, npy};
use proptest::prelude::*;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fn f32s(shape: &[usize], start: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let values = (0..n).map(|i| start + i as f32).collect();
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), values).unwrap())
}

fn sample() -> NamedTensors {
    let mut t = NamedTensors::new();
    t.insert("x".into(), f32s(&[2, 3], 0.5));
    t.insert("ids".into(), Tensor::I64(ArrayD::from_elem(IxDyn(&[4]), 7)));
    t
}

fn read(bytes: &[u8], limits: &NpzLimits) -> polygraphy_json::Result<NamedTensors> {
    npz::read_from(Cursor::new(bytes), &Location::memory(), limits)
}

/// An archive of raw entries (name, bytes, method).
fn archive(entries: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, method) in entries {
        zip.start_file(*name, SimpleFileOptions::default().compression_method(*method)).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn round_trips_in_order_with_every_dtype() {
    let mut tensors = NamedTensors::new();
    for (i, t) in common::sample_tensors(&[2, 3]).into_iter().enumerate() {
        tensors.insert(format!("a{i}"), t);
    }
    tensors.insert("scalar".into(), f32s(&[], 1.0));
    let back = read(&npz::to_bytes(&tensors), &NpzLimits::default()).unwrap();
    assert_eq!(back, tensors);
}

#[test]
fn deflated_entries_are_read() {
    let x = npy::to_bytes(&f32s(&[64], 0.0));
    let bytes = archive(&[("x.npy", &x, CompressionMethod::Deflated)]);
    let back = read(&bytes, &NpzLimits::default()).unwrap();
    assert_eq!(back["x"], f32s(&[64], 0.0));
}

#[test]
fn a_zip_bomb_is_refused_before_inflating() {
    // 64 MiB of zeros deflate to about 64 KiB.
    let huge = Tensor::U8(ArrayD::zeros(IxDyn(&[64 << 20])));
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file("x.npy", options).unwrap();
    npy::write(&mut zip, &huge).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 1 << 20, "{}", bytes.len());
    let limits = NpzLimits { max_array_bytes: 1 << 20, max_total_bytes: 1 << 20, max_entries: 4 };
    let err = read(&bytes, &limits).unwrap_err().to_string();
    assert!(err.contains("array 'x'") && err.contains("more than the 1048576"), "{err}");
    // Many entries that together pass the total limit are refused too.
    let small = npy::to_bytes(&f32s(&[100_000], 0.0));
    let entries: Vec<(String, &[u8], CompressionMethod)> =
        (0..3).map(|i| (format!("a{i}.npy"), &small[..], CompressionMethod::Stored)).collect();
    let named: Vec<(&str, &[u8], CompressionMethod)> =
        entries.iter().map(|(n, b, m)| (n.as_str(), *b, *m)).collect();
    let limits = NpzLimits { max_array_bytes: 500_000, max_total_bytes: 900_000, max_entries: 4 };
    let err = read(&archive(&named), &limits).unwrap_err().to_string();
    assert!(err.contains("in all"), "{err}");
    let limits = NpzLimits { max_entries: 2, ..NpzLimits::default() };
    let err = read(&archive(&named), &limits).unwrap_err().to_string();
    assert!(err.contains("3 entries"), "{err}");
}

#[test]
fn a_header_larger_than_the_declared_size_is_refused() {
    // A header claiming 1e9 float32 values, followed by 16 bytes.
    let mut lying = npy::to_bytes(&f32s(&[4], 0.0));
    let at = find(&lying, b"(4,), }");
    lying.splice(at..at + 7, b"(999999999,), }".iter().copied());
    // Keep the header's length: drop as many of its padding spaces.
    let end = find(&lying, b"\n");
    lying.drain(end - 8..end);
    let bytes = archive(&[("x.npy", &lying, CompressionMethod::Deflated)]);
    let err = read(&bytes, &NpzLimits::default()).unwrap_err().to_string();
    assert!(err.contains("array 'x'") && err.contains("wrong length"), "{err}");
}

#[test]
fn lying_entry_sizes_are_errors() {
    let x = npy::to_bytes(&f32s(&[256], 0.0));
    let good = archive(&[("x.npy", &x, CompressionMethod::Deflated)]);
    // The reader goes by the central directory: its uncompressed size patched smaller or
    // larger than the data is an error either way.
    let offset = find(&good, b"PK\x01\x02") + 24;
    for size in [128u32, 1100, 100_000] {
        let mut bad = good.clone();
        bad[offset..offset + 4].copy_from_slice(&size.to_le_bytes());
        assert!(read(&bad, &NpzLimits::default()).is_err(), "declared {size}");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn names_twice_other_entries_and_methods_are_refused() {
    let x = npy::to_bytes(&f32s(&[2], 0.0));
    // The zip writer refuses a name twice, so the second is written under another name of the
    // same length and renamed in the bytes.
    let mut twice = archive(&[
        ("x.npy", &x, CompressionMethod::Stored),
        ("y.npy", &x, CompressionMethod::Stored),
    ]);
    let mut at = 0;
    while let Some(p) = twice[at..].windows(5).position(|w| w == b"y.npy") {
        twice[at + p] = b'x';
        at += p + 1;
    }
    let err = read(&twice, &NpzLimits::default()).unwrap_err().to_string();
    assert!(err.contains("a name is given more than once"), "{err}");
    let other = archive(&[("notes.txt", b"hello", CompressionMethod::Stored)]);
    let err = read(&other, &NpzLimits::default()).unwrap_err().to_string();
    assert!(err.contains("'notes.txt' is not an .npy array"), "{err}");
    let err = read(b"PK\x03\x04 not really", &NpzLimits::default()).unwrap_err().to_string();
    assert!(err.contains("not a readable zip archive"), "{err}");
    let err = read(&npy::to_bytes(&f32s(&[2], 0.0)), &NpzLimits::default()).unwrap_err();
    assert!(err.to_string().contains("cannot read the .npz archive"), "{err}");
}

#[test]
fn npy_files_past_the_limit_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    std::fs::write(&path, npy::to_bytes(&f32s(&[1 << 20], 0.0))).unwrap();
    assert_eq!(npz::read_npy_file(&path, 4 << 20).unwrap(), f32s(&[1 << 20], 0.0));
    let err = npz::read_npy_file(&path, 1 << 10).unwrap_err().to_string();
    assert!(err.contains("more than the 1024 allowed"), "{err}");
}

/// NumPy reads what we write, and we read what NumPy writes, compressed or not.
#[test]
fn numpy_archives_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.npz");
    std::fs::write(&ours, npz::to_bytes(&sample())).unwrap();
    let stored = dir.path().join("stored.npz");
    let compressed = dir.path().join("compressed.npz");
    let script = r"
import sys
import numpy as np
ours = np.load(sys.argv[1])
assert list(ours.keys()) == ['x', 'ids'], list(ours.keys())
assert ours['x'].dtype == np.float32 and ours['x'].shape == (2, 3)
assert (ours['x'].ravel() == np.arange(6) + 0.5).all()
assert ours['ids'].dtype == np.int64 and (ours['ids'] == 7).all()
x = (np.arange(6, dtype=np.float32) + 0.5).reshape(2, 3)
ids = np.full(4, 7, dtype=np.int64)
np.savez(sys.argv[2], x=x, ids=ids)
np.savez_compressed(sys.argv[3], x=x, ids=ids)
print('ok')
";
    let out =
        common::run_python(script, &[ours.as_os_str(), stored.as_os_str(), compressed.as_os_str()]);
    assert_eq!(out.trim(), "ok");
    for path in [&stored, &compressed] {
        let back = npz::read_file(path, &NpzLimits::default()).unwrap();
        assert_eq!(back, sample(), "{}", path.display());
    }
}

fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 256;
    }
    c
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, with or without the zip signature in front, never panic.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), zip in any::<bool>()) {
        let mut data = if zip { b"PK\x03\x04".to_vec() } else { Vec::new() };
        data.extend(bytes);
        let limits = NpzLimits { max_array_bytes: 1 << 20, max_total_bytes: 1 << 20, max_entries: 16 };
        let _ = read(&data, &limits);
    }

    /// Valid archives (stored or deflated) with bytes changed, cut or inserted never panic,
    /// and what they read back stays within the limits.
    #[test]
    fn mutated_archives_never_panic(
        deflate in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let method = if deflate { CompressionMethod::Deflated } else { CompressionMethod::Stored };
        let x = npy::to_bytes(&f32s(&[3, 5], 1.0));
        let ids = npy::to_bytes(&Tensor::I64(ArrayD::from_elem(IxDyn(&[4]), 7)));
        let mut data = archive(&[("x.npy", &x, method), ("ids.npy", &ids, method)]);
        for (at, byte, kind) in edits {
            if data.is_empty() {
                break;
            }
            let i = at.index(data.len());
            match kind {
                0 => data[i] = byte,
                1 => data.truncate(i),
                _ => data.insert(i, byte),
            }
        }
        let limits = NpzLimits { max_array_bytes: 1 << 16, max_total_bytes: 1 << 17, max_entries: 8 };
        if let Ok(tensors) = read(&data, &limits) {
            for t in tensors.values() {
                prop_assert!(t.size_in_bytes() as u64 <= 1 << 16);
            }
        }
    }
}
