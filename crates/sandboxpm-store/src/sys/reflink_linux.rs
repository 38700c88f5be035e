//! Copy-on-write clones with the `FICLONE` ioctl (btrfs, XFS, bcachefs, …).

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd as _;
use std::path::Path;

/// Clones `src` into a new private file `dst`. Fails (leaving no `dst`) when the filesystem cannot
/// share extents or the two paths are on different filesystems.
pub(crate) fn reflink(src: &Path, dst: &Path, exec: bool) -> io::Result<()> {
    let source = File::open(src)?;
    let target = super::create_private(dst, exec)?;
    // SAFETY: both descriptors are open for the whole call (owned by `source` and `target`), and
    // FICLONE takes the source descriptor as its integer argument and touches no user memory.
    let rc = unsafe { libc::ioctl(target.as_raw_fd(), libc::FICLONE, source.as_raw_fd()) };
    if rc == -1 {
        let error = io::Error::last_os_error();
        drop(target);
        let _ = fs::remove_file(dst);
        return Err(error);
    }
    Ok(())
}
