//! The `seatbelt` backend: macOS's sandbox (Seatbelt) through `/usr/bin/sandbox-exec`.
//!
//! macOS has no namespaces, no tmpfs to mount and no seccomp. What it has is a kernel policy
//! module that checks every file, process, IPC and network operation of a process against a
//! profile written in SBPL, inherited by every child. This backend translates the resolved policy
//! into such a profile ([`profile()`], a pure function tested on every platform) and runs the
//! command under it:
//!
//! ```text
//! sandboxpm ── /usr/bin/sandbox-exec -p PROFILE -D NAME=VALUE... -- program args...
//!                  (applies the profile to itself, then execs the program)
//! ```
//!
//! The private `HOME` and `TMPDIR` are fresh directories created for the run and removed after
//! it; the network allowlist is served by the same proxy as on Linux, reached through a loopback
//! relay that the profile lets the command connect to and nothing else. What Seatbelt cannot
//! give (no pid or network namespace, a path-based view of the host's file system) is listed by
//! [`guarantees`] and shown by `sandboxpm doctor`.
//!
//! Only the runner is macOS code; it is also compiled for the tests on Linux, where a stand-in
//! for `sandbox-exec` exercises everything around the profile (environment, private home,
//! timeout, exit codes, proxy relay).

mod profile;

#[cfg(any(target_os = "macos", test))]
mod exec;
#[cfg(any(target_os = "macos", test))]
mod relay;

pub use profile::{
    BASE, PRIVATE_HOME, PRIVATE_TMP, PROXY_PORT, Param, Profile, Runtime, TERMINAL, darwin_path,
    profile,
};

use crate::resolve::ResolvedPolicy;
use crate::{Command, Error, Outcome};

/// Where macOS keeps `sandbox-exec`. Never looked up on `PATH`: a planted `sandbox-exec` earlier
/// on it would run the command unconfined.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// Runs `cmd` under `policy` with Seatbelt.
#[cfg(target_os = "macos")]
pub fn run(policy: &ResolvedPolicy, cmd: &Command) -> Result<Outcome, Error> {
    exec::run_with(std::path::Path::new(SANDBOX_EXEC), policy, cmd)
}

/// Runs `cmd` under `policy` with Seatbelt: only on macOS.
#[cfg(not(target_os = "macos"))]
pub fn run(_policy: &ResolvedPolicy, _cmd: &Command) -> Result<Outcome, Error> {
    Err(Error::Unsupported(format!(
        "the seatbelt backend is macOS-only: it runs commands with {SANDBOX_EXEC}"
    )))
}

/// What this backend enforces and what it does not.
pub fn guarantees() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        vec![
            "file system: deny-by-default Seatbelt profile; only granted paths can be read, written or executed",
            "mandatory denies last in the profile, so no grant undoes them; hard links and clones refused",
            "directories holding a denied path cannot be renamed or removed (no `mv .git .git-old`)",
            "private HOME and TMPDIR (fresh directories, removed afterwards)",
            "network none: no sockets to other hosts, loopback services or unix-socket paths; allowlist: only the proxy's loopback port",
            "signals and process information limited to the sandbox's own processes; no process listing",
            "Mach services limited to user lookups and notifications (plus DNS and certificate checks with host network): no keychain, pasteboard or launch services",
            "environment reduced to the allowlist; new session (no terminal injection); inherited descriptors closed",
            "timeout kills the command's process group; what is left of the group is killed when the command ends",
        ],
        vec![
            "no pid namespace: host processes run beside the command (it cannot list, signal or inspect them)",
            "no network namespace: with host network the command shares the host's, loopback services included",
            "the host's /tmp is not private: it is closed to the command, which gets TMPDIR instead (programs that hard-code /tmp fail)",
            "hidden paths fail with EPERM instead of appearing empty",
            "rules match paths as the kernel reports them: case variants of a denied name on a case-insensitive volume are not proven covered",
            "a descendant that starts its own session leaves the process group and can outlive the command; so can the command if sandboxpm itself is killed (macOS has no parent-death signal)",
            "no system-call filter: what seccomp refuses on Linux is left to the profile's deny-by-default and the kernel's own checks",
            "memory limits (RLIMIT_AS) are not enforced by macOS; the host name is visible",
            "the escape suite has not run on a real Mac yet: the profile is tested as text everywhere, its macOS tests need a Mac",
        ],
    )
}

#[cfg(test)]
mod tests {
    #[cfg(not(target_os = "macos"))]
    #[test]
    fn run_is_refused_outside_macos() {
        use std::collections::BTreeMap;

        use crate::policy::{Limits, Network};
        use crate::resolve::ResolvedPolicy;

        let policy = ResolvedPolicy {
            cwd: "/".into(),
            home: "/home/u".into(),
            grants: vec![],
            symlinks: vec![],
            deny_read: vec![],
            deny_write: vec![],
            unenforced: vec![],
            notes: vec![],
            network: Network::None,
            env: BTreeMap::new(),
            limits: Limits::default(),
            home_files: vec![],
            tripwires: Vec::new(),
            tripwire_dir: None,
        };
        let cmd = crate::Command {
            program: "/bin/true".into(),
            argv: vec!["true".into()],
        };
        let Err(crate::Error::Unsupported(message)) = super::run(&policy, &cmd) else {
            panic!("seatbelt ran outside macOS");
        };
        assert!(message.contains("macOS-only"), "{message}");
    }
}
