//! The walk: from `package.json` (and the lockfile) to every package and edge.
//!
//! The graph is built breadth-first from the project's direct dependencies, one package at a
//! time, in an order that depends only on the data: production dependencies before dev ones,
//! names sorted, each package's regular dependencies, then its optional ones, then its peers.
//! Packuments are downloaded concurrently by the [`Fetcher`], but a package is only processed
//! when its turn comes, so the choices (which version, which copy to reuse, which peer to
//! link) never depend on which response arrived first.
//!
//! Choosing a version for `name@range`, first match wins:
//! 1. a version already in the graph that satisfies the range (the highest): dedupe;
//! 2. a version in the lockfile that satisfies it, imported with its locked subtree: unchanged
//!    parts of a project keep their versions when `package.json` changes;
//! 3. the registry, picked like npm does ([`crate::pick`]).
//!
//! Peers are resolved once a package's parent is complete: from the nearest ancestor that has
//! a dependency of that name (or is that package), else from a satisfying version already in
//! the graph, else auto-installed like npm 7+ and pnpm do. A provider outside the range is a
//! warning, not an error. Optional peers are linked only when an ancestor provides them.
//!
//! Failures under an optional dependency do not stop the walk: they are recorded on the
//! package and [`crate::finish`] decides at the end whether they drop an optional edge or fail
//! the install (when a path of required edges leads there). A failure on a path that is
//! required from the project down is reported at once.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use sandboxpm_npm::{
    DependencySection, Importer, ImporterDependency, Lockfile, PackageJson, PackageSpec,
    PlatformMismatch, Range, SpecSource, Version, package_key, split_package_key,
};
use sandboxpm_registry::VersionManifest;

use crate::error::{DependencyChain, ResolveError};
use crate::fetch::Fetcher;
use crate::finish::finish;
use crate::graph::{EdgeKind, Graph, ResolvedPackage};
use crate::lock::from_locked;
use crate::manifest::{Declared, ManifestProblem, from_manifest, warnings};
use crate::options::ResolveOptions;
use crate::pick::{pick, satisfies};
use crate::source::PackumentSource;
use crate::warning::Warning;

/// How many other dependents of a package are remembered for the peer-variant check.
const MAX_CONTEXTS: usize = 32;

/// How the walk reached a package: a linked list up to the project, shared by all children.
#[derive(Debug)]
pub(crate) struct Chain {
    /// The package key.
    pub key: String,
    /// Whether some edge on the way is optional.
    pub optional: bool,
    pub parent: ChainRef,
}

/// `None` is the project itself.
pub(crate) type ChainRef = Option<Arc<Chain>>;

/// The package keys from the project down to `chain` (inclusive).
pub(crate) fn chain_keys(chain: &ChainRef) -> Vec<String> {
    let mut keys = Vec::new();
    let mut current = chain.as_deref();
    while let Some(link) = current {
        keys.push(link.key.clone());
        current = link.parent.as_deref();
    }
    keys.reverse();
    keys
}

fn chain_to(parent: &ChainRef, edge: &str) -> DependencyChain {
    let mut links = chain_keys(parent);
    links.push(edge.to_owned());
    DependencyChain(links)
}

/// A package during the walk.
#[derive(Debug)]
pub(crate) struct Node {
    pub package: ResolvedPackage,
    /// `None` once expanded, and for packages read from the lockfile.
    declared: Option<Declared>,
    /// The first path that reached it (ending at this package).
    pub chain: Arc<Chain>,
    /// Parents of later paths, for the peer-variant check.
    contexts: Vec<ChainRef>,
    /// Resolved from the registry in this run (not read from the lockfile).
    pub fresh: bool,
    /// A required dependency failed (on an optional path, so it was not fatal at once).
    pub failure: Option<ResolveError>,
    /// The package does not support the platform.
    pub platform: Option<PlatformMismatch>,
    /// Warnings about this package, reported if it ends up installed.
    pub warnings: Vec<Warning>,
    /// Optional dependencies that failed to resolve.
    pub skipped: Vec<(String, ResolveError)>,
}

/// Everything [`finish`] needs.
#[derive(Debug)]
pub(crate) struct Walk {
    pub nodes: BTreeMap<String, Node>,
    pub root: Importer,
    pub root_warnings: Vec<Warning>,
}

/// Resolves the dependencies of `manifest`.
///
/// With a `lockfile`, every direct dependency whose spec is unchanged keeps its locked package
/// and subtree, and other requests prefer locked versions; when the lockfile agrees with
/// `package.json` completely, no packument is requested at all. With
/// [`ResolveOptions::frozen`], any disagreement is an error naming the dependencies.
///
/// # Errors
///
/// A required dependency that cannot be fetched, has no matching version, uses an unsupported
/// spec, or does not support the platform (each naming the dependency chain); a frozen lockfile
/// that disagrees or is missing; an inconsistent lockfile.
pub async fn resolve<S: PackumentSource>(
    manifest: &PackageJson,
    options: &ResolveOptions,
    lockfile: Option<&Lockfile>,
    source: &S,
) -> Result<Graph, ResolveError> {
    if options.frozen {
        let lockfile = lockfile.ok_or(ResolveError::FrozenWithoutLockfile)?;
        lockfile
            .check_manifest(manifest)
            .map_err(ResolveError::Frozen)?;
    }
    let mut locked: HashMap<String, Vec<(Version, String)>> = HashMap::new();
    if let Some(lockfile) = lockfile {
        for (key, package) in &lockfile.packages {
            if let Some((name, _)) = split_package_key(key) {
                locked
                    .entry(name.to_owned())
                    .or_default()
                    .push((package.version.clone(), key.clone()));
            }
        }
    }
    let fetcher_locked = locked
        .iter()
        .map(|(name, versions)| {
            let versions = versions.iter().map(|(v, _)| v.clone()).collect();
            (name.clone(), versions)
        })
        .collect();
    let mut resolver = Resolver {
        options,
        lockfile,
        locked,
        fetcher: Fetcher::new(
            source,
            options.concurrency,
            options.node_version.clone(),
            fetcher_locked,
        ),
        nodes: BTreeMap::new(),
        by_name: HashMap::new(),
        queue: VecDeque::new(),
        root_edges: BTreeMap::new(),
        root_warnings: Vec::new(),
    };
    let root = resolver.resolve_root(manifest).await?;
    while let Some(key) = resolver.queue.pop_front() {
        resolver.expand(&key).await?;
    }
    resolver.check_peer_variants();
    let walk = Walk {
        nodes: resolver.nodes,
        root,
        root_warnings: resolver.root_warnings,
    };
    finish(walk, options)
}

/// One direct dependency as the walk sees it.
struct RootEdge {
    section: DependencySection,
    name: String,
    spec: String,
}

struct Resolver<'a, S: PackumentSource> {
    options: &'a ResolveOptions,
    lockfile: Option<&'a Lockfile>,
    /// Lockfile packages by name: `(version, key)`.
    locked: HashMap<String, Vec<(Version, String)>>,
    fetcher: Fetcher<'a, S>,
    nodes: BTreeMap<String, Node>,
    /// Versions in the graph, by registry name.
    by_name: HashMap<String, BTreeSet<Version>>,
    /// Packages waiting to be expanded, in order.
    queue: VecDeque<String>,
    /// The project's effective edges: name -> key.
    root_edges: BTreeMap<String, String>,
    root_warnings: Vec<Warning>,
}

impl<S: PackumentSource> Resolver<'_, S> {
    /// Resolves the project's direct dependencies and records them per section.
    async fn resolve_root(&mut self, manifest: &PackageJson) -> Result<Importer, ResolveError> {
        // npm: optionalDependencies override dependencies, which override devDependencies.
        let mut effective: BTreeMap<&str, RootEdge> = BTreeMap::new();
        for section in [
            DependencySection::OptionalDependencies,
            DependencySection::Dependencies,
            DependencySection::DevDependencies,
        ] {
            for (name, spec) in manifest.section(section) {
                effective.entry(name).or_insert_with(|| RootEdge {
                    section,
                    name: name.clone(),
                    spec: spec.clone(),
                });
            }
        }
        let mut edges: Vec<RootEdge> = effective.into_values().collect();
        // Production first, so dedupe favours what production code gets.
        edges.sort_by_key(|e| {
            (
                e.section == DependencySection::DevDependencies,
                e.name.clone(),
            )
        });

        let locked_root = self.lockfile.and_then(Lockfile::root);
        let locked_entry = |edge: &RootEdge| {
            locked_root
                .and_then(|importer| importer.section(edge.section).get(&edge.name))
                .filter(|entry| entry.specifier == edge.spec)
        };
        // Queue every registry request first, so all direct dependencies download at once.
        for edge in &edges {
            if locked_entry(edge).is_none()
                && let Ok(spec) = PackageSpec::from_dependency(&edge.name, &edge.spec)
                && let (Some(name), Some(request)) = (spec.registry_name(), spec.request())
            {
                self.fetcher.want(name.as_str(), request);
            }
        }

        let mut resolved: BTreeMap<String, Option<String>> = BTreeMap::new();
        for edge in &edges {
            let optional = edge.section == DependencySection::OptionalDependencies;
            let kind = if optional {
                EdgeKind::Optional
            } else {
                EdgeKind::Regular
            };
            let key = match locked_entry(edge) {
                Some(ImporterDependency {
                    package: Some(key), ..
                }) => {
                    let via = format!("{}@{}", edge.name, edge.spec);
                    self.import_locked(key, &None, &via, kind)?;
                    Some(key.clone())
                }
                // An optional dependency the lockfile records as skipped stays skipped.
                Some(ImporterDependency { package: None, .. }) if optional => None,
                _ => match self.resolve_edge(&None, &edge.name, &edge.spec, kind).await {
                    Ok(key) => Some(key),
                    Err(error) if optional => {
                        self.root_warnings.push(Warning::SkippedOptional {
                            dependent: "package.json".to_owned(),
                            name: edge.name.clone(),
                            reason: crate::warning::SkipReason::Failed(error),
                        });
                        None
                    }
                    Err(error) => return Err(error),
                },
            };
            if let Some(key) = &key {
                self.root_edges.insert(edge.name.clone(), key.clone());
            }
            resolved.insert(edge.name.clone(), key);
        }

        let mut importer = Importer::default();
        for section in DependencySection::ALL {
            for (name, spec) in manifest.section(section) {
                let package = if section == DependencySection::PeerDependencies {
                    // Like npm, the project's own peers are not installed.
                    None
                } else {
                    resolved.get(name).cloned().flatten()
                };
                importer.section_mut(section).insert(
                    name.clone(),
                    ImporterDependency {
                        package,
                        specifier: spec.clone(),
                    },
                );
            }
        }
        Ok(importer)
    }

    /// Resolves the edge `name: spec` of the package at `parent` (`None`: the project) to a
    /// package key, adding the package to the graph if it is new.
    async fn resolve_edge(
        &mut self,
        parent: &ChainRef,
        name: &str,
        spec: &str,
        kind: EdgeKind,
    ) -> Result<String, ResolveError> {
        let edge = if spec.is_empty() {
            name.to_owned()
        } else {
            format!("{name}@{spec}")
        };
        let dependent = || {
            parent
                .as_ref()
                .map_or_else(|| "package.json".to_owned(), |p| p.key.clone())
        };
        let parsed = PackageSpec::from_dependency(name, spec).map_err(|source| {
            ResolveError::InvalidSpec {
                dependent: dependent(),
                name: name.to_owned(),
                spec: spec.to_owned(),
                chain: chain_to(parent, &edge),
                source: Box::new(source),
            }
        })?;
        let (target, request) = match parsed.source {
            SpecSource::Registry(request) => (parsed.name.to_string(), request),
            SpecSource::Alias { target, request } => (target.to_string(), request),
            SpecSource::Unsupported { kind, raw } => {
                return Err(ResolveError::UnsupportedSpec {
                    dependent: dependent(),
                    name: name.to_owned(),
                    spec: raw,
                    kind,
                    chain: chain_to(parent, &edge),
                });
            }
        };

        // 1. Dedupe against the graph.
        if let Some(version) = self.by_name.get(&target).and_then(|versions| {
            versions
                .iter()
                .rev()
                .find(|v| satisfies(&request, v))
                .cloned()
        }) {
            let key = package_key(&target, &version);
            self.add_context(&key, parent);
            return Ok(key);
        }
        // 2. Keep what the lockfile has.
        if let Some(key) = self.locked.get(&target).and_then(|versions| {
            versions
                .iter()
                .filter(|(v, _)| satisfies(&request, v))
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, key)| key.clone())
        }) {
            self.import_locked(&key, parent, &edge, kind)?;
            return Ok(key);
        }
        // 3. Ask the registry.
        let packument = self
            .fetcher
            .get(&target)
            .await
            .map_err(|source| ResolveError::Fetch {
                package: target.clone(),
                chain: chain_to(parent, &edge),
                source,
            })?;
        let Some((version, packed)) = pick(&packument, &request, self.options.node_version.get())
        else {
            return Err(ResolveError::NoMatchingVersion {
                package: target.clone(),
                request: request.to_string(),
                latest: packument.dist_tags.get("latest").cloned(),
                chain: chain_to(parent, &edge),
            });
        };
        let key = package_key(&target, &version);
        if self.nodes.contains_key(&key) {
            self.add_context(&key, parent);
            return Ok(key);
        }
        let manifest = packed.manifest().map_err(|e| ResolveError::Fetch {
            package: target.clone(),
            chain: chain_to(parent, &edge),
            source: Arc::new(e),
        })?;
        let chain = Arc::new(Chain {
            key: key.clone(),
            optional: parent.as_ref().is_some_and(|p| p.optional) || kind.is_optional(),
            parent: parent.clone(),
        });
        let node = self.new_node(&target, version, &manifest, chain, &edge)?;
        self.insert(key.clone(), node);
        self.queue.push_back(key.clone());
        Ok(key)
    }

    /// A package from its packument entry; `chain` ends at the package.
    fn new_node(
        &self,
        name: &str,
        version: Version,
        manifest: &VersionManifest,
        chain: Arc<Chain>,
        edge: &str,
    ) -> Result<Node, ResolveError> {
        let key = package_key(name, &version);
        let (package, declared) = from_manifest(name, version, manifest).map_err(|problem| {
            let chain = chain_to(&chain.parent, edge);
            match problem {
                ManifestProblem::MissingTarball => ResolveError::MissingTarball {
                    package: key.clone(),
                    chain,
                },
                ManifestProblem::InvalidIntegrity(source) => ResolveError::InvalidIntegrity {
                    package: key.clone(),
                    chain,
                    source,
                },
            }
        })?;
        let platform = self
            .options
            .platform
            .check(&package.os, &package.cpu, &package.libc)
            .err();
        if let Some(mismatch) = &platform
            && !chain.optional
        {
            return Err(ResolveError::UnsupportedPlatform {
                package: key,
                mismatch: mismatch.clone(),
                chain: DependencyChain(chain_keys(&chain.parent)),
            });
        }
        Ok(Node {
            warnings: warnings(&key, manifest, self.options.node_version.get()),
            package,
            declared: Some(declared),
            chain,
            contexts: Vec::new(),
            fresh: true,
            failure: None,
            platform,
            skipped: Vec::new(),
        })
    }

    fn insert(&mut self, key: String, node: Node) {
        if node.platform.is_none()
            && let Some(prefetch) = &self.options.prefetch
        {
            // The receiver may have stopped listening; resolving goes on regardless.
            let _ = prefetch.send(node.package.clone());
        }
        self.by_name
            .entry(node.package.name.clone())
            .or_default()
            .insert(node.package.version.clone());
        self.nodes.insert(key, node);
    }

    /// Remembers another parent of `key`, for the peer-variant check.
    fn add_context(&mut self, key: &str, parent: &ChainRef) {
        if let Some(node) = self.nodes.get_mut(key)
            && node.fresh
            && !node.package.peer_dependencies.is_empty()
            && node.contexts.len() < MAX_CONTEXTS
            && node.chain.parent.as_ref().map(|p| &p.key) != parent.as_ref().map(|p| &p.key)
        {
            node.contexts.push(parent.clone());
        }
    }

    /// Adds the lockfile's package `key` and everything it depends on, as locked.
    fn import_locked(
        &mut self,
        key: &str,
        parent: &ChainRef,
        edge: &str,
        kind: EdgeKind,
    ) -> Result<(), ResolveError> {
        let Some(lockfile) = self.lockfile else {
            return Err(ResolveError::InconsistentLockfile {
                package: key.to_owned(),
                problem: "no lockfile to read it from".to_owned(),
            });
        };
        let mut stack = vec![(key.to_owned(), parent.clone(), edge.to_owned(), kind)];
        while let Some((key, parent, edge, kind)) = stack.pop() {
            if self.nodes.contains_key(&key) {
                continue;
            }
            let dependent = parent
                .as_ref()
                .map_or_else(|| format!("package.json ({edge})"), |p| p.key.clone());
            let inconsistent = |problem: String| ResolveError::InconsistentLockfile {
                package: dependent.clone(),
                problem,
            };
            let locked = lockfile.packages.get(&key).ok_or_else(|| {
                inconsistent(format!(
                    "depends on {key}, which the lockfile does not list"
                ))
            })?;
            let name = split_package_key(&key)
                .map(|(name, _)| name)
                .filter(|name| package_key(name, &locked.version) == key)
                .ok_or_else(|| {
                    inconsistent(format!(
                        "depends on {key}, whose entry has version {}",
                        locked.version
                    ))
                })?;
            let package = from_locked(name, locked, &self.options.registry)
                .ok_or_else(|| inconsistent(format!("{key} has no `resolved` tarball")))?;
            let chain = Arc::new(Chain {
                key: key.clone(),
                optional: parent.as_ref().is_some_and(|p| p.optional) || kind.is_optional(),
                parent: parent.clone(),
            });
            let platform = self
                .options
                .platform
                .check(&package.os, &package.cpu, &package.libc)
                .err();
            if let Some(mismatch) = &platform
                && !chain.optional
            {
                return Err(ResolveError::UnsupportedPlatform {
                    package: key,
                    mismatch: mismatch.clone(),
                    chain: DependencyChain(chain_keys(&parent)),
                });
            }
            for (name, target) in package
                .dependencies
                .iter()
                .chain(&package.optional_dependencies)
                .rev()
            {
                let kind = package.edge_kind(name);
                stack.push((
                    target.clone(),
                    Some(Arc::clone(&chain)),
                    target.clone(),
                    kind,
                ));
            }
            let node = Node {
                package,
                declared: None,
                chain,
                contexts: Vec::new(),
                fresh: false,
                failure: None,
                platform,
                warnings: Vec::new(),
                skipped: Vec::new(),
            };
            self.insert(key, node);
        }
        Ok(())
    }

    /// Resolves the dependencies, optional dependencies and peers of `key`.
    async fn expand(&mut self, key: &str) -> Result<(), ResolveError> {
        let Some(node) = self.nodes.get_mut(key) else {
            return Ok(());
        };
        let Some(declared) = node.declared.take() else {
            return Ok(());
        };
        let chain = Some(Arc::clone(&node.chain));
        let required_path = !node.chain.optional;

        for (name, spec) in &declared.dependencies {
            match self
                .resolve_edge(&chain, name, spec, EdgeKind::Regular)
                .await
            {
                Ok(target) => {
                    self.node_mut(key, |n| n.package.dependencies.insert(name.clone(), target));
                }
                Err(error) if required_path => return Err(error),
                Err(error) => {
                    // The package cannot be installed; `finish` drops the optional edge above.
                    self.node_mut(key, |n| n.failure = Some(error));
                    return Ok(());
                }
            }
        }
        for (name, spec) in &declared.optional_dependencies {
            match self
                .resolve_edge(&chain, name, spec, EdgeKind::Optional)
                .await
            {
                Ok(target) => {
                    self.node_mut(key, |n| {
                        n.package.optional_dependencies.insert(name.clone(), target)
                    });
                }
                Err(error) => self.node_mut(key, |n| n.skipped.push((name.clone(), error))),
            }
        }
        self.resolve_peers(key, &chain, &declared).await;
        Ok(())
    }

    fn node_mut<T>(&mut self, key: &str, change: impl FnOnce(&mut Node) -> T) {
        if let Some(node) = self.nodes.get_mut(key) {
            change(node);
        }
    }

    async fn resolve_peers(&mut self, key: &str, chain: &ChainRef, declared: &Declared) {
        let Some(node) = self.nodes.get(key) else {
            return;
        };
        let parent = node.chain.parent.clone();
        let meta = node.package.peer_dependencies_meta.clone();
        for (peer, range) in &declared.peer_dependencies {
            // The package's own dependency of the same name wins, as in pnpm.
            if declared.dependencies.contains_key(peer)
                || declared.optional_dependencies.contains_key(peer)
            {
                continue;
            }
            let optional = meta.get(peer).is_some_and(|m| m.optional);
            let target = if let Some(provider) = self.provider(&parent, peer) {
                if let Some(found) = self.nodes.get(&provider)
                    && Range::parse(range).is_ok_and(|r| !r.satisfies(&found.package.version))
                {
                    let warning = Warning::PeerConflict {
                        package: key.to_owned(),
                        peer: peer.clone(),
                        range: range.clone(),
                        found: provider.clone(),
                    };
                    self.node_mut(key, |n| n.warnings.push(warning));
                }
                provider
            } else if optional {
                continue;
            } else {
                let kind = EdgeKind::Peer { optional: false };
                match self.resolve_edge(chain, peer, range, kind).await {
                    Ok(target) => target,
                    Err(reason) => {
                        let warning = Warning::MissingPeer {
                            package: key.to_owned(),
                            peer: peer.clone(),
                            range: range.clone(),
                            reason,
                        };
                        self.node_mut(key, |n| n.warnings.push(warning));
                        continue;
                    }
                }
            };
            self.node_mut(key, |n| n.package.dependencies.insert(peer.clone(), target));
        }
    }

    /// The package an ancestor provides under `name`: the nearest ancestor with a dependency
    /// of that name, or that is that package; the project's direct dependencies last.
    fn provider(&self, ancestors: &ChainRef, name: &str) -> Option<String> {
        let mut current = ancestors.as_deref();
        while let Some(link) = current {
            if let Some(node) = self.nodes.get(&link.key) {
                let package = &node.package;
                if let Some(target) = package
                    .dependencies
                    .get(name)
                    .or_else(|| package.optional_dependencies.get(name))
                {
                    return Some(target.clone());
                }
                if package.name == name {
                    return Some(link.key.clone());
                }
            }
            current = link.parent.as_deref();
        }
        self.root_edges.get(name).cloned()
    }

    /// Warns about packages shared by dependents that provide different versions of a peer.
    fn check_peer_variants(&mut self) {
        let mut found = Vec::new();
        for (key, node) in &self.nodes {
            for context in &node.contexts {
                for peer in node.package.peer_dependencies.keys() {
                    let Some(linked) = node.package.dependencies.get(peer) else {
                        continue;
                    };
                    if let Some(provided) = self.provider(context, peer)
                        && provided != *linked
                    {
                        let dependent = context
                            .as_ref()
                            .map_or_else(|| "package.json".to_owned(), |c| c.key.clone());
                        found.push((
                            key.clone(),
                            Warning::PeerVariant {
                                package: key.clone(),
                                peer: peer.clone(),
                                linked: linked.clone(),
                                provided,
                                dependent,
                            },
                        ));
                    }
                }
            }
        }
        for (key, warning) in found {
            self.node_mut(&key, |n| n.warnings.push(warning));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resolution future can be spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    fn resolve_future_is_send(
        manifest: &PackageJson,
        options: &ResolveOptions,
        source: &sandboxpm_registry::RegistryClient,
    ) -> impl Send {
        resolve(manifest, options, None, source)
    }
}
