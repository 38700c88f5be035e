//! The `docker` backend: the resolved policy enforced by a Docker container, driven through the
//! Engine API on the daemon's unix socket (never the `docker` CLI, which may be missing, aliased
//! to podman, or configured with a remote context).
//!
//! Why it exists: where user namespaces and Landlock are unavailable but a Docker daemon is
//! (CI runners, some hardened hosts), containers are the isolation at hand. What it costs: the
//! daemon is a root-equivalent service outside sandboxpm's control, and a container takes a few
//! hundred milliseconds to start, so `native` stays the default.
//!
//! One run, in order:
//!
//! 1. [`config::container_config`] translates the policy (pure, snapshot-tested): the native
//!    mount plan as binds and tmpfs mounts over an empty image, a read-only root, no
//!    capabilities, `no-new-privileges`, our seccomp allowlist ([`profile`]), network `none`,
//!    the caller's uid and gid, pids and memory limits.
//! 2. The few host files the binds need (an empty file for hidden files, decoys, skeletons that
//!    seal scaffolding) are written to a private scratch directory, removed afterwards; a mount
//!    point the daemon would have to create on the host is refused ([`config::host_creation`]).
//! 3. The image is the local `sandboxpm-base:1`, imported from an empty tar on first use (nothing
//!    is ever pulled), or the one named by `SANDBOXPM_DOCKER_IMAGE`, which must exist already.
//! 4. Create; attach (a hijacked connection, stdout and stderr multiplexed, no stdin); register
//!    the wait; start; relay output until the stream ends or the timeout kills the container;
//!    read the exit status. The container is removed in every case (`AutoRemove`, and a forced
//!    removal on the way out).
//!
//! The socket is `/var/run/docker.sock`, or `DOCKER_HOST` when it is a `unix://` address
//! (rootless Docker). Other addresses are refused: binds name host paths, so the daemon must
//! see this machine's file system.

mod client;
pub mod config;
pub mod profile;

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

pub use client::{Client, ClientError, Demux, StreamKind};
pub use config::{Mount, Options, ScratchEntry, TranslateError, Translation, container_config};

use crate::resolve::ResolvedPolicy;
use crate::{Backend, Command, Error, Outcome};

/// Names an image to use instead of the built-in empty one. It must be present on the daemon.
pub const IMAGE_ENV: &str = "SANDBOXPM_DOCKER_IMAGE";
/// The daemon's address, honoured when it is `unix://PATH`.
pub const HOST_ENV: &str = "DOCKER_HOST";
/// The socket used when `DOCKER_HOST` is unset.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The image imported from an empty tar: everything inside comes from binds.
pub const BASE_IMAGE: (&str, &str) = ("sandboxpm-base", "1");
/// How long a killed container may take to end its output stream.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// The daemon's socket: `DOCKER_HOST` if it is a unix address, else [`DEFAULT_SOCKET`].
pub fn socket_path() -> Result<PathBuf, Error> {
    match std::env::var(HOST_ENV) {
        Ok(host) if !host.is_empty() => match host.strip_prefix("unix://") {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(Error::Unsupported(format!(
                "the docker backend needs a local daemon on a unix socket; {HOST_ENV}={host} is \
                 not one (binds name this machine's paths)"
            ))),
        },
        _ => Ok(PathBuf::from(DEFAULT_SOCKET)),
    }
}

/// The image runs use: `SANDBOXPM_DOCKER_IMAGE`, or the built-in `sandboxpm-base:1`.
pub fn image() -> String {
    std::env::var(IMAGE_ENV)
        .ok()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| format!("{}:{}", BASE_IMAGE.0, BASE_IMAGE.1))
}

/// For `doctor`: the socket, if it exists, and whether the daemon answers a ping on it.
pub fn probe() -> Option<(PathBuf, bool)> {
    let socket = socket_path().ok()?;
    if std::fs::symlink_metadata(&socket).is_err() {
        return None;
    }
    let alive = ping(&Client::new(&socket)).is_ok();
    Some((socket, alive))
}

fn ping(client: &Client) -> Result<(), ClientError> {
    let response = client.request("GET", "/_ping", None)?;
    if response.body.starts_with(b"OK") {
        Ok(())
    } else {
        Err(ClientError::Protocol {
            what: "GET /_ping".into(),
            detail: String::from_utf8_lossy(&response.body).into_owned(),
        })
    }
}

fn setup(err: impl std::fmt::Display) -> Error {
    Error::Setup(err.to_string())
}

/// Runs `cmd` under `policy` in a Docker container.
pub fn run(policy: &ResolvedPolicy, cmd: &Command) -> Result<Outcome, Error> {
    let client = Client::new(&socket_path()?);
    // SAFETY: integer getters that cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let image = image();

    let scratch =
        Scratch::new().map_err(|e| setup(format!("creating a scratch directory: {e}")))?;
    let init = find_init(policy);
    let options = config::Options {
        uid,
        gid,
        image: &image,
        scratch: scratch.path(),
        init: init.as_deref(),
    };
    let translation =
        container_config(policy, cmd, &options).map_err(|e| Error::Unsupported(e.to_string()))?;
    scratch
        .populate(&translation.scratch)
        .map_err(|e| setup(format!("writing {}: {e}", scratch.path().display())))?;
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    if let Some(target) = config::host_creation(&translation.mounts, exists) {
        return Err(setup(format!(
            "{} does not exist inside a bound host directory; Docker would create it on the \
             host, so the run is refused",
            target.display()
        )));
    }

    ping(&client).map_err(setup)?;
    ensure_image(&client, &image)?;
    let created = client
        .post_json("/containers/create", &translation.config)
        .and_then(|r| r.json("POST /containers/create"))
        .map_err(setup)?;
    let id = created["Id"]
        .as_str()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(|| setup(format!("the daemon created no container: {created}")))?;
    let container = Container {
        client: &client,
        id: id.to_string(),
    };
    let outcome = container.run(policy.limits.timeout_secs.map(Duration::from_secs));
    drop(container);
    drop(scratch);
    outcome
}

/// Where a tini-compatible init is commonly installed (Debian's docker.io and tini packages,
/// Docker's static packages).
const INIT_CANDIDATES: &[&str] = &[
    "/usr/bin/docker-init",
    "/usr/libexec/docker/docker-init",
    "/usr/bin/tini",
    "/usr/sbin/tini",
    "/usr/local/bin/docker-init",
    "/usr/local/bin/tini",
];

/// The first installed init that the policy makes visible inside (see [`config::Options`]).
fn find_init(policy: &ResolvedPolicy) -> Option<PathBuf> {
    INIT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .filter(|p| policy.covering_grant(p).is_some())
        .filter(|p| !policy.deny_read.iter().any(|d| p.starts_with(&d.path)))
        .find(|p| crate::doctor::is_executable(p))
}

/// A created container, removed (forcibly) when dropped.
struct Container<'a> {
    client: &'a Client,
    id: String,
}

impl Container<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/containers/{}/{rest}", self.id)
    }

    fn run(&self, timeout: Option<Duration>) -> Result<Outcome, Error> {
        let client = self.client;
        // Ctrl-C reaches sandboxpm, not the container (it is not in our process group): the
        // container is killed on the way out instead of being left to run. Caught from before
        // the start: a signal that came while the start request was answered used to end
        // sandboxpm with the container already running. (The client's reads retry on EINTR.)
        let _signals = SignalGuard::install();
        // Attach before start, so that no output is lost; register the wait before start, so
        // that a command that exits at once is not missed (the daemon answers the head of the
        // wait request once the waiter exists).
        let mut stream = client
            .hijack(&self.path("attach?stream=1&stdout=1&stderr=1"))
            .map_err(setup)?;
        let wait = client
            .start_request("POST", &self.path("wait?condition=next-exit"))
            .map_err(setup)?;
        if let Err(err) = client.request("POST", &self.path("start"), None) {
            return Err(start_error(err));
        }

        let deadline = timeout.map(|t| Instant::now() + t);
        let mut timed_out = false;
        let mut interrupted = 0;
        let mut grace_end = None;
        let mut demux = Demux::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let now = Instant::now();
            if grace_end.is_none() {
                interrupted = INTERRUPTED.load(Ordering::SeqCst);
                timed_out = deadline.is_some_and(|d| now >= d);
                if timed_out || interrupted != 0 {
                    grace_end = Some(now + KILL_GRACE);
                    // A container that already stopped answers 409; the stream ends anyway.
                    let _ = client.request("POST", &self.path("kill?signal=KILL"), None);
                }
            }
            if grace_end.is_some_and(|g| now >= g) {
                break;
            }
            let limit = grace_end.or(deadline);
            let wait_for = limit
                .map(|l| {
                    l.saturating_duration_since(now)
                        .max(Duration::from_millis(1))
                })
                .map(|d| d.min(Duration::from_secs(3600)));
            let _ = stream.get_ref().set_read_timeout(wait_for);
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for (kind, bytes) in demux.push(&buf[..n]) {
                        // A closed stdout of ours must not stop the command: keep draining.
                        let _ = match kind {
                            StreamKind::Stdout => {
                                let mut out = io::stdout().lock();
                                out.write_all(&bytes).and_then(|()| out.flush())
                            }
                            StreamKind::Stderr => io::stderr().lock().write_all(&bytes),
                        };
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(setup(format!("reading the container's output: {e}"))),
            }
        }
        let code = if interrupted != 0 {
            // As if the signal had ended the command.
            128 + interrupted
        } else if timed_out {
            // A killed container's status is 137; the contract says 124.
            124
        } else {
            // The daemon reports a signal as 128 + N, as the shell does.
            exit_status(wait)?.clamp(0, 255) as i32
        };
        Ok(Outcome {
            code,
            timed_out,
            backend: Backend::Docker,
            blocked: Vec::new(),
        })
    }
}

/// The exit status the daemon reports once the container has stopped.
fn exit_status(wait: client::Pending) -> Result<i64, Error> {
    let response = wait
        .finish()
        .and_then(|r| r.json("POST /containers/wait"))
        .map_err(setup)?;
    if let Some(message) = response["Error"]["Message"]
        .as_str()
        .filter(|m| !m.is_empty())
    {
        return Err(setup(format!("waiting for the container: {message}")));
    }
    response["StatusCode"]
        .as_i64()
        .ok_or_else(|| setup(format!("the daemon reported no exit status: {response}")))
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        // 404 when AutoRemove was faster, 409 while its removal is in progress: both fine.
        let _ = self.client.raw(
            "DELETE",
            &format!("/containers/{}?force=1&v=1", self.id),
            None,
        );
    }
}

/// The signal (SIGINT, SIGTERM, SIGHUP) that asked sandboxpm to stop during a run, or 0.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(signal, Ordering::SeqCst);
}

/// Catches the signals that would end sandboxpm (and orphan the container) while a container
/// runs; the previous dispositions come back when dropped. Without `SA_RESTART`, a blocking read
/// of the output stream returns `EINTR`, so the runner sees the flag at once. A signal that was
/// ignored (a background job's SIGINT) stays ignored.
struct SignalGuard {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalGuard {
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    fn install() -> SignalGuard {
        INTERRUPTED.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for signal in Self::SIGNALS {
            // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the handler only stores
            // to an atomic; every pointer is valid for the call.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) == 0 {
                    previous.push((signal, old));
                }
            }
        }
        SignalGuard { previous }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: restoring a disposition that sigaction itself returned.
            unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
        }
    }
}

/// A failed start: the program could not be executed (as [`Error::Exec`], so that the exit code
/// is 126 or 127 like the other backends), or anything else the daemon refused.
fn start_error(err: ClientError) -> Error {
    let message = err.message().unwrap_or_default().to_ascii_lowercase();
    if message.contains("exec") {
        if message.contains("no such file") || message.contains("not found") {
            return Error::Exec {
                errno: io::Error::from_raw_os_error(libc::ENOENT),
            };
        }
        if message.contains("permission denied") {
            return Error::Exec {
                errno: io::Error::from_raw_os_error(libc::EACCES),
            };
        }
    }
    setup(format!("starting the container: {err}"))
}

/// Makes sure `image` exists: the built-in one is imported from an empty tar on first use; a
/// configured one must have been pulled or built already (sandboxpm never pulls).
fn ensure_image(client: &Client, image: &str) -> Result<(), Error> {
    let inspect = client
        .raw("GET", &format!("/images/{image}/json"), None)
        .map_err(setup)?;
    if inspect.status == 200 {
        return Ok(());
    }
    let base = format!("{}:{}", BASE_IMAGE.0, BASE_IMAGE.1);
    if image != base {
        return Err(setup(format!(
            "image {image} ({IMAGE_ENV}) is not present on the Docker daemon; sandboxpm never \
             pulls: pull or build it first"
        )));
    }
    // Two end-of-archive blocks: a valid, empty tar. Docker adds the mount points it needs.
    let empty_tar = [0u8; 1024];
    let response = client
        .request(
            "POST",
            &format!(
                "/images/create?fromSrc=-&repo={}&tag={}",
                BASE_IMAGE.0, BASE_IMAGE.1
            ),
            Some(("application/x-tar", &empty_tar)),
        )
        .map_err(setup)?;
    // The answer is a stream of JSON progress messages; a failure is one with "error".
    let text = String::from_utf8_lossy(&response.body);
    for line in text.lines() {
        if let Ok(message) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(error) = message["error"].as_str()
        {
            return Err(setup(format!("importing {base}: {error}")));
        }
    }
    Ok(())
}

/// A private directory for the files the binds need; removed when dropped.
#[derive(Debug)]
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new() -> io::Result<Scratch> {
        let template = std::env::temp_dir().join("sandboxpm-docker-XXXXXX");
        let template = CString::new(template.as_os_str().as_bytes())
            .map_err(|_| io::Error::other("temporary directory path contains NUL"))?;
        let mut bytes = template.into_bytes_with_nul();
        // SAFETY: a writable NUL-terminated template, as mkdtemp requires; it creates a 0700
        // directory and rewrites the X's in place.
        let ptr = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
        if ptr.is_null() {
            return Err(io::Error::last_os_error());
        }
        bytes.pop();
        let root =
            PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes));
        Ok(Scratch { root })
    }

    fn path(&self) -> &Path {
        &self.root
    }

    fn populate(&self, entries: &[ScratchEntry]) -> io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        for entry in entries {
            match entry {
                ScratchEntry::Dir { path } => std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(self.root.join(path))?,
                ScratchEntry::File { path, content } => {
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o444)
                        .open(self.root.join(path))?;
                    file.write_all(content.as_bytes())?;
                }
            }
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What this backend enforces and what it does not.
pub fn guarantees() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        vec![
            "file system: an empty read-only image; only granted paths are bound in, read-only \
             unless written; denies hidden (empty file or empty read-only tmpfs) or read-only",
            "private HOME and /tmp (tmpfs owned by the caller's uid)",
            "no network but loopback (network none; `--net host` only when asked)",
            "no view of or signals to host processes (pid namespace); private IPC, UTS and cgroup namespaces",
            "whole process tree killed when the command ends (it is pid 1), container removed afterwards",
            "seccomp allowlist: ptrace, keyctl, bpf, io_uring, mount, namespaces, TIOCSTI, rare socket families refused",
            "no capabilities, no-new-privileges; no terminal (stdin closed, output relayed by the daemon)",
            "pids and memory limits (cgroups); environment reduced to the allowlist",
        ],
        vec![
            "the Docker daemon is root-equivalent: whoever can use its socket can become root",
            "relies on the daemon (its runtime, userns-remap, AppArmor and defaults are outside sandboxpm); \
             it must be local, on a unix socket",
            "users who cannot open the daemon's socket get an error (add them to the docker group); \
             the escape suite runs the docker backend as root only",
            "network allowlists (`--allow-net`): refused; only network none or host",
            "no Landlock layer: the mounts alone enforce the file-system policy",
            "host mounts below a read-only grant are not visible inside (Docker < 25 cannot make them read-only)",
            "if sandboxpm itself is killed with SIGKILL, the container runs until its command ends \
             (no timeout), then the daemon removes it (SIGINT, SIGTERM and SIGHUP kill it first)",
            "without a tini-compatible init on the host (docker-init, tini) the command is pid 1, \
             and signals it has no handler for are ignored when sent from inside",
            "/sys is the daemon's read-only sysfs (hardware details visible)",
            "argv[0] is the program's path; arguments and paths that are not UTF-8 are refused",
        ],
    )
}
