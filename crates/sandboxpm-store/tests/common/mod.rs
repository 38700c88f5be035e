//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use sandboxpm_store::Store;
use tempfile::TempDir;

/// A fresh store in a temp dir; the dir also has room for link destinations next to the store.
pub fn store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

/// Every path under `root` (relative, not following symlinks), directories included.
pub fn tree(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            out.insert(path.strip_prefix(root).unwrap().to_path_buf());
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// Blob and index files of a store (the parts that must not change on a refused tarball). The
/// shard directories under `files/` are structure, created as blobs need them, and not listed.
pub fn store_contents(store: &Store) -> BTreeSet<PathBuf> {
    let versioned = store.path().join("v2");
    assert!(
        versioned.is_dir(),
        "the store layout moved: {}",
        versioned.display()
    );
    let files = versioned.join("files");
    tree(&files)
        .into_iter()
        .filter(|p| p.components().count() > 1 || !files.join(p).is_dir())
        .map(|p| Path::new("files").join(p))
        .chain(
            tree(&versioned.join("index"))
                .into_iter()
                .map(|p| Path::new("index").join(p)),
        )
        .chain(
            tree(&versioned.join("tmp"))
                .into_iter()
                .map(|p| Path::new("tmp").join(p)),
        )
        .collect()
}

pub fn paths(list: &[&str]) -> BTreeSet<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}
