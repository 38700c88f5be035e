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

pub(crate) mod bpf;
pub(crate) mod bridge;
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
use crate::{Backend, Command, Error, Gate, Outcome};

pub use self::landlock::kernel_abi as landlock_abi;

/// Runs `cmd` under `policy` with `backend` (never `Auto`: the caller picks).
/// With a `gate` (native only), the command waits behind it once the sandbox is complete.
pub(crate) fn run(
    policy: &ResolvedPolicy,
    cmd: &Command,
    backend: Backend,
    gate: Option<&Gate>,
) -> Result<Outcome, Error> {
    ensure_single_threaded()?;
    match backend {
        Backend::Native => run_native(policy, cmd, gate.map(Gate::raw)),
        Backend::Landlock => run_landlock(policy, cmd),
        other => Err(Error::Unsupported(format!(
            "backend `{}` is not run by the Linux namespace code",
            other.name()
        ))),
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

/// Creating a user namespace (and forking for set-up work) needs a single-threaded process.
pub(crate) fn ensure_single_threaded() -> Result<(), Error> {
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
#[derive(Clone)]
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

/// The outside half of a network grant: the proxy's private (0700) directory and rules,
/// prepared before any fork; the proxy itself starts once init exists.
struct NetGrant {
    dir: mounts::Scratch,
    dir_fd: OwnedFd,
    rules: crate::proxy::ProxyRules,
}

impl NetGrant {
    fn prepare(hosts: &[String]) -> Result<NetGrant, Error> {
        let rules = crate::proxy::ProxyRules::parse(hosts)
            .map_err(|e| Error::Unsupported(e.to_string()))?;
        let dir = mounts::Scratch::new()
            .map_err(|e| Error::Setup(format!("creating the proxy directory: {e}")))?;
        let c = sys::cstr(dir.path()).map_err(|e| Error::Setup(e.to_string()))?;
        // SAFETY: NUL-terminated path; the descriptor is owned below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Error::Setup(format!(
                "opening the proxy directory: {}",
                io::Error::last_os_error()
            )));
        }
        // SAFETY: a fresh descriptor we own.
        let dir_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(NetGrant { dir, dir_fd, rules })
    }
}

fn run_native(
    policy: &ResolvedPolicy,
    cmd: &Command,
    gate: Option<RawFd>,
) -> Result<Outcome, Error> {
    let net = match &policy.network {
        Network::Allow(hosts) => Some(NetGrant::prepare(hosts)?),
        _ => None,
    };
    let prepared = prepare(policy, cmd)?;
    let plan = native::plan(policy);
    let seccomp = bpf::compile(&seccomp::rules(false));
    let (rd, wr) = pipe()?;
    // Init writes the command's exit code here once everything in the sandbox is dead, before
    // it exits itself: tearing down its namespaces takes milliseconds nobody needs to wait for.
    let (status_rd, status_wr) = pipe()?;

    // SAFETY: integer getters.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // The mount and network namespaces are unshared by init itself: pivot_root moves the root of
    // every process in the namespace, and the caller keeps the host's network for the proxy.
    // The pid namespace is not unshared here either: a process that did so can no longer start
    // threads (the proxy needs them), so init is cloned straight into a new one below.
    let flags =
        libc::CLONE_NEWUSER | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWCGROUP;
    // SAFETY: the process is single-threaded (checked), as unshare(CLONE_NEWUSER) requires.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(Error::UserNamespace(io::Error::last_os_error()));
    }
    // Map the caller to itself: files it creates keep its ownership on the host.
    let maps = sys::write_file("/proc/self/setgroups", "deny")
        .and_then(|()| sys::write_file("/proc/self/uid_map", &format!("{uid} {uid} 1\n")))
        .and_then(|()| sys::write_file("/proc/self/gid_map", &format!("{gid} {gid} 1\n")));
    maps.map_err(|e| Error::Setup(format!("writing the uid/gid map: {e}")))?;

    // SAFETY: a fork-like clone (no CLONE_VM, no new stack) of a single-threaded process into a
    // new pid namespace; the child only runs our setup code and execve or _exit.
    let init = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWPID | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    } as libc::pid_t;
    if init < 0 {
        return Err(Error::Setup(format!(
            "fork: {}",
            io::Error::last_os_error()
        )));
    }
    if init == 0 {
        drop(rd);
        drop(status_rd);
        let proxy_dir = net
            .as_ref()
            .map(|n| std::os::fd::AsRawFd::as_raw_fd(&n.dir_fd));
        let err = init_main(
            policy,
            &plan,
            &prepared,
            &seccomp,
            (&wr, &status_wr),
            proxy_dir,
            gate,
        );
        report(&wr, err.as_bytes());
        // SAFETY: leaving the child without unwinding into the caller's code.
        unsafe { libc::_exit(125) };
    }
    drop(wr);
    drop(status_wr);
    // Threads are fine from here on: nothing forks in this process any more.
    let proxy = match &net {
        Some(net) => {
            let socket = net.dir.path().join(bridge::SOCKET_NAME);
            match crate::proxy::Proxy::start(net.rules.clone(), &socket) {
                Ok(proxy) => Some(proxy),
                Err(e) => {
                    // SAFETY: killing our own child; the sandbox must not run without its proxy.
                    unsafe { libc::kill(init, libc::SIGKILL) };
                    let _ = wait(init);
                    return Err(Error::Setup(format!("starting the network proxy: {e}")));
                }
            }
        }
        None => None,
    };
    let mut outcome = finish(init, rd, Some(status_rd), gate, policy, Backend::Native);
    if let Some(proxy) = proxy {
        let log = proxy.stop();
        if let Ok(outcome) = outcome.as_mut() {
            outcome.blocked = log.blocked.iter().map(ToString::to_string).collect();
        }
    }
    outcome
}

/// Pid 1 of the sandbox. Returns only on error.
fn init_main(
    policy: &ResolvedPolicy,
    plan: &native::NativePlan,
    prepared: &Prepared,
    seccomp: &[bpf::Insn],
    (report_fd, status_fd): (&OwnedFd, &OwnedFd),
    proxy_dir: Option<RawFd>,
    gate: Option<RawFd>,
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
    let mut prepared = std::borrow::Cow::Borrowed(prepared);
    let mut bridge = None;
    if policy.network != Network::Host {
        // SAFETY: plain syscall; init is single-threaded.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return format!("unshare(CLONE_NEWNET): {}", io::Error::last_os_error());
        }
        if let Err(e) = sys::loopback_up() {
            return format!("bringing up lo: {e}");
        }
        if let Some(dir) = proxy_dir {
            let relay = match bridge::Bridge::bind(dir).and_then(|b| Ok((b.port()?, b))) {
                Ok(relay) => relay,
                Err(e) => return format!("binding the proxy relay: {e}"),
            };
            let url = format!("http://127.0.0.1:{}", relay.0);
            let envp = &mut prepared.to_mut().envp;
            envp.retain(|v| {
                let v = v.to_bytes();
                !(v.starts_with(b"NO_PROXY=") || v.starts_with(b"no_proxy="))
            });
            for var in bridge::PROXY_VARS {
                if let Ok(entry) = CString::new(format!("{var}={url}")) {
                    envp.push(entry);
                }
            }
            bridge = Some(relay.1);
        }
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
        let err = command_main(&prepared, policy, &plan.landlock, seccomp, false, gate);
        report(report_fd, err.as_bytes());
        // SAFETY: see above.
        unsafe { libc::_exit(127) };
    }
    // SAFETY: closing our copy of the report pipe, so the caller sees EOF once the command runs.
    unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(report_fd)) };
    // The relay's threads start only now: init forks nothing after this point.
    if let Some(bridge) = bridge {
        bridge.serve();
    }
    // Reap everything; leave with the command's status. Orphans are reaped too, and die with us.
    loop {
        let mut status = 0;
        // SAFETY: valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == child {
            let code = exit_code(status);
            // Nothing the command left behind outlives it: kill and reap the rest of the
            // namespace, then report, then leave (the kernel tears the namespaces down after).
            // SAFETY: pid 1 signalling its own namespace, then reaping; valid out-pointer.
            unsafe {
                libc::kill(-1, libc::SIGKILL);
                while libc::waitpid(-1, &mut status, 0) > 0
                    || io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                {
                }
            }
            // A short write only loses the early report: the caller then waits for our exit.
            report(status_fd, &code.to_le_bytes());
            // SAFETY: leaving pid 1.
            unsafe { libc::_exit(code) };
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
    gate: Option<RawFd>,
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
        // Said on the command's stderr, before it starts: what was enforced is part of the output.
        Ok(landlock::Enforced::Partially) => eprintln!(
            "sandboxpm: warning: Landlock ABI {} lacks some rights; the rest is enforced",
            landlock::kernel_abi()
        ),
        Ok(landlock::Enforced::Not) => eprintln!(
            "sandboxpm: warning: no Landlock in this kernel; the file system is confined by the mount namespace only"
        ),
        Ok(landlock::Enforced::Fully) => {}
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
    // Everything is in place; a held-back command waits here for its turn (the caller's
    // timeout starts once it has been let go: it waits for our exec first).
    if let Some(gate) = gate
        && !crate::gate_passes(gate)
    {
        return CANCELLED.into();
    }
    let mut argv: Vec<*const libc::c_char> = prepared.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = prepared.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of NUL-terminated strings that outlive the call.
    unsafe { libc::execve(prepared.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    format!("{EXEC_FAILED}{errno}")
}

/// What the command process reports before its exec fails (then the errno)...
const EXEC_FAILED: char = '\u{1}';
/// ...or when its gate closed unopened. Any other report is a setup error's text.
const CANCELLED: &str = "\u{2}";

fn run_landlock(policy: &ResolvedPolicy, cmd: &Command) -> Result<Outcome, Error> {
    if matches!(policy.network, Network::Allow(_)) {
        // Without a network namespace the proxy could only be enforced by allowing inet sockets,
        // which would allow direct connections too.
        return Err(Error::Unsupported(
            "a network allowlist needs the native backend (user namespaces); the landlock backend \
             only offers network none"
                .into(),
        ));
    }
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
    for (path, content) in &policy.home_files {
        let target = scratch.home().join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Setup(format!("creating {}: {e}", parent.display())))?;
        }
        match &policy.tripwire_dir {
            // Nothing can be bound here: a link leads to the watched file, readable only.
            Some(dir) if policy.tripwires.contains(path) => {
                std::os::unix::fs::symlink(dir.join(path), &target)
            }
            _ => std::fs::write(&target, content),
        }
        .map_err(|e| Error::Setup(format!("writing {}: {e}", target.display())))?;
    }
    let mut rules = mounts::degraded_rules(&policy, scratch.home(), scratch.tmp())
        .map_err(|e| Error::Setup(format!("translating the policy for Landlock: {e}")))?;
    if let Some(dir) = &policy.tripwire_dir {
        rules.push(LandlockRule {
            path: dir.clone(),
            access: native::LandlockAccess::Read,
        });
    }
    let prepared = prepare(&policy, cmd)?;
    let deny_inet = policy.network != Network::Host;
    let mut filter = seccomp::rules(deny_inet);
    filter.extend(seccomp::shared_filesystem_rules());
    let seccomp = bpf::compile(&filter);
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
        let err = command_main(&prepared, &policy, &rules, &seccomp, true, None);
        report(&wr, err.as_bytes());
        // SAFETY: leaving the child.
        unsafe { libc::_exit(127) };
    }
    drop(wr);
    let outcome = finish(child, rd, None, None, &policy, Backend::Landlock);
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

/// Waits for the command's exec (or its failure: `rd` carries the error), tells `gate` that it
/// started, then waits for its end under the policy's timeout.
fn finish(
    pid: libc::pid_t,
    rd: OwnedFd,
    status: Option<OwnedFd>,
    gate: Option<RawFd>,
    policy: &ResolvedPolicy,
    backend: Backend,
) -> Result<Outcome, Error> {
    let mut message = Vec::new();
    let _ = std::fs::File::from(rd).read_to_end(&mut message);
    if !message.is_empty() {
        // Reap the failed sandbox; its status adds nothing to the message.
        let _ = wait(pid);
        let text = String::from_utf8_lossy(&message).into_owned();
        if let Some(errno) = text.strip_prefix(EXEC_FAILED) {
            let errno: i32 = errno.trim().parse().unwrap_or(0);
            return Err(Error::Exec {
                errno: io::Error::from_raw_os_error(errno),
            });
        }
        if text == CANCELLED {
            return Err(Error::Cancelled);
        }
        return Err(Error::Setup(text));
    }
    if let Some(gate) = gate {
        crate::gate_started(gate);
    }
    let timeout = policy.limits.timeout_secs.map(Duration::from_secs);
    if let Some(status) = status {
        match wait_report(status, timeout) {
            Report::Code(code) => {
                return Ok(Outcome {
                    code,
                    timed_out: false,
                    backend,
                    blocked: Vec::new(),
                });
            }
            Report::TimedOut => {
                // SAFETY: killing our own child (pid 1 of the sandbox takes everything with it).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = wait(pid);
                return Ok(Outcome {
                    code: 124,
                    timed_out: true,
                    backend,
                    blocked: Vec::new(),
                });
            }
            // Init ended without a report (it was killed): its own status says how.
            Report::Gone => {}
        }
    }
    let (status, timed_out) = wait_timeout(pid, timeout)?;
    Ok(Outcome {
        code: if timed_out { 124 } else { exit_code(status) },
        timed_out,
        backend,
        blocked: Vec::new(),
    })
}

/// What init's status pipe said.
enum Report {
    /// The command's exit code; everything in the sandbox is dead.
    Code(i32),
    /// Nothing before the timeout.
    TimedOut,
    /// End of file without a code.
    Gone,
}

/// Waits (at most `timeout`) for init's early report of the command's exit code.
fn wait_report(status: OwnedFd, timeout: Option<Duration>) -> Report {
    let deadline = timeout.map(|t| Instant::now() + t);
    if !readable_by(std::os::fd::AsRawFd::as_raw_fd(&status), deadline) {
        return Report::TimedOut;
    }
    let mut code = [0u8; 4];
    match std::fs::File::from(status).read_exact(&mut code) {
        Ok(()) => Report::Code(i32::from_le_bytes(code)),
        Err(_) => Report::Gone,
    }
}

/// Waits until `fd` is readable (or at its end); `false` once `deadline` has passed.
fn readable_by(fd: RawFd, deadline: Option<Instant>) -> bool {
    loop {
        let ms = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                left.as_millis().clamp(1, i32::MAX as u128) as i32
            }
            None => -1,
        };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        // A poll error other than EINTR cannot be waited out: the caller's read will tell.
        if rc > 0 || (rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
            return true;
        }
    }
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
        if readable_by(std::os::fd::AsRawFd::as_raw_fd(&pidfd), Some(deadline)) {
            return Ok((wait(pid).map_err(wait_err)?, false));
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
    crate::fd::pipe().map_err(|e| Error::Setup(format!("pipe: {e}")))
}

/// One `write` of `bytes` (async-signal-safe: forked children report with it).
fn report(fd: &OwnedFd, bytes: &[u8]) {
    // SAFETY: writing our own buffer to our own descriptor.
    unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            bytes.as_ptr().cast(),
            bytes.len(),
        )
    };
}
