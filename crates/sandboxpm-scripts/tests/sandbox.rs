//! Scripts really run through `sandboxpm sandbox-helper`: one attack per test, plus controls.
//!
//! The helper binary is `$SANDBOXPM_BIN`, `$CARGO_TARGET_DIR/debug/sandboxpm` or the
//! workspace's `target/debug/sandboxpm` (build it first: `cargo build -p sandboxpm`). When it is
//! missing or this machine cannot sandbox, the tests skip, unless `SANDBOXPM_SANDBOX_MUST_WORK`
//! is set (CI sets it), in which case they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sandboxpm_config::{NpmConfig, SandboxpmSettings};
use sandboxpm_sandbox::ResolveContext;
use sandboxpm_scripts::{
    PackageScripts, SandboxRunner, ScriptContext, ScriptExecutor, ScriptJob, ScriptOutcome,
    Toolchain, discover, prepare_job, run_all, run_script, script_levels,
};
use support::Project;

const SSH_SECRET: &str = "SECRET-SSH-KEY-do-not-leak";
const TOKEN_SECRET: &str = "SECRET-NPM-TOKEN-do-not-leak";

fn must_work() -> bool {
    std::env::var_os("SANDBOXPM_SANDBOX_MUST_WORK").is_some_and(|v| !v.is_empty() && v != "0")
}

fn skip_or_fail(why: &str) {
    assert!(
        !must_work(),
        "SANDBOXPM_SANDBOX_MUST_WORK is set, but {why}"
    );
    eprintln!("skipped: {why} (set SANDBOXPM_SANDBOX_MUST_WORK=1 to make this an error)");
}

fn helper_exe() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(bin) = std::env::var_os("SANDBOXPM_BIN") {
        candidates.push(bin.into());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(Path::new(&target).join("debug/sandboxpm"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/sandboxpm"));
    let found = candidates.iter().find(|c| c.is_file()).cloned();
    if found.is_none() {
        skip_or_fail(&format!(
            "the sandboxpm binary is missing (looked at {candidates:?}; build it with \
             `cargo build -p sandboxpm` or set SANDBOXPM_BIN)"
        ));
    }
    found
}

struct Sandbox {
    project: Project,
    home: PathBuf,
    requests: tempfile::TempDir,
    exe: PathBuf,
}

impl Sandbox {
    fn new() -> Option<Self> {
        let exe = helper_exe()?;
        let project = Project::new();
        let home = project.outer().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_rsa"), SSH_SECRET).unwrap();
        project.package(
            "dep@1.0.0",
            "dep",
            "{}",
            &[("index.js", "DEP-CONTENT\n")],
            &[],
        );
        Some(Sandbox {
            project,
            home,
            requests: tempfile::tempdir().unwrap(),
            exe,
        })
    }

    /// A package `name@1.0.0` depending on `dep`, whose postinstall is `script`.
    fn package(&self, name: &str, script: &str, files: &[(&str, &str)]) -> PackageScripts {
        let key = format!("{name}@1.0.0");
        let manifest = format!(
            r#"{{"name":"{name}","scripts":{{"postinstall":{}}}}}"#,
            support::json_string(script)
        );
        self.project
            .package(&key, name, &manifest, files, &[("dep@1.0.0", "dep")]);
        discover(&self.project.installed(&key, name, "1.0.0"))
            .unwrap()
            .unwrap()
    }

    fn job(&self, package: &PackageScripts) -> ScriptJob {
        let path = std::env::var("PATH").unwrap_or_default();
        let caller_env: BTreeMap<String, String> = [
            ("PATH".to_owned(), path.clone()),
            ("NPM_TOKEN".to_owned(), TOKEN_SECRET.to_owned()),
        ]
        .into();
        let settings = SandboxpmSettings::merge(None, None);
        let npm_config = NpmConfig::default();
        let toolchain = Toolchain::detect(Some(&path), Some(&self.home), None);
        let process = ResolveContext::from_process().unwrap();
        let base = ResolveContext {
            cwd: self.project.root.clone(),
            home: Some(self.home.clone()),
            passwd_home: process.passwd_home,
            env: caller_env.clone(),
            glob_limit: 64,
        };
        prepare_job(
            &ScriptContext {
                project_dir: &self.project.root,
                settings: &settings,
                npm_config: &npm_config,
                toolchain: &toolchain,
                caller_env: &caller_env,
                resolve_base: &base,
                timeout_secs: Some(60),
                shared_dir: None,
            },
            package,
        )
        .unwrap()
    }

    /// Runs the package's postinstall; `None` when the machine cannot sandbox (skipped).
    fn run(&self, package: &PackageScripts) -> Option<ScriptOutcome> {
        let job = self.job(package);
        let script = &job.scripts[0];
        let outcome = run_script(
            &self.exe,
            self.requests.path(),
            &script.policy,
            &script.command,
        )
        .unwrap();
        if outcome.code == 125 {
            skip_or_fail(&format!(
                "the sandbox cannot be set up here:\n{}",
                outcome.stderr
            ));
            return None;
        }
        Some(outcome)
    }
}

#[test]
fn postinstall_writes_in_its_own_directory_and_reads_its_dependencies() {
    let Some(sb) = Sandbox::new() else { return };
    let pkg = sb.package(
        "builder",
        "echo built > out.txt && cat ../dep/index.js && echo \"$npm_lifecycle_event $npm_package_name\" && pwd",
        &[],
    );
    let Some(outcome) = sb.run(&pkg) else { return };
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(pkg.dir.join("out.txt")).unwrap(),
        "built\n"
    );
    assert_eq!(
        outcome.stdout,
        format!("DEP-CONTENT\npostinstall builder\n{}\n", pkg.dir.display())
    );
    // The request file (it holds the environment) is gone.
    assert_eq!(std::fs::read_dir(sb.requests.path()).unwrap().count(), 0);
}

#[test]
fn node_install_script_runs() {
    let Some(sb) = Sandbox::new() else { return };
    if sandboxpm_scripts::which("node", std::env::var("PATH").ok().as_deref()).is_none() {
        eprintln!("skipped: no node on PATH");
        return;
    }
    let pkg = sb.package(
        "esbuild",
        "node install.js",
        &[(
            "install.js",
            "require('fs').writeFileSync('bin.txt', 'native ' + process.env.npm_package_name);",
        )],
    );
    let Some(outcome) = sb.run(&pkg) else { return };
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(pkg.dir.join("bin.txt")).unwrap(),
        "native esbuild"
    );
}

#[test]
fn script_cannot_read_the_callers_ssh_key() {
    let Some(sb) = Sandbox::new() else { return };
    let key = sb.home.join(".ssh/id_rsa");
    let pkg = sb.package(
        "thief",
        &format!(
            "cat {} ; cat ~/.ssh/id_rsa ; ls -a ~ ; exit 0",
            key.display()
        ),
        &[],
    );
    let Some(outcome) = sb.run(&pkg) else { return };
    assert!(!outcome.output().contains(SSH_SECRET), "{outcome:?}");
    assert!(outcome.stderr.contains("No such file"), "{outcome:?}");
    // Control: the key is there on the host.
    assert_eq!(std::fs::read_to_string(key).unwrap(), SSH_SECRET);
}

#[test]
fn script_cannot_write_the_project_package_json() {
    let Some(sb) = Sandbox::new() else { return };
    let manifest = sb.project.root.join("package.json");
    let before = std::fs::read_to_string(&manifest).unwrap();
    let pkg = sb.package(
        "persist",
        &format!(
            "echo pwned >> {} ; echo pwned >> ../../../../../package.json ; exit 0",
            manifest.display()
        ),
        &[],
    );
    let Some(outcome) = sb.run(&pkg) else { return };
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        before,
        "{outcome:?}"
    );
    assert_eq!(
        outcome.stderr.matches("Read-only file system").count(),
        2,
        "both writes should have failed: {outcome:?}"
    );
}

#[test]
fn script_cannot_modify_its_dependencies() {
    let Some(sb) = Sandbox::new() else { return };
    let pkg = sb.package("tamper", "echo evil >> ../dep/index.js; exit 0", &[]);
    let Some(outcome) = sb.run(&pkg) else { return };
    let dep = sandboxpm_linker::package_path(&sb.project.root, "dep@1.0.0", "dep");
    assert_eq!(
        std::fs::read_to_string(dep.join("index.js")).unwrap(),
        "DEP-CONTENT\n",
        "{outcome:?}"
    );
}

#[test]
fn script_environment_holds_no_caller_secrets() {
    let Some(sb) = Sandbox::new() else { return };
    let pkg = sb.package("snoop", "env", &[]);
    let Some(outcome) = sb.run(&pkg) else { return };
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(!outcome.stdout.contains(TOKEN_SECRET), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("npm_package_name=snoop\n"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains(&format!("HOME={}\n", sb.home.display())),
        "{}",
        outcome.stdout
    );
}

#[test]
fn failing_script_is_reported_with_its_output_and_stops_the_run() {
    let Some(sb) = Sandbox::new() else { return };
    let bad = sb.package(
        "bad",
        "echo half-built; echo 'gyp ERR! build error' >&2; exit 3",
        &[],
    );
    let after = sb.package("after", "touch ran", &[]);
    // Probe once so a machine without sandboxing skips instead of failing below.
    let Some(_) = sb.run(&sb.package("probe", "true", &[])) else {
        return;
    };
    let jobs: BTreeMap<String, ScriptJob> = [bad.clone(), after.clone()]
        .iter()
        .map(|p| (p.key.clone(), sb.job(p)))
        .collect();
    let edges: BTreeMap<String, Vec<String>> = [(after.key.clone(), vec![bad.key.clone()])].into();
    let levels = script_levels(&jobs.keys().cloned().collect(), &edges);
    assert_eq!(levels, vec![vec![bad.key.clone()], vec![after.key.clone()]]);
    let runner = SandboxRunner::new(&sb.exe, sb.requests.path());
    let runner: &dyn ScriptExecutor = &runner;
    let report = run_all(runner, &levels, &jobs, &|_| {});
    assert_eq!(report.not_run, vec![after.key.clone()]);
    assert!(!after.dir.join("ran").exists());
    let err = report.into_result().unwrap_err().to_string();
    assert!(
        err.starts_with("bad@1.0.0: postinstall script failed (exit code 3): echo half-built;"),
        "{err}"
    );
    assert!(
        err.contains("half-built\n") && err.contains("gyp ERR! build error"),
        "{err}"
    );
}
