//! Datasets on disk: one sample per file (`.npz` with arrays named after the model's inputs or
//! outputs, or `.npy` for a model with one input or output), in sorted order, read one at a
//! time when a check needs it ([`SampleFiles`] implements [`TensorSets`]). Also the choice
//! between such a dataset, Polygraphy JSON and generated inputs for `--load-inputs`,
//! `--calibration-inputs`, `--holdout-inputs` and the goldens that go with them.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use polygraphy_json::npz::{self, NpzLimits};
use precision_core::{NamedTensors, Network, TensorSets};

use crate::args::DataArgs;
use crate::{golden, inputs, memory};

/// Input feeds or goldens, however they were given.
pub struct Loaded {
    /// The sets, read on demand when they are files.
    pub sets: Box<dyn TensorSets>,
    /// What they are, for the report and the console (`3 samples in data/`, ...).
    pub description: String,
    /// The sample files in order, for a dataset on disk.
    pub files: Option<Vec<PathBuf>>,
}

impl Loaded {
    /// Every set, read into memory (for calibration, which needs them all at once).
    pub fn load_all(&self) -> anyhow::Result<Vec<NamedTensors>> {
        (0..self.sets.len())
            .map(|i| self.sets.get(i).map(Cow::into_owned).map_err(anyhow::Error::msg))
            .collect()
    }
}

/// What the files of a [`SampleFiles`] hold.
#[derive(Debug, Clone)]
enum Holds {
    /// Input feeds: checked against the network's inputs (names, dtypes, shapes).
    Inputs(Network),
    /// Golden outputs: every network output present, no NaN.
    Goldens(Vec<String>),
}

/// A dataset on disk: one sample per file, read (and checked) when asked for.
#[derive(Debug, Clone)]
pub struct SampleFiles {
    files: Vec<PathBuf>,
    holds: Holds,
    limits: NpzLimits,
}

impl SampleFiles {
    fn read(&self, index: usize) -> anyhow::Result<NamedTensors> {
        let path = &self.files[index];
        let tensors = if has_extension(path, "npz") {
            npz::read_file(path, &self.limits)?
        } else {
            let names: Vec<&str> = match &self.holds {
                Holds::Inputs(network) => network.inputs.iter().map(|i| i.name.as_str()).collect(),
                Holds::Goldens(outputs) => outputs.iter().map(String::as_str).collect(),
            };
            let [name] = names.as_slice() else {
                bail!(
                    "{}: a .npy file holds one array, but the model has {} {}: save each sample \
                     as .npz with np.savez(path, {}) instead",
                    path.display(),
                    names.len(),
                    if matches!(self.holds, Holds::Inputs(_)) { "inputs" } else { "outputs" },
                    names.iter().map(|n| format!("{n}=...")).collect::<Vec<_>>().join(", ")
                );
            };
            let tensor = npz::read_npy_file(path, self.limits.max_array_bytes)?;
            std::iter::once(((*name).to_owned(), tensor)).collect()
        };
        match &self.holds {
            Holds::Inputs(network) => inputs::check(network, &tensors).with_context(|| {
                format!("sample {} does not fit model '{}'", path.display(), network.name)
            })?,
            Holds::Goldens(outputs) => {
                if let Some(missing) = outputs.iter().find(|o| !tensors.contains_key(*o)) {
                    bail!(
                        "golden file {} has no array for network output '{missing}' (it has: \
                         {}); make goldens with `precision run --save-outputs DIR`",
                        path.display(),
                        tensors.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
                golden::refuse_nan(std::slice::from_ref(&tensors), outputs, path)?;
            }
        }
        Ok(tensors)
    }

    /// Reads every file once, one at a time, so that a bad sample is refused before any work.
    fn check_all(&self) -> anyhow::Result<()> {
        for index in 0..self.files.len() {
            self.read(index)?;
        }
        Ok(())
    }
}

impl TensorSets for SampleFiles {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn get(&self, index: usize) -> Result<Cow<'_, NamedTensors>, String> {
        self.read(index).map(Cow::Owned).map_err(|e| crate::error_text(&e))
    }

    fn label(&self, index: usize) -> String {
        self.files[index].file_name().map_or_else(
            || self.files[index].display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn is_sample_file(path: &Path) -> bool {
    has_extension(path, "npz") || has_extension(path, "npy")
}

/// The sample files `paths` name (folders' `.npz`/`.npy` files, hidden ones left out, and
/// files), sorted; `None` when `paths` is one Polygraphy JSON file or folder of them.
fn sample_files(paths: &[PathBuf], flag: &str) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            let mut json = false;
            let listing = std::fs::read_dir(path)
                .with_context(|| format!("{flag}: cannot list {}", path.display()))?;
            for entry in listing {
                let entry =
                    entry.with_context(|| format!("{flag}: cannot list {}", path.display()))?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let file = entry.path();
                if is_sample_file(&file) {
                    found.push(file);
                } else if has_extension(&file, "json") {
                    json = true;
                }
            }
            if found.is_empty() {
                if paths.len() == 1 && json {
                    return Ok(None);
                }
                bail!("{flag}: folder {} holds no .npz or .npy sample files", path.display());
            }
            if json {
                bail!(
                    "{flag}: folder {} holds both .json and .npz/.npy files; keep one kind of \
                     sample in it",
                    path.display()
                );
            }
            files.extend(found);
        } else if is_sample_file(path) {
            files.push(path.clone());
        } else if paths.len() == 1 {
            return Ok(None);
        } else {
            bail!(
                "{flag}: {} is neither .npz nor .npy; several paths must all be sample files or \
                 folders of them (a Polygraphy JSON file is given alone)",
                path.display()
            );
        }
    }
    files.sort();
    files.dedup();
    let mut stems: Vec<(String, &PathBuf)> = files.iter().map(|f| (stem(f), f)).collect();
    stems.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = stems.windows(2).find(|w| w[0].0 == w[1].0) {
        bail!(
            "{flag}: {} and {} are both sample '{}'; sample names (file names without the \
             extension) must differ, as each names its golden file",
            pair[0].1.display(),
            pair[1].1.display(),
            pair[0].0
        );
    }
    Ok(Some(files))
}

/// A sample's name: its file name without the extension.
fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Limits for reading the inputs of `network`: the static inputs' exact sizes when every
/// input is static, else what memory has room for.
fn input_limits(network: &Network) -> NpzLimits {
    let sizes: Option<Vec<u64>> = network
        .inputs
        .iter()
        .map(|i| precision_core::byte_size(i.dtype, &i.static_shape()?).map(|b| b as u64))
        .collect();
    match sizes {
        Some(sizes) if !sizes.is_empty() => NpzLimits {
            max_array_bytes: sizes.iter().copied().max().unwrap_or(0),
            max_total_bytes: sizes.iter().sum(),
            ..NpzLimits::default()
        },
        _ => memory_limits(),
    }
}

/// Limits for arrays of unknown size: half the memory available (4 GiB where unknown).
fn memory_limits() -> NpzLimits {
    let room = memory::available().map_or(4 << 30, |a| a / 2);
    NpzLimits { max_array_bytes: room, max_total_bytes: room, ..NpzLimits::default() }
}

/// The input feeds `paths` name (empty: generated per `data`), checked against `network`.
/// A dataset on disk is read once here, one sample at a time, to refuse a bad one early.
pub fn open_inputs(
    network: &Network,
    paths: &[PathBuf],
    data: &DataArgs,
    flag: &str,
) -> anyhow::Result<Loaded> {
    if paths.is_empty() {
        let feeds = inputs::generate(network, data)?;
        let description = format!("{} generated iteration(s) (seed {})", feeds.len(), data.seed);
        return Ok(Loaded { sets: Box::new(feeds), description, files: None });
    }
    match sample_files(paths, flag)? {
        None => {
            let path = &paths[0];
            let feeds = inputs::load_json(network, path)?;
            let description = format!("{} iteration(s) in {}", feeds.len(), path.display());
            Ok(Loaded { sets: Box::new(feeds), description, files: None })
        }
        Some(files) => {
            let set = SampleFiles {
                files: files.clone(),
                holds: Holds::Inputs(network.clone()),
                limits: input_limits(network),
            };
            set.check_all()?;
            let description = format!("{} sample file(s) in {}", files.len(), describe(paths));
            Ok(Loaded { sets: Box::new(set), description, files: Some(files) })
        }
    }
}

/// The paths as given, for descriptions.
fn describe(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The goldens at `path` for `inputs`: a folder of per-sample `.npz` (or `.npy`) files, paired
/// with a dataset's samples by name, or Polygraphy RunResults JSON (held in memory).
pub fn open_goldens(
    network: &Network,
    path: &Path,
    inputs: &Loaded,
    flag: &str,
) -> anyhow::Result<Box<dyn TensorSets>> {
    let files = if path.is_dir() { sample_files(&[path.to_owned()], flag)? } else { None };
    let Some(files) = files else {
        let goldens = golden::load(path)?;
        golden::refuse_nan(&goldens, &network.outputs, path)?;
        return Ok(Box::new(goldens));
    };
    if files.len() != inputs.sets.len() {
        bail!(
            "{flag}: {} holds {} golden file(s) for {} input sample(s): make the goldens from \
             the same inputs with `precision run --load-inputs ... --save-outputs {}`",
            path.display(),
            files.len(),
            inputs.sets.len(),
            path.display()
        );
    }
    if let Some(samples) = &inputs.files {
        for (sample, golden) in samples.iter().zip(&files) {
            if stem(sample) != stem(golden) {
                bail!(
                    "{flag}: the goldens in {} do not pair with the input samples: sample {} \
                     has no golden {}.npz there (found {} in its place); make the goldens from \
                     the same inputs",
                    path.display(),
                    sample.display(),
                    stem(sample),
                    golden.display()
                );
            }
        }
    }
    let set = SampleFiles {
        files,
        holds: Holds::Goldens(network.outputs.clone()),
        limits: memory_limits(),
    };
    set.check_all()?;
    Ok(Box::new(set))
}

/// The feeds INT8 calibration runs on, and what they are: `--calibration-inputs` when given,
/// else the check inputs (every one of them read into memory).
pub fn calibration_feeds(
    network: &Network,
    data: &DataArgs,
    check_inputs: &Loaded,
) -> anyhow::Result<(Vec<NamedTensors>, String)> {
    if data.calibration_inputs.is_empty() {
        let feeds = check_inputs.load_all()?;
        return Ok((feeds, format!("the check inputs ({})", check_inputs.description)));
    }
    let loaded = open_inputs(network, &data.calibration_inputs, data, "--calibration-inputs")?;
    let feeds = loaded.load_all()?;
    Ok((feeds, format!("--calibration-inputs: {}", loaded.description)))
}

/// The name of sample `index` of `inputs` (its file stem), for its golden file.
pub fn sample_name(inputs: &Loaded, index: usize) -> String {
    inputs.files.as_ref().map_or_else(|| format!("{index:010}"), |f| stem(&f[index]))
}
