//! Locating the workspace's binaries (`connector`, the function crates) from a test.
//! Each is brought up to date once per test process with `cargo build --bin`, which is
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
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--package", name, "--bin", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --bin {name} failed");
        built.insert(name.to_owned());
    }
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}
