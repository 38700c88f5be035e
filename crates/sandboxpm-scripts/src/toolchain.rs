//! The host tools a build script needs, found once per install.
//!
//! Install scripts mostly do two things: run `node` on a file, or build a native addon with
//! `node-gyp` (which needs a C/C++ compiler, `make`, `python3` and node's headers). The sandbox
//! grants exactly these, read-only; this module finds where they are on this machine. It only
//! looks things up (`PATH`, `realpath`); it runs nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The compilers and build tools whose directories are granted to scripts.
pub const BUILD_TOOLS: &[&str] = &[
    "cc", "c++", "gcc", "g++", "clang", "clang++", "make", "python3", "python",
];

/// Where npm keeps its `node-gyp` shim, relative to npm's package root.
const NPM_NODE_GYP_BIN: &str = "node_modules/@npmcli/run-script/lib/node-gyp-bin";

/// The host's node, npm and build tools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchain {
    /// The real path of the `node` binary on `PATH` (`npm_node_execpath`).
    pub node: Option<PathBuf>,
    /// Node's installation directory (`/usr`, `~/.nvm/versions/node/v20.11.0`).
    pub node_root: Option<PathBuf>,
    /// npm's CLI script (`npm_execpath`), when npm is installed.
    pub npm_execpath: Option<PathBuf>,
    /// npm's package directory.
    pub npm_root: Option<PathBuf>,
    /// npm's directory holding a `node-gyp` shim, put on scripts' `PATH` as npm does.
    pub node_gyp_bin: Option<PathBuf>,
    /// Directories of the compilers and build tools found on `PATH` (as found and resolved).
    pub build_tool_dirs: Vec<PathBuf>,
    /// Node's headers for node-gyp: npm's `nodedir`, else the headers node's installation ships
    /// (`<root>/include/node`), else node-gyp's cache if it exists.
    pub node_headers: Option<PathBuf>,
    /// The `nodedir` scripts are given when npm has none: node's own installation, when it ships
    /// its headers. node-gyp would otherwise download them, which a sandbox without network
    /// cannot; these are the running node's own, so they match it exactly.
    pub nodedir: Option<PathBuf>,
}

impl Toolchain {
    /// Looks the tools up on `path_var`. `home` locates node-gyp's cache (`~/.cache/node-gyp`);
    /// `nodedir` is npm's `nodedir` setting.
    pub fn detect(path_var: Option<&str>, home: Option<&Path>, nodedir: Option<&str>) -> Self {
        let mut tools = Toolchain::default();
        if let Some(found) = which("node", path_var) {
            let real = std::fs::canonicalize(&found).unwrap_or(found);
            tools.node_root = install_root(&real, home);
            tools.node = Some(real);
        }
        if let Some(found) = which("npm", path_var)
            && let Ok(real) = std::fs::canonicalize(&found)
        {
            // `npm` is a link to `<npm root>/bin/npm-cli.js`.
            if real.file_name().is_some_and(|n| n == "npm-cli.js")
                && let Some(root) = real.parent().and_then(Path::parent)
            {
                let shim = root.join(NPM_NODE_GYP_BIN);
                tools.node_gyp_bin = shim.is_dir().then_some(shim);
                tools.npm_root = Some(root.to_owned());
                tools.npm_execpath = Some(real);
            }
        }
        for tool in BUILD_TOOLS {
            let Some(found) = which(tool, path_var) else {
                continue;
            };
            let real = std::fs::canonicalize(&found).ok();
            for path in [Some(found), real].into_iter().flatten() {
                if let Some(dir) = path.parent().map(Path::to_path_buf)
                    && !tools.build_tool_dirs.contains(&dir)
                {
                    tools.build_tool_dirs.push(dir);
                }
            }
        }
        tools.build_tool_dirs.sort();
        let configured = nodedir.filter(|d| !d.trim().is_empty()).map(|dir| {
            match (dir.strip_prefix("~/"), home) {
                (Some(rest), Some(home)) => home.join(rest),
                _ => PathBuf::from(dir),
            }
        });
        if configured.is_none() {
            tools.nodedir = tools
                .node_root
                .clone()
                .filter(|root| root.join("include/node/common.gypi").is_file());
        }
        tools.node_headers = configured.or_else(|| tools.nodedir.clone()).or_else(|| {
            home.map(|h| h.join(".cache").join("node-gyp"))
                .filter(|d| d.is_dir())
        });
        tools
    }
}

/// The first executable `name` in the absolute directories of `path_var`.
pub fn which(name: &str, path_var: Option<&str>) -> Option<PathBuf> {
    path_var?
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `<root>/bin/node` gives `<root>`, unless that would be `/` or a home directory (a node
/// installed straight into `~/bin`), where only the binary's own directory is granted.
fn install_root(node: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let bin = node.parent()?;
    let root = bin.parent();
    match root {
        Some(root)
            if bin.file_name().is_some_and(|n| n == "bin")
                && root.parent().is_some()
                && Some(root) != home =>
        {
            Some(root.to_owned())
        }
        _ => Some(bin.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn install_root_is_never_the_filesystem_root_or_home() {
        assert_eq!(
            install_root(Path::new("/usr/bin/node"), None),
            Some(PathBuf::from("/usr"))
        );
        assert_eq!(
            install_root(Path::new("/bin/node"), None),
            Some(PathBuf::from("/bin"))
        );
        assert_eq!(
            install_root(Path::new("/home/u/bin/node"), Some(Path::new("/home/u"))),
            Some(PathBuf::from("/home/u/bin"))
        );
        assert_eq!(
            install_root(
                Path::new("/home/u/.nvm/versions/node/v20/bin/node"),
                Some(Path::new("/home/u"))
            ),
            Some(PathBuf::from("/home/u/.nvm/versions/node/v20"))
        );
    }

    #[test]
    fn headers_shipped_with_node_become_the_nodedir_unless_npm_sets_one() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let node = bin.join("node");
        std::fs::write(&node, "").unwrap();
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = bin.to_string_lossy().into_owned();
        let real_root = std::fs::canonicalize(root.path()).unwrap();
        // No headers next to node: nothing to give.
        let tools = Toolchain::detect(Some(&path), None, None);
        assert_eq!((tools.node_headers, tools.nodedir), (None, None));
        std::fs::create_dir_all(root.path().join("include/node")).unwrap();
        std::fs::write(root.path().join("include/node/common.gypi"), "{}").unwrap();
        let tools = Toolchain::detect(Some(&path), None, None);
        assert_eq!(tools.node_headers.as_deref(), Some(real_root.as_path()));
        assert_eq!(tools.nodedir.as_deref(), Some(real_root.as_path()));
        // npm's own nodedir wins, and is already in the scripts' environment.
        let tools = Toolchain::detect(Some(&path), None, Some("/opt/node-src"));
        assert_eq!(tools.node_headers, Some(PathBuf::from("/opt/node-src")));
        assert_eq!(tools.nodedir, None);
    }

    #[test]
    fn node_gyp_cache_is_used_only_when_present_and_nodedir_wins() {
        let home = tempfile::tempdir().unwrap();
        let tools = Toolchain::detect(None, Some(home.path()), None);
        assert_eq!(tools.node_headers, None);
        std::fs::create_dir_all(home.path().join(".cache/node-gyp")).unwrap();
        let tools = Toolchain::detect(None, Some(home.path()), None);
        assert_eq!(
            tools.node_headers,
            Some(home.path().join(".cache/node-gyp"))
        );
        let tools = Toolchain::detect(None, Some(home.path()), Some("/opt/node-src"));
        assert_eq!(tools.node_headers, Some(PathBuf::from("/opt/node-src")));
    }
}
