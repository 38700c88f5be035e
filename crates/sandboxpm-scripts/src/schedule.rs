//! Preparing approved packages' scripts and running them level by level.
//!
//! Preparation happens before anything runs: every script gets its environment and its policy,
//! resolved against this machine, so a configuration problem stops the install before the first
//! package code executes rather than half-way through.
//!
//! Running follows [`crate::script_levels`]: levels in order; inside a level, packages in
//! parallel on at most as many threads as the machine has cores (each script is its own helper
//! process, so a thread mostly waits); a package's own scripts in npm's order (`preinstall`,
//! `install`, `postinstall`), stopping at its first failure. While scripts run, the sandboxes of
//! the next ones are built and held at their `execve` ([`ScriptExecutor::stage`]), so that a
//! free worker starts the next script at once. After the first failure of a non-optional package
//! nothing new is started (scripts already running finish, staged ones are cancelled unrun) and
//! the failure is reported with its output; an optional package's failure is a warning, as in npm.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Condvar, Mutex};

use sandboxpm_config::{NpmConfig, SandboxpmSettings};
use sandboxpm_npm::InstallEvent;
use sandboxpm_sandbox::{ResolveContext, ResolvedPolicy};

use crate::decoys::detect_decoy_use;
use crate::discovery::PackageScripts;
use crate::env::{ScriptEnvInputs, script_env};
use crate::error::ScriptsError;
use crate::policy::{ScriptPolicyInputs, resolve_script_policy, script_policy};
use crate::run::{ScriptExecutor, ScriptOutcome, Staged};
use crate::toolchain::Toolchain;

/// What preparing scripts needs to know about the project and the machine.
#[derive(Debug, Clone, Copy)]
pub struct ScriptContext<'a> {
    /// The project root.
    pub project_dir: &'a Path,
    /// `.sandboxpmrc` (pass-through variables, per-package grants).
    pub settings: &'a SandboxpmSettings,
    /// npm's configuration (non-secret `npm_config_*`).
    pub npm_config: &'a NpmConfig,
    /// node, npm and the build tools.
    pub toolchain: &'a Toolchain,
    /// The caller's environment.
    pub caller_env: &'a BTreeMap<String, String>,
    /// The caller's homes, for `~` in policies.
    pub resolve_base: &'a ResolveContext,
    /// The per-script timeout; `None` for the default.
    pub timeout_secs: Option<u64>,
    /// The store's directory of shared package directories, which dependencies may link into.
    pub shared_dir: Option<&'a Path>,
}

/// One script ready to run.
#[derive(Debug, Clone)]
pub struct PreparedScript {
    /// The lifecycle event.
    pub event: InstallEvent,
    /// The script text.
    pub command: String,
    /// Its resolved policy, environment included.
    pub policy: ResolvedPolicy,
}

/// One package's scripts, ready to run.
#[derive(Debug, Clone)]
pub struct ScriptJob {
    /// The lockfile key.
    pub key: String,
    /// `name@version`.
    pub package: String,
    /// Whether a failure is only a warning.
    pub optional: bool,
    /// The scripts, in the order they run.
    pub scripts: Vec<PreparedScript>,
}

/// Builds the environment and resolved policy of each runnable script of `package`.
pub fn prepare_job(
    ctx: &ScriptContext<'_>,
    package: &PackageScripts,
) -> Result<ScriptJob, ScriptsError> {
    let policy = script_policy(&ScriptPolicyInputs {
        project_dir: ctx.project_dir,
        package,
        toolchain: ctx.toolchain,
        caller_path: ctx.caller_env.get("PATH").map(String::as_str),
        grants: ctx.settings.packages.get(&package.name),
        timeout_secs: ctx.timeout_secs,
        npm_config_files: &ctx.npm_config.files,
        shared_dir: ctx.shared_dir,
    });
    let mut scripts = Vec::new();
    for (event, command) in package.runnable() {
        let env = script_env(&ScriptEnvInputs {
            project_dir: ctx.project_dir,
            package,
            event,
            command,
            toolchain: ctx.toolchain,
            npm_config: ctx.npm_config,
            caller_env: ctx.caller_env,
            passthrough: &ctx.settings.env_passthrough,
        });
        let resolved = resolve_script_policy(&policy, ctx.resolve_base, &package.dir, &env)
            .map_err(|source| ScriptsError::Resolve {
                package: package.id(),
                event: event.name(),
                source,
            })?;
        scripts.push(PreparedScript {
            event,
            command: command.to_owned(),
            policy: resolved,
        });
    }
    Ok(ScriptJob {
        key: package.key.clone(),
        package: package.id(),
        optional: package.optional,
        scripts,
    })
}

/// What the scheduler tells its caller as scripts start and end (for progress output).
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// A script starts.
    Started {
        /// The package.
        job: &'a ScriptJob,
        /// The script.
        script: &'a PreparedScript,
    },
    /// A script ended (or could not be started: `outcome` is the error's text).
    Finished {
        /// The package.
        job: &'a ScriptJob,
        /// The script.
        script: &'a PreparedScript,
        /// How it ended.
        outcome: Result<&'a ScriptOutcome, String>,
    },
}

/// A script that ran.
#[derive(Debug, Clone)]
pub struct ScriptRun {
    /// The lockfile key.
    pub key: String,
    /// `name@version`.
    pub package: String,
    /// The lifecycle event.
    pub event: InstallEvent,
    /// How it ended.
    pub outcome: ScriptOutcome,
    /// Decoy credentials whose contents appeared in its output (see [`crate::decoys`]).
    pub decoys: Vec<String>,
}

/// A script that failed or could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFailure {
    /// The lockfile key.
    pub key: String,
    /// `name@version`.
    pub package: String,
    /// The lifecycle event.
    pub event: InstallEvent,
    /// The script.
    pub command: String,
    /// `exit code N`, or why it did not run.
    pub status: String,
    /// What it printed.
    pub output: String,
}

impl ScriptFailure {
    /// The failure as an error for the caller to stop with.
    pub fn to_error(&self) -> ScriptsError {
        ScriptsError::ScriptFailed {
            package: self.package.clone(),
            event: self.event.name(),
            command: self.command.clone(),
            status: self.status.clone(),
            output: self.output.clone(),
        }
    }
}

/// What [`run_all`] did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Every script that ran to an end, in the order they ended.
    pub runs: Vec<ScriptRun>,
    /// Failures of non-optional packages, first one first.
    pub failures: Vec<ScriptFailure>,
    /// Failures of optional packages.
    pub warnings: Vec<ScriptFailure>,
    /// Keys of packages that were not started because of a failure.
    pub not_run: Vec<String>,
}

impl RunReport {
    /// `Err` with the first non-optional failure, if there was one.
    pub fn into_result(self) -> Result<Self, ScriptsError> {
        match self.failures.first() {
            Some(failure) => Err(failure.to_error()),
            None => Ok(self),
        }
    }
}

/// Runs `jobs` level by level (`levels` from [`crate::script_levels`]; keys without a job are
/// skipped), reporting each start and end to `progress`.
///
/// At most as many scripts run at once as the machine has cores, and a level starts once the
/// levels before it have ended. While scripts run, the next ones are staged
/// ([`ScriptExecutor::stage`]): their sandboxes are built ahead, at most one per worker, and each
/// starts the moment a worker is free and its level may begin. A staged script that is not to
/// run (a failure stopped the install) is cancelled before any of it ran.
pub fn run_all(
    executor: &dyn ScriptExecutor,
    levels: &[Vec<String>],
    jobs: &BTreeMap<String, ScriptJob>,
    progress: &(dyn Fn(&RunEvent<'_>) + Sync),
) -> RunReport {
    run_all_staged(executor, levels, jobs, BTreeMap::new(), progress)
}

/// [`run_all`], with the first scripts of some jobs already staged by the caller (by key; from
/// the same executor), for instance while the other jobs were still being prepared.
pub fn run_all_staged(
    executor: &dyn ScriptExecutor,
    levels: &[Vec<String>],
    jobs: &BTreeMap<String, ScriptJob>,
    mut staged: BTreeMap<String, Staged>,
    progress: &(dyn Fn(&RunEvent<'_>) + Sync),
) -> RunReport {
    // Every job with its level, in level order.
    let order: Vec<(usize, &ScriptJob)> = levels
        .iter()
        .enumerate()
        .flat_map(|(level, keys)| {
            keys.iter()
                .filter_map(|k| jobs.get(k))
                .map(move |job| (level, job))
        })
        .collect();
    let staged: BTreeMap<usize, Staged> = order
        .iter()
        .enumerate()
        .filter_map(|(i, (_, job))| staged.remove(&job.key).map(|s| (i, s)))
        .collect();
    let mut claimed = vec![false; order.len()];
    for i in staged.keys() {
        claimed[*i] = true;
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(order.len())
        .max(1);
    let mut unfinished = vec![0; levels.len()];
    for (level, _) in &order {
        unfinished[*level] += 1;
    }
    let board = Board {
        state: Mutex::new(BoardState {
            claimed,
            staged,
            unfinished,
            stop: false,
        }),
        changed: Condvar::new(),
    };
    let report = Mutex::new(RunReport::default());
    // Claims the next job and stages its first script, while fewer than `workers` wait staged.
    let stage_next = || {
        let i = {
            let mut state = board.lock();
            if state.stop || state.staged.len() >= workers {
                return;
            }
            let Some(i) = state.claim() else { return };
            i
        };
        let staged = match order[i].1.scripts.first() {
            Some(first) => executor.stage(&first.policy, &first.command),
            None => Staged::Later,
        };
        board.lock().staged.insert(i, staged);
        board.changed.notify_all();
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    // The earliest staged job, else the next one not yet claimed.
                    let (i, staged) = {
                        let mut state = board.lock();
                        if let Some((i, staged)) = state.staged.pop_first() {
                            (i, Some(staged))
                        } else if let Some(i) = state.claim() {
                            (i, None)
                        } else {
                            break;
                        }
                    };
                    let (level, job) = order[i];
                    if !board.wait_for_levels_before(level) {
                        // Dropping a staged script cancels it.
                        drop(staged);
                        lock(&report).not_run.push(job.key.clone());
                        board.finished(level, false);
                        continue;
                    }
                    let mut started = || stage_next();
                    let failed =
                        match run_job(executor, job, staged, &mut started, progress, &report) {
                            Err(failure) if !job.optional => {
                                // Record before raising the flag, so the first failure is first.
                                lock(&report).failures.push(*failure);
                                true
                            }
                            _ => false,
                        };
                    board.finished(level, failed);
                }
            });
        }
    });
    let mut report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    report.not_run.sort();
    report
}

/// The scheduler's shared state.
struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
}

struct BoardState {
    /// Per job (index into the run order), whether a worker or the pool has it.
    claimed: Vec<bool>,
    /// Claimed jobs whose first script is staged, by index.
    staged: BTreeMap<usize, Staged>,
    /// Per level, the jobs that have not ended (or been skipped).
    unfinished: Vec<usize>,
    /// A non-optional package failed: nothing new starts.
    stop: bool,
}

impl BoardState {
    /// The first job nobody has claimed, now claimed.
    fn claim(&mut self) -> Option<usize> {
        let i = self.claimed.iter().position(|c| !c)?;
        self.claimed[i] = true;
        Some(i)
    }
}

impl Board {
    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until every level before `level` has ended; `false` if the install stopped.
    fn wait_for_levels_before(&self, level: usize) -> bool {
        let mut state = self.lock();
        while !state.stop && state.unfinished[..level].iter().any(|&n| n > 0) {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        !state.stop
    }

    fn finished(&self, level: usize, failed: bool) {
        let mut state = self.lock();
        state.unfinished[level] -= 1;
        state.stop |= failed;
        drop(state);
        self.changed.notify_all();
    }
}

/// Runs one package's scripts in order, the first one `staged` if it was; the failure, if any
/// (optional ones are recorded as warnings here). `started` is called once the first script
/// runs.
fn run_job(
    executor: &dyn ScriptExecutor,
    job: &ScriptJob,
    mut staged: Option<Staged>,
    started: &mut dyn FnMut(),
    progress: &(dyn Fn(&RunEvent<'_>) + Sync),
    report: &Mutex<RunReport>,
) -> Result<(), Box<ScriptFailure>> {
    let mut started = Some(started);
    for script in &job.scripts {
        progress(&RunEvent::Started { job, script });
        let failure = |status: String, output: String| ScriptFailure {
            key: job.key.clone(),
            package: job.package.clone(),
            event: script.event,
            command: script.command.clone(),
            status,
            output,
        };
        let mut first_started = || {
            if let Some(started) = started.take() {
                started();
            }
        };
        // Unstaged scripts are staged and let go at once: `started` then hears when it runs.
        let staged = staged
            .take()
            .unwrap_or_else(|| executor.stage(&script.policy, &script.command));
        let result = staged.run(
            executor,
            &script.policy,
            &script.command,
            &mut first_started,
        );
        let failed = match result {
            Ok(outcome) => {
                progress(&RunEvent::Finished {
                    job,
                    script,
                    outcome: Ok(&outcome),
                });
                let failed = (!outcome.success()).then(|| {
                    failure(
                        if outcome.code == 124 {
                            "timed out".to_owned()
                        } else {
                            format!("exit code {}", outcome.code)
                        },
                        outcome.output(),
                    )
                });
                let decoys = detect_decoy_use(&outcome.output());
                lock(report).runs.push(ScriptRun {
                    key: job.key.clone(),
                    package: job.package.clone(),
                    event: script.event,
                    outcome,
                    decoys,
                });
                failed
            }
            Err(err) => {
                let text = error_chain(&err);
                progress(&RunEvent::Finished {
                    job,
                    script,
                    outcome: Err(text.clone()),
                });
                Some(failure(format!("not run: {text}"), String::new()))
            }
        };
        if let Some(failed) = failed {
            if job.optional {
                lock(report).warnings.push(failed.clone());
            }
            return Err(Box::new(failed));
        }
    }
    Ok(())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn lock(report: &Mutex<RunReport>) -> std::sync::MutexGuard<'_, RunReport> {
    report.lock().unwrap_or_else(|e| e.into_inner())
}
