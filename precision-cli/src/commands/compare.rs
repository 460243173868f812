//! `precision compare A B`: compare two saved results, B being the reference.

use anyhow::{Context, bail};
use precision_core::{OutputComparison, combine_iterations, compare_tensors};

use crate::Verdict;
use crate::args::CompareArgs;
use crate::console::{errln, escape, outln};
use crate::display;

/// Compares the first runner of A with the first runner of B, iteration by iteration.
pub fn run(args: &CompareArgs) -> anyhow::Result<Verdict> {
    let config = args.compare.config()?;
    let actual = crate::golden::load(&args.actual)?;
    let reference = crate::golden::load(&args.reference)?;
    if actual.len() != reference.len() && reference.len() != 1 {
        bail!(
            "{} has {} iterations but the reference {} has {}; give files with the same \
             number of iterations (or a single reference iteration)",
            args.actual.display(),
            actual.len(),
            args.reference.display(),
            reference.len()
        );
    }
    let mut all_passed = true;
    let mut compared = 0;
    let mut per_iteration = Vec::with_capacity(actual.len());
    for (i, outputs) in actual.iter().enumerate() {
        let mut results = Vec::with_capacity(outputs.len());
        let golden = &reference[i.min(reference.len() - 1)];
        for (name, tensor) in outputs {
            let Some(expected) = golden.get(name) else {
                errln!("iteration {i}: '{}' is not in the reference; skipped", escape(name));
                continue;
            };
            let result: OutputComparison = compare_tensors(name, tensor, expected, &config);
            compared += 1;
            all_passed &= result.passed;
            outln!(
                "iteration {i} | {} | {} | max absdiff {} | max reldiff {} | mean absdiff {} | \
                 headroom {}",
                if result.passed { "PASSED" } else { "FAILED" },
                display::outputs_summary(std::slice::from_ref(&result)),
                display::number(result.max_absdiff),
                display::number(result.max_reldiff),
                display::number(result.mean_absdiff),
                display::headroom(result.headroom),
            );
            results.push(result);
        }
        per_iteration.push(results);
    }
    if config.check_average && compared > 0 {
        // Polygraphy's --check-average: the verdict is on the averages, not on each iteration.
        all_passed = true;
        for result in combine_iterations(per_iteration, &config) {
            all_passed &= result.passed;
            outln!(
                "average | {} | {} | headroom {}",
                if result.passed { "PASSED" } else { "FAILED" },
                display::outputs_summary(std::slice::from_ref(&result)),
                display::headroom(result.headroom),
            );
        }
    }
    if compared == 0 {
        let names: Vec<String> = reference[0].keys().map(|n| format!("'{}'", escape(n))).collect();
        return Err(anyhow::anyhow!(
            "no output of {} is in the reference {} (its outputs: {})",
            args.actual.display(),
            args.reference.display(),
            names.join(", ")
        ))
        .context("nothing to compare");
    }
    outln!("{}", if all_passed { "PASSED" } else { "FAILED" });
    Ok(if all_passed { Verdict::Success } else { Verdict::Failure })
}
