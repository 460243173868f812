//! The contract every [`Backend`] keeps, as one suite that each backend's tests run on a
//! network of their own: [`crate::backend_contract!`] expands to one `#[test]` per item, each
//! calling the function of this module of the same name with the [`ContractSubject`] the test
//! provides (how to open the backend, the inputs and independently known goldens, a plan it
//! cannot build, the answer a search must find).
//!
//! The items:
//! - [`calibrates_once`]: INT8 plans are refused (not failed checks) before calibration;
//!   calibration refuses no inputs and NaN inputs; a second calibration changes no answer.
//! - [`float32_reproduces_goldens`]: the float32 plan gives the goldens.
//! - [`build_error_is_a_failed_check`]: a plan the builder cannot build is a build failure
//!   (naming the refused layers where the backend can), the backend stays usable, and the
//!   oracle records a failed check instead of stopping.
//! - [`layer_outputs_follow_capabilities`]: every-layer and isolated outputs are given when
//!   [`crate::Capabilities`] says so, and refused (not failed checks) otherwise.
//! - [`marks_beyond_the_network_are_refused`]: a plan marking a layer the network lacks is
//!   refused by `build` and `export_model`, not built and not a failed check.
//! - [`copies_answer_the_same`]: a [`Backend::try_clone`] copy answers every plan as the
//!   original does.
//! - [`export_agrees_with_build`]: the exported model, run, gives the built plan's outputs
//!   (where the backend can export), and a backend that cannot export says so.
//! - [`search_finds_the_known_answer`]: every algorithm, minimized, finds the known answer.

use crate::oracle::{BackendOracle, Oracle};
use crate::{
    Algorithm, Backend, BackendError, CompareConfig, Engine, LayerSet, NamedTensors, Network,
    NoObserver, OutputSelection, PerOutput, Precision, PrecisionPlan, SearchOptions, Tensor,
    run_search,
};

/// What a backend's test gives the contract suite.
pub trait ContractSubject {
    /// The backend under test.
    type Backend: Backend;

    /// A new backend over the contract's network, set up to lower to [`Self::lower`].
    fn open(&self) -> Self::Backend;

    /// The lower precisions of the contract's plans (INT8 among them for a backend that
    /// calibrates).
    fn lower(&self) -> Vec<Precision>;

    /// Whether the backend needs [`Backend::calibrate`] before it builds an INT8 plan.
    fn calibrates(&self) -> bool;

    /// The input samples (at least one).
    fn inputs(&self) -> Vec<NamedTensors>;

    /// The float32 network outputs for each input, known without the backend (computed by
    /// hand or by the test's own arithmetic).
    fn goldens(&self) -> Vec<NamedTensors>;

    /// How far (absolute, per element) the float32 plan's outputs may be from the goldens.
    fn golden_tolerance(&self) -> f64 {
        0.0
    }

    /// A backend over the same network (and inputs) with a plan it cannot build.
    fn unbuildable(&self) -> Unbuildable<Self::Backend>;

    /// The answer every search must find.
    fn known_answer(&self) -> KnownAnswer;

    /// Whether [`Backend::export_model`] writes a model for a plan.
    fn exports(&self) -> bool;

    /// Runs a model [`Backend::export_model`] wrote on `inputs`; `None` when what it writes
    /// is not a runnable model (a description of the plan).
    fn run_exported(&self, model: &[u8], inputs: &[NamedTensors]) -> Option<Vec<NamedTensors>> {
        let _ = (model, inputs);
        None
    }

    /// How far (absolute, per element) the exported model's outputs may be from the built
    /// plan's.
    fn export_tolerance(&self) -> f64 {
        0.0
    }
}

/// A backend and a plan it cannot build: `lower` with nothing marked.
pub struct Unbuildable<B> {
    /// The backend, opened so that the plan cannot be built.
    pub backend: B,
    /// The lower precisions of the plan.
    pub lower: Vec<Precision>,
    /// The layers (by name) the builder must name as refused; empty when the backend cannot
    /// tell which ([`BackendError::Build`]).
    pub refused: Vec<String>,
    /// Layers (by name) whose marking makes the plan build.
    pub fix: Vec<String>,
}

/// The answer a search must find.
#[derive(Debug, Clone)]
pub struct KnownAnswer {
    /// The absolute tolerance of the comparison (the relative one is 0).
    pub atol: f64,
    /// The marked layers of the answer, by name, in any order.
    pub answer: Vec<String>,
}

/// Expands to one `#[test]` per contract item, each run on the subject `$subject` (an
/// expression evaluated anew in every test) that implements
/// [`ContractSubject`](crate::testing::contract::ContractSubject).
#[macro_export]
macro_rules! backend_contract {
    ($subject:expr) => {
        $crate::backend_contract!(@items $subject;
            calibrates_once,
            float32_reproduces_goldens,
            build_error_is_a_failed_check,
            layer_outputs_follow_capabilities,
            marks_beyond_the_network_are_refused,
            copies_answer_the_same,
            export_agrees_with_build,
            search_finds_the_known_answer,
        );
    };
    (@items $subject:expr; $($item:ident),* $(,)?) => {
        $(
            #[test]
            fn $item() {
                $crate::testing::contract::$item(&$subject);
            }
        )*
    };
}

/// INT8 plans are refused before calibration (for a backend that calibrates); calibration
/// refuses no inputs and NaN inputs as bad input; once calibrated, calibrating again changes
/// no answer. A backend that does not calibrate builds without it.
pub fn calibrates_once<S: ContractSubject>(subject: &S) {
    let inputs = subject.inputs();
    let mut backend = subject.open();
    let base = base_plan(subject, backend.network());
    if !(subject.calibrates() && base.lower.contains(&Precision::Int8)) {
        backend.calibrate(&inputs).expect("calibration of a backend that needs none");
        run(&mut backend, &base, OutputSelection::NetworkOutputs, &inputs);
        return;
    }
    let error = backend
        .build(&base, OutputSelection::NetworkOutputs)
        .err()
        .expect("an INT8 plan built before calibration is refused");
    assert_refused_for_calibration(&error, "build");
    if subject.exports() {
        let error = backend.export_model(&base).expect_err("an INT8 export before calibration");
        assert_refused_for_calibration(&error, "export");
    }
    let error = backend.calibrate(&[]).expect_err("calibration with no inputs is refused");
    assert!(matches!(error, BackendError::Input(_)), "no inputs: {error:?}");
    let mut poisoned = inputs.clone();
    assert!(poison(&mut poisoned[0]), "the contract needs a float input to put a NaN in");
    let error = backend.calibrate(&poisoned).expect_err("calibration on NaN inputs is refused");
    assert!(matches!(error, BackendError::Input(_)), "NaN inputs: {error:?}");
    assert!(error.to_string().contains("NaN"), "the error says why: {error}");

    backend.calibrate(&inputs).expect("calibration");
    let first = run(&mut backend, &base, OutputSelection::NetworkOutputs, &inputs);
    backend.calibrate(&inputs).expect("a second calibration");
    let second = run(&mut backend, &base, OutputSelection::NetworkOutputs, &inputs);
    assert_eq!(first, second, "calibrating again changed the answers");
}

/// The float32 plan's outputs are the goldens (within [`ContractSubject::golden_tolerance`]).
pub fn float32_reproduces_goldens<S: ContractSubject>(subject: &S) {
    let inputs = subject.inputs();
    let goldens = subject.goldens();
    assert_eq!(inputs.len(), goldens.len(), "the subject gives one golden set per input");
    let mut backend = ready(subject, &inputs);
    let network = backend.network().clone();
    let plan = PrecisionPlan::float32(&network);
    let outputs = run(&mut backend, &plan, OutputSelection::NetworkOutputs, &inputs);
    for (i, (produced, golden)) in outputs.iter().zip(&goldens).enumerate() {
        for name in &network.outputs {
            assert!(produced.contains_key(name), "sample {i}: network output '{name}' missing");
            assert!(golden.contains_key(name), "sample {i}: the goldens lack output '{name}'");
        }
        assert_close(produced, golden, subject.golden_tolerance(), &format!("float32, sample {i}"));
    }
}

/// A plan the builder cannot build is a build failure, naming the refused layers where the
/// backend can; the backend still builds the plan with the fix marked; through the oracle the
/// plan is a failed check, not an error that stops the search.
pub fn build_error_is_a_failed_check<S: ContractSubject>(subject: &S) {
    let inputs = subject.inputs();
    let Unbuildable { mut backend, lower, refused, fix } = subject.unbuildable();
    backend.calibrate(&inputs).expect("calibration");
    let network = backend.network().clone();
    let base = PrecisionPlan::new(&network, lower, Precision::Float32).expect("a plan");
    let error = backend
        .build(&base, OutputSelection::NetworkOutputs)
        .err()
        .expect("the unbuildable plan does not build");
    assert!(error.is_build_failure(), "a build failure, not another error: {error:?}");
    let named: Vec<&str> =
        error.refused_layers().iter().map(|&i| network.layers[i].name.as_str()).collect();
    assert_eq!(named, refused, "the refused layers: {error}");
    let fixed = base.with_marked(indices(&network, &fix));
    run(&mut backend, &fixed, OutputSelection::NetworkOutputs, &inputs);

    let mut oracle =
        BackendOracle::new(backend, base, inputs, subject.goldens(), CompareConfig::default())
            .expect("an oracle");
    let failed = oracle
        .evaluate(&LayerSet::empty(network.len()), OutputSelection::NetworkOutputs)
        .expect("a build failure is a failed check, not an error");
    assert!(!failed.passed && failed.build_error.is_some(), "{failed:?}");
    let refused_by_oracle: Vec<&str> =
        failed.refused.iter().map(|&i| network.layers[i].name.as_str()).collect();
    assert_eq!(refused_by_oracle, refused);
    let built = oracle
        .evaluate(&indices(&network, &fix), OutputSelection::NetworkOutputs)
        .expect("the fixed plan is checked");
    assert!(built.build_error.is_none(), "{built:?}");
}

/// Every-layer outputs hold the network outputs and every output of every markable layer, and
/// isolated outputs name lowered markable layers, when the capabilities say so; otherwise the
/// selection is refused, not a failed check. Where layer outputs do not change results, the
/// network outputs are those of a plain build.
pub fn layer_outputs_follow_capabilities<S: ContractSubject>(subject: &S) {
    let inputs = subject.inputs();
    let mut backend = ready(subject, &inputs);
    let capabilities = backend.capabilities();
    let network = backend.network().clone();
    let base = base_plan(subject, &network);
    let plain = run(&mut backend, &base, OutputSelection::NetworkOutputs, &inputs);

    if capabilities.every_layer_output {
        let every = run(&mut backend, &base, OutputSelection::EveryLayer, &inputs);
        for (sample, outputs) in every.iter().enumerate() {
            for name in &network.outputs {
                assert!(outputs.contains_key(name), "sample {sample}: network output {name}");
            }
            for layer in network.layers.iter().filter(|l| l.is_markable()) {
                for name in &layer.outputs {
                    assert!(
                        outputs.contains_key(name),
                        "sample {sample}: output '{name}' of markable layer '{}' missing",
                        layer.name
                    );
                }
            }
            if !capabilities.layer_outputs_change_results {
                for name in &network.outputs {
                    assert_eq!(outputs[name], plain[sample][name], "network output {name}");
                }
            }
        }
    } else {
        assert_selection_refused(&mut backend, &base, OutputSelection::EveryLayer);
    }

    if capabilities.isolated_layer_output {
        let isolated = run(&mut backend, &base, OutputSelection::Isolated, &inputs);
        let lowered: Vec<String> = network
            .layers
            .iter()
            .filter(|l| l.is_markable())
            .flat_map(|l| l.outputs.iter().map(|o| crate::isolated_name(o)))
            .collect();
        for outputs in &isolated {
            let names: Vec<&String> =
                outputs.keys().filter(|k| k.starts_with(crate::ISOLATED_PREFIX)).collect();
            assert!(!names.is_empty(), "the lowered plan isolates some layer: {names:?}");
            for name in names {
                assert!(lowered.contains(name), "{name} is not an output of a markable layer");
            }
        }
    } else {
        assert_selection_refused(&mut backend, &base, OutputSelection::Isolated);
    }
}

/// A plan that marks a layer beyond the network is refused by `build` and by `export_model`
/// (not a failed check), and the backend goes on building.
pub fn marks_beyond_the_network_are_refused<S: ContractSubject>(subject: &S) {
    let inputs = subject.inputs();
    let mut backend = ready(subject, &inputs);
    let network = backend.network().clone();
    let base = base_plan(subject, &network);
    let beyond = base.with_marked(LayerSet::from_indices(network.len() + 3, [network.len() + 2]));
    let error = backend
        .build(&beyond, OutputSelection::NetworkOutputs)
        .err()
        .expect("a mark beyond the network is refused");
    assert!(!error.is_build_failure(), "refused, not a failed check: {error:?}");
    assert!(error.to_string().contains(&(network.len() + 2).to_string()), "names it: {error}");
    let error = backend.export_model(&beyond).expect_err("an export with a mark beyond");
    assert!(!error.is_build_failure(), "refused, not a failed check: {error:?}");
    run(&mut backend, &base, OutputSelection::NetworkOutputs, &inputs);
}

/// A copy made by [`Backend::try_clone`] has the same network, capabilities and answer
/// identity, and answers every plan exactly as the original does.
pub fn copies_answer_the_same<S: ContractSubject>(subject: &S) {
    let inputs = subject.inputs();
    let mut backend = ready(subject, &inputs);
    let Some(mut copy) = backend.try_clone(1).expect("try_clone") else {
        // A backend that cannot copy itself is checked one plan at a time; nothing to compare.
        return;
    };
    assert_eq!(copy.network(), backend.network());
    assert_eq!(copy.capabilities(), backend.capabilities());
    assert_eq!(copy.answer_identity(), backend.answer_identity());
    let network = backend.network().clone();
    for plan in plans(subject, &network) {
        let original = run(&mut backend, &plan, OutputSelection::NetworkOutputs, &inputs);
        let copied = run(&mut copy, &plan, OutputSelection::NetworkOutputs, &inputs);
        assert_eq!(copied, original, "the copy answers plan {:?} otherwise", plan.marked);
    }
}

/// Where the backend exports, the model it writes for a plan, run, gives the built plan's
/// outputs (within [`ContractSubject::export_tolerance`]), and exporting twice writes the
/// same bytes; a backend that cannot export refuses (not a failed check).
pub fn export_agrees_with_build<S: ContractSubject>(subject: &S) {
    let inputs = subject.inputs();
    let mut backend = ready(subject, &inputs);
    let network = backend.network().clone();
    for plan in plans(subject, &network) {
        if !subject.exports() {
            let error = backend.export_model(&plan).expect_err("the backend cannot export");
            assert!(matches!(error, BackendError::Unsupported(_)), "{error:?}");
            continue;
        }
        let model = backend.export_model(&plan).expect("an export");
        assert!(!model.is_empty(), "an exported model has bytes");
        assert_eq!(backend.export_model(&plan).expect("an export"), model, "exports differ");
        let built = run(&mut backend, &plan, OutputSelection::NetworkOutputs, &inputs);
        if let Some(exported) = subject.run_exported(&model, &inputs) {
            for (i, (e, b)) in exported.iter().zip(&built).enumerate() {
                let what = format!("exported vs built {:?}, sample {i}", plan.marked);
                assert_close(e, b, subject.export_tolerance(), &what);
            }
        }
    }
}

/// Every algorithm, with `--minimize`, finds [`ContractSubject::known_answer`].
pub fn search_finds_the_known_answer<S: ContractSubject>(subject: &S) {
    let known = subject.known_answer();
    let mut expected = known.answer.clone();
    expected.sort();
    for algorithm in
        [Algorithm::Bisect, Algorithm::Linear, Algorithm::WorstFirst, Algorithm::Ranked]
    {
        let inputs = subject.inputs();
        let backend = ready(subject, &inputs);
        let network = backend.network().clone();
        let base = base_plan(subject, &network);
        let config = CompareConfig {
            atol: PerOutput::uniform(known.atol),
            rtol: PerOutput::uniform(0.0),
            ..CompareConfig::default()
        };
        let mut oracle = BackendOracle::new(backend, base, inputs, subject.goldens(), config)
            .expect("an oracle");
        let options = SearchOptions { minimize: true, ..SearchOptions::new(algorithm) };
        let outcome = run_search(&mut oracle, &options, &mut NoObserver).expect("a search");
        let answer = outcome.answer.expect("an answer");
        let mut names: Vec<String> =
            answer.iter().map(|i| network.layers[i].name.clone()).collect();
        names.sort();
        assert_eq!(names, expected, "{algorithm:?} --minimize");
    }
}

/// The plans the copy and export items check: float32, the base plan, the base plan with the
/// first markable layer marked, and with every markable layer marked.
fn plans<S: ContractSubject>(subject: &S, network: &Network) -> Vec<PrecisionPlan> {
    let base = base_plan(subject, network);
    let markable: Vec<usize> =
        network.layers.iter().filter(|l| l.is_markable()).map(|l| l.index).collect();
    let first = LayerSet::from_indices(network.len(), markable.first().copied());
    let all = LayerSet::from_indices(network.len(), markable);
    vec![
        PrecisionPlan::float32(network),
        base.clone(),
        base.with_marked(first),
        base.with_marked(all),
    ]
}

/// The plan lowering to the subject's precisions with nothing marked.
fn base_plan<S: ContractSubject>(subject: &S, network: &Network) -> PrecisionPlan {
    PrecisionPlan::new(network, subject.lower(), Precision::Float32).expect("the base plan")
}

/// A backend opened and calibrated on `inputs`, as a search has it before its first check.
fn ready<S: ContractSubject>(subject: &S, inputs: &[NamedTensors]) -> S::Backend {
    let mut backend = subject.open();
    backend.calibrate(inputs).expect("calibration");
    backend
}

/// The indices of the layers named `names`.
fn indices(network: &Network, names: &[String]) -> LayerSet {
    let found = names.iter().map(|n| {
        network.layer_by_name(n).unwrap_or_else(|| panic!("the network has no layer '{n}'")).index
    });
    LayerSet::from_indices(network.len(), found)
}

/// Builds `plan` and runs it on every input.
fn run<B: Backend>(
    backend: &mut B,
    plan: &PrecisionPlan,
    selection: OutputSelection,
    inputs: &[NamedTensors],
) -> Vec<NamedTensors> {
    let mut engine = backend
        .build(plan, selection)
        .unwrap_or_else(|e| panic!("plan {:?} ({selection:?}) does not build: {e}", plan.marked));
    inputs.iter().map(|feed| engine.infer(feed).expect("inference")).collect()
}

/// Asserts that building `plan` with `selection` is refused as unsupported.
fn assert_selection_refused<B: Backend>(
    backend: &mut B,
    plan: &PrecisionPlan,
    selection: OutputSelection,
) {
    let error = backend.build(plan, selection).err().expect("an unsupported selection");
    assert!(!error.is_build_failure(), "{selection:?} is refused, not a failed check: {error:?}");
}

/// Asserts that `error` refuses an INT8 plan for want of calibration.
fn assert_refused_for_calibration(error: &BackendError, what: &str) {
    assert!(!error.is_build_failure(), "{what}: refused, not a failed check: {error:?}");
    assert!(error.to_string().contains("calibrat"), "{what}: the error says why: {error}");
}

/// Puts a NaN into the first float tensor of `feed`; false when it has none.
fn poison(feed: &mut NamedTensors) -> bool {
    for tensor in feed.values_mut() {
        let done = match tensor {
            Tensor::F32(a) => a.iter_mut().next().map(|v| *v = f32::NAN),
            Tensor::F64(a) => a.iter_mut().next().map(|v| *v = f64::NAN),
            Tensor::F16(a) => a.iter_mut().next().map(|v| *v = half::f16::NAN),
            Tensor::BF16(a) => a.iter_mut().next().map(|v| *v = half::bf16::NAN),
            _ => None,
        };
        if done.is_some() {
            return true;
        }
    }
    false
}

/// Asserts that every tensor of `expected` is in `actual` with its shape and, element by
/// element, within `tolerance` (NaN matching NaN).
fn assert_close(actual: &NamedTensors, expected: &NamedTensors, tolerance: f64, what: &str) {
    for (name, want) in expected {
        let got = actual.get(name).unwrap_or_else(|| panic!("{what}: no output {name:?}"));
        assert_eq!(got.shape(), want.shape(), "{what}: shape of {name:?}");
        for (k, (g, w)) in got.to_f64_vec().into_iter().zip(want.to_f64_vec()).enumerate() {
            let close = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tolerance;
            assert!(close, "{what}: {name:?}[{k}] is {g}, expected {w} (tolerance {tolerance})");
        }
    }
}
