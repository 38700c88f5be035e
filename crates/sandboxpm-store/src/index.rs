//! The per-tarball index: what a package directory looks like, in terms of blobs.
//!
//! An index is the only thing a warm install reads per package, so it is small JSON holding just
//! what linking needs (path → blob hash, mode, size) plus a record of what extraction dropped, so
//! `sandboxpm` can still tell a user, long after the download, that a package shipped a symlink to
//! `/etc/passwd`. It is written last: its existence means every blob it names is in the store.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::digest::{BlobHash, Sha512Digest};

/// The contents of one extracted tarball, as stored in `v2/index/<sha512 hex>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageIndex {
    /// SHA-512 of the whole tarball (also the index's file name).
    pub tarball: Sha512Digest,
    /// `name` from the tarball's `package.json`, if it had a readable one. Informational only: a
    /// package's identity is the one resolved from the lockfile, never the tarball's claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `version` from the tarball's `package.json`, if any (informational, like `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Regular files, by normalised `/`-separated path relative to the package root. Directories
    /// are implied by the paths (empty directories are not kept).
    pub files: BTreeMap<String, FileEntry>,
    /// Members that extraction dropped, by kind.
    #[serde(default, skip_serializing_if = "DroppedCounts::is_empty")]
    pub dropped: DroppedCounts,
    /// Details of refused or overridden members (at most [`MAX_WARNINGS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ExtractWarning>,
}

/// How many warnings an index keeps; the counts in [`DroppedCounts`] stay exact beyond that.
pub const MAX_WARNINGS: usize = 100;

impl PackageIndex {
    /// `name@version` when the tarball said, else the tarball's hash: how errors name the package.
    pub fn package_ref(&self) -> PackageRef {
        PackageRef::new(self.tarball, self.name.as_deref(), self.version.as_deref())
    }

    /// Sum of the file sizes.
    pub fn total_size(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }
}

/// One regular file of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// BLAKE3 of the file's content: the blob's name.
    pub hash: BlobHash,
    /// Permission bits from the tarball (`& 0o777`; setuid, setgid and sticky bits are dropped).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
}

impl FileEntry {
    /// Whether the tarball gave the file any execute bit; such files live in `-exec` blobs.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// Counts of members that were not extracted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DroppedCounts {
    /// Symbolic links (npm drops them too).
    pub symlinks: u64,
    /// Hard links.
    pub hard_links: u64,
    /// Character and block devices.
    pub devices: u64,
    /// Named pipes.
    pub fifos: u64,
    /// pax global extended headers (`g`).
    pub pax_global_headers: u64,
    /// Member types we do not know.
    pub other: u64,
    /// Files refused for their path (see [`WarningReason`]).
    pub refused_paths: u64,
}

impl DroppedCounts {
    /// No member was dropped.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A member that was refused or overridden, with its (lossily decoded) path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractWarning {
    /// The path as the archive gave it (or the normalised one for conflicts).
    pub path: String,
    /// Why.
    pub reason: WarningReason,
}

/// Why a member was refused or overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningReason {
    /// The path has a `..` component.
    ParentComponent,
    /// The path is absolute (`/x`, `\x`, `C:x`).
    AbsolutePath,
    /// The path contains a NUL byte.
    NulByte,
    /// The path is not UTF-8.
    NonUtf8,
    /// The path or one of its components is too long.
    PathTooLong,
    /// A file outside the package directory (nothing left after stripping the first component).
    TopLevelFile,
    /// A later member needed this file's path as a directory; the file was dropped.
    FileReplacedByDirectory,
    /// A later file took the path of a directory; the files below it were dropped.
    DirectoryReplacedByFile,
}

impl fmt::Display for WarningReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WarningReason::ParentComponent => "path contains `..`",
            WarningReason::AbsolutePath => "absolute path",
            WarningReason::NulByte => "path contains a NUL byte",
            WarningReason::NonUtf8 => "path is not UTF-8",
            WarningReason::PathTooLong => "path too long",
            WarningReason::TopLevelFile => "file outside the package directory",
            WarningReason::FileReplacedByDirectory => "file replaced by a directory",
            WarningReason::DirectoryReplacedByFile => "directory replaced by a file",
        })
    }
}

/// How errors and reports name a package: `name@version` when known, else `tarball sha512:<hex>`.
/// Cheap to clone (shared), since every error about a package carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRef(Arc<(Sha512Digest, Option<String>)>);

impl PackageRef {
    pub(crate) fn new(tarball: Sha512Digest, name: Option<&str>, version: Option<&str>) -> Self {
        let name_version = match (name, version) {
            (Some(name), Some(version)) => Some(format!("{name}@{version}")),
            (Some(name), None) => Some(name.to_owned()),
            _ => None,
        };
        Self(Arc::new((tarball, name_version)))
    }

    /// The tarball's SHA-512.
    pub fn tarball(&self) -> &Sha512Digest {
        &self.0.0
    }

    /// `name@version`, once the tarball's `package.json` has been read.
    pub fn name_version(&self) -> Option<&str> {
        self.0.1.as_deref()
    }
}

impl fmt::Display for PackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name_version() {
            Some(name_version) => f.write_str(name_version),
            None => write!(f, "tarball sha512:{}", self.tarball()),
        }
    }
}
