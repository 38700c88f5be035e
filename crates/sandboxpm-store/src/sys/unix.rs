//! Unix modes and device numbers.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Blob permissions: 0444, or 0555 for `-exec` blobs. Set with `fchmod`, so the umask does not
/// apply and a shared inode is never writable through any of its links.
pub(crate) fn make_read_only(file: &File, exec: bool) -> io::Result<()> {
    file.set_permissions(Permissions::from_mode(if exec { 0o555 } else { 0o444 }))
}

/// Creates a new private (writable) file, 0644 or 0755 less the umask, like npm.
pub(crate) fn create_private(path: &Path, exec: bool) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if exec { 0o755 } else { 0o644 })
        .open(path)
}

/// The device number: equal for two paths on the same filesystem.
pub(crate) fn filesystem_id(path: &Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.dev())
}

/// Flushes a directory's entries (renames into it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
