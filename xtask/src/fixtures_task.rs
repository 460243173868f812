//! `cargo xtask fixtures`: regenerate the generated mock networks and the Polygraphy sample
//! files, or check them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};

/// Flags for `cargo xtask fixtures`.
#[derive(clap::Args)]
pub struct Args {
    /// Only check that the committed files are up to date.
    #[arg(long)]
    pub check: bool,
    /// Write the Polygraphy samples again even when their stamp is current.
    #[arg(long, conflicts_with = "check")]
    pub force: bool,
}

/// Writes (or compares) `fixtures/networks/generated/<id>.toml` for each generated network,
/// and the Polygraphy samples under `fixtures/polygraphy/samples`.
pub fn run(sh: &Shell, args: &Args) -> anyhow::Result<()> {
    let dir = fixtures::fixtures_dir().join("networks/generated");
    std::fs::create_dir_all(&dir)?;
    let mut stale = Vec::new();
    for params in fixtures::committed_generated() {
        let path = dir.join(format!("{}.toml", params.id()));
        let text = fixtures::generate(&params);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            continue;
        }
        if args.check {
            stale.push(path.display().to_string());
        } else {
            std::fs::write(&path, text)?;
            eprintln!("wrote {}", path.display());
        }
    }
    polygraphy_samples(sh, args, &mut stale)?;
    if !stale.is_empty() {
        bail!(
            "generated fixtures are out of date, run `cargo xtask fixtures`: {}",
            stale.join(", ")
        );
    }
    Ok(())
}

/// The files `generate.py` writes, relative to the samples folder.
const SAMPLE_FILES: [&str; 5] = [
    "inputs.json",
    "outputs.json",
    "outputs_2iter.json",
    "outputs_dir_mode/0000000000.json",
    "outputs_dir_mode/0000000001.json",
];

/// The Polygraphy sample files (`fixtures/polygraphy/samples`), written by the venv's pinned
/// Polygraphy through `fixtures/polygraphy/generate.py`.
///
/// Polygraphy puts a timestamp and a measured runtime in every file, so a fresh run never
/// reproduces the committed bytes. What is checked instead is `samples.stamp`: the SHA-256
/// of the generator and the pins of the Python packages that write the files. The samples are
/// written again when the stamp is stale or files are missing (or with `--force`), and the
/// tests check their contents (outputs recomputed from the inputs).
fn polygraphy_samples(sh: &Shell, args: &Args, stale: &mut Vec<String>) -> anyhow::Result<()> {
    let root = fixtures::fixtures_dir().join("polygraphy");
    let samples = root.join("samples");
    let stamp_path = root.join("samples.stamp");
    let stamp = samples_stamp(&root)?;
    let current = std::fs::read_to_string(&stamp_path).unwrap_or_default() == stamp
        && SAMPLE_FILES.iter().all(|f| samples.join(f).is_file());
    if args.check {
        if !current {
            stale.push(format!("{} (the Polygraphy samples)", samples.display()));
        }
        return Ok(());
    }
    if current && !args.force {
        return Ok(());
    }
    let python = crate::python::ensure_venv(sh)?;
    let script = root.join("generate.py");
    let fresh = root.join("samples.new");
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh)?;
    }
    cmd!(sh, "{python} {script} {fresh}")
        .run()
        .context("generate.py failed; the venv's Polygraphy could not write the samples")?;
    let written = list_files(&fresh)?;
    let expected: Vec<PathBuf> = SAMPLE_FILES.iter().map(PathBuf::from).collect();
    if written != expected {
        bail!(
            "generate.py wrote {written:?} in {}, but {expected:?} were expected; update \
             SAMPLE_FILES in xtask/src/fixtures_task.rs with the generator",
            fresh.display()
        );
    }
    if samples.exists() {
        std::fs::remove_dir_all(&samples)?;
    }
    std::fs::rename(&fresh, &samples)?;
    std::fs::write(&stamp_path, stamp)?;
    eprintln!("wrote {}", samples.display());
    Ok(())
}

/// The stamp of the samples' generator: its hash and the pins of the packages it runs.
fn samples_stamp(root: &Path) -> anyhow::Result<String> {
    let script = root.join("generate.py");
    let text = std::fs::read(&script).with_context(|| format!("reading {}", script.display()))?;
    let requirements = crate::project_root().join("xtask/python-requirements.txt");
    let pins = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let mut stamp = format!("generate.py sha256 {:x}\n", Sha256::digest(&text));
    for package in ["polygraphy", "numpy", "onnxruntime", "onnx"] {
        let pin = pins
            .lines()
            .map(str::trim)
            .find(|l| l.strip_prefix(package).is_some_and(|rest| rest.starts_with("==")))
            .with_context(|| format!("{} pins no {package}", requirements.display()))?;
        stamp.push_str(pin);
        stamp.push('\n');
    }
    Ok(stamp)
}

/// Every file under `dir`, relative to it, sorted.
fn list_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(dir)?.to_owned());
            }
        }
    }
    files.sort();
    Ok(files)
}
