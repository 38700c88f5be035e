//! From a packument's version entry to a [`ResolvedPackage`] and what is left to resolve.
//!
//! Packument metadata is untrusted and messy; this is where it is normalised once: integrity
//! parsed (an SRI string, else the legacy sha1 `shasum`), `bin` given npm's command names,
//! bundled dependencies taken out of what the registry will be asked for, and an entry in both
//! `dependencies` and `optionalDependencies` treated as optional, as npm does.

use std::collections::{BTreeMap, BTreeSet};

use sandboxpm_npm::{Integrity, IntegrityError, LockedPeerMeta, Range, Version};
use sandboxpm_registry::{Bin, BundleDependencies, VersionManifest};

use crate::graph::ResolvedPackage;
use crate::warning::Warning;

/// The dependencies a fresh package still has to resolve (bundled ones removed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Declared {
    pub dependencies: BTreeMap<String, String>,
    pub optional_dependencies: BTreeMap<String, String>,
    pub peer_dependencies: BTreeMap<String, String>,
}

/// Why a version entry cannot be installed.
#[derive(Debug)]
pub(crate) enum ManifestProblem {
    MissingTarball,
    InvalidIntegrity(IntegrityError),
}

/// The package `name@version` as the packument describes it, with no edges resolved yet.
pub(crate) fn from_manifest(
    name: &str,
    version: Version,
    manifest: &VersionManifest,
) -> Result<(ResolvedPackage, Declared), ManifestProblem> {
    if manifest.dist.tarball.is_empty() {
        return Err(ManifestProblem::MissingTarball);
    }
    let integrity = match (&manifest.dist.integrity, &manifest.dist.shasum) {
        (Some(sri), _) => Some(Integrity::parse(sri)),
        (None, Some(sha1)) => Some(Integrity::from_sha1_hex(sha1)),
        (None, None) => None,
    }
    .transpose()
    .map_err(ManifestProblem::InvalidIntegrity)?;

    let bundled: Vec<String> = match &manifest.bundle_dependencies {
        BundleDependencies::All(true) => manifest
            .dependencies
            .keys()
            .chain(manifest.optional_dependencies.keys())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        BundleDependencies::Names(names) => names.clone(),
        BundleDependencies::All(false) | BundleDependencies::None => Vec::new(),
    };
    let not_bundled = |map: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        map.iter()
            .filter(|(name, _)| !bundled.contains(name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let optional_dependencies = not_bundled(&manifest.optional_dependencies);
    let dependencies = not_bundled(&manifest.dependencies)
        .into_iter()
        .filter(|(name, _)| !optional_dependencies.contains_key(name))
        .collect();
    let declared = Declared {
        dependencies,
        optional_dependencies,
        peer_dependencies: manifest.peer_dependencies.clone(),
    };

    let package = ResolvedPackage {
        name: name.to_owned(),
        version,
        tarball: manifest.dist.tarball.clone(),
        integrity,
        dependencies: BTreeMap::new(),
        optional_dependencies: BTreeMap::new(),
        lock_only_dependencies: BTreeMap::new(),
        peer_dependencies: manifest.peer_dependencies.clone(),
        peer_dependencies_meta: manifest
            .peer_dependencies_meta
            .iter()
            .map(|(name, meta)| {
                let meta = LockedPeerMeta {
                    optional: meta.optional,
                };
                (name.clone(), meta)
            })
            .collect(),
        bundled_dependencies: bundled,
        optional: false,
        dev: false,
        peer: false,
        os: manifest.os.clone(),
        cpu: manifest.cpu.clone(),
        libc: manifest.libc.clone(),
        bin: bins(name, manifest.bin.as_ref()),
        has_install_script: manifest.runs_install_scripts(),
        deprecated: manifest.deprecated.clone(),
        engines: manifest.engines.clone(),
    };
    Ok((package, declared))
}

/// Deprecation and `engines.node` warnings for a version entry.
pub(crate) fn warnings(
    key: &str,
    manifest: &VersionManifest,
    node: Option<&Version>,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if let Some(message) = &manifest.deprecated {
        warnings.push(Warning::Deprecated {
            package: key.to_owned(),
            message: message.clone(),
        });
    }
    if let (Some(node), Some(required)) = (node, manifest.engines.get("node"))
        && Range::parse(required).is_ok_and(|range| !range.satisfies(node))
    {
        warnings.push(Warning::Engines {
            package: key.to_owned(),
            required: required.clone(),
            node: node.to_string(),
        });
    }
    warnings
}

/// `bin` with npm's command names: a string is named after the unscoped package, map keys
/// are reduced to their last path segment, empty entries dropped.
fn bins(package: &str, bin: Option<&Bin>) -> BTreeMap<String, String> {
    let command = |key: &str| {
        let last = key.rsplit(['/', '\\', ':']).next().unwrap_or_default();
        (!matches!(last, "" | "." | "..")).then(|| last.to_owned())
    };
    match bin {
        Some(Bin::Single(path)) if !path.is_empty() => command(package)
            .map(|name| BTreeMap::from([(name, path.clone())]))
            .unwrap_or_default(),
        Some(Bin::Map(map)) => map
            .iter()
            .filter(|(_, path)| !path.is_empty())
            .filter_map(|(key, path)| Some((command(key)?, path.clone())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sandboxpm_npm::package_key;

    fn entry(json: serde_json::Value) -> VersionManifest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn bins_get_npm_command_names() {
        assert_eq!(
            bins("@scope/tool", Some(&Bin::Single("cli.js".into()))),
            BTreeMap::from([("tool".to_owned(), "cli.js".to_owned())])
        );
        let map = Bin::Map(BTreeMap::from([
            ("nested/cmd".to_owned(), "a.js".to_owned()),
            ("..".to_owned(), "b.js".to_owned()),
            ("empty".to_owned(), String::new()),
        ]));
        assert_eq!(
            bins("x", Some(&map)),
            BTreeMap::from([("cmd".to_owned(), "a.js".to_owned())])
        );
    }

    #[test]
    fn integrity_falls_back_to_shasum_and_rejects_garbage() {
        let version = Version::parse("1.0.0").unwrap();
        let sha1 = entry(serde_json::json!({"dist": {
            "tarball": "http://127.0.0.1/x.tgz",
            "shasum": "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        }}));
        let (package, _) = from_manifest("x", version.clone(), &sha1).unwrap();
        assert!(package.integrity.unwrap().is_weak());
        let garbage = entry(serde_json::json!({"dist": {
            "tarball": "http://127.0.0.1/x.tgz", "integrity": "sha512-???"
        }}));
        assert!(matches!(
            from_manifest("x", version.clone(), &garbage),
            Err(ManifestProblem::InvalidIntegrity(_))
        ));
        let none = entry(serde_json::json!({}));
        assert!(matches!(
            from_manifest("x", version, &none),
            Err(ManifestProblem::MissingTarball)
        ));
    }

    #[test]
    fn an_entry_in_both_maps_is_optional_and_bundled_ones_are_left_out() {
        let manifest = entry(serde_json::json!({
            "dependencies": {"a": "1", "b": "1", "c": "1"},
            "optionalDependencies": {"b": "2"},
            "bundleDependencies": ["c"],
            "dist": {"tarball": "http://127.0.0.1/x.tgz"}
        }));
        let (package, declared) =
            from_manifest("x", Version::parse("1.0.0").unwrap(), &manifest).unwrap();
        assert_eq!(declared.dependencies.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(declared.optional_dependencies["b"], "2");
        assert_eq!(package.bundled_dependencies, ["c"]);
        assert_eq!(package.key(), package_key("x", &package.version));
    }
}
