//! The content-addressable store of sandboxpm: integrity-checked, safe extraction of npm tarballs
//! into deduplicated read-only blobs, and materialisation of package directories from them.
//!
//! A tarball's SHA-512 is verified over its whole bytes before a single member is read; then our
//! own extraction loop keeps regular files only, refuses escaping paths, and bounds size, member
//! count and compression ratio ([`ExtractLimits`]). Everything is staged and renamed into place, so
//! a failure leaves nothing behind and concurrent installs can share one store. See `DESIGN.md`,
//! "Store" and "Security model".
#![deny(missing_docs)]

mod digest;
mod entry_path;
mod error;
mod extract;
mod index;
mod inflate;
mod layout;
mod limits;
mod link;
mod maintenance;
mod store;
mod sys;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use digest::{BlobHash, Sha512Digest};
pub use error::{Result, StoreError};
pub use index::{
    DroppedCounts, ExtractWarning, FileEntry, MAX_WARNINGS, PackageIndex, PackageRef, WarningReason,
};
pub use inflate::free_spare_buffers;
pub use limits::{ExtractLimits, Limit};
pub use link::{LinkMethod, LinkMode, LinkStats};
pub use maintenance::{
    CorruptBlob, DamagedIndex, MissingBlob, PruneReport, RepairReport, StoreStatus, VerifyReport,
};
pub use store::{Store, StoreGuard, StoreOptions, links_dir};
