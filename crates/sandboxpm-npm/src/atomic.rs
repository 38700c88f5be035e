//! Atomic file replacement: write a temporary file in the same directory, then rename it over the
//! target, so readers (and a crash) see either the old or the new file, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents` atomically, keeping the permissions of the file it replaces.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    prepare(path, contents)?.commit()
}

/// Writes and syncs `contents` to a temporary file beside `path`: the slow half of
/// [`write_atomic`], which can run while other work goes on. Nothing replaces `path` until
/// [`Prepared::commit`]; dropped uncommitted, the temporary file is removed.
pub(crate) fn prepare(path: &Path, contents: &[u8]) -> std::io::Result<Prepared> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".sandboxpm-tmp-")
        .tempfile_in(dir)?;
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    Ok(Prepared {
        temp,
        path: path.to_path_buf(),
    })
}

/// A file's new contents, synced to disk beside it, waiting to replace it.
#[derive(Debug)]
pub(crate) struct Prepared {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl Prepared {
    /// The file it replaces.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the new contents over the file, keeping the permissions of the file it replaces.
    pub(crate) fn commit(self) -> std::io::Result<()> {
        if let Ok(metadata) = std::fs::metadata(&self.path) {
            self.temp
                .as_file()
                .set_permissions(metadata.permissions())?;
        }
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_prepared_write_replaces_the_file_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.json");
        std::fs::write(&path, "old").unwrap();

        let dropped = prepare(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        drop(dropped);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names(dir.path()), ["lock.json"]);

        prepare(&path, b"new").unwrap().commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(names(dir.path()), ["lock.json"]);
    }
}
