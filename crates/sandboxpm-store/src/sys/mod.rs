//! The only platform-specific code of the store: file modes, filesystem identity, directory fsync
//! and copy-on-write clones. Each platform's version lives in its own module, chosen here.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::{
    Dir, create_private, filesystem_id, hard_link_at, holds_blob, is_complete_blob, make_read_only,
    sync_dir, write_blob,
};

#[cfg(not(unix))]
mod portable;
#[cfg(not(unix))]
pub(crate) use portable::{
    Dir, create_private, filesystem_id, hard_link_at, holds_blob, is_complete_blob, make_read_only,
    sync_dir, write_blob,
};

#[cfg(target_os = "linux")]
mod reflink_linux;
#[cfg(target_os = "linux")]
pub(crate) use reflink_linux::reflink;

#[cfg(target_os = "macos")]
mod reflink_macos;
#[cfg(target_os = "macos")]
pub(crate) use reflink_macos::reflink;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod reflink_none;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(crate) use reflink_none::reflink;
