//! `verify`, `repair`, `prune` and `status`: looking after a store that lives for years and is
//! shared by every project of a user.
//!
//! `verify` trusts nothing it reads: it re-hashes every blob and re-reads every index. `repair`
//! removes what `verify` found broken, together with every index that relies on it, so the next
//! install downloads those packages again instead of linking bad files. `prune` keeps only the
//! indexes it is given and the blobs they reference. Both take the store's exclusive lock, so they
//! never race an add that has just decided to reuse a blob.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::digest::{BlobHash, Sha512Digest, hash_reader};
use crate::entry_path::is_normal_relative;
use crate::error::{Result, StoreError};
use crate::index::{PackageIndex, PackageRef};
use crate::layout::Layout;
use crate::store::{Store, parse_index};

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs re-hashed.
    pub blobs_checked: u64,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Indexes read.
    pub indexes_checked: u64,
    /// Blobs whose content does not match their name, or that could not be read.
    pub corrupt: Vec<CorruptBlob>,
    /// Blobs that an index needs but the store lacks.
    pub missing: Vec<MissingBlob>,
    /// Indexes that cannot be used (unreadable, not JSON, unsafe paths, wrong name).
    pub damaged_indexes: Vec<DamagedIndex>,
    /// Files in `files/` or `index/` that are not named like store entries (left alone).
    pub stray_files: Vec<PathBuf>,
}

impl VerifyReport {
    /// Nothing corrupt, missing or damaged.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.damaged_indexes.is_empty()
    }
}

/// A blob whose content is not what its name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptBlob {
    /// The blob file.
    pub path: PathBuf,
    /// The digest its name promises.
    pub expected: BlobHash,
    /// The digest of its content, when it could be read.
    pub actual: Option<BlobHash>,
    /// What is wrong, in words.
    pub problem: String,
}

/// A blob an index refers to that is not in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingBlob {
    /// The index that needs it.
    pub index: PathBuf,
    /// The package of that index.
    pub package: PackageRef,
    /// The package file that needs it.
    pub entry: String,
    /// Where the blob should be.
    pub blob: PathBuf,
}

/// An index that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedIndex {
    /// The index file.
    pub path: PathBuf,
    /// What is wrong, in words.
    pub problem: String,
}

/// What [`Store::repair`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Corrupt blobs removed.
    pub removed_blobs: u64,
    /// Indexes removed (damaged, or relying on a corrupt or missing blob).
    pub removed_indexes: u64,
    /// Shared package directories removed (they hold the removed blobs' inodes).
    pub removed_shared: u64,
}

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Indexes removed (not in the kept set, or damaged).
    pub removed_indexes: u64,
    /// Blobs removed (referenced by no kept index).
    pub removed_blobs: u64,
    /// Bytes of the removed blobs.
    pub freed_bytes: u64,
    /// Leftovers of interrupted work removed from `tmp/` and `links/`.
    pub removed_tmp_entries: u64,
    /// Shared package directories removed (no kept project links them).
    pub removed_shared: u64,
}

/// What [`Store::status`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// Indexes (tarballs) in the store.
    pub indexes: u64,
    /// Blobs in the store.
    pub blobs: u64,
    /// Bytes of all blobs (each counted once, however many projects link it).
    pub blob_bytes: u64,
    /// Entries in `tmp/` (work in progress, or leftovers of interrupted work).
    pub tmp_entries: u64,
    /// Shared package directories in `links/`.
    pub shared: u64,
}

struct BlobFile {
    path: PathBuf,
    hash: BlobHash,
    exec: bool,
}

struct IndexFile {
    path: PathBuf,
    tarball: Sha512Digest,
}

/// Entries of a store directory that are named like store entries, and those that are not.
struct Listing<T> {
    found: Vec<T>,
    strays: Vec<PathBuf>,
}

impl Store {
    /// Re-hashes every blob and re-reads every index. Reports problems; changes nothing.
    pub fn verify(&self) -> Result<VerifyReport> {
        let _lock = self.hold_shared()?;
        let mut report = VerifyReport::default();
        let blobs = list_blobs(&self.layout)?;
        report.stray_files.extend(blobs.strays);
        let results: Vec<(u64, Option<CorruptBlob>)> =
            blobs.found.par_iter().map(check_blob).collect();
        for (bytes, corrupt) in results {
            report.blobs_checked += 1;
            report.bytes_checked += bytes;
            report.corrupt.extend(corrupt);
        }
        report.corrupt.sort_by(|a, b| a.path.cmp(&b.path));

        let indexes = list_indexes(&self.layout)?;
        report.stray_files.extend(indexes.strays);
        for IndexFile { path, tarball } in indexes.found {
            report.indexes_checked += 1;
            let index = match load_checked(&path, &tarball) {
                Ok(index) => index,
                Err(problem) => {
                    report.damaged_indexes.push(DamagedIndex { path, problem });
                    continue;
                }
            };
            for (entry, file) in &index.files {
                let blob = self.blob_path(file);
                if !blob.try_exists().unwrap_or(false) {
                    report.missing.push(MissingBlob {
                        index: path.clone(),
                        package: index.package_ref(),
                        entry: entry.clone(),
                        blob,
                    });
                }
            }
        }
        Ok(report)
    }

    /// Removes what `report` (from [`Store::verify`]) found broken: corrupt blobs, damaged indexes,
    /// and every index that refers to a corrupt or missing blob.
    pub fn repair(&self, report: &VerifyReport) -> Result<RepairReport> {
        let _lock = self.layout.lock_exclusive()?;
        let mut repaired = RepairReport::default();
        for corrupt in &report.corrupt {
            if remove_file_if_present(&corrupt.path)? {
                repaired.removed_blobs += 1;
            }
        }
        for damaged in &report.damaged_indexes {
            if remove_file_if_present(&damaged.path)? {
                repaired.removed_indexes += 1;
            }
        }
        let bad: HashSet<&Path> = report
            .corrupt
            .iter()
            .map(|c| c.path.as_path())
            .chain(report.missing.iter().map(|m| m.blob.as_path()))
            .collect();
        if bad.is_empty() {
            return Ok(repaired);
        }
        // A shared directory holds blobs' inodes: one may hold the corrupt content, or lack a file.
        // Each is rebuilt from the store by the next install of a project that links it.
        for entry in read_dir(&self.layout.links)? {
            remove_tree(&entry)?;
            repaired.removed_shared += 1;
        }
        for IndexFile { path, tarball } in list_indexes(&self.layout)?.found {
            let relies_on_bad = match load_checked(&path, &tarball) {
                Ok(index) => index
                    .files
                    .values()
                    .any(|f| bad.contains(self.blob_path(f).as_path())),
                Err(_) => true,
            };
            if relies_on_bad && remove_file_if_present(&path)? {
                repaired.removed_indexes += 1;
            }
        }
        Ok(repaired)
    }

    /// Keeps the indexes of the tarballs in `keep` and the blobs they reference, and the shared
    /// package directories named in `keep_shared`; removes every other index, blob and shared
    /// directory, and the leftovers of interrupted work.
    pub fn prune(
        &self,
        keep: impl IntoIterator<Item = [u8; 64]>,
        keep_shared: &HashSet<String>,
    ) -> Result<PruneReport> {
        let keep: HashSet<Sha512Digest> = keep.into_iter().map(Sha512Digest).collect();
        let _lock = self.layout.lock_exclusive()?;
        let mut report = PruneReport::default();

        // First, so the blobs they hard-link are freed with the rest. The exclusive lock means no
        // link run is pointing a project at one meanwhile.
        for entry in read_dir(&self.layout.links)? {
            let kept = entry
                .file_name()
                .is_some_and(|n| keep_shared.contains(n.to_string_lossy().as_ref()));
            if kept {
                continue;
            }
            remove_tree(&entry)?;
            if is_dot_name(&entry) {
                report.removed_tmp_entries += 1;
            } else {
                report.removed_shared += 1;
            }
        }

        let mut referenced: HashSet<(BlobHash, bool)> = HashSet::new();
        for IndexFile { path, tarball } in list_indexes(&self.layout)?.found {
            let index = if keep.contains(&tarball) {
                load_checked(&path, &tarball).ok()
            } else {
                None
            };
            match index {
                Some(index) => {
                    referenced.extend(index.files.values().map(|f| (f.hash, f.is_executable())))
                }
                None => {
                    if remove_file_if_present(&path)? {
                        report.removed_indexes += 1;
                    }
                }
            }
        }

        let mut shards = HashSet::new();
        for blob in list_blobs(&self.layout)?.found {
            if referenced.contains(&(blob.hash, blob.exec)) {
                continue;
            }
            let size = fs::symlink_metadata(&blob.path).map_or(0, |m| m.len());
            if remove_file_if_present(&blob.path)? {
                report.removed_blobs += 1;
                report.freed_bytes += size;
            }
            if let Some(shard) = blob.path.parent() {
                shards.insert(shard.to_path_buf());
            }
        }
        for shard in shards {
            // Only succeeds when empty, which is the point.
            let _ = fs::remove_dir(shard);
        }

        // The exclusive lock means nobody is staging: everything in tmp/ is a leftover.
        for entry in read_dir(&self.layout.tmp)? {
            remove_tree(&entry)?;
            report.removed_tmp_entries += 1;
        }
        Ok(report)
    }

    /// Counts indexes, blobs and their bytes.
    pub fn status(&self) -> Result<StoreStatus> {
        let indexes = list_indexes(&self.layout)?.found;
        let blobs = list_blobs(&self.layout)?.found;
        let blob_bytes = blobs
            .iter()
            .map(|b| fs::symlink_metadata(&b.path).map_or(0, |m| m.len()))
            .sum();
        Ok(StoreStatus {
            indexes: indexes.len() as u64,
            blobs: blobs.len() as u64,
            blob_bytes,
            tmp_entries: read_dir(&self.layout.tmp)?.len() as u64,
            shared: read_dir(&self.layout.links)?
                .iter()
                .filter(|p| !is_dot_name(p))
                .count() as u64,
        })
    }
}

/// Re-hashes one blob: (bytes read, the problem if any).
fn check_blob(blob: &BlobFile) -> (u64, Option<CorruptBlob>) {
    let corrupt = |actual, problem: String| CorruptBlob {
        path: blob.path.clone(),
        expected: blob.hash,
        actual,
        problem,
    };
    match File::open(&blob.path).and_then(hash_reader) {
        Ok((actual, bytes)) if actual == blob.hash => {
            // Not read-only: left unfinished by an earlier version of the store's writer, which
            // made blobs read-only at the commit (complete here, but the next add replaces it).
            if crate::sys::is_complete_blob(&blob.path, blob.exec) {
                (bytes, None)
            } else {
                let problem = "unfinished: not read-only".into();
                (bytes, Some(corrupt(Some(actual), problem)))
            }
        }
        Ok((actual, bytes)) => (
            bytes,
            Some(corrupt(
                Some(actual),
                "content does not match its hash".into(),
            )),
        ),
        Err(e) => (0, Some(corrupt(None, format!("cannot read: {e}")))),
    }
}

/// Reads an index and checks it can be used safely; the problem in words otherwise.
fn load_checked(path: &Path, tarball: &Sha512Digest) -> Result<PackageIndex, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let index = parse_index(path, &bytes).map_err(|e| match std::error::Error::source(&e) {
        Some(cause) => format!("not a valid index: {cause}"),
        None => e.to_string(),
    })?;
    if index.tarball != *tarball {
        return Err("describes a different tarball than its name says".into());
    }
    if let Some(bad) = index.files.keys().find(|p| !is_normal_relative(p)) {
        return Err(format!("unsafe path `{bad}`"));
    }
    Ok(index)
}

fn list_blobs(layout: &Layout) -> Result<Listing<BlobFile>> {
    let mut found = Vec::new();
    let mut strays = Vec::new();
    for shard in read_dir(&layout.files)? {
        if !shard.is_dir() {
            strays.push(shard);
            continue;
        }
        let shard_name = file_name(&shard);
        for path in read_dir(&shard)? {
            match Layout::parse_blob(&shard_name, &file_name(&path)) {
                Some((hash, exec)) => found.push(BlobFile { path, hash, exec }),
                None => strays.push(path),
            }
        }
    }
    Ok(Listing { found, strays })
}

fn list_indexes(layout: &Layout) -> Result<Listing<IndexFile>> {
    let mut found = Vec::new();
    let mut strays = Vec::new();
    for path in read_dir(&layout.index)? {
        match Layout::parse_index_name(&file_name(&path)) {
            Some(tarball) => found.push(IndexFile { path, tarball }),
            None => strays.push(path),
        }
    }
    Ok(Listing { found, strays })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The entries of `dir`, sorted; none if it does not exist.
fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let read_err = |source| StoreError::Maintenance {
        action: "read",
        path: dir.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut paths = entries
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(read_err)?;
    paths.sort();
    Ok(paths)
}

/// `.tmp-*` and `.trash-*`: the linker's work in progress or leftovers.
fn is_dot_name(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Removes a directory tree (or a file), not following symlinks.
fn remove_tree(path: &Path) -> Result<()> {
    let removed = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Maintenance {
            action: "remove",
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Removes a file; `false` if it was already gone (another prune, or a repair, got there first).
fn remove_file_if_present(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StoreError::Maintenance {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}
