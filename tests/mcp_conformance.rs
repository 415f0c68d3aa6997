//! `scripts/mcp-conformance`: the MCP conformance suite (`@modelcontextprotocol/conformance`)
//! against a freshly started `connector serve`, its server scenarios against `/mcp` and its
//! authorization server scenarios against the connector's issuer. The script must pass with
//! the committed baseline, the scenarios Dexter is meant to pass must pass check by check
//! (not only by being absent from the baseline), and a run judged against an empty baseline
//! must fail: the script's exit status really follows the suite's results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The server scenarios that exercise what `/mcp` serves (lifecycle, ping, the tool list,
/// DNS rebinding protection) and every authorization server scenario (RFC 8414 metadata, the
/// authorization code grant with PKCE through the real pages), each by the prefix of its
/// result directory (`<prefix><scenario>-<timestamp>`). Every other server scenario is in
/// conformance/expected-failures.yml.
const MUST_PASS: [(&str, &str); 6] = [
    ("server-", "server-initialize"),
    ("server-", "ping"),
    ("server-", "tools-list"),
    ("server-", "dns-rebinding-protection"),
    ("authorization-server-", "authorization-server-metadata-endpoint"),
    ("authorization-server-", "authorization-code-grant"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(out: &Path, baseline: Option<&Path>) -> (bool, String) {
    let mut command = Command::new(root().join("scripts/mcp-conformance"));
    command.env("MCP_CONFORMANCE_OUT", out);
    if let Some(baseline) = baseline {
        command.env("MCP_CONFORMANCE_BASELINE", baseline);
    }
    let output = command.output().expect("scripts/mcp-conformance runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Each scenario's checks, by scenario name, from the runner's result directories
/// (`server-<scenario>-<timestamp>/checks.json`, `authorization-server-<scenario>-...`).
fn checks(out: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(out).expect("results directory") {
        let dir = entry.expect("entry").path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let Some((_, scenario)) = MUST_PASS.iter().find(|(prefix, s)| name.starts_with(&format!("{prefix}{s}-2")))
        else {
            continue;
        };
        let text = std::fs::read_to_string(dir.join("checks.json")).expect("checks.json");
        let list: Vec<Value> = serde_json::from_str(&text).expect("checks.json is a JSON array");
        found.insert((*scenario).to_owned(), list);
    }
    found
}

/// A scratch directory of this run, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mcp-conformance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_conformance_suite_passes_and_its_failures_would_fail_the_script() {
    let work = Scratch::new();

    let out = work.path().join("results");
    let (passed, output) = run(&out, None);
    assert!(passed, "scripts/mcp-conformance failed:\n{output}");
    let results = checks(&out);
    for (_, scenario) in MUST_PASS {
        let list = results.get(scenario).unwrap_or_else(|| panic!("{scenario} did not run:\n{output}"));
        assert!(list.iter().any(|check| check["status"] == "SUCCESS"), "{scenario} passed no check");
        // INFO is a note (e.g. "no session id issued"), not a verdict.
        for check in list {
            assert!(check["status"] == "SUCCESS" || check["status"] == "INFO", "{scenario}: {check}");
        }
    }
    assert!(!output.contains("Bearer ey") && !output.contains("eyJ"), "the run printed a token:\n{output}");

    let empty = work.path().join("empty-baseline.yml");
    std::fs::write(&empty, "server: []\nauthorization: []\n").expect("write baseline");
    let (passed, output) = run(&work.path().join("strict"), Some(&empty));
    assert!(!passed, "with no expected failures the run must fail:\n{output}");
    assert!(output.contains("Unexpected failures"), "{output}");

    // The authorization half is judged by conformance/judge-authorization.mjs, not by the
    // suite: with the committed server baseline, an authorization entry that passes (a stale
    // one) must fail the run on its own.
    let committed = std::fs::read_to_string(root().join("conformance/expected-failures.yml")).expect("baseline");
    assert!(committed.contains("\nauthorization: []\n"), "the committed baseline lists authorization failures");
    let stale = work.path().join("stale-baseline.yml");
    let text = committed.replace("\nauthorization: []\n", "\nauthorization:\n  - authorization-code-grant\n");
    std::fs::write(&stale, text).expect("write baseline");
    let (passed, output) = run(&work.path().join("stale"), Some(&stale));
    assert!(!passed, "a baseline entry that passes must fail the run:\n{output}");
    assert!(output.contains("Stale baseline entries") && output.contains("✓ authorization-code-grant"), "{output}");
}
