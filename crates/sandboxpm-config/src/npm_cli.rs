//! Asking the installed npm for its registry, when no configuration layer names one.
//!
//! sandboxpm never hard-codes a registry host: the user's npm already knows its default (and any
//! `builtin` config its installation ships), so we ask it, once per process, with a timeout. It
//! runs in the temporary directory so no project's files are involved, with the environment we
//! were given.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::env_vars::Environment;
use crate::url::normalize_registry;

type Answers = Mutex<HashMap<PathBuf, Result<String, String>>>;

fn answers() -> &'static Answers {
    static ANSWERS: OnceLock<Answers> = OnceLock::new();
    ANSWERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Runs `<program> config get registry` (once per program per process) and returns the
/// normalised URL, or why it could not be had.
pub(crate) fn ask_npm_registry(
    program: &Path,
    timeout: Duration,
    env: &Environment,
) -> Result<String, String> {
    let mut answers = answers()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(answer) = answers.get(program) {
        return answer.clone();
    }
    let answer = run(program, timeout, env);
    answers.insert(program.to_owned(), answer.clone());
    answer
}

fn run(program: &Path, timeout: Duration, env: &Environment) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(["config", "get", "registry"])
        .current_dir(std::env::temp_dir())
        .env_clear()
        .envs(env.iter())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let Some(mut stdout) = child.stdout.take() else {
        return Err("no output pipe".to_owned());
    };
    // Read on another thread so a chatty child cannot block on a full pipe while we wait.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Our own child, by handle: nothing else is touched.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not answer within {timeout:?}",
                    program.display()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {}: {e}", program.display())),
        }
    };
    if !status.success() {
        return Err(format!("{} exited with {status}", program.display()));
    }
    let text = reader
        .join()
        .map_err(|_| "the output reader panicked".to_owned())?
        .map_err(|e| format!("reading the output of {}: {e}", program.display()))?;
    let text = text.trim();
    normalize_registry(text)
        .ok_or_else(|| format!("npm printed {text:?}, which is not a registry URL"))
}
