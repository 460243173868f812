//! Where ONNX Runtime placed each node: read from its verbose log through a session logger,
//! and checked (no computing node on the CPU unless the CPU provider was listed).

#[allow(clippy::wildcard_imports)]
use super::*;

/// The placement lines of one session creation, filled by its logger.
#[derive(Debug, Clone, Default)]
pub struct PlacementLog {
    pub(super) state: Arc<Mutex<PlacementLines>>,
}

/// The placement report's lines, kept as ONNX Runtime logs them.
#[derive(Debug, Default)]
pub(super) struct PlacementLines {
    pub(super) lines: Vec<String>,
    /// Whether the last message was a `Node(s) placed on` header or one of its node lines.
    pub(super) in_list: bool,
}

impl PlacementLines {
    /// Keeps `message` when it belongs to the placement report: a header line, or a node
    /// line (`  Op (name)`) right after a header or another node line.
    pub(super) fn take(&mut self, message: &str) {
        let m = message.trim_start();
        if m.starts_with("All nodes placed on [") {
            self.lines.push(message.to_owned());
            self.in_list = false;
        } else if m.starts_with("Node(s) placed on [") {
            self.lines.push(message.to_owned());
            self.in_list = true;
        } else if self.in_list && message.starts_with("  ") && m.contains(" (") {
            self.lines.push(message.to_owned());
        } else {
            self.in_list = false;
        }
    }
}

impl PlacementLog {
    /// Feeds one log message, as the session logger does (for tests).
    pub fn take(&self, message: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.take(message);
        }
    }

    /// The placement recorded so far.
    #[must_use]
    pub fn placement(&self) -> Placement {
        let lines = self.state.lock().map(|s| s.lines.clone()).unwrap_or_default();
        Placement::parse(lines.iter().map(String::as_str))
    }
}

/// Which nodes ONNX Runtime placed on which provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Per provider (ONNX Runtime's name): how many nodes, and those named in the log (op type,
    /// node name); ONNX Runtime names them only when more than one provider has nodes.
    pub providers: Vec<PlacedOn>,
}

/// The nodes placed on one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacedOn {
    /// ONNX Runtime's name of the provider.
    pub provider: String,
    /// How many nodes.
    pub count: usize,
    /// The nodes listed, as (op type, node name).
    pub nodes: Vec<(String, String)>,
}

impl Placement {
    /// Reads ONNX Runtime's placement report: `All nodes placed on [P]. Number of nodes: N`, or
    /// per provider `Node(s) placed on [P]. Number of nodes: N` followed by `  Op (name)`
    /// lines.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Placement {
        let mut placement = Placement::default();
        for line in lines {
            let trimmed = line.trim();
            let header = trimmed
                .strip_prefix("All nodes placed on [")
                .or_else(|| trimmed.strip_prefix("Node(s) placed on ["));
            if let Some(rest) = header {
                let Some((provider, tail)) = rest.split_once(']') else { continue };
                let count =
                    tail.rsplit_once(':').and_then(|(_, n)| n.trim().parse().ok()).unwrap_or(0);
                placement.providers.push(PlacedOn {
                    provider: provider.to_owned(),
                    count,
                    nodes: Vec::new(),
                });
            } else if let Some(current) = placement.providers.last_mut()
                && let Some((op, name)) = trimmed.split_once(" (")
            {
                let name = name.strip_suffix(')').unwrap_or(name);
                current.nodes.push((op.to_owned(), name.to_owned()));
            }
        }
        placement
    }

    /// Whether the log held a placement report at all.
    #[must_use]
    pub fn is_known(&self) -> bool {
        !self.providers.is_empty()
    }

    /// The number of nodes on each provider, e.g. `CUDAExecutionProvider 52,
    /// CPUExecutionProvider 3`.
    #[must_use]
    pub fn summary(&self) -> String {
        let parts: Vec<String> =
            self.providers.iter().map(|p| format!("{} {}", p.provider, p.count)).collect();
        parts.join(", ")
    }

    /// Refuses a placement that runs computing nodes off the providers of `settings`: every
    /// node must be on a listed provider, except that nodes computing only integer or boolean
    /// tensors of `model` (shape arithmetic, which ONNX Runtime prefers on CPU) may run on
    /// CPU. An unknown placement (no report in the log) is refused too, since nothing shows
    /// where the session runs.
    pub fn check(&self, settings: &ExecutionSettings, model: &OnnxModel) -> Result<(), String> {
        self.check_with(settings, &shape_only_nodes(model))
    }

    /// [`Placement::check`] with the names of the model's shape-only nodes (allowed on CPU)
    /// already known.
    pub fn check_with(
        &self,
        settings: &ExecutionSettings,
        shape_only: &HashSet<String>,
    ) -> Result<(), String> {
        if !self.is_known() {
            return Err("ONNX Runtime reported no node placement, so nothing shows that the \
                        session runs on the GPU"
                .to_owned());
        }
        let allowed: Vec<&str> = settings.providers.iter().map(|p| p.kind.ort_name()).collect();
        let mut refused: Vec<String> = Vec::new();
        for placed in &self.providers {
            if allowed.contains(&placed.provider.as_str()) {
                continue;
            }
            let off_list = placed.provider != ProviderKind::Cpu.ort_name();
            if placed.nodes.len() < placed.count || off_list {
                // The log did not name them all (every node on one provider), or a provider
                // that was not asked for at all.
                refused.push(format!(
                    "{} of the nodes ran on {} ({})",
                    placed.count,
                    placed.provider,
                    self.summary()
                ));
                continue;
            }
            let computing: Vec<String> = placed
                .nodes
                .iter()
                .filter(|(_, name)| !shape_only.contains(name))
                .map(|(op, name)| format!("{op} ({name})"))
                .collect();
            if !computing.is_empty() {
                refused.push(format!(
                    "{} node(s) ran on {}: {}",
                    computing.len(),
                    placed.provider,
                    shorten(&computing, 8)
                ));
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "ONNX Runtime fell back to CPU, which --providers {} does not allow: {}; a \
                 provider may lack kernels for these ops in these precisions",
                settings.providers.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
                refused.join("; ")
            ))
        }
    }
}

/// The first `max` items, and how many more.
pub(super) fn shorten(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!("{}, and {} more", items[..max].join(", "), items.len() - max)
    }
}

/// The names of the top-level nodes of `model` whose outputs are all integer or boolean
/// tensors (shape arithmetic, indices), which ONNX Runtime may keep on CPU in a GPU session.
pub(crate) fn shape_only_nodes(model: &OnnxModel) -> HashSet<String> {
    pub(super) const INT32: i32 = 6;
    pub(super) const INT64: i32 = 7;
    pub(super) const BOOL: i32 = 9;
    let types =
        precision_onnx::types::infer_types(model.graph(), &precision_onnx::types::TypeMap::new());
    model
        .graph()
        .node
        .iter()
        .filter(|node| {
            !node.output.is_empty()
                && node
                    .output
                    .iter()
                    .filter(|o| !o.is_empty())
                    .all(|o| matches!(types.get(o), Some(&INT32 | &INT64 | &BOOL)))
        })
        .map(|node| node.name.clone())
        .collect()
}
