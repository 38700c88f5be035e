//! The re-executed helper that multi-threaded callers use: it runs a resolved request with the
//! same guarantees as `sandboxpm exec`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

/// `policy show --json -- sh` in the fixture's project: the resolved policy a request carries.
fn shown_policy(f: &Fixture) -> serde_json::Value {
    let shown = f.run_binary(
        &["policy", "show", "--json", "--", "sh"],
        std::process::Stdio::null(),
    );
    assert!(shown.status.success(), "{}", text(&shown));
    serde_json::from_slice(&shown.stdout).unwrap()
}

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
        let shown = shown_policy(&f);
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

#[test]
fn zygote_children_run_requests_concurrently_with_their_own_output_and_status() {
    use sandboxpm_sandbox::helper::Request;
    use sandboxpm_sandbox::zygote::Zygote;
    use std::io::Read;
    if !require(
        backend_available("native"),
        "the native backend is unavailable here",
    ) {
        return;
    }
    let identity = Identity::Root;
    let f = Fixture::new(&identity);
    let shown = shown_policy(&f);
    let request = |program: &serde_json::Value, script: String| -> Request {
        serde_json::from_value(serde_json::json!({
            "policy": shown["resolved"],
            "command": { "program": program, "argv": ["sh", "-c", script] },
            "backend": "auto",
        }))
        .unwrap()
    };
    let sh = &shown["command"];
    let zygote = Zygote::start(binary()).unwrap();
    // Both are in flight at once: the first only ends after the second has started.
    let first = zygote
        .submit(&request(
            sh,
            format!("sleep 0.3; cat .env ~/.ssh/id_rsa; {CONTROL}; echo to-err >&2; exit 3"),
        ))
        .unwrap();
    let second = zygote
        .submit(&request(sh, "echo second; exit 0".into()))
        .unwrap();
    let mut out = String::new();
    (&second.stdout).read_to_string(&mut out).unwrap();
    assert_eq!(out, "second\n");
    assert_eq!(second.wait(), Some(0));
    let (mut out, mut err) = (String::new(), String::new());
    (&first.stdout).read_to_string(&mut out).unwrap();
    (&first.stderr).read_to_string(&mut err).unwrap();
    assert_eq!(first.wait(), Some(3), "stdout: {out}\nstderr: {err}");
    let output = std::process::Output {
        status: std::process::ExitStatus::default(),
        stdout: out.clone().into_bytes(),
        stderr: err.clone().into_bytes(),
    };
    assert_control_ran(&output, "zygote child");
    assert_no_secret(&output, "zygote child");
    assert!(
        err.contains("to-err") && !out.contains("to-err"),
        "streams stay apart"
    );

    // A request that cannot run gets the helper's message and exit code; the zygote carries on.
    let missing = serde_json::json!("/nonexistent/program");
    let failed = zygote.submit(&request(&missing, "true".into())).unwrap();
    let mut err = String::new();
    (&failed.stderr).read_to_string(&mut err).unwrap();
    assert_eq!(failed.wait(), Some(127), "{err}");
    assert!(err.contains("cannot execute"), "{err}");
    // Held, it says it never started.
    let mut failed = zygote
        .submit_held(&request(&missing, "true".into()))
        .unwrap();
    failed.start().unwrap();
    assert!(!failed.wait_started());
    assert_eq!(failed.wait(), Some(127));
    let again = zygote.submit(&request(sh, "exit 5".into())).unwrap();
    assert_eq!(again.wait(), Some(5));
    // Dropping it ends the zygote (Drop waits for it).
    drop(zygote);
}

#[test]
fn held_zygote_requests_wait_fully_built_and_their_timeout_starts_when_let_go() {
    use sandboxpm_sandbox::helper::Request;
    use sandboxpm_sandbox::zygote::Zygote;
    use std::io::Read;
    if !require(
        backend_available("native"),
        "the native backend is unavailable here",
    ) {
        return;
    }
    let f = Fixture::new(&Identity::Root);
    let mut shown = shown_policy(&f);
    // One second, shorter than the wait below: a clock started at submission would kill it.
    shown["resolved"]["limits"]["timeout_secs"] = serde_json::json!(1);
    let request = |script: &str| -> Request {
        serde_json::from_value(serde_json::json!({
            "policy": shown["resolved"],
            "command": { "program": shown["command"], "argv": ["sh", "-c", script] },
            "backend": "native",
        }))
        .unwrap()
    };
    let zygote = Zygote::start(binary()).unwrap();
    let mut held = zygote
        .submit_held(&request(&format!(
            "echo ran > held-marker; sleep 0.3; {CONTROL}"
        )))
        .unwrap();
    let cancelled = zygote
        .submit_held(&request("echo ran > cancelled-marker; exit 0"))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        !f.project.join("held-marker").exists(),
        "a held command ran before it was started"
    );
    // Cancelled unstarted: the helper ends with an error, and the script never ran.
    let code = cancelled.cancel();
    assert!(code.is_some_and(|c| c != 0), "{code:?}");
    held.start().unwrap();
    assert!(held.wait_started(), "a started command says so");
    let (mut out, mut err) = (String::new(), String::new());
    (&held.stdout).read_to_string(&mut out).unwrap();
    (&held.stderr).read_to_string(&mut err).unwrap();
    assert_eq!(held.wait(), Some(0), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("CONTROL_OK"), "{out}{err}");
    assert!(f.project.join("held-marker").exists());
    assert!(!f.project.join("cancelled-marker").exists());
    drop(zygote);
}
