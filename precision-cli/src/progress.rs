//! Progress of a search on the console: a progress bar with elapsed time and ETA on a
//! terminal, plain lines otherwise (or with `-q`).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use precision_core::{Algorithm, Check, LayerSet, Network, Observer};

use crate::display;

/// Draws search progress on stderr.
pub struct ConsoleProgress {
    network: Network,
    bar: Option<ProgressBar>,
    budget: Option<usize>,
    plain: bool,
}

impl ConsoleProgress {
    /// A progress display for a search over `network`; plain lines when `plain` or when stderr
    /// is not a terminal.
    pub fn new(network: Network, plain: bool) -> Self {
        let plain = plain || !std::io::stderr().is_terminal();
        ConsoleProgress { network, bar: None, budget: None, plain }
    }

    /// Prints `line` (control characters escaped: notes can carry layer names).
    fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(crate::console::escape_lines(line)),
            None => crate::console::err(line),
        }
    }

    /// Removes the bar, leaving the printed lines.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for ConsoleProgress {
    fn search_started(
        &mut self,
        algorithm: Algorithm,
        network: &Network,
        max_checks: Option<usize>,
    ) {
        self.budget = max_checks;
        let markable = network.layers.iter().filter(|l| l.is_markable()).count();
        let bound = max_checks.map_or_else(String::new, |b| format!(", at most {b} checks"));
        let algorithm = algorithm.name();
        self.print(&format!("{algorithm}: {} layers ({markable} markable){bound}", network.len()));
        if !self.plain {
            let bar = ProgressBar::new(max_checks.unwrap_or(0) as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} checks, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            self.bar = Some(bar);
        }
    }

    fn check_started(&mut self, number: usize, marked: &LayerSet) {
        if let Some(bar) = &self.bar {
            if let Some(budget) = self.budget
                && number > budget
            {
                bar.set_length(number as u64);
            }
            bar.set_message(format!("checking {} layers marked", marked.len()));
        }
    }

    fn check_finished(&mut self, number: usize, check: &Check) {
        self.print(&display::check_line(&self.network, number, self.budget, check));
        if let Some(bar) = &self.bar {
            bar.set_position(number as u64);
        }
    }

    fn note(&mut self, message: &str) {
        self.print(&format!("note: {message}"));
    }

    fn budget_changed(&mut self, max_checks: usize) {
        self.budget = Some(max_checks);
        if let Some(bar) = &self.bar {
            bar.set_length(max_checks as u64);
        }
    }
}
