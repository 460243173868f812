//! The fingerprint of a search setup: SHA-256 over everything that decides a check's answer.
//!
//! A journal is reused only by a search with the same fingerprint. The ingredients are hashed
//! in this order, each variable-length piece preceded by its length (a little-endian `u64`)
//! and each list by its number of items, so that no two different setups give the same byte
//! stream:
//!
//! 1. the domain tag `precision-journal-fingerprint-v3`;
//! 2. the backend's name (which is its kind: `mock`, `onnxrt`, `tensorrt`);
//! 3. the backend's [`AnswerIdentity`] ([`precision_core::Backend::answer_identity`]): each
//!    part's name and value, in the backend's order. The backend owns everything about it
//!    that can change an answer: the model with its external data, shapes, calibration,
//!    typing, runtime versions; nothing backend-specific is hashed here on its own;
//! 4. the lower precisions enabled, in flag order, then the higher precision (the plan);
//! 5. the input iterations, and then the golden iterations: per iteration, per tensor in
//!    order, its name, dtype, shape and element bytes (little-endian, C order). A dataset on
//!    disk is read one sample at a time for this, never held whole;
//! 6. the comparator settings: atol, rtol, error statistic and quantile (each a default and
//!    the per-output overrides in order), then the infinities and shape-check flags; then the
//!    comparison functions (`--compare`, in order), the index tolerance, the L2, cosine
//!    similarity, PSNR and SNR thresholds (each a default and its overrides), the
//!    `--check-average` flag and the `--margin` (all of which change verdicts);
//! 7. only with `--ranking-samples K` (it changes what layer-output checks measure): a tag
//!    and K.
//! 8. only with a check command (`--check`): the tag `check-command` and its settings (the
//!    command line, fail codes and regexes, metric regex, time limit, `--no-compare`). The
//!    files the command runs are not read: editing a script does not change the fingerprint.
//!
//! Settings that do not change answers (the mock's simulated build time, threads, the search
//! algorithm, paths) are left out, so a journal written by one search serves another. Version
//! 1 hashed the model file alone and missed settings; version 2 lacked the comparison functions
//! and the margin; their journals no longer match.

use std::fmt::Write as _;

use precision_core::{AnswerIdentity, CompareConfig, PerOutput, Precision, Tensor, TensorSets};
use sha2::{Digest, Sha256};

/// Everything that decides a check's answer.
#[derive(Clone, Copy)]
pub struct Ingredients<'a> {
    /// The backend's name.
    pub backend: &'a str,
    /// What the backend says decides its answers (model, settings).
    pub identity: &'a AnswerIdentity,
    /// The lower precisions enabled, in flag order.
    pub lower: &'a [Precision],
    /// The precision of marked layers.
    pub higher: Precision,
    /// The input iterations the checks run (read one at a time).
    pub inputs: &'a dyn TensorSets,
    /// The golden outputs, one per input iteration.
    pub goldens: &'a dyn TensorSets,
    /// The comparator settings.
    pub compare: &'a CompareConfig,
    /// `--ranking-samples K`, if given.
    pub ranking_samples: Option<usize>,
    /// The check command's settings, when one judges the checks.
    pub check_command: Option<&'a [u8]>,
}

/// The fingerprint of `ingredients`, as 64 lowercase hex digits; an error when a sample
/// cannot be read.
pub fn fingerprint(ingredients: &Ingredients<'_>) -> Result<String, String> {
    let mut w = Writer(Sha256::new());
    w.text("precision-journal-fingerprint-v3");
    w.text(ingredients.backend);
    let parts = ingredients.identity.parts();
    w.count(parts.len());
    for (name, value) in parts {
        w.text(name);
        w.bytes(value);
    }
    w.count(ingredients.lower.len());
    for p in ingredients.lower {
        w.text(p.name());
    }
    w.text(ingredients.higher.name());
    for iterations in [ingredients.inputs, ingredients.goldens] {
        w.count(iterations.len());
        for index in 0..iterations.len() {
            let tensors = iterations.get(index)?;
            w.count(tensors.len());
            for (name, tensor) in tensors.iter() {
                w.text(name);
                w.tensor(tensor);
            }
        }
    }
    let c = ingredients.compare;
    w.per_output(&c.atol, |w, v| w.float(*v));
    w.per_output(&c.rtol, |w, v| w.float(*v));
    w.per_output(&c.check_error_stat, |w, v| w.text(v.name()));
    w.per_output(&c.error_quantile, |w, v| w.float(*v));
    w.tag(u8::from(c.infinities_compare_equal));
    w.tag(u8::from(c.check_shapes));
    w.count(c.functions.len());
    for f in &c.functions {
        w.text(f.name());
    }
    w.per_output(&c.index_tolerance, |w, v| w.count(usize::try_from(*v).unwrap_or(usize::MAX)));
    w.per_output(&c.l2_threshold, |w, v| w.float(*v));
    w.per_output(&c.cosine_similarity_threshold, |w, v| w.float(*v));
    w.per_output(&c.psnr_threshold, |w, v| w.float(*v));
    w.per_output(&c.snr_threshold, |w, v| w.float(*v));
    w.tag(u8::from(c.check_average));
    w.float(c.margin);
    if let Some(k) = ingredients.ranking_samples {
        w.text("ranking-samples");
        w.count(k);
    }
    if let Some(command) = ingredients.check_command {
        w.text("check-command");
        w.bytes(command);
    }
    Ok(w.0.finalize().iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

/// Feeds the hash with self-delimiting pieces.
struct Writer(Sha256);

impl Writer {
    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }

    fn tag(&mut self, t: u8) {
        self.0.update([t]);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.update(bytes);
    }

    fn text(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn float(&mut self, x: f64) {
        self.0.update(x.to_bits().to_le_bytes());
    }

    fn per_output<T>(&mut self, p: &PerOutput<T>, value: impl Fn(&mut Self, &T)) {
        value(self, &p.default);
        self.count(p.overrides.len());
        for (name, v) in &p.overrides {
            self.text(name);
            value(self, v);
        }
    }

    fn tensor(&mut self, t: &Tensor) {
        self.text(t.dtype().numpy_name());
        self.count(t.shape().len());
        for &d in t.shape() {
            self.count(d);
        }
        self.count(t.size_in_bytes());
        match t {
            Tensor::F32(a) => self.elements(a.iter().map(|v| v.to_le_bytes())),
            Tensor::F16(a) => self.elements(a.iter().map(|v| v.to_le_bytes())),
            Tensor::BF16(a) => self.elements(a.iter().map(|v| v.to_le_bytes())),
            Tensor::F64(a) => self.elements(a.iter().map(|v| v.to_le_bytes())),
            Tensor::I8(a) => self.elements(a.iter().map(|v| v.to_le_bytes())),
            Tensor::U8(a) => self.elements(a.iter().map(|v| [*v])),
            Tensor::I32(a) => self.elements(a.iter().map(|v| v.to_le_bytes())),
            Tensor::I64(a) => self.elements(a.iter().map(|v| v.to_le_bytes())),
            Tensor::Bool(a) => self.elements(a.iter().map(|v| [u8::from(*v)])),
        }
    }

    /// Hashes elements in C order, through a buffer.
    fn elements<const N: usize>(&mut self, values: impl Iterator<Item = [u8; N]>) {
        let mut buffer = Vec::with_capacity(8192);
        for v in values {
            buffer.extend_from_slice(&v);
            if buffer.len() >= 8192 - N {
                self.0.update(&buffer);
                buffer.clear();
            }
        }
        self.0.update(&buffer);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ndarray::{ArrayD, IxDyn};
    use precision_core::{CompareFunc, ErrorStat, NamedTensors};

    use super::*;

    fn tensors(pairs: &[(&str, Tensor)]) -> NamedTensors {
        pairs.iter().map(|(n, t)| ((*n).to_owned(), t.clone())).collect()
    }

    fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap())
    }

    /// Every ingredient changed in turn (one at a time) gives a fingerprint of its own.
    #[test]
    fn each_ingredient_changes_the_fingerprint() {
        let inputs = vec![tensors(&[("x", f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]))])];
        let goldens = vec![tensors(&[("y", f32s(&[2], &[0.5, 0.25]))])];
        let compare = CompareConfig::default();
        let identity =
            AnswerIdentity::new().with("model", b"model bytes").with("shapes", "x:[2,2]");
        let base = Ingredients {
            backend: "mock",
            identity: &identity,
            lower: &[Precision::Int8],
            higher: Precision::Float32,
            inputs: &inputs,
            goldens: &goldens,
            compare: &compare,
            ranking_samples: None,
            check_command: None,
        };

        let lower_both = [Precision::Int8, Precision::Float16];
        let mut variants: Vec<(String, Vec<NamedTensors>, Vec<NamedTensors>, CompareConfig)> =
            Vec::new();
        let mut tensor_variant = |label: &str, inputs2: Vec<NamedTensors>, in_goldens: bool| {
            let (i, g) =
                if in_goldens { (inputs.clone(), inputs2) } else { (inputs2, goldens.clone()) };
            variants.push((label.to_owned(), i, g, compare.clone()));
        };
        // Inputs: a value, the name, the dtype (same bytes), the shape (same bytes), one more
        // iteration, one more tensor.
        let x = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        tensor_variant(
            "input value",
            vec![tensors(&[("x", f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.5]))])],
            false,
        );
        tensor_variant("input name", vec![tensors(&[("x2", x.clone())])], false);
        let as_i32: Vec<i32> =
            [1.0f32, 2.0, 3.0, 4.0].iter().map(|v| i32::from_le_bytes(v.to_le_bytes())).collect();
        tensor_variant(
            "input dtype",
            vec![tensors(&[(
                "x",
                Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[2, 2]), as_i32).unwrap()),
            )])],
            false,
        );
        tensor_variant(
            "input shape",
            vec![tensors(&[("x", f32s(&[4], &[1.0, 2.0, 3.0, 4.0]))])],
            false,
        );
        tensor_variant(
            "input iterations",
            vec![tensors(&[("x", x.clone())]), tensors(&[("x", x.clone())])],
            false,
        );
        tensor_variant(
            "input tensors",
            vec![tensors(&[("x", x.clone()), ("z", f32s(&[1], &[0.0]))])],
            false,
        );
        tensor_variant("golden value", vec![tensors(&[("y", f32s(&[2], &[0.5, 0.3]))])], true);
        tensor_variant("golden name", vec![tensors(&[("y2", f32s(&[2], &[0.5, 0.25]))])], true);
        let mut configs: Vec<(&str, CompareConfig)> = Vec::new();
        let mut c = compare.clone();
        c.atol.default = 1e-3;
        configs.push(("atol", c));
        let mut c = compare.clone();
        c.atol.overrides.push(("y".to_owned(), 1e-5));
        configs.push(("atol override", c));
        let mut c = compare.clone();
        c.rtol.default = 0.0;
        configs.push(("rtol", c));
        let mut c = compare.clone();
        c.rtol.overrides.push(("y".to_owned(), 1e-5));
        configs.push(("rtol override", c));
        let mut c = compare.clone();
        c.check_error_stat.default = ErrorStat::Max;
        configs.push(("stat", c));
        let mut c = compare.clone();
        c.check_error_stat.overrides.push(("y".to_owned(), ErrorStat::Mean));
        configs.push(("stat override", c));
        let mut c = compare.clone();
        c.error_quantile.default = 0.5;
        configs.push(("quantile", c));
        let mut c = compare.clone();
        c.error_quantile.overrides.push(("y".to_owned(), 0.5));
        configs.push(("quantile override", c));
        let mut c = compare.clone();
        c.infinities_compare_equal = true;
        configs.push(("infinities", c));
        let mut c = compare.clone();
        c.check_shapes = false;
        configs.push(("shape check", c));
        let mut c = compare.clone();
        c.functions = vec![CompareFunc::L2];
        configs.push(("compare function", c));
        let mut c = compare.clone();
        c.functions = vec![CompareFunc::Simple, CompareFunc::L2];
        configs.push(("two compare functions", c));
        let mut c = compare.clone();
        c.index_tolerance.default = 2;
        configs.push(("index tolerance", c));
        let mut c = compare.clone();
        c.l2_threshold.overrides.push(("y".to_owned(), 1e-2));
        configs.push(("l2 threshold", c));
        let mut c = compare.clone();
        c.cosine_similarity_threshold.default = 0.99;
        configs.push(("cosine threshold", c));
        let mut c = compare.clone();
        c.psnr_threshold.default = 40.0;
        configs.push(("psnr threshold", c));
        let mut c = compare.clone();
        c.snr_threshold.default = 10.0;
        configs.push(("snr threshold", c));
        let mut c = compare.clone();
        c.check_average = true;
        configs.push(("check average", c));
        let mut c = compare.clone();
        c.margin = 0.5;
        configs.push(("margin", c));
        for (label, c) in configs {
            variants.push((label.to_owned(), inputs.clone(), goldens.clone(), c));
        }

        let mut seen: HashMap<String, String> = HashMap::new();
        let mut add = |label: &str, i: &Ingredients<'_>| {
            let fp = fingerprint(i).unwrap();
            assert_eq!(fp.len(), 64);
            if let Some(earlier) = seen.insert(fp, label.to_owned()) {
                panic!("'{label}' and '{earlier}' have the same fingerprint");
            }
        };
        add("base", &base);
        // Every change to the backend's identity: a value, a name, one part more or less,
        // the order of the parts.
        let identities = [
            (
                "model",
                AnswerIdentity::new().with("model", b"model bytez").with("shapes", "x:[2,2]"),
            ),
            (
                "part name",
                AnswerIdentity::new().with("modal", b"model bytes").with("shapes", "x:[2,2]"),
            ),
            ("shapes", AnswerIdentity::new().with("model", b"model bytes").with("shapes", "x:[4]")),
            ("one part", AnswerIdentity::new().with("model", b"model bytes")),
            ("no parts", AnswerIdentity::new()),
            ("one more part", identity.clone().with("calibration", "entropy\nno cache")),
            (
                "order",
                AnswerIdentity::new().with("shapes", "x:[2,2]").with("model", b"model bytes"),
            ),
            // Bytes moved from one part to the next, or from a name to a value.
            (
                "split",
                AnswerIdentity::new().with("model", b"model byte").with("sshapes", "x:[2,2]"),
            ),
            ("name", AnswerIdentity::new().with("modelm", b"odel bytes").with("shapes", "x:[2,2]")),
        ];
        for (label, id) in &identities {
            add(label, &Ingredients { identity: id, ..base });
        }
        add("backend", &Ingredients { backend: "onnxrt", ..base });
        add("lower", &Ingredients { lower: &[Precision::Float16], ..base });
        add("lower list", &Ingredients { lower: &lower_both, ..base });
        add("higher", &Ingredients { higher: Precision::Float16, ..base });
        add("ranking samples", &Ingredients { ranking_samples: Some(3), ..base });
        add("other ranking samples", &Ingredients { ranking_samples: Some(4), ..base });
        add("check command", &Ingredients { check_command: Some(b"[\"./eval.sh\"]"), ..base });
        add("other command", &Ingredients { check_command: Some(b"[\"./eval2.sh\"]"), ..base });
        for (label, i, g, c) in &variants {
            add(label, &Ingredients { inputs: i, goldens: g, compare: c, ..base });
        }
        // The same setup gives the same fingerprint.
        let copy = AnswerIdentity::new().with("model", b"model bytes").with("shapes", "x:[2,2]");
        let again = Ingredients { identity: &copy, ..base };
        assert_eq!(fingerprint(&again).unwrap(), fingerprint(&base).unwrap());
    }

    /// Inputs and goldens are separate lists: a tensor moved from one to the other changes the
    /// fingerprint.
    #[test]
    fn inputs_and_goldens_do_not_mix() {
        let t = vec![tensors(&[("a", f32s(&[1], &[1.0]))])];
        let empty: Vec<NamedTensors> = vec![NamedTensors::new()];
        let compare = CompareConfig::default();
        let identity = AnswerIdentity::new().with("model", b"m");
        let base = Ingredients {
            backend: "mock",
            identity: &identity,
            lower: &[],
            higher: Precision::Float32,
            inputs: &t,
            goldens: &empty,
            compare: &compare,
            ranking_samples: None,
            check_command: None,
        };
        let swapped = Ingredients { inputs: &empty, goldens: &t, ..base };
        assert_ne!(fingerprint(&base).unwrap(), fingerprint(&swapped).unwrap());
    }
}
