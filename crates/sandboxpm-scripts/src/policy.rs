//! The sandbox policy of one script: what a build needs and nothing more.
//!
//! - **read**: the system ([`defaults::system_grants`]), the tools on `PATH`, node's
//!   installation, npm, the compilers and build tools, node's headers (npm's `nodedir`, else
//!   node-gyp's cache `~/.cache/node-gyp`: it is under `HOME`, which the sandbox replaces with an
//!   empty one, so it needs its own grant);
//! - **read**: the package's dependencies, transitively, found by following the links the linker
//!   made in `node_modules/.sandboxpm/<dir>/node_modules` to their real directories, and those
//!   link directories themselves (Node resolves `require` through them). A link whose target is
//!   outside `node_modules/.sandboxpm` and the store's shared directories is not followed;
//! - **write**: the package's own directory (a private copy, never store blobs), plus the
//!   `write` paths the user granted in `.sandboxpmrc` `sandbox.packages.<name>`;
//! - **network**: none, unless `sandbox.packages.<name>.network` lists hosts;
//! - **denies**: [`defaults::mandatory_denies`], always, and every npm configuration file:
//!   the ones sandboxpm read (user, global, project) and, whether it exists yet or not, npm's
//!   global `npmrc` inside node's installation (`<node root>/etc/npmrc`, where `npm config set
//!   --global` writes tokens) and its built-in one (`<npm root>/npmrc`). Node's installation is
//!   granted so scripts can run node; the registry tokens kept there are not;
//! - **limits**: a wall-clock timeout, [`DEFAULT_TIMEOUT_SECS`] unless configured.
//!
//! The project itself (its `package.json`, sources, `.env`, `.git`) is not granted at all.
//! The environment is not taken from the system defaults: [`crate::script_env`] builds it, and
//! [`resolve_script_policy`] passes exactly that.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sandboxpm_config::PackageGrants;
use sandboxpm_sandbox::resolve::ResolveError;
use sandboxpm_sandbox::{Network, Policy, ResolveContext, ResolvedPolicy, defaults, resolve};

use crate::discovery::PackageScripts;
use crate::env::dependency_links_dir;
use crate::toolchain::Toolchain;

/// How long a script may run, in seconds, unless configured otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// Everything a script's policy is built from.
#[derive(Debug, Clone, Copy)]
pub struct ScriptPolicyInputs<'a> {
    /// The project root.
    pub project_dir: &'a Path,
    /// The package.
    pub package: &'a PackageScripts,
    /// node, npm and the build tools.
    pub toolchain: &'a Toolchain,
    /// The caller's `PATH`: its directories are readable.
    pub caller_path: Option<&'a str>,
    /// `.sandboxpmrc` `sandbox.packages.<name>`.
    pub grants: Option<&'a PackageGrants>,
    /// The timeout; `None` for [`DEFAULT_TIMEOUT_SECS`].
    pub timeout_secs: Option<u64>,
    /// The npm configuration files sandboxpm read ([`sandboxpm_config::NpmConfig::files`]):
    /// they hold registry tokens, so no script reads them, wherever they are.
    pub npm_config_files: &'a [PathBuf],
    /// The store's directory of shared package directories ([`sandboxpm_store`]'s `links_dir`):
    /// dependency links that resolve into it are followed too.
    pub shared_dir: Option<&'a Path>,
}

/// The (unresolved) policy of the package's scripts.
pub fn script_policy(inputs: &ScriptPolicyInputs<'_>) -> Policy {
    let mut policy = defaults::system_grants();
    policy.env.clear();
    let text = |p: &Path| p.to_string_lossy().into_owned();
    let tools = inputs.toolchain;
    policy.read.extend(defaults::tool_dirs(inputs.caller_path));
    let tool_paths = [
        &tools.node,
        &tools.node_root,
        &tools.npm_root,
        &tools.node_gyp_bin,
        &tools.node_headers,
    ];
    policy
        .read
        .extend(tool_paths.into_iter().flatten().map(|p| text(p)));
    policy
        .read
        .extend(tools.build_tool_dirs.iter().map(|p| text(p)));

    let links = dependency_links_dir(inputs.project_dir, &inputs.package.key);
    policy.read.push(text(&links));
    let deps = dependency_dirs(inputs.project_dir, &inputs.package.key, inputs.shared_dir);
    policy.read.extend(deps.link_dirs.iter().map(|p| text(p)));
    policy
        .read
        .extend(deps.package_dirs.iter().map(|p| text(p)));

    policy.write.push(text(&inputs.package.dir));
    if let Some(grants) = inputs.grants {
        policy.write.extend(grants.write.iter().cloned());
        if !grants.network.is_empty() {
            policy.network = Network::Allow(grants.network.clone());
        }
    }
    policy.limits.timeout_secs = Some(inputs.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS));
    policy.read.sort();
    policy.read.dedup();
    policy.extend(defaults::mandatory_denies());
    policy
        .deny_read
        .extend(npm_config_denies(inputs).iter().map(|p| text(p)));
    policy
}

/// npm's configuration files: those read, plus the global and built-in ones of the npm that
/// scripts can run, which sit inside granted directories. (Denies of missing files are
/// skipped when the policy is resolved.)
fn npm_config_denies(inputs: &ScriptPolicyInputs<'_>) -> Vec<PathBuf> {
    let tools = inputs.toolchain;
    let mut out: Vec<PathBuf> = inputs.npm_config_files.to_vec();
    if let Some(root) = &tools.node_root {
        out.push(root.join("etc").join("npmrc"));
    }
    if let Some(root) = &tools.npm_root {
        out.push(root.join("npmrc"));
    }
    out.sort();
    out.dedup();
    out
}

/// The directories of a package's dependencies, transitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyDirs {
    /// Each dependency's real package directory.
    pub package_dirs: Vec<PathBuf>,
    /// Each dependency's `node_modules/.sandboxpm/<dir>/node_modules` (its own links).
    pub link_dirs: Vec<PathBuf>,
}

/// Follows the dependency links from `node_modules/.sandboxpm/<dir>/node_modules` of `key`, and
/// from those of each dependency found, to the real directories. Only links that resolve inside
/// the project's `node_modules/.sandboxpm`, or to a package directory in `shared_dir` (the
/// store's shared package directories), are followed: the links are the linker's, but a grant
/// is too important to take on trust.
pub fn dependency_dirs(project_dir: &Path, key: &str, shared_dir: Option<&Path>) -> DependencyDirs {
    let mut out = DependencyDirs::default();
    let Ok(store) = std::fs::canonicalize(project_dir.join("node_modules").join(".sandboxpm"))
    else {
        return out;
    };
    let shared = shared_dir.and_then(|d| std::fs::canonicalize(d).ok());
    let Ok(start) = std::fs::canonicalize(dependency_links_dir(project_dir, key)) else {
        return out;
    };
    let mut seen: BTreeSet<PathBuf> = BTreeSet::from([start.clone()]);
    let mut queue = vec![start];
    let mut package_dirs = BTreeSet::new();
    while let Some(links) = queue.pop() {
        for link in link_entries(&links) {
            let Ok(real) = std::fs::canonicalize(&link) else {
                continue;
            };
            // `<store>/<dir>/node_modules/<name>` (or `<name>` = `@scope/name`).
            let Some(link_dir) = real.ancestors().find(|a| {
                a.file_name().is_some_and(|n| n == "node_modules")
                    && a.parent()
                        .and_then(Path::parent)
                        .is_some_and(|holder| holder == store || shared.as_deref() == Some(holder))
            }) else {
                continue;
            };
            package_dirs.insert(real.clone());
            if seen.insert(link_dir.to_path_buf()) {
                out.link_dirs.push(link_dir.to_path_buf());
                queue.push(link_dir.to_path_buf());
            }
        }
    }
    out.package_dirs = package_dirs.into_iter().collect();
    out.link_dirs.sort();
    out
}

/// The symlinks of a links directory: `<name>` and `@scope/<name>`, not `.bin`.
fn link_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if name.to_string_lossy().starts_with('@') && kind.is_dir() {
            if let Ok(scoped) = std::fs::read_dir(entry.path()) {
                out.extend(
                    scoped
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
                        .map(|e| e.path()),
                );
            }
        } else if kind.is_symlink() {
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

/// Resolves a script policy with the script's directory as working directory, the caller's
/// homes, and `env` as the complete environment.
pub fn resolve_script_policy(
    policy: &Policy,
    base: &ResolveContext,
    package_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<ResolvedPolicy, ResolveError> {
    let mut policy = policy.clone();
    policy.env = env.keys().cloned().collect();
    let ctx = ResolveContext {
        cwd: package_dir.to_owned(),
        home: base.home.clone(),
        passwd_home: base.passwd_home.clone(),
        env: env.clone(),
        glob_limit: base.glob_limit,
    };
    resolve(&policy, &ctx)
}
