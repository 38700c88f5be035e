//! Between [`Graph`] and [`Lockfile`].
//!
//! The lockfile stores tarballs relative to the configured registry, so converting needs the
//! registry URL both ways. It records every package the graph resolved, installed here or not
//! ([`Graph::lock_only`]), and recomputes the dev/optional/peer flags over that whole set, so the
//! flags in the file do not depend on the platform or `--omit=dev` of the machine that wrote it.

use std::collections::BTreeMap;

use sandboxpm_npm::{
    LockedPackage, Lockfile, ROOT_IMPORTER, absolute_tarball_url, relative_tarball_url,
};

use crate::graph::{EdgeKind, Graph, ResolvedPackage, compute_flags, effective_root_edges};

impl Graph {
    /// The lockfile that records this graph, tarballs relative to `registry`.
    pub fn to_lockfile(&self, registry: &str) -> Lockfile {
        let all: BTreeMap<String, ResolvedPackage> = self
            .packages
            .iter()
            .chain(&self.lock_only)
            .map(|(key, package)| (key.clone(), package.clone()))
            .collect();
        let roots = effective_root_edges(&self.root);
        let flags = compute_flags(&roots, &all, ResolvedPackage::all_edges);
        let mut lockfile = Lockfile::default();
        lockfile
            .importers
            .insert(ROOT_IMPORTER.to_owned(), self.root.clone());
        for (key, package) in &all {
            let flags = flags.get(key).copied().unwrap_or_default();
            let mut locked = LockedPackage::new(package.version.clone());
            locked.bin = package.bin.clone();
            locked.cpu = package.cpu.clone();
            locked.os = package.os.clone();
            locked.libc = package.libc.clone();
            locked.deprecated = package.deprecated.clone();
            locked.has_install_script = package.has_install_script;
            locked.integrity = package.integrity.clone();
            locked.peer_dependencies = package.peer_dependencies.clone();
            locked.peer_dependencies_meta = package.peer_dependencies_meta.clone();
            locked.resolved = Some(relative_tarball_url(&package.tarball, registry));
            locked.dev = flags.dev;
            locked.optional = flags.optional;
            locked.peer = flags.peer;
            for (name, target, kind) in package.all_edges() {
                let map = match kind {
                    EdgeKind::Optional => &mut locked.optional_dependencies,
                    EdgeKind::Regular | EdgeKind::Peer { .. } => &mut locked.dependencies,
                };
                map.insert(name.to_owned(), target.to_owned());
            }
            lockfile.packages.insert(key.clone(), locked);
        }
        lockfile
    }
}

/// A package as the lockfile records it, with all its edges in the regular maps (the caller
/// decides later which ones are installed). `None` when `resolved` is missing.
pub(crate) fn from_locked(
    name: &str,
    locked: &LockedPackage,
    registry: &str,
) -> Option<ResolvedPackage> {
    let tarball = absolute_tarball_url(locked.resolved.as_deref()?, registry);
    Some(ResolvedPackage {
        name: name.to_owned(),
        version: locked.version.clone(),
        tarball,
        integrity: locked.integrity.clone(),
        dependencies: locked.dependencies.clone(),
        optional_dependencies: locked.optional_dependencies.clone(),
        lock_only_dependencies: BTreeMap::new(),
        peer_dependencies: locked.peer_dependencies.clone(),
        peer_dependencies_meta: locked.peer_dependencies_meta.clone(),
        bundled_dependencies: Vec::new(),
        optional: false,
        dev: false,
        peer: false,
        os: locked.os.clone(),
        cpu: locked.cpu.clone(),
        libc: locked.libc.clone(),
        bin: locked.bin.clone(),
        has_install_script: locked.has_install_script,
        deprecated: locked.deprecated.clone(),
        engines: BTreeMap::new(),
    })
}
