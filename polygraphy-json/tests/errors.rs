//! Bad input is reported with the file, the item inside it, and what is wrong.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ndarray::{ArrayD, IxDyn};
use polygraphy_json::{Error, Tensor, npy, read_inputs, read_run_results, run_results_from_reader};
use serde_json::json;

const OUTPUT: &str = "save_infer_model/scale_0.tmp_1";

fn f32_npy() -> Vec<u8> {
    npy::to_bytes(&Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![0.25, 0.75]).unwrap()))
}

/// A one-output `RunResults` whose ndarray payload string is `payload`.
fn outputs_with_payload(payload: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "lst": [["runner-a", [{
            "outputs": {OUTPUT: {"values": {"array": payload, "polygraphy_class": "ndarray"},
                                 "polygraphy_class": "LazyArray"}},
            "runtime": 0.5,
            "runner_name": "runner-a",
            "polygraphy_class": "IterationResult",
        }]]],
        "polygraphy_class": "RunResults",
    }))
    .unwrap()
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

/// Reads `contents` as an outputs file and returns the error and its message.
fn outputs_error(contents: impl AsRef<[u8]>) -> (Error, String) {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "bad.json", contents);
    let err = read_run_results(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "message does not name the file: {msg}");
    assert_eq!(err.location().path(), Some(path.as_path()));
    (err, msg)
}

const WHERE: &str = "runner 'runner-a', iteration 0, output 'save_infer_model/scale_0.tmp_1'";

#[test]
fn not_json() {
    let (err, msg) = outputs_error("{\n    \"lst\": [nope]\n}");
    assert!(matches!(err, Error::Json { line: 2, .. }), "{err:?}");
    assert!(msg.contains("not valid JSON at line 2, column"), "{msg}");
}

#[test]
fn truncated_json() {
    let sample = std::fs::read(common::samples_dir().join("outputs.json")).unwrap();
    let (err, msg) = outputs_error(&sample[..sample.len() / 2]);
    assert!(matches!(err, Error::TruncatedJson { .. }), "{err:?}");
    assert!(msg.contains("JSON ends early at line 11, column"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
    // Truncated inside an array payload string.
    let (err, _) = outputs_error(&sample[..400]);
    assert!(matches!(err, Error::TruncatedJson { .. }), "{err:?}");
}

#[test]
fn trailing_garbage_after_the_document() {
    let (err, msg) = outputs_error(outputs_with_payload(&STANDARD.encode(f32_npy())) + " x");
    assert!(matches!(err, Error::Json { .. }), "{err:?}");
    assert!(msg.contains("trailing characters"), "{msg}");
}

#[test]
fn wrong_kind_of_file() {
    let inputs = common::samples_dir().join("inputs.json");
    let err = read_run_results(&inputs).unwrap_err();
    assert!(err.to_string().contains("is this an inputs file?"), "{err}");
    let err = read_inputs(common::samples_dir().join("outputs.json")).unwrap_err();
    assert!(err.to_string().contains("input 'lst'"), "{err}");
    assert!(
        err.to_string().contains("expected an ndarray or LazyArray object, found a JSON list"),
        "{err}"
    );
    let (err, msg) = outputs_error(r#"{"lst": [], "polygraphy_class": "AccuracyResult"}"#);
    assert!(matches!(err, Error::WrongClass { .. }), "{err:?}");
    assert!(
        msg.contains("polygraphy_class is 'AccuracyResult' but 'RunResults' was expected"),
        "{msg}"
    );
    let doc =
        outputs_with_payload(&STANDARD.encode(f32_npy())).replace("\"LazyArray\"", "\"Tensor\"");
    let (err, msg) = outputs_error(doc);
    assert!(matches!(err, Error::WrongClass { .. }), "{err:?}");
    assert!(msg.contains(WHERE) && msg.contains("'Tensor'"), "{msg}");
    let (_, msg) = outputs_error(r#"{"lst": []}"#);
    assert!(msg.contains("without polygraphy_class"), "{msg}");
}

#[test]
fn bad_base64() {
    let mut payload = STANDARD.encode(f32_npy());
    payload.replace_range(10..11, "!");
    let (err, msg) = outputs_error(outputs_with_payload(&payload));
    assert!(matches!(err, Error::Base64 { .. }), "{err:?}");
    assert!(msg.contains(WHERE), "{msg}");
    assert!(msg.contains("invalid character '!' at offset 10"), "{msg}");
    let (_, msg) = outputs_error(outputs_with_payload(&payload[..payload.len() - 3]));
    assert!(msg.contains("not a multiple of 4"), "{msg}");
}

#[test]
fn bad_npy_magic() {
    let (err, msg) = outputs_error(outputs_with_payload(&STANDARD.encode(b"hello world!")));
    assert!(matches!(err, Error::NpyMagic { .. }), "{err:?}");
    assert!(msg.contains(WHERE), "{msg}");
    assert!(msg.contains("expected magic \\x93NUMPY, found b\"hello world!\""), "{msg}");
    let (_, msg) = outputs_error(outputs_with_payload(&STANDARD.encode(b"PK\x03\x04rest")));
    assert!(msg.contains(".npz archive"), "{msg}");
    let e = npy::read(b"").unwrap_err();
    assert!(e.to_string().contains("found no data"), "{e}");
}

#[test]
fn unsupported_dtype_lists_the_supported_ones() {
    let mut bytes = f32_npy();
    let i = bytes.windows(3).position(|w| w == b"<f4").unwrap();
    bytes[i..i + 3].copy_from_slice(b"<c8");
    let (err, msg) = outputs_error(outputs_with_payload(&STANDARD.encode(&bytes)));
    assert!(matches!(err, Error::UnsupportedDtype { .. }), "{err:?}");
    assert!(msg.contains(WHERE), "{msg}");
    assert!(
        msg.contains("unsupported dtype '<c8'; supported: <f4 <f2 <f8 |i1 |u1 <i4 <i8 |b1"),
        "{msg}"
    );
}

#[test]
fn data_length_mismatch_says_expected_and_found() {
    let bytes = f32_npy();
    let (err, msg) =
        outputs_error(outputs_with_payload(&STANDARD.encode(&bytes[..bytes.len() - 4])));
    assert!(matches!(err, Error::DataLength { expected: 8, found: 4, .. }), "{err:?}");
    assert!(msg.contains(WHERE), "{msg}");
    assert!(
        msg.contains("the array data has the wrong length: expected 8 bytes, found 4"),
        "{msg}"
    );
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 4]);
    let e = npy::read(&longer).unwrap_err();
    assert!(e.to_string().contains("expected 8 bytes, found 12"), "{e}");
    let e = npy::read(&bytes[..50]).unwrap_err();
    assert!(
        e.to_string()
            .contains("the .npy header has the wrong length: expected 128 bytes, found 50"),
        "{e}"
    );
    let e = npy::read_from(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(e.to_string().contains("expected 8 bytes, found 7"), "{e}");
}

#[test]
fn bad_npy_version_and_header() {
    let mut bytes = f32_npy();
    bytes[6] = 4;
    let e = npy::read(&bytes).unwrap_err();
    assert!(
        e.to_string().contains("unsupported .npy format version 4.0; supported: 1.0, 2.0, 3.0"),
        "{e}"
    );
    let mut bytes = f32_npy();
    let i = bytes.windows(6).position(|w| w == b"(1, 2)").unwrap();
    bytes[i..i + 6].copy_from_slice(b"(1, x)");
    let e = npy::read(&bytes).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<in-memory data>: malformed .npy header: 'shape' must hold integers, found x"
    );
    let mut bytes = f32_npy();
    bytes[10] = b'[';
    let e = npy::read(&bytes).unwrap_err();
    assert!(
        e.to_string().contains("malformed .npy header: expected '{' at character 0, found '['"),
        "{e}"
    );
}

/// A version 1.0 .npy file with `header` (padded as NumPy pads it) and `data`.
fn npy_with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut text = header.to_owned();
    while !(10 + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Shapes in headers past what memory can hold are errors, never a panic or an allocation of
/// their size, whether the data length is known or not.
#[test]
fn huge_shapes_in_headers_are_refused() {
    for shape in [
        "(4294967296, 4294967296)",
        "(4611686018427387904,)",
        "(0, 4611686018427387904, 4)",
        "(0, 18446744073709551615, 18446744073709551615)",
    ] {
        let bytes = npy_with_header(
            &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"),
            &[],
        );
        for e in [npy::read(&bytes).unwrap_err(), npy::read_from(&bytes[..]).unwrap_err()] {
            assert!(e.to_string().contains("is too large"), "{shape}: {e}");
        }
    }
    // Large but addressable: the data is missing, and nothing of that size is allocated.
    let bytes = npy_with_header(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1024), }",
        &[0; 16],
    );
    for e in [npy::read(&bytes).unwrap_err(), npy::read_from(&bytes[..]).unwrap_err()] {
        assert!(e.to_string().contains("expected 9007199254740992 bytes, found 16"), "{e}");
    }
    // An empty array with large other dimensions is fine.
    let bytes = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776), }",
        &[],
    );
    assert_eq!(npy::read(&bytes).unwrap().shape(), &[0, 1_099_511_627_776]);
}

#[test]
fn empty_run_results() {
    let (err, msg) = outputs_error(r#"{"lst": [], "polygraphy_class": "RunResults"}"#);
    assert!(matches!(err, Error::EmptyRunResults { .. }), "{err:?}");
    assert!(msg.contains("holds no runners"), "{msg}");
    let e = run_results_from_reader(&br#"{"polygraphy_class": "RunResults"}"#[..]).unwrap_err();
    assert!(e.to_string().contains("no 'lst'"), "{e}");
}

#[test]
fn malformed_structure_names_the_item() {
    let doc = r#"{"lst": [["runner-a", [{"outputs": {"y": 3}, "runtime": 1.0, "runner_name": "a",
        "polygraphy_class": "IterationResult"}]]], "polygraphy_class": "RunResults"}"#;
    let (err, msg) = outputs_error(doc);
    assert!(matches!(err, Error::Structure { .. }), "{err:?}");
    assert!(msg.contains("runner 'runner-a', iteration 0, output 'y'"), "{msg}");
    let (_, msg) = outputs_error(r#"{"lst": [["runner-a"]], "polygraphy_class": "RunResults"}"#);
    assert!(msg.contains("runner 'runner-a': expected a [runner name, [IterationResult, ...]] pair, found only the name"), "{msg}");
    let (_, msg) = outputs_error(r#"{"lst": [[]], "polygraphy_class": "RunResults"}"#);
    assert!(msg.contains("runner #0"), "{msg}");
}

#[test]
fn missing_files_and_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.json");
    let err = read_run_results(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!("{}: opening failed", missing.display())),
        "{err}"
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = read_inputs(&empty).unwrap_err();
    assert!(matches!(err, Error::EmptyDirectory { .. }), "{err:?}");
    // A bad file inside a directory is named, not the directory.
    write(&empty, "0000000000.json", "[{}]");
    let bad = write(&empty, "0000000001.json", "[{\"x\": 1}]");
    let err = read_inputs(&empty).unwrap_err();
    assert_eq!(err.location().path(), Some(bad.as_path()));
    assert!(err.to_string().contains("iteration 1, input 'x'"), "{err}");
}
