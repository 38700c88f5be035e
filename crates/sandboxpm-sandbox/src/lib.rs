//! The sandbox engine of sandboxpm.
//!
//! A [`Policy`] says what a command may see; [`resolve()`] turns it into concrete paths on this
//! machine ([`ResolvedPolicy`]); a backend translates and enforces it ([`run`]). Translations
//! are pure functions ([`native::plan`], [`seccomp::rules`]) so that `sandboxpm policy show` prints
//! exactly what runs. See `DESIGN.md`, "The sandbox engine".
//!
//! Backends:
//! - `native` (Linux): user, mount, pid, net, ipc, uts and cgroup namespaces, a tmpfs root built
//!   from the grants, Landlock, seccomp.
//! - `landlock` (Linux, degraded): Landlock and seccomp only, for machines where user namespaces
//!   cannot be created.
//! - `bwrap` (Linux): the native mount plan and seccomp program, executed by bubblewrap; `auto`
//!   falls back to it where neither user namespaces nor Landlock work.
#![deny(missing_docs)]

pub mod bwrap;
pub mod defaults;
pub mod docker;
pub mod doctor;
#[cfg(target_os = "linux")]
mod fd;
pub mod helper;
pub mod native;
pub mod policy;
pub mod proxy;
pub mod resolve;
pub mod seatbelt;
pub mod seccomp;
mod sys;
#[cfg(target_os = "linux")]
pub mod tripwire;
#[cfg(target_os = "linux")]
pub mod zygote;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
use unsupported as linux;

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use policy::{Limits, Network, Policy};
pub use resolve::{ResolveContext, ResolvedPolicy, resolve, resolve_batch};

/// Which isolation mechanism enforces a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The strongest available: `native` where user namespaces work, else `landlock`.
    Auto,
    /// Namespaces + Landlock + seccomp.
    Native,
    /// Landlock + seccomp only (degraded).
    Landlock,
    /// bubblewrap (`bwrap`) with the same mount plan and seccomp program.
    Bwrap,
    /// A Docker container through the Engine API.
    Docker,
    /// macOS `sandbox-exec` with a generated Seatbelt profile.
    Seatbelt,
}

impl Backend {
    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Native => "native",
            Backend::Landlock => "landlock",
            Backend::Bwrap => "bwrap",
            Backend::Docker => "docker",
            Backend::Seatbelt => "seatbelt",
        }
    }
}

/// The command to run: an absolute program path and its full argv (argv\[0\] included).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Command {
    /// The executable, as the sandbox sees it.
    pub program: PathBuf,
    /// Arguments, starting with argv\[0\]. In JSON each is a string, or an array of bytes when
    /// it is not UTF-8.
    #[serde(with = "os_args")]
    pub argv: Vec<OsString>,
}

mod os_args {
    use std::ffi::OsString;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Arg {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(args: &[OsString], s: S) -> Result<S::Ok, S::Error> {
        let args: Vec<Arg> = args
            .iter()
            .map(|a| match a.to_str() {
                Some(t) => Arg::Text(t.to_string()),
                None => Arg::Bytes(a.as_bytes().to_vec()),
            })
            .collect();
        args.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OsString>, D::Error> {
        let args = Vec::<Arg>::deserialize(d)?;
        Ok(args
            .into_iter()
            .map(|a| match a {
                Arg::Text(t) => OsString::from(t),
                Arg::Bytes(b) => OsString::from_vec(b),
            })
            .collect())
    }
}

/// How a sandboxed run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit code: the command's, 128 + N for a signal, 124 on timeout.
    pub code: i32,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// The backend that enforced the policy.
    pub backend: Backend,
    /// Connections the network proxy refused (host, port, reason), for the user to see.
    pub blocked: Vec<String>,
}

/// What the degraded backend cannot give, said every time it is used.
pub const DEGRADED_WARNING: &str = "running with the degraded `landlock` backend: Landlock and \
     seccomp only, no private mount, pid or network namespace; inet and unix sockets are refused, \
     and directories holding a hidden file cannot be created in";

/// Why a command could not be run in the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process that sets up the sandbox has other threads.
    #[error("the sandbox must be set up from a single-threaded process ({0} threads found)")]
    NotSingleThreaded(usize),
    /// User namespaces cannot be created here.
    #[error("cannot create a user namespace")]
    UserNamespace(#[source] io::Error),
    /// Neither namespaces nor Landlock are available: nothing can confine the command.
    #[error(
        "no isolation is available on this machine (no user namespaces and no Landlock); refusing to run unconfined"
    )]
    NoIsolation,
    /// A step of building the sandbox failed.
    #[error("setting up the sandbox failed: {0}")]
    Setup(String),
    /// execve inside the sandbox failed.
    #[error("cannot execute the command inside the sandbox")]
    Exec {
        /// The OS error of execve.
        #[source]
        errno: io::Error,
    },
    /// Not available on this platform or configuration.
    #[error("{0}")]
    Unsupported(String),
    /// The gate the command waited behind was closed without being opened: nothing ran.
    #[error("cancelled before the command started")]
    Cancelled,
}

/// Picks the backend `auto` stands for on this machine, and says why.
pub fn select_backend(requested: Backend) -> (Backend, String) {
    if requested != Backend::Auto {
        return (requested, format!("{} was requested", requested.name()));
    }
    match doctor::probe_user_namespace() {
        Ok(()) => (Backend::Native, "user namespaces are available".into()),
        Err(e) if linux::landlock_abi() < 1 && bwrap::available() => (
            Backend::Bwrap,
            format!(
                "user namespaces are unavailable ({e}) and Landlock is missing; bubblewrap is installed"
            ),
        ),
        Err(e) => (
            Backend::Landlock,
            format!("user namespaces are unavailable ({e})"),
        ),
    }
}

/// Runs `cmd` under `policy`. Must be called from a single-threaded process: the binary calls it
/// before starting any runtime, or re-executes itself as a helper.
///
/// `warn` hears every degradation before the command starts. With [`Backend::Auto`], a failure
/// to create the user namespace falls back to the degraded `landlock` backend (and says so);
/// where Landlock is missing too, to bubblewrap if it is installed (a setuid `bwrap` still works
/// there); otherwise the command does not run ([`Error::NoIsolation`]).
pub fn run(
    policy: &ResolvedPolicy,
    cmd: &Command,
    backend: Backend,
    warn: &mut dyn FnMut(&str),
) -> Result<Outcome, Error> {
    run_gated(policy, cmd, backend, warn, None)
}

/// [`run`], with the command held back by `gate` until the caller opens it (see [`Gate`]). The
/// native backend builds the whole sandbox first and waits with everything in place, just
/// before `execve`; the other backends wait before they start. A gate closed without being
/// opened ends the run with [`Error::Cancelled`], the command never having started.
pub fn run_gated(
    policy: &ResolvedPolicy,
    cmd: &Command,
    backend: Backend,
    warn: &mut dyn FnMut(&str),
    gate: Option<Gate>,
) -> Result<Outcome, Error> {
    let gate = gate.as_ref();
    // Backends that cannot wait inside the sandbox wait before building it.
    let pass = |gate: Option<&Gate>| match gate {
        Some(gate) if !gate.pass() => Err(Error::Cancelled),
        Some(gate) => {
            gate.started();
            Ok(())
        }
        None => Ok(()),
    };
    match backend {
        // A failure to create the user namespace comes before the gate is read.
        Backend::Auto => match linux::run(policy, cmd, Backend::Native, gate) {
            Err(Error::UserNamespace(e)) => {
                warn(&format!("cannot create a user namespace ({e})"));
                pass(gate)?;
                if linux::landlock_abi() < 1 && bwrap::available() {
                    warn(bwrap::FALLBACK_WARNING);
                    return bwrap::run(policy, cmd);
                }
                warn(DEGRADED_WARNING);
                linux::run(policy, cmd, Backend::Landlock, None)
            }
            other => other,
        },
        Backend::Landlock => {
            warn(DEGRADED_WARNING);
            pass(gate)?;
            linux::run(policy, cmd, Backend::Landlock, None)
        }
        Backend::Native => linux::run(policy, cmd, Backend::Native, gate),
        Backend::Bwrap => pass(gate).and_then(|()| bwrap::run(policy, cmd)),
        Backend::Docker => pass(gate).and_then(|()| docker::run(policy, cmd)),
        Backend::Seatbelt => pass(gate).and_then(|()| seatbelt::run(policy, cmd)),
    }
}

/// One end of a socket pair that holds a prepared command back: one byte from the other end lets
/// it start; the other end closing without that byte cancels it. Once the command runs, one byte
/// goes back. This is how a caller builds the next script's sandbox while the current script
/// runs, starts it the moment a slot frees, and learns when it has started.
#[derive(Debug)]
pub struct Gate(std::os::fd::OwnedFd);

impl Gate {
    /// A gate on `fd`, one end of a stream socket pair.
    pub fn new(fd: std::os::fd::OwnedFd) -> Gate {
        Gate(fd)
    }

    /// Tells the other end that the command has started.
    pub(crate) fn started(&self) {
        gate_started(std::os::fd::AsRawFd::as_raw_fd(&self.0));
    }

    /// The descriptor, for a process that waits on it after forking.
    #[cfg(target_os = "linux")]
    pub(crate) fn raw(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.0)
    }

    /// Blocks until the gate opens (`true`) or is closed unopened (`false`).
    pub(crate) fn pass(&self) -> bool {
        gate_passes(std::os::fd::AsRawFd::as_raw_fd(&self.0))
    }
}

/// Writes the "started" byte to a gate's descriptor (nobody listening is not an error).
pub(crate) fn gate_started(fd: std::os::fd::RawFd) {
    // SAFETY: writing one byte from a live local; MSG_NOSIGNAL: a closed peer is no signal.
    unsafe { libc::send(fd, [1u8].as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
}

/// Reads the gate's byte from `fd`: `true` once it arrives, `false` at end of file or on error.
/// Async-signal-safe (a plain `read` loop), so a forked child may call it.
pub(crate) fn gate_passes(fd: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    loop {
        // SAFETY: reading one byte into a live local.
        let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
        if n == 1 {
            return true;
        }
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return false;
    }
}
