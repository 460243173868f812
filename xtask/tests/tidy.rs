//! The repository is self-sufficient: no tracked file refers to paths outside the checkout.
//!
//! A fresh clone must pass its own tests with nothing beside it (only what `cargo xtask ci`
//! installs itself: the venv and the models in the cache, named by environment variables).
//! This scans every file git tracks (and untracked ones it does not ignore) for the paths
//! that only exist next to the project's own checkouts: the sibling `shared` folder and the
//! absolute paths of the machines the project is developed on.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The rules on the code itself: `unsafe`, docs, the code map, file sizes, timed assertions.
#[path = "tidy/code.rs"]
mod code;

/// Paths that lead outside the checkout. Written in pieces so this file does not match.
const FORBIDDEN: [&str; 4] = [
    concat!("..", "/shared"),
    concat!("shared", "/ref"),
    concat!("/wo", "rk/"),
    concat!("/ro", "ot/"),
];

/// Files allowed to name such paths, with the reason. Only tools that no test runs belong here.
const ALLOWED: [(&str, &str); 2] = [
    // `cargo xtask gpu-check` stages a run for a GPU machine: by default it takes the staging
    // scripts beside the project's checkouts (`--stage-script` names another), and the suite
    // runs there with that machine's own paths; its recorded results name them.
    ("xtask/gpu/", "the GPU suite, run on the GPU machine"),
    ("xtask/src/gpu_check.rs", "stages the GPU suite; --stage-script overrides the default"),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is in the workspace").to_owned()
}

/// The files of the checkout: git's list (tracked, plus untracked files it does not ignore).
/// Without git (a source archive), every file outside `target` and hidden folders.
fn checkout_files(root: &Path) -> Vec<PathBuf> {
    let git = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output();
    if let Ok(out) = git
        && out.status.success()
    {
        return out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .filter(|p| p.is_file())
            .collect();
    }
    eprintln!("tidy: git cannot list {}; scanning the folder instead", root.display());
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable checkout") {
            let path = entry.expect("readable entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if path.is_dir() {
                let skip = name == "target" || (name.starts_with('.') && name != ".cargo");
                if !skip {
                    stack.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn nothing_refers_to_paths_outside_the_checkout() {
    let root = workspace_root();
    let files = checkout_files(&root);
    assert!(
        files.iter().any(|f| f.ends_with("Cargo.toml")) && files.len() > 20,
        "tidy found only {} files under {}: the scan did not see the checkout",
        files.len(),
        root.display()
    );
    let mut found = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file).to_string_lossy().into_owned();
        if ALLOWED.iter().any(|(prefix, _)| relative.starts_with(prefix)) {
            continue;
        }
        let Ok(text) = std::fs::read(file) else { continue };
        let text = String::from_utf8_lossy(&text);
        for (number, line) in text.lines().enumerate() {
            for needle in FORBIDDEN {
                if line.contains(needle) {
                    let shown = file.strip_prefix(&root).unwrap_or(file);
                    found.push(format!("{}:{}: {needle}", shown.display(), number + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "files refer to paths outside the checkout, which a fresh clone does not have; keep \
         test data in the repository (fixtures/) or have `cargo xtask ci` install it:\n{}",
        found.join("\n")
    );
}
