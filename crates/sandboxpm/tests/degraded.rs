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

/// A project whose one dependency has an approved postinstall that writes `built.txt` into its
/// package directory, served by a loopback registry.
struct ScriptProject {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    env: Vec<(String, String)>,
    _registry: sandboxpm_test_support::FixtureRegistry,
}

impl ScriptProject {
    fn new(on_warn: &str) -> ScriptProject {
        let registry = sandboxpm_test_support::FixtureRegistry::start().unwrap();
        let pkg = sandboxpm_test_support::PackageBuilder::new("builds", "1.0.0")
            .script("postinstall", "echo BUILT > built.txt")
            .file("index.js", "")
            .build()
            .unwrap();
        registry.add(&pkg);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("package.json"),
            r#"{"name":"app","dependencies":{"builds":"1.0.0"}}"#,
        )
        .unwrap();
        std::fs::write(
            root.join(".sandboxpmrc"),
            format!(r#"{{"whitelist":["builds@1.0.0"],"policies":{{"onWarn":"{on_warn}"}}}}"#),
        )
        .unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let env = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), home.to_string_lossy().into_owned()),
            (
                "SANDBOXPM_HOME".into(),
                dir.path().join("spm").to_string_lossy().into_owned(),
            ),
            ("npm_config_registry".into(), registry.url()),
            (
                "npm_config_userconfig".into(),
                home.join("none").to_string_lossy().into_owned(),
            ),
        ];
        ScriptProject {
            _dir: dir,
            root,
            env,
            _registry: registry,
        }
    }

    fn built(&self) -> bool {
        self.root
            .join("node_modules/.sandboxpm/builds@1.0.0/node_modules/builds/built.txt")
            .exists()
    }

    /// `sandboxpm install` behind `wrapper` (program and leading arguments).
    fn install(&self, wrapper: &[&str]) -> std::process::Output {
        let mut cmd = std::process::Command::new(wrapper[0]);
        cmd.args(&wrapper[1..])
            .current_dir(&self.root)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd.output().unwrap()
    }
}

#[test]
fn install_scripts_in_a_degraded_sandbox_are_a_warn_event() {
    if !require(
        backend_available("landlock"),
        "Landlock is unavailable here",
    ) {
        return;
    }
    let bin = binary().to_string_lossy().into_owned();
    let script = format!("echo 0 > /proc/sys/user/max_user_namespaces && exec '{bin}' install");
    let wrapper = ["unshare", "--user", "--map-root-user", "sh", "-c", &script];

    // Default `prompt`, no terminal: the install stops before the script runs, saying why.
    let p = ScriptProject::new("prompt");
    let out = p.install(&wrapper);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("degraded"), "{}", text(&out));
    assert!(text(&out).contains("policies.onWarn"), "{}", text(&out));
    assert!(!p.built(), "the script ran despite the warn event");

    // `continue`: the script runs in the degraded sandbox, and the user is told.
    let p = ScriptProject::new("continue");
    let out = p.install(&wrapper);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("degraded"), "{}", text(&out));
    assert!(p.built(), "{}", text(&out));

    // Control: with user namespaces, no warning at all.
    let p = ScriptProject::new("abort");
    let out = p.install(&[&bin, "install"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("degraded"), "{}", text(&out));
    assert!(p.built());
}

#[test]
fn install_scripts_never_run_unsandboxed_without_a_terminal() {
    let p = ScriptProject::new("continue");
    let wrapper_file = p.root.parent().unwrap().join("no-isolation.py");
    std::fs::write(&wrapper_file, NO_ISOLATION).unwrap();
    let bin = binary().to_string_lossy().into_owned();
    let wrapper = ["python3", &wrapper_file.to_string_lossy(), &bin, "install"];
    let out = p.install(&wrapper);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("no sandbox backend can start"), "{t}");
    assert!(
        t.contains("builds@1.0.0 postinstall: echo BUILT > built.txt"),
        "{t}"
    );
    assert!(!p.built(), "the script ran unsandboxed");
    // The package itself is installed: only its script waits.
    assert!(
        p.root
            .join("node_modules/.sandboxpm/builds@1.0.0/node_modules/builds/index.js")
            .exists()
    );
}
