//! The install-script phase of `install`: discover, decide (`.sandboxpmrc`, the prompt, or
//! `policies.onBlock` without a terminal), and run the approved scripts, each in its own sandbox,
//! dependencies before dependents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use sandboxpm_config::Config;
use sandboxpm_npm::PackageJson;
use sandboxpm_sandbox::{Backend, ResolveContext};
use sandboxpm_scripts::{
    Decision, InstalledPackage, PackageScripts, Prompt, Reason, RunEvent, SandboxRunner,
    ScriptContext, ScriptExecutor, ScriptJob, ScriptsError, Staged, Toolchain, UnsandboxedRunner,
    approve, discover_all, helper_backend, is_interactive, prepare_job, run_all_staged,
    script_levels,
};

/// A package that may have install scripts, as resolved (never as its tarball claims).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub key: String,
    pub name: String,
    pub version: String,
    pub optional: bool,
    pub dependencies: Vec<String>,
}

/// Where messages go.
#[derive(Debug, Clone, Copy)]
pub struct Say {
    pub quiet: bool,
}

/// What the phase did.
#[derive(Debug, Default)]
pub struct ScriptsDone {
    pub ran: Vec<String>,
    /// Packages whose scripts ran in an earlier install of this linked copy.
    pub earlier: Vec<String>,
    pub refused: Vec<String>,
    /// Of the refused, those refused by a `blacklist` entry.
    pub blacklisted: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn run_install_scripts(
    config: &Config,
    project: &Path,
    candidates: &[Candidate],
    say: &Say,
) -> anyhow::Result<ScriptsDone> {
    let mut installed = Vec::new();
    // Scripts run once per linked copy of a package: a marker in its virtual-store directory
    // records success, and disappears whenever the linker rebuilds that directory.
    let (earlier, pending): (Vec<&Candidate>, Vec<&Candidate>) = candidates
        .iter()
        .partition(|c| marker_dir(project, &c.key).join(DONE_MARKER).exists());
    let earlier: Vec<String> = earlier.into_iter().map(|c| c.key.clone()).collect();
    for c in pending {
        let dir = sandboxpm_linker::package_path(project, &c.key, &c.name);
        let manifest = PackageJson::read(&dir.join("package.json"))?;
        installed.push(InstalledPackage {
            key: c.key.clone(),
            name: c.name.clone(),
            version: c.version.clone(),
            has_binding_gyp: dir.join("binding.gyp").is_file(),
            dir,
            manifest,
            bundled: false,
            optional: c.optional,
        });
    }
    let found = discover_all(&installed)?;
    if found.is_empty() {
        return Ok(ScriptsDone {
            earlier,
            ..ScriptsDone::default()
        });
    }

    let approvals = if is_interactive() {
        let stdin = std::io::stdin();
        let mut prompt = Prompt::new(stdin.lock(), std::io::stderr(), project);
        approve(&found, &config.sandboxpm, Some(&mut prompt))
    } else {
        approve(&found, &config.sandboxpm, None)
    };
    let approvals = match approvals {
        Ok(a) => a,
        Err(err @ ScriptsError::NotApproved { .. }) => {
            // Linked, but not finished: the next install asks again.
            return Err(anyhow::Error::new(err).context(
                "install scripts need a decision: approve them with `sandboxpm scripts approve \
                 <package>` (or `--all`, after `sandboxpm scripts ls`), deny them with \
                 `sandboxpm scripts deny <package>`, answer the prompt on a terminal, or set \
                 `policies.onBlock` to `continue` in .sandboxpmrc to skip them",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let mut done = ScriptsDone {
        earlier,
        ..ScriptsDone::default()
    };
    for (key, decision) in approvals.refused() {
        done.refused.push(key.to_string());
        if matches!(decision, Decision::Refused(Reason::Blacklisted(_))) {
            done.blacklisted.push(key.to_string());
        }
        if !say.quiet {
            eprintln!("scripts of {key} not run: {}", describe(decision));
        }
    }
    let approved: BTreeSet<String> = approvals.approved().map(str::to_string).collect();
    if approved.is_empty() {
        return Ok(done);
    }

    let exe = std::env::current_exe().context("locating the sandboxpm binary")?;
    let mut runner = SandboxRunner::new(&exe, &sandboxpm_sandbox::helper::request_dir());
    runner.backend = helper_backend(config.sandboxpm.backend);
    // The tripwires (decoys whose opening is reported) are watched by the zygote, once.
    runner.tripwire_slots(
        &sandboxpm_scripts::decoy_home_files(),
        &sandboxpm_scripts::decoy_tripwires(),
    );
    // The forking helper starts now: its start-up overlaps the scripts' preparation.
    runner.warm_up();
    let caller_env: BTreeMap<String, String> = std::env::vars().collect();
    let home = caller_env.get("HOME").map(Path::new);
    let toolchain = Toolchain::detect(
        caller_env.get("PATH").map(String::as_str),
        home,
        config.npm.get("nodedir"),
    );
    let resolve_base = ResolveContext::from_process().context("reading the current directory")?;
    let shared_dir = sandboxpm_store::links_dir(&config.paths.store_dir);
    let ctx = ScriptContext {
        project_dir: project,
        settings: &config.sandboxpm,
        npm_config: &config.npm,
        toolchain: &toolchain,
        caller_env: &caller_env,
        resolve_base: &resolve_base,
        timeout_secs: None,
        shared_dir: Some(&shared_dir),
    };
    let deps: BTreeMap<String, Vec<String>> = candidates
        .iter()
        .map(|c| (c.key.clone(), c.dependencies.clone()))
        .collect();
    let levels = script_levels(&approved, &deps);
    // Prepared in the order they will run, so that the first ones can be staged (their
    // sandboxes built, nothing of them run) while the rest are still being prepared.
    let mut wanted: Vec<&PackageScripts> =
        found.iter().filter(|p| approved.contains(&p.key)).collect();
    let rank: BTreeMap<&str, usize> = levels
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    wanted.sort_by_key(|p| rank.get(p.key.as_str()).copied().unwrap_or(usize::MAX));
    let (prepared, mut staged) = prepare_jobs(&ctx, &wanted, &runner)?;
    let mut jobs = BTreeMap::new();
    for (package, job) in wanted.iter().zip(prepared) {
        jobs.insert(package.key.clone(), job);
    }
    // A sandbox weaker than the default is a warn event; none at all needs two confirmations.
    let unsandboxed = match availability(runner.backend) {
        Availability::Full => false,
        Availability::Degraded(message) => {
            super::events::on_warn(config.sandboxpm.on_warn, &message, say.quiet)?;
            false
        }
        Availability::Nothing(why) => {
            let scripts: Vec<String> = jobs
                .values()
                .flat_map(|job| {
                    job.scripts
                        .iter()
                        .map(|s| format!("{} {}: {}", job.package, s.event.name(), s.command))
                })
                .collect();
            let refusal = || {
                anyhow::anyhow!(
                    "no sandbox backend can start here ({why}), and install scripts never run \
                     unsandboxed without two confirmations on a terminal; not run:\n  {}\n\
                     (`sandboxpm doctor` explains what is missing)",
                    scripts.join("\n  ")
                )
            };
            if !is_interactive() {
                return Err(refusal());
            }
            let stdin = std::io::stdin();
            let home = std::env::var("HOME").unwrap_or_else(|_| "~".into());
            if !confirm_unsandboxed(
                &mut stdin.lock(),
                &mut std::io::stderr(),
                &why,
                &home,
                &scripts,
            )? {
                return Err(refusal());
            }
            true
        }
    };
    let quiet = say.quiet;
    // SANDBOXPM_SCRIPT_OUTPUT=1 shows every script's output, like npm's --foreground-scripts.
    let show_output = std::env::var_os("SANDBOXPM_SCRIPT_OUTPUT").is_some_and(|v| v == "1");
    let progress = move |event: &RunEvent<'_>| match event {
        RunEvent::Started { job, script } if !quiet => {
            eprintln!(
                "running {} {} ({}): {}",
                job.package,
                script.event.name(),
                if unsandboxed {
                    "UNSANDBOXED"
                } else {
                    "sandboxed"
                },
                script.command
            );
        }
        RunEvent::Finished {
            job,
            script,
            outcome: Ok(outcome),
        } if show_output => {
            eprintln!(
                "--- {} {} exited {} in {:.1}s\n{}{}",
                job.package,
                script.event.name(),
                outcome.code,
                outcome.duration.as_secs_f64(),
                outcome.stdout,
                outcome.stderr
            );
        }
        RunEvent::Finished {
            job,
            script,
            outcome: Err(error),
        } if show_output => {
            eprintln!(
                "--- {} {} could not run: {error}",
                job.package,
                script.event.name()
            );
        }
        _ => {}
    };
    let executor: &dyn ScriptExecutor = if unsandboxed {
        // Nothing staged in a sandbox may run without one: cancelled here, unrun.
        staged.clear();
        &UnsandboxedRunner
    } else {
        &runner
    };
    // The "scripts ran" markers are created (as pending) while the scripts run, so that the
    // end of the install only renames them.
    let mut markers = PendingMarkers::new(project, jobs.keys());
    let report = std::thread::scope(|s| {
        let creating = s.spawn(|| markers.create());
        let report = run_all_staged(executor, &levels, &jobs, staged, &progress);
        let _ = creating.join();
        report
    });
    let mut blocked = Vec::new();
    for run in &report.runs {
        // Connections the network proxy refused, as the helper reports them after the script.
        for host in run
            .outcome
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("sandboxpm: blocked: "))
        {
            blocked.push(format!("blocked: {} {}: {host}", run.key, run.event.name()));
        }
        if !run.decoys.is_empty() {
            blocked.push(format!(
                "blocked: {} {} read {} (decoy credentials planted in its private home)",
                run.key,
                run.event.name(),
                run.decoys.join(", ")
            ));
        }
    }
    // A block is handled by `policies.onBlock`: `continue` reports it; `abort` (and `prompt`,
    // which cannot ask after the fact) fails the install.
    if !blocked.is_empty() {
        if config.sandboxpm.on_block == sandboxpm_config::PolicyAction::Continue {
            done.warnings.extend(blocked);
        } else {
            anyhow::bail!(
                "{}\n(policies.onBlock is not `continue`)",
                blocked.join("\n")
            );
        }
    }
    done.warnings.extend(
        report
            .warnings
            .iter()
            .map(|w| format!("optional dependency: {}", w.to_error())),
    );
    done.ran = report
        .runs
        .iter()
        .map(|r| r.key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let failed: BTreeSet<&str> = report
        .failures
        .iter()
        .chain(&report.warnings)
        .map(|f| f.key.as_str())
        .collect();
    for c in candidates
        .iter()
        .filter(|c| done.ran.contains(&c.key) && !failed.contains(c.key.as_str()))
    {
        markers.finish(&c.key).with_context(|| {
            format!(
                "recording that the scripts of {} ran ({})",
                c.key,
                marker_dir(project, &c.key).join(DONE_MARKER).display()
            )
        })?;
    }
    report.into_result()?;
    Ok(done)
}

/// The "scripts ran" markers of one run, created as `.sandboxpm-scripts-pending` beside where
/// each `.sandboxpm-scripts-done` goes while the scripts run: creating a file costs an inode
/// allocation (a fraction of a millisecond on a busy file system), a rename costs none, and the
/// end of the install waits for the renames only. Pending markers that are not finished (the
/// script failed, the install stopped) are removed on drop; one means nothing to the next run.
struct PendingMarkers {
    /// Key, its marker directory, and whether its pending marker exists.
    pending: Vec<(String, std::path::PathBuf, bool)>,
}

impl PendingMarkers {
    fn new<'a>(project: &Path, keys: impl Iterator<Item = &'a String>) -> Self {
        let pending = keys
            .map(|key| (key.clone(), marker_dir(project, key), false))
            .collect();
        PendingMarkers { pending }
    }

    fn create(&mut self) {
        for (_, dir, created) in &mut self.pending {
            *created = std::fs::write(dir.join(PENDING_MARKER), b"").is_ok();
        }
    }

    /// Records that `key`'s scripts ran: its pending marker renamed to the done one, or the
    /// done one written if there is none.
    fn finish(&mut self, key: &str) -> std::io::Result<()> {
        let (_, dir, created) = self
            .pending
            .iter_mut()
            .find(|(k, _, _)| k == key)
            .ok_or_else(|| std::io::Error::other(format!("{key} had no script to run")))?;
        let done = dir.join(DONE_MARKER);
        if *created && std::fs::rename(dir.join(PENDING_MARKER), &done).is_ok() {
            *created = false;
            return Ok(());
        }
        std::fs::write(done, b"")
    }
}

impl Drop for PendingMarkers {
    fn drop(&mut self) {
        for (_, dir, created) in &self.pending {
            if *created {
                let _ = std::fs::remove_file(dir.join(PENDING_MARKER));
            }
        }
    }
}

/// What the scripts' sandbox will be, decided before any runs.
enum Availability {
    /// The configured backend, or `auto`'s first choice.
    Full,
    /// `auto` had to fall back to something weaker: why, and what is lost.
    Degraded(String),
    /// Nothing can confine a script here: why.
    Nothing(String),
}

fn availability(requested: Backend) -> Availability {
    // An explicitly configured backend either runs or fails: no surprise to warn about.
    if requested != Backend::Auto {
        return Availability::Full;
    }
    let Err(userns) = sandboxpm_sandbox::doctor::probe_user_namespace() else {
        return Availability::Full;
    };
    let report = sandboxpm_sandbox::doctor::report();
    match report.auto {
        Backend::Native => Availability::Full,
        Backend::Auto => Availability::Nothing(report.auto_reason),
        degraded => {
            let (_, lost) = sandboxpm_sandbox::doctor::guarantees(degraded, report.landlock_abi);
            Availability::Degraded(format!(
                "the install scripts' sandbox is degraded: user namespaces are unavailable \
                 ({userns}), so the `{}` backend runs them, which does not give: {}",
                degraded.name(),
                lost.join("; ")
            ))
        }
    }
}

/// The two confirmations for running scripts without a sandbox: the first names what is
/// exposed and wants `yes`; the second wants the word `unsandboxed`. Anything else is no.
fn confirm_unsandboxed(
    input: &mut dyn std::io::BufRead,
    output: &mut dyn std::io::Write,
    why: &str,
    home: &str,
    scripts: &[String],
) -> anyhow::Result<bool> {
    writeln!(
        output,
        "No sandbox backend can start on this machine: {why}.\n\
         These install scripts would run WITHOUT a sandbox, with your full privileges: they could \
         read {home} (~/.ssh, ~/.npmrc, ~/.aws and other credentials), use the network, and change \
         any file you can write (shell rc files, git hooks, other projects):"
    )?;
    for script in scripts {
        writeln!(output, "  {script}")?;
    }
    let mut ask = |question: &str, expected: &str| -> anyhow::Result<bool> {
        write!(output, "{question}")?;
        output.flush()?;
        let mut line = String::new();
        input.read_line(&mut line)?;
        Ok(line.trim() == expected)
    };
    Ok(ask("Run them unsandboxed? Type `yes` to go on: ", "yes")?
        && ask(
            "Second confirmation: type `unsandboxed` to run them with your full privileges: ",
            "unsandboxed",
        )?)
}

/// Where a package's "scripts ran" marker lives: its virtual-store directory, which the linker
/// rebuilds (marker gone) whenever the package's files change.
fn marker_dir(project: &Path, key: &str) -> std::path::PathBuf {
    project
        .join("node_modules")
        .join(".sandboxpm")
        .join(sandboxpm_linker::virtual_store_dir_name(key))
}

const DONE_MARKER: &str = ".sandboxpm-scripts-done";
const PENDING_MARKER: &str = ".sandboxpm-scripts-pending";

fn describe(decision: &Decision) -> String {
    format!("{decision:?}")
}

/// `sandboxpm scripts ls|approve|deny`.
pub fn command(command: crate::cli::ScriptsCommand) -> anyhow::Result<u8> {
    use crate::cli::ScriptsCommand;
    use sandboxpm_config::{LoadOptions, RuleList, add_rule};

    let load = LoadOptions::from_process().context("reading the current directory")?;
    let config = Config::load(&load)?;
    let project = super::install::find_project(&load.cwd)?;
    let lock_path = project.join(sandboxpm_npm::LOCKFILE_NAME);
    let lockfile = sandboxpm_npm::Lockfile::read(&lock_path).with_context(|| {
        format!(
            "{} is needed: run `sandboxpm install` first",
            lock_path.display()
        )
    })?;
    // (name, version) of every locked package that runs install scripts.
    let with_scripts: Vec<(String, String)> = lockfile
        .packages
        .iter()
        .filter(|(_, p)| p.has_install_script)
        .filter_map(|(key, p)| {
            let (name, _) = sandboxpm_npm::split_package_key(key)?;
            Some((name.to_string(), p.version.to_string()))
        })
        .collect();
    match command {
        ScriptsCommand::Ls => {
            if with_scripts.is_empty() {
                println!("no installed package has install scripts");
            }
            for (name, version) in &with_scripts {
                let key = format!("{name}@{version}");
                let dir = sandboxpm_linker::package_path(&project, &key, name);
                // The same discovery as the prompt: binding.gyp expansions are listed too.
                let scripts = match PackageJson::read(&dir.join("package.json")) {
                    Ok(manifest) => {
                        let package = InstalledPackage {
                            key: key.clone(),
                            name: name.clone(),
                            version: version.clone(),
                            has_binding_gyp: dir.join("binding.gyp").is_file(),
                            dir: dir.clone(),
                            manifest,
                            bundled: false,
                            optional: false,
                        };
                        sandboxpm_scripts::discover(&package)?
                            .map(|found| {
                                found
                                    .scripts
                                    .iter()
                                    .map(|s| format!("{}: {}", s.kind.label(), s.command))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            })
                            .unwrap_or_default()
                    }
                    Err(_) => "(not installed)".to_string(),
                };
                let state = match sandboxpm_scripts::decide(&config.sandboxpm, name, version)? {
                    Decision::Approved(_) => "approved",
                    Decision::Refused(_) => "denied",
                    Decision::Undecided => "undecided",
                };
                println!("{key:<40} {state:<10} {scripts}");
            }
        }
        ScriptsCommand::Approve { packages, all } => {
            let mut entries = Vec::new();
            if all {
                for (name, version) in &with_scripts {
                    if sandboxpm_scripts::decide(&config.sandboxpm, name, version)?
                        == Decision::Undecided
                    {
                        entries.push(format!("{name}@{version}"));
                    }
                }
            }
            for package in &packages {
                let spec = sandboxpm_npm::PackageSpec::parse(package).ok();
                let name = spec
                    .as_ref()
                    .map(|s| s.name.to_string())
                    .unwrap_or_else(|| package.clone());
                if name != *package {
                    entries.push(package.clone());
                    continue;
                }
                let versions: Vec<&String> = with_scripts
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| v)
                    .collect();
                if versions.is_empty() {
                    anyhow::bail!(
                        "{package}: no installed package of that name has install scripts"
                    );
                }
                entries.extend(versions.into_iter().map(|v| format!("{name}@{v}")));
            }
            for entry in entries {
                add_rule(&project, RuleList::Whitelist, &entry)?;
                println!(
                    "approved {entry} (whitelist in {})",
                    project.join(".sandboxpmrc").display()
                );
            }
        }
        ScriptsCommand::Deny { packages } => {
            for name in packages {
                add_rule(&project, RuleList::Blacklist, &name)?;
                println!(
                    "denied {name} (blacklist in {})",
                    project.join(".sandboxpmrc").display()
                );
            }
        }
    }
    Ok(0)
}

/// Prepares the jobs of `packages` (in their order) on as many threads as there are cores:
/// resolving a policy is mostly path work, and every script of an install needs one before the
/// first runs. Each thread looks every path up once ([`sandboxpm_sandbox::resolve_batch`]). The
/// first package's error in `packages` order wins, so the message does not depend on timing.
///
/// The first script of each of the first jobs (as many as there are threads) is staged through
/// `runner` as soon as it is prepared: its sandbox is built while the other jobs are prepared,
/// and it runs only once [`run_all_staged`] lets it go (an error here cancels it, unrun).
fn prepare_jobs(
    ctx: &ScriptContext<'_>,
    packages: &[&PackageScripts],
    runner: &SandboxRunner,
) -> Result<(Vec<ScriptJob>, BTreeMap<String, Staged>), ScriptsError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(packages.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Prepared = (usize, Result<ScriptJob, ScriptsError>, Option<Staged>);
    let done: Vec<Vec<Prepared>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    sandboxpm_sandbox::resolve_batch(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(package) = packages.get(i) else {
                                break out;
                            };
                            let job = prepare_job(ctx, package).map(|mut job| {
                                // Decoy credentials in each script's private home: a script
                                // that reads and prints or uploads one shows its marker in its
                                // output, and is reported as a block.
                                for script in &mut job.scripts {
                                    script.policy.home_files =
                                        sandboxpm_scripts::decoy_home_files();
                                    // Opening the SSH key or AWS credentials is reported too.
                                    script.policy.tripwires = sandboxpm_scripts::decoy_tripwires();
                                }
                                job
                            });
                            let staged = match &job {
                                Ok(job) if i < threads => job
                                    .scripts
                                    .first()
                                    .map(|first| runner.stage(&first.policy, &first.command)),
                                _ => None,
                            };
                            out.push((i, job, staged));
                        }
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut done: Vec<Prepared> = done.into_iter().flatten().collect();
    done.sort_by_key(|(i, _, _)| *i);
    let mut jobs = Vec::with_capacity(done.len());
    let mut staged = BTreeMap::new();
    for (_, job, held) in done {
        // On an error, what was staged is dropped with `staged`: cancelled, unrun.
        let job = job?;
        if let Some(held) = held {
            staged.insert(job.key.clone(), held);
        }
        jobs.push(job);
    }
    Ok((jobs, staged))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn running_unsandboxed_needs_both_confirmations_exactly() {
        let scripts = vec!["evil@1.0.0 postinstall: node steal.js".to_string()];
        for (answers, expected) in [
            ("yes\nunsandboxed\n", true),
            ("yes\n\n", false),
            ("y\nunsandboxed\n", false),
            ("\n", false),
            ("yes\nyes\n", false),
            ("", false),
        ] {
            let mut out = Vec::new();
            let go = confirm_unsandboxed(
                &mut answers.as_bytes(),
                &mut out,
                "no user namespaces and no Landlock",
                "/home/u",
                &scripts,
            )
            .unwrap();
            assert_eq!(go, expected, "{answers:?}");
            let shown = String::from_utf8(out).unwrap();
            assert!(
                shown.contains("/home/u") && shown.contains("~/.ssh"),
                "{shown}"
            );
            assert!(shown.contains("evil@1.0.0 postinstall: node steal.js"));
        }
    }
}
