//! Scheduling, with a fake executor: levels in order, parallel inside a level, stop on failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sandboxpm_npm::InstallEvent;
use sandboxpm_sandbox::{Policy, ResolveContext, ResolvedPolicy, resolve};
use sandboxpm_scripts::{
    PreparedScript, RunEvent, ScriptExecutor, ScriptJob, ScriptOutcome, ScriptsError, decoys,
    run_all,
};

/// Scripts are `ok`, `fail`, `wait` (waits for a second script to be running) or `print TEXT`.
#[derive(Default)]
struct Fake {
    log: Mutex<Vec<String>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl ScriptExecutor for Fake {
    fn execute(&self, _: &ResolvedPolicy, script: &str) -> Result<ScriptOutcome, ScriptsError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        self.log.lock().unwrap().push(script.to_owned());
        if script.starts_with("wait") {
            let until = Instant::now() + Duration::from_secs(5);
            while self.max_running.load(Ordering::SeqCst) < 2 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        let code = if script.starts_with("fail") { 2 } else { 0 };
        Ok(ScriptOutcome {
            code,
            stdout: script.strip_prefix("print ").unwrap_or("").to_owned(),
            stderr: if code == 0 {
                String::new()
            } else {
                format!("{script}: boom")
            },
            truncated: false,
            duration: Duration::ZERO,
        })
    }
}

fn policy() -> ResolvedPolicy {
    let ctx = ResolveContext {
        cwd: "/nonexistent".into(),
        home: None,
        passwd_home: None,
        env: BTreeMap::new(),
        glob_limit: 8,
    };
    resolve(&Policy::default(), &ctx).unwrap()
}

fn job(key: &str, optional: bool, scripts: &[(InstallEvent, &str)]) -> (String, ScriptJob) {
    let policy = policy();
    (
        key.to_owned(),
        ScriptJob {
            key: key.to_owned(),
            package: key.to_owned(),
            optional,
            scripts: scripts
                .iter()
                .map(|(event, command)| PreparedScript {
                    event: *event,
                    command: (*command).to_owned(),
                    policy: policy.clone(),
                })
                .collect(),
        },
    )
}

fn levels(l: &[&[&str]]) -> Vec<Vec<String>> {
    l.iter()
        .map(|l| l.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

const POST: InstallEvent = InstallEvent::Postinstall;
const PRE: InstallEvent = InstallEvent::Preinstall;

#[test]
fn levels_run_in_order_and_scripts_of_a_package_in_npm_order() {
    let fake = Fake::default();
    let jobs: BTreeMap<_, _> = [
        job("a@1", false, &[(PRE, "ok a-pre"), (POST, "ok a-post")]),
        job("b@1", false, &[(POST, "ok b")]),
    ]
    .into();
    let events = Mutex::new(Vec::new());
    let progress = |e: &RunEvent<'_>| {
        let line = match e {
            RunEvent::Started { script, .. } => format!("start {}", script.command),
            RunEvent::Finished {
                script, outcome, ..
            } => {
                format!("end {} {}", script.command, outcome.as_ref().unwrap().code)
            }
        };
        events.lock().unwrap().push(line);
    };
    let report = run_all(&fake, &levels(&[&["b@1"], &["a@1"]]), &jobs, &progress);
    assert_eq!(
        *fake.log.lock().unwrap(),
        vec!["ok b", "ok a-pre", "ok a-post"]
    );
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            "start ok b",
            "end ok b 0",
            "start ok a-pre",
            "end ok a-pre 0",
            "start ok a-post",
            "end ok a-post 0"
        ]
    );
    assert_eq!(report.runs.len(), 3);
    assert!(report.failures.is_empty() && report.warnings.is_empty() && report.not_run.is_empty());
    assert!(report.into_result().is_ok());
}

#[test]
fn a_level_runs_in_parallel() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: one core");
        return;
    }
    let fake = Fake::default();
    let jobs: BTreeMap<_, _> = [
        job("a@1", false, &[(POST, "wait a")]),
        job("b@1", false, &[(POST, "wait b")]),
    ]
    .into();
    let report = run_all(&fake, &levels(&[&["a@1", "b@1"]]), &jobs, &|_| {});
    assert_eq!(report.runs.len(), 2);
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 2);
}

#[test]
fn first_failure_of_a_required_package_stops_scheduling_and_is_reported() {
    let fake = Fake::default();
    let jobs: BTreeMap<_, _> = [
        job(
            "bad@1",
            false,
            &[(PRE, "fail bad-pre"), (POST, "ok bad-post")],
        ),
        job("later@1", false, &[(POST, "ok later")]),
        job("last@1", false, &[(POST, "ok last")]),
    ]
    .into();
    let report = run_all(
        &fake,
        &levels(&[&["bad@1"], &["later@1"], &["last@1"]]),
        &jobs,
        &|_| {},
    );
    assert_eq!(*fake.log.lock().unwrap(), vec!["fail bad-pre"]);
    assert_eq!(report.not_run, vec!["last@1", "later@1"]);
    assert_eq!(report.failures.len(), 1);
    let failure = &report.failures[0];
    assert_eq!((failure.package.as_str(), failure.event), ("bad@1", PRE));
    assert_eq!(failure.status, "exit code 2");
    assert_eq!(failure.output, "fail bad-pre: boom");
    let err = report.into_result().unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad@1: preinstall script failed (exit code 2): fail bad-pre\nfail bad-pre: boom"
    );
}

#[test]
fn optional_package_failures_are_warnings() {
    let fake = Fake::default();
    let jobs: BTreeMap<_, _> = [
        job("opt@1", true, &[(PRE, "fail opt"), (POST, "ok opt-post")]),
        job("next@1", false, &[(POST, "ok next")]),
    ]
    .into();
    let report = run_all(&fake, &levels(&[&["opt@1"], &["next@1"]]), &jobs, &|_| {});
    assert_eq!(*fake.log.lock().unwrap(), vec!["fail opt", "ok next"]);
    assert!(report.failures.is_empty());
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].package, "opt@1");
    assert!(report.into_result().is_ok());
}

#[test]
fn decoy_markers_in_output_are_reported_with_the_run() {
    let fake = Fake::default();
    let stolen = &decoys::decoy_home_files()[1].1;
    let script = format!("print {stolen}");
    let jobs: BTreeMap<_, _> = [job("thief@1", false, &[(POST, &script)])].into();
    let report = run_all(&fake, &levels(&[&["thief@1"]]), &jobs, &|_| {});
    assert_eq!(report.runs[0].decoys, vec!["~/.npmrc"]);
}

/// An executor that stages: each staged script logs `stage`, then `run` when let go or `cancel`
/// when dropped unrun; `ok` and `fail` scripts as with [`Fake`], each taking a few milliseconds.
#[derive(Default)]
struct Stager {
    log: std::sync::Arc<Mutex<Vec<String>>>,
}

struct FakeHeld {
    script: String,
    log: std::sync::Arc<Mutex<Vec<String>>>,
    ran: bool,
}

fn fake_run(log: &Mutex<Vec<String>>, script: &str) -> ScriptOutcome {
    log.lock().unwrap().push(format!("run {script}"));
    std::thread::sleep(Duration::from_millis(20));
    let code = if script.starts_with("fail") { 2 } else { 0 };
    log.lock().unwrap().push(format!("end {script}"));
    ScriptOutcome {
        code,
        stdout: String::new(),
        stderr: String::new(),
        truncated: false,
        duration: Duration::ZERO,
    }
}

impl sandboxpm_scripts::HeldScript for FakeHeld {
    fn run(mut self: Box<Self>, started: &mut dyn FnMut()) -> Result<ScriptOutcome, ScriptsError> {
        self.ran = true;
        started();
        Ok(fake_run(&self.log, &self.script))
    }
}

impl Drop for FakeHeld {
    fn drop(&mut self) {
        if !self.ran {
            self.log
                .lock()
                .unwrap()
                .push(format!("cancel {}", self.script));
        }
    }
}

impl ScriptExecutor for Stager {
    fn execute(&self, _: &ResolvedPolicy, script: &str) -> Result<ScriptOutcome, ScriptsError> {
        Ok(fake_run(&self.log, script))
    }

    fn stage(&self, _: &ResolvedPolicy, script: &str) -> sandboxpm_scripts::Staged {
        self.log.lock().unwrap().push(format!("stage {script}"));
        sandboxpm_scripts::Staged::Held(Box::new(FakeHeld {
            script: script.to_owned(),
            log: std::sync::Arc::clone(&self.log),
            ran: false,
        }))
    }
}

#[test]
fn staged_scripts_run_once_each_and_only_after_the_levels_before_them() {
    let stager = Stager::default();
    let jobs: BTreeMap<_, _> = [
        job("a@1", false, &[(POST, "ok a")]),
        job("b@1", false, &[(POST, "ok b")]),
        job("c@1", false, &[(POST, "ok c")]),
        job("d@1", false, &[(PRE, "ok d-pre"), (POST, "ok d-post")]),
    ]
    .into();
    let report = run_all(
        &stager,
        &levels(&[&["a@1", "b@1", "c@1"], &["d@1"]]),
        &jobs,
        &|_| {},
    );
    assert!(report.failures.is_empty() && report.not_run.is_empty());
    let log = stager.log.lock().unwrap().clone();
    let at = |line: &str| {
        log.iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{line}: {log:?}"))
    };
    for script in ["ok a", "ok b", "ok c", "ok d-pre", "ok d-post"] {
        let runs = log
            .iter()
            .filter(|l| **l == format!("run {script}"))
            .count();
        assert_eq!(runs, 1, "{script}: {log:?}");
    }
    // Before the first script ended, more scripts were staged than had started: later ones
    // were staged ahead while it ran (every script is staged right before it starts, too).
    let first_end = log.iter().position(|l| l.starts_with("end ")).unwrap();
    let before = &log[..first_end];
    let count = |prefix: &str| before.iter().filter(|l| l.starts_with(prefix)).count();
    assert!(count("stage ") > count("run "), "{log:?}");
    assert!(!log.iter().any(|l| l.starts_with("cancel ")), "{log:?}");
    // Staged or not, d starts after the whole first level ended, and its scripts in order.
    let first_of_d = at("run ok d-pre");
    for script in ["ok a", "ok b", "ok c"] {
        assert!(at(&format!("end {script}")) < first_of_d, "{log:?}");
    }
    assert!(at("end ok d-pre") < at("run ok d-post"), "{log:?}");
}

#[test]
fn a_failure_cancels_staged_scripts_before_any_of_them_ran() {
    let stager = Stager::default();
    let jobs: BTreeMap<_, _> = [
        job("bad@1", false, &[(POST, "fail bad")]),
        job("x@1", false, &[(POST, "ok x")]),
        job("y@1", false, &[(POST, "ok y")]),
    ]
    .into();
    let report = run_all(
        &stager,
        &levels(&[&["bad@1"], &["x@1"], &["y@1"]]),
        &jobs,
        &|_| {},
    );
    let log = stager.log.lock().unwrap().clone();
    assert_eq!(report.failures.len(), 1, "{log:?}");
    assert_eq!(report.not_run, vec!["x@1", "y@1"]);
    // bad's start staged a later job (which one depends on which worker claimed what); every
    // script staged ahead was cancelled unrun.
    let ahead: Vec<&str> = log
        .iter()
        .filter_map(|l| l.strip_prefix("stage "))
        .filter(|s| *s != "fail bad")
        .collect();
    assert!(!ahead.is_empty(), "{log:?}");
    for script in ahead {
        assert!(log.contains(&format!("cancel {script}")), "{log:?}");
    }
    assert!(
        !log.iter().any(|l| l == "run ok x" || l == "run ok y"),
        "{log:?}"
    );
}
