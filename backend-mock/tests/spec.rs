//! The spec format: every field, the defaults, each validation error, and a round trip of
//! random specs through TOML text.

use backend_mock::testing::{GenOptions, arb_spec, to_toml};
use backend_mock::{ErrorAmplitudes, MockBackend, MockError, MockSpec, Noise, UNMARKABLE_REASON};
use precision_core::{Backend, DType, Precision, TensorInfo};
use proptest::prelude::*;

fn parse(text: &str) -> Result<MockSpec, MockError> {
    MockSpec::from_toml_str(text, "toy")
}

/// The error message for `text`, which must be invalid.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(spec) => panic!("expected an error, parsed {spec:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "message {message:?} lacks {part:?}");
    }
}

const INPUT: &str = "[[inputs]]\nname = \"x\"\nshape = [1, 4]\n";

#[test]
fn parses_every_field() {
    let text = r#"
name = "full"
seed = 42
noise = "constant"
outputs = ["b_out", "a1"]

[[inputs]]
name = "x"
shape = [1, 4]

[[inputs]]
name = "y"
shape = [2, 3, 1]

[[layers]]
name = "a"
op = "Conv"
inputs = ["x", "y"]
outputs = ["a0", "a1"]
error = { int8 = 0.05, fp8 = 0.02, fp16 = 0.001, bf16 = 0.004 }
gain = 1.25
markable = false
unsupported = ["int8", "fp16"]

[[layers]]
name = "b"
inputs = ["a1"]
"#;
    let spec = parse(text).unwrap();
    assert_eq!(spec.name, "full");
    assert_eq!(spec.seed, 42);
    assert_eq!(spec.noise, Noise::Constant);
    assert_eq!(spec.outputs, ["b_out", "a1"]);
    assert_eq!(spec.inputs.len(), 2);
    assert_eq!(spec.inputs[1].shape, [2, 3, 1]);
    let a = &spec.layers[0];
    assert_eq!(a.op, "Conv");
    assert_eq!(a.inputs, ["x", "y"]);
    assert_eq!(a.outputs, ["a0", "a1"]);
    assert_eq!(a.error, ErrorAmplitudes { int8: 0.05, fp8: 0.02, fp16: 0.001, bf16: 0.004 });
    assert_eq!(a.gain, 1.25);
    assert!(!a.markable);
    assert_eq!(a.unsupported, [Precision::Int8, Precision::Float16]);

    let backend = MockBackend::from_toml_str(text, "toy").unwrap();
    let net = backend.network();
    assert_eq!(net.name, "full");
    assert_eq!(
        net.inputs,
        [
            TensorInfo::fixed("x", DType::F32, &[1, 4]),
            TensorInfo::fixed("y", DType::F32, &[2, 3, 1])
        ]
    );
    assert_eq!(net.outputs, ["b_out", "a1"]);
    assert_eq!(net.layers[0].op, "Conv");
    assert_eq!(net.layers[0].unmarkable_reason.as_deref(), Some(UNMARKABLE_REASON));
    assert_eq!(UNMARKABLE_REASON, "marked unmarkable in the spec");
    assert_eq!(net.layers[1].index, 1);
    assert_eq!(net.layers[1].inputs, ["a1"]);
    assert!(net.layers[1].is_markable());
    net.validate().unwrap();
    assert_eq!(backend.name(), "mock");
    let caps = backend.capabilities();
    assert_eq!(caps.precisions, Precision::ALL);
    assert!(caps.every_layer_output);
}

#[test]
fn fills_in_defaults() {
    let spec =
        parse(&format!("{INPUT}\n[[layers]]\nname = \"a\"\n\n[[layers]]\nname = \"b\"\n")).unwrap();
    assert_eq!(spec.name, "toy", "the name defaults to the file stem");
    assert_eq!(spec.seed, 0);
    assert_eq!(spec.noise, Noise::Uniform);
    let (a, b) = (&spec.layers[0], &spec.layers[1]);
    assert_eq!(a.op, "Mock");
    assert_eq!(a.inputs, ["x"], "the first layer reads the first network input");
    assert_eq!(a.outputs, ["a_out"]);
    assert_eq!(b.inputs, ["a_out"], "later layers read the previous layer's first output");
    assert_eq!(a.error, ErrorAmplitudes::default());
    assert_eq!(a.gain, 1.0);
    assert!(a.markable);
    assert!(a.unsupported.is_empty());
    assert_eq!(spec.outputs, ["b_out"], "the outputs default to the last layer's outputs");

    let multi = parse(&format!(
        "{INPUT}\n[[layers]]\nname = \"a\"\noutputs = [\"p\", \"q\"]\n\n[[layers]]\nname = \"b\"\noutputs = [\"r\", \"s\"]\n"
    ))
    .unwrap();
    assert_eq!(multi.layers[1].inputs, ["p"]);
    assert_eq!(multi.outputs, ["r", "s"]);
}

#[test]
fn accepts_integers_and_precision_aliases() {
    let spec = parse(&format!(
        "{INPUT}\n[[layers]]\nname = \"a\"\ngain = 2\nerror = {{ int8 = 1, float16 = 0, bfloat16 = 0.5 }}\nunsupported = [\"fp32\", \"half\", \"bf16\", \"fp8\"]\n"
    ))
    .unwrap();
    let a = &spec.layers[0];
    assert_eq!(a.gain, 2.0);
    assert_eq!(a.error, ErrorAmplitudes { int8: 1.0, bf16: 0.5, ..ErrorAmplitudes::default() });
    assert_eq!(
        a.unsupported,
        [Precision::Float32, Precision::Float16, Precision::BFloat16, Precision::Fp8]
    );
}

#[test]
fn reads_files_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnet_toy.toml");
    std::fs::write(&path, format!("{INPUT}\n[[layers]]\nname = \"a\"\n")).unwrap();
    let backend = MockBackend::from_path(&path).unwrap();
    assert_eq!(backend.network().name, "resnet_toy");

    std::fs::write(&path, format!("{INPUT}\n[[layers]]\nname = \"\"\n")).unwrap();
    let message = MockBackend::from_path(&path).unwrap_err().to_string();
    assert_contains(&message, &[&path.display().to_string(), "empty name"]);

    let missing = dir.path().join("missing.toml");
    let err = MockBackend::from_path(&missing).unwrap_err();
    assert!(matches!(err, MockError::Io { .. }));
    assert_contains(&err.to_string(), &["cannot read", "missing.toml"]);
}

#[test]
fn reports_toml_and_format_errors_with_the_line() {
    let message = error("[[inputs]]\nname = \"x\"\nshape = [1, 4\n");
    assert_contains(&message, &["toy", "line 3"]);

    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nfoo = 1\n"));
    assert_contains(&message, &["toy", "line 7", "unknown field `foo`", "`gain`"]);
    let message = error(&format!("colour = 1\n{INPUT}"));
    assert_contains(&message, &["line 1", "unknown field `colour`"]);
    let message = error("[[inputs]]\nname = \"x\"\nshape = [1, 4]\nrank = 2\n");
    assert_contains(&message, &["line 4", "unknown field `rank`"]);

    let message = error(&format!("noise = \"gaussian\"\n{INPUT}"));
    assert_contains(&message, &["line 1", "unknown variant `gaussian`"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nop = \"Conv\"\n"));
    assert_contains(&message, &["line 5", "missing field `name`"]);
    let message = error("[[inputs]]\nname = \"x\"\nshape = [1, -4]\n");
    assert_contains(&message, &["line 3", "-4"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\ngain = \"big\"\n"));
    assert_contains(&message, &["line 7", "expected a number"]);
}

#[test]
fn rejects_missing_inputs_and_layers() {
    assert!(matches!(parse("name = \"n\"\n"), Err(MockError::NoInputs { .. })));
    assert_contains(
        &error("[[layers]]\nname = \"a\"\n"),
        &["toy", "no network inputs", "[[inputs]]"],
    );
    assert!(matches!(parse(INPUT), Err(MockError::NoLayers { .. })));
    assert_contains(&error(INPUT), &["toy", "no layers", "[[layers]]"]);
}

#[test]
fn rejects_bad_layer_names() {
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\n[[layers]]\nname = \"\"\n"));
    assert_contains(&message, &["layer 1 has an empty name"]);
    let message = error(&format!(
        "{INPUT}\n[[layers]]\nname = \"a\"\noutputs = [\"t1\"]\n[[layers]]\nname = \"a\"\noutputs = [\"t2\"]\n"
    ));
    assert_contains(&message, &["toy", "two layers are named 'a'"]);
}

#[test]
fn rejects_duplicate_tensors() {
    let message = error(&format!(
        "{INPUT}\n[[layers]]\nname = \"a\"\noutputs = [\"t\"]\n[[layers]]\nname = \"b\"\noutputs = [\"t\"]\n"
    ));
    assert_contains(&message, &["tensor 't'", "layer 'a'", "layer 'b'", "exactly one producer"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\noutputs = [\"x\"]\n"));
    assert_contains(&message, &["tensor 'x'", "network input 'x'", "layer 'a'"]);
    let message = error(&format!("{INPUT}{INPUT}\n[[layers]]\nname = \"a\"\n"));
    assert_contains(&message, &["tensor 'x'", "network input 'x'"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\noutputs = [\"u\", \"u\"]\n"));
    assert_contains(&message, &["tensor 'u'", "layer 'a' and layer 'a'"]);
}

#[test]
fn rejects_dangling_tensors_saying_later_or_never() {
    let message = error(&format!(
        "{INPUT}\n[[layers]]\nname = \"a\"\ninputs = [\"b_out\"]\n[[layers]]\nname = \"b\"\n"
    ));
    assert_contains(
        &message,
        &["layer 'a'", "'b_out'", "produced later", "layer 'b'", "topological order"],
    );
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\ninputs = [\"a_out\"]\n"));
    assert_contains(&message, &["layer 'a'", "'a_out'", "produced later, by layer 'a'"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\ninputs = [\"ghost\"]\n"));
    assert_contains(&message, &["layer 'a'", "'ghost'", "no network input or layer produces"]);
}

#[test]
fn rejects_bad_outputs() {
    let message = error(&format!("outputs = [\"nope\"]\n{INPUT}\n[[layers]]\nname = \"a\"\n"));
    assert_contains(&message, &["network output 'nope'", "not produced"]);
    let message = error(&format!("outputs = []\n{INPUT}\n[[layers]]\nname = \"a\"\n"));
    assert_contains(&message, &["`outputs` list is empty"]);
    let message =
        error(&format!("outputs = [\"a_out\", \"a_out\"]\n{INPUT}\n[[layers]]\nname = \"a\"\n"));
    assert_contains(&message, &["'a_out' is listed twice"]);
    // A network input may be a network output.
    let spec = parse(&format!("outputs = [\"a_out\", \"x\"]\n{INPUT}\n[[layers]]\nname = \"a\"\n"))
        .unwrap();
    assert_eq!(spec.outputs, ["a_out", "x"]);
}

#[test]
fn rejects_empty_lists_and_names() {
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\ninputs = []\n"));
    assert_contains(&message, &["layer 'a'", "empty `inputs` list"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\noutputs = []\n"));
    assert_contains(&message, &["layer 'a'", "empty `outputs` list"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\noutputs = [\"\"]\n"));
    assert_contains(&message, &["layer 'a'", "empty name"]);
    let message = error("[[inputs]]\nname = \"\"\nshape = [1]\n[[layers]]\nname = \"a\"\n");
    assert_contains(&message, &["network input 0", "empty name"]);
}

#[test]
fn rejects_zero_dimensions() {
    let message = error("[[inputs]]\nname = \"x\"\nshape = [1, 0, 3]\n[[layers]]\nname = \"a\"\n");
    assert_contains(&message, &["input 'x'", "[1, 0, 3]", "zero dimension"]);
    // A scalar input is allowed (one element).
    parse("[[inputs]]\nname = \"s\"\nshape = []\n[[layers]]\nname = \"a\"\n").unwrap();
}

/// Shapes past what memory can hold, alone or summed over every tensor, are validation
/// errors (never an overflow panic), and a spec that passes but cannot be allocated is an
/// error too, never an abort.
#[test]
fn rejects_sizes_past_memory() {
    let spec = |shape: &str, layers: usize| {
        use std::fmt::Write as _;
        let mut text = format!("[[inputs]]\nname = \"x\"\nshape = {shape}\n");
        for l in 0..layers {
            writeln!(text, "[[layers]]\nname = \"l{l}\"").unwrap();
        }
        text
    };
    for shape in
        ["[18446744073709551615, 2]", "[4294967296, 4294967296]", "[9223372036854775807, 1, 2]"]
    {
        let message = error(&spec(shape, 1));
        assert_contains(&message, &["toy:", "network input 'x'", "more elements than any machine"]);
    }
    // Each tensor fits, their sum does not.
    let message = error(&spec("[1152921504606846976]", 8));
    assert_contains(&message, &["the network's tensors", "9 tensors", "x: [1152921504606846976]"]);
    // Too much for the 24 bytes per element, though the count fits.
    let message = error(&spec("[384307168202282326]", 1));
    assert_contains(&message, &["the network's tensors", "2 tensors"]);
    // The count and bytes are exact where they fit.
    let ok = parse(&spec("[3, 5]", 2)).unwrap();
    assert_eq!(ok.element_count(), Some(45));
    assert_eq!(ok.memory_bytes(), Some(45 * 24));
    // Valid, but more than any machine has (2^58 bytes; the golden values alone are past the
    // 2^47-byte address space of a process, whatever the kernel's overcommit setting): the
    // allocation fails as an error. (The CLI refuses earlier, from the memory available.)
    match MockBackend::from_toml_str(&spec("[6004799503160661]", 1), "toy") {
        Err(e @ MockError::OutOfMemory { .. }) => {
            assert_contains(&e.to_string(), &["toy:", "cannot allocate", "smaller input shapes"]);
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
}

#[test]
fn rejects_bad_amplitudes_and_gains() {
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nerror = {{ int8 = -0.1 }}\n"));
    assert_contains(&message, &["layer 'a'", "-0.1", "int8", "at least 0"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nerror = {{ fp16 = nan }}\n"));
    assert_contains(&message, &["layer 'a'", "NaN", "float16"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nerror = {{ fp8 = inf }}\n"));
    assert_contains(&message, &["layer 'a'", "inf", "fp8", "finite"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\ngain = nan\n"));
    assert_contains(&message, &["layer 'a'", "gain NaN"]);
}

#[test]
fn rejects_unknown_precision_keys() {
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nerror = {{ fp4 = 0.1 }}\n"));
    assert_contains(&message, &["layer 'a'", "unknown precision 'fp4' in `error`", "int8, fp8"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nerror = {{ fp32 = 0.1 }}\n"));
    assert_contains(&message, &["'fp32' in `error`", "float32 injects no error"]);
    let message = error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nunsupported = [\"int4\"]\n"));
    assert_contains(&message, &["layer 'a'", "unknown precision 'int4' in `unsupported`"]);
    let message = error(&format!(
        "{INPUT}\n[[layers]]\nname = \"a\"\nerror = {{ fp16 = 0.1, float16 = 0.2 }}\n"
    ));
    assert_contains(&message, &["layer 'a'", "float16 more than once in `error`"]);
    let message =
        error(&format!("{INPUT}\n[[layers]]\nname = \"a\"\nunsupported = [\"int8\", \"i8\"]\n"));
    assert_contains(&message, &["layer 'a'", "int8 more than once in `unsupported`"]);
}

#[test]
fn validates_specs_built_by_hand() {
    let mut spec = parse(&format!("{INPUT}\n[[layers]]\nname = \"a\"\n")).unwrap();
    spec.layers[0].gain = f64::INFINITY;
    let err = MockBackend::from_spec(spec).unwrap_err();
    assert_contains(&err.to_string(), &["toy:", "gain inf"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
    ))]

    /// Generated specs are valid, and rendering them as TOML and parsing the text gives them
    /// back.
    #[test]
    fn generated_specs_round_trip(spec in arb_spec(GenOptions {
        noise: None,
        unsupported_choices: Precision::ALL.to_vec(),
        ..GenOptions::default()
    })) {
        spec.validate("generated").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = to_toml(&spec);
        let parsed = MockSpec::from_toml_str(&text, "other")
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&parsed, &spec, "text:\n{}", text);
        let backend = MockBackend::from_toml_str(&text, "other")
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(backend.network().len(), spec.layers.len());
        backend.network().validate().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
