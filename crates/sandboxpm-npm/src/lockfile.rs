//! `sandboxpm-lock.json`: the resolved dependency graph, versioned and registry-neutral.
//!
//! Deterministic on purpose: every object is written with sorted keys (struct fields are declared
//! in alphabetical order, maps are `BTreeMap`s), two-space indentation and a final newline, so the
//! same graph always produces the same bytes and diffs show only real changes. Empty collections
//! and false flags are left out.
//!
//! Registry-neutral on purpose: a tarball under the configured registry is stored as a path
//! relative to it (`/react/-/react-18.2.0.tgz`), so the file names no host, works against a mirror,
//! and leaks nothing about a private registry. Tarballs elsewhere keep their full URL.
//!
//! The root project is the importer `"."`; it records each declared dependency's spec as written in
//! `package.json`, which is what `--frozen-lockfile` compares.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::{self, write_atomic};
use crate::integrity::Integrity;
use crate::package_json::{DependencySection, PackageJson};
use crate::semver::Version;

/// The lockfile's file name.
pub const LOCKFILE_NAME: &str = "sandboxpm-lock.json";
/// The format version this code reads and writes.
pub const LOCKFILE_VERSION: u64 = 1;
/// The importer key of the root project.
pub const ROOT_IMPORTER: &str = ".";

/// A lockfile that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The lockfile.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid lockfile of this version.
    #[error("{}: invalid lockfile", path.display())]
    Parse {
        /// The lockfile.
        path: PathBuf,
        /// Where and why parsing failed.
        #[source]
        source: serde_json::Error,
    },
    /// `lockfileVersion` is missing.
    #[error("{}: lockfileVersion is missing", path.display())]
    MissingVersion {
        /// The lockfile.
        path: PathBuf,
    },
    /// Written by a sandboxpm with a different format.
    #[error(
        "{}: lockfileVersion {found} is not supported (this sandboxpm reads version {LOCKFILE_VERSION})",
        path.display()
    )]
    UnsupportedVersion {
        /// The lockfile.
        path: PathBuf,
        /// The version found, as written.
        found: String,
    },
    /// The file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The lockfile.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The whole lockfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Lockfile {
    /// Projects whose dependencies the graph satisfies, by path (`"."` for the root).
    #[serde(default)]
    pub importers: BTreeMap<String, Importer>,
    /// Always [`LOCKFILE_VERSION`].
    pub lockfile_version: u64,
    /// Every package in the graph, by key (`name@version`, see [`package_key`]).
    #[serde(default)]
    pub packages: BTreeMap<String, LockedPackage>,
}

impl Default for Lockfile {
    fn default() -> Self {
        Lockfile {
            importers: BTreeMap::new(),
            lockfile_version: LOCKFILE_VERSION,
            packages: BTreeMap::new(),
        }
    }
}

/// A project's declared dependencies, per section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Importer {
    /// `dependencies`
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, ImporterDependency>,
    /// `devDependencies`
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dev_dependencies: BTreeMap<String, ImporterDependency>,
    /// `optionalDependencies`
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub optional_dependencies: BTreeMap<String, ImporterDependency>,
    /// `peerDependencies`
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peer_dependencies: BTreeMap<String, ImporterDependency>,
}

impl Importer {
    /// The entries of one section.
    pub fn section(&self, section: DependencySection) -> &BTreeMap<String, ImporterDependency> {
        match section {
            DependencySection::Dependencies => &self.dependencies,
            DependencySection::DevDependencies => &self.dev_dependencies,
            DependencySection::OptionalDependencies => &self.optional_dependencies,
            DependencySection::PeerDependencies => &self.peer_dependencies,
        }
    }

    /// The entries of one section, for filling in.
    pub fn section_mut(
        &mut self,
        section: DependencySection,
    ) -> &mut BTreeMap<String, ImporterDependency> {
        match section {
            DependencySection::Dependencies => &mut self.dependencies,
            DependencySection::DevDependencies => &mut self.dev_dependencies,
            DependencySection::OptionalDependencies => &mut self.optional_dependencies,
            DependencySection::PeerDependencies => &mut self.peer_dependencies,
        }
    }
}

/// One declared dependency of an importer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImporterDependency {
    /// The key in `packages` it resolved to (absent when nothing was installed, e.g. an optional
    /// dependency that failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The spec as written in `package.json`.
    pub specifier: String,
}

/// `peerDependenciesMeta.<name>` of a locked package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedPeerMeta {
    /// The peer may be absent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
}

/// One resolved package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedPackage {
    /// Commands it provides: name -> path inside the package.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bin: BTreeMap<String, String>,
    /// `cpu` constraint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu: Vec<String>,
    /// Resolved dependencies: name (as seen by the package) -> key in `packages`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
    /// The registry's deprecation message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// Only reachable through dev dependencies.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dev: bool,
    /// Runs preinstall/install/postinstall, including an implicit `node-gyp rebuild`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub has_install_script: bool,
    /// SRI of the tarball.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
    /// `libc` constraint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libc: Vec<String>,
    /// Only reachable through optional dependencies.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    /// Resolved optional dependencies: name -> key in `packages`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub optional_dependencies: BTreeMap<String, String>,
    /// `os` constraint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub os: Vec<String>,
    /// Only present to satisfy a peer dependency.
    #[serde(default, skip_serializing_if = "is_false")]
    pub peer: bool,
    /// Declared peer dependencies: name -> range.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peer_dependencies: BTreeMap<String, String>,
    /// `peerDependenciesMeta`
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peer_dependencies_meta: BTreeMap<String, LockedPeerMeta>,
    /// The tarball: a path relative to the registry (`/name/-/name-1.0.0.tgz`) or a full URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// The resolved version.
    pub version: Version,
}

impl LockedPackage {
    /// A package with only its version set.
    pub fn new(version: Version) -> Self {
        LockedPackage {
            bin: BTreeMap::new(),
            cpu: Vec::new(),
            dependencies: BTreeMap::new(),
            deprecated: None,
            dev: false,
            has_install_script: false,
            integrity: None,
            libc: Vec::new(),
            optional: false,
            optional_dependencies: BTreeMap::new(),
            os: Vec::new(),
            peer: false,
            peer_dependencies: BTreeMap::new(),
            peer_dependencies_meta: BTreeMap::new(),
            resolved: None,
            version,
        }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The key of a package in [`Lockfile::packages`]: `name@version`.
pub fn package_key(name: &str, version: &Version) -> String {
    format!("{name}@{version}")
}

/// Splits a package key into name and the rest (version, plus any peer suffix).
pub fn split_package_key(key: &str) -> Option<(&str, &str)> {
    let search_from = usize::from(key.starts_with('@'));
    let at = key[search_from..].find('@')? + search_from;
    let (name, rest) = (&key[..at], &key[at + 1..]);
    (!name.is_empty() && !rest.is_empty()).then_some((name, rest))
}

impl Lockfile {
    /// Reads the lockfile at `path`.
    pub fn read(path: &Path) -> Result<Self, LockfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_text(&text, path)
    }

    /// Parses lockfile text; `path` names it in errors. The version is checked before anything
    /// else, so a newer format gets a version error, not a confusing field error.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, LockfileError> {
        let parse_error = |source| LockfileError::Parse {
            path: path.to_owned(),
            source,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse_error)?;
        match value.get("lockfileVersion") {
            None => {
                return Err(LockfileError::MissingVersion {
                    path: path.to_owned(),
                });
            }
            Some(found) if found.as_u64() != Some(LOCKFILE_VERSION) => {
                return Err(LockfileError::UnsupportedVersion {
                    path: path.to_owned(),
                    found: found.to_string(),
                });
            }
            Some(_) => {}
        }
        serde_json::from_str(text).map_err(parse_error)
    }

    /// The canonical text: sorted keys, two-space indentation, final newline.
    pub fn to_text(&self) -> String {
        // Serialising plain structs and string maps cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the lockfile atomically.
    pub fn write(&self, path: &Path) -> Result<(), LockfileError> {
        write_atomic(path, self.to_text().as_bytes()).map_err(|source| LockfileError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// The slow half of [`Lockfile::write`]: the new text written and synced beside `path`,
    /// replacing it only on [`PreparedLockfile::commit`] (an install writes it while it links,
    /// and commits it once linking succeeded).
    pub fn prepare_write(&self, path: &Path) -> Result<PreparedLockfile, LockfileError> {
        match atomic::prepare(path, self.to_text().as_bytes()) {
            Ok(prepared) => Ok(PreparedLockfile(prepared)),
            Err(source) => Err(LockfileError::Write {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The root project's importer.
    pub fn root(&self) -> Option<&Importer> {
        self.importers.get(ROOT_IMPORTER)
    }

    /// Checks that `manifest` declares exactly the dependency specs the root importer recorded
    /// (`--frozen-lockfile`).
    pub fn check_manifest(&self, manifest: &PackageJson) -> Result<(), FrozenLockfileError> {
        let empty = Importer::default();
        check_importer(manifest, self.root().unwrap_or(&empty))
    }
}

/// Converts a tarball URL to what the lockfile stores: relative to `registry` when under it
/// (`/react/-/react-18.2.0.tgz`), unchanged otherwise.
pub fn relative_tarball_url(url: &str, registry: &str) -> String {
    let registry = with_trailing_slash(registry);
    match url.strip_prefix(registry.as_str()) {
        Some(rest) => format!("/{rest}"),
        None => url.to_owned(),
    }
}

/// Converts a stored `resolved` back to a URL against the configured `registry`.
pub fn absolute_tarball_url(resolved: &str, registry: &str) -> String {
    match resolved.strip_prefix('/') {
        Some(rest) if !rest.starts_with('/') => format!("{}{rest}", with_trailing_slash(registry)),
        _ => resolved.to_owned(),
    }
}

fn with_trailing_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// How `package.json` and the lockfile's importer disagree about one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImporterMismatch {
    /// Declared in `package.json`, not in the lockfile.
    Added {
        /// The section.
        section: DependencySection,
        /// The dependency.
        name: String,
        /// The spec in `package.json`.
        specifier: String,
    },
    /// In the lockfile, no longer declared in `package.json`.
    Removed {
        /// The section.
        section: DependencySection,
        /// The dependency.
        name: String,
        /// The spec in the lockfile.
        specifier: String,
    },
    /// Declared with a different spec.
    Changed {
        /// The section.
        section: DependencySection,
        /// The dependency.
        name: String,
        /// The spec in `package.json`.
        manifest: String,
        /// The spec in the lockfile.
        lockfile: String,
    },
}

impl fmt::Display for ImporterMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImporterMismatch::Added {
                section,
                name,
                specifier,
            } => write!(
                f,
                "{section}.{name}: {specifier:?} is in package.json but not in the lockfile"
            ),
            ImporterMismatch::Removed {
                section,
                name,
                specifier,
            } => write!(
                f,
                "{section}.{name}: {specifier:?} is in the lockfile but not in package.json"
            ),
            ImporterMismatch::Changed {
                section,
                name,
                manifest,
                lockfile,
            } => write!(
                f,
                "{section}.{name}: package.json has {manifest:?}, the lockfile has {lockfile:?}"
            ),
        }
    }
}

/// `package.json` and the lockfile disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("package.json and {LOCKFILE_NAME} disagree:{}", list(.mismatches))]
pub struct FrozenLockfileError {
    /// Every difference, by section then name.
    pub mismatches: Vec<ImporterMismatch>,
}

fn list(mismatches: &[ImporterMismatch]) -> String {
    mismatches.iter().map(|m| format!("\n  {m}")).collect()
}

/// Compares each section of `manifest` with the importer's recorded specs.
pub fn check_importer(
    manifest: &PackageJson,
    importer: &Importer,
) -> Result<(), FrozenLockfileError> {
    let mut mismatches = Vec::new();
    for section in DependencySection::ALL {
        let declared = manifest.section(section);
        let locked = importer.section(section);
        let names: std::collections::BTreeSet<&String> =
            declared.keys().chain(locked.keys()).collect();
        for name in names {
            match (declared.get(name), locked.get(name)) {
                (Some(spec), None) => mismatches.push(ImporterMismatch::Added {
                    section,
                    name: name.clone(),
                    specifier: spec.clone(),
                }),
                (None, Some(entry)) => mismatches.push(ImporterMismatch::Removed {
                    section,
                    name: name.clone(),
                    specifier: entry.specifier.clone(),
                }),
                (Some(spec), Some(entry)) if *spec != entry.specifier => {
                    mismatches.push(ImporterMismatch::Changed {
                        section,
                        name: name.clone(),
                        manifest: spec.clone(),
                        lockfile: entry.specifier.clone(),
                    });
                }
                _ => {}
            }
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(FrozenLockfileError { mismatches })
    }
}

/// A lockfile's new text, synced beside it, waiting to replace it; dropped uncommitted, the
/// lockfile is left as it was.
#[derive(Debug)]
pub struct PreparedLockfile(atomic::Prepared);

impl PreparedLockfile {
    /// Replaces the lockfile with the new text (one rename).
    pub fn commit(self) -> Result<(), LockfileError> {
        let path = self.0.path().to_owned();
        self.0
            .commit()
            .map_err(|source| LockfileError::Write { path, source })
    }
}
