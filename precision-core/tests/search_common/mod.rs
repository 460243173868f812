//! Fake networks, oracles and observers shared by the search tests.

#![allow(dead_code, reason = "each test binary uses a different part of the helpers")]

pub mod backend;

use std::time::Duration;

use precision_core::{
    Algorithm, BackendError, Check, DType, ErrorStat, Evaluation, Layer, LayerSet, Network,
    Observer, Oracle, OutputComparison, OutputSelection, SearchError, TensorInfo,
};

/// A chain `x -> L0 -> t0 -> L1 -> t1 ... -> t{n-1}` whose layers in `unmarkable` cannot be
/// marked.
pub fn chain(n: usize, unmarkable: &[usize]) -> Network {
    let layers = (0..n)
        .map(|i| {
            let input = if i == 0 { "x".to_owned() } else { format!("t{}", i - 1) };
            let mut layer =
                Layer::new(i, format!("L{i}"), "Relu", vec![input], vec![format!("t{i}")]);
            if unmarkable.contains(&i) {
                layer.unmarkable_reason = Some("no higher-precision implementation".into());
            }
            layer
        })
        .collect();
    Network {
        name: "chain".into(),
        inputs: vec![TensorInfo::fixed("x", DType::F32, &[1])],
        layers,
        outputs: if n == 0 { vec!["x".into()] } else { vec![format!("t{}", n - 1)] },
    }
}

/// A network from `(name, inputs, outputs)` triples; the last layer's first output is the
/// network output unless `outputs` is given.
pub fn dag(spec: &[(&str, &[&str], &[&str])], outputs: &[&str]) -> Network {
    let layers = spec
        .iter()
        .enumerate()
        .map(|(i, (name, ins, outs))| {
            Layer::new(
                i,
                *name,
                "Op",
                ins.iter().map(|s| (*s).to_owned()).collect(),
                outs.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect();
    let net = Network {
        name: "dag".into(),
        inputs: vec![TensorInfo::fixed("x", DType::F32, &[1])],
        layers,
        outputs: outputs.iter().map(|s| (*s).to_owned()).collect(),
    };
    net.validate().expect("test network is well formed");
    net
}

/// A comparison with the given max absolute error.
pub fn cmp(name: &str, max_absdiff: f64, passed: bool) -> OutputComparison {
    OutputComparison {
        name: name.into(),
        passed,
        stat: ErrorStat::Elemwise,
        max_absdiff,
        max_reldiff: max_absdiff,
        mean_absdiff: max_absdiff,
        mean_reldiff: max_absdiff,
        required_atol: max_absdiff,
        required_rtol: max_absdiff,
        mismatch: None,
        metrics: Vec::new(),
        headroom: f64::INFINITY,
    }
}

/// An oracle that passes iff its hidden `needed` set is marked, optionally failing to build
/// some plans, and returning fixed layer errors for [`OutputSelection::EveryLayer`].
pub struct NeededOracle {
    pub network: Network,
    pub needed: Vec<usize>,
    /// Plans for which the build fails (checked before `needed`).
    pub build_fails: fn(&LayerSet) -> bool,
    /// What an [`OutputSelection::EveryLayer`] check returns as layer outputs (`None`: unsupported).
    pub layer_outputs: Option<Vec<OutputComparison>>,
    /// Every call made, in order.
    pub calls: Vec<(LayerSet, OutputSelection)>,
}

impl NeededOracle {
    pub fn new(network: Network, needed: &[usize]) -> Self {
        NeededOracle {
            network,
            needed: needed.to_vec(),
            build_fails: |_| false,
            layer_outputs: None,
            calls: Vec::new(),
        }
    }

    /// Whether `marked` passes, without recording a call.
    pub fn passes(&self, marked: &LayerSet) -> bool {
        !(self.build_fails)(marked) && self.needed.iter().all(|&i| marked.contains(i))
    }
}

impl Oracle for NeededOracle {
    fn network(&self) -> &Network {
        &self.network
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        assert_eq!(marked.universe(), self.network.len(), "sets range over every layer");
        for i in marked.iter() {
            assert!(self.network.layers[i].is_markable(), "unmarkable layer {i} was marked");
        }
        self.calls.push((marked.clone(), detail));
        if (self.build_fails)(marked) {
            return Ok(Evaluation {
                passed: false,
                build_error: Some("no implementation obeys the requested constraints".into()),
                outputs: Vec::new(),
                layer_outputs: None,
                deviations: Vec::new(),
                duration: Duration::ZERO,
                isolated: None,
                reused: false,
                refused: Vec::new(),
                samples: None,
                command: None,
                timing: None,
            });
        }
        let passed = self.passes(marked);
        let outputs =
            self.network.outputs.iter().map(|o| cmp(o, if passed { 0.0 } else { 1.0 }, passed));
        Ok(Evaluation {
            passed,
            build_error: None,
            outputs: outputs.collect(),
            layer_outputs: match detail {
                OutputSelection::EveryLayer | OutputSelection::Isolated => {
                    self.layer_outputs.clone()
                }
                OutputSelection::NetworkOutputs => None,
            },
            deviations: Vec::new(),
            duration: Duration::ZERO,
            isolated: None,
            reused: false,
            refused: Vec::new(),
            samples: None,
            command: None,
            timing: None,
        })
    }
}

/// An oracle that passes iff at least `threshold` layers are marked (monotone in n).
pub struct ThresholdOracle {
    pub network: Network,
    pub threshold: usize,
    pub calls: usize,
}

impl Oracle for ThresholdOracle {
    fn network(&self) -> &Network {
        &self.network
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        _detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        self.calls += 1;
        Ok(Evaluation {
            passed: marked.len() >= self.threshold,
            build_error: None,
            outputs: Vec::new(),
            layer_outputs: None,
            deviations: Vec::new(),
            duration: Duration::ZERO,
            isolated: None,
            reused: false,
            refused: Vec::new(),
            samples: None,
            command: None,
            timing: None,
        })
    }
}

/// An oracle that fails every call with `error` after `ok_calls` failing checks.
pub struct FailingOracle {
    pub network: Network,
    pub ok_calls: usize,
    pub error: SearchError,
}

impl Oracle for FailingOracle {
    fn network(&self) -> &Network {
        &self.network
    }

    fn evaluate(
        &mut self,
        _marked: &LayerSet,
        _detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        if self.ok_calls == 0 {
            return Err(self.error.clone());
        }
        self.ok_calls -= 1;
        Ok(Evaluation {
            passed: false,
            build_error: None,
            outputs: Vec::new(),
            layer_outputs: None,
            deviations: Vec::new(),
            duration: Duration::ZERO,
            isolated: None,
            reused: false,
            refused: Vec::new(),
            samples: None,
            command: None,
            timing: None,
        })
    }
}

/// Something an observer saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started(Algorithm, Option<usize>),
    CheckStarted(usize, LayerSet),
    CheckFinished(usize, bool),
    Note(String),
}

/// An observer that records every event.
#[derive(Debug, Default)]
pub struct Recorder {
    pub events: Vec<Event>,
}

impl Recorder {
    /// The budget announced at the start.
    pub fn budget(&self) -> Option<usize> {
        self.events.iter().find_map(|e| match e {
            Event::Started(_, budget) => *budget,
            _ => None,
        })
    }

    /// Asserts the check events are numbered 1, 2, ... and come in started/finished pairs.
    pub fn assert_well_numbered(&self, checks: usize) {
        let numbers: Vec<(usize, bool)> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::CheckStarted(n, _) => Some((*n, true)),
                Event::CheckFinished(n, _) => Some((*n, false)),
                _ => None,
            })
            .collect();
        let expected: Vec<(usize, bool)> =
            (1..=checks).flat_map(|n| [(n, true), (n, false)]).collect();
        assert_eq!(numbers, expected);
    }

    pub fn notes(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Note(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl Observer for Recorder {
    fn search_started(
        &mut self,
        algorithm: Algorithm,
        _network: &Network,
        max_checks: Option<usize>,
    ) {
        self.events.push(Event::Started(algorithm, max_checks));
    }

    fn check_started(&mut self, number: usize, marked: &LayerSet) {
        self.events.push(Event::CheckStarted(number, marked.clone()));
    }

    fn check_finished(&mut self, number: usize, check: &Check) {
        self.events.push(Event::CheckFinished(number, check.passed));
    }

    fn note(&mut self, message: &str) {
        self.events.push(Event::Note(message.to_owned()));
    }
}

/// A build error as the backend reports it.
pub fn build_error() -> SearchError {
    SearchError::Backend(BackendError::Build("no kernel".into()))
}
