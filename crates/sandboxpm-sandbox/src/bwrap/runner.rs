//! Starting bubblewrap with a translation, and seeing the command through (Linux).
//!
//! Everything bubblewrap reads comes through descriptors, at consecutive numbers above every
//! descriptor this process has open (so that nothing needs moving in the child): the arguments
//! and the `--file` data as memfds, the seccomp program, the status pipe. bubblewrap
//! itself starts with an empty environment, so that `/proc/1/environ` inside (bubblewrap's pid
//! 1) shows nothing of the caller's.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use super::netns;
use super::translate::{Fds, FileData, MAX_ARGUMENTS, PROXY_PORT, translate};
use crate::linux::bpf;
use crate::linux::bridge::{Bridge, SOCKET_NAME};
use crate::policy::{Limits, Network};
use crate::proxy::{Proxy, ProxyRules};
use crate::resolve::{EntryKind, ResolvedPolicy};
use crate::{Backend, Command, Error, Outcome, seccomp};

/// `close_range(2)` flag: mark close-on-exec instead of closing.
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

// The seccomp program is handed over as the kernel's `struct sock_filter` array.
const _: () = assert!(size_of::<bpf::Insn>() == 8);

/// Runs `cmd` under `policy` with bubblewrap.
pub(crate) fn run(policy: &ResolvedPolicy, cmd: &Command) -> Result<Outcome, Error> {
    let bwrap = super::find().ok_or_else(|| {
        Error::Unsupported(
            "bubblewrap (`bwrap`) is not installed; install it or choose another backend".into(),
        )
    })?;
    let rules = match &policy.network {
        Network::Allow(hosts) => {
            Some(ProxyRules::parse(hosts).map_err(|e| Error::Unsupported(e.to_string()))?)
        }
        _ => None,
    };
    if rules.is_some() {
        // The namespace helper is forked after bwrap starts.
        crate::linux::ensure_single_threaded()?;
    }
    let scratch =
        Scratch::new().map_err(|e| Error::Setup(format!("creating a private directory: {e}")))?;
    let (mut child, status_rd, block_wr) =
        spawn(&bwrap, policy, cmd, scratch.empty(), rules.is_some())?;
    let mut status = Status::new(status_rd);
    let relay = match rules {
        Some(rules) => match start_relay(&mut status, rules, scratch.path()) {
            Ok(proxy) => Some(proxy),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                if let Some(pid) = status.child_pid {
                    end_sandbox(pid);
                }
                return Err(e);
            }
        },
        None => None,
    };
    // The command has been waiting for this byte (network allowlists only).
    if let Some(block_wr) = block_wr {
        let _ = std::fs::File::from(block_wr).write_all(b"x");
    }

    let timeout = policy.limits.timeout_secs.map(Duration::from_secs);
    let (exit, timed_out) = wait_timeout(&mut child, timeout)?;
    status.read_rest();
    if let Some(pid) = status.child_pid {
        end_sandbox(pid);
    }
    let blocked = relay
        .map(|proxy| {
            let log = proxy.stop();
            log.blocked.iter().map(ToString::to_string).collect()
        })
        .unwrap_or_default();
    drop(scratch);
    // bwrap reports the command's exit code only once the command was executed; without it,
    // bwrap failed (and said why on stderr).
    let code = match (timed_out, status.exit_code) {
        (true, _) => 124,
        (false, Some(code)) => code,
        (false, None) => {
            return Err(Error::Setup(format!(
                "bubblewrap could not set up the sandbox or execute the command ({}; its message is above)",
                describe(exit)
            )));
        }
    };
    Ok(Outcome {
        code,
        timed_out,
        backend: Backend::Bwrap,
        blocked,
    })
}

/// Starts bwrap with the translation of `policy` and `cmd`. Returns it, the read end of its
/// status channel and, with `block`, the write end of the channel the command waits on.
fn spawn(
    bwrap: &Path,
    policy: &ResolvedPolicy,
    cmd: &Command,
    empty_file: &Path,
    block: bool,
) -> Result<(Child, OwnedFd, Option<OwnedFd>), Error> {
    // Every descriptor is created first, then copied to consecutive numbers above all of them.
    let seccomp = memfd(&program_bytes(&bpf::compile(&seccomp::rules(false))))?;
    let (status_rd, status_wr) = pipe()?;
    let block = block.then(pipe).transpose()?;
    let args = memfd(&[])?;
    // Which files a translation needs does not depend on the descriptor numbers.
    let draft = translate(policy, cmd, empty_file, Fds { first: 0 }, &host_kind);
    let mut contents = Vec::new();
    for file in &draft.files {
        contents.push(memfd(&match file {
            FileData::Copy(path) => std::fs::read(path)
                .map_err(|e| Error::Setup(format!("reading {}: {e}", path.display())))?,
            FileData::Inline(text) => text.clone().into_bytes(),
        })?);
    }
    let fds = Fds {
        first: first_unused_fd()?,
    };
    let t = translate(policy, cmd, empty_file, fds, &host_kind);
    if t.argument_count() > MAX_ARGUMENTS {
        return Err(Error::Unsupported(format!(
            "this policy needs {} bubblewrap arguments, more than the {MAX_ARGUMENTS} bubblewrap \
             accepts (a very long deny list?); use the native backend",
            t.argument_count()
        )));
    }
    fill(&args, &nul_separated(&t.args)?)?;
    let mut sources: Vec<(RawFd, i32)> = vec![
        (seccomp.as_raw_fd(), fds.seccomp()),
        (status_wr.as_raw_fd(), fds.status()),
        (args.as_raw_fd(), fds.args()),
    ];
    if let Some((block_rd, _)) = &block {
        sources.push((block_rd.as_raw_fd(), fds.block()));
    }
    for (i, content) in contents.iter().enumerate() {
        sources.push((content.as_raw_fd(), fds.file(i)));
    }
    // Unused numbers (the block channel without an allowlist) stay free: nothing may reach
    // bubblewrap that it does not close before running the command.
    sources.sort_by_key(|(_, to)| *to);
    let mut placed: Vec<OwnedFd> = Vec::new();
    for (from, to) in &sources {
        placed.push(dup_to(*from, *to)?);
    }
    let numbers: Vec<i32> = sources.iter().map(|(_, to)| *to).collect();

    let mut command = std::process::Command::new(bwrap);
    command
        .arg("--args")
        .arg(fds.args().to_string())
        .arg("--")
        .args(&t.command)
        .env_clear();
    let before_exec = before_exec(numbers, rlimits(&policy.limits));
    // SAFETY: `before_exec` is async-signal-safe (see there).
    unsafe { command.pre_exec(before_exec) };
    // bwrap's pid 1 outlives the outer bwrap by a moment when the command ends; as a subreaper
    // this process inherits it and can make sure the whole sandbox is gone (`end_sandbox`).
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let child = command
        .spawn()
        .map_err(|e| Error::Setup(format!("starting {}: {e}", bwrap.display())))?;
    // Our copies close here; bwrap holds the rest (the status pipe ends when it exits).
    drop((placed, status_wr, seccomp, args, contents));
    Ok((child, status_rd, block.map(|(_, write)| write)))
}

/// What runs in the child between fork and exec of bwrap: only close_range, fcntl and setrlimit,
/// which are async-signal-safe, on data captured before the fork. `numbers` are the descriptors
/// bwrap reads; everything else is closed on exec.
fn before_exec(
    numbers: Vec<i32>,
    limits: Vec<(libc::__rlimit_resource_t, u64)>,
) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
    // Everything open at the fork lies below this (std's own pipe is close-on-exec already).
    let end = numbers.iter().copied().max().unwrap_or(2) + 1;
    move || {
        // bubblewrap passes every descriptor it does not use on to the command: nothing this
        // process inherited (a descriptor on a secret, a terminal's pipe) may reach it.
        // SAFETY: plain integer arguments.
        let rc =
            unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
        if rc != 0 {
            // Kernels before 5.11.
            for fd in 3..end {
                // SAFETY: setting FD_CLOEXEC on a descriptor number is harmless even if stale.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
        for &fd in &numbers {
            // SAFETY: clearing close-on-exec on a descriptor this process owns.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        for (resource, value) in &limits {
            let limit = libc::rlimit {
                rlim_cur: *value,
                rlim_max: *value,
            };
            // SAFETY: a valid rlimit struct.
            if unsafe { libc::setrlimit(*resource, &limit) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// The relay: the proxy's unix socket outside, a listener inside the sandbox's network
/// namespace, and the threads between them. Started before the command runs.
fn start_relay(status: &mut Status, rules: ProxyRules, dir: &Path) -> Result<Proxy, Error> {
    let pid = status.wait_child_pid().ok_or_else(|| {
        Error::Setup("bubblewrap exited before creating the sandbox (its message is above)".into())
    })?;
    let listener = netns::listener(pid, PROXY_PORT).map_err(|e| {
        Error::Setup(format!(
            "binding the proxy relay inside the sandbox's network namespace: {e}"
        ))
    })?;
    let socket = dir.join(SOCKET_NAME);
    let proxy = Proxy::start(rules, &socket)
        .map_err(|e| Error::Setup(format!("starting the network proxy: {e}")))?;
    Bridge::from_listener(listener, socket).serve();
    Ok(proxy)
}

/// What bubblewrap writes on `--json-status-fd`: one JSON document per line.
struct Status {
    file: std::fs::File,
    buffer: Vec<u8>,
    child_pid: Option<u32>,
    exit_code: Option<i32>,
}

impl Status {
    fn new(fd: OwnedFd) -> Status {
        Status {
            file: std::fs::File::from(fd),
            buffer: Vec::new(),
            child_pid: None,
            exit_code: None,
        }
    }

    /// Blocks until bubblewrap names its pid 1 (reported right after the namespaces exist), or
    /// exits.
    fn wait_child_pid(&mut self) -> Option<u32> {
        let mut chunk = [0u8; 4096];
        while self.child_pid.is_none() {
            match self.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    self.parse();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.child_pid
    }

    /// Reads what is left once bubblewrap has exited. Non-blocking: whatever bubblewrap wrote
    /// is in the pipe by then, and no other writer may keep this process waiting.
    fn read_rest(&mut self) {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(self.file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(
                self.file.as_raw_fd(),
                libc::F_SETFL,
                flags | libc::O_NONBLOCK,
            );
        }
        let mut chunk = [0u8; 4096];
        loop {
            match self.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.parse();
    }

    fn parse(&mut self) {
        for line in self.buffer.split(|b| *b == b'\n') {
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(pid) = doc["child-pid"].as_u64() {
                self.child_pid = u32::try_from(pid).ok();
            }
            if let Some(code) = doc["exit-code"].as_i64() {
                self.exit_code = i32::try_from(code).ok();
            }
        }
    }
}

/// Waits for bubblewrap, killing it when the timeout passes (its pid 1 follows it, by
/// `--die-with-parent`, and takes the whole pid namespace along).
fn wait_timeout(child: &mut Child, timeout: Option<Duration>) -> Result<(ExitStatus, bool), Error> {
    let wait_err = |e: io::Error| Error::Setup(format!("waiting for bubblewrap: {e}"));
    let Some(timeout) = timeout else {
        return Ok((child.wait().map_err(wait_err)?, false));
    };
    let deadline = Instant::now() + timeout;
    // SAFETY: pidfd_open with integer arguments.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
    if pidfd >= 0 {
        // SAFETY: a fresh descriptor we own.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc > 0 {
                return Ok((child.wait().map_err(wait_err)?, false));
            }
            if rc == 0 || left.is_zero() {
                break;
            }
        }
    } else {
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().map_err(wait_err)? {
                return Ok((status, false));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let _ = child.kill();
    Ok((child.wait().map_err(wait_err)?, true))
}

/// Takes down bubblewrap's pid 1, and with it everything left in its pid namespace, once the
/// outer bwrap has exited. `--die-with-parent` normally does this already, but pid 1 runs as the
/// command's uid and is dumpable, so the command can write to its memory and could clear that
/// flag; a sandbox must not depend on its contents behaving. Pid 1 is re-parented to this
/// process (a subreaper), so the pid cannot have been reused while it is unreaped.
fn end_sandbox(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let mut status = 0;
    // SAFETY: valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != 0 {
        // Reaped just now, or not our child: bubblewrap reaped it itself before exiting.
        return;
    }
    // SAFETY: signalling our own unreaped child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // The kernel kills the rest of the namespace before pid 1 can be reaped.
    loop {
        // SAFETY: valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("bwrap exited with {code}"),
        (None, Some(signal)) => format!("bwrap was killed by signal {signal}"),
        _ => "bwrap ended".into(),
    }
}

/// What exists on the host at `path`, without following a final symlink.
fn host_kind(path: &Path) -> Option<EntryKind> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        None
    } else if meta.is_dir() {
        Some(EntryKind::Dir)
    } else {
        Some(EntryKind::File)
    }
}

fn rlimits(limits: &Limits) -> Vec<(libc::__rlimit_resource_t, u64)> {
    let mut out = vec![(libc::RLIMIT_CORE, 0)];
    for (resource, value) in [
        (libc::RLIMIT_NPROC, limits.max_processes),
        (libc::RLIMIT_FSIZE, limits.max_file_size),
        (libc::RLIMIT_AS, limits.max_memory),
    ] {
        if let Some(value) = value {
            out.push((resource, value));
        }
    }
    out
}

fn program_bytes(program: &[bpf::Insn]) -> Vec<u8> {
    // SAFETY: `Insn` is `#[repr(C)] { u16, u8, u8, u32 }`, eight bytes without padding (asserted
    // above), so the slice is fully initialised memory of exactly this length.
    let bytes =
        unsafe { std::slice::from_raw_parts(program.as_ptr().cast::<u8>(), size_of_val(program)) };
    bytes.to_vec()
}

fn nul_separated(args: &[OsString]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for arg in args {
        let bytes = arg.as_bytes();
        if bytes.contains(&0) {
            return Err(Error::Unsupported(format!(
                "{} contains a NUL byte",
                arg.to_string_lossy()
            )));
        }
        out.extend_from_slice(bytes);
        out.push(0);
    }
    Ok(out)
}

/// An anonymous file holding `data`, positioned at its start.
fn memfd(data: &[u8]) -> Result<OwnedFd, Error> {
    // SAFETY: a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"sandboxpm-bwrap".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Setup(format!(
            "preparing data for bubblewrap: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    fill(&fd, data)?;
    Ok(fd)
}

/// Writes `data` to the memfd `fd` and rewinds it.
fn fill(fd: &OwnedFd, data: &[u8]) -> Result<(), Error> {
    let setup = |e: io::Error| Error::Setup(format!("preparing data for bubblewrap: {e}"));
    let mut file = std::fs::File::from(fd.try_clone().map_err(setup)?);
    file.write_all(data).map_err(setup)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0)).map_err(setup)?;
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    crate::fd::pipe().map_err(|e| Error::Setup(format!("pipe: {e}")))
}

/// One more than the highest descriptor open in this process.
fn first_unused_fd() -> Result<i32, Error> {
    let dir = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error::Setup(format!("listing open descriptors: {e}")))?;
    let highest = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .max()
        .unwrap_or(2);
    Ok(highest.max(2) + 1)
}

/// Copies `from` to exactly `to` (a free number), close-on-exec until the child clears it.
fn dup_to(from: RawFd, to: i32) -> Result<OwnedFd, Error> {
    // SAFETY: F_DUPFD_CLOEXEC returns the lowest free number >= `to`, a new descriptor we own.
    let fd = unsafe { libc::fcntl(from, libc::F_DUPFD_CLOEXEC, to) };
    if fd < 0 {
        return Err(Error::Setup(format!(
            "placing a descriptor for bubblewrap: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: as above.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if fd != to {
        return Err(Error::Setup(format!(
            "descriptor {to} was taken while preparing bubblewrap (got {fd})"
        )));
    }
    Ok(owned)
}

/// A private (0700) directory holding the empty file bound over hidden files and the proxy's
/// socket; removed on drop.
#[derive(Debug)]
struct Scratch {
    root: PathBuf,
    empty: PathBuf,
}

impl Scratch {
    fn new() -> io::Result<Scratch> {
        let base = std::env::temp_dir();
        let mut last = io::Error::other("no attempt");
        for attempt in 0..16u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let root = base.join(format!(
                "sandboxpm-bwrap-{}-{:08x}",
                std::process::id(),
                nanos ^ attempt.wrapping_mul(0x9e37_79b9)
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&root) {
                Ok(()) => {
                    let empty = root.join("empty");
                    let made = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o444)
                        .open(&empty);
                    if let Err(e) = made {
                        let _ = std::fs::remove_dir_all(&root);
                        return Err(e);
                    }
                    return Ok(Scratch { root, empty });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn path(&self) -> &Path {
        &self.root
    }

    fn empty(&self) -> &Path {
        &self.empty
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
