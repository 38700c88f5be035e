//! Fallbacks for platforms without Unix modes: read-only flag, no filesystem identity.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// Marks the blob read-only (there is no execute bit to keep).
pub(crate) fn make_read_only(file: &File, _exec: bool) -> io::Result<()> {
    let mut permissions = file.metadata()?.permissions();
    permissions.set_readonly(true);
    file.set_permissions(permissions)
}

/// Writes `data` as a new blob at `path`, then marks it read-only. A blob that cannot be
/// written whole is removed.
pub(crate) fn write_blob(path: &Path, data: &[u8], exec: bool) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let written = file
        .write_all(data)
        .and_then(|()| make_read_only(&file, exec));
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Whether `path` is a finished (read-only) blob holding exactly `data`.
pub(crate) fn holds_blob(path: &Path, data: &[u8], exec: bool) -> bool {
    is_complete_blob(path, exec) && std::fs::read(path).is_ok_and(|there| there == data)
}

/// Whether `path` is a finished (read-only) blob.
pub(crate) fn is_complete_blob(path: &Path, _exec: bool) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.permissions().readonly())
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

/// A directory that paths are joined to.
#[derive(Debug)]
pub(crate) struct Dir(std::path::PathBuf);

impl Dir {
    pub(crate) fn open(path: &Path) -> io::Result<Dir> {
        Ok(Dir(path.to_path_buf()))
    }

    pub(crate) fn create_dir(&self, relative: &str) -> io::Result<()> {
        std::fs::create_dir(self.0.join(relative))
    }
}

/// A hard link from `from_dir/from` to `to_dir/to`.
pub(crate) fn hard_link_at(from_dir: &Dir, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
    std::fs::hard_link(from_dir.0.join(from), to_dir.0.join(to))
}
