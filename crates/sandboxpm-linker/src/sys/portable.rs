//! Platforms without Unix symlinks and modes: linking is not supported there yet.

use std::fs::Metadata;
use std::io;
use std::path::Path;

/// Unsupported: `node_modules` needs symlinks (junctions on Windows are not implemented yet).
pub(crate) fn symlink(_target: &str, _path: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinked node_modules are only implemented on Unix",
    ))
}

/// There is no execute bit; everything counts as executable.
pub(crate) fn is_executable(_metadata: &Metadata) -> bool {
    true
}

/// Unknown.
pub(crate) fn link_count(_metadata: &Metadata) -> Option<u64> {
    None
}

/// Unknown: never claimed.
pub(crate) fn same_file(_a: &Metadata, _b: &Metadata) -> bool {
    false
}

/// Nothing to do without execute bits.
pub(crate) fn make_executable(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Nothing to do without Unix directory modes.
pub(crate) fn make_dirs_writable(_dir: &Path) -> io::Result<()> {
    Ok(())
}
