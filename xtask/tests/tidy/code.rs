//! The code stays as ARCHITECTURE.md describes it (rust-analyzer's tidy pattern): `unsafe`
//! only where its first invariant allows it, a `//!` doc on every crate and module,
//! ARCHITECTURE.md naming every module file in its crate's section, no source file over
//! [`MAX_LINES`] lines (generated bindings excepted), and no test asserting on wall time.

use std::path::{Path, PathBuf};

use super::{checkout_files, workspace_root};

/// The most lines a hand-written source file may have: a longer one has more than one job.
const MAX_LINES: usize = 800;

/// Generated files (bindgen output), exempt from the size and doc rules.
const GENERATED: [&str; 2] = [
    "backend-tensorrt/precision-trt-sys/src/shim.rs",
    "backend-tensorrt/precision-trt-sys/src/cuda.rs",
];

/// Where `unsafe` may appear, with the reason; mirrors ARCHITECTURE.md's first invariant.
const UNSAFE_ALLOWED: [(&str, &str); 8] = [
    ("backend-tensorrt/precision-trt-sys/", "the FFI bindings of the TensorRT shim"),
    ("backend-tensorrt/src/api.rs", "calls through the shim's function table"),
    ("backend-tensorrt/src/network.rs", "networks and builds through the shim"),
    ("backend-tensorrt/src/runtime.rs", "engines, contexts and device memory"),
    ("backend-tensorrt/src/fake/", "the shim's C API implemented in Rust for tests"),
    ("backend-onnxrt/src/gpu.rs", "loads the CUDA driver and libraries"),
    ("precision-cli/src/allocator.rs", "one call to glibc's mallopt"),
    ("backend-mock/benches/search.rs", "a counting global allocator for the memory figure"),
];

/// Tests allowed to compare a measured duration in an assertion, with the reason.
const TIMED_ALLOWED: [(&str, &str); 2] = [
    (
        "backend-mock/tests/semantics.rs",
        "a lower bound: the simulated build time sleeps at least that long on any machine",
    ),
    (
        "precision-cli/src/check_command/tests.rs",
        "a 60 s bound that only tells a killed process group (under a second) from its 300 s sleep",
    ),
];

/// This folder names the patterns it looks for, so it is not scanned for them.
const TIDY_ITSELF: &str = "xtask/tests/tidy/";

/// The Rust files of the checkout, relative to its root, with their text.
fn rust_files() -> Vec<(String, String)> {
    let root = workspace_root();
    let files: Vec<PathBuf> = checkout_files(&root);
    let rust: Vec<(String, String)> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .map(|f| {
            let relative = f.strip_prefix(&root).unwrap_or(f).to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(f)
                .unwrap_or_else(|e| panic!("tidy cannot read {}: {e}", f.display()));
            (relative, text)
        })
        .collect();
    assert!(rust.len() > 50, "tidy found only {} Rust files: the scan missed the tree", rust.len());
    rust
}

/// Whether `word` stands in `line` as a whole word, outside a `//` comment.
fn has_word(line: &str, word: &str) -> bool {
    let code = line.split("//").next().unwrap_or_default();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn unsafe_only_where_the_invariants_allow_it() {
    let mut found = Vec::new();
    for (path, text) in rust_files() {
        if path.starts_with(TIDY_ITSELF)
            || UNSAFE_ALLOWED.iter().any(|(prefix, _)| path.starts_with(prefix))
        {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            if has_word(line, "unsafe") {
                found.push(format!("{path}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "`unsafe` outside the places ARCHITECTURE.md's first invariant lists; move it there, or \
         add the file to that invariant and to UNSAFE_ALLOWED with the reason:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_crate_and_module_has_a_doc() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|(path, _)| !GENERATED.contains(&path.as_str()))
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(path, _)| path)
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not begin with a `//!` doc saying what the crate or module is for:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_source_file_is_over_the_size_limit() {
    let long: Vec<String> = rust_files()
        .into_iter()
        .filter(|(path, _)| !GENERATED.contains(&path.as_str()))
        .filter_map(|(path, text)| {
            let lines = text.lines().count();
            (lines > MAX_LINES).then(|| format!("{path}: {lines} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines do more than one job: split them into modules:\n{}",
        long.join("\n")
    );
}

/// The crate folder of a source file under some `src/` (e.g. `backend-tensorrt/precision-trt-sys`),
/// and the file's name as ARCHITECTURE.md writes it (`name.rs`, or `folder/` for a `mod.rs`).
fn module_file(path: &str) -> Option<(&str, String)> {
    let (crate_dir, inside) = path.split_once("/src/")?;
    let name = Path::new(inside).file_name()?.to_string_lossy().into_owned();
    match name.as_str() {
        "lib.rs" | "main.rs" => None,
        "mod.rs" => {
            let folder = Path::new(inside).parent()?.file_name()?.to_string_lossy().into_owned();
            Some((crate_dir, format!("{folder}/")))
        }
        _ => Some((crate_dir, name)),
    }
}

/// The text of ARCHITECTURE.md's section (`### ...`) whose title names `crate_dir`.
fn crate_section<'a>(architecture: &'a str, crate_dir: &str) -> Option<&'a str> {
    let title = format!("`{crate_dir}`");
    let start = architecture.match_indices("\n### ").find_map(|(at, _)| {
        let line = architecture[at + 1..].lines().next().unwrap_or_default();
        line.contains(&title).then_some(at + 1)
    })?;
    let rest = &architecture[start..];
    let end = rest[4..].find("\n#").map_or(rest.len(), |e| e + 4);
    Some(&rest[..end])
}

#[test]
fn architecture_names_every_module_file() {
    let root = workspace_root();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the workspace root");
    let mut missing = Vec::new();
    for (path, _) in rust_files() {
        if GENERATED.contains(&path.as_str()) {
            continue;
        }
        let Some((crate_dir, name)) = module_file(&path) else { continue };
        match crate_section(&architecture, crate_dir) {
            Some(section) if section.contains(&name) => {}
            Some(_) => missing.push(format!("{path}: its crate's section does not name {name}")),
            None => {
                missing.push(format!("{path}: no section of ARCHITECTURE.md names {crate_dir}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map must name every module file (a line on what it does):\n{}",
        missing.join("\n")
    );
}

/// The text of each assertion macro call in `text` (to the end of its statement).
fn assertions(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.match_indices("assert").filter_map(move |(at, _)| {
        let rest = &text[at..];
        let bang = rest.find('!')?;
        let name = &rest[..bang];
        if !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.contains("debug") {
            return None;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        Some((text[..at].lines().count().max(1), &rest[..end]))
    })
}

/// The names bound to a measured duration (`let took = start.elapsed();`, also in a tuple).
fn measured_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("let ")?;
            let (pattern, value) = rest.split_once('=')?;
            if !value.contains(".elapsed()") {
                return None;
            }
            let pattern = pattern.trim().trim_start_matches("mut ");
            let name = if let Some(tuple) = pattern.strip_prefix('(') {
                let position = value
                    .trim()
                    .trim_start_matches('(')
                    .split(',')
                    .position(|v| v.contains(".elapsed()"))?;
                tuple.trim_end_matches(')').split(',').nth(position)?.trim().to_owned()
            } else {
                pattern.split(':').next()?.trim().to_owned()
            };
            (!name.is_empty() && name != "_").then_some(name)
        })
        .collect()
}

#[test]
fn no_test_asserts_on_wall_time() {
    let mut found = Vec::new();
    for (path, text) in rust_files() {
        if path.starts_with(TIDY_ITSELF)
            || TIMED_ALLOWED.iter().any(|(allowed, _)| path == *allowed)
        {
            continue;
        }
        let is_test = path.contains("/tests/") || text.contains("#[test]");
        if !is_test {
            continue;
        }
        let measured = measured_names(&text);
        for (line, assertion) in assertions(&text) {
            let names_measure = measured.iter().any(|name| has_word(assertion, name));
            if assertion.contains(".elapsed()") || names_measure {
                found.push(format!("{path}:{line}: {}", assertion.lines().next().unwrap_or("")));
            }
        }
    }
    assert!(
        found.is_empty(),
        "tests assert on measured wall time, which depends on the machine: check a count or \
         a simulated clock instead (speed targets belong in `cargo xtask bench`):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rules_find_what_they_look_for() {
    assert!(has_word("    let x = unsafe { f() };", "unsafe"));
    assert!(!has_word("#![allow(unsafe_code)]", "unsafe"));
    assert!(!has_word("    // no unsafe here", "unsafe"));
    let text = "fn t() {\n    assert!(start.elapsed() < limit, \"slow\");\n}\n";
    let found: Vec<_> = assertions(text).collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 2);
    assert!(found[0].1.contains(".elapsed()"));
    let text = "let took = start.elapsed();\nlet (out, spent) = (run(), t.elapsed());\n";
    assert_eq!(measured_names(text), ["took", "spent"]);
    assert_eq!(
        module_file("backend-tensorrt/src/fake/mod.rs"),
        Some(("backend-tensorrt", "fake/".to_owned()))
    );
    assert_eq!(module_file("precision-cli/src/main.rs"), None);
    let architecture = "# A\n\n### `one`\nnames a.rs\n\n### `two`\nnames b.rs\n";
    assert_eq!(crate_section(architecture, "one"), Some("### `one`\nnames a.rs\n"));
    assert!(crate_section(architecture, "two").is_some_and(|s| s.contains("b.rs")));
}
