//! `precision bisect | linear | worst-first | ranked`.

use std::time::Instant;

use anyhow::{Context, bail};
use precision_core::group::GroupedOracle;
use precision_core::latency::LatencySettings;
use precision_core::oracle::BackendOracle;
use precision_core::search::{Limits, Prune, candidates};
use precision_core::{
    Algorithm, Backend, CompareConfig, CompareFunc, LayerSet, Middle, Oracle, OutputComparison,
    OutputSelection, Precision, PrecisionPlan, Report, SearchOptions, SearchOutcome, ThreeLevels,
    run_search,
};

use crate::Verdict;
use crate::args::SearchArgs;
use crate::backends::{self, with_backend};
use crate::console::errln;
use crate::progress::ConsoleProgress;
use crate::{display, write};

/// Runs a search and prints (and optionally writes) its answer.
pub fn run(args: &SearchArgs, algorithm: Algorithm, quiet: bool) -> anyhow::Result<Verdict> {
    super::check_command_flags(&args.setup, args.auto_tolerance.is_some())?;
    let journal = crate::journal::path_for(&args.journal, args.report.as_deref());
    let mut files = precision_files::CommandFiles::new();
    write::setup_files(&mut files, &args.setup);
    for path in &args.samples.holdout_inputs {
        files.input("--holdout-inputs", path);
    }
    if let Some(path) = &args.samples.holdout_golden {
        files.input("--holdout-golden", path);
    }
    for (role, path) in [("--report", &args.report), ("--html", &args.html)]
        .into_iter()
        .chain([("--save-model", &args.save_model)])
    {
        if let Some(path) = path {
            files.output(role, path);
        }
    }
    if let Some(path) = &journal {
        files.output(
            if args.journal.journal.is_some() {
                "the journal"
            } else {
                "the default journal (next to --report; change it with --journal FILE or \
                 --no-journal)"
            },
            path,
        );
    }
    write::check(&files)?;
    // Held until the report and the model are written.
    let locked: Vec<(&str, &std::path::Path)> =
        [("the journal", &journal), ("--report", &args.report)]
            .into_iter()
            .filter_map(|(role, path)| Some((role, path.as_deref()?)))
            .collect();
    let _locks = write::lock(&locked, args.journal.wait_lock)?;
    let opened = backends::open(&args.setup.model, &args.setup.precision.lower())?;
    with_backend!(opened, b => search_with(b, args, algorithm, quiet))
}

fn search_with<B: Backend>(
    backend: B,
    args: &SearchArgs,
    algorithm: Algorithm,
    quiet: bool,
) -> anyhow::Result<Verdict> {
    let backend_name = backend.name().to_owned();
    let (network, plan, mut oracle, mut data) = super::oracle_with_data(backend, &args.setup)?;
    if args.curve && algorithm != Algorithm::Ranked {
        bail!("--curve applies to ranked, whose ranking's heads make the curve");
    }
    let middle = if args.three_levels {
        if args.group.is_some() {
            bail!("--three-levels searches layers, not groups: leave out --group");
        }
        if args.setup.command.is_set() {
            bail!(
                "--three-levels judges its second search with the built-in comparison and runs \
                 no check command: leave out --check"
            );
        }
        Some(precision_core::levels::middle_precision(&oracle)?)
    } else {
        None
    };
    if let Some(k) = args.samples.ranking_samples {
        if !matches!(algorithm, Algorithm::Ranked | Algorithm::WorstFirst) {
            bail!("--ranking-samples applies to ranked and worst-first, which measure sensitivity");
        }
        oracle = oracle.with_ranking_samples(usize::try_from(k).unwrap_or(usize::MAX));
    }
    // Opened (and every file checked) before the search, so that a bad file stops it at once.
    let holdout = super::holdout::open(&network, &args.samples, &args.setup.data)?;
    let jobs = args.jobs as usize;
    if jobs > 1 {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let running = oracle
            .with_jobs(jobs, (cores / jobs).max(1))
            .context("cannot make copies of the backend for --jobs")?;
        if running < jobs {
            let commands = if args.setup.command.is_set() {
                format!(" (the check commands still run {jobs} at a time)")
            } else {
                String::new()
            };
            errln!(
                "the {backend_name} backend cannot run checks in parallel; running them one at a \
                 time{commands}"
            );
        }
    }
    if let Some(margin) = args.margin {
        let config = CompareConfig { margin, ..oracle.config().clone() };
        oracle.set_config(config);
    }
    if let Some(factor) = args.auto_tolerance {
        let config = auto_tolerance(&mut oracle, factor)?;
        oracle.set_config(config);
    }
    let prescreen = match args.prescreen.threshold(&plan.lower) {
        Some(_) if !oracle.backend().capabilities().every_layer_output => {
            errln!(
                "FP16 pre-screen skipped: the {backend_name} backend cannot return every layer's \
                 output"
            );
            None
        }
        Some(threshold) => {
            let prescreen = oracle.prescreen(threshold).context(
                "the FP16 pre-screen's float32 run with every layer output failed (skip it \
                 with --no-prescreen)",
            )?;
            crate::console::err(&display::prescreen(&prescreen, 10));
            Some(prescreen)
        }
        None => None,
    };
    let oracle = super::with_check_command(oracle, &args.setup, jobs)?;
    super::announce_check_command(&oracle);
    // After the tolerances are final: the journal's fingerprint covers them.
    let mut oracle =
        crate::journal::attach(oracle, &args.setup, &args.journal, args.report.as_deref())?;
    let options = SearchOptions {
        algorithm,
        direction: args.mode,
        top_k: args.top,
        minimize: args.minimize,
        noise_floor: !args.no_floor_check,
        limits: Limits {
            max_checks: args.max_checks.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            time_budget: args.time_budget,
        },
        kept: prescreen
            .as_ref()
            .map(precision_core::prescreen::Prescreen::indices)
            .unwrap_or_default(),
        curve: args.curve,
        prune: args.prune.unwrap_or(match plan.lowest() {
            Precision::Float16 | Precision::BFloat16 => Prune::Blocks,
            _ => Prune::Single,
        }),
    };
    let start = Instant::now();
    let (outcome, groups) = match args.group {
        None => {
            let mut progress = ConsoleProgress::new(network.clone(), quiet);
            let outcome = run_search(&mut oracle, &options, &mut progress);
            progress.finish();
            (outcome.context("the search stopped")?, None)
        }
        Some(grouping) => {
            // The kept layers go into every expanded plan; the search sees only groups.
            let always = LayerSet::from_indices(network.len(), options.kept.iter().copied());
            let options = SearchOptions { kept: Vec::new(), ..options };
            let mut grouped = GroupedOracle::new(&mut oracle, grouping, always);
            if grouped.groups().is_empty() {
                bail!("--group {grouping}: no markable layer to group");
            }
            errln!(
                "--group {grouping}: searching {} groups of {} markable layers",
                grouped.groups().len(),
                grouped.groups().iter().map(|g| g.layers.len()).sum::<usize>()
            );
            let mut progress = ConsoleProgress::new(grouped.network().clone(), quiet);
            let outcome = run_search(&mut grouped, &options, &mut progress);
            progress.finish();
            let (outcome, report) =
                grouped.expand_outcome(grouping, outcome.context("the search stopped")?);
            (outcome, Some(report))
        }
    };
    let mut outcome = outcome;
    data.ranking_samples = oracle.ranking().map(<[usize]>::to_vec);
    // The second search of --three-levels, on the backend's oracle itself: its plans carry
    // the middle level, so the journal (keyed by marked sets alone) does not record them.
    let three_levels = match (middle, &outcome.answer) {
        (Some(middle), Some(first)) => {
            errln!(
                "three levels: which of the {} layers marked must stay in {} when the others \
                 run in {middle}",
                first.len(),
                plan.higher
            );
            let inner: &mut BackendOracle<B> = &mut oracle;
            let mut progress = ConsoleProgress::new(network.clone(), quiet);
            let second =
                precision_core::levels::second_level(inner, first, &options, &mut progress);
            progress.finish();
            let second = second.context("the second search of --three-levels stopped")?;
            ThreeLevels::new(&network, first, middle, &second)
        }
        _ => None,
    };
    // What the holdout, the timing and --save-model take: the three-level answer if any.
    let (final_plan, final_answer) = match &three_levels {
        Some(levels) => {
            let higher =
                LayerSet::from_indices(network.len(), levels.higher.iter().map(|l| l.index));
            let middle = outcome
                .answer
                .clone()
                .map(|layers| Middle { precision: levels.middle_precision, layers });
            (PrecisionPlan { middle, ..plan.with_marked(higher.clone()) }, Some(higher))
        }
        None => (plan.clone(), outcome.answer.clone()),
    };
    if let Some(holdout) = holdout {
        let judged = SearchOutcome { answer: final_answer.clone(), ..outcome.clone() };
        data.holdout = super::holdout::check(&mut oracle, &network, holdout, &judged)?;
    }
    let journaled = crate::journal::path_for(&args.journal, args.report.as_deref()).is_some();
    crate::console::out(&display::answer(
        &network,
        &outcome,
        plan.higher,
        plan.lowest(),
        journaled,
    ))?;
    if let Some(groups) = &groups {
        crate::console::out(&display::groups(groups))?;
    }
    if let Some(levels) = &three_levels {
        crate::console::out(&display::three_levels(&network, levels, plan.higher, plan.lowest()))?;
    }
    // The headroom of the final answer: for three levels, the second search's last check.
    let headroom_of = match &three_levels {
        Some(levels) => SearchOutcome {
            answer: final_answer.clone(),
            checks: levels.checks.clone(),
            ..outcome.clone()
        },
        None => outcome.clone(),
    };
    if let Some(text) = display::answer_headroom(&headroom_of, args.margin) {
        crate::console::out(&text)?;
    }
    let latency = match (args.measure_latency, &final_answer) {
        // Untimed (a plan that does not run), the report is still written.
        (Some(runs), Some(answer)) => {
            super::time_answer(&mut oracle, answer, runs, "--measure-latency")?
        }
        (Some(_), None) => {
            errln!("--measure-latency: no answer to time");
            None
        }
        (None, _) => None,
    };
    if let Some(runs) = args.measure_latency.filter(|_| !outcome.curve.is_empty()) {
        let settings = LatencySettings { runs: runs.get(), ..LatencySettings::default() };
        // The curve's heads are two-level plans of the first search.
        let inner: &mut BackendOracle<B> = &mut oracle;
        inner.set_middle(None);
        let sets: Vec<LayerSet> =
            outcome.curve.iter().map(|p| outcome.checks[p.check - 1].marked.clone()).collect();
        match oracle.time_plans(&sets, settings) {
            Ok(timings) => {
                for (point, timing) in outcome.curve.iter_mut().zip(timings) {
                    point.latency = Some(timing);
                }
            }
            Err(e) => errln!("--measure-latency: cannot time the curve's plans: {e}"),
        }
    }
    if !outcome.curve.is_empty() {
        crate::console::out(&display::curve(&outcome.curve, network.len()))?;
    }
    if let Some(command) = outcome.answer.as_ref().and_then(|answer| {
        outcome.checks.iter().rev().find(|it| &it.marked == answer)?.command.as_ref()
    }) {
        errln!("the answer's check command: {}", command.summary());
    }
    let rounds = if outcome.rounds() < outcome.checks.len() {
        format!(" in {} rounds", outcome.rounds())
    } else {
        String::new()
    };
    errln!("{} checks{rounds} in {:.1}s", outcome.checks.len(), start.elapsed().as_secs_f64());
    if args.report.is_some() || args.html.is_some() {
        let mut report = Report::new(
            format!("precision {}", env!("CARGO_PKG_VERSION")),
            args.setup.model.model.display().to_string(),
            backend_name,
            &network,
            &plan.lower,
            plan.higher,
            &outcome,
        );
        crate::trtexec::fill_report(&mut report, &network, &outcome);
        report.data = Some(data.clone());
        report.margin = args.margin;
        report.latency = latency;
        report.prescreen = prescreen;
        report.groups = groups;
        report.three_levels = three_levels;
        if let Some(path) = &args.report {
            write::json(path, &report)?;
            errln!("report written to {}", path.display());
        }
        if let Some(path) = &args.html {
            write::atomically(path, crate::html::render(&report, &network).as_bytes())?;
            errln!("HTML report written to {}", path.display());
        }
    }
    if let (Some(path), Some(answer)) = (&args.save_model, &final_answer) {
        super::save_model(oracle.backend(), &final_plan.with_marked(answer.clone()), path)?;
    }
    let holdout_failed = data.holdout.as_ref().is_some_and(|h| !h.passed);
    Ok(if outcome.answer.is_some() && !holdout_failed {
        Verdict::Success
    } else {
        Verdict::Failure
    })
}

/// Measures the noise floor (every markable layer marked) and returns the comparator settings
/// with atol and rtol of each output set to `factor` times what that check needed.
fn auto_tolerance<B: Backend>(
    oracle: &mut BackendOracle<B>,
    factor: f64,
) -> anyhow::Result<CompareConfig> {
    let network = oracle.network();
    let all = LayerSet::from_indices(network.len(), candidates(network));
    let floor = oracle
        .evaluate(&all, OutputSelection::NetworkOutputs)
        .context("the noise-floor check for --auto-tolerance failed")?;
    if let Some(error) = &floor.build_error {
        bail!(
            "--auto-tolerance measures the plan with every markable layer marked, but it failed \
             to build: {error}"
        );
    }
    let config = tolerances_from_floor(oracle.config(), &floor.outputs, factor)?;
    let described: Vec<String> = floor
        .outputs
        .iter()
        .map(|o| {
            let parts: Vec<String> = config
                .functions
                .iter()
                .map(|&f| match f {
                    CompareFunc::Simple => format!(
                        "atol {}, rtol {}",
                        display::number(*config.atol.get(&o.name)),
                        display::number(*config.rtol.get(&o.name))
                    ),
                    CompareFunc::Indices => {
                        format!("index tolerance {}", config.index_tolerance.get(&o.name))
                    }
                    _ => format!(
                        "{} {}",
                        display::metric_threshold_label(f),
                        display::number(config.metric_threshold(f, &o.name).unwrap_or(f64::NAN))
                    ),
                })
                .collect();
            format!("{}: {}", crate::console::escape(&o.name), parts.join(", "))
        })
        .collect();
    crate::console::err(&format!("--auto-tolerance {factor}: {}", described.join("; ")));
    Ok(config)
}

/// `base` with the tolerance of every selected comparison function set, per output in `floor`,
/// `factor` times above what that output needed in the noise-floor check, in the headroom's
/// amplitude terms (so the floor has headroom `factor` against it): atol and rtol (simple) and
/// the L2 threshold `factor` times the floor's; cosine similarity `1 - factor² (1 - floor)`;
/// PSNR and SNR `20 log10(factor)` dB below the floor's; the index tolerance
/// `floor(factor × required)`. A floor that is an exact match (no error to scale) or not
/// finite is an error.
fn tolerances_from_floor(
    base: &CompareConfig,
    floor: &[OutputComparison],
    factor: f64,
) -> anyhow::Result<CompareConfig> {
    let mut config = base.clone();
    for o in floor {
        if let Some(why) = &o.mismatch {
            bail!("--auto-tolerance: output '{}' cannot be compared: {why}", o.name);
        }
        for &function in &base.functions {
            let exact = || {
                anyhow::anyhow!(
                    "--auto-tolerance: with every markable layer marked, output '{}' matches the \
                     goldens exactly under {function}, so its noise floor is 0 and a multiple of \
                     it is no tolerance; set the tolerance for it instead (e.g. --atol {}:1e-3)",
                    o.name,
                    o.name
                )
            };
            let non_finite = |value: f64| {
                anyhow::anyhow!(
                    "--auto-tolerance: output '{}' has a non-finite {function} value ({}) even \
                     with every layer marked; no tolerance can be derived from it",
                    o.name,
                    display::number(value)
                )
            };
            let value = o.metric(function).map_or(f64::NAN, |m| m.value);
            let name = o.name.clone();
            match function {
                CompareFunc::Simple => {
                    let (a, r) = (o.required_atol * factor, o.required_rtol * factor);
                    if !a.is_finite() || !r.is_finite() {
                        bail!(
                            "--auto-tolerance: output '{}' has a non-finite error even with every \
                             layer marked (atol {}, rtol {}); no tolerance can be derived from it",
                            o.name,
                            display::number(o.required_atol),
                            display::number(o.required_rtol)
                        );
                    }
                    if a == 0.0 && r == 0.0 {
                        return Err(exact());
                    }
                    config.atol.overrides.push((name.clone(), a));
                    config.rtol.overrides.push((name, r));
                }
                CompareFunc::Indices => {
                    if !value.is_finite() {
                        return Err(non_finite(value));
                    }
                    config.index_tolerance.overrides.push((name, (value * factor).floor() as u64));
                }
                CompareFunc::L2 => {
                    if !value.is_finite() {
                        return Err(non_finite(value));
                    }
                    if value == 0.0 {
                        return Err(exact());
                    }
                    config.l2_threshold.overrides.push((name, value * factor));
                }
                CompareFunc::CosineSimilarity => {
                    if !value.is_finite() {
                        return Err(non_finite(value));
                    }
                    if value >= 1.0 {
                        return Err(exact());
                    }
                    let t = 1.0 - factor * factor * (1.0 - value);
                    config.cosine_similarity_threshold.overrides.push((name, t));
                }
                CompareFunc::Psnr | CompareFunc::Snr => {
                    if value == f64::INFINITY {
                        return Err(exact());
                    }
                    if !value.is_finite() {
                        return Err(non_finite(value));
                    }
                    let t = value - 20.0 * factor.log10();
                    if function == CompareFunc::Psnr {
                        config.psnr_threshold.overrides.push((name, t));
                    } else {
                        config.snr_threshold.overrides.push((name, t));
                    }
                }
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use precision_core::ErrorStat;

    use super::*;

    fn floor(name: &str, atol: f64, rtol: f64) -> OutputComparison {
        OutputComparison {
            name: name.into(),
            passed: false,
            stat: ErrorStat::Elemwise,
            max_absdiff: atol,
            max_reldiff: rtol,
            mean_absdiff: atol,
            mean_reldiff: rtol,
            required_atol: atol,
            required_rtol: rtol,
            mismatch: None,
            metrics: Vec::new(),
            headroom: f64::INFINITY,
        }
    }

    #[test]
    fn auto_tolerance_scales_the_floor_per_output() {
        let base = CompareConfig::default();
        let config =
            tolerances_from_floor(&base, &[floor("a", 1e-3, 0.5), floor("b", 0.0, 2e-2)], 2.0)
                .unwrap();
        assert_eq!(*config.atol.get("a"), 2e-3);
        assert_eq!(*config.rtol.get("a"), 1.0);
        assert_eq!(*config.atol.get("b"), 0.0);
        assert_eq!(*config.rtol.get("b"), 4e-2);
        assert_eq!(*config.atol.get("other"), base.atol.default);
        let zero = tolerances_from_floor(&base, &[floor("y", 0.0, 0.0)], 2.0).unwrap_err();
        assert!(zero.to_string().contains("matches the goldens exactly"), "{zero}");
        let nan = tolerances_from_floor(&base, &[floor("y", f64::NAN, 0.0)], 2.0).unwrap_err();
        assert!(nan.to_string().contains("non-finite"), "{nan}");
    }

    fn with_metric(name: &str, function: CompareFunc, value: f64) -> OutputComparison {
        let mut o = floor(name, 1e-3, 1e-3);
        o.metrics.push(precision_core::MetricResult {
            function,
            passed: true,
            value,
            threshold: 0.0,
            relative: None,
            headroom: 1.0,
        });
        o
    }

    #[test]
    fn auto_tolerance_in_each_functions_terms() {
        let config =
            |f: CompareFunc| CompareConfig { functions: vec![f], ..CompareConfig::default() };
        let c = tolerances_from_floor(
            &config(CompareFunc::L2),
            &[with_metric("a", CompareFunc::L2, 0.25)],
            2.0,
        )
        .unwrap();
        assert_eq!(*c.l2_threshold.get("a"), 0.5);
        let c = tolerances_from_floor(
            &config(CompareFunc::CosineSimilarity),
            &[with_metric("a", CompareFunc::CosineSimilarity, 0.9999)],
            2.0,
        )
        .unwrap();
        assert!((*c.cosine_similarity_threshold.get("a") - 0.9996).abs() < 1e-12);
        let c = tolerances_from_floor(
            &config(CompareFunc::Psnr),
            &[with_metric("a", CompareFunc::Psnr, 50.0)],
            10.0,
        )
        .unwrap();
        assert!((*c.psnr_threshold.get("a") - 30.0).abs() < 1e-12);
        let c = tolerances_from_floor(
            &config(CompareFunc::Indices),
            &[with_metric("a", CompareFunc::Indices, 1.0)],
            2.5,
        )
        .unwrap();
        assert_eq!(*c.index_tolerance.get("a"), 2);
        // An exact floor gives no tolerance; nor does a non-finite one.
        let exact = tolerances_from_floor(
            &config(CompareFunc::Snr),
            &[with_metric("a", CompareFunc::Snr, f64::INFINITY)],
            2.0,
        );
        assert!(exact.unwrap_err().to_string().contains("exactly"));
        let nan = tolerances_from_floor(
            &config(CompareFunc::L2),
            &[with_metric("a", CompareFunc::L2, f64::NAN)],
            2.0,
        );
        assert!(nan.unwrap_err().to_string().contains("non-finite"));
    }
}
