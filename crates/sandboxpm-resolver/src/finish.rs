//! From the walk to the [`Graph`]: what fails, what is skipped, what is installed here.
//!
//! Whether a failure is fatal depends on the whole graph, not on the path that found it: a
//! package first reached through an optional dependency may also be required from elsewhere.
//! So the walk records failures (a required dependency that did not resolve) and platform
//! mismatches on the packages, and this pass decides, in this order:
//!
//! 1. a package is *unusable* if it failed, or requires (through regular or required-peer
//!    edges) a package that is unusable; for installing here, a platform mismatch makes it
//!    unusable too;
//! 2. if a path of required edges leads from the project to an unusable package, the
//!    resolution fails, naming the package and the path;
//! 3. otherwise optional edges to unusable packages are cut (with a warning and the reason),
//!    and what is still reachable is installed. What is reachable only through cut platform
//!    edges, or only from dev dependencies under `--omit=dev`, stays in the graph for the
//!    lockfile ([`Graph::lock_only`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use sandboxpm_npm::DependencySection;

use crate::error::{DependencyChain, ResolveError};
use crate::graph::{DirectDependency, Graph, ResolvedPackage, compute_flags, effective_root_edges};
use crate::options::ResolveOptions;
use crate::resolve::{Node, Walk};
use crate::warning::{SkipReason, Warning};

pub(crate) fn finish(walk: Walk, options: &ResolveOptions) -> Result<Graph, ResolveError> {
    let Walk {
        nodes,
        mut root,
        root_warnings,
    } = walk;
    let roots = effective_root_edges(&root);

    // Who requires whom: reversed regular and required-peer edges.
    let mut required_by: HashMap<&str, Vec<&str>> = HashMap::new();
    for (key, node) in &nodes {
        for (_, target, kind) in node.package.all_edges() {
            if !kind.is_optional() {
                required_by.entry(target).or_default().push(key);
            }
        }
    }
    let unusable = |seed: &dyn Fn(&Node) -> bool| -> BTreeSet<&str> {
        let mut bad: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = nodes
            .iter()
            .filter(|(_, node)| seed(node))
            .map(|(key, _)| key.as_str())
            .collect();
        while let Some(key) = queue.pop_front() {
            if bad.insert(key) {
                queue.extend(required_by.get(key).into_iter().flatten().copied());
            }
        }
        bad
    };
    let failed = unusable(&|n| n.failure.is_some());
    let unusable_here = unusable(&|n| n.failure.is_some() || n.platform.is_some());

    // Fatal: a required path from the project to a failure, or to a package for another
    // platform (unless only dev dependencies lead there and they are not installed).
    let required_roots = |include_dev: bool| -> Vec<&DirectDependency> {
        roots
            .iter()
            .filter(|r| r.section != DependencySection::OptionalDependencies)
            .filter(|r| include_dev || r.section != DependencySection::DevDependencies)
            .collect()
    };
    if let Some((key, _)) =
        first_on_required_path(&nodes, &required_roots(true), |n| n.failure.is_some())
        && let Some(error) = nodes.get(&key).and_then(|n| n.failure.clone())
    {
        return Err(error);
    }
    if let Some((key, path)) =
        first_on_required_path(&nodes, &required_roots(options.include_dev), |n| {
            n.platform.is_some()
        })
        && let Some(mismatch) = nodes.get(&key).and_then(|n| n.platform.clone())
    {
        return Err(ResolveError::UnsupportedPlatform {
            package: key,
            mismatch,
            chain: DependencyChain(path),
        });
    }

    let lock_view = reach(&nodes, roots.iter(), |key| !failed.contains(key));
    let installed_roots = roots
        .iter()
        .filter(|r| options.include_dev || r.section != DependencySection::DevDependencies);
    let installed = reach(&nodes, installed_roots, |key| !unusable_here.contains(key));

    let reason = |target: &str| -> Option<SkipReason> {
        skip_reason(&nodes, target, failed.contains(target))
    };
    let mut warnings = root_warnings;
    for dependency in &roots {
        if dependency.section == DependencySection::OptionalDependencies
            && unusable_here.contains(dependency.package.as_str())
            && let Some(reason) = reason(&dependency.package)
        {
            warnings.push(Warning::SkippedOptional {
                dependent: "package.json".to_owned(),
                name: dependency.name.clone(),
                reason,
            });
        }
    }
    for section in DependencySection::ALL {
        for entry in root.section_mut(section).values_mut() {
            if entry
                .package
                .as_ref()
                .is_some_and(|key| !lock_view.contains(key.as_str()))
            {
                entry.package = None;
            }
        }
    }

    let mut packages = BTreeMap::new();
    let mut lock_only = BTreeMap::new();
    for (key, node) in &nodes {
        let here = installed.contains(key.as_str());
        if !here && !lock_view.contains(key.as_str()) {
            continue;
        }
        let mut package = node.package.clone();
        let mut cut = Vec::new();
        for map in [
            &mut package.dependencies,
            &mut package.optional_dependencies,
        ] {
            let edges = std::mem::take(map);
            for (name, target) in edges {
                if (here && installed.contains(target.as_str()))
                    || (!here && lock_view.contains(target.as_str()))
                {
                    map.insert(name, target);
                } else {
                    cut.push((name, target));
                }
            }
        }
        if here {
            warnings.extend(node.warnings.iter().cloned());
            for (name, error) in &node.skipped {
                warnings.push(Warning::SkippedOptional {
                    dependent: key.clone(),
                    name: name.clone(),
                    reason: SkipReason::Failed(error.clone()),
                });
            }
        }
        for (name, target) in cut {
            let optional_peer = package.peer_dependencies.contains_key(&name)
                && !node.package.optional_dependencies.contains_key(&name);
            if here
                && !optional_peer
                && let Some(reason) = reason(&target)
            {
                warnings.push(Warning::SkippedOptional {
                    dependent: key.clone(),
                    name: name.clone(),
                    reason,
                });
            }
            if lock_view.contains(target.as_str()) {
                package.lock_only_dependencies.insert(name, target);
            }
        }
        if here {
            packages.insert(key.clone(), package);
        } else {
            lock_only.insert(key.clone(), package);
        }
    }

    let installed_roots: Vec<DirectDependency> = roots
        .iter()
        .filter(|r| packages.contains_key(&r.package))
        .filter(|r| options.include_dev || r.section != DependencySection::DevDependencies)
        .cloned()
        .collect();
    let flags = compute_flags(&installed_roots, &packages, ResolvedPackage::edges);
    for (key, package) in &mut packages {
        let flags = flags.get(key).copied().unwrap_or_default();
        (package.dev, package.optional, package.peer) = (flags.dev, flags.optional, flags.peer);
    }
    let everything: BTreeMap<String, ResolvedPackage> = packages
        .iter()
        .chain(&lock_only)
        .map(|(k, p)| (k.clone(), p.clone()))
        .collect();
    let flags = compute_flags(&roots, &everything, ResolvedPackage::all_edges);
    for (key, package) in &mut lock_only {
        let flags = flags.get(key).copied().unwrap_or_default();
        (package.dev, package.optional, package.peer) = (flags.dev, flags.optional, flags.peer);
    }

    Ok(Graph {
        root,
        packages,
        lock_only,
        warnings,
    })
}

/// Breadth-first from `roots` over required edges (regular and required peers): the first
/// package `hit` accepts, with the keys of the packages on the way to it.
fn first_on_required_path(
    nodes: &BTreeMap<String, Node>,
    roots: &[&DirectDependency],
    hit: impl Fn(&Node) -> bool,
) -> Option<(String, Vec<String>)> {
    let mut parent: HashMap<&str, Option<&str>> = HashMap::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    for root in roots {
        if let Some((key, _)) = nodes.get_key_value(&root.package)
            && !parent.contains_key(key.as_str())
        {
            parent.insert(key, None);
            queue.push_back(key);
        }
    }
    while let Some(key) = queue.pop_front() {
        let Some(node) = nodes.get(key) else { continue };
        if hit(node) {
            let mut path = Vec::new();
            let mut current = parent.get(key).copied().flatten();
            while let Some(up) = current {
                path.push(up.to_owned());
                current = parent.get(up).copied().flatten();
            }
            path.reverse();
            return Some((key.to_owned(), path));
        }
        for (_, target, kind) in node.package.all_edges() {
            if !kind.is_optional()
                && let Some((target, _)) = nodes.get_key_value(target)
                && !parent.contains_key(target.as_str())
            {
                parent.insert(target, Some(key));
                queue.push_back(target);
            }
        }
    }
    None
}

/// The packages reachable from `roots` through edges to packages `allowed` accepts.
fn reach<'n>(
    nodes: &'n BTreeMap<String, Node>,
    roots: impl Iterator<Item = &'n DirectDependency>,
    allowed: impl Fn(&str) -> bool,
) -> BTreeSet<&'n str> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    for root in roots {
        if let Some((key, _)) = nodes.get_key_value(&root.package)
            && allowed(key)
            && seen.insert(key)
        {
            queue.push_back(key);
        }
    }
    while let Some(key) = queue.pop_front() {
        let Some(node) = nodes.get(key) else { continue };
        for (_, target, _) in node.package.all_edges() {
            if let Some((target, _)) = nodes.get_key_value(target)
                && allowed(target)
                && seen.insert(target)
            {
                queue.push_back(target);
            }
        }
    }
    seen
}

/// Why the optional edge to `target` is cut: the failure (when `failed`) or platform mismatch
/// found first on its required paths.
fn skip_reason(nodes: &BTreeMap<String, Node>, target: &str, failed: bool) -> Option<SkipReason> {
    let start = DirectDependency {
        section: DependencySection::Dependencies,
        name: String::new(),
        package: target.to_owned(),
    };
    let (key, _) = if failed {
        first_on_required_path(nodes, &[&start], |n| n.failure.is_some())?
    } else {
        first_on_required_path(nodes, &[&start], |n| n.platform.is_some())?
    };
    let node = nodes.get(&key)?;
    if failed {
        node.failure.clone().map(SkipReason::Failed)
    } else {
        node.platform.clone().map(|mismatch| SkipReason::Platform {
            package: key,
            mismatch,
        })
    }
}
