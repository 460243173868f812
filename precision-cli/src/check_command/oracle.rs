//! [`CommandOracle`]: the search oracle with a check command's verdict added to each check.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;

use precision_core::oracle::BackendOracle;
use precision_core::{
    Backend, CommandOutcome, Evaluation, LayerSet, Network, Oracle, OutputSelection, SearchError,
};

use super::artifacts::{Artifacts, Written};
use super::process::{self, Ending, Finished, RunError};
use super::{CheckCommand, ENGINE_PLACEHOLDER, interrupt};

/// The most lines of a failed command's output kept in its outcome, and the most characters.
const TAIL_LINES: usize = 8;
const TAIL_CHARS: usize = 1000;

/// A check command and where its artifacts go.
struct Runner {
    command: Arc<CheckCommand>,
    artifacts: Artifacts,
    /// Whether the built-in comparison decides too (both must pass).
    compare: bool,
    /// How many commands run at once.
    jobs: usize,
    /// The number of the next command run (`PRECISION_CHECK`, the artifact names).
    next: u64,
    /// The commands' verdicts so far, by plan: a plan is judged once, whatever detail is asked.
    outcomes: HashMap<LayerSet, CommandOutcome>,
}

/// Wraps a [`BackendOracle`]: with a check command, every check also writes the plan's model,
/// runs the command on it and records its verdict ([`Evaluation::command`]); the check passes
/// when the command passes and, unless `--no-compare`, the built-in comparison passed too
/// (the command only runs for plans that built and, with the comparison, passed it). Without
/// a command it only passes calls on.
pub struct CommandOracle<B: Backend> {
    inner: BackendOracle<B>,
    runner: Option<Runner>,
}

impl<B: Backend> CommandOracle<B> {
    /// `inner` alone: no command.
    pub fn plain(inner: BackendOracle<B>) -> Self {
        CommandOracle { inner, runner: None }
    }

    /// `inner` with `command`, running up to `jobs` commands at once, its artifacts in
    /// `artifacts_dir` (or a temporary folder) and kept when `keep`; `compare` says whether
    /// the built-in comparison decides too. Starts the Ctrl-C handling of running commands.
    pub fn new(
        inner: BackendOracle<B>,
        command: CheckCommand,
        compare: bool,
        jobs: usize,
        artifacts_dir: Option<&std::path::Path>,
        keep: bool,
    ) -> anyhow::Result<Self> {
        interrupt::install()
            .map_err(|e| anyhow::anyhow!("cannot handle Ctrl-C for check commands: {e}"))?;
        let artifacts = Artifacts::new(artifacts_dir, keep, inner.backend().model_extension())?;
        let runner = Runner {
            command: Arc::new(command),
            artifacts,
            compare,
            jobs: jobs.max(1),
            next: 1,
            outcomes: HashMap::new(),
        };
        Ok(CommandOracle { inner, runner: Some(runner) })
    }

    /// The oracle of the built-in comparison.
    pub fn inner(&self) -> &BackendOracle<B> {
        &self.inner
    }

    /// What the check command adds to the journal's fingerprint (`None` without one).
    pub fn identity(&self) -> Option<Vec<u8>> {
        self.runner.as_ref().map(|r| r.command.identity(r.compare))
    }

    /// The check command's line, shell-quoted, when there is a command.
    pub fn command_line(&self) -> Option<String> {
        self.runner.as_ref().map(|r| r.command.describe())
    }

    /// The check command's folder of artifacts, when there is a command.
    pub fn artifacts_dir(&self) -> Option<&std::path::Path> {
        self.runner.as_ref().map(|r| r.artifacts.dir())
    }

    /// The evaluation a check starts from: the built-in one, or an empty passing one when only
    /// the command decides (network outputs need no build then).
    fn start(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        let compare = self.runner.as_ref().is_none_or(|r| r.compare);
        if compare || detail != OutputSelection::NetworkOutputs {
            return self.inner.evaluate(marked, detail);
        }
        valid_set(self.inner.network(), marked)?;
        Ok(Evaluation {
            passed: true,
            build_error: None,
            ..Evaluation::build_failure(String::new(), std::time::Duration::ZERO)
        })
    }

    /// Whether `evaluation` goes on to the command: it built and, when the comparison
    /// decides too, passed it.
    fn needs_command(&self, evaluation: &Evaluation) -> bool {
        let compare = self.runner.as_ref().is_none_or(|r| r.compare);
        evaluation.build_error.is_none() && (evaluation.passed || !compare)
    }

    /// Runs the command on each plan of `sets` not judged yet, `jobs` at a time.
    fn judge(&mut self, sets: &[LayerSet]) -> Result<(), SearchError> {
        let Some(runner) = self.runner.as_mut() else { return Ok(()) };
        let network = self.inner.network().clone();
        let mut pending: Vec<LayerSet> = Vec::new();
        for set in sets {
            let key = LayerSet::from_indices(network.len(), set.iter());
            if !runner.outcomes.contains_key(&key) && !pending.contains(&key) {
                pending.push(key);
            }
        }
        for chunk in pending.chunks(runner.jobs) {
            let mut prepared: Vec<(u64, Written)> = Vec::with_capacity(chunk.len());
            for set in chunk {
                let plan = self.inner.base_plan().with_marked(set.clone());
                let model = if runner.command.uses_model() {
                    Some(self.inner.backend().export_model(&plan)?)
                } else {
                    None
                };
                let engine = if runner.command.uses_engine() {
                    let engine = self.inner.export_engine(set)?.ok_or_else(|| {
                        SearchError::InvalidInput(format!(
                            "the {} backend has no engine file for {ENGINE_PLACEHOLDER}",
                            self.inner.backend().name()
                        ))
                    })?;
                    Some(engine)
                } else {
                    None
                };
                let names: Vec<&str> =
                    set.iter().map(|i| network.layers[i].name.as_str()).collect();
                let number = runner.next;
                runner.next += 1;
                let written = runner
                    .artifacts
                    .write(number, model.as_deref(), engine.as_deref(), &names)
                    .map_err(|e| SearchError::InvalidInput(format!("{e:#}")))?;
                prepared.push((number, written));
            }
            let command = &runner.command;
            let results: Vec<Result<Finished, RunError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = prepared
                    .iter()
                    .map(|(number, written)| {
                        scope.spawn(move || {
                            let mut env = vec![
                                ("PRECISION_CHECK", OsString::from(number.to_string())),
                                ("PRECISION_MARKED", written.marked.clone().into_os_string()),
                            ];
                            if let Some(model) = &written.model {
                                env.push(("PRECISION_MODEL", model.clone().into_os_string()));
                            }
                            if let Some(engine) = &written.engine {
                                env.push(("PRECISION_ENGINE", engine.clone().into_os_string()));
                            }
                            process::run(&command.argv_for(written), &env, command.timeout())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                    .collect()
            });
            for (_, written) in &prepared {
                runner.artifacts.finish(written);
            }
            if results.iter().any(|r| matches!(r, Err(RunError::Interrupted))) {
                interrupt::wait_for_the_end();
            }
            for ((set, (_, written)), result) in chunk.iter().zip(&prepared).zip(results) {
                let finished = match result {
                    Ok(finished) => finished,
                    Err(RunError::Interrupted) => interrupt::wait_for_the_end(),
                    Err(RunError::Start(e)) => {
                        return Err(SearchError::InvalidInput(format!(
                            "the check command {} cannot be started: {e}",
                            command.describe()
                        )));
                    }
                    Err(RunError::Wait(e)) => {
                        return Err(SearchError::InvalidInput(format!(
                            "waiting for the check command {} failed: {e}",
                            command.describe()
                        )));
                    }
                };
                let kept = written.model.as_ref().or(written.engine.as_ref());
                let kept =
                    kept.filter(|_| runner.artifacts.kept()).map(|p| p.display().to_string());
                runner.outcomes.insert(set.clone(), outcome(command, &finished, kept));
            }
        }
        Ok(())
    }

    /// Adds the command's verdict on `marked` to `evaluation`.
    fn combine(&self, marked: &LayerSet, mut evaluation: Evaluation) -> Evaluation {
        let Some(runner) = self.runner.as_ref() else { return evaluation };
        let key = LayerSet::from_indices(self.inner.network().len(), marked.iter());
        let Some(outcome) = runner.outcomes.get(&key) else { return evaluation };
        evaluation.passed = outcome.passed && (evaluation.passed || !runner.compare);
        evaluation.duration += outcome.duration;
        evaluation.command = Some(outcome.clone());
        evaluation
    }
}

impl<B: Backend> std::ops::Deref for CommandOracle<B> {
    type Target = BackendOracle<B>;

    fn deref(&self) -> &BackendOracle<B> {
        &self.inner
    }
}

impl<B: Backend> std::ops::DerefMut for CommandOracle<B> {
    /// The wrapped oracle, for work outside the search (the holdout check, judged by the
    /// built-in comparison on the holdout data; the command is not run).
    fn deref_mut(&mut self) -> &mut BackendOracle<B> {
        &mut self.inner
    }
}

impl<B: Backend> Oracle for CommandOracle<B> {
    fn network(&self) -> &Network {
        self.inner.network()
    }

    fn evaluate(
        &mut self,
        marked: &LayerSet,
        detail: OutputSelection,
    ) -> Result<Evaluation, SearchError> {
        if self.runner.is_none() {
            return self.inner.evaluate(marked, detail);
        }
        let evaluation = self.start(marked, detail)?;
        if self.needs_command(&evaluation) {
            self.judge(std::slice::from_ref(marked))?;
            return Ok(self.combine(marked, evaluation));
        }
        Ok(evaluation)
    }

    fn evaluate_batch(
        &mut self,
        sets: &[LayerSet],
        detail: OutputSelection,
    ) -> Result<Vec<Evaluation>, SearchError> {
        let Some(compare) = self.runner.as_ref().map(|r| r.compare) else {
            return self.inner.evaluate_batch(sets, detail);
        };
        let evaluations = if compare {
            self.inner.evaluate_batch(sets, detail)?
        } else {
            sets.iter().map(|s| self.start(s, detail)).collect::<Result<Vec<_>, _>>()?
        };
        let to_judge: Vec<LayerSet> = sets
            .iter()
            .zip(&evaluations)
            .filter(|(_, e)| self.needs_command(e))
            .map(|(s, _)| s.clone())
            .collect();
        self.judge(&to_judge)?;
        Ok(sets.iter().zip(evaluations).map(|(s, e)| self.combine(s, e)).collect())
    }

    fn jobs(&self) -> usize {
        match &self.runner {
            Some(runner) if !runner.compare => runner.jobs,
            Some(runner) => runner.jobs.max(self.inner.jobs()),
            None => self.inner.jobs(),
        }
    }
}

/// Refuses a set with layers the network does not have.
fn valid_set(network: &Network, marked: &LayerSet) -> Result<(), SearchError> {
    if let Some(bad) = marked.iter().find(|&i| i >= network.len()) {
        return Err(SearchError::InvalidInput(format!(
            "layer index {bad} is out of range: network '{}' has {} layers",
            network.name,
            network.len()
        )));
    }
    Ok(())
}

/// The verdict on a finished run.
fn outcome(
    command: &CheckCommand,
    finished: &Finished,
    artifact: Option<String>,
) -> CommandOutcome {
    let passed = command.passed(finished);
    let (status, exit_code, signal, timed_out) = match finished.ending {
        Ending::Exited(code) => (format!("exit code {code}"), Some(code), None, false),
        Ending::Signaled(signal) => {
            (format!("killed by signal {signal}"), None, Some(signal), false)
        }
        Ending::TimedOut(limit) => {
            (format!("timed out after {}s", limit.as_secs_f64()), None, None, true)
        }
    };
    CommandOutcome {
        passed,
        status,
        exit_code,
        signal,
        timed_out,
        metric: command.metric(finished),
        output_tail: if passed { String::new() } else { tail(finished) },
        artifact,
        duration: finished.duration,
    }
}

/// The last lines of the command's output (stderr after stdout), shortened.
fn tail(finished: &Finished) -> String {
    let mut text = String::from_utf8_lossy(&finished.stdout).into_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&String::from_utf8_lossy(&finished.stderr));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if tail.chars().count() > TAIL_CHARS {
        let skip = tail.chars().count() - TAIL_CHARS;
        tail = format!("...{}", tail.chars().skip(skip).collect::<String>());
    }
    tail
}
