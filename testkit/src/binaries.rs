//! Locating the workspace's binaries (`connector`, the function crates) from a test.
//! They are brought up to date once per test process with `cargo build --workspace --bins`, which is
//! a quick no-op when `scripts/test` has built everything already, and keeps a test run
//! straight after an edit from exercising a stale binary.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The path of an up-to-date workspace binary in this test run's target directory.
pub fn path(name: &str) -> PathBuf {
    // target/<profile>/deps/<test-exe> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("the test executable has a path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("tests run from target/<profile>/deps");
    let binary = dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashSet::new);
    if !built.contains(name) {
        // The same selection as scripts/test's build step, so features unify the same way
        // and this is a no-op after it (a per-package build would compile a second set).
        let status = as_from_a_shell(Command::new(env!("CARGO")).args([
            "build",
            "--quiet",
            "--workspace",
            "--exclude",
            "connector-bench",
            "--bins",
        ]))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo runs");
        assert!(status.success(), "cargo build --bin {name} failed");
        built.insert(name.to_owned());
    }
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// Removes the variables cargo sets for a running test (`CARGO_PKG_*`, `CARGO_MANIFEST_*`,
/// …) from a command, so a `cargo` it starts sees the environment a shell would. Build
/// scripts (ring's, for one) rerun when those change, and would otherwise rebuild half
/// the dependency graph now and again on the next build from a shell.
pub fn as_from_a_shell(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo_for_this_test = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"].contains(&name);
        if set_by_cargo_for_this_test {
            command.env_remove(name);
        }
    }
    command
}
