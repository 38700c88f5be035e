//! `node_modules/.sandboxpm/lock.json`: what is linked, so the next run can skip it.
//!
//! The file records, per package, exactly the inputs that decided its directory (tarball digest,
//! private or shared files, its own bins) and its links (dependency edges, `.bin` entries), plus
//! the root's direct links and bins. A later run compares the plan with it and touches only what
//! differs.
//!
//! It is trusted only as far as it must be. Before any change, an intermediate version marked
//! `"complete": false` is written that lists only the packages the run will not touch; so a crash
//! or an error never leaves the file claiming a half-built directory, and the next run, seeing the
//! flag, checks the rest on disk. A missing, unreadable or newer-format file means everything is
//! checked on disk. And because the file names directories the linker may delete, every entry is
//! validated on reading: a directory name must be the one its key maps to, names must be valid
//! package or command names, so a tampered file cannot point a removal outside `node_modules`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use sandboxpm_store::Sha512Digest;
use serde::{Deserialize, Serialize};

use crate::desired::{dir_name, is_valid_command, is_valid_edge};
use crate::error::{Result, io_error};
use crate::shared::is_entry_name;

/// The format version; a file with another version is ignored (and everything checked on disk).
pub(crate) const LOCK_VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LinkLock {
    pub(crate) lock_version: u32,
    /// False while a run is changing `node_modules` (see module docs).
    pub(crate) complete: bool,
    /// Key → what its directory holds.
    #[serde(default)]
    pub(crate) packages: BTreeMap<String, LockedPackage>,
    /// Direct edge → key.
    #[serde(default)]
    pub(crate) direct: BTreeMap<String, String>,
    /// Root `.bin`: command → link text.
    #[serde(default)]
    pub(crate) bins: BTreeMap<String, String>,
}

/// One package directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LockedPackage {
    pub(crate) dir: String,
    pub(crate) name: String,
    pub(crate) tarball: Sha512Digest,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) private: bool,
    /// Its directory's name in the store's shared directory, when `<dir>` is a link to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shared: Option<String>,
    /// The package's own bins (command → path in the package), made executable in its directory.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) bins: BTreeMap<String, String>,
    /// Edge → key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) dependencies: BTreeMap<String, String>,
    /// Its `.bin`: command → link text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) dep_bins: BTreeMap<String, String>,
    /// Edge → shared directory, for each dependency that is shared while this package is not:
    /// the link goes there, and the name changes when the dependency's closure does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) shared_dependencies: BTreeMap<String, String>,
}

impl LockedPackage {
    /// Whether the directory's files would be the same.
    pub(crate) fn same_contents(&self, other: &Self) -> bool {
        self.dir == other.dir
            && self.name == other.name
            && self.tarball == other.tarball
            && self.private == other.private
            && self.shared == other.shared
            && self.bins == other.bins
    }

    /// Whether the directory's links would be the same.
    pub(crate) fn same_links(&self, other: &Self) -> bool {
        self.dependencies == other.dependencies
            && self.dep_bins == other.dep_bins
            && self.shared_dependencies == other.shared_dependencies
    }

    /// The relative paths of its links below `<dir>/node_modules`.
    pub(crate) fn link_paths(&self) -> BTreeSet<String> {
        self.dependencies
            .keys()
            .cloned()
            .chain(self.dep_bins.keys().map(|c| format!(".bin/{c}")))
            .collect()
    }
}

impl LinkLock {
    /// The relative paths of the root links below `node_modules`.
    pub(crate) fn root_paths(&self) -> BTreeSet<String> {
        self.direct
            .keys()
            .cloned()
            .chain(self.bins.keys().map(|c| format!(".bin/{c}")))
            .collect()
    }
}

/// What was found at the lock file's path.
#[derive(Debug)]
pub(crate) enum Previous {
    /// A complete record of the last run.
    Valid(LinkLock),
    /// A run was interrupted; the packages listed are still exact.
    Interrupted(LinkLock),
    /// No file.
    Missing,
    /// Unreadable, damaged, another version, or failing validation.
    Unreadable(String),
}

pub(crate) fn read(path: &Path) -> Previous {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Previous::Missing,
        Err(e) => return Previous::Unreadable(e.to_string()),
    };
    match parse(&bytes) {
        Ok(lock) if lock.complete => Previous::Valid(lock),
        Ok(lock) => Previous::Interrupted(lock),
        Err(reason) => Previous::Unreadable(reason),
    }
}

fn parse(bytes: &[u8]) -> std::result::Result<LinkLock, String> {
    // The version first, so a newer format reads as "another version", not a field error.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match value.get("lockVersion").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(LOCK_VERSION) => {}
        Some(v) => return Err(format!("format version {v}, expected {LOCK_VERSION}")),
        None => return Err("no lockVersion".into()),
    }
    let lock: LinkLock = serde_json::from_value(value).map_err(|e| e.to_string())?;
    validate(&lock)?;
    Ok(lock)
}

fn validate(lock: &LinkLock) -> std::result::Result<(), String> {
    for (key, package) in &lock.packages {
        if package.dir != dir_name(key) || key.contains(['\0', '\\']) {
            return Err(format!("entry {key:?} has an unexpected directory"));
        }
        if let Some(shared) = &package.shared
            && !is_entry_name(&package.dir, shared)
        {
            return Err(format!("entry {key:?} has an unexpected shared directory"));
        }
        is_valid_edge(&package.name).map_err(|e| format!("entry {key:?}: {e}"))?;
        for edge in package.dependencies.keys() {
            is_valid_edge(edge).map_err(|e| format!("entry {key:?}: {e}"))?;
        }
        for (edge, entry) in &package.shared_dependencies {
            let target = package.dependencies.get(edge);
            if !target.is_some_and(|t| is_entry_name(&dir_name(t), entry)) {
                return Err(format!("entry {key:?} has an unexpected shared dependency"));
            }
        }
        if !package
            .dep_bins
            .keys()
            .chain(package.bins.keys())
            .all(|c| is_valid_command(c))
        {
            return Err(format!("entry {key:?} has an invalid command name"));
        }
    }
    for edge in lock.direct.keys() {
        is_valid_edge(edge)?;
    }
    if !lock.bins.keys().all(|c| is_valid_command(c)) {
        return Err("an invalid root command name".into());
    }
    Ok(())
}

/// Replaces the file atomically (temporary file in the same directory, then rename), so a reader
/// sees the old or the new version, never a torn one.
pub(crate) fn write(path: &Path, lock: &LinkLock) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut json = serde_json::to_vec_pretty(lock)
        .map_err(io::Error::other)
        .map_err(io_error(None, "serialise", path))?;
    json.push(b'\n');
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-lock-")
        .tempfile_in(dir)
        .map_err(io_error(None, "create a temporary file in", dir))?;
    temp.write_all(&json)
        .map_err(io_error(None, "write", temp.path().to_path_buf()))?;
    temp.persist(path)
        .map_err(|e| e.error)
        .map_err(io_error(None, "write", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sample() -> LinkLock {
        let mut lock = LinkLock {
            lock_version: LOCK_VERSION,
            complete: true,
            ..LinkLock::default()
        };
        lock.packages.insert(
            "@s/a@1.0.0".into(),
            LockedPackage {
                dir: "@s+a@1.0.0".into(),
                name: "@s/a".into(),
                tarball: Sha512Digest::of(b"a"),
                private: false,
                shared: None,
                bins: BTreeMap::new(),
                dependencies: BTreeMap::from([("b".into(), "b@1.0.0".into())]),
                dep_bins: BTreeMap::new(),
                shared_dependencies: BTreeMap::new(),
            },
        );
        lock
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.json");
        write(&path, &sample()).unwrap();
        match read(&path) {
            Previous::Valid(lock) => assert_eq!(lock, sample()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tampered_directory_is_rejected() {
        let mut lock = sample();
        lock.packages.get_mut("@s/a@1.0.0").unwrap().dir = "../../../home".into();
        let json = serde_json::to_vec(&lock).unwrap();
        assert!(parse(&json).unwrap_err().contains("unexpected directory"));
    }

    #[test]
    fn tampered_shared_directory_is_rejected() {
        let mut lock = sample();
        let package = lock.packages.get_mut("@s/a@1.0.0").unwrap();
        package.shared = Some(format!("@s+a@1.0.0-{}", "0".repeat(32)));
        assert!(parse(&serde_json::to_vec(&lock).unwrap()).is_ok());
        let package = lock.packages.get_mut("@s/a@1.0.0").unwrap();
        package.shared = Some("../../../home".into());
        let json = serde_json::to_vec(&lock).unwrap();
        assert!(
            parse(&json)
                .unwrap_err()
                .contains("unexpected shared directory")
        );
    }

    #[test]
    fn other_versions_and_garbage_are_unreadable() {
        assert!(
            parse(br#"{"lockVersion": 2}"#)
                .unwrap_err()
                .contains("version 2")
        );
        assert!(parse(b"{").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read(&dir.path().join("missing.json")),
            Previous::Missing
        ));
    }
}
