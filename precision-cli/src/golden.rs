//! Golden outputs from Polygraphy RunResults files.

use std::path::Path;

use anyhow::{Context, bail};
use precision_core::NamedTensors;

/// The iterations of the first runner in the RunResults file at `path`.
pub fn load(path: &Path) -> anyhow::Result<Vec<NamedTensors>> {
    let results = polygraphy_json::read_run_results(path)
        .with_context(|| format!("cannot load golden outputs from {}", path.display()))?;
    let Some(runner) = results.runners.into_iter().next() else {
        bail!(
            "{} holds no runner results; make goldens with `precision run MODEL --save-outputs {}`",
            path.display(),
            path.display()
        );
    };
    if runner.iterations.is_empty() {
        bail!("runner '{}' in {} has no iterations", runner.name, path.display());
    }
    Ok(runner.iterations.into_iter().map(|it| it.outputs).collect())
}
