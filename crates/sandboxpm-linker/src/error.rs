//! Errors (linking stopped) and warnings (something was skipped, linking went on), each naming the
//! package key and the path it concerns.

use std::fmt;
use std::io;
use std::path::PathBuf;

use sandboxpm_store::{Sha512Digest, StoreError};

/// Why linking stopped. Whatever was done before is safe: `lock.json` never claims a package
/// directory that is not complete, and the next run finishes or repairs the work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// A package key is not `name@version[suffix]` for the package's name and version, or cannot be
    /// a directory name.
    #[error("{key}: invalid package key in the link plan: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },

    /// Two packages of the plan have the same key.
    #[error("{key}: listed twice in the link plan")]
    DuplicateKey {
        /// The key.
        key: String,
    },

    /// Two keys map to the same directory under `node_modules/.sandboxpm`.
    #[error("{key} and {other} would share the directory node_modules/.sandboxpm/{dir}")]
    DirectoryCollision {
        /// One key.
        key: String,
        /// The other key.
        other: String,
        /// The shared directory name.
        dir: String,
    },

    /// A dependency's edge name is not a valid package name (it becomes a path in `node_modules`).
    #[error("{owner}: dependency name `{edge}` is invalid: {reason}")]
    InvalidEdge {
        /// The package key, or `the project` for direct dependencies.
        owner: String,
        /// The edge name.
        edge: String,
        /// What is wrong.
        reason: String,
    },

    /// A dependency edge points to a key that is not in the plan.
    #[error("{owner}: dependency `{edge}` points to {target}, which is not in the link plan")]
    UnknownDependency {
        /// The package key, or `the project` for direct dependencies.
        owner: String,
        /// The edge name.
        edge: String,
        /// The missing key.
        target: String,
    },

    /// The store has no index for a package's tarball.
    #[error(
        "{key}: the store has no index for tarball {}; add the tarball to the store before linking",
        tarball.to_sri()
    )]
    MissingIndex {
        /// The package key.
        key: String,
        /// The tarball's SHA-512.
        tarball: Box<Sha512Digest>,
    },

    /// The store could not read an index or materialise a package's files.
    #[error("{key}: cannot link from the store")]
    Store {
        /// The package key.
        key: String,
        /// The cause.
        #[source]
        source: StoreError,
    },

    /// A file system operation failed.
    #[error("{}cannot {action} {path}", key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Io {
        /// The package key, when the path belongs to one package.
        key: Option<String>,
        /// What was being done (`create`, `remove`, `rename`, …).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// Entries that sandboxpm did not create are where it must put its own links. Nothing was
    /// changed.
    #[error(
        "{} not created by sandboxpm and {} in the way of dependency links; sandboxpm never \
         deletes what it did not create: move or remove {}, or let sandboxpm move {} aside into \
         node_modules/.sandboxpm/displaced",
        ForeignList(entries),
        if entries.len() == 1 { "is" } else { "are" },
        if entries.len() == 1 { "it" } else { "them" },
        if entries.len() == 1 { "it" } else { "them" },
    )]
    ForeignEntries {
        /// The entries, sorted by path.
        entries: Vec<ForeignEntry>,
    },
}

/// An entry in `node_modules` that sandboxpm did not create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignEntry {
    /// Its path.
    pub path: PathBuf,
    /// What it is (`directory`, `file`, `symbolic link to /elsewhere`).
    pub kind: String,
}

struct ForeignList<'a>(&'a [ForeignEntry]);

impl fmt::Display for ForeignList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} (a {})", entry.path.display(), entry.kind)?;
        }
        f.write_str(if self.0.len() == 1 { " was" } else { " were" })
    }
}

/// Result alias for the linker.
pub type Result<T, E = LinkError> = std::result::Result<T, E>;

/// Something the linker skipped, with the package it concerns. Linking went on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkWarning {
    /// A bin whose path leaves the package, is absolute, or names the package directory.
    BinRejected {
        /// The package key.
        key: String,
        /// The command.
        command: String,
        /// Why (names the manifest field and the path).
        reason: String,
    },
    /// A bin command name that cannot be a file name in `.bin` (`/`, `..`, empty).
    InvalidBinName {
        /// The package key.
        key: String,
        /// The command as given.
        command: String,
    },
    /// A bin's file is not in the package; the `.bin` entry dangles (npm tolerates this too).
    BinTargetMissing {
        /// The package key.
        key: String,
        /// The command.
        command: String,
        /// The path relative to the package root.
        path: String,
    },
    /// Two direct dependencies provide the same command; one was chosen.
    BinConflict {
        /// The command.
        command: String,
        /// The key whose bin is linked.
        kept: String,
        /// The key whose bin is not.
        skipped: String,
    },
    /// A dependency whose edge name is the package's own name but points elsewhere; Node would
    /// always resolve the package itself, so the edge was not linked.
    ShadowedBySelf {
        /// The package key.
        key: String,
        /// The edge name.
        edge: String,
        /// The key it pointed to.
        target: String,
    },
}

impl fmt::Display for LinkWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkWarning::BinRejected {
                key,
                command,
                reason,
            } => write!(f, "{key}: bin `{command}` not linked: {reason}"),
            LinkWarning::InvalidBinName { key, command } => {
                write!(
                    f,
                    "{key}: bin name {command:?} is not a valid file name; not linked"
                )
            }
            LinkWarning::BinTargetMissing { key, command, path } => write!(
                f,
                "{key}: bin `{command}` points to {path}, which is not in the package"
            ),
            LinkWarning::BinConflict {
                command,
                kept,
                skipped,
            } => write!(
                f,
                "{kept} and {skipped} both provide the command `{command}`; linked the one from {kept}"
            ),
            LinkWarning::ShadowedBySelf { key, edge, target } => write!(
                f,
                "{key}: dependency `{edge}` -> {target} has the package's own name and cannot be \
                 required; not linked"
            ),
        }
    }
}

/// Builds an [`LinkError::Io`] for `path`.
pub(crate) fn io_error(
    key: Option<&str>,
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> LinkError {
    let key = key.map(str::to_owned);
    let path = path.into();
    move |source| LinkError::Io {
        key,
        action,
        path,
        source,
    }
}
