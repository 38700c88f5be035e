//! Small file system helpers shared by the package and root steps.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sys;

/// `base` joined with a `/`-separated relative path.
pub(crate) fn join_rel(base: &Path, rel: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    path.extend(rel.split('/'));
    path
}

/// A name no other process or thread will pick: `<prefix><pid>-<counter>-<nanos>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PID: OnceLock<u32> = OnceLock::new();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}{}-{}-{nanos:x}",
        PID.get_or_init(std::process::id),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes whatever is at `path` (nothing there is fine). Directories are removed recursively,
/// without following symlinks; if an install script left read-only directories, they are made
/// writable first.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let result = if metadata.is_dir() {
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                sys::make_dirs_writable(path)?;
                fs::remove_dir_all(path)
            }
            other => other,
        }
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Replaces whatever symlink or file is at `path` by a symlink to `text`, atomically: the new link
/// is made under a temporary name and renamed over the old one, so `path` never disappears.
pub(crate) fn replace_with_symlink(text: &str, path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let temp = parent.join(unique_name(".sandboxpm-tmp-"));
    sys::symlink(text, &temp)?;
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// Makes a symlink at `path` to `text` whatever is there, for paths that belong to sandboxpm
/// (inside `.sandboxpm`): missing parents are created, anything else in the way is removed.
/// Returns whether anything changed. The common cases cost one syscall: creating a link in a
/// fresh directory, and finding the right link already there costs two.
pub(crate) fn force_symlink(text: &str, path: &Path) -> io::Result<bool> {
    match sys::symlink(text, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::read_link(path) {
            Ok(current) if current.as_os_str() == text => Ok(false),
            Ok(_) => replace_with_symlink(text, path).map(|()| true),
            Err(_) => {
                remove_tree(path)?;
                sys::symlink(text, path).map(|()| true)
            }
        },
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            let parent = path.parent().unwrap_or(Path::new("."));
            if e.kind() == io::ErrorKind::NotADirectory {
                remove_tree(parent)?;
            }
            fs::create_dir_all(parent)?;
            sys::symlink(text, path).map(|()| true)
        }
        Err(e) => Err(e),
    }
}

/// Removes the directory if it is empty (a scope or `.bin` directory whose last link went).
pub(crate) fn remove_dir_if_empty(path: &Path) {
    // Failure means "not empty" or "not there": both are fine.
    let _ = fs::remove_dir(path);
}

/// What an entry is, for messages.
pub(crate) fn describe(metadata: &fs::Metadata) -> String {
    let kind = metadata.file_type();
    if kind.is_dir() {
        "directory".into()
    } else if kind.is_file() {
        "file".into()
    } else if kind.is_symlink() {
        "symbolic link".into()
    } else {
        "special file".into()
    }
}
