//! Running the sandbox from a multi-threaded process.
//!
//! Creating a user namespace requires a single-threaded caller, and forking a threaded process
//! to do set-up work is unsafe. A threaded caller (the install-script runner, on an async
//! runtime) therefore re-executes the `sandboxpm` binary as a helper: it writes a [`Request`]
//! (the already *resolved* policy and the command) to a private file, and the helper, a fresh
//! single-threaded process, reads it, removes it, and calls [`crate::run`].

use std::io;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Backend, Command, ResolvedPolicy};

/// The hidden subcommand of the `sandboxpm` binary that runs a request.
pub const SUBCOMMAND: &str = "sandbox-helper";

/// Everything the helper needs; no resolution happens in the helper.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The resolved policy (its `env` is the command's complete environment).
    pub policy: ResolvedPolicy,
    /// What to run.
    pub command: Command,
    /// Which backend (`auto` falls back like [`crate::run`]).
    pub backend: Backend,
    /// The zygote's tripwire slot this request holds (see [`crate::tripwire::Slots`]): its
    /// tripwires are bound from there and watched by the helper. `None`: the helper makes a
    /// one-off slot (see [`crate::tripwire::run_watched`]).
    #[serde(default)]
    pub tripwire_slot: Option<usize>,
}

/// Writes `request` to a new private file in `dir` and returns the command line that runs it:
/// `exe sandbox-helper --request FILE`. The helper deletes the file once read.
pub fn command(exe: &Path, dir: &Path, request: &Request) -> io::Result<std::process::Command> {
    let path = write_request(dir, request)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg(SUBCOMMAND).arg("--request").arg(&path);
    Ok(cmd)
}

/// Writes `request` to a new private file in `dir`, for a helper (or a zygote's child) to read
/// and delete.
pub fn write_request(dir: &Path, request: &Request) -> io::Result<PathBuf> {
    let path = dir.join(format!(
        ".sandboxpm-request-{}-{}",
        std::process::id(),
        unique()
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(&serde_json::to_vec(request).map_err(io::Error::other)?)?;
    Ok(path)
}

/// Reads (and removes) a request file written by [`command`].
pub fn read_request(path: &Path) -> io::Result<Request> {
    let bytes = std::fs::read(path)?;
    let _ = std::fs::remove_file(path);
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

fn unique() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    nanos ^ u128::from(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The default directory for request files: the user's runtime or temp directory.
pub fn request_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}
