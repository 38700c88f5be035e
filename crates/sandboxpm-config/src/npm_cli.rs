//! Asking the installed npm for its registry, when no configuration layer names one.
//!
//! sandboxpm never hard-codes a registry host: the user's npm already knows its default (and any
//! `builtin` config its installation ships). It is read from npm's own files when that can be
//! done with certainty, else npm is asked, once per process, with a timeout, in the temporary
//! directory so no project's files are involved, with the environment we were given.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::env_vars::Environment;
use crate::url::normalize_registry;

/// How long npm may take to answer.
pub const NPM_TIMEOUT: Duration = Duration::from_secs(10);

type Answers = Mutex<HashMap<PathBuf, Result<String, String>>>;

fn answers() -> &'static Answers {
    static ANSWERS: OnceLock<Answers> = OnceLock::new();
    ANSWERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// npm's registry (once per program per process): read from the installation's files, else by
/// running `<program> config get registry`. Returns the normalised URL, or why it could not be
/// had.
pub fn ask_npm_registry(
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
    let answer = match locate(program, env)
        .as_deref()
        .and_then(installed_npm_default)
    {
        Some(registry) => Ok(registry),
        None => run(program, timeout, env),
    };
    answers.insert(program.to_owned(), answer.clone());
    answer
}

/// The registry an npm installation uses when no configuration names one, read from its own files
/// instead of by starting node (hundreds of milliseconds): the default of the `registry` definition
/// in its `@npmcli/config`. `npm_cli` is the resolved npm executable (`…/npm/bin/npm-cli.js`).
///
/// `None` whenever that cannot be read with certainty: another layout, or an installation that
/// ships a builtin `npmrc` (which could set the registry); npm is then asked.
fn installed_npm_default(npm_cli: &Path) -> Option<String> {
    let bin = npm_cli.parent().filter(|d| d.ends_with("bin"))?;
    let root = bin.parent()?;
    if root.join("npmrc").exists() {
        return None;
    }
    let definitions = root.join("node_modules/@npmcli/config/lib/definitions/definitions.js");
    let text = std::fs::read_to_string(definitions).ok()?;
    let (_, rest) = text.split_once("new Definition('registry', {")?;
    // Only this definition's own fields: up to the next definition.
    let own = rest.split("new Definition(").next()?;
    let (_, value) = own.split_once("default: '")?;
    let (url, _) = value.split_once('\'')?;
    normalize_registry(url)
}

/// `program` as a resolved path: itself when it names a path, else the first match on `PATH`.
fn locate(program: &Path, env: &Environment) -> Option<PathBuf> {
    let found = if program.components().count() > 1 {
        program.to_owned()
    } else {
        let path = env.get("PATH")?;
        std::env::split_paths(path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())?
    };
    std::fs::canonicalize(found).ok()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::fs;

    use super::*;

    /// An npm installation's layout, with `definitions` as its `definitions.js`.
    fn fake_npm(definitions: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lib/node_modules/npm");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/npm-cli.js"), "").unwrap();
        let defs = root.join("node_modules/@npmcli/config/lib/definitions");
        fs::create_dir_all(&defs).unwrap();
        fs::write(defs.join("definitions.js"), definitions).unwrap();
        (dir, root.join("bin/npm-cli.js"))
    }

    const DEFINITIONS: &str = "
  prefix: new Definition('prefix', {
    default: 'http://127.0.0.1:1/not-this/',
  }),
  registry: new Definition('registry', {
    default: 'http://127.0.0.1:4873',
    type: url,
  }),
";

    #[test]
    fn the_default_is_read_from_the_registry_definition_only() {
        let (_dir, npm) = fake_npm(DEFINITIONS);
        assert_eq!(
            installed_npm_default(&npm).as_deref(),
            Some("http://127.0.0.1:4873/")
        );
    }

    #[test]
    fn anything_uncertain_means_asking_npm() {
        // A builtin npmrc could set the registry.
        let (_dir, npm) = fake_npm(DEFINITIONS);
        fs::write(npm.parent().unwrap().parent().unwrap().join("npmrc"), "").unwrap();
        assert_eq!(installed_npm_default(&npm), None);
        // No default in the registry's own definition (the next one's does not count).
        let (_dir, npm) = fake_npm(
            "registry: new Definition('registry', { type: url }),
             x: new Definition('x', { default: 'http://127.0.0.1:1/' }),",
        );
        assert_eq!(installed_npm_default(&npm), None);
        // Not a URL, no such file, not an npm layout.
        let (_dir, npm) = fake_npm("registry: new Definition('registry', { default: 'nope' }),");
        assert_eq!(installed_npm_default(&npm), None);
        let (dir, _) = fake_npm(DEFINITIONS);
        assert_eq!(installed_npm_default(&dir.path().join("npm-cli.js")), None);
    }
}
