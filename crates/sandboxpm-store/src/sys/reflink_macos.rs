//! Copy-on-write clones with `clonefile(2)` (APFS).

use std::ffi::CString;
use std::fs::{self, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Clones `src` into a new file `dst`, then makes it private (writable): `clonefile` copies the
/// blob's read-only mode.
pub(crate) fn reflink(src: &Path, dst: &Path, exec: bool) -> io::Result<()> {
    let source = CString::new(src.as_os_str().as_bytes())?;
    let target = CString::new(dst.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::clonefile(source.as_ptr(), target.as_ptr(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    fs::set_permissions(
        dst,
        Permissions::from_mode(if exec { 0o755 } else { 0o644 }),
    )
}
