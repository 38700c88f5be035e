//! Degraded mode, forced for real: user namespaces made impossible, and then Landlock too.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Stdio;

use support::*;

/// Wraps `args` of the sandboxpm binary in a child user namespace whose
/// `user.max_user_namespaces` is 0, so that sandboxpm's own unshare fails with ENOSPC exactly as
/// on a machine that forbids user namespaces.
fn without_userns(f: &Fixture, args: &[&str]) -> std::process::Output {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {} {}",
        binary().display(),
        quoted.join(" ")
    );
    let mut cmd = f.command(&[]);
    // f.command() starts the binary; replace the program while keeping identity and environment.
    let mut wrapped = std::process::Command::new(if matches!(f.identity, Identity::Root) {
        "unshare"
    } else {
        "setpriv"
    });
    if let Identity::User { uid, gid, .. } = &f.identity {
        wrapped.args([
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--init-groups".into(),
            "unshare".into(),
        ]);
    }
    wrapped.args(["--user", "--map-root-user", "sh", "-c", &script]);
    wrapped.current_dir(&f.project).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    let _ = &mut cmd;
    wrapped.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn without_user_namespaces_auto_falls_back_to_landlock_and_says_so() {
    if !require(
        backend_available("landlock"),
        "Landlock is unavailable here",
    ) {
        return;
    }
    for identity in identities() {
        let f = Fixture::new(&identity);
        let before = f.host_state();
        let script = format!("cat ~/.ssh/id_rsa .env $OUTSIDE/secret.txt; env; {CONTROL}")
            .replace("$OUTSIDE", &f.outside.to_string_lossy());
        let out = without_userns(&f, &["exec", "--", "sh", "-c", &script]);
        let context = format!("forced degraded as {}", identity.label());
        let t = text(&out);
        assert!(
            t.contains("cannot create a user namespace"),
            "{context}: no fallback notice:\n{t}"
        );
        assert!(
            t.contains("degraded `landlock` backend"),
            "{context}: no degradation warning:\n{t}"
        );
        assert_control_ran(&out, &context);
        assert_no_secret(&out, &context);
        assert_eq!(before, f.host_state(), "{context}: the host changed");
    }
}

#[test]
fn without_user_namespaces_native_is_refused_not_weakened() {
    let identity = Identity::Root;
    let f = Fixture::new(&identity);
    let out = without_userns(
        &f,
        &[
            "exec",
            "--backend",
            "native",
            "--",
            "sh",
            "-c",
            "echo RAN > src/ran",
        ],
    );
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(
        text(&out).contains("cannot create a user namespace"),
        "{}",
        text(&out)
    );
    assert!(
        !f.project.join("src/ran").exists(),
        "the command ran without its sandbox"
    );
}

/// A python wrapper that installs a seccomp filter making `landlock_create_ruleset` fail with
/// ENOSYS (a kernel without Landlock) and `unshare` fail with EPERM, then runs sandboxpm.
const NO_ISOLATION: &str = r#"
import ctypes, os, struct, sys
def insn(code, jt, jf, k): return struct.pack("HBBI", code, jt, jf, k)
ERRNO = 0x00050000
prog = b"".join([
    insn(0x20, 0, 0, 0),                      # load syscall number
    insn(0x15, 0, 1, 444), insn(0x06, 0, 0, ERRNO | 38),   # landlock_create_ruleset -> ENOSYS
    insn(0x15, 0, 1, 272), insn(0x06, 0, 0, ERRNO | 1),    # unshare -> EPERM
    insn(0x06, 0, 0, 0x7fff0000),             # allow
])
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Fprog(len(prog) // 8, ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0, ctypes.get_errno()
os.execv(sys.argv[1], sys.argv[1:])
"#;

#[test]
fn without_namespaces_and_landlock_nothing_runs() {
    for identity in identities() {
        let f = Fixture::new(&identity);
        let wrapper = f.root.join("no-isolation.py");
        std::fs::write(&wrapper, NO_ISOLATION).unwrap();
        let bin = binary().to_string_lossy().into_owned();
        let mut cmd = f.command(&[]);
        let mut run = std::process::Command::new(if matches!(identity, Identity::Root) {
            "python3"
        } else {
            "setpriv"
        });
        if let Identity::User { uid, gid, .. } = &identity {
            run.args([
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--init-groups".into(),
                "python3".into(),
            ]);
        }
        run.arg(&wrapper).args([
            &bin,
            "exec",
            "--",
            "sh",
            "-c",
            "echo RAN > src/ran; echo RAN",
        ]);
        run.current_dir(&f.project).env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                run.env(k, v);
            }
        }
        let _ = &mut cmd;
        let out = run.stdin(Stdio::null()).output().unwrap();
        let context = format!("no isolation as {}", identity.label());
        assert_eq!(out.status.code(), Some(125), "{context}: {}", text(&out));
        // `auto` tries bubblewrap last when it is installed (a setuid one would still work);
        // here it cannot create its namespaces either.
        let expected = if backend_available("bwrap") {
            "running with the `bwrap` backend"
        } else {
            "refusing to run unconfined"
        };
        assert!(text(&out).contains(expected), "{context}: {}", text(&out));
        assert!(!text(&out).contains("RAN"), "{context}: the command ran");
        assert!(
            !f.project.join("src/ran").exists(),
            "{context}: the command ran"
        );
    }
}
