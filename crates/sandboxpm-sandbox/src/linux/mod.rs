//! The Linux backends: `native` (namespaces + Landlock + seccomp) and `landlock` (the degraded
//! mode, Landlock + seccomp without namespaces).
//!
//! Process structure of the native backend:
//!
//! ```text
//! caller (single-threaded)            unshare(user, mount, pid, ipc, uts, cgroup[, net]), uid/gid map
//!  └─ init   (pid 1 of the new pid namespace)   builds the root, pivot_root, lo up, wipes its
//!      │                                         environment, reaps; exits with the command's status
//!      └─ command   setsid, rlimits, no capabilities, Landlock, seccomp, execve
//! ```
//!
//! When init exits the kernel kills every process left in the namespace, so nothing outlives the
//! command; a timeout kills init. Errors from inside are sent back over a close-on-exec pipe.

mod bpf;
mod landlock;
mod mounts;
mod sys;

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::native::{self, LandlockRule};
use crate::policy::Network;
use crate::resolve::ResolvedPolicy;
use crate::seccomp;
use crate::{Backend, Command, Error, Outcome};

pub use self::landlock::kernel_abi as landlock_abi;

/// Runs `cmd` under `policy` with `backend` (never `Auto`: the caller picks).
pub(crate) fn run(
    policy: &ResolvedPolicy,
    cmd: &Command,
    backend: Backend,
) -> Result<Outcome, Error> {
    ensure_single_threaded()?;
    match backend {
        Backend::Native => run_native(policy, cmd),
        Backend::Landlock => run_landlock(policy, cmd),
        Backend::Auto => Err(Error::Unsupported(
            "backend `auto` must be resolved first".into(),
        )),
    }
}

/// Whether this process may create a user namespace, tested in a short-lived child so that
/// nothing changes here. The error says why not.
pub fn probe_user_namespace() -> io::Result<()> {
    // SAFETY: the child only calls async-signal-safe functions and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) };
        let code = if rc == 0 {
            0
        } else {
            io::Error::last_os_error().raw_os_error().unwrap_or(1)
        };
        // SAFETY: leaving the child without running destructors.
        unsafe { libc::_exit(code.min(255)) };
    }
    let status = wait(pid)?;
    match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => Ok(()),
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Err(io::Error::other("probe child died")),
    }
}

fn ensure_single_threaded() -> Result<(), Error> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1);
    if threads > 1 {
        return Err(Error::NotSingleThreaded(threads));
    }
    Ok(())
}

/// Everything the command needs, prepared before any fork so that the children only make
/// syscalls.
struct Prepared {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: PathBuf,
}

fn prepare(policy: &ResolvedPolicy, cmd: &Command) -> Result<Prepared, Error> {
    let bad = |what: &str| Error::Unsupported(format!("{what} contains a NUL byte"));
    let program =
        CString::new(cmd.program.as_os_str().as_bytes()).map_err(|_| bad("program path"))?;
    let argv = cmd
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| bad("an argument")))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = policy
        .env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")).map_err(|_| bad("an environment variable")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Prepared {
        program,
        argv,
        envp,
        cwd: policy.cwd.clone(),
    })
}

fn run_native(policy: &ResolvedPolicy, cmd: &Command) -> Result<Outcome, Error> {
    let prepared = prepare(policy, cmd)?;
    let plan = native::plan(policy);
    let seccomp = bpf::compile(&seccomp::rules(false));
    let (rd, wr) = pipe()?;

    // SAFETY: integer getters.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // The mount namespace is unshared by init itself: pivot_root moves the root of every process
    // in the namespace, and the caller must keep the host's.
    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    if policy.network != Network::Host {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: the process is single-threaded (checked), as unshare(CLONE_NEWUSER) requires.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(Error::UserNamespace(io::Error::last_os_error()));
    }
    // Map the caller to itself: files it creates keep its ownership on the host.
    let maps = sys::write_file("/proc/self/setgroups", "deny")
        .and_then(|()| sys::write_file("/proc/self/uid_map", &format!("{uid} {uid} 1\n")))
        .and_then(|()| sys::write_file("/proc/self/gid_map", &format!("{gid} {gid} 1\n")));
    maps.map_err(|e| Error::Setup(format!("writing the uid/gid map: {e}")))?;

    // SAFETY: single-threaded; the child only runs our setup code and execve or _exit.
    let init = unsafe { libc::fork() };
    if init < 0 {
        return Err(Error::Setup(format!(
            "fork: {}",
            io::Error::last_os_error()
        )));
    }
    if init == 0 {
        drop(rd);
        let err = init_main(policy, &plan, &prepared, &seccomp, &wr);
        report(&wr, &err);
        // SAFETY: leaving the child without unwinding into the caller's code.
        unsafe { libc::_exit(125) };
    }
    drop(wr);
    finish(init, rd, policy, Backend::Native)
}

/// Pid 1 of the sandbox. Returns only on error.
fn init_main(
    policy: &ResolvedPolicy,
    plan: &native::NativePlan,
    prepared: &Prepared,
    seccomp: &[bpf::Insn],
    report_fd: &OwnedFd,
) -> String {
    // If the caller dies, so does the sandbox (and with pid 1, everything in it).
    if let Err(e) = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) {
        return format!("PR_SET_PDEATHSIG: {e}");
    }
    // SAFETY: plain syscall; init is single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return format!("unshare(CLONE_NEWNS): {}", io::Error::last_os_error());
    }
    if let Err(e) = mounts::build_root(&plan.mounts, policy) {
        return e;
    }
    if policy.network != Network::Host
        && let Err(e) = sys::loopback_up()
    {
        return format!("bringing up lo: {e}");
    }
    let name = b"sandboxpm";
    // SAFETY: valid buffer and length.
    unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    // Nothing of the caller's environment stays readable through /proc/1/environ, and a
    // non-dumpable init cannot be inspected by what it runs.
    sys::wipe_environ_block();
    if let Err(e) = sys::prctl(libc::PR_SET_DUMPABLE, 0) {
        return format!("PR_SET_DUMPABLE: {e}");
    }

    // SAFETY: single-threaded child.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return format!("fork: {}", io::Error::last_os_error());
    }
    if child == 0 {
        let err = command_main(prepared, policy, &plan.landlock, seccomp, false);
        report(report_fd, &err);
        // SAFETY: see above.
        unsafe { libc::_exit(127) };
    }
    // SAFETY: closing our copy of the report pipe, so the caller sees EOF once the command runs.
    unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(report_fd)) };
    // Reap everything; leave with the command's status. Orphans are reaped too, and die with us.
    loop {
        let mut status = 0;
        // SAFETY: valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == child {
            // SAFETY: leaving pid 1; the kernel kills the rest of the namespace.
            unsafe { libc::_exit(exit_code(status)) };
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // SAFETY: as above.
            unsafe { libc::_exit(125) };
        }
    }
}

/// The command process, after the root is built. Returns only on error.
fn command_main(
    prepared: &Prepared,
    policy: &ResolvedPolicy,
    landlock_rules: &[LandlockRule],
    seccomp: &[bpf::Insn],
    required_landlock: bool,
) -> String {
    // A new session: no controlling terminal to push keystrokes into, no job-control signals from
    // the caller's terminal.
    // SAFETY: plain syscall.
    unsafe { libc::setsid() };
    if let Err(e) = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) {
        return format!("PR_SET_PDEATHSIG: {e}");
    }
    if let Err(e) = std::env::set_current_dir(&prepared.cwd) {
        return format!("entering {}: {e}", prepared.cwd.display());
    }
    let limits = &policy.limits;
    let mut rlimits = vec![(libc::RLIMIT_CORE, Some(0))];
    rlimits.push((libc::RLIMIT_NPROC, limits.max_processes));
    rlimits.push((libc::RLIMIT_FSIZE, limits.max_file_size));
    rlimits.push((libc::RLIMIT_AS, limits.max_memory));
    for (resource, value) in rlimits {
        if let Some(value) = value
            && let Err(e) = sys::set_rlimit(resource, value)
        {
            return format!("setrlimit({resource}): {e}");
        }
    }
    match landlock::restrict(landlock_rules) {
        Ok(landlock::Enforced::Not) if required_landlock => {
            return "Landlock is not available in this kernel; refusing to run without it".into();
        }
        Ok(_) => {}
        Err(e) => return e,
    }
    if let Err(e) = sys::install_seccomp(seccomp) {
        return format!("installing the seccomp filter: {e}");
    }
    if let Err(e) = sys::drop_capabilities() {
        return format!("dropping capabilities: {e}");
    }
    if let Err(e) = sys::cloexec_from_3() {
        return format!("closing inherited descriptors: {e}");
    }
    let mut argv: Vec<*const libc::c_char> = prepared.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = prepared.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of NUL-terminated strings that outlive the call.
    unsafe { libc::execve(prepared.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    format!("\u{1}{errno}")
}

fn run_landlock(policy: &ResolvedPolicy, cmd: &Command) -> Result<Outcome, Error> {
    if landlock::kernel_abi() < 1 {
        return Err(Error::NoIsolation);
    }
    // Private HOME and TMPDIR on the host, removed afterwards.
    let scratch = mounts::Scratch::new()
        .map_err(|e| Error::Setup(format!("creating a private home: {e}")))?;
    let mut policy = policy.clone();
    policy
        .env
        .insert("HOME".into(), scratch.home().to_string_lossy().into_owned());
    policy.env.insert(
        "TMPDIR".into(),
        scratch.tmp().to_string_lossy().into_owned(),
    );
    let rules = mounts::degraded_rules(&policy, scratch.home(), scratch.tmp())
        .map_err(|e| Error::Setup(format!("translating the policy for Landlock: {e}")))?;
    let prepared = prepare(&policy, cmd)?;
    let deny_inet = policy.network != Network::Host;
    let seccomp = bpf::compile(&seccomp::rules(deny_inet));
    let (rd, wr) = pipe()?;
    // Orphaned descendants are re-parented to us, so that they can be found and killed.
    sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1)
        .map_err(|e| Error::Setup(format!("PR_SET_CHILD_SUBREAPER: {e}")))?;
    // SAFETY: single-threaded (checked by the caller).
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::Setup(format!(
            "fork: {}",
            io::Error::last_os_error()
        )));
    }
    if child == 0 {
        drop(rd);
        let err = command_main(&prepared, &policy, &rules, &seccomp, true);
        report(&wr, &err);
        // SAFETY: leaving the child.
        unsafe { libc::_exit(127) };
    }
    drop(wr);
    let outcome = finish(child, rd, &policy, Backend::Landlock);
    kill_descendants();
    drop(scratch);
    outcome
}

/// Kills every process re-parented to us (we are a subreaper) until none is left.
fn kill_descendants() {
    // SAFETY: integer getter.
    let me = unsafe { libc::getpid() };
    for _ in 0..1000 {
        let mut found = false;
        for pid in children_of(me) {
            found = true;
            // SAFETY: signalling a child of ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Reap whatever died.
        loop {
            let mut status = 0;
            // SAFETY: valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn children_of(parent: libc::pid_t) -> Vec<libc::pid_t> {
    // The kernel lists each thread's children directly (CONFIG_PROC_CHILDREN); scanning all of
    // /proc is the fallback.
    let listed = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"));
    if let Ok(list) = listed {
        return list
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .is_some_and(|s| {
                    s.rfind(')')
                        .and_then(|i| s[i + 2..].split(' ').nth(1).map(str::to_string))
                        .and_then(|ppid| ppid.parse::<libc::pid_t>().ok())
                        == Some(parent)
                })
        })
        .collect()
}

/// Waits for the setup report and then for `pid`, enforcing the timeout.
fn finish(
    pid: libc::pid_t,
    rd: OwnedFd,
    policy: &ResolvedPolicy,
    backend: Backend,
) -> Result<Outcome, Error> {
    let mut message = Vec::new();
    let _ = std::fs::File::from(rd).read_to_end(&mut message);
    if !message.is_empty() {
        let status = wait(pid).unwrap_or(0);
        let _ = status;
        let text = String::from_utf8_lossy(&message).into_owned();
        if let Some(errno) = text.strip_prefix('\u{1}') {
            let errno: i32 = errno.trim().parse().unwrap_or(0);
            return Err(Error::Exec {
                errno: io::Error::from_raw_os_error(errno),
            });
        }
        return Err(Error::Setup(text));
    }
    let timeout = policy.limits.timeout_secs.map(Duration::from_secs);
    let (status, timed_out) = wait_timeout(pid, timeout)?;
    Ok(Outcome {
        code: if timed_out { 124 } else { exit_code(status) },
        timed_out,
        backend,
    })
}

fn wait_timeout(pid: libc::pid_t, timeout: Option<Duration>) -> Result<(i32, bool), Error> {
    let Some(timeout) = timeout else {
        return Ok((wait(pid).map_err(wait_err)?, false));
    };
    // SAFETY: pidfd_open with integer arguments.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let deadline = Instant::now() + timeout;
    if pidfd >= 0 {
        // SAFETY: we own the new descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&pidfd),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc > 0 {
                return Ok((wait(pid).map_err(wait_err)?, false));
            }
            if rc == 0 || left.is_zero() {
                break;
            }
        }
    } else {
        while Instant::now() < deadline {
            let mut status = 0;
            // SAFETY: valid out-pointer.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                return Ok((status, false));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // SAFETY: killing our own child (pid 1 of the sandbox takes everything with it).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = wait(pid).map_err(wait_err)?;
    Ok((status, true))
}

fn wait_err(e: io::Error) -> Error {
    Error::Setup(format!("waiting for the sandbox: {e}"))
}

fn wait(pid: libc::pid_t) -> io::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Shell convention: the exit code, or 128 + the signal number.
fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        125
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    let mut fds = [0; 2];
    // SAFETY: valid array of two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::Setup(format!(
            "pipe: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn report(fd: &OwnedFd, message: &str) {
    let bytes = message.as_bytes();
    // SAFETY: writing our own buffer to our own descriptor.
    unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            bytes.as_ptr().cast(),
            bytes.len(),
        )
    };
}
