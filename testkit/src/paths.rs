//! Where the tests find the repository and the tools `scripts/setup` installs.

use std::path::{Path, PathBuf};

/// The repository root (the workspace that holds this crate).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits inside the workspace")
}

/// A binary of `.tools/venv/bin` (the Temporal CLI `temporal`, the official
/// `temporal-test-server`), found in the nearest `.tools` walking up from this crate.
/// Panics naming the binary and the command that installs it.
pub fn tool(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join(".tools/venv/bin").join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found in .tools/venv/bin above {}: run scripts/setup",
                env!("CARGO_MANIFEST_DIR")
            )
        })
}
