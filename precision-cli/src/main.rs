//! `precision`: find the layers of a network that must stay in higher precision (float32 or
//! float16) for its INT8/FP16 build to match golden outputs.
//!
//! Exit codes: 0 found or passed; 1 not found or failed; 2 bad usage or bad input.

mod allocator;
mod args;
mod backends;
mod check_command;
mod commands;
mod console;
mod dataset;
mod display;
mod golden;
mod html;
mod inputs;
mod journal;
mod memory;
mod progress;
mod trtexec;
mod write;

use std::process::ExitCode;

use clap::Parser;

/// What a command concluded, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Found, or passed: exit 0.
    Success,
    /// Not found, or failed: exit 1.
    Failure,
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // Before any check's thread exists (parsing starts none).
    allocator::limit_arenas(commands::jobs(&cli.command));
    match commands::dispatch(&cli) {
        Ok(Verdict::Success) => ExitCode::SUCCESS,
        Ok(Verdict::Failure) => ExitCode::from(1),
        Err(err) => {
            console::err(&format!("error: {}", error_text(&err)));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each said once: many errors already end with their source's
/// text (`cannot read X: No such file or directory`), and printing the chain after them would
/// repeat it. A cause already in the text is skipped; one that extends the previous part
/// replaces it.
pub(crate) fn error_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        match parts.last_mut() {
            Some(last) if text.starts_with(last.as_str()) => *last = text,
            _ => parts.push(text),
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read m.onnx: {}", self.0)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = anyhow::Error::new(Quoting(io())).context("cannot open the model");
        assert_eq!(
            error_text(&err),
            format!("cannot open the model: cannot read m.onnx: {}", io())
        );
        let err = anyhow::Error::new(io()).context("cannot read x");
        assert_eq!(error_text(&err), format!("cannot read x: {}", io()));
        let err = anyhow::anyhow!("cannot read x: gone").context("cannot read x");
        assert_eq!(error_text(&err), "cannot read x: gone");
    }
}
