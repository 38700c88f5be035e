//! Preparing approved packages' scripts and running them level by level.
//!
//! Preparation happens before anything runs: every script gets its environment and its policy,
//! resolved against this machine, so a configuration problem stops the install before the first
//! package code executes rather than half-way through.
//!
//! Running follows [`crate::script_levels`]: levels in order; inside a level, packages in
//! parallel on at most as many threads as the machine has cores (each script is its own helper
//! process, so a thread mostly waits); a package's own scripts in npm's order (`preinstall`,
//! `install`, `postinstall`), stopping at its first failure. After the first failure of a
//! non-optional package nothing new is started (scripts already running finish) and the failure
//! is reported with its output; an optional package's failure is a warning, as in npm.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sandboxpm_config::{NpmConfig, SandboxpmSettings};
use sandboxpm_npm::InstallEvent;
use sandboxpm_sandbox::{ResolveContext, ResolvedPolicy};

use crate::decoys::detect_decoy_use;
use crate::discovery::PackageScripts;
use crate::env::{ScriptEnvInputs, script_env};
use crate::error::ScriptsError;
use crate::policy::{ScriptPolicyInputs, resolve_script_policy, script_policy};
use crate::run::{ScriptExecutor, ScriptOutcome};
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
pub fn run_all(
    executor: &dyn ScriptExecutor,
    levels: &[Vec<String>],
    jobs: &BTreeMap<String, ScriptJob>,
    progress: &(dyn Fn(&RunEvent<'_>) + Sync),
) -> RunReport {
    let workers_max = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = AtomicBool::new(false);
    let report = Mutex::new(RunReport::default());
    for level in levels {
        let level: Vec<&ScriptJob> = level.iter().filter_map(|k| jobs.get(k)).collect();
        if stop.load(Ordering::SeqCst) {
            lock(&report)
                .not_run
                .extend(level.iter().map(|j| j.key.clone()));
            continue;
        }
        let next = AtomicUsize::new(0);
        let workers = workers_max.min(level.len()).max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(job) = level.get(i) else { break };
                        if stop.load(Ordering::SeqCst) {
                            lock(&report).not_run.push(job.key.clone());
                            continue;
                        }
                        if let Err(failure) = run_job(executor, job, progress, &report)
                            && !job.optional
                        {
                            // Record before raising the flag, so the first failure is first.
                            lock(&report).failures.push(*failure);
                            stop.store(true, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
    }
    let mut report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    report.not_run.sort();
    report
}

/// Runs one package's scripts in order; the failure, if any (optional ones are recorded as
/// warnings here).
fn run_job(
    executor: &dyn ScriptExecutor,
    job: &ScriptJob,
    progress: &(dyn Fn(&RunEvent<'_>) + Sync),
    report: &Mutex<RunReport>,
) -> Result<(), Box<ScriptFailure>> {
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
        let result = executor.execute(&script.policy, &script.command);
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
