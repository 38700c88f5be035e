//! `inspect`: from a script's command line to the source of what it runs.
//!
//! A user who answers `inspect` wants to read the code, not the one-line command that starts it:
//! for `node install.js` that is `install.js`. The command is split like a shell would split it
//! (quotes, escapes, `&&`, `||`, `;`, `|`), and in each simple command the file an interpreter
//! (`node`, `sh`, `python3`, …) is given, or a `./path` run directly, is looked up **inside the
//! package directory only**: the path is normalised with the manifest rules (no absolute paths, no
//! climbing out with `..`), and the real path must still be inside the package (no symlink
//! escape). A command that runs a file outside its package is reported as such, never read.
//!
//! This is for reading, not for enforcing anything: the sandbox is what confines the script.

use std::path::{Path, PathBuf};

use sandboxpm_npm::normalize_manifest_path;

use crate::error::ScriptsError;

/// Sources above this size are cut (a minified bundle is not read on a terminal anyway).
pub const MAX_INSPECT_BYTES: usize = 1024 * 1024;

/// What a command runs, as far as `inspect` can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InspectTarget {
    /// A file inside the package (an absolute, canonical path).
    File(PathBuf),
    /// Code given on the command line (`node -e CODE`, `sh -c CODE`).
    Inline(String),
    /// A file outside the package, as written in the command.
    Outside(String),
    /// A file the command names inside the package that does not exist, as written.
    Missing(String),
}

/// The targets of a command and their source, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Each target with its text (empty for [`InspectTarget::Outside`] and
    /// [`InspectTarget::Missing`]).
    pub parts: Vec<(InspectTarget, String)>,
    /// Whether a file was longer than [`MAX_INSPECT_BYTES`] and cut.
    pub truncated: bool,
}

/// Everything `command` runs from `package_dir`, in order. Empty when it runs no file of the
/// package (`node-gyp rebuild` without a `binding.gyp`, a dependency's bin).
pub fn inspect_targets(package_dir: &Path, command: &str) -> Vec<InspectTarget> {
    let mut out = Vec::new();
    for words in split_commands(command) {
        if let Some(target) = simple_command_target(package_dir, &words)
            && !out.contains(&target)
        {
            out.push(target);
        }
    }
    out
}

/// Reads what `command` runs (see [`inspect_targets`]).
pub fn inspect(package_dir: &Path, command: &str) -> Result<Inspection, ScriptsError> {
    let mut parts = Vec::new();
    let mut truncated = false;
    for target in inspect_targets(package_dir, command) {
        let text = match &target {
            InspectTarget::File(path) => {
                let bytes = std::fs::read(path).map_err(|source| ScriptsError::Inspect {
                    path: path.clone(),
                    source,
                })?;
                truncated |= bytes.len() > MAX_INSPECT_BYTES;
                String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_INSPECT_BYTES)]).into_owned()
            }
            InspectTarget::Inline(code) => code.clone(),
            InspectTarget::Outside(_) | InspectTarget::Missing(_) => String::new(),
        };
        parts.push((target, text));
    }
    Ok(Inspection { parts, truncated })
}

/// Interpreters whose first operand is the program file.
const INTERPRETERS: &[&str] = &[
    "node", "nodejs", "sh", "bash", "dash", "zsh", "python", "python2", "python3", "perl", "ruby",
    "bun", "deno",
];

/// Options of `node` (and the others) that consume the next word.
const OPTIONS_WITH_VALUE: &[&str] = &[
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "-C",
    "--conditions",
    "--input-type",
    "--title",
    "--env-file",
    "--stack-size",
    "--max-old-space-size",
    "-W",
    "-X",
    "-o",
    "-O",
];

/// Options that take inline code.
const INLINE_CODE: &[&str] = &["-e", "--eval", "-p", "--print", "-c"];

fn simple_command_target(package_dir: &Path, words: &[String]) -> Option<InspectTarget> {
    // Leading `VAR=value` assignments and `env`/`exec` wrappers do not change the program.
    let mut rest = words
        .iter()
        .skip_while(|w| is_assignment(w) || *w == "env" || *w == "exec");
    let program = rest.next()?;
    let base = program.rsplit('/').next().unwrap_or(program);
    if INTERPRETERS.contains(&base) {
        let mut rest = rest.filter(|w| !w.is_empty());
        while let Some(word) = rest.next() {
            if INLINE_CODE.contains(&word.as_str()) {
                return rest.next().map(|code| InspectTarget::Inline(code.clone()));
            }
            if OPTIONS_WITH_VALUE.contains(&word.as_str()) {
                rest.next();
                continue;
            }
            if word == "--" {
                return rest.next().map(|file| file_target(package_dir, file, base));
            }
            if word.starts_with('-') {
                continue;
            }
            return Some(file_target(package_dir, word, base));
        }
        return None;
    }
    if base == "node-gyp" || base == "node-gyp-build" {
        let gyp = package_dir.join("binding.gyp");
        return gyp
            .is_file()
            .then(|| inside(package_dir, &gyp))
            .flatten()
            .map(InspectTarget::File);
    }
    if program.contains('/') {
        return Some(file_target(package_dir, program, ""));
    }
    None
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Looks `written` up inside the package; node also tries its extensions and `index.js`.
fn file_target(package_dir: &Path, written: &str, interpreter: &str) -> InspectTarget {
    let outside = || InspectTarget::Outside(written.to_owned());
    let Ok(relative) = normalize_manifest_path(written) else {
        return outside();
    };
    if relative.is_root() {
        return outside();
    }
    let base = package_dir.join(relative.to_path_buf());
    let node = matches!(interpreter, "node" | "nodejs");
    let mut candidates = vec![base.clone()];
    if node {
        for ext in ["js", "cjs", "mjs", "json"] {
            let mut name = base.clone().into_os_string();
            name.push(".");
            name.push(ext);
            candidates.push(PathBuf::from(name));
        }
        candidates.push(base.join("index.js"));
    }
    for candidate in candidates {
        if candidate.is_file() {
            return match inside(package_dir, &candidate) {
                Some(real) => InspectTarget::File(real),
                None => outside(),
            };
        }
    }
    InspectTarget::Missing(written.to_owned())
}

/// The canonical path of `path` if it is inside the canonical `package_dir`.
fn inside(package_dir: &Path, path: &Path) -> Option<PathBuf> {
    let root = std::fs::canonicalize(package_dir).ok()?;
    let real = std::fs::canonicalize(path).ok()?;
    real.starts_with(&root).then_some(real)
}

/// Splits a shell command into simple commands (words), at `&&`, `||`, `;`, `|`, `&`, newlines
/// and parentheses, with quoting and backslash escapes removed. Not a shell: expansions stay as
/// written, which is all `inspect` needs.
pub(crate) fn split_commands(command: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    let finish_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&n @ ('"' | '\\' | '$' | '`')) => {
                                word.push(n);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        other => word.push(other),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next()
                    && n != '\n'
                {
                    word.push(n);
                }
            }
            ';' | '&' | '|' | '\n' | '(' | ')' => {
                finish_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            '#' if !in_word => {
                // A comment, to the end of the line.
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            c if c.is_whitespace() => finish_word(&mut words, &mut word, &mut in_word),
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    finish_word(&mut words, &mut word, &mut in_word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shell_splitting_handles_quotes_and_operators() {
        assert_eq!(
            split_commands(r##"FOO="a b" node 'x y.js' && echo \"hi\"#x || (cd z; make) # c; d"##),
            vec![
                vec!["FOO=a b", "node", "x y.js"],
                vec!["echo", "\"hi\"#x"],
                vec!["cd", "z"],
                vec!["make"],
            ]
        );
    }

    #[test]
    fn targets_of_common_commands() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("scripts")).unwrap();
        std::fs::write(root.join("install.js"), "1").unwrap();
        std::fs::write(root.join("scripts/postinstall.js"), "2").unwrap();
        std::fs::write(root.join("build.sh"), "3").unwrap();
        std::fs::write(root.join("binding.gyp"), "{}").unwrap();
        let file = |p: &str| InspectTarget::File(root.join(p));
        assert_eq!(
            inspect_targets(&root, "node install"),
            vec![file("install.js")]
        );
        assert_eq!(
            inspect_targets(&root, "node --no-warnings ./scripts/postinstall.js --flag"),
            vec![file("scripts/postinstall.js")]
        );
        assert_eq!(
            inspect_targets(&root, "./build.sh && node-gyp rebuild"),
            vec![file("build.sh"), file("binding.gyp")]
        );
        assert_eq!(
            inspect_targets(&root, "node -e \"require('./install')\""),
            vec![InspectTarget::Inline("require('./install')".into())]
        );
        assert_eq!(
            inspect_targets(&root, "node ../../evil.js"),
            vec![InspectTarget::Outside("../../evil.js".into())]
        );
        assert_eq!(
            inspect_targets(&root, "sh /tmp/x.sh"),
            vec![InspectTarget::Outside("/tmp/x.sh".into())]
        );
        assert!(inspect_targets(&root, "prebuild-install").is_empty());
        assert_eq!(
            inspect_targets(&root, "node gone.js"),
            vec![InspectTarget::Missing("gone.js".into())]
        );
    }

    #[test]
    fn symlink_out_of_the_package_is_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pkg");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(dir.path().join("secret.js"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.js"), root.join("link.js")).unwrap();
        assert_eq!(
            inspect_targets(&root, "node link.js"),
            vec![InspectTarget::Outside("link.js".into())]
        );
        let inspection = inspect(&root, "node link.js").unwrap();
        assert_eq!(inspection.parts[0].1, "");
    }
}
