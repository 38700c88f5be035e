//! How a link run is configured and what it reports.

use std::path::PathBuf;

use sandboxpm_store::LinkStats;

use crate::error::LinkWarning;

/// What to do with an entry in `node_modules` that sandboxpm did not create and that is where a
/// link must go (say, a directory left by another package manager).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForeignEntries {
    /// Stop before changing anything, naming every such entry ([`crate::LinkError::ForeignEntries`]).
    #[default]
    Fail,
    /// Move each into `node_modules/.sandboxpm/displaced/` (listed in [`LinkReport::displaced`])
    /// and go on. Nothing is deleted.
    MoveAside,
}

/// Options of [`crate::link`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkOptions {
    /// What to do with entries sandboxpm did not create.
    pub foreign: ForeignEntries,
    /// Ignore `lock.json` and check every package directory on disk (`install --force`-like
    /// repair after a user edited `node_modules/.sandboxpm` by hand).
    pub verify: bool,
    /// Put every package that runs no install script, and depends on none that does, in the
    /// store's shared directory ([`sandboxpm_store::Store::links_dir`]), built once for every
    /// project; the project's `node_modules/.sandboxpm/<dir>` is then a link to it.
    pub shared: bool,
}

/// What `lock.json` said at the start of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// A complete record of the last run: only differences were relinked.
    Valid,
    /// A run was interrupted: what it listed was trusted, the rest checked on disk.
    Interrupted,
    /// There was none (first install, or deleted): everything was checked on disk.
    Missing,
    /// Damaged, another format version, or failing validation: everything was checked on disk.
    Unreadable {
        /// Why it was not used.
        reason: String,
    },
    /// [`LinkOptions::verify`] was set: everything was checked on disk.
    Ignored,
}

/// A foreign entry moved aside ([`ForeignEntries::MoveAside`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Displaced {
    /// Where it was.
    pub from: PathBuf,
    /// Where it is now.
    pub to: PathBuf,
}

/// What a link run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReport {
    /// What `lock.json` said at the start.
    pub lock: LockStatus,
    /// Keys whose directory was (re)built from the store, sorted. Their files are fresh: install
    /// scripts must run for these (and only these) again.
    pub linked: Vec<String>,
    /// Keys whose files were kept but whose dependency links or `.bin` entries changed, sorted.
    pub relinked: Vec<String>,
    /// Directory names under `node_modules/.sandboxpm` that were removed, sorted.
    pub removed: Vec<String>,
    /// How many packages were not touched at all.
    pub unchanged: usize,
    /// How the files of the linked packages were materialised.
    pub files: LinkStats,
    /// Foreign entries moved aside.
    pub displaced: Vec<Displaced>,
    /// What was skipped.
    pub warnings: Vec<LinkWarning>,
}

impl LinkReport {
    pub(crate) fn new(lock: LockStatus) -> Self {
        Self {
            lock,
            linked: Vec::new(),
            relinked: Vec::new(),
            removed: Vec::new(),
            unchanged: 0,
            files: LinkStats::default(),
            displaced: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether the run changed nothing on disk.
    pub fn is_noop(&self) -> bool {
        self.linked.is_empty()
            && self.relinked.is_empty()
            && self.removed.is_empty()
            && self.displaced.is_empty()
    }
}
