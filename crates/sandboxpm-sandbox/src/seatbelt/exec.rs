//! Running a command under `sandbox-exec`: the private directories, the environment, the proxy,
//! the session, the limits and the timeout.
//!
//! Process structure:
//!
//! ```text
//! sandboxpm (any number of threads)
//!  ├─ relay + proxy threads          (network allowlists only)
//!  └─ sandbox-exec   setsid, rlimits, inherited descriptors closed on exec; applies the
//!       │            profile to itself, then execs the command in the same process
//!       └─ command ... and its children, all in the new session's process group
//! ```
//!
//! Without a pid namespace there is no init whose death takes the tree along. The command leads
//! a process group instead: a timeout kills the group, and so does the end of the command (what
//! is left of it: daemons started by a script). A descendant that starts its own session leaves
//! the group, which [`super::guarantees`] says.
//!
//! Nothing here is specific to macOS but the launcher's path, so the tests run this code on Linux
//! with a stand-in launcher that skips the profile and runs the command.

use std::collections::BTreeMap;
use std::ffi::{CStr, OsString};
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

use super::profile::Runtime;
use super::relay::Relay;
use crate::policy::{Limits, Network};
use crate::proxy::{PROXY_VARS, Proxy, ProxyRules};
use crate::resolve::ResolvedPolicy;
use crate::{Backend, Command, Error, Outcome};

/// Descriptors above this are not looked at when closing inherited ones (a process with an
/// unlimited descriptor limit would otherwise take seconds).
const MAX_FD: libc::rlim_t = 1 << 16;

/// Runs `cmd` under `policy` through `launcher` (`/usr/bin/sandbox-exec`, or a stand-in in
/// tests).
pub(super) fn run_with(
    launcher: &Path,
    policy: &ResolvedPolicy,
    cmd: &Command,
) -> Result<Outcome, Error> {
    if !launcher.is_file() {
        return Err(Error::Unsupported(format!(
            "{} is missing; the seatbelt backend needs it",
            launcher.display()
        )));
    }
    check_program(&cmd.program)?;
    let scratch = Scratch::new()
        .map_err(|e| Error::Setup(format!("creating the private home and TMPDIR: {e}")))?;
    write_home_files(&scratch.home(), &policy.home_files)?;
    let net = match &policy.network {
        Network::Allow(hosts) => Some(NetGrant::start(hosts, scratch.path())?),
        Network::None | Network::Host => None,
    };
    let proxy_port = net.as_ref().map(|n| n.relay.port());
    let (home, tmp, terminal) = (scratch.home(), scratch.tmp(), terminal());
    let runtime = Runtime {
        home: &home,
        tmp: &tmp,
        terminal: &terminal,
        proxy_port,
    };
    let profile = super::profile(policy);

    let mut command = std::process::Command::new(launcher);
    command
        .args(profile.arguments(&runtime))
        .arg("--")
        .arg(&cmd.program)
        .args(cmd.argv.iter().skip(1))
        .env_clear()
        .envs(environment(policy, &home, &tmp, proxy_port))
        .current_dir(&policy.cwd);
    let setup = ChildSetup::from(&policy.limits);
    // SAFETY: the closure runs in the child between fork and exec; it only makes
    // async-signal-safe calls (setsid, setrlimit, getrlimit, fcntl) and allocates nothing.
    unsafe { command.pre_exec(move || setup.apply()) };
    let child = command
        .spawn()
        .map_err(|e| Error::Setup(format!("starting {}: {e}", launcher.display())))?;
    let timeout = policy.limits.timeout_secs.map(Duration::from_secs);
    let waited = wait(child, timeout);
    let blocked = net.map(NetGrant::stop).unwrap_or_default();
    drop(scratch);
    let (status, timed_out) =
        waited.map_err(|e| Error::Setup(format!("waiting for the sandbox: {e}")))?;
    Ok(Outcome {
        code: if timed_out { 124 } else { exit_code(status) },
        timed_out,
        backend: Backend::Seatbelt,
        blocked,
    })
}

/// Refuses a program that cannot run before anything is set up, with the error `execve` would
/// give (`sandbox-exec` would only print it and exit with a code of its own).
fn check_program(program: &Path) -> Result<(), Error> {
    if !program.is_absolute() {
        return Err(Error::Exec {
            errno: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: the program path must be absolute", program.display()),
            ),
        });
    }
    match std::fs::metadata(program) {
        Err(errno) => Err(Error::Exec { errno }),
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => Err(Error::Exec {
            errno: io::Error::from_raw_os_error(libc::EACCES),
        }),
        Ok(_) => Ok(()),
    }
}

/// The command's complete environment: the policy's, with `HOME` and `TMPDIR` pointing at the
/// private directories and, with an allowlist, every proxy variable pointing at the relay.
fn environment(
    policy: &ResolvedPolicy,
    home: &Path,
    tmp: &Path,
    proxy_port: Option<u16>,
) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = policy
        .env
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
    env.insert("HOME".into(), home.into());
    env.insert("TMPDIR".into(), tmp.into());
    if let Some(port) = proxy_port {
        // Loopback is not an exception: the relay is on loopback, and nothing else is reachable.
        env.remove(&OsString::from("NO_PROXY"));
        env.remove(&OsString::from("no_proxy"));
        let url = OsString::from(format!("http://127.0.0.1:{port}"));
        for var in PROXY_VARS {
            env.insert((*var).into(), url.clone());
        }
    }
    env
}

/// The terminal device of the first standard stream that is a terminal, or `/dev/null`. The
/// profile lets the command use this one device and no other terminal of the user.
fn terminal() -> PathBuf {
    for fd in 0..3 {
        // SAFETY: isatty only inspects the descriptor number.
        if unsafe { libc::isatty(fd) } != 1 {
            continue;
        }
        let mut buf = [0 as libc::c_char; 256];
        // SAFETY: the buffer is writable for its whole stated length.
        if unsafe { libc::ttyname_r(fd, buf.as_mut_ptr(), buf.len()) } == 0 {
            // SAFETY: on success ttyname_r wrote a NUL-terminated string into `buf`.
            let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
            return PathBuf::from(OsString::from_vec(name.to_bytes().to_vec()));
        }
    }
    PathBuf::from("/dev/null")
}

/// Creates the decoy files in the private home. Their paths come from sandboxpm, but a path
/// that would leave the home is refused rather than trusted.
fn write_home_files(home: &Path, files: &[(PathBuf, String)]) -> Result<(), Error> {
    for (relative, content) in files {
        let inside = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !inside || relative.as_os_str().is_empty() {
            return Err(Error::Setup(format!(
                "the home file {} is not a path inside the home",
                relative.display()
            )));
        }
        let target = home.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| Error::Setup(format!("creating {}: {e}", parent.display())))?;
        }
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .and_then(|mut f| io::Write::write_all(&mut f, content.as_bytes()));
        written.map_err(|e| Error::Setup(format!("writing {}: {e}", target.display())))?;
    }
    Ok(())
}

/// What the child does between fork and exec. Plain data, so that the closure allocates nothing.
#[derive(Debug, Clone, Copy)]
struct ChildSetup {
    max_processes: Option<u64>,
    max_file_size: Option<u64>,
    max_memory: Option<u64>,
}

impl From<&Limits> for ChildSetup {
    fn from(limits: &Limits) -> Self {
        ChildSetup {
            max_processes: limits.max_processes,
            max_file_size: limits.max_file_size,
            max_memory: limits.max_memory,
        }
    }
}

/// Sets a resource limit (soft and hard, so that the command cannot raise it again).
macro_rules! set_limit {
    ($resource:expr, $value:expr) => {{
        let value = $value as libc::rlim_t;
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: a valid pointer to a filled rlimit.
        if unsafe { libc::setrlimit($resource, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }};
}

impl ChildSetup {
    fn apply(&self) -> io::Result<()> {
        // A new session: no controlling terminal to push keystrokes into (TIOCSTI needs one),
        // no job-control signals from the caller's terminal, and a process group of its own
        // that the runner can kill as a whole.
        // SAFETY: no arguments; async-signal-safe.
        if unsafe { libc::setsid() } < 0 {
            return Err(io::Error::last_os_error());
        }
        set_limit!(libc::RLIMIT_CORE, 0);
        if let Some(n) = self.max_processes {
            set_limit!(libc::RLIMIT_NPROC, n);
        }
        if let Some(n) = self.max_file_size {
            set_limit!(libc::RLIMIT_FSIZE, n);
        }
        if let Some(n) = self.max_memory {
            set_limit!(libc::RLIMIT_AS, n);
        }
        cloexec_from_3();
        Ok(())
    }
}

/// Marks every descriptor but the standard streams close-on-exec: whatever sandboxpm's parent
/// left open (a socket, a credential file) does not reach the command.
fn cloexec_from_3() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur.min(MAX_FD)
    } else {
        1024
    };
    for fd in 3..max as libc::c_int {
        // SAFETY: fcntl on a descriptor number; a closed one only yields EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Waits for the command, killing its process group when `timeout` passes, and what is left of
/// the group when it ends. Returns the status and whether the timeout struck.
fn wait(mut child: Child, timeout: Option<Duration>) -> io::Result<(ExitStatus, bool)> {
    // The command called setsid: its pid is its process group's id.
    let group = child.id() as libc::pid_t;
    let Some(timeout) = timeout else {
        let status = child.wait();
        kill_group(group);
        return Ok((status?, false));
    };
    // A thread blocks in waitpid so that the command's end is seen at once, not at the next poll.
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::Builder::new()
        .name("sandboxpm-wait".into())
        .spawn(move || {
            let _ = tx.send(child.wait());
        })?;
    let (status, timed_out) = match rx.recv_timeout(timeout) {
        Ok(status) => (status, false),
        Err(_) => {
            kill_group(group);
            let status = rx
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("the waiting thread ended early")));
            (status, true)
        }
    };
    let _ = waiter.join();
    kill_group(group);
    Ok((status?, timed_out))
}

fn kill_group(group: libc::pid_t) {
    if group > 1 {
        // SAFETY: signalling the process group our child created; ESRCH when it is gone.
        unsafe { libc::killpg(group, libc::SIGKILL) };
    }
}

/// Shell convention: the exit code, or 128 + the signal number.
fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 125,
    }
}

/// The network allowlist: the filtering proxy on a private unix socket, and the loopback relay
/// the command reaches it through.
struct NetGrant {
    proxy: Proxy,
    relay: Relay,
}

impl NetGrant {
    fn start(hosts: &[String], dir: &Path) -> Result<NetGrant, Error> {
        let rules = ProxyRules::parse(hosts).map_err(|e| Error::Unsupported(e.to_string()))?;
        // In the run's private directory (0700), outside the command's HOME and TMPDIR: only the
        // relay connects to it.
        let proxy = Proxy::start(rules, &dir.join("proxy.sock"))
            .map_err(|e| Error::Setup(format!("starting the network proxy: {e}")))?;
        let relay = Relay::start(proxy.socket_path())
            .map_err(|e| Error::Setup(format!("starting the proxy relay: {e}")))?;
        Ok(NetGrant { proxy, relay })
    }

    /// Stops both and returns the refused attempts.
    fn stop(self) -> Vec<String> {
        drop(self.relay);
        let log = self.proxy.stop();
        log.blocked.iter().map(ToString::to_string).collect()
    }
}

/// The run's private directory (`0700`, in the caller's temporary directory): `home/` and `tmp/`
/// for the command, the proxy's socket beside them. Removed when dropped.
#[derive(Debug)]
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new() -> io::Result<Scratch> {
        // Canonical, because the profile's rules match the path the kernel resolves
        // (`/var/folders/...` is `/private/var/folders/...`).
        let parent = std::fs::canonicalize(std::env::temp_dir())?;
        let mut template = parent.join("sandboxpm-XXXXXX").into_os_string().into_vec();
        template.push(0);
        // SAFETY: a writable NUL-terminated template, as mkdtemp requires.
        let made = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
        if made.is_null() {
            return Err(io::Error::last_os_error());
        }
        template.pop();
        let scratch = Scratch {
            root: PathBuf::from(OsString::from_vec(template)),
        };
        for dir in [scratch.home(), scratch.tmp()] {
            std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        }
        Ok(scratch)
    }

    fn path(&self) -> &Path {
        &self.root
    }

    fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;

    /// Stands in for sandbox-exec on Linux: records its arguments (NUL-separated) where
    /// `SANDBOX_LOG` says, skips the options and runs the command unconfined.
    const FAKE_SANDBOX_EXEC: &str = r#"#!/bin/sh
if [ -n "$SANDBOX_LOG" ]; then printf '%s\0' "$@" > "$SANDBOX_LOG"; fi
while [ $# -gt 0 ]; do
  case "$1" in
    -p|-D) shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
exec "$@"
"#;

    /// The stand-in launcher, written once per test process. It is run once before use, so
    /// that no test can hit ETXTBSY from a concurrent fork that inherited the writing
    /// descriptor.
    fn launcher() -> &'static Path {
        static LAUNCHER: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
        let (_, path) = LAUNCHER.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sandbox-exec");
            std::fs::write(&path, FAKE_SANDBOX_EXEC).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match std::process::Command::new(&path).arg("/bin/true").status() {
                    Ok(status) if status.success() => break,
                    Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {}
                    other => panic!("the stand-in launcher does not run: {other:?}"),
                }
                assert!(Instant::now() < deadline, "launcher stays busy");
                std::thread::sleep(Duration::from_millis(5));
            }
            (dir, path)
        });
        path
    }

    struct Case {
        dir: tempfile::TempDir,
        policy: ResolvedPolicy,
    }

    impl Case {
        fn new() -> Case {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out");
            let policy = ResolvedPolicy {
                cwd: dir.path().to_path_buf(),
                home: "/home/u".into(),
                grants: vec![],
                symlinks: vec![],
                deny_read: vec![],
                deny_write: vec![],
                unenforced: vec![],
                notes: vec![],
                network: Network::None,
                env: BTreeMap::from([
                    ("PATH".into(), "/usr/bin:/bin".into()),
                    ("OUT".into(), out.to_string_lossy().into_owned()),
                    ("HOME".into(), "/home/u".into()),
                    ("TMPDIR".into(), "/tmp".into()),
                ]),
                limits: Limits::default(),
                home_files: vec![],
                tripwires: Vec::new(),
                tripwire_dir: None,
            };
            Case { dir, policy }
        }

        fn out(&self) -> PathBuf {
            self.dir.path().join("out")
        }

        fn sh(&self, script: &str) -> Result<Outcome, Error> {
            self.run("/bin/sh", script)
        }

        fn run(&self, shell: &str, script: &str) -> Result<Outcome, Error> {
            let cmd = Command {
                program: shell.into(),
                argv: vec!["sh".into(), "-c".into(), script.into()],
            };
            run_with(launcher(), &self.policy, &cmd)
        }
    }

    /// Whether `pid` is gone, or a zombie waiting for a reaper that is not us.
    fn dead(pid: libc::pid_t) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return true;
        }
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next())
                .is_some_and(|state| state == "Z")
        })
    }

    fn eventually_dead(pid: libc::pid_t) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if dead(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn exit_code_is_the_commands() {
        let outcome = Case::new().sh("exit 7").unwrap();
        assert_eq!(outcome.code, 7);
        assert!(!outcome.timed_out);
        assert_eq!(outcome.backend, Backend::Seatbelt);
    }

    #[test]
    fn death_by_signal_is_128_plus_the_signal() {
        let outcome = Case::new().sh("kill -TERM $$").unwrap();
        assert_eq!(outcome.code, 128 + libc::SIGTERM);
    }

    #[test]
    fn timeout_kills_the_whole_group_with_124() {
        let mut case = Case::new();
        case.policy.limits.timeout_secs = Some(1);
        let started = Instant::now();
        let outcome = case.sh("sleep 60 & echo $! > \"$OUT\"; sleep 60").unwrap();
        assert_eq!(outcome.code, 124);
        assert!(outcome.timed_out);
        assert!(started.elapsed() < Duration::from_secs(30));
        let pid: libc::pid_t = std::fs::read_to_string(case.out())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(eventually_dead(pid), "background child {pid} survived");
    }

    #[test]
    fn leftover_processes_die_when_the_command_ends() {
        let case = Case::new();
        let outcome = case.sh("sleep 60 & echo $! > \"$OUT\"; exit 3").unwrap();
        assert_eq!(outcome.code, 3);
        let pid: libc::pid_t = std::fs::read_to_string(case.out())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(eventually_dead(pid), "daemon {pid} outlived the command");
    }

    #[test]
    fn environment_is_the_allowlist_with_private_home_and_tmpdir() {
        let case = Case::new();
        let outcome = case
            .sh("test -d \"$HOME\" && test -w \"$TMPDIR\" && env > \"$OUT\"")
            .unwrap();
        assert_eq!(outcome.code, 0);
        let text = std::fs::read_to_string(case.out()).unwrap();
        let env: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        // Only the policy's variables, and what sh itself sets.
        for name in env.keys() {
            assert!(
                [
                    "PATH", "OUT", "HOME", "TMPDIR", "PWD", "SHLVL", "_", "OLDPWD"
                ]
                .contains(name),
                "{name} leaked into the sandbox"
            );
        }
        // Something this test process has (cargo sets it) did not pass.
        assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
        assert!(!env.contains_key("CARGO_PKG_NAME"));
        let home = Path::new(env["HOME"]);
        assert_ne!(home, Path::new("/home/u"));
        assert!(home.ends_with("home"), "{}", home.display());
        assert!(Path::new(env["TMPDIR"]).ends_with("tmp"));
        assert!(!home.exists(), "the private home outlived the run");
    }

    #[test]
    fn decoys_are_in_the_private_home_only() {
        let mut case = Case::new();
        case.policy.home_files = vec![(".npmrc".into(), "//token=decoy\n".into())];
        let outcome = case
            .sh("cat \"$HOME/.npmrc\" > \"$OUT\" && echo \"$HOME\" >> \"$OUT\"")
            .unwrap();
        assert_eq!(outcome.code, 0);
        let text = std::fs::read_to_string(case.out()).unwrap();
        let (decoy, home) = text.split_once('\n').unwrap();
        assert_eq!(decoy, "//token=decoy");
        assert!(!Path::new(home.trim()).exists());
    }

    #[test]
    fn home_file_outside_the_home_is_refused() {
        let mut case = Case::new();
        case.policy.home_files = vec![("../escape".into(), "x".into())];
        let err = case.sh("true").unwrap_err();
        assert!(
            matches!(err, Error::Setup(ref m) if m.contains("inside the home")),
            "{err}"
        );
    }

    #[test]
    fn launcher_receives_the_profile_and_its_parameters() {
        let mut case = Case::new();
        let log = case.dir.path().join("launcher-args");
        case.policy
            .env
            .insert("SANDBOX_LOG".into(), log.to_string_lossy().into_owned());
        case.policy.grants.push(crate::resolve::Grant {
            path: case.dir.path().to_path_buf(),
            access: crate::resolve::Access::Write,
            kind: crate::resolve::EntryKind::Dir,
        });
        let outcome = case.sh("echo \"$HOME\" > \"$OUT\"").unwrap();
        assert_eq!(outcome.code, 0);
        let raw = std::fs::read(&log).unwrap();
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8(a.to_vec()).unwrap())
            .collect();
        assert_eq!(args[0], "-p");
        assert_eq!(args[1], super::super::profile(&case.policy).text);
        let home = std::fs::read_to_string(case.out()).unwrap();
        let home = home.trim();
        assert!(args.contains(&format!("PRIVATE_HOME={home}")), "{args:?}");
        let grant = format!(
            "WRITE_0={}",
            super::super::darwin_path(case.dir.path()).display()
        );
        assert!(args.contains(&grant), "{args:?}");
        let dash = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(args[dash + 1], "/bin/sh");
        assert_eq!(args[dash + 2], "-c");
    }

    #[test]
    fn missing_program_is_an_exec_error() {
        let case = Case::new();
        let cmd = Command {
            program: "/nonexistent/program".into(),
            argv: vec!["program".into()],
        };
        let err = run_with(launcher(), &case.policy, &cmd).unwrap_err();
        let Error::Exec { errno } = err else {
            panic!("{err}");
        };
        assert_eq!(errno.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn missing_launcher_is_unsupported() {
        let case = Case::new();
        let cmd = Command {
            program: "/bin/true".into(),
            argv: vec!["true".into()],
        };
        let err = run_with(Path::new("/nonexistent/sandbox-exec"), &case.policy, &cmd);
        assert!(matches!(err, Err(Error::Unsupported(ref m)) if m.contains("missing")));
    }

    #[test]
    fn allowlisted_network_goes_through_the_relay_to_the_proxy() {
        let mut case = Case::new();
        case.policy.network = Network::Allow(vec!["allowed.invalid:443".into()]);
        case.policy
            .env
            .insert("NO_PROXY".into(), "127.0.0.1,localhost".into());
        // bash's /dev/tcp stands in for an HTTP client honouring HTTPS_PROXY.
        let script = r#"
            test -z "$NO_PROXY" || exit 90
            port=${HTTPS_PROXY##*:}
            exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 91
            printf 'CONNECT refused.invalid:443 HTTP/1.1\r\nHost: refused.invalid:443\r\n\r\n' >&3
            head -c 12 <&3 > "$OUT"
        "#;
        let outcome = case.run("/bin/bash", script).unwrap();
        assert_eq!(outcome.code, 0);
        assert_eq!(std::fs::read_to_string(case.out()).unwrap(), "HTTP/1.1 403");
        assert!(
            outcome
                .blocked
                .iter()
                .any(|b| b.contains("refused.invalid")),
            "{:?}",
            outcome.blocked
        );
    }

    /// The real `sandbox-exec` with the real default policy: these run only on a Mac. Each
    /// attack writes a control line first, so that a profile that breaks everything fails too.
    #[cfg(target_os = "macos")]
    mod on_macos {
        use std::net::TcpListener;

        use super::*;
        use crate::policy::Policy;

        fn project() -> tempfile::TempDir {
            tempfile::tempdir().unwrap()
        }

        fn resolved(project: &Path, extra: impl FnOnce(&mut Policy)) -> ResolvedPolicy {
            let path = std::env::var("PATH").ok();
            let mut policy = crate::defaults::exec_policy(path.as_deref());
            extra(&mut policy);
            let mut ctx = crate::ResolveContext::from_process().unwrap();
            ctx.cwd = std::fs::canonicalize(project).unwrap();
            crate::resolve(&policy, &ctx).unwrap()
        }

        fn sandboxed(policy: &ResolvedPolicy, shell: &str, script: &str) -> Outcome {
            let cmd = Command {
                program: shell.into(),
                argv: vec!["sh".into(), "-c".into(), script.into()],
            };
            run_with(Path::new(crate::seatbelt::SANDBOX_EXEC), policy, &cmd).unwrap()
        }

        fn control(project: &Path) -> String {
            std::fs::read_to_string(project.join("out.txt")).unwrap_or_default()
        }

        #[test]
        fn sandbox_exec_accepts_the_profile_and_runs_the_control() {
            let dir = project();
            let policy = resolved(dir.path(), |_| {});
            let outcome = sandboxed(&policy, "/bin/sh", "echo control > out.txt");
            assert_eq!(outcome.code, 0);
            assert_eq!(control(dir.path()), "control\n");
        }

        #[test]
        fn script_cannot_read_a_project_secret() {
            let dir = project();
            std::fs::write(dir.path().join(".env"), "TOKEN=s3cret\n").unwrap();
            let policy = resolved(dir.path(), |_| {});
            sandboxed(
                &policy,
                "/bin/sh",
                "echo control > out.txt; cat .env >> out.txt 2>/dev/null; true",
            );
            assert_eq!(control(dir.path()), "control\n");
        }

        #[test]
        fn script_cannot_write_outside_its_grants() {
            let dir = project();
            let victim = tempfile::tempdir().unwrap();
            let policy = resolved(dir.path(), |_| {});
            let script = format!(
                "echo control > out.txt; echo x > '{}/pwned'; true",
                victim.path().display()
            );
            sandboxed(&policy, "/bin/sh", &script);
            assert_eq!(control(dir.path()), "control\n");
            assert!(!victim.path().join("pwned").exists());
        }

        #[test]
        fn script_cannot_move_the_git_dir_away_from_its_hooks() {
            let dir = project();
            std::fs::create_dir_all(dir.path().join(".git/hooks")).unwrap();
            let policy = resolved(dir.path(), |_| {});
            sandboxed(
                &policy,
                "/bin/sh",
                "echo control > out.txt; mv .git .git-old; mkdir -p .git/hooks; \
                 echo evil > .git/hooks/pre-commit; true",
            );
            assert_eq!(control(dir.path()), "control\n");
            assert!(!dir.path().join(".git-old").exists());
            assert!(!dir.path().join(".git/hooks/pre-commit").exists());
        }

        #[test]
        fn script_cannot_connect_to_a_loopback_service() {
            let dir = project();
            let service = TcpListener::bind("127.0.0.1:0").unwrap();
            service.set_nonblocking(true).unwrap();
            let port = service.local_addr().unwrap().port();
            let policy = resolved(dir.path(), |_| {});
            let script = format!(
                "echo control > out.txt; exec 3<>/dev/tcp/127.0.0.1/{port} && echo open >> out.txt"
            );
            sandboxed(&policy, "/bin/bash", &script);
            assert_eq!(control(dir.path()), "control\n");
            assert!(
                service.accept().is_err(),
                "a connection reached the service"
            );
        }

        #[test]
        fn script_cannot_signal_a_host_process() {
            let dir = project();
            let mut host = std::process::Command::new("/bin/sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let policy = resolved(dir.path(), |_| {});
            let script = format!("echo control > out.txt; kill -KILL {}; true", host.id());
            sandboxed(&policy, "/bin/sh", &script);
            assert_eq!(control(dir.path()), "control\n");
            assert!(
                host.try_wait().unwrap().is_none(),
                "the host process was killed"
            );
            let _ = host.kill();
            let _ = host.wait();
        }
    }
}
