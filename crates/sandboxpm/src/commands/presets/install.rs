//! Where a tool is installed, found by following the program the way `execve` would.
//!
//! A package manager is rarely one file: `/usr/bin/npm` is a symlink into npm's package directory
//! and a script for `node`; `~/.pyenv/shims/pip` is a shell script that runs `pyenv exec`, which
//! picks a real interpreter under `~/.pyenv/versions`; `~/.volta/bin/npm` is a link to a shim
//! binary that reads Volta's state. The sandbox shows only what is granted, so the preset grants
//! read access to each step of that chain: the program's real file and its installation (the
//! package directory under `node_modules`, or the prefix above a `bin` directory), the
//! interpreter of its `#!` line and that interpreter's installation, the root of a version
//! manager whose `shims` or `bin` directory holds the program, and the absolute programs a
//! shim script `exec`s.
//!
//! Everything here only reads the file system. A candidate directory that would expose far more
//! than a tool (`/`, a home directory, `~/.local`, `~/.config`, `~/.cache`) is never granted;
//! the next narrower candidate is used instead.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::PathGrant;

/// How much of a script is read to find its `#!` line and the programs it `exec`s.
const SCRIPT_PREFIX: u64 = 16 * 1024;

/// Version-manager configuration files in the home that pick the version a shim runs (asdf's
/// global `.tool-versions` and its `.asdfrc`). They hold version numbers, not secrets.
const ASDF_HOME_FILES: &[&str] = &[".tool-versions", ".asdfrc"];

/// Read grants that let `program` run, each with the reason.
pub fn grants(program: &Path, path_var: Option<&str>, homes: &[PathBuf]) -> Vec<PathGrant> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    follow(program, path_var, homes, 0, &mut out, &mut seen);
    // An asdf shim decides the version from the project's `.tool-versions` (visible) or the
    // home's (not, unless granted).
    let asdf = out
        .iter()
        .any(|g| g.path.file_name().is_some_and(|n| n == ".asdf"));
    if asdf {
        for home in homes {
            for name in ASDF_HOME_FILES {
                let path = home.join(name);
                if path.is_file() {
                    out.push(PathGrant::new(&path, "asdf's global version selection"));
                }
            }
        }
    }
    out
}

fn follow(
    program: &Path,
    path_var: Option<&str>,
    homes: &[PathBuf],
    depth: usize,
    out: &mut Vec<PathGrant>,
    seen: &mut Vec<PathBuf>,
) {
    // A shim that runs an interpreter that runs a script: three steps are plenty.
    if depth > 3 || seen.iter().any(|s| s == program) {
        return;
    }
    seen.push(program.to_path_buf());
    let label = program.display().to_string();
    if depth > 0 {
        out.push(PathGrant::new(program, format!("run by the tool: {label}")));
    }
    // A version manager's shim directory: its root holds what the shims run.
    if let Some(dir) = program.parent()
        && let Some(root) = manager_root(dir, homes)
    {
        out.push(PathGrant::new(
            &root,
            format!("version manager of {label} (its shims run programs from here)"),
        ));
    }
    let Ok(real) = std::fs::canonicalize(program) else {
        return;
    };
    if let Some(root) = install_root(&real, homes) {
        out.push(PathGrant::new(
            &root,
            format!("installation of {label} ({})", real.display()),
        ));
    }
    let Some(script) = read_prefix(&real) else {
        return;
    };
    let Some(interpreter) = shebang(&script, path_var) else {
        return;
    };
    let is_shell = interpreter
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "sh" | "bash" | "dash" | "zsh" | "ksh"));
    follow(&interpreter, path_var, homes, depth + 1, out, seen);
    if is_shell {
        for target in exec_targets(&script) {
            follow(&target, path_var, homes, depth + 1, out, seen);
        }
    }
}

/// The installation a real (canonical) file belongs to: the outermost package directory when it
/// lies under `node_modules`, else the prefix above a `bin`/`sbin`/`libexec` directory, else its
/// directory, else the file itself; the first candidate that is not too broad.
pub fn install_root(real: &Path, homes: &[PathBuf]) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(package) = package_dir(real) {
        candidates.push(package);
    }
    if let Some(dir) = real.parent() {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if matches!(name, "bin" | "sbin" | "libexec")
            && let Some(prefix) = dir.parent()
        {
            candidates.push(prefix.to_path_buf());
        }
        candidates.push(dir.to_path_buf());
    }
    candidates.push(real.to_path_buf());
    candidates.into_iter().find(|c| acceptable(c, homes))
}

/// `/x/lib/node_modules/npm/bin/npm-cli.js` -> `/x/lib/node_modules/npm`;
/// `…/node_modules/@scope/name/…` -> `…/node_modules/@scope/name`.
fn package_dir(path: &Path) -> Option<PathBuf> {
    let parts: Vec<Component<'_>> = path.components().collect();
    let at = parts.iter().position(|c| c.as_os_str() == "node_modules")?;
    let first = parts.get(at + 1)?;
    let take = if first.as_os_str().to_string_lossy().starts_with('@') {
        at + 3
    } else {
        at + 2
    };
    if take > parts.len() {
        return None;
    }
    Some(parts[..take].iter().collect())
}

/// The root of a version manager whose shim or bin directory is `dir`: `~/.pyenv/shims` ->
/// `~/.pyenv`, `~/.asdf/shims` -> `~/.asdf`, `~/.volta/bin` -> `~/.volta`,
/// `~/.nvm/versions/node/v20/bin` -> `~/.nvm/versions/node/v20`. Same rule as the tool roots of
/// the default policy, applied to the program's own directory (it may not be on `PATH`).
fn manager_root(dir: &Path, homes: &[PathBuf]) -> Option<PathBuf> {
    let roots = sandboxpm_sandbox::defaults::tool_dirs(Some(&dir.to_string_lossy()));
    roots
        .into_iter()
        .map(PathBuf::from)
        .find(|r| r != dir && acceptable(r, homes))
}

/// Whether granting `dir` (recursively) exposes only a tool, not a user's files.
pub fn acceptable(dir: &Path, homes: &[PathBuf]) -> bool {
    const TOO_BROAD_IN_HOME: &[&str] = &[
        "",
        ".local",
        ".local/share",
        ".local/state",
        ".local/lib",
        ".config",
        ".cache",
        "bin",
        "lib",
        "Library",
        "Library/Application Support",
        "Library/Caches",
    ];
    const TOO_BROAD: &[&str] = &["/", "/home", "/Users", "/root", "/tmp", "/var", "/etc"];
    if !dir.is_absolute() || TOO_BROAD.iter().any(|b| dir == Path::new(b)) {
        return false;
    }
    !homes.iter().any(|home| {
        home.starts_with(dir) || TOO_BROAD_IN_HOME.iter().any(|rel| dir == home.join(rel))
    })
}

fn read_prefix(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(SCRIPT_PREFIX).read_to_end(&mut bytes).ok()?;
    if !bytes.starts_with(b"#!") {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The interpreter of a `#!` line, with `/usr/bin/env NAME` looked up on `PATH`.
pub fn shebang(script: &str, path_var: Option<&str>) -> Option<PathBuf> {
    let line = script.strip_prefix("#!")?.lines().next()?;
    let mut words = line.split_whitespace();
    let interpreter = PathBuf::from(words.next()?);
    if interpreter.file_name().is_some_and(|n| n == "env") {
        // `env [-S] [-i] NAME …`: the first word that is not an option or an assignment.
        let name = words.find(|w| !w.starts_with('-') && !w.contains('='))?;
        return find_on_path(name, path_var);
    }
    interpreter.is_absolute().then_some(interpreter)
}

/// Absolute programs a shim script `exec`s (`exec "/root/.pyenv/libexec/pyenv" exec …`).
fn exec_targets(script: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in script.lines() {
        let Some(rest) = line.trim_start().strip_prefix("exec ") else {
            continue;
        };
        let word = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_matches(['"', '\'']);
        if word.starts_with('/') && !word.contains('$') {
            out.push(PathBuf::from(word));
        }
    }
    out
}

/// Finds `name` on `path_var` like a shell (absolute entries only).
pub fn find_on_path(name: &str, path_var: Option<&str>) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_absolute().then_some(path);
    }
    path_var?
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(name))
        .find(|p| sandboxpm_sandbox::doctor::is_executable(p))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn exe(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn paths(grants: &[PathGrant]) -> Vec<PathBuf> {
        grants.iter().map(|g| g.path.clone()).collect()
    }

    #[test]
    fn node_packages_are_granted_as_the_package_directory() {
        assert_eq!(
            package_dir(Path::new("/p/lib/node_modules/npm/bin/npm-cli.js")),
            Some(PathBuf::from("/p/lib/node_modules/npm"))
        );
        assert_eq!(
            package_dir(Path::new("/p/lib/node_modules/@pnpm/exe/pnpm")),
            Some(PathBuf::from("/p/lib/node_modules/@pnpm/exe"))
        );
        assert_eq!(package_dir(Path::new("/p/lib/node_modules")), None);
        assert_eq!(package_dir(Path::new("/usr/bin/node")), None);
    }

    #[test]
    fn broad_directories_are_never_install_roots() {
        let homes = vec![PathBuf::from("/home/u")];
        for dir in [
            "/",
            "/home",
            "/home/u",
            "/home/u/.local",
            "/home/u/.config",
            "/home/u/.cache",
            "/tmp",
        ] {
            assert!(!acceptable(Path::new(dir), &homes), "{dir}");
        }
        for dir in ["/home/u/.bun", "/home/u/.local/bin", "/opt/node", "/usr"] {
            assert!(acceptable(Path::new(dir), &homes), "{dir}");
        }
        // ~/.local/bin/uv: the prefix ~/.local is too broad, its directory is not.
        assert_eq!(
            install_root(Path::new("/home/u/.local/bin/uv"), &homes),
            Some(PathBuf::from("/home/u/.local/bin"))
        );
        assert_eq!(
            install_root(Path::new("/home/u/.bun/bin/bun"), &homes),
            Some(PathBuf::from("/home/u/.bun"))
        );
        // A program straight in the home directory: only the file.
        assert_eq!(
            install_root(Path::new("/home/u/tool"), &homes),
            Some(PathBuf::from("/home/u/tool"))
        );
    }

    #[test]
    fn shebangs_name_the_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        exe(&bin.join("node"), "");
        let path_var = bin.to_string_lossy().into_owned();
        assert_eq!(
            shebang("#!/usr/bin/env node\n", Some(&path_var)),
            Some(bin.join("node"))
        );
        assert_eq!(
            shebang("#!/usr/bin/env -S node --x\n", Some(&path_var)),
            Some(bin.join("node"))
        );
        assert_eq!(
            shebang("#!/usr/bin/python3 -E\n", None),
            Some(PathBuf::from("/usr/bin/python3"))
        );
        assert_eq!(shebang("#!relative\n", None), None);
        assert_eq!(shebang("no shebang", None), None);
    }

    #[test]
    fn a_pyenv_style_shim_grants_its_manager_and_what_it_execs() {
        let dir = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(dir.path()).unwrap();
        let root = home.join(".pyenv");
        exe(&root.join("libexec/pyenv"), "#!/bin/sh\n");
        exe(
            &root.join("shims/pip"),
            &format!(
                "#!/usr/bin/env bash\nset -e\nexec \"{}\" exec \"$program\" \"$@\"\n",
                root.join("libexec/pyenv").display()
            ),
        );
        let grants = grants(
            &root.join("shims/pip"),
            Some("/usr/bin:/bin"),
            std::slice::from_ref(&home),
        );
        let granted = paths(&grants);
        assert!(granted.contains(&root), "{grants:?}");
        assert!(granted.contains(&root.join("libexec/pyenv")), "{grants:?}");
        assert!(!granted.contains(&home), "{grants:?}");
    }

    #[test]
    fn an_asdf_shim_grants_asdf_and_its_global_version_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(dir.path()).unwrap();
        let root = home.join(".asdf");
        exe(&root.join("bin/asdf"), "#!/bin/sh\n");
        exe(
            &root.join("shims/npm"),
            &format!(
                "#!/usr/bin/env bash\n# asdf-plugin: nodejs 20.11.0\nexec {} exec \"npm\" \"$@\"\n",
                root.join("bin/asdf").display()
            ),
        );
        std::fs::write(home.join(".tool-versions"), "nodejs 20.11.0\n").unwrap();
        let granted = paths(&grants(
            &root.join("shims/npm"),
            Some("/usr/bin:/bin"),
            std::slice::from_ref(&home),
        ));
        assert!(granted.contains(&root), "{granted:?}");
        assert!(
            granted.contains(&home.join(".tool-versions")),
            "{granted:?}"
        );
        assert!(!granted.contains(&home), "{granted:?}");
    }

    #[test]
    fn a_symlinked_node_tool_grants_its_package_and_node() {
        let dir = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(dir.path()).unwrap();
        let prefix = home.join(".nvm/versions/node/v20");
        exe(&prefix.join("bin/node"), "");
        exe(
            &prefix.join("lib/node_modules/npm/bin/npm-cli.js"),
            "#!/usr/bin/env node\n",
        );
        symlink(
            "../lib/node_modules/npm/bin/npm-cli.js",
            prefix.join("bin/npm"),
        )
        .unwrap();
        let path_var = prefix.join("bin").to_string_lossy().into_owned();
        let grants = grants(
            &prefix.join("bin/npm"),
            Some(&path_var),
            std::slice::from_ref(&home),
        );
        let granted = paths(&grants);
        assert!(granted.contains(&prefix), "{grants:?}");
        assert!(
            granted.contains(&prefix.join("lib/node_modules/npm")),
            "{grants:?}"
        );
        assert!(granted.contains(&prefix.join("bin/node")), "{grants:?}");
    }
}
