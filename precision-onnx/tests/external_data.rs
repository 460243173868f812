//! External data: read only from regular files inside the model's folder (symbolic links
//! resolved first), byte ranges checked against the file before reading, every tensor of one
//! file read from one handle.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::{StringStringEntryProto, TensorProto};
use precision_onnx::proto;
use precision_onnx::{OnnxError, OnnxModel};
use protobuf::{EnumOrUnknown, Message};

/// Points `t` at `location` (with `offset`/`length` entries when given) and drops its data.
fn make_external(t: &mut TensorProto, location: &str, offset: Option<&str>, length: Option<&str>) {
    let entry = |k: &str, v: &str| StringStringEntryProto {
        key: k.into(),
        value: v.into(),
        ..Default::default()
    };
    t.raw_data.clear();
    t.data_location = EnumOrUnknown::new(DataLocation::EXTERNAL);
    t.external_data = vec![entry("location", location)];
    if let Some(o) = offset {
        t.external_data.push(entry("offset", o));
    }
    if let Some(l) = length {
        t.external_data.push(entry("length", l));
    }
}

/// The convnet with its first initializer (`conv.w`, 432 bytes) in `location` in `dir`;
/// returns the model path and the weight bytes.
fn convnet_with_external(
    dir: &Path,
    location: &str,
    offset: Option<&str>,
    length: Option<&str>,
) -> (PathBuf, Vec<u8>) {
    let mut m = convnet_opset11();
    let w = m.graph().initializer[0].raw_data.clone();
    make_external(&mut m.graph_mut().initializer[0], location, offset, length);
    let path = dir.join("m.onnx");
    std::fs::write(&path, m.proto.write_to_bytes().unwrap()).unwrap();
    (path, w)
}

/// Loads `path` on another thread, failing the test if that takes more than 30 s (a FIFO
/// opened for reading would block forever).
fn load_within_30s(path: &Path) -> Result<OnnxModel, OnnxError> {
    let (tx, rx) = mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(OnnxModel::load(&path));
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("the load hangs")
}

/// The error of loading `path`, which must be an external-data error naming `conv.w`,
/// `location` and every piece of `expect`.
fn refused(path: &Path, location: &str, expect: &[&str]) -> String {
    let err = load_within_30s(path).expect_err("must be refused");
    let msg = err.to_string();
    assert!(
        matches!(&err, OnnxError::ExternalData { tensor, location: l, .. }
            if tensor == "conv.w" && l == location),
        "{msg}"
    );
    assert!(msg.contains("tensor 'conv.w'") && msg.contains(location), "{msg}");
    for e in expect {
        assert!(msg.contains(e), "expected '{e}' in: {msg}");
    }
    msg
}

/// What a file outside the model's folder holds: long enough for `conv.w`'s 432 bytes, so
/// that only the path check can refuse it.
fn secret_bytes() -> Vec<u8> {
    [b"root:x:0:0:root:/root:/bin/bash\n".as_slice(), &[b'#'; 600]].concat()
}

#[cfg(unix)]
#[test]
fn symbolic_links_out_of_the_model_folder_are_refused() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("passwd");
    std::fs::write(&secret, secret_bytes()).unwrap();

    // A link to a file outside.
    let dir = tempfile::tempdir().unwrap();
    symlink(&secret, dir.path().join("link.bin")).unwrap();
    let (path, _) = convnet_with_external(dir.path(), "link.bin", None, Some("432"));
    refused(&path, "link.bin", &["outside the model's folder", "passwd"]);

    // A file inside a linked folder that lies outside.
    let dir = tempfile::tempdir().unwrap();
    symlink(outside.path(), dir.path().join("data")).unwrap();
    let (path, _) = convnet_with_external(dir.path(), "data/passwd", None, Some("432"));
    refused(&path, "data/passwd", &["outside the model's folder"]);

    // A chain of links that ends outside.
    let dir = tempfile::tempdir().unwrap();
    symlink(&secret, dir.path().join("hop2")).unwrap();
    symlink("hop2", dir.path().join("hop1")).unwrap();
    let (path, _) = convnet_with_external(dir.path(), "./hop1", None, Some("432"));
    refused(&path, "./hop1", &["outside the model's folder"]);

    // Devices: endless (/dev/zero) or not (/dev/null), through a link.
    for device in ["/dev/zero", "/dev/null"] {
        let dir = tempfile::tempdir().unwrap();
        symlink(device, dir.path().join("dev.bin")).unwrap();
        let (path, _) = convnet_with_external(dir.path(), "dev.bin", None, None);
        refused(&path, "dev.bin", &["outside the model's folder"]);
    }
}

#[cfg(unix)]
#[test]
fn links_that_stay_inside_the_folder_and_linked_model_folders_work() {
    use std::os::unix::fs::symlink;
    let real = tempfile::tempdir().unwrap();
    let (path, w) = convnet_with_external(real.path(), "link.bin", Some("4"), Some("432"));
    std::fs::create_dir(real.path().join("weights")).unwrap();
    std::fs::write(real.path().join("weights/w.bin"), [&[9u8; 4][..], &w].concat()).unwrap();
    symlink("weights/w.bin", real.path().join("link.bin")).unwrap();
    let loaded = load_within_30s(&path).unwrap();
    assert_eq!(loaded.graph().initializer[0].raw_data, w);

    // The same model reached through a linked folder: the data is inside the (resolved)
    // model folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let alias = elsewhere.path().join("alias");
    symlink(real.path(), &alias).unwrap();
    let loaded = load_within_30s(&alias.join("m.onnx")).unwrap();
    assert_eq!(loaded.graph().initializer[0].raw_data, w);
}

#[cfg(unix)]
#[test]
fn fifos_devices_and_folders_are_refused_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.bin");
    let out = std::process::Command::new("mkfifo").arg(&fifo).output().expect("mkfifo runs");
    assert!(out.status.success(), "mkfifo: {}", String::from_utf8_lossy(&out.stderr));
    let (path, _) = convnet_with_external(dir.path(), "pipe.bin", None, None);
    refused(&path, "pipe.bin", &["FIFO", "not a regular file"]);

    std::fs::create_dir(dir.path().join("folder.bin")).unwrap();
    let (path, _) = convnet_with_external(dir.path(), "folder.bin", None, None);
    refused(&path, "folder.bin", &["a folder", "not a regular file"]);

    // Device nodes inside the model's folder: /dev as the folder, and, where we may make one
    // (as root), a device node next to the model.
    let mut m = convnet_opset11();
    for device in ["zero", "null"] {
        make_external(&mut m.graph_mut().initializer[0], device, None, None);
        let err = OnnxModel::from_bytes(
            &m.proto.write_to_bytes().unwrap(),
            Path::new("m.onnx"),
            Path::new("/dev"),
        )
        .unwrap_err()
        .to_string();
        let want = format!("/dev/{device} is a device, not a regular file");
        assert!(err.contains(&want), "{err}");
    }
    let (path, _) = convnet_with_external(dir.path(), "zero.bin", None, None);
    let made = std::process::Command::new("mknod")
        .arg(dir.path().join("zero.bin"))
        .args(["c", "1", "5"])
        .output()
        .is_ok_and(|o| o.status.success());
    if made {
        refused(&path, "zero.bin", &["a device", "not a regular file"]);
    } else {
        eprintln!("NOT RUN: mknod needs root; the device case ran with /dev as the model folder");
    }
}

#[test]
fn absolute_locations_and_parent_steps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("w.bin"), vec![0u8; 432]).unwrap();
    let absolute = dir.path().join("w.bin");
    for location in [
        "../w.bin",
        "sub/../w.bin",
        "sub/../../etc/passwd",
        absolute.to_str().unwrap(),
        "/etc/passwd",
        "",
    ] {
        let (path, _) = convnet_with_external(dir.path(), location, None, None);
        refused(&path, location, &["relative path inside the model's folder"]);
    }
}

#[test]
fn byte_ranges_are_checked_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.bin"), vec![7u8; 500]).unwrap();
    for (offset, length, expect) in [
        (Some("100"), Some("432"), "bytes 100..532 lie outside"),
        (Some("501"), None, "bytes 501..500 lie outside"),
        (Some("600"), Some("0"), "lie outside"),
        (None, Some("1152921504606846976"), "lie outside"),
        (Some("18446744073709551615"), Some("10"), "overflows"),
        (Some("-1"), None, "offset '-1' is not a non-negative integer"),
        (None, Some("12ab"), "length '12ab' is not a non-negative integer"),
    ] {
        let (path, _) = convnet_with_external(dir.path(), "w.bin", offset, length);
        refused(&path, "w.bin", &[expect]);
    }
    // A missing length means to the end of the file.
    std::fs::write(dir.path().join("w.bin"), [vec![1u8; 68], vec![2u8; 432]].concat()).unwrap();
    let (path, _) = convnet_with_external(dir.path(), "w.bin", Some("68"), None);
    let m = load_within_30s(&path).unwrap();
    assert_eq!(m.graph().initializer[0].raw_data, vec![2u8; 432]);
    // A missing file names the path.
    let (path, _) = convnet_with_external(dir.path(), "missing.bin", None, None);
    refused(&path, "missing.bin", &["missing.bin", "keep the data file in the model's folder"]);
}

/// Many tensors in one file, some in subgraphs, `Constant` attributes and sparse
/// initializers, in any order: each gets exactly its bytes.
#[test]
fn many_tensors_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = branchy_opset13();
    let mut blob = Vec::new();
    let mut expected = Vec::new();
    let mut place = |t: &mut TensorProto, blob: &mut Vec<u8>| {
        let offset = blob.len();
        blob.extend_from_slice(&t.raw_data);
        blob.extend_from_slice(&[0xEE; 3]); // gaps between tensors
        expected.push(t.raw_data.clone());
        let (o, l) = (offset.to_string(), t.raw_data.len().to_string());
        make_external(t, "blob.bin", Some(&o), Some(&l));
    };
    let g = m.graph_mut();
    for i in 0..50 {
        let mut t =
            proto::f32_tensor(&format!("extra{i}"), &[i + 1], &values(i as usize + 1, i as u32));
        place(&mut t, &mut blob);
        g.initializer.push(t);
    }
    // The `If` node's then-branch initializer.
    let if_node = g.node.iter_mut().find(|n| n.op_type == "If").unwrap();
    let then_g = if_node.attribute[0].g.as_mut().unwrap();
    place(&mut then_g.initializer[0], &mut blob);
    // A sparse initializer's values and indices.
    let mut sparse = onnx_protobuf::SparseTensorProto {
        values: protobuf::MessageField::some(proto::f32_tensor("sv", &[2], &[1.5, -2.5])),
        indices: protobuf::MessageField::some(proto::i64_tensor("si", &[2], &[0, 3])),
        dims: vec![4],
        ..Default::default()
    };
    place(sparse.values.as_mut().unwrap(), &mut blob);
    place(sparse.indices.as_mut().unwrap(), &mut blob);
    g.sparse_initializer.push(sparse);
    // A Constant node's value.
    let mut c = constant("c", "cval", &[3], &[1.0, 2.0, 3.0]);
    place(c.attribute[0].t.as_mut().unwrap(), &mut blob);
    g.node.insert(0, c);
    std::fs::write(dir.path().join("blob.bin"), &blob).unwrap();
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, m.proto.write_to_bytes().unwrap()).unwrap();

    let loaded = load_within_30s(&path).unwrap();
    let mut got = Vec::new();
    let g = loaded.graph();
    got.extend(
        g.initializer.iter().filter(|t| t.name.starts_with("extra")).map(|t| t.raw_data.clone()),
    );
    let if_node = g.node.iter().find(|n| n.op_type == "If").unwrap();
    got.push(if_node.attribute[0].g.initializer[0].raw_data.clone());
    got.push(g.sparse_initializer[0].values.raw_data.clone());
    got.push(g.sparse_initializer[0].indices.raw_data.clone());
    let c = g.node.iter().find(|n| n.name == "c").unwrap();
    got.push(c.attribute[0].t.raw_data.clone());
    assert_eq!(got, expected);
    let externals = |t: &TensorProto| {
        t.data_location.enum_value() == Ok(DataLocation::EXTERNAL) || !t.external_data.is_empty()
    };
    assert!(!g.initializer.iter().any(externals), "every tensor is read in");
}
