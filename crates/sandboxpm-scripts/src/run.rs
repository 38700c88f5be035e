//! Running one script in the sandbox, through a `sandboxpm sandbox-helper` process.
//!
//! The installer is multi-threaded and a user namespace can only be entered by a single-threaded
//! process, so each script runs in a fresh helper process ([`sandboxpm_sandbox::helper`]): the
//! already resolved policy and `sh -c <script>` go into a private request file, the helper reads
//! and deletes it, builds the sandbox and executes the script. On Linux the helper is forked by a
//! zygote started before the first script ([`sandboxpm_sandbox::zygote`]), which saves
//! re-executing the binary for every script, and the request travels in a sealed memfd instead
//! of a file; when the zygote cannot start or has gone, or with
//! `SANDBOXPM_ZYGOTE=0`, the binary is re-executed per script. Here we only start the helper,
//! collect what it prints and how it ended.
//!
//! Output is captured, not streamed, so parallel scripts do not interleave on the terminal; a
//! script that prints without end keeps only its last [`MAX_OUTPUT_BYTES`] per stream.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sandboxpm_config::SandboxBackend;
use sandboxpm_sandbox::helper::{self, Request};
use sandboxpm_sandbox::{Backend, Command, ResolvedPolicy};

use crate::error::ScriptsError;

/// The most output kept per stream (the end of it: that is where the error is).
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// The shell scripts run with, as npm does.
pub const SHELL: &str = "/bin/sh";

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOutcome {
    /// The exit code: the script's, 128 + N for a signal, 124 on timeout, 125 when the sandbox
    /// could not be set up, 126/127 when the shell could not be executed.
    pub code: i32,
    /// What it printed on standard output.
    pub stdout: String,
    /// What it (and the sandbox helper) printed on standard error.
    pub stderr: String,
    /// Whether output was cut to [`MAX_OUTPUT_BYTES`].
    pub truncated: bool,
    /// How long it took, sandbox set-up included.
    pub duration: Duration,
}

impl ScriptOutcome {
    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Standard output, then standard error.
    pub fn output(&self) -> String {
        let mut out = self.stdout.clone();
        if !out.is_empty() && !out.ends_with('\n') && !self.stderr.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.stderr);
        out
    }
}

/// Something that runs a script under a resolved policy (the sandbox helper, or a fake in
/// tests of the scheduling).
pub trait ScriptExecutor: Sync {
    /// Runs `script` with `sh -c` under `policy`.
    fn execute(&self, policy: &ResolvedPolicy, script: &str)
    -> Result<ScriptOutcome, ScriptsError>;

    /// Gets `script` ready to start without starting it: an executor that can builds its sandbox
    /// now, while other scripts run, and holds the script back until [`Staged::run`]. Dropping
    /// what it returns cancels it before any of the script ran. By default nothing is done
    /// ahead, and [`Staged::run`] calls [`ScriptExecutor::execute`].
    fn stage(&self, _policy: &ResolvedPolicy, _script: &str) -> Staged {
        Staged::Later
    }
}

/// A script made ready by [`ScriptExecutor::stage`].
pub enum Staged {
    /// Nothing was done ahead.
    Later,
    /// Its sandbox is built; the script waits to be let go.
    Held(Box<dyn HeldScript>),
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Staged::Later => "Staged::Later",
            Staged::Held(_) => "Staged::Held",
        })
    }
}

impl Staged {
    /// Starts the script (`policy` and `script` are the ones it was staged with), calls
    /// `started` as soon as it runs (before it, when it was not held), and waits for its end.
    pub fn run(
        self,
        executor: &dyn ScriptExecutor,
        policy: &ResolvedPolicy,
        script: &str,
        started: &mut dyn FnMut(),
    ) -> Result<ScriptOutcome, ScriptsError> {
        match self {
            Staged::Later => {
                started();
                executor.execute(policy, script)
            }
            Staged::Held(held) => held.run(started),
        }
    }
}

/// A script held back in its finished sandbox.
pub trait HeldScript: Send {
    /// Lets it start, calls `started` once it has, and waits for its end.
    fn run(self: Box<Self>, started: &mut dyn FnMut()) -> Result<ScriptOutcome, ScriptsError>;
}

/// Runs scripts through `<exe> sandbox-helper`.
#[derive(Debug, Clone)]
pub struct SandboxRunner {
    /// The `sandboxpm` binary.
    pub exe: PathBuf,
    /// Where request files are written (private; [`helper::request_dir`] by default).
    pub request_dir: PathBuf,
    /// The backend the helper uses.
    pub backend: Backend,
    /// The forking helper, started by the first script; `None` inside when it cannot start.
    #[cfg(target_os = "linux")]
    zygote: std::sync::Arc<std::sync::OnceLock<Option<sandboxpm_sandbox::zygote::Zygote>>>,
    /// The zygote's tripwire slots, and which are free (see [`SandboxRunner::tripwire_slots`]).
    #[cfg(target_os = "linux")]
    slots: Option<(SlotsSetup, SlotPool)>,
}

#[cfg(target_os = "linux")]
use sandboxpm_sandbox::tripwire::SlotsSetup;

/// The free tripwire slots of a zygote.
#[cfg(target_os = "linux")]
type SlotPool = std::sync::Arc<std::sync::Mutex<Vec<usize>>>;

/// A tripwire slot held by one request, from its submission until its helper has reported (its
/// status read) or it was cancelled; then it is free again.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct SlotLease {
    pool: SlotPool,
    slot: usize,
}

#[cfg(target_os = "linux")]
impl Drop for SlotLease {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.lock() {
            free.push(self.slot);
        }
    }
}

impl SandboxRunner {
    /// A runner with the `auto` backend.
    pub fn new(exe: &Path, request_dir: &Path) -> Self {
        SandboxRunner {
            exe: exe.to_owned(),
            request_dir: request_dir.to_owned(),
            backend: Backend::Auto,
            #[cfg(target_os = "linux")]
            zygote: std::sync::Arc::default(),
            #[cfg(target_os = "linux")]
            slots: None,
        }
    }

    /// Has the zygote keep the `tripwires` (paths relative to the home, their content from
    /// `home_files`) watched in slots, one per sandbox alive at once (those running and those
    /// staged), so that no sandbox sets up or tears down a watch of its own (see
    /// [`sandboxpm_sandbox::tripwire`]). Scripts whose policy has exactly these tripwires get a
    /// slot while one is free; the others get a one-off slot from their helper. Call before
    /// [`SandboxRunner::warm_up`].
    pub fn tripwire_slots(&mut self, home_files: &[(PathBuf, String)], tripwires: &[PathBuf]) {
        #[cfg(target_os = "linux")]
        {
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
            let slots = 2 * workers + 1;
            let pool = std::sync::Arc::new(std::sync::Mutex::new((0..slots).rev().collect()));
            self.slots = Some((SlotsSetup::new(home_files, tripwires, slots), pool));
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (home_files, tripwires);
    }

    /// Starts the forking helper now rather than at the first script, so that its start-up
    /// overlaps the caller's own work.
    pub fn warm_up(&self) {
        #[cfg(target_os = "linux")]
        let _ = self.zygote();
    }

    /// The zygote, started on first use (unless `SANDBOXPM_ZYGOTE=0`).
    #[cfg(target_os = "linux")]
    fn zygote(&self) -> Option<&sandboxpm_sandbox::zygote::Zygote> {
        self.zygote
            .get_or_init(|| {
                if std::env::var_os("SANDBOXPM_ZYGOTE").is_some_and(|v| v == "0") {
                    return None;
                }
                match &self.slots {
                    Some((setup, _)) => {
                        sandboxpm_sandbox::zygote::Zygote::start_with(&self.exe, setup).ok()
                    }
                    None => sandboxpm_sandbox::zygote::Zygote::start(&self.exe).ok(),
                }
            })
            .as_ref()
    }

    /// Runs `request` through the zygote; `None` when there is none or it has gone (the caller
    /// then re-executes the binary).
    #[cfg(target_os = "linux")]
    fn through_zygote(&self, request: &mut Request) -> Option<Result<ScriptOutcome, ScriptsError>> {
        let zygote = self.zygote()?;
        let started = Instant::now();
        let lease = self.lease_slot(request);
        let Ok(submitted) = zygote.submit(request) else {
            // The re-executed helper has no slots.
            request.tripwire_slot = None;
            return None;
        };
        let outcome = collect_submitted(submitted, started);
        drop(lease);
        Some(Ok(outcome))
    }

    /// A free tripwire slot for `request`, named in it, if its tripwires are those of the slots.
    #[cfg(target_os = "linux")]
    fn lease_slot(&self, request: &mut Request) -> Option<SlotLease> {
        let (setup, pool) = self.slots.as_ref()?;
        if !setup.serves(&request.policy.tripwires) {
            return None;
        }
        let slot = pool.lock().ok()?.pop()?;
        request.tripwire_slot = Some(slot);
        Some(SlotLease {
            pool: pool.clone(),
            slot,
        })
    }

    /// `sh -c script` under `policy`, for the helper.
    fn request(&self, policy: &ResolvedPolicy, script: &str) -> Request {
        Request {
            policy: policy.clone(),
            command: Command {
                program: PathBuf::from(SHELL),
                argv: vec![
                    OsString::from("sh"),
                    OsString::from("-c"),
                    OsString::from(script),
                ],
            },
            backend: self.backend,
            tripwire_slot: None,
        }
    }
}

/// The output and exit code of a zygote's child, `started` being when the script was let go.
#[cfg(target_os = "linux")]
fn collect_submitted(
    submitted: sandboxpm_sandbox::zygote::Submitted,
    started: Instant,
) -> ScriptOutcome {
    let (stdout, stderr, truncated) = read_both(Some(&submitted.stdout), Some(&submitted.stderr));
    let mut stderr = stderr;
    let code = submitted.wait().unwrap_or_else(|| {
        stderr.push_str(
            "sandboxpm: the sandbox helper ended without an exit status (it was killed)\n",
        );
        125
    });
    ScriptOutcome {
        code,
        stdout,
        stderr,
        truncated,
        duration: started.elapsed(),
    }
}

/// A script held in a zygote child's finished sandbox, with its tripwire slot.
#[cfg(target_os = "linux")]
struct HeldInZygote(sandboxpm_sandbox::zygote::Submitted, Option<SlotLease>);

#[cfg(target_os = "linux")]
impl HeldScript for HeldInZygote {
    fn run(self: Box<Self>, started: &mut dyn FnMut()) -> Result<ScriptOutcome, ScriptsError> {
        let HeldInZygote(mut submitted, lease) = *self;
        let at = Instant::now();
        // If the child has already ended (its sandbox could not be built), the gate has no
        // reader; what it printed and its status say why.
        let _ = submitted.start();
        // Whatever the caller does next (staging another script) waits until this one runs.
        submitted.wait_started();
        started();
        let outcome = collect_submitted(submitted, at);
        drop(lease);
        Ok(outcome)
    }
}

impl ScriptExecutor for SandboxRunner {
    /// Through the zygote, the sandbox is built now and the script held at its `execve`.
    fn stage(&self, policy: &ResolvedPolicy, script: &str) -> Staged {
        #[cfg(target_os = "linux")]
        if let Some(zygote) = self.zygote() {
            let mut request = self.request(policy, script);
            let lease = self.lease_slot(&mut request);
            if let Ok(submitted) = zygote.submit_held(&request) {
                return Staged::Held(Box::new(HeldInZygote(submitted, lease)));
            }
        }
        let _ = (policy, script);
        Staged::Later
    }

    fn execute(
        &self,
        policy: &ResolvedPolicy,
        script: &str,
    ) -> Result<ScriptOutcome, ScriptsError> {
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut request = self.request(policy, script);
        #[cfg(target_os = "linux")]
        if let Some(outcome) = self.through_zygote(&mut request) {
            return outcome;
        }
        let mut cmd =
            helper::command(&self.exe, &self.request_dir, &request).map_err(|source| {
                ScriptsError::Request {
                    dir: self.request_dir.clone(),
                    source,
                }
            })?;
        let request_file = cmd.get_args().last().map(PathBuf::from);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let spawn_error = |source| ScriptsError::Spawn {
            exe: self.exe.clone(),
            source,
        };
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(source) => {
                // The helper never ran, so nothing else removes the request (it holds the
                // script's environment).
                if let Some(file) = request_file {
                    let _ = std::fs::remove_file(file);
                }
                return Err(spawn_error(source));
            }
        };
        collect(child, started).map_err(spawn_error)
    }
}

/// Runs scripts with no sandbox at all: only ever chosen by a person, on a terminal, after two
/// confirmations, when no backend can start (DESIGN.md, "Security model"). The environment is
/// still the policy's (npm's lifecycle variables, not the caller's secrets), but the script sees
/// the real home directory, network and files.
#[derive(Debug, Clone, Default)]
pub struct UnsandboxedRunner;

impl ScriptExecutor for UnsandboxedRunner {
    fn execute(
        &self,
        policy: &ResolvedPolicy,
        script: &str,
    ) -> Result<ScriptOutcome, ScriptsError> {
        let mut cmd = std::process::Command::new(SHELL);
        cmd.args(["-c", script])
            .current_dir(&policy.cwd)
            .env_clear()
            .envs(&policy.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_error = |source| ScriptsError::Spawn {
            exe: PathBuf::from(SHELL),
            source,
        };
        let started = Instant::now();
        let child = cmd.spawn().map_err(spawn_error)?;
        collect(child, started).map_err(spawn_error)
    }
}

/// Reads a child's output (the tail of it) and waits for it.
fn collect(mut child: std::process::Child, started: Instant) -> std::io::Result<ScriptOutcome> {
    let (stdout, stderr, truncated) = read_both(child.stdout.take(), child.stderr.take());
    let status = child.wait()?;
    Ok(ScriptOutcome {
        code: exit_code(status),
        stdout,
        stderr,
        truncated,
        duration: started.elapsed(),
    })
}

/// Reads two streams to their ends at once (the tail of each); whether either was cut.
fn read_both<O: Read + Send, E: Read>(
    stdout: Option<O>,
    stderr: Option<E>,
) -> (String, String, bool) {
    let ((stdout, cut_out), (stderr, cut_err)) = std::thread::scope(|s| {
        let out = s.spawn(|| read_tail(stdout));
        let err = read_tail(stderr);
        (out.join().unwrap_or_default(), err)
    });
    (stdout, stderr, cut_out || cut_err)
}

/// Runs `script` with `sh -c` under `policy` through `<exe> sandbox-helper`, request files in
/// `request_dir`, with the `auto` backend.
pub fn run_script(
    exe: &Path,
    request_dir: &Path,
    policy: &ResolvedPolicy,
    script: &str,
) -> Result<ScriptOutcome, ScriptsError> {
    SandboxRunner::new(exe, request_dir).execute(policy, script)
}

/// The helper backend for `.sandboxpmrc` `sandbox.backend`. A backend that cannot run here
/// fails when the script starts, never silently replaced by another.
pub fn helper_backend(configured: SandboxBackend) -> Backend {
    match configured {
        SandboxBackend::Auto => Backend::Auto,
        SandboxBackend::Native => Backend::Native,
        SandboxBackend::Landlock => Backend::Landlock,
        SandboxBackend::Bwrap => Backend::Bwrap,
        SandboxBackend::Docker => Backend::Docker,
        SandboxBackend::Seatbelt => Backend::Seatbelt,
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Reads a stream to its end, keeping the last [`MAX_OUTPUT_BYTES`].
fn read_tail<R: Read>(stream: Option<R>) -> (String, bool) {
    let Some(mut stream) = stream else {
        return (String::new(), false);
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * MAX_OUTPUT_BYTES {
                    kept.drain(..kept.len() - MAX_OUTPUT_BYTES);
                    cut = true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if kept.len() > MAX_OUTPUT_BYTES {
        kept.drain(..kept.len() - MAX_OUTPUT_BYTES);
        cut = true;
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

#[cfg(all(test, target_os = "linux"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tripwire_slots_go_one_per_request_and_come_back_with_the_lease() {
        let mut runner = SandboxRunner::new(Path::new("/nonexistent"), Path::new("/tmp"));
        let key = PathBuf::from(".ssh/id_rsa");
        runner.tripwire_slots(&[(key.clone(), "key".into())], std::slice::from_ref(&key));
        let total = runner.slots.as_ref().unwrap().0.slots;
        let ctx = sandboxpm_sandbox::ResolveContext {
            cwd: "/nonexistent".into(),
            home: None,
            passwd_home: None,
            env: Default::default(),
            glob_limit: 8,
        };
        let mut policy = sandboxpm_sandbox::resolve(&Default::default(), &ctx).unwrap();
        policy.tripwires = vec![key];
        let request = runner.request(&policy, "true");
        let lease = |request: &Request| {
            let mut sent = request.clone();
            let lease = runner.lease_slot(&mut sent);
            (sent, lease)
        };
        let mut leases = Vec::new();
        for _ in 0..total {
            let (sent, lease) = lease(&request);
            assert_eq!(sent.tripwire_slot, lease.as_ref().map(|l| l.slot));
            leases.push(lease.unwrap());
        }
        let mut held: Vec<usize> = leases.iter().map(|l| l.slot).collect();
        held.sort_unstable();
        assert_eq!(held, (0..total).collect::<Vec<_>>(), "each slot once");
        // None left: the request goes without one (its helper makes its own).
        assert_eq!(lease(&request).0.tripwire_slot, None);
        drop(leases.pop());
        // Other tripwires never take a slot, and take none away.
        let mut other = request.clone();
        other.policy.tripwires = vec![PathBuf::from(".aws/credentials")];
        assert_eq!(lease(&other).0.tripwire_slot, None);
        let (sent, lease) = lease(&request);
        assert!(sent.tripwire_slot.is_some() && lease.is_some());
    }
}
