//! Materialises `node_modules` from the store: the virtual store, dependency symlinks, bins, and
//! incremental relinking.
//!
//! ```text
//! node_modules/
//!   .sandboxpm/
//!     <key, / as +>/node_modules/<name>/…      the package's files (hard links, or private copies)
//!     <key, / as +>/node_modules/<edge>        -> ../../<dep dir>/node_modules/<dep name>
//!     <key, / as +>/node_modules/.bin/<cmd>    its dependencies' bins, for its install scripts
//!     lock.json                                what is linked, for the next run
//!   <direct edge>                              -> .sandboxpm/<dir>/node_modules/<name>
//!   .bin/<cmd>                                 the direct dependencies' bins
//! ```
//!
//! With [`LinkOptions::shared`], a package whose install scripts do not run, and which reaches no
//! package whose scripts do, is not built in the project at all: `.sandboxpm/<dir>` is an absolute
//! link to `<store>/v2/links/<dir>-<hash>`, a directory of the same shape built once for every
//! project, named by a hash of the package's whole closure (the `shared` module explains
//! the name). A project whose packages are all in the store links one symlink per package.
//! Packages whose scripts run stay private to the project, as above; their links to shared
//! dependencies are absolute too, so a script's sandbox can grant the real directories.
//!
//! Only direct dependencies appear at the top, so project code can only `require` what
//! `package.json` declares; a package finds its own dependencies because Node resolves the real
//! path of the symlink, whose parent `node_modules` holds exactly those. Every link is relative,
//! so the project can be moved.
//!
//! The linker is the warm install's hot path, so it decides everything from data first
//! ([`LinkPlan`] against `lock.json`) and touches only what changed; a run with nothing to do
//! reads one file and one link per direct dependency. It never executes or reads package code,
//! never changes a store blob (a bin that needs an execute bit gets a private copy), and never
//! deletes an entry at the top of `node_modules` that it did not create ([`ForeignEntries`]).
#![deny(missing_docs)]

mod desired;
mod error;
mod fsops;
mod linker;
mod lockfile;
mod package_dir;
mod plan;
mod report;
mod root;
mod shared;
mod sys;

pub use error::{ForeignEntry, LinkError, LinkWarning, Result};
pub use linker::{LOCK_FILE, link};
pub use plan::{LinkPlan, PackageContents, PlannedPackage, package_path, virtual_store_dir_name};
pub use report::{Displaced, ForeignEntries, LinkOptions, LinkReport, LockStatus};
