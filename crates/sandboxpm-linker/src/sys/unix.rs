//! Unix: relative symlinks, mode bits, and `st_nlink` to tell a private file from a shared blob.

use std::fs::{self, File, Metadata, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

/// Creates a symlink at `path` whose text is `target` (relative targets stay relative, so the
/// project can be moved).
pub(crate) fn symlink(target: &str, path: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

/// Whether the owner may execute the file.
pub(crate) fn is_executable(metadata: &Metadata) -> bool {
    metadata.permissions().mode() & 0o100 != 0
}

/// How many names the inode has; `None` where the platform does not say.
pub(crate) fn link_count(metadata: &Metadata) -> Option<u64> {
    Some(metadata.nlink())
}

/// Whether two metadata describe the same inode.
pub(crate) fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Makes the regular file at `path` executable without changing any inode another name shares.
///
/// A file with one link is private to this project and is simply `chmod`ed. A file with more is
/// (almost certainly) a hard link to a read-only store blob that every project shares: changing
/// its mode would change it everywhere, so it is replaced by a private executable copy, written
/// next to it and renamed over it.
pub(crate) fn make_executable(path: &Path) -> io::Result<()> {
    let metadata = fs::symlink_metadata(path)?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o111 == 0o111 {
        return Ok(());
    }
    if metadata.nlink() == 1 {
        return fs::set_permissions(path, Permissions::from_mode(mode | 0o111));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".sandboxpm-exec-")
        .tempfile_in(dir)?;
    io::copy(&mut File::open(path)?, temp.as_file_mut())?;
    temp.as_file()
        .set_permissions(Permissions::from_mode(0o755))?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Gives the owner full access to `dir` and every directory below it, so the tree can be removed
/// even after an install script made parts of it read-only. Files are never touched (a hard link's
/// mode is the shared blob's; unlinking needs only the directory's permission), and symlinks are
/// not followed.
pub(crate) fn make_dirs_writable(dir: &Path) -> io::Result<()> {
    let metadata = fs::symlink_metadata(dir)?;
    if !metadata.is_dir() {
        return Ok(());
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o700 != 0o700 {
        fs::set_permissions(dir, Permissions::from_mode(mode | 0o700))?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_dirs_writable(&entry.path())?;
        }
    }
    Ok(())
}
