//! The `bwrap` backend: the native mount plan and seccomp program, enforced by bubblewrap.
//!
//! For machines where the sandboxpm helper cannot build the sandbox itself but a (possibly
//! setuid) bubblewrap can, and for users who trust bubblewrap's code more than ours. The policy
//! is the same resolved policy; [`translate()`] turns [`crate::native::plan`] into bubblewrap
//! arguments (a pure function, snapshot-tested), and the runner starts `bwrap` with them:
//!
//! ```text
//! sandboxpm ── bwrap --args N -- PROGRAM ARGS      (arguments, seccomp program and --file data
//!               │                                   through descriptors; empty environment)
//!               └─ pid 1 (bwrap, reaps)            user, mount, pid, net, ipc, uts, cgroup ns
//!                   └─ command                      no capabilities, new session, seccomp
//! ```
//!
//! bubblewrap reports the sandbox's pid and the command's exit code on `--json-status-fd`; the
//! outer `bwrap` exits as soon as the command does, and `--die-with-parent` then takes its pid 1,
//! and with it everything left in the pid namespace. The runner, a subreaper, inherits that pid 1
//! and kills it too rather than trusting it (the command can write to its memory). A timeout
//! kills the outer `bwrap`, with the same effect. A network allowlist is served by the same proxy as the native backend: the
//! runner binds the relay's listener inside the sandbox's network namespace (from a short-lived
//! helper that enters it) while `--block-fd` holds the command back.
//!
//! What this backend cannot do is listed in [`guarantees`], and `sandboxpm doctor` prints it.

#[cfg(target_os = "linux")]
mod netns;
#[cfg(target_os = "linux")]
mod runner;
mod translate;

use std::path::PathBuf;

pub use translate::{Fds, FileData, MAX_ARGUMENTS, PROXY_PORT, Translation, translate};

use crate::resolve::ResolvedPolicy;
use crate::{Command, Error, Outcome};

/// What `auto` says when it falls back to this backend.
pub const FALLBACK_WARNING: &str = "running with the `bwrap` backend (bubblewrap): the same \
     mount plan and seccomp filter as the native backend, without Landlock";

/// The bubblewrap executable: `bwrap` on `PATH`, else `/usr/bin/bwrap`.
pub fn find() -> Option<PathBuf> {
    crate::doctor::which("bwrap").or_else(|| {
        let path = PathBuf::from("/usr/bin/bwrap");
        crate::doctor::is_executable(&path).then_some(path)
    })
}

/// Whether bubblewrap is installed.
pub fn available() -> bool {
    find().is_some()
}

/// Whether bubblewrap can create a sandbox here with the flags this backend depends on
/// (`--disable-userns` included): installed is not enough where user namespaces fail, since only
/// a setuid bubblewrap works there. Runs it once, so it is for `doctor` and fallbacks, not for
/// every spawn.
pub fn can_start() -> bool {
    let Some(bwrap) = find() else { return false };
    std::process::Command::new(bwrap)
        .args([
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--ro-bind",
            "/",
            "/",
            "--",
            "/bin/true",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` under `policy` with bubblewrap.
pub fn run(policy: &ResolvedPolicy, cmd: &Command) -> Result<Outcome, Error> {
    #[cfg(target_os = "linux")]
    {
        runner::run(policy, cmd)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (policy, cmd);
        Err(Error::Unsupported(
            "the bwrap backend is only available on Linux".into(),
        ))
    }
}

/// What this backend enforces and what it does not.
pub fn guarantees() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        vec![
            "file system: only granted paths exist; denies hidden or read-only (the native mount plan, built by bubblewrap)",
            "private HOME and /tmp (tmpfs)",
            "no network but loopback (network namespace); allowlists only through the filtering proxy",
            "no view of or signals to host processes (pid namespace)",
            "no host abstract unix sockets (network namespace)",
            "whole process tree killed when the command ends (bwrap's pid 1 dies with its parent)",
            "seccomp: the native program (ptrace, keyctl, bpf, io_uring, mount, namespaces, TIOCSTI, x32 refused)",
            "no capabilities (--cap-drop ALL), no_new_privs, new session, no nested user namespaces",
            "environment reduced to the allowlist (bwrap itself starts with an empty one)",
        ],
        vec![
            "Landlock: not applied (bubblewrap executes the command itself); the mounts alone enforce the file system policy",
            "Landlock scopes: signal and abstract-socket scoping rely on namespaces only",
            "host mounts made later below a granted path appear inside (bubblewrap uses slave propagation)",
            "/dev and /dev/shm are not mounted noexec",
            "at most 9000 bubblewrap arguments (about 2900 hidden paths), and set-up time grows with the square of the number of mounts",
            "a command that cannot be executed is reported by bubblewrap as a set-up failure (exit 125, not 126/127)",
            "resource limits apply to bubblewrap as well as to the command",
            "network allowlists need unprivileged user namespaces: with a setuid bubblewrap the proxy relay cannot enter the sandbox's network namespace, and `--allow-net` fails",
            "bubblewrap leaves an empty mount-point directory in /run/user/UID or /tmp on the host",
            "bubblewrap's pid 1 is not protected from the command (same uid, dumpable: its memory is writable); it holds no secret, and sandboxpm kills it, and the whole sandbox with it, when the command ends",
        ],
    )
}
