//! Truncated files: a model cut anywhere, at a byte or at a protobuf field boundary, loads
//! cleanly (only when nothing needed was cut off) or is a clear error; a file that decodes but
//! lacks its graph or its opset import is said to look truncated, never to use opset 1.

mod common;

use std::path::Path;

use common::*;
use precision_onnx::{LayerTable, OnnxError, OnnxModel};
use proptest::prelude::*;
use protobuf::Message;

fn load(bytes: &[u8]) -> Result<OnnxModel, OnnxError> {
    OnnxModel::from_bytes(bytes, Path::new("model.onnx"), Path::new("."))
}

/// One field of a protobuf message: where it starts, where its payload is (length-delimited
/// fields) and where it ends.
struct Field {
    number: u64,
    payload: Option<std::ops::Range<usize>>,
    end: usize,
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of `bytes` read as a protobuf message, or `None` if it is not one.
fn fields(bytes: &[u8]) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        let payload = match key & 7 {
            0 => {
                varint(bytes, &mut at)?;
                None
            }
            1 => {
                at += 8;
                None
            }
            5 => {
                at += 4;
                None
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).ok()?;
                let start = at;
                at = at.checked_add(len)?;
                Some(start..at)
            }
            _ => return None,
        };
        if at > bytes.len() || key >> 3 == 0 {
            return None;
        }
        out.push(Field { number: key >> 3, payload, end: at });
    }
    Some(out)
}

/// The offsets right after each top-level field, and after each field of the messages nested
/// up to `depth` levels inside them.
fn boundaries(bytes: &[u8], depth: usize) -> Vec<usize> {
    fn walk(bytes: &[u8], base: usize, depth: usize, out: &mut Vec<usize>) {
        let Some(fs) = fields(bytes) else { return };
        for f in fs {
            out.push(base + f.end);
            if let (Some(p), true) = (f.payload, depth > 0) {
                walk(&bytes[p.clone()], base + p.start, depth - 1, out);
            }
        }
    }
    let mut out = vec![0];
    walk(bytes, 0, depth, &mut out);
    out.sort_unstable();
    out.dedup();
    out.retain(|&c| c < bytes.len());
    out
}

/// What loading `bytes` must give: a model that lists its layers, or a decode or truncation
/// error; never an opset complaint, never a panic.
fn clean_or_clear(bytes: &[u8], what: &str) {
    match load(bytes) {
        Ok(m) => {
            let table = LayerTable::build(&m);
            let _ = m.input_infos_lenient();
            assert!(!table.layers.is_empty(), "{what}: a model without layers loaded");
        }
        Err(e @ (OnnxError::Decode { .. } | OnnxError::Truncated { .. })) => {
            let msg = e.to_string();
            assert!(msg.contains("model.onnx"), "{what}: {msg}");
        }
        Err(e) => panic!("{what}: a cut file gives neither a load nor a decode error: {e}"),
    }
}

fn models() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("convnet", convnet_opset11().proto.write_to_bytes().unwrap()),
        ("branchy", branchy_opset13().proto.write_to_bytes().unwrap()),
        ("loop", loop_opset13().proto.write_to_bytes().unwrap()),
    ]
}

/// Each cut at a top-level field boundary: a model that lacks its graph or its opset import
/// looks truncated; one that has both (only later fields cut off) loads. Our writer puts the
/// opset import before the graph, ONNX's after it: both orders are covered.
#[test]
fn cuts_between_top_level_fields_look_truncated_never_opset_1() {
    let mut cases = models();
    // The same models in ONNX's field order (by field number): the graph before the opsets.
    for (name, bytes) in models() {
        let top = fields(&bytes).unwrap();
        let mut start = 0;
        let mut spans = Vec::new();
        for f in &top {
            spans.push((f.number, start..f.end));
            start = f.end;
        }
        spans.sort_by_key(|(n, _)| *n);
        let reordered: Vec<u8> =
            spans.iter().flat_map(|(_, r)| bytes[r.clone()].to_vec()).collect();
        cases.push((name, reordered));
    }
    let mut after_graph = 0;
    for (name, bytes) in cases {
        for cut in boundaries(&bytes, 0) {
            let present: Vec<u64> =
                fields(&bytes[..cut]).unwrap().iter().map(|f| f.number).collect();
            let result = load(&bytes[..cut]);
            let what = format!("{name} cut at {cut} (fields {present:?})");
            let expect = if !present.contains(&7) {
                Some("the file decodes but holds no graph")
            } else if !present.contains(&8) {
                after_graph += 1;
                Some("the model imports no opset (opset_import is missing)")
            } else {
                None
            };
            match (expect, result) {
                (None, Ok(m)) => assert!(!LayerTable::build(&m).layers.is_empty(), "{what}"),
                (Some(detail), Err(e @ OnnxError::Truncated { .. })) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("the file looks truncated (or is not an ONNX model)"),
                        "{what}: {msg}"
                    );
                    assert!(msg.contains(detail), "{what}: {msg}");
                    assert!(!msg.contains("opset 1") && !msg.contains("Convert"), "{what}: {msg}");
                }
                (expect, result) => panic!("{what}: expected {expect:?}, got {result:?}"),
            }
        }
    }
    assert!(after_graph >= 3, "the cut right after the graph is tried in ONNX's order");
}

#[test]
fn every_prefix_loads_cleanly_or_is_a_clear_error() {
    for (name, bytes) in models() {
        let mut truncated = 0;
        for cut in 0..bytes.len() {
            clean_or_clear(&bytes[..cut], &format!("{name} cut at {cut}"));
            truncated +=
                usize::from(matches!(load(&bytes[..cut]), Err(OnnxError::Truncated { .. })));
        }
        assert!(truncated >= 2, "{name}: the cuts at top-level field boundaries say truncated");
        for cut in boundaries(&bytes, 3) {
            clean_or_clear(&bytes[..cut], &format!("{name} cut at field boundary {cut}"));
        }
    }
}

#[test]
fn a_model_importing_only_other_domains_is_not_opset_1() {
    let mut m = convnet_opset11();
    m.proto.opset_import[0].domain = "com.example".into();
    let msg = load(&m.proto.write_to_bytes().unwrap()).unwrap_err().to_string();
    assert!(msg.contains("imports no ai.onnx opset (only com.example)"), "{msg}");
    assert!(!msg.contains("opset 1"), "{msg}");
}

/// A real exporter's file (`$PRECISION_MODELS`, `cargo xtask fetch-models`).
fn real_model() -> Vec<u8> {
    let dir = match std::env::var("PRECISION_MODELS") {
        Ok(d) if !d.is_empty() => d,
        _ => panic!(
            "PRECISION_MODELS is not set: run `cargo xtask ci` (or `cargo xtask fetch-models` \
             and set it)"
        ),
    };
    let path = Path::new(&dir).join("ch_ppocr_mobile_v2.0_cls_mobile.onnx");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{} cannot be read ({e}): run `cargo xtask fetch-models`", path.display())
    })
}

#[test]
fn a_real_model_cut_at_its_field_boundaries() {
    let bytes = real_model();
    load(&bytes).expect("the whole file loads");
    let cuts = boundaries(&bytes, 2);
    assert!(cuts.len() > 100, "{} cuts", cuts.len());
    for cut in cuts {
        clean_or_clear(&bytes[..cut], &format!("ppocr cut at field boundary {cut}"));
    }
    let graph = fields(&bytes).unwrap().into_iter().find(|f| f.number == 7).unwrap();
    let msg = load(&bytes[..graph.end]).unwrap_err().to_string();
    assert!(msg.contains("looks truncated"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_real_model_cut_at_any_byte(cut in any::<proptest::sample::Index>()) {
        let bytes = real_model();
        let cut = cut.index(bytes.len());
        clean_or_clear(&bytes[..cut], &format!("ppocr cut at {cut}"));
    }
}
