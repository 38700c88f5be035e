//! Where things live under the store root, and the store-wide lock.
//!
//! ```text
//! <root>/v2/files/<2 hex>/<62 hex>[-exec]    blobs, read-only, named by the BLAKE3 of their content
//! <root>/v2/index/<128 hex>.json             one index per tarball, named by the tarball's SHA-512
//! <root>/v2/tmp/                             staging; finished work is renamed into place
//! <root>/v2/links/<dir>-<32 hex>/node_modules  shared package directories (the linker's; see
//!                                             `sandboxpm-linker`), named by their closure's hash
//! <root>/v2/lock                             adds and links hold it shared, prune exclusive
//! ```
//!
//! The version level lets layouts live side by side: `v1`, which named blobs by SHA-512, is left
//! alone (deleting it is safe once no project links into it). Executable and non-executable copies
//! of the same content are separate blobs because permissions belong to the inode that hard links
//! share.
//! The lock exists only so `prune` cannot delete a blob that a concurrent add has just decided it
//! can reuse; adds among themselves need no lock (a blob is either renamed into place finished,
//! or written in place read-only, and only a read-only blob whose contents are exactly what the
//! add needs is ever reused).

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;

use crate::digest::{BlobHash, Sha512Digest};
use crate::error::{Result, StoreError};

const EXEC_SUFFIX: &str = "-exec";
/// The directory of this layout under the store root.
const VERSION: &str = "v2";

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) files: PathBuf,
    pub(crate) index: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) links: PathBuf,
    lock: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Self {
        let versioned = root.join(VERSION);
        Self {
            files: versioned.join("files"),
            index: versioned.join("index"),
            tmp: versioned.join("tmp"),
            links: versioned.join("links"),
            lock: versioned.join("lock"),
            root,
        }
    }

    /// Creates the directories and the lock file (idempotent, safe to race).
    pub(crate) fn create(&self) -> Result<()> {
        for dir in [&self.files, &self.index, &self.tmp] {
            fs::create_dir_all(dir).map_err(|source| StoreError::Open {
                path: dir.clone(),
                source,
            })?;
        }
        self.open_lock_file().map(drop)
    }

    /// `<hex>[-exec]`: the blob's file name in staging, and its identity in sets.
    pub(crate) fn blob_name(hash: &BlobHash, exec: bool) -> String {
        let mut name = hash.to_hex();
        if exec {
            name.push_str(EXEC_SUFFIX);
        }
        name
    }

    /// `<2 hex>/<rest>[-exec]`: the blob's path relative to the `files` directory.
    pub(crate) fn blob_relative(hash: &BlobHash, exec: bool) -> String {
        let name = Self::blob_name(hash, exec);
        format!("{}/{}", &name[..2], &name[2..])
    }

    pub(crate) fn blob_path(&self, hash: &BlobHash, exec: bool) -> PathBuf {
        self.blob_path_of(&Self::blob_name(hash, exec))
    }

    /// [`Layout::blob_path`] from the blob's name ([`Layout::blob_name`]).
    pub(crate) fn blob_path_of(&self, name: &str) -> PathBuf {
        let (shard, rest) = name.split_at(2);
        let mut path = self.files.join(shard);
        path.push(rest);
        path
    }

    /// Parses `files/<shard>/<file>` back into a digest and the exec flag.
    pub(crate) fn parse_blob(shard: &str, file: &str) -> Option<(BlobHash, bool)> {
        let (rest, exec) = match file.strip_suffix(EXEC_SUFFIX) {
            Some(rest) => (rest, true),
            None => (file, false),
        };
        if shard.len() != 2 || shard.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        if rest.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        BlobHash::from_hex(&format!("{shard}{rest}")).map(|hash| (hash, exec))
    }

    pub(crate) fn index_path(&self, tarball: &Sha512Digest) -> PathBuf {
        self.index.join(format!("{}.json", tarball.to_hex()))
    }

    /// Parses an index file name back into the tarball digest.
    pub(crate) fn parse_index_name(file: &str) -> Option<Sha512Digest> {
        let hex = file.strip_suffix(".json")?;
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        Sha512Digest::from_hex(hex)
    }

    fn open_lock_file(&self) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock)
            .map_err(|source| StoreError::Lock {
                path: self.lock.clone(),
                source,
            })
    }

    /// A shared lock, held by adds and links until the returned file is dropped.
    pub(crate) fn lock_shared(&self) -> Result<File> {
        let file = self.open_lock_file()?;
        file.lock_shared().map_err(|source| StoreError::Lock {
            path: self.lock.clone(),
            source,
        })?;
        Ok(file)
    }

    /// The exclusive lock, held by prune and repair: no add or link is in progress meanwhile.
    pub(crate) fn lock_exclusive(&self) -> Result<File> {
        let file = self.open_lock_file()?;
        file.lock().map_err(|source| StoreError::Lock {
            path: self.lock.clone(),
            source,
        })?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn blob_paths_round_trip() {
        let layout = Layout::new(PathBuf::from("/s"));
        let hash = BlobHash::of(b"x");
        let hex = hash.to_hex();
        let path = layout.blob_path(&hash, true);
        assert_eq!(
            path,
            PathBuf::from(format!("/s/v2/files/{}/{}-exec", &hex[..2], &hex[2..]))
        );
        let shard = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let file = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(Layout::parse_blob(shard, file), Some((hash, true)));
        assert_eq!(Layout::parse_blob(shard, &hex[2..]), Some((hash, false)));
        assert_eq!(Layout::parse_blob(shard, "nope"), None);
        let tarball = Sha512Digest::of(b"x").to_hex();
        assert_eq!(
            Layout::parse_index_name(&format!("{tarball}.json")),
            Sha512Digest::from_hex(&tarball)
        );
        assert_eq!(Layout::parse_index_name(&tarball), None);
        assert_eq!(Layout::parse_index_name(&format!("{hex}.json")), None);
    }
}
