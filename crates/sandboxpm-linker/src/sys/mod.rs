//! The only platform-specific code of the linker: symlinks, execute bits, link counts. Each
//! platform's version lives in its own module, chosen here.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::{
    is_executable, link_count, make_dirs_writable, make_executable, same_file, symlink,
};

#[cfg(not(unix))]
mod portable;
#[cfg(not(unix))]
pub(crate) use portable::{
    is_executable, link_count, make_dirs_writable, make_executable, same_file, symlink,
};
