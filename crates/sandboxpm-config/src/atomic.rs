//! Atomic file replacement: write a temporary file in the same directory, then rename it over the
//! target, so readers (and a crash) see either the old or the new file, never half of one.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `contents` atomically, keeping the permissions of the file it replaces.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".sandboxpm-tmp-")
        .tempfile_in(dir)?;
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    if let Ok(metadata) = std::fs::metadata(path) {
        temp.as_file().set_permissions(metadata.permissions())?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
