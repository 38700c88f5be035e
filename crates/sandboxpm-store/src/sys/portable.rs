//! Fallbacks for platforms without Unix modes: read-only flag, no filesystem identity.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Marks the blob read-only (there is no execute bit to keep).
pub(crate) fn make_read_only(file: &File, _exec: bool) -> io::Result<()> {
    let mut permissions = file.metadata()?.permissions();
    permissions.set_readonly(true);
    file.set_permissions(permissions)
}

/// Creates a new writable file.
pub(crate) fn create_private(path: &Path, _exec: bool) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Unknown: every destination shares one cached link method, and per-file fallback still applies.
pub(crate) fn filesystem_id(_path: &Path) -> io::Result<u64> {
    Ok(0)
}

/// Directories cannot be opened for syncing here; renames are left to the filesystem.
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
