//! What the linker is asked to materialise: a resolved graph, flattened to the facts linking needs.
//!
//! The plan is the linker's own input type so that it does not depend on the resolver: whoever
//! owns the graph (a fresh resolution or a lockfile) converts it into a [`LinkPlan`]. Identity is
//! the plan's, never a tarball's claim: the directory a package lands in comes from its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandboxpm_store::{PackageIndex, Sha512Digest};

use crate::desired::dir_name;

/// Everything to link into `<root>/node_modules`.
#[derive(Debug, Clone, Default)]
pub struct LinkPlan {
    /// The project directory (the one holding `package.json`).
    pub root: PathBuf,
    /// Every package of the graph, each once.
    pub packages: Vec<PlannedPackage>,
    /// The project's own dependencies: edge name (what `require` uses; may be an alias) → package
    /// key. Only these appear at the top of `node_modules`.
    pub direct: BTreeMap<String, String>,
}

/// One package of the graph.
#[derive(Debug, Clone)]
pub struct PlannedPackage {
    /// `name@version`, plus a suffix for peer-dependency variants (`a@1.0.0(react@18.2.0)`).
    /// Must start with `name@version`.
    pub key: String,
    /// The real package name (not an alias).
    pub name: String,
    /// The resolved version.
    pub version: String,
    /// Where the files come from.
    pub contents: PackageContents,
    /// Edge name (may be an alias) → package key, for every dependency the package can `require`.
    pub dependencies: BTreeMap<String, String>,
    /// Command → path of its file relative to the package root (normalised by the caller; checked
    /// again here).
    pub bins: BTreeMap<String, String>,
    /// The package's install scripts will run: its files are private copies, never hard links, so
    /// a script cannot change a file other projects share.
    pub private_copy: bool,
}

/// The files of a package: an index already read, or the tarball digest to read it from the store.
///
/// `Stored` lets a warm install skip reading indexes of packages that are already linked: the
/// linker reads one only when it has to materialise or check the package.
#[derive(Debug, Clone)]
pub enum PackageContents {
    /// An index already in memory.
    Index(Arc<PackageIndex>),
    /// The SHA-512 of a tarball the store already holds.
    Stored(Sha512Digest),
}

impl PackageContents {
    /// The tarball's SHA-512, which identifies the contents.
    pub fn tarball(&self) -> Sha512Digest {
        match self {
            PackageContents::Index(index) => index.tarball,
            PackageContents::Stored(digest) => *digest,
        }
    }
}

impl From<PackageIndex> for PackageContents {
    fn from(index: PackageIndex) -> Self {
        PackageContents::Index(Arc::new(index))
    }
}

impl PlannedPackage {
    /// A package keyed `name@version` with no dependencies, no bins, linked from the store.
    pub fn new(name: &str, version: &str, contents: impl Into<PackageContents>) -> Self {
        Self {
            key: format!("{name}@{version}"),
            name: name.to_owned(),
            version: version.to_owned(),
            contents: contents.into(),
            dependencies: BTreeMap::new(),
            bins: BTreeMap::new(),
            private_copy: false,
        }
    }

    /// Adds a dependency edge `edge` → `key`.
    pub fn with_dependency(mut self, edge: &str, key: &str) -> Self {
        self.dependencies.insert(edge.to_owned(), key.to_owned());
        self
    }

    /// Adds a bin `command` → `path`.
    pub fn with_bin(mut self, command: &str, path: &str) -> Self {
        self.bins.insert(command.to_owned(), path.to_owned());
        self
    }

    /// Marks the package for private copies (its install scripts will run).
    pub fn with_private_copy(mut self, private_copy: bool) -> Self {
        self.private_copy = private_copy;
        self
    }
}

/// The name of a package's directory under `node_modules/.sandboxpm/`: the key with `/` replaced
/// by `+`, or a truncated form with a hash suffix when the key is too long for one path component.
pub fn virtual_store_dir_name(key: &str) -> String {
    dir_name(key)
}

/// Where a linked package's files are: `<root>/node_modules/.sandboxpm/<dir>/node_modules/<name>`.
/// Lifecycle scripts run there, and it is the one directory they may write.
pub fn package_path(root: &Path, key: &str, name: &str) -> PathBuf {
    let mut path = root
        .join("node_modules")
        .join(".sandboxpm")
        .join(dir_name(key))
        .join("node_modules");
    path.extend(name.split('/'));
    path
}
