//! Differential test: our semver answers must equal those of the node-semver that npm ships.
//!
//! Every range in `support/semver_cases.rs` is checked against every version (satisfies), plus
//! range validity, `maxSatisfying` and version validity. Needs `node` and npm's bundled semver;
//! set `SANDBOXPM_SKIP_NODE_TESTS=1` to skip where they are missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/semver_cases.rs"]
mod cases;

use std::io::Write;
use std::process::{Command, Stdio};

use sandboxpm_npm::{Range, Version};

const NODE_SCRIPT: &str = r#"
const semver = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = { satisfies: [], validRange: [], maxSatisfying: [], valid: [] };
for (const r of input.ranges) {
  out.validRange.push(semver.validRange(r) !== null);
  out.maxSatisfying.push(semver.maxSatisfying(input.versions, r));
  out.satisfies.push(input.versions.map((v) => semver.satisfies(v, r)));
}
for (const v of input.versionStrings) out.valid.push(semver.valid(v));
process.stdout.write(JSON.stringify(out));
"#;

fn skip_requested() -> bool {
    std::env::var("SANDBOXPM_SKIP_NODE_TESTS").is_ok_and(|v| v == "1")
}

/// The node-semver module inside the installed npm, or why it cannot be used.
fn node_semver_module() -> Result<std::path::PathBuf, String> {
    let output = Command::new("npm")
        .args(["root", "-g"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `npm root -g`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`npm root -g` failed with {}", output.status));
    }
    let root = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let module = std::path::Path::new(&root).join("npm/node_modules/semver");
    if module.join("package.json").is_file() {
        Ok(module)
    } else {
        Err(format!(
            "npm's semver module is missing at {}",
            module.display()
        ))
    }
}

fn ask_node(module: &std::path::Path) -> Result<serde_json::Value, String> {
    let input = serde_json::json!({
        "ranges": cases::RANGES,
        "versions": cases::VERSIONS,
        "versionStrings": cases::VERSION_STRINGS,
    });
    let mut child = Command::new("node")
        .arg("-e")
        .arg(NODE_SCRIPT)
        .arg(module)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `node`: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .map_err(|e| format!("cannot write to node: {e}"))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("node failed: {e}"))?;
    if !output.status.success() {
        return Err(format!("node exited with {}", output.status));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("node printed invalid JSON: {e}"))
}

#[test]
fn semver_matches_node_semver() {
    let node = match node_semver_module().and_then(|module| ask_node(&module)) {
        Ok(node) => node,
        Err(why) if skip_requested() => {
            eprintln!("skipping the node-semver differential test: {why}");
            return;
        }
        Err(why) => panic!(
            "the node-semver differential test needs node and npm's semver module: {why}\n\
             hint: install node and npm, or set SANDBOXPM_SKIP_NODE_TESTS=1 to skip"
        ),
    };
    let versions: Vec<Version> = cases::VERSIONS
        .iter()
        .map(|v| Version::parse(v).unwrap_or_else(|e| panic!("test version {v}: {e}")))
        .collect();

    let mut mismatches = Vec::new();
    let mut compared = 0usize;
    for (i, text) in cases::RANGES.iter().enumerate() {
        let range = Range::parse(text);
        let node_valid = node["validRange"][i].as_bool().unwrap();
        compared += 1;
        if range.is_ok() != node_valid {
            mismatches.push(format!(
                "validRange({text:?}): node {node_valid}, ours {}",
                range.is_ok()
            ));
        }
        for (j, version) in versions.iter().enumerate() {
            let node_answer = node["satisfies"][i][j].as_bool().unwrap();
            let ours = range.as_ref().is_ok_and(|r| r.satisfies(version));
            compared += 1;
            if ours != node_answer {
                mismatches.push(format!(
                    "satisfies({:?}, {text:?}): node {node_answer}, ours {ours}",
                    cases::VERSIONS[j]
                ));
            }
        }
        let node_max = node["maxSatisfying"][i].as_str().map(str::to_owned);
        let ours_max = range
            .as_ref()
            .ok()
            .and_then(|r| r.max_satisfying(&versions))
            .map(|v| v.to_string());
        compared += 1;
        if node_max != ours_max {
            mismatches.push(format!(
                "maxSatisfying({text:?}): node {node_max:?}, ours {ours_max:?}"
            ));
        }
    }
    for (i, text) in cases::VERSION_STRINGS.iter().enumerate() {
        let node_valid = node["valid"][i].as_str().map(str::to_owned);
        let ours = Version::parse(text).ok().map(|v| {
            // node's valid() returns the version without build metadata.
            let s = v.to_string();
            s.split('+').next().unwrap_or_default().to_owned()
        });
        compared += 1;
        if node_valid != ours {
            mismatches.push(format!(
                "valid({text:?}): node {node_valid:?}, ours {ours:?}"
            ));
        }
    }
    assert!(compared > 5000, "too few cases compared: {compared}");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} answers differ from node-semver:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
