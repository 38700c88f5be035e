//! The `exec`, `doctor` and `policy show` contract: exit codes, errors a user sees, and output.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::*;

fn root_fixture() -> Option<Fixture> {
    require(
        backend_available("native"),
        "the native backend is unavailable here",
    )
    .then(|| Fixture::new(&Identity::Root))
}

/// The backends besides `native` that this machine runs (a failure under
/// `SANDBOXPM_SANDBOX_MUST_WORK=1` when one is missing).
fn backends() -> Vec<&'static str> {
    let mut out = vec!["native"];
    for backend in ["landlock", "bwrap"] {
        if require(
            backend_available(backend),
            &format!("the {backend} backend is unavailable here"),
        ) {
            out.push(backend);
        }
    }
    out
}

#[test]
fn exit_status_is_the_commands() {
    let Some(f) = root_fixture() else { return };
    for backend in backends() {
        assert_eq!(
            f.exec(backend, &[], &["sh", "-c", "exit 3"]).status.code(),
            Some(3),
            "{backend}"
        );
        assert_eq!(
            f.exec(backend, &[], &["true"]).status.code(),
            Some(0),
            "{backend}"
        );
        // Killed by SIGKILL: 128 + 9, like a shell reports it.
        assert_eq!(
            f.exec(backend, &[], &["sh", "-c", "kill -9 $$"])
                .status
                .code(),
            Some(137),
            "{backend}"
        );
    }
}

#[test]
fn timeout_kills_the_whole_tree_and_exits_124() {
    let Some(f) = root_fixture() else { return };
    for backend in backends() {
        let start = Instant::now();
        let out = f.exec(
            backend,
            &["--timeout", "1"],
            &[
                "sh",
                "-c",
                "(sleep 3; echo late > src/late-marker) & sleep 30",
            ],
        );
        assert_eq!(out.status.code(), Some(124), "{backend}: {}", text(&out));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{backend}: the timeout did not stop it"
        );
        assert!(
            text(&out).contains("timed out after 1 s"),
            "{backend}: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            !f.project.join("src/late-marker").exists(),
            "{backend}: a child survived the timeout"
        );
    }
}

#[test]
fn missing_command_exits_127_with_a_clear_message() {
    let f = Fixture::new(&Identity::Root);
    let out = f.exec("auto", &[], &["no-such-command-xyz"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out).contains("command not found: no-such-command-xyz"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_flags_and_paths_get_clear_errors() {
    let f = Fixture::new(&Identity::Root);
    let out = f.run_binary(
        &["exec", "--allow-read", "/no/such/dir", "--", "true"],
        std::process::Stdio::null(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--allow-read /no/such/dir: no such file or directory"),
        "{}",
        text(&out)
    );
    let out = f.run_binary(
        &["exec", "--allow-everything", "--", "true"],
        std::process::Stdio::null(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--allow-everything"), "{}", text(&out));
    let out = f.run_binary(
        &["exec", "--backend", "magic", "--", "true"],
        std::process::Stdio::null(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("magic"), "{}", text(&out));
}

#[test]
fn stdio_passes_through() {
    let Some(f) = root_fixture() else { return };
    let mut child = f
        .command(&[
            "exec",
            "--",
            "sh",
            "-c",
            "read line; echo \"got:$line\"; echo err >&2",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got:hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
}

#[test]
fn doctor_reports_every_mechanism() {
    let f = Fixture::new(&Identity::Root);
    let out = f.run_binary(&["doctor"], std::process::Stdio::null());
    let t = text(&out);
    for line in [
        "kernel:",
        "user namespaces:",
        "landlock:",
        "seccomp:",
        "bubblewrap:",
        "docker:",
        "backend `auto`:",
        "enforces:",
        "does not enforce:",
    ] {
        assert!(t.contains(line), "doctor lacks `{line}`:\n{t}");
    }
    let json = f.run_binary(&["doctor", "--json"], std::process::Stdio::null());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["landlock_abi"].is_i64() && v["auto"].is_string(), "{v}");
}

#[test]
fn policy_show_prints_the_policy_and_its_translation() {
    let f = Fixture::new(&Identity::Root);
    let out = f.run_binary(
        &["policy", "show", "--", "node"],
        std::process::Stdio::null(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for section in [
        "Effective policy",
        "visible paths:",
        "hidden (deny_read):",
        "Native backend (Linux)",
        "mount plan",
        "landlock rules",
        "seccomp",
    ] {
        assert!(t.contains(section), "missing `{section}`:\n{t}");
    }
    assert!(
        t.contains(&format!("{}/.env", f.project.display())),
        "the project's .env is not listed as hidden:\n{t}"
    );
    assert!(t.contains("hide file"), "{t}");
    let json = f.run_binary(&["policy", "show", "--json"], std::process::Stdio::null());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        v["native"]["mounts"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert!(
        v["native"]["seccomp"]
            .as_array()
            .is_some_and(|m| m.len() > 5),
        "{v}"
    );
}

#[test]
fn no_ghost_files_are_created_for_missing_deny_targets() {
    let Some(f) = root_fixture() else { return };
    for backend in backends() {
        // The fixture home has no .kube, .gnupg, .docker ...; the project has no .vscode.
        let before = f.host_state();
        let out = f.exec(
            backend,
            &[
                "--deny-read",
                "nonexistent-secret",
                "--deny-read",
                "src/missing/deeper",
                "--deny-write",
                "src/not-there",
                "--allow-read",
                "/usr",
            ],
            &["true"],
        );
        assert!(out.status.success(), "{backend}: {}", text(&out));
        for ghost in [
            f.home.join(".kube"),
            f.home.join(".gnupg"),
            f.project.join(".vscode"),
            f.project.join("nonexistent-secret"),
            f.project.join("src/missing"),
            f.project.join("src/not-there"),
        ] {
            assert!(
                !ghost.exists(),
                "{backend}: {} was created on the host",
                ghost.display()
            );
        }
        assert_eq!(before, f.host_state(), "{backend}");
    }
}

#[test]
fn bwrap_takes_a_deny_list_of_thousands_of_paths() {
    // The arguments go through `--args FD`, not argv; every path is hidden, the rest readable.
    let Some(f) = root_fixture() else { return };
    if !require(
        backend_available("bwrap"),
        "the bwrap backend is unavailable here",
    ) {
        return;
    }
    const N: usize = 2000;
    let dir = f.project.join("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..N {
        std::fs::write(dir.join(format!("f{i}")), format!("SECRET-{i}\n")).unwrap();
    }
    std::fs::write(dir.join("visible"), "VISIBLE\n").unwrap();
    let mut extra: Vec<String> = Vec::new();
    for i in 0..N {
        extra.push("--deny-read".into());
        extra.push(format!("many/f{i}"));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let out = f.exec(
        "bwrap",
        &extra,
        &["sh", "-c", "cat many/f*; cat many/visible; ls many | wc -l"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!t.contains("SECRET-"), "a denied file was readable:\n{t}");
    assert!(t.contains("VISIBLE"), "{t}");
    assert!(t.contains(&(N + 1).to_string()), "{t}");
}

#[test]
fn policy_show_prints_each_backends_translation_of_the_same_policy() {
    let f = Fixture::new(&Identity::Root);
    let show = |backend: &str| {
        let out = f
            .command(&["policy", "show", "--backend", backend, "--json", "--", "sh"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let env_secret = f.project.join(".env");
    let bwrap = show("bwrap");
    let args: Vec<&str> = bwrap["translation"]["bwrap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for flag in [
        "--unshare-all",
        "--disable-userns",
        "--new-session",
        "--die-with-parent",
    ] {
        assert!(args.contains(&flag), "bwrap lacks {flag}: {args:?}");
    }
    // The project's .env is covered.
    let at = args
        .iter()
        .position(|a| *a == env_secret.to_str().unwrap())
        .expect("the .env deny is not in the bwrap arguments");
    assert!(at > 0 && args[at - 2].starts_with("--ro-bind"), "{args:?}");

    let docker = show("docker");
    let config = &docker["translation"]["docker"];
    assert_eq!(config["HostConfig"]["ReadonlyRootfs"], true, "{config}");
    assert_eq!(config["HostConfig"]["CapDrop"][0], "ALL", "{config}");
    assert_eq!(config["HostConfig"]["NetworkMode"], "none", "{config}");

    let seatbelt = show("seatbelt");
    let text_ = seatbelt["translation"]["seatbelt"]["text"]
        .as_str()
        .unwrap();
    assert!(text_.contains("(deny default)"));
    assert!(
        !text_.contains(f.project.to_str().unwrap()),
        "a path was spliced into the profile"
    );
    assert!(show("native").get("translation").is_none());
}
