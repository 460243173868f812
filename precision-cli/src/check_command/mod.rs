//! `--check CMD...`: an external command that judges every check, as in Polygraphy's `debug`
//! tools. `mod.rs` holds the validated settings and the verdict rules; `process` runs one
//! command, `interrupt` handles Ctrl-C while commands run, `artifacts` writes what they
//! check, and `oracle` wraps the search oracle with them.

mod artifacts;
mod interrupt;
mod oracle;
mod process;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use regex::Regex;

use artifacts::Written;
pub use oracle::CommandOracle;
pub use process::{Ending, Finished};

use crate::args::CheckCommandArgs;
use crate::console::escape;

/// The placeholder replaced by the path of the check's model.
pub const MODEL_PLACEHOLDER: &str = "{model}";
/// The placeholder replaced by the path of the check's engine file (TensorRT backend).
pub const ENGINE_PLACEHOLDER: &str = "{engine}";

/// Whether the command line `argv` names the check's engine file (`{engine}`).
pub fn names_engine(argv: &[String]) -> bool {
    argv.iter().any(|a| a.contains(ENGINE_PLACEHOLDER))
}

/// A validated `--check` command with its verdict rules.
#[derive(Debug, Clone)]
pub struct CheckCommand {
    argv: Vec<String>,
    fail_codes: Vec<i32>,
    ignore_fail_codes: Vec<i32>,
    fail_regexes: Vec<Regex>,
    metric_regex: Option<Regex>,
    timeout: Option<Duration>,
}

impl CheckCommand {
    /// The command `args` describe, or `None` without `--check`; flags that need `--check`
    /// without it, a program that cannot be found or run, and bad regular expressions are
    /// errors.
    pub fn from_args(args: &CheckCommandArgs) -> anyhow::Result<Option<Self>> {
        if args.check.is_empty() {
            let orphans: Vec<&str> = [
                ("--fail-code", !args.fail_code.is_empty()),
                ("--ignore-fail-code", !args.ignore_fail_code.is_empty()),
                ("--fail-regex", !args.fail_regex.is_empty()),
                ("--metric-regex", args.metric_regex.is_some()),
                ("--check-timeout", args.check_timeout.is_some()),
                ("--no-compare", args.no_compare),
                ("--keep-artifacts", args.keep_artifacts),
                ("--artifacts-dir", args.artifacts_dir.is_some()),
            ]
            .into_iter()
            .filter_map(|(flag, given)| given.then_some(flag))
            .collect();
            if !orphans.is_empty() {
                bail!(
                    "{} only apply to a check command: add --check CMD... (last on the command \
                     line)",
                    orphans.join(", ")
                );
            }
            return Ok(None);
        }
        if args.keep_artifacts && args.artifacts_dir.is_none() {
            bail!(
                "--keep-artifacts needs --artifacts-dir DIR: without it the artifacts go to a \
                 temporary folder that is removed at the end"
            );
        }
        if args.check_timeout.is_some_and(|t| t.is_zero()) {
            bail!("--check-timeout must be more than 0");
        }
        let program = &args.check[0];
        if program.is_empty() {
            bail!("--check: the command's program is an empty string");
        }
        find_program(program)?;
        let regex = |flag: &str, text: &str| {
            Regex::new(text).map_err(|e| {
                anyhow::anyhow!("{flag} '{}' is not a valid regular expression: {e}", escape(text))
            })
        };
        let fail_regexes =
            args.fail_regex.iter().map(|r| regex("--fail-regex", r)).collect::<Result<_, _>>()?;
        let metric_regex = args.metric_regex.as_deref().map(|r| regex("--metric-regex", r));
        Ok(Some(CheckCommand {
            argv: args.check.clone(),
            fail_codes: args.fail_code.clone(),
            ignore_fail_codes: args.ignore_fail_code.clone(),
            fail_regexes,
            metric_regex: metric_regex.transpose()?,
            timeout: args.check_timeout,
        }))
    }

    /// The command line with `{model}` and `{engine}` replaced by the paths of the check's
    /// files.
    pub fn argv_for(&self, written: &Written) -> Vec<String> {
        let model = written.model.as_deref().map(Path::to_string_lossy);
        let engine = written.engine.as_deref().map(Path::to_string_lossy);
        self.argv
            .iter()
            .map(|a| {
                let a =
                    model.as_ref().map_or_else(|| a.clone(), |m| a.replace(MODEL_PLACEHOLDER, m));
                engine.as_ref().map_or(a.clone(), |e| a.replace(ENGINE_PLACEHOLDER, e))
            })
            .collect()
    }

    /// Whether the command names the check's engine file (`{engine}`).
    pub fn uses_engine(&self) -> bool {
        names_engine(&self.argv)
    }

    /// Whether the command needs the check's model: it names `{model}`, or names neither
    /// placeholder (and reads `PRECISION_MODEL`).
    pub fn uses_model(&self) -> bool {
        self.argv.iter().any(|a| a.contains(MODEL_PLACEHOLDER)) || !self.uses_engine()
    }

    /// The time limit of one run.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether a run passed, by Polygraphy's rules (`polygraphy debug`'s `--check`): an
    /// ignored code passes; with `--fail-code`, a run fails when its code is one of them and,
    /// if `--fail-regex` is given, one of the regexes matches its output; without, it fails
    /// when a regex matches (if any is given) or else when its code is not 0. A signal counts
    /// as the code `-signal` (as Python reports it); a timeout always fails.
    pub fn passed(&self, finished: &Finished) -> bool {
        let code = match finished.ending {
            Ending::TimedOut(_) => return false,
            Ending::Exited(code) => code,
            Ending::Signaled(signal) => -signal,
        };
        if self.ignore_fail_codes.contains(&code) {
            return true;
        }
        let regex_hit = (!self.fail_regexes.is_empty()).then(|| {
            let output = [finished.stdout.as_slice(), finished.stderr.as_slice()].concat();
            let output = String::from_utf8_lossy(&output);
            self.fail_regexes.iter().any(|r| r.is_match(&output))
        });
        let failed = if self.fail_codes.is_empty() {
            regex_hit.unwrap_or(code != 0)
        } else {
            self.fail_codes.contains(&code) && regex_hit.unwrap_or(true)
        };
        !failed
    }

    /// The number `--metric-regex` takes from the output: its last match on stdout, else on
    /// stderr; the first capture group, or the whole match. `None` when it does not match or
    /// the text is no finite number.
    pub fn metric(&self, finished: &Finished) -> Option<f64> {
        let regex = self.metric_regex.as_ref()?;
        [&finished.stdout, &finished.stderr].into_iter().find_map(|bytes| {
            let text = String::from_utf8_lossy(bytes);
            let captures = regex.captures_iter(&text).last()?;
            let found = captures.get(1).or_else(|| captures.get(0))?;
            found.as_str().trim().parse::<f64>().ok().filter(|x| x.is_finite())
        })
    }

    /// What decides this command's answers, for the journal's fingerprint: the command line
    /// (not the contents of the files it runs), the verdict rules, the metric's regex and the
    /// time limit, with `compare` (whether the built-in comparison counts too).
    pub fn identity(&self, compare: bool) -> Vec<u8> {
        let value = serde_json::json!({
            "argv": self.argv,
            "fail_codes": self.fail_codes,
            "ignore_fail_codes": self.ignore_fail_codes,
            "fail_regexes": self.fail_regexes.iter().map(Regex::as_str).collect::<Vec<_>>(),
            "metric_regex": self.metric_regex.as_ref().map(Regex::as_str),
            "timeout_ns": self.timeout.map(|t| t.as_nanos().to_string()),
            "compare": compare,
        });
        value.to_string().into_bytes()
    }

    /// The command line for messages, shell-quoted.
    pub fn describe(&self) -> String {
        self.argv.iter().map(|a| crate::console::shell_quote(a)).collect::<Vec<_>>().join(" ")
    }
}

/// Checks that `program` can be started: a path to an executable file, or a name found on
/// PATH.
fn find_program(program: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = Path::new(program);
        return match std::fs::metadata(path) {
            Err(e) => bail!("--check: cannot run '{}': {e}", escape(program)),
            Ok(m) if m.is_dir() => {
                bail!("--check: '{}' is a folder, not a program", escape(program))
            }
            Ok(_) if !executable(path) => bail!(
                "--check: '{}' is not executable: make it so (chmod +x), or run it through its \
                 interpreter (--check python3 {} ... or --check sh {} ...)",
                escape(program),
                escape(program),
                escape(program)
            ),
            Ok(_) => Ok(path.to_owned()),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| executable(p)).ok_or_else(
        || {
            anyhow::anyhow!(
                "--check: no program '{}' on PATH; give its path (./{} for one in this folder) \
                 or install it",
                escape(program),
                escape(program)
            )
        },
    )
}

/// What `--no-compare` rules out: settings of the comparison it turns off. `flags` are the
/// flags given (name, whether given).
pub fn refuse_with_no_compare(flags: &[(&str, bool)]) -> anyhow::Result<()> {
    let given: Vec<&str> = flags.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
    if !given.is_empty() {
        bail!(
            "--no-compare lets the check command alone decide, so {} would have no effect: drop \
             {}, or drop --no-compare to have both the comparison and the command decide",
            given.join(", "),
            if given.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
