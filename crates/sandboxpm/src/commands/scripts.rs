//! The install-script phase of `install`: discover, decide (`.sandboxpmrc`, the prompt, or
//! `policies.onBlock` without a terminal), and run the approved scripts, each in its own sandbox,
//! dependencies before dependents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use sandboxpm_config::Config;
use sandboxpm_npm::PackageJson;
use sandboxpm_sandbox::ResolveContext;
use sandboxpm_scripts::{
    Decision, InstalledPackage, Prompt, RunEvent, SandboxRunner, ScriptContext, ScriptsError,
    Toolchain, approve, discover_all, helper_backend, is_interactive, prepare_job, run_all,
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
    pub refused: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn run_install_scripts(
    config: &Config,
    project: &Path,
    candidates: &[Candidate],
    say: &Say,
) -> anyhow::Result<ScriptsDone> {
    let mut installed = Vec::new();
    for c in candidates {
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
        return Ok(ScriptsDone::default());
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
                "install scripts need a decision; approve a package by adding `name@version` to \
                 `whitelist` in .sandboxpmrc (or answer the prompt on a terminal), or set \
                 `policies.onBlock` to `continue` to skip them",
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let mut done = ScriptsDone::default();
    for (key, decision) in approvals.refused() {
        done.refused.push(key.to_string());
        if !say.quiet {
            eprintln!("scripts of {key} not run: {}", describe(decision));
        }
    }
    let approved: BTreeSet<String> = approvals.approved().map(str::to_string).collect();
    if approved.is_empty() {
        return Ok(done);
    }

    let caller_env: BTreeMap<String, String> = std::env::vars().collect();
    let home = caller_env.get("HOME").map(Path::new);
    let toolchain = Toolchain::detect(
        caller_env.get("PATH").map(String::as_str),
        home,
        config.npm.get("nodedir"),
    );
    let resolve_base = ResolveContext::from_process().context("reading the current directory")?;
    let ctx = ScriptContext {
        project_dir: project,
        settings: &config.sandboxpm,
        npm_config: &config.npm,
        toolchain: &toolchain,
        caller_env: &caller_env,
        resolve_base: &resolve_base,
        timeout_secs: None,
    };
    let mut jobs = BTreeMap::new();
    for package in found.iter().filter(|p| approved.contains(&p.key)) {
        jobs.insert(package.key.clone(), prepare_job(&ctx, package)?);
    }
    let deps: BTreeMap<String, Vec<String>> = candidates
        .iter()
        .map(|c| (c.key.clone(), c.dependencies.clone()))
        .collect();
    let levels = script_levels(&approved, &deps);
    let exe = std::env::current_exe().context("locating the sandboxpm binary")?;
    let mut runner = SandboxRunner::new(&exe, &sandboxpm_sandbox::helper::request_dir());
    runner.backend = helper_backend(config.sandboxpm.backend)?;
    let quiet = say.quiet;
    let progress = move |event: &RunEvent<'_>| {
        if let RunEvent::Started { job, script } = event
            && !quiet
        {
            eprintln!(
                "running {} {} (sandboxed): {}",
                job.package,
                script.event.name(),
                script.command
            );
        }
    };
    let report = run_all(&runner, &levels, &jobs, &progress);
    for run in &report.runs {
        if !run.decoys.is_empty() {
            done.warnings.push(format!(
                "blocked: {} {} tried to read {} (decoy credentials)",
                run.key,
                run.event.name(),
                run.decoys.join(", ")
            ));
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
    report.into_result()?;
    Ok(done)
}

fn describe(decision: &Decision) -> String {
    format!("{decision:?}")
}
