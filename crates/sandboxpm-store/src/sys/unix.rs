//! Unix modes and device numbers.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Blob permissions: 0444, or 0555 for `-exec` blobs. Set with `fchmod`, so the umask does not
/// apply and a shared inode is never writable through any of its links.
pub(crate) fn make_read_only(file: &File, exec: bool) -> io::Result<()> {
    file.set_permissions(Permissions::from_mode(blob_mode(exec)))
}

/// A blob's permissions.
fn blob_mode(exec: bool) -> u32 {
    if exec { 0o555 } else { 0o444 }
}

/// Writes `data` as a new blob at `path`, created with its final permissions (0444 or 0555: the
/// descriptor opened to create it still writes), so that no second call changes its inode. A
/// blob that cannot be written whole is removed, unless a concurrent add has already replaced
/// it. Only [`holds_blob`] decides whether a blob already there can be used: one cut short by a
/// crash has the right permissions, but not the right contents.
pub(crate) fn write_blob(path: &Path, data: &[u8], exec: bool) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(blob_mode(exec))
        .open(path)?;
    let written = if umask_keeps_blob_modes() {
        Ok(())
    } else {
        make_read_only(&file, exec)
    }
    .and_then(|()| file.write_all(data));
    if let Err(error) = written {
        let ours = file.metadata().map(|m| (m.dev(), m.ino()));
        let there = std::fs::symlink_metadata(path).map(|m| (m.dev(), m.ino()));
        if let (Ok(ours), Ok(there)) = (ours, there)
            && ours == there
        {
            let _ = std::fs::remove_file(path);
        }
        return Err(error);
    }
    Ok(())
}

/// Whether the umask leaves a blob's permissions as they are asked for at creation (it always
/// does with the usual 022 or 002). Read once, from `/proc`: setting the umask to learn it would
/// change it for every thread meanwhile. When it cannot be read, permissions are set explicitly.
fn umask_keeps_blob_modes() -> bool {
    static KEEPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEPS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("Umask:"))?;
                u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
            })
            .is_some_and(|umask| umask & 0o555 == 0)
    })
}

/// Whether `path` is a finished blob holding exactly `data`: a regular file (not followed
/// through a symlink) with a blob's permissions, and those contents.
pub(crate) fn holds_blob(path: &Path, data: &[u8], exec: bool) -> bool {
    let Ok(mut file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    else {
        return false;
    };
    let fits = file.metadata().is_ok_and(|m| {
        m.file_type().is_file()
            && m.mode() & 0o7777 == blob_mode(exec)
            && m.len() == data.len() as u64
    });
    if !fits {
        return false;
    }
    let mut there = Vec::with_capacity(data.len());
    file.read_to_end(&mut there).is_ok() && there == data
}

/// Whether `path` is a finished blob: a regular file with exactly a blob's permissions. A blob
/// that is not read-only was left unfinished by an earlier version of this store's writer, or
/// changed since.
pub(crate) fn is_complete_blob(path: &Path, exec: bool) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.mode() & 0o7777 == blob_mode(exec))
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
