//! The re-executed helper that multi-threaded callers use: it runs a resolved request with the
//! same guarantees as `sandboxpm exec`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[test]
fn helper_runs_a_resolved_request_sandboxed() {
    for identity in identities() {
        if !require(
            backend_available("native"),
            "the native backend is unavailable here",
        ) {
            return;
        }
        let f = Fixture::new(&identity);
        let shown = f.run_binary(
            &["policy", "show", "--json", "--", "sh"],
            std::process::Stdio::null(),
        );
        assert!(shown.status.success(), "{}", text(&shown));
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        let request = serde_json::json!({
            "policy": shown["resolved"],
            "command": {
                "program": shown["command"],
                "argv": ["sh", "-c", format!("cat .env ~/.ssh/id_rsa; env; {CONTROL}")],
            },
            "backend": "auto",
        });
        // The request file lives in the project, which the identity owns.
        let path = f.project.join(".request.json");
        std::fs::write(&path, serde_json::to_vec(&request).unwrap()).unwrap();
        if let Identity::User { uid, gid, .. } = &identity {
            std::os::unix::fs::chown(&path, Some(*uid), Some(*gid)).unwrap();
        }
        let out = f.run_binary(
            &["sandbox-helper", "--request", &path.to_string_lossy()],
            std::process::Stdio::null(),
        );
        let context = format!("helper as {}", identity.label());
        assert_control_ran(&out, &context);
        assert_no_secret(&out, &context);
        assert!(
            !path.exists(),
            "{context}: the request file was not consumed"
        );
    }
}

#[test]
fn helper_rejects_a_malformed_request() {
    let identity = Identity::Root;
    let f = Fixture::new(&identity);
    let path = f.project.join("bad.json");
    std::fs::write(&path, b"{\"policy\": 1}").unwrap();
    let out = f.run_binary(
        &["sandbox-helper", "--request", &path.to_string_lossy()],
        std::process::Stdio::null(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("reading the sandbox request"),
        "{}",
        text(&out)
    );
}
