//! The resolver's output: every package to install, the edges between them, and the project's
//! direct dependencies.
//!
//! The graph is flat and keyed by `name@version` ([`sandboxpm_npm::package_key`]), because the
//! layout it feeds is pnpm's isolated one: each package gets its own directory with symlinks to
//! exactly its dependencies, so several versions of one package coexist without hoisting rules.
//!
//! Two sets of packages are kept apart. [`Graph::packages`] is what this machine installs.
//! [`Graph::lock_only`] is what the lockfile must still record although it is not installed
//! here: optional packages for other platforms (esbuild's `@esbuild/darwin-arm64` on a Linux
//! CI runner) and, under `--omit=dev`, dev-only packages. Keeping them makes the lockfile
//! portable: the same file installs the right platform binaries on every machine without a
//! network request.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sandboxpm_npm::{DependencySection, Importer, Integrity, LockedPeerMeta, Version, package_key};

use crate::warning::Warning;

/// What kind of edge links a package to a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// `dependencies`
    Regular,
    /// `optionalDependencies`: dropped when the target cannot be installed here.
    Optional,
    /// `peerDependencies`, resolved from the dependent's ancestors or auto-installed.
    Peer {
        /// `peerDependenciesMeta.<name>.optional`: linked only when an ancestor provides it.
        optional: bool,
    },
}

impl EdgeKind {
    /// Whether a failure of the target only drops the edge instead of failing the dependent.
    pub fn is_optional(self) -> bool {
        matches!(self, EdgeKind::Optional | EdgeKind::Peer { optional: true })
    }
}

/// One resolved package.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPackage {
    /// The registry name (the alias target for aliases).
    pub name: String,
    /// The version.
    pub version: Version,
    /// The absolute tarball URL.
    pub tarball: String,
    /// The tarball's SRI (from `dist.integrity`, else `dist.shasum`); `None` for very old
    /// versions that have neither.
    pub integrity: Option<Integrity>,
    /// Installed regular and peer edges: name as seen by this package (an alias keeps its own
    /// name) -> package key.
    pub dependencies: BTreeMap<String, String>,
    /// Installed optional edges: name -> package key.
    pub optional_dependencies: BTreeMap<String, String>,
    /// Optional edges recorded in the lockfile but not installed here (their target is in
    /// [`Graph::lock_only`]): name -> package key.
    pub lock_only_dependencies: BTreeMap<String, String>,
    /// Declared peer dependencies: name -> range.
    pub peer_dependencies: BTreeMap<String, String>,
    /// `peerDependenciesMeta`.
    pub peer_dependencies_meta: BTreeMap<String, LockedPeerMeta>,
    /// Dependencies shipped inside the tarball (`bundleDependencies`); not resolved from the
    /// registry. Not recorded in the lockfile, so empty for packages read from it.
    pub bundled_dependencies: Vec<String>,
    /// Reachable only through optional edges.
    pub optional: bool,
    /// Reachable only from `devDependencies`.
    pub dev: bool,
    /// Present only to satisfy peer dependencies.
    pub peer: bool,
    /// `os` constraint.
    pub os: Vec<String>,
    /// `cpu` constraint.
    pub cpu: Vec<String>,
    /// `libc` constraint.
    pub libc: Vec<String>,
    /// Commands: name -> path inside the package, as published (the linker normalises and
    /// confines the paths).
    pub bin: BTreeMap<String, String>,
    /// The registry says it has install scripts (the linker also looks for `binding.gyp`).
    pub has_install_script: bool,
    /// The deprecation message.
    pub deprecated: Option<String>,
    /// `engines`. Not recorded in the lockfile, so empty for packages read from it.
    pub engines: BTreeMap<String, String>,
}

impl ResolvedPackage {
    /// `name@version`.
    pub fn key(&self) -> String {
        package_key(&self.name, &self.version)
    }

    /// The kind of the edge called `name` (whether installed or lock-only).
    pub fn edge_kind(&self, name: &str) -> EdgeKind {
        if self.optional_dependencies.contains_key(name) {
            EdgeKind::Optional
        } else if self.peer_dependencies.contains_key(name) {
            EdgeKind::Peer {
                optional: self
                    .peer_dependencies_meta
                    .get(name)
                    .is_some_and(|m| m.optional),
            }
        } else if self.lock_only_dependencies.contains_key(name) {
            EdgeKind::Optional
        } else {
            EdgeKind::Regular
        }
    }

    /// The installed edges: `(name, key, kind)`, sorted by name.
    pub fn edges(&self) -> Vec<(&str, &str, EdgeKind)> {
        let mut edges: Vec<(&str, &str, EdgeKind)> = self
            .dependencies
            .iter()
            .chain(&self.optional_dependencies)
            .map(|(name, key)| (name.as_str(), key.as_str(), self.edge_kind(name)))
            .collect();
        edges.sort_unstable_by(|a, b| a.0.cmp(b.0));
        edges
    }

    /// The installed edges plus the lock-only ones.
    pub(crate) fn all_edges(&self) -> Vec<(&str, &str, EdgeKind)> {
        let mut edges = self.edges();
        edges.extend(
            self.lock_only_dependencies
                .iter()
                .map(|(name, key)| (name.as_str(), key.as_str(), self.edge_kind(name))),
        );
        edges
    }
}

/// A direct dependency of the project that is installed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectDependency {
    /// The section it counts as (`optionalDependencies` over `dependencies` over
    /// `devDependencies` when declared in several, as npm does).
    pub section: DependencySection,
    /// The name under `node_modules` (the alias for aliases).
    pub name: String,
    /// The package key.
    pub package: String,
}

/// The resolved dependency graph.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The project's declared dependencies per section, each with its spec and the package key
    /// it resolved to (`None` when it was skipped; `peerDependencies` of the project are
    /// recorded but never resolved). Keys may point into [`Graph::lock_only`]; use
    /// [`Graph::direct_dependencies`] for what to link.
    pub root: Importer,
    /// The packages to install on this machine, by key.
    pub packages: BTreeMap<String, ResolvedPackage>,
    /// Packages the lockfile records but this machine does not install (other platforms'
    /// optional packages, dev-only packages under `--omit=dev`), by key.
    pub lock_only: BTreeMap<String, ResolvedPackage>,
    /// Warnings, in a deterministic order.
    pub warnings: Vec<Warning>,
}

impl Graph {
    /// The project's installed direct dependencies, one per name, sorted by name.
    pub fn direct_dependencies(&self) -> Vec<DirectDependency> {
        effective_root_edges(&self.root)
            .into_iter()
            .filter(|d| self.packages.contains_key(&d.package))
            .collect()
    }
}

/// Where a root edge comes from, for the dev/optional flags.
pub(crate) fn effective_root_edges(root: &Importer) -> Vec<DirectDependency> {
    let mut chosen: BTreeMap<&str, DirectDependency> = BTreeMap::new();
    // Later sections lose: optional beats prod beats dev.
    for section in [
        DependencySection::OptionalDependencies,
        DependencySection::Dependencies,
        DependencySection::DevDependencies,
    ] {
        for (name, dependency) in root.section(section) {
            if chosen.contains_key(name.as_str()) {
                continue;
            }
            if let Some(package) = &dependency.package {
                chosen.insert(
                    name,
                    DirectDependency {
                        section,
                        name: name.clone(),
                        package: package.clone(),
                    },
                );
            } else if section == DependencySection::OptionalDependencies {
                // A skipped optional dependency still shadows the other sections.
                chosen.insert(
                    name,
                    DirectDependency {
                        section,
                        name: name.clone(),
                        package: String::new(),
                    },
                );
            }
        }
    }
    chosen
        .into_values()
        .filter(|d| !d.package.is_empty())
        .collect()
}

/// The dev/optional/peer flags of one package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub dev: bool,
    pub optional: bool,
    pub peer: bool,
}

/// Computes npm's flags: `dev` when no path from a production dependency reaches the package,
/// `optional` when every path crosses an optional edge, `peer` when every path crosses a peer
/// edge. `edges` says which edges of a package count.
pub(crate) fn compute_flags<'a>(
    roots: &[DirectDependency],
    nodes: &'a BTreeMap<String, ResolvedPackage>,
    edges: impl Fn(&'a ResolvedPackage) -> Vec<(&'a str, &'a str, EdgeKind)>,
) -> BTreeMap<String, Flags> {
    let reach = |root_filter: &dyn Fn(&DirectDependency) -> bool,
                 edge_filter: &dyn Fn(EdgeKind) -> bool|
     -> BTreeSet<&str> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::new();
        for root in roots.iter().filter(|r| root_filter(r)) {
            if let Some((key, _)) = nodes.get_key_value(&root.package)
                && seen.insert(key)
            {
                queue.push_back(key);
            }
        }
        while let Some(key) = queue.pop_front() {
            let Some(node) = nodes.get(key) else { continue };
            for (_, target, kind) in edges(node) {
                if edge_filter(kind)
                    && let Some((target, _)) = nodes.get_key_value(target)
                    && seen.insert(target)
                {
                    queue.push_back(target);
                }
            }
        }
        seen
    };
    let prod = reach(
        &|r| r.section != DependencySection::DevDependencies,
        &|_| true,
    );
    let required = reach(
        &|r| r.section != DependencySection::OptionalDependencies,
        &|k| !k.is_optional(),
    );
    let non_peer = reach(&|_| true, &|k| !matches!(k, EdgeKind::Peer { .. }));
    nodes
        .keys()
        .map(|key| {
            let key = key.as_str();
            (
                key.to_owned(),
                Flags {
                    dev: !prod.contains(key),
                    optional: !required.contains(key),
                    peer: !non_peer.contains(key),
                },
            )
        })
        .collect()
}
