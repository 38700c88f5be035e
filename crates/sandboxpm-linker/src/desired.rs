//! The state `node_modules` should be in, computed from a plan without touching the disk.
//!
//! Everything the linker will write is decided here, as data: each package's directory name, the
//! text of every symlink, which bins are linked where. Incremental linking is then a comparison of
//! this data with what `lock.json` says was written last time, so a run where nothing changed costs
//! no file system work per package. Validation lives here too: every name that becomes a path
//! (keys, edge names, bin commands and targets) is checked before anything is created.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sandboxpm_npm::{PackageName, normalize_manifest_path};
use sandboxpm_store::Sha512Digest;

use crate::error::{LinkError, LinkWarning, Result};
use crate::fsops::join_rel;
use crate::lockfile::LockedPackage;
use crate::plan::{LinkPlan, PlannedPackage};
use crate::shared::{Identity, entry_names};

/// A set of symlinks below one `node_modules` directory: `/`-separated relative path (an edge name
/// like `@scope/name`, or `.bin/<command>`) → the link's text.
pub(crate) type LinkSet = BTreeMap<String, String>;

/// Longest directory name under `.sandboxpm` before it is shortened (peer suffixes can make keys
/// longer than a file name may be).
const MAX_DIR_LEN: usize = 120;

/// How errors name the owner of the direct dependencies.
pub(crate) const PROJECT: &str = "the project";

/// `node_modules/.sandboxpm/<this>` for a key.
pub(crate) fn dir_name(key: &str) -> String {
    let flat = key.replace('/', "+");
    if flat.len() <= MAX_DIR_LEN {
        return flat;
    }
    let mut cut = 80;
    while !flat.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = Sha512Digest::of(key.as_bytes()).to_hex();
    format!("{}_{}", &flat[..cut], &hash[..32])
}

/// What one package's directory should hold.
#[derive(Debug)]
pub(crate) struct DesiredPackage<'p> {
    pub(crate) planned: &'p PlannedPackage,
    /// What `lock.json` will record for it.
    pub(crate) locked: LockedPackage,
    /// Its dependency symlinks and `.bin` entries, below `<dir>/node_modules`.
    pub(crate) links: LinkSet,
    /// Its shared directory (`<store links dir>/<locked.shared>`), when it is shared.
    pub(crate) shared: Option<PathBuf>,
}

/// What the whole `node_modules` should hold.
#[derive(Debug)]
pub(crate) struct Desired<'p> {
    pub(crate) packages: BTreeMap<&'p str, DesiredPackage<'p>>,
    /// Direct edge → key, as `lock.json` records it.
    pub(crate) direct: BTreeMap<String, String>,
    /// Root bins: command → link text.
    pub(crate) root_bins: BTreeMap<String, String>,
    /// Root symlinks and `.bin` entries, below `node_modules`.
    pub(crate) root_links: LinkSet,
}

/// Per package facts needed while resolving edges.
struct Node<'p> {
    planned: &'p PlannedPackage,
    dir: String,
    bins: BTreeMap<String, String>,
}

impl<'p> Desired<'p> {
    /// `shared_dir`: the store's directory of shared package directories, when packages may be
    /// shared ([`crate::shared`]); `None` puts every package in the project.
    pub(crate) fn compute(
        plan: &'p LinkPlan,
        shared_dir: Option<&Path>,
        warnings: &mut Vec<LinkWarning>,
    ) -> Result<Self> {
        let mut nodes: BTreeMap<&str, Node<'p>> = BTreeMap::new();
        let mut dirs: HashMap<String, &str> = HashMap::new();
        for planned in &plan.packages {
            check_key(planned)?;
            let dir = dir_name(&planned.key);
            if nodes.contains_key(planned.key.as_str()) {
                return Err(LinkError::DuplicateKey {
                    key: planned.key.clone(),
                });
            }
            if let Some(other) = dirs.insert(dir.clone(), &planned.key) {
                return Err(LinkError::DirectoryCollision {
                    key: planned.key.clone(),
                    other: other.to_owned(),
                    dir,
                });
            }
            let bins = valid_bins(planned, warnings);
            nodes.insert(&planned.key, Node { planned, dir, bins });
        }

        // Each package's dependency edges, checked (self edges dropped).
        let mut edges: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
        for (key, node) in &nodes {
            let planned = node.planned;
            let mut dependencies = BTreeMap::new();
            for (edge, target) in &planned.dependencies {
                resolve_edge(&nodes, key, edge, target)?;
                if *edge == planned.name {
                    // Node finds a package by its own name without any link (its directory is
                    // `node_modules/<name>`), so a self edge is redundant and any other edge of
                    // that name can never be reached.
                    if *target != planned.key {
                        warnings.push(LinkWarning::ShadowedBySelf {
                            key: planned.key.clone(),
                            edge: edge.clone(),
                            target: target.clone(),
                        });
                    }
                    continue;
                }
                dependencies.insert(edge.clone(), target.clone());
            }
            edges.insert(key, dependencies);
        }

        // Key → (shared directory name, its path), for the packages that are shared.
        let entries: BTreeMap<String, (String, PathBuf)> = match shared_dir {
            Some(shared_dir) => {
                let identities = nodes
                    .iter()
                    .map(|(key, node)| {
                        let identity = Identity {
                            key,
                            dir: &node.dir,
                            name: &node.planned.name,
                            tarball: node.planned.contents.tarball(),
                            bins: &node.bins,
                            private: node.planned.private_copy,
                            edges: &edges[key],
                        };
                        (*key, identity)
                    })
                    .collect();
                entry_names(&identities)
                    .into_iter()
                    .map(|(key, name)| {
                        let path = shared_dir.join(&name);
                        (key, (name, path))
                    })
                    .collect()
            }
            None => BTreeMap::new(),
        };

        let mut packages = BTreeMap::new();
        for (key, node) in &nodes {
            let planned = node.planned;
            let dependencies = edges.remove(key).unwrap_or_default();
            let entry = entries.get(*key);
            let mut links = LinkSet::new();
            let mut shared_dependencies = BTreeMap::new();
            for (edge, target) in &dependencies {
                let dep = &nodes[target.as_str()];
                let text = match (entry, entries.get(target.as_str())) {
                    // Inside the shared directory, beside each other.
                    (Some(_), Some((dep_name, _))) => {
                        dependency_link(edge, dep_name, &dep.planned.name)
                    }
                    // From the project into the store: absolute, so the project can move, and so
                    // a script's sandbox reaches it without the `.sandboxpm/<dir>` link.
                    (None, Some((dep_name, dep_path))) => {
                        shared_dependencies.insert(edge.clone(), dep_name.clone());
                        join_rel(&dep_path.join("node_modules"), &dep.planned.name)
                            .to_string_lossy()
                            .into_owned()
                    }
                    _ => dependency_link(edge, &dep.dir, &dep.planned.name),
                };
                links.insert(edge.clone(), text);
            }
            let (dep_bins, _) = select_bins(&nodes, &dependencies);
            for (command, text) in &dep_bins {
                links.insert(format!(".bin/{command}"), text.clone());
            }
            let locked = LockedPackage {
                dir: node.dir.clone(),
                name: planned.name.clone(),
                tarball: planned.contents.tarball(),
                private: planned.private_copy,
                shared: entry.map(|(name, _)| name.clone()),
                bins: node.bins.clone(),
                dependencies,
                dep_bins,
                shared_dependencies,
            };
            packages.insert(
                *key,
                DesiredPackage {
                    planned,
                    locked,
                    links,
                    shared: entry.map(|(_, path)| path.clone()),
                },
            );
        }

        let mut root_links = LinkSet::new();
        for (edge, target) in &plan.direct {
            let dep = resolve_edge(&nodes, PROJECT, edge, target)?;
            root_links.insert(edge.clone(), root_link(edge, &dep.dir, &dep.planned.name));
        }
        let (root_bins, conflicts) = select_bins(&nodes, &plan.direct);
        warnings.extend(conflicts);
        for (command, text) in &root_bins {
            root_links.insert(format!(".bin/{command}"), text.clone());
        }
        Ok(Self {
            packages,
            direct: plan.direct.clone(),
            root_bins,
            root_links,
        })
    }
}

fn check_key(planned: &PlannedPackage) -> Result<()> {
    let invalid = |reason: String| LinkError::InvalidKey {
        key: planned.key.clone(),
        reason,
    };
    PackageName::parse(&planned.name).map_err(|e| invalid(e.to_string()))?;
    let prefix = format!("{}@{}", planned.name, planned.version);
    if planned.version.is_empty() || !planned.key.starts_with(&prefix) {
        return Err(invalid(format!("it must start with `{prefix}`")));
    }
    if planned.key.contains(['\0', '\\']) {
        return Err(invalid("it contains a NUL byte or a backslash".into()));
    }
    Ok(())
}

/// Checks an edge name (it becomes a path below `node_modules`) and finds its target.
fn resolve_edge<'n, 'p>(
    nodes: &'n BTreeMap<&str, Node<'p>>,
    owner: &str,
    edge: &str,
    target: &str,
) -> Result<&'n Node<'p>> {
    is_valid_edge(edge).map_err(|reason| LinkError::InvalidEdge {
        owner: owner.to_owned(),
        edge: edge.to_owned(),
        reason,
    })?;
    nodes
        .get(target)
        .ok_or_else(|| LinkError::UnknownDependency {
            owner: owner.to_owned(),
            edge: edge.to_owned(),
            target: target.to_owned(),
        })
}

/// An edge name becomes one (`name`) or two (`@scope/name`) path components; npm's name rules
/// already exclude `.`, `..`, `.bin`, separators other than the scope's `/`, and `node_modules`.
pub(crate) fn is_valid_edge(edge: &str) -> std::result::Result<(), String> {
    PackageName::parse(edge)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A command becomes one file name in `.bin`.
pub(crate) fn is_valid_command(command: &str) -> bool {
    !command.is_empty() && command != "." && command != ".." && !command.contains(['/', '\\', '\0'])
}

/// The package's bins that can be linked: a valid command and a path that stays inside the
/// package. Whether the file exists is checked when the package is materialised (it needs the
/// index, which an unchanged package never reads).
fn valid_bins(
    planned: &PlannedPackage,
    warnings: &mut Vec<LinkWarning>,
) -> BTreeMap<String, String> {
    let mut bins = BTreeMap::new();
    for (command, raw) in &planned.bins {
        if !is_valid_command(command) {
            warnings.push(LinkWarning::InvalidBinName {
                key: planned.key.clone(),
                command: command.clone(),
            });
            continue;
        }
        let field = format!("bin.{command}");
        match normalize_manifest_path(raw) {
            Ok(path) if !path.is_root() => {
                bins.insert(command.clone(), path.as_str().to_owned());
            }
            Ok(_) => warnings.push(LinkWarning::BinRejected {
                key: planned.key.clone(),
                command: command.clone(),
                reason: format!("{field}: path {raw:?} names the package directory, not a file"),
            }),
            Err(e) => warnings.push(LinkWarning::BinRejected {
                key: planned.key.clone(),
                command: command.clone(),
                reason: e.in_field(field).to_string(),
            }),
        }
    }
    bins
}

/// Chooses, for each command the dependencies provide, the one to link: a package whose own name
/// is the command wins (`typescript` for `tsc` would not, `esbuild` for `esbuild` does), otherwise
/// the first edge in name order. Returns command → link text (relative to a `.bin` directory) and
/// the conflicts.
fn select_bins(
    nodes: &BTreeMap<&str, Node<'_>>,
    edges: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<LinkWarning>) {
    struct Choice<'a> {
        edge: &'a str,
        key: &'a str,
        path: &'a str,
        owns: bool,
    }
    let mut chosen: BTreeMap<&str, Choice<'_>> = BTreeMap::new();
    let mut conflicts = Vec::new();
    for (edge, key) in edges {
        let Some(node) = nodes.get(key.as_str()) else {
            continue;
        };
        let unscoped = node.planned.name.rsplit('/').next().unwrap_or_default();
        for (command, path) in &node.bins {
            let candidate = Choice {
                edge,
                key,
                path,
                owns: unscoped == command,
            };
            match chosen.get_mut(command.as_str()) {
                None => {
                    chosen.insert(command, candidate);
                }
                Some(current) if current.key == candidate.key => {}
                Some(current) => {
                    let (kept, skipped) = if candidate.owns && !current.owns {
                        let replaced = current.key;
                        *current = candidate;
                        (key.as_str(), replaced)
                    } else {
                        (current.key, key.as_str())
                    };
                    conflicts.push(LinkWarning::BinConflict {
                        command: command.clone(),
                        kept: kept.to_owned(),
                        skipped: skipped.to_owned(),
                    });
                }
            }
        }
    }
    let links = chosen
        .into_iter()
        .map(|(command, choice)| {
            (
                command.to_owned(),
                format!("../{}/{}", choice.edge, choice.path),
            )
        })
        .collect();
    (links, conflicts)
}

/// `<dir>/node_modules/<edge>` → `../../<dep dir>/node_modules/<dep name>` (one more `../` for a
/// scoped edge, which sits one directory deeper).
pub(crate) fn dependency_link(edge: &str, dep_dir: &str, dep_name: &str) -> String {
    let depth = edge.split('/').count();
    format!(
        "{}{dep_dir}/node_modules/{dep_name}",
        "../".repeat(depth + 1)
    )
}

/// `node_modules/<edge>` → `.sandboxpm/<dir>/node_modules/<name>` (`../` first for a scoped edge).
pub(crate) fn root_link(edge: &str, dir: &str, name: &str) -> String {
    let depth = edge.split('/').count();
    format!(
        "{}.sandboxpm/{dir}/node_modules/{name}",
        "../".repeat(depth - 1)
    )
}

/// How a root entry's link text starts when sandboxpm made it, for an entry at `rel`.
pub(crate) fn root_link_prefix(rel: &str) -> &'static str {
    if rel.starts_with(".bin/") {
        "../"
    } else if rel.contains('/') {
        "../.sandboxpm/"
    } else {
        ".sandboxpm/"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn dir_names_flatten_scopes_and_shorten_long_keys() {
        assert_eq!(dir_name("a@1.0.0"), "a@1.0.0");
        assert_eq!(dir_name("@s/a@1.0.0"), "@s+a@1.0.0");
        assert_eq!(
            dir_name("a@1.0.0(@types/react@18.0.0)"),
            "a@1.0.0(@types+react@18.0.0)"
        );
        let long = format!("a@1.0.0({})", "p@1.0.0".repeat(40));
        let short = dir_name(&long);
        assert!(short.len() <= MAX_DIR_LEN, "{short}");
        assert_ne!(short, dir_name(&format!("{long}x")));
    }

    #[test]
    fn link_texts_climb_out_of_scopes() {
        assert_eq!(dependency_link("b", "b@1", "b"), "../../b@1/node_modules/b");
        assert_eq!(
            dependency_link("@s/b", "@s+b@1", "@s/b"),
            "../../../@s+b@1/node_modules/@s/b"
        );
        assert_eq!(root_link("a", "a@1", "a"), ".sandboxpm/a@1/node_modules/a");
        assert_eq!(
            root_link("@s/alias", "x@1", "x"),
            "../.sandboxpm/x@1/node_modules/x"
        );
    }

    #[test]
    fn commands_are_single_file_names() {
        assert!(is_valid_command("tsc"));
        assert!(!is_valid_command("../evil"));
        assert!(!is_valid_command(".."));
        assert!(!is_valid_command("a\\b"));
        assert!(!is_valid_command(""));
    }
}
