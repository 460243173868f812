//! `cargo xtask fixtures`: regenerate the generated mock networks, or check them.

use anyhow::bail;

/// Flags for `cargo xtask fixtures`.
#[derive(clap::Args)]
pub struct Args {
    /// Only check that the committed files are up to date.
    #[arg(long)]
    pub check: bool,
}

/// Writes (or compares) `fixtures/networks/generated/<id>.toml` for each generated network.
pub fn run(args: &Args) -> anyhow::Result<()> {
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
    if !stale.is_empty() {
        bail!(
            "generated fixtures are out of date, run `cargo xtask fixtures`: {}",
            stale.join(", ")
        );
    }
    Ok(())
}
