//! `precision bisect | linear | worst-first`.

use std::time::Instant;

use anyhow::Context;
use precision_core::{Algorithm, Backend, Report, SearchOptions, run_search};

use crate::Verdict;
use crate::args::SearchArgs;
use crate::backends::{self, with_backend};
use crate::progress::ConsoleProgress;
use crate::{display, write};

/// Runs a search and prints (and optionally writes) its answer.
pub fn run(args: &SearchArgs, algorithm: Algorithm, quiet: bool) -> anyhow::Result<Verdict> {
    let opened = backends::open(&args.setup.model, &args.setup.precision.lower())?;
    with_backend!(opened, b => search_with(b, args, algorithm, quiet))
}

fn search_with<B: Backend>(
    backend: B,
    args: &SearchArgs,
    algorithm: Algorithm,
    quiet: bool,
) -> anyhow::Result<Verdict> {
    for path in args.report.iter().chain(&args.html).chain(&args.save_model) {
        crate::write::check_writable(path)?;
    }
    let backend_name = backend.name().to_owned();
    let (network, plan, mut oracle) = super::oracle_for(backend, &args.setup)?;
    let options = SearchOptions { algorithm, direction: args.mode, top_k: args.top };
    let mut progress = ConsoleProgress::new(network.clone(), quiet);
    let start = Instant::now();
    let outcome = run_search(&mut oracle, &options, &mut progress);
    progress.finish();
    let outcome = outcome.context("the search stopped")?;
    println!("{}", display::answer(&network, &outcome, plan.higher, plan.lowest()));
    eprintln!("{} checks in {:.1}s", outcome.iterations.len(), start.elapsed().as_secs_f64());
    if args.report.is_some() || args.html.is_some() {
        let report = Report::new(
            format!("precision {}", env!("CARGO_PKG_VERSION")),
            args.setup.model.model.display().to_string(),
            backend_name,
            &network,
            &plan.lower,
            plan.higher,
            &outcome,
        );
        if let Some(path) = &args.report {
            write::json(path, &report)?;
            eprintln!("report written to {}", path.display());
        }
        if let Some(path) = &args.html {
            write::atomically(path, crate::html::render(&report, &network).as_bytes())?;
            eprintln!("HTML report written to {}", path.display());
        }
    }
    if let (Some(path), Some(answer)) = (&args.save_model, &outcome.answer) {
        super::save_model(oracle.backend(), &plan.with_marked(answer.clone()), path)?;
    }
    Ok(if outcome.answer.is_some() { Verdict::Success } else { Verdict::Failure })
}
