//! No copy-on-write clone API here: linking falls back to copies.

use std::io;
use std::path::Path;

/// Always unsupported.
pub(crate) fn reflink(_src: &Path, _dst: &Path, _exec: bool) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}
