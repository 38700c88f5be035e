//! Errors of the store, each naming what it concerns: the package (`name@version` once known, else
//! the tarball's hash), the archive member, and the path in the store or the destination.

use std::io;
use std::path::PathBuf;

use crate::digest::Sha512Digest;
use crate::index::PackageRef;
use crate::limits::Limit;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's directories could not be created or opened.
    #[error("cannot open the store at {path}")]
    Open {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// The store's lock file could not be locked.
    #[error("cannot lock the store ({path})")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// The tarball is not the one the integrity string describes. Nothing was written.
    #[error(
        "integrity check failed: expected {}, got {} (the tarball was modified or is not the one \
         the lockfile or registry describes); nothing was written to the store",
        expected.to_sri(), actual.to_sri()
    )]
    IntegrityMismatch {
        /// The digest the caller expected.
        expected: Box<Sha512Digest>,
        /// The digest of the bytes received.
        actual: Box<Sha512Digest>,
    },

    /// The archive exceeded an [`crate::ExtractLimits`] bound. Nothing was stored.
    #[error(
        "{package}: tarball exceeds {limit} ({max}){}; refused, nothing was stored",
        entry.as_ref().map(|e| format!(" at entry `{e}`")).unwrap_or_default()
    )]
    LimitExceeded {
        /// The package.
        package: PackageRef,
        /// Which limit.
        limit: Limit,
        /// The limit's value.
        max: u64,
        /// The member being read, when known.
        entry: Option<String>,
    },

    /// The gzip stream or tar structure is broken (truncated, bad checksum, bad header).
    #[error(
        "{package}: corrupt tarball{}",
        entry.as_ref().map(|e| format!(" at entry `{e}`")).unwrap_or_default()
    )]
    CorruptArchive {
        /// The package.
        package: PackageRef,
        /// The member being read, when known.
        entry: Option<String>,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// The archive can be read in more than one way (e.g. a pax size disagreeing with the header),
    /// a classic way to show different contents to different tools; refused.
    #[error(
        "{package}: ambiguous tarball{}: {reason}",
        entry.as_ref().map(|e| format!(" at entry `{e}`")).unwrap_or_default()
    )]
    AmbiguousArchive {
        /// The package.
        package: PackageRef,
        /// The member concerned, when known.
        entry: Option<String>,
        /// What is ambiguous.
        reason: &'static str,
    },

    /// Writing into the store failed (staging, blob or index).
    #[error("{package}: cannot write {path}{}", entry.as_ref().map(|e| format!(" (entry `{e}`)")).unwrap_or_default())]
    Write {
        /// The package.
        package: PackageRef,
        /// The member concerned, when any.
        entry: Option<String>,
        /// The file or directory being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// An index file could not be read.
    #[error("cannot read store index {path}")]
    ReadIndex {
        /// The index file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// An index file is not valid JSON of the expected shape.
    #[error("store index {path} is damaged; run `sandboxpm store verify`")]
    ParseIndex {
        /// The index file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },

    /// An index names a path that is not a normalised relative path; it was not linked.
    #[error("{package}: index entry `{entry}` is not a safe relative path; refusing to link it")]
    UnsafeIndexPath {
        /// The package.
        package: PackageRef,
        /// The offending path.
        entry: String,
    },

    /// A blob named by an index is missing from the store.
    #[error(
        "{package}: blob {path} for `{entry}` is missing from the store; run `sandboxpm store verify`"
    )]
    MissingBlob {
        /// The package.
        package: PackageRef,
        /// The file of the package.
        entry: String,
        /// The blob's path.
        path: PathBuf,
    },

    /// Materialising a file (hard link, reflink or copy) or a directory failed.
    #[error("{package}: cannot create {path} (entry `{entry}`)")]
    Link {
        /// The package.
        package: PackageRef,
        /// The file of the package (empty for the package directory itself).
        entry: String,
        /// The destination path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// Walking or cleaning the store failed.
    #[error("cannot {action} {path}")]
    Maintenance {
        /// What was being done (`read`, `remove`, …).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Result alias for the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
