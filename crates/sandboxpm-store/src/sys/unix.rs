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

/// The mode a blob has while it is written: write-only, so that it is never taken for a
/// finished blob (0444 or 0555), by this process or another, until [`complete_blob`].
const INCOMPLETE: u32 = 0o200;

/// Creates a blob file at its final path, marked incomplete.
pub(crate) fn create_incomplete(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(INCOMPLETE)
        .open(path)
}

/// Whether `path` is a finished blob: a regular file with exactly a blob's permissions.
pub(crate) fn is_complete_blob(path: &Path, exec: bool) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        m.file_type().is_file() && m.mode() & 0o7777 == if exec { 0o555 } else { 0o444 }
    })
}

/// Marks the blob at `path` finished (0444 or 0555).
pub(crate) fn complete_blob(path: &Path, exec: bool) -> io::Result<()> {
    std::fs::set_permissions(
        path,
        Permissions::from_mode(if exec { 0o555 } else { 0o444 }),
    )
}

/// Whether the blob at `path` is still unfinished (write-only), as this process wrote it; a
/// concurrent add's copy renamed over it is finished.
pub(crate) fn is_unfinished_blob(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.mode() & 0o7777 == INCOMPLETE)
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

/// An open directory that paths are resolved against (`*at` calls): linking tens of thousands of
/// files by absolute paths spent a good part of the kernel's time walking the same leading
/// components again and again.
#[derive(Debug)]
pub(crate) struct Dir(std::os::fd::OwnedFd);

impl Dir {
    pub(crate) fn open(path: &Path) -> io::Result<Dir> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Dir(file.into()))
    }

    /// `mkdir(2)` of `relative`, 0777 less the umask.
    pub(crate) fn create_dir(&self, relative: &str) -> io::Result<()> {
        use std::os::fd::AsRawFd as _;
        let relative = c_path(relative)?;
        // SAFETY: a valid directory descriptor and a NUL-terminated path.
        let rc = unsafe { libc::mkdirat(self.0.as_raw_fd(), relative.as_ptr(), 0o777) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// `link(2)` of `from` (relative to `from_dir`) to `to` (relative to `to_dir`), never following a
/// symlink at `from`.
pub(crate) fn hard_link_at(from_dir: &Dir, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let (from, to) = (c_path(from)?, c_path(to)?);
    // SAFETY: valid directory descriptors and NUL-terminated paths.
    let rc = unsafe {
        libc::linkat(
            from_dir.0.as_raw_fd(),
            from.as_ptr(),
            to_dir.0.as_raw_fd(),
            to.as_ptr(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn c_path(path: &str) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(path).map_err(|_| io::ErrorKind::InvalidInput.into())
}
