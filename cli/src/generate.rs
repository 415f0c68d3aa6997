//! `connector generate [--check]`: the checked-in files that come from the code, written
//! from the workspace root (found from this crate's manifest at build time, or the
//! current directory).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use shared::deploy;

/// Each generated file: its path from the workspace root and its new text.
fn generated(root: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let openapi =
        serde_json::to_string_pretty(&shared::openapi::document(shared::openapi::CHECKED_IN_BASE_URL))? + "\n";
    let mut files = vec![(root.join("openapi/openapi.json"), openapi)];
    for (file, region) in [("template.yaml", deploy::template_functions()), ("Cargo.toml", deploy::watch_router())] {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let Some(new) = deploy::replace_region(&text, &region) else {
            bail!("{} has no region between `{}` and `{}`", path.display(), deploy::BEGIN, deploy::END);
        };
        files.push((path, new));
    }
    Ok(files)
}

fn workspace_root() -> PathBuf {
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = if built_in.join("template.yaml").exists() { built_in } else { PathBuf::from(".") };
    root.canonicalize().unwrap_or(root)
}

pub fn run(check: bool) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for (path, text) in generated(&workspace_root())? {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        bail!("stale, run `cargo run -p connector -- generate` and commit: {}", stale.join(", "));
    }
    Ok(())
}
