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

pub use profile::{
    BASE, PRIVATE_HOME, PRIVATE_TMP, PROXY_PORT, Param, Profile, Runtime, TERMINAL, darwin_path,
    profile,
};

use crate::resolve::ResolvedPolicy;
use crate::{Command, Error, Outcome};

/// Runs `cmd` under `policy` with Seatbelt. Not built yet: every run is refused.
pub fn run(_policy: &ResolvedPolicy, _cmd: &Command) -> Result<Outcome, Error> {
    Err(Error::Unsupported(
        "the seatbelt backend is not built yet".into(),
    ))
}

/// What this backend enforces and what it does not.
pub fn guarantees() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        vec![],
        vec!["everything: the seatbelt backend is not built yet"],
    )
}
