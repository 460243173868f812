//! `precision verify`: re-check the answer of a saved search report, on any backend or
//! provider (the transfer check: found on CPU, verified with `--providers cuda`), then time it
//! against float32 and every layer lowered (unless `--no-latency`).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use precision_core::oracle::BackendOracle;
use precision_core::{
    Backend, CompareFunc, Engine, NamedTensors, Oracle, OutputSelection, PrecisionPlan,
};

use super::export::{ReportPlan, read_report, report_plan};
use crate::Verdict;
use crate::args::VerifyArgs;
use crate::backends::{self, with_backend};
use crate::console::outln;
use crate::{dataset, display};

/// Re-checks the report's answer `--repeat` times, each time with new sessions, then times it.
pub fn run(args: &VerifyArgs) -> anyhow::Result<Verdict> {
    let report = read_report(&args.report)?;
    let mut files = precision_files::CommandFiles::new();
    crate::write::model_files(&mut files, &args.model, &report.lower_precisions);
    crate::write::data_files(&mut files, &args.data);
    files.input("--report", &args.report).input("--golden", &args.golden);
    crate::write::check(&files)?;
    let opened = backends::open(&args.model, &report.lower_precisions)?;
    with_backend!(opened, b => verify_with(b, args, &report))
}

fn verify_with<B: Backend>(
    mut backend: B,
    args: &VerifyArgs,
    report: &ReportPlan,
) -> anyhow::Result<Verdict> {
    let network = backend.network().clone();
    let plan = report_plan(&network, report, &args.model.model)?;
    let mut base = PrecisionPlan::new(&network, plan.lower.clone(), plan.higher)?;
    base.middle.clone_from(&plan.middle);
    let config = args.compare.config()?;
    let data = &args.data;
    let inputs = dataset::open_inputs(&network, &data.load_inputs, data, "--load-inputs")?;
    super::calibrate_for(&mut backend, &plan.lower, &network, data, &inputs)?;
    let goldens = dataset::open_goldens(&network, &args.golden, &inputs, "--golden")?;
    let goldens = (0..goldens.len())
        .map(|i| goldens.get(i).map(std::borrow::Cow::into_owned).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let feeds = inputs.load_all()?;
    let middle = match &plan.middle {
        Some(m) => format!(", {} layer(s) in {}", m.layers.len(), m.precision),
        None => String::new(),
    };
    outln!(
        "{}: the answer of {} ({}{middle}, the rest in {}) on the {} backend",
        network.name,
        args.report.display(),
        display::marked_summary(&network, &plan.marked),
        plan.lowest(),
        backend.name()
    );
    let baseline = float32_baseline(&backend, &network, &feeds)?;
    let mut passes = 0;
    let mut lowest = f64::INFINITY;
    let mut times = Vec::new();
    for round in 1..=args.repeat {
        // A new copy each time: new sessions (and cuDNN's choices), nothing cached; the check
        // is timed as a search's check is (engine build, runs, comparison).
        let copy = fresh_copy(&backend, args.repeat)?;
        let mut oracle =
            BackendOracle::new(copy, base.clone(), feeds.clone(), goldens.clone(), config.clone())
                .with_context(|| {
                    format!("golden outputs in {} do not fit the model", args.golden.display())
                })?;
        let evaluation = oracle.evaluate(&plan.marked, OutputSelection::NetworkOutputs)?;
        let elapsed = evaluation.duration;
        let (created, first_run) =
            evaluation.timing.map_or((elapsed, Duration::ZERO), |t| (t.build, t.first_run));
        times.push(elapsed);
        if let Some(err) = &evaluation.build_error {
            outln!("check {round}: FAILED: the plan did not build: {err}");
            lowest = 0.0;
            continue;
        }
        for d in &evaluation.deviations {
            outln!("  warning: {d}");
        }
        let mut worst = f64::INFINITY;
        for o in &evaluation.outputs {
            let room = o.headroom;
            worst = worst.min(room);
            let values: Vec<String> = o
                .metrics
                .iter()
                .map(|m| match m.function {
                    CompareFunc::Simple => format!(
                        "error {} (atol) / {} (rtol) against atol {} rtol {}",
                        display::number(o.required_atol),
                        display::number(o.required_rtol),
                        display::number(*config.atol.get(&o.name)),
                        display::number(*config.rtol.get(&o.name)),
                    ),
                    _ => display::metric_value(o, m),
                })
                .collect();
            outln!(
                "  {}: {}, {}, headroom {}",
                o.name,
                if o.passed { "pass" } else { "FAIL" },
                values.join(", "),
                headroom_text(room)
            );
        }
        lowest = lowest.min(worst);
        if evaluation.passed {
            passes += 1;
        }
        outln!(
            "check {round}: {} in {} ms (session creation {} ms, first run {} ms, run + compare \
             {} ms)",
            if evaluation.passed { "PASSED" } else { "FAILED" },
            elapsed.as_millis(),
            created.as_millis(),
            first_run.as_millis(),
            elapsed.saturating_sub(created + first_run).as_millis()
        );
    }
    let median = median(&mut times);
    if let Some((created, run)) = baseline {
        let baseline = created + run;
        outln!(
            "time per check: median {} ms; one float32 session creation + run: {} ms (creation \
             {} ms, run {} ms); ratio {:.2}x",
            median.as_millis(),
            baseline.as_millis(),
            created.as_millis(),
            run.as_millis(),
            median.as_secs_f64() / baseline.as_secs_f64().max(1e-9)
        );
    }
    if !args.no_latency {
        // On the backend itself, as a search times its answer; the verdict does not depend on
        // it (a plan that cannot be timed is reported).
        let mut oracle =
            BackendOracle::new(backend, base, feeds, goldens, config).with_context(|| {
                format!("golden outputs in {} do not fit the model", args.golden.display())
            })?;
        super::time_answer(&mut oracle, &plan.marked, args.latency_runs, "verify")?;
    }
    let repeat = args.repeat;
    let verdict = if passes == repeat {
        "PASSED"
    } else if passes == 0 {
        "FAILED"
    } else {
        "UNSTABLE"
    };
    outln!(
        "verdict: {verdict} ({passes} of {repeat} checks passed; lowest headroom {})",
        headroom_text(lowest)
    );
    Ok(if passes == repeat { Verdict::Success } else { Verdict::Failure })
}

/// A copy of `backend` with no sessions; `backend` itself when one check is enough and the
/// backend cannot copy itself.
fn fresh_copy<B: Backend>(backend: &B, repeat: u32) -> anyhow::Result<B> {
    match backend.try_clone(0)? {
        Some(copy) => Ok(copy),
        None => bail!(
            "the {} backend cannot make fresh copies of itself, which verify needs (even with \
             --repeat {repeat})",
            backend.name()
        ),
    }
}

/// The time of one float32 session creation, and of its first run on every input, on a fresh
/// copy (the baseline a check's time compares with): the median of three, after one untimed
/// warm-up (the first session of a process also loads libraries and sets up the device, which
/// the checks after it do not pay); `None` when the backend cannot copy itself.
fn float32_baseline<B: Backend>(
    backend: &B,
    network: &precision_core::Network,
    feeds: &[NamedTensors],
) -> anyhow::Result<Option<(Duration, Duration)>> {
    let mut times = Vec::new();
    for _ in 0..4 {
        let Some(mut copy) = backend.try_clone(0)? else { return Ok(None) };
        let start = Instant::now();
        let mut engine = copy
            .build(&PrecisionPlan::float32(network), OutputSelection::NetworkOutputs)
            .context("the float32 baseline did not build")?;
        let created = start.elapsed();
        let start = Instant::now();
        for feed in feeds {
            engine.infer(feed).context("the float32 baseline did not run")?;
        }
        times.push((created, start.elapsed()));
    }
    let mut timed = times.split_off(1);
    timed.sort_unstable_by_key(|(created, run)| *created + *run);
    Ok(Some(timed[timed.len() / 2]))
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn headroom_text(room: f64) -> String {
    if room.is_infinite() { "unlimited (exact)".to_owned() } else { format!("{room:.3}x") }
}
