//! The store handle: opening, adding tarballs, reading indexes.
//!
//! Adding is verify → extract into a private staging directory → rename blobs into place → write
//! the index last. Each step is what makes the next safe:
//!
//! - the digest is checked over the whole tarball before anything is read from it or written, so a
//!   tampered tarball leaves no trace;
//! - an archive read whole from memory (nearly every npm tarball) has its headers read first,
//!   which finds every reason to refuse it (limits, hostile or ambiguous members, a member cut
//!   short), and the contents of the files it keeps written only then, so a bomb or a corrupt
//!   archive leaves nothing behind either. A new small file is then written straight to its blob's path,
//!   read-only from its creation (one syscall fewer per file than making it so afterwards). An
//!   add only reuses a blob that is there when it has a blob's permissions and exactly the
//!   contents it needs: what a crash in the middle of a write leaves is replaced. Everything else
//!   (large files, a blob being written by another add or cut short, every file of a streamed
//!   archive, every file when fsync is on) goes into `tmp/<unique>/`, which is deleted on any
//!   error;
//! - only once the whole tarball has been accepted are the staged blobs renamed into `files/`; a
//!   rename is atomic, and two processes renaming the same content race harmlessly (same bytes,
//!   same name). Blobs written in place before a failure that only writing finds (a full disk)
//!   stay: whole and correct, but used by no index, until `prune`;
//! - the index is renamed into place after its blobs, so an index's existence means its blobs exist.
//!
//! Durability: by default nothing is fsynced (like pnpm): blobs are content-addressed, so a blob
//! torn by a crash is found by `verify` and removed by `repair`, and the next install re-downloads
//! it. [`StoreOptions::fsync`] makes every blob, index and directory rename durable instead.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::digest::Sha512Digest;
use crate::error::{Result, StoreError};
use crate::extract::{Extraction, Staging, extract};
use crate::index::{FileEntry, PackageIndex};
use crate::layout::Layout;
use crate::limits::ExtractLimits;
use crate::link::LinkMethod;
use crate::sys;

/// How a store is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// fsync blobs, indexes and the directories they are renamed into (slower; see module docs).
    pub fsync: bool,
}

/// A content-addressable package store rooted at a directory (`~/.sandboxpm/store` by default).
///
/// A `Store` is `Sync`: share one between threads. Several processes may use the same directory at
/// once.
#[derive(Debug)]
pub struct Store {
    pub(crate) layout: Layout,
    options: StoreOptions,
    /// The link method that worked for each destination filesystem (by device id), per mode.
    pub(crate) link_methods: Mutex<HashMap<(u64, bool), LinkMethod>>,
    /// This handle's hold on the store's shared lock, shared by its adds and links.
    shared: Arc<SharedLock>,
    /// `files`, opened by the first link and kept open for the next ones.
    blobs: OnceLock<sys::Dir>,
}

/// The directory of shared package directories of the store at `root`, without opening it
/// ([`Store::links_dir`]).
pub fn links_dir(root: &Path) -> PathBuf {
    Layout::new(root.to_path_buf()).links
}

/// The store's shared lock, released on drop ([`Store::hold_shared`]).
#[derive(Debug)]
pub struct StoreGuard {
    shared: Arc<SharedLock>,
}

impl Drop for StoreGuard {
    fn drop(&mut self) {
        let mut held = self.shared.lock();
        held.guards -= 1;
        if held.guards == 0 {
            held.file = None;
        }
    }
}

/// One handle's hold on the shared lock: the lock file is opened and locked when the first guard
/// is taken and closed (unlocked) when the last one goes, so adds and links that overlap, as an
/// install's do, lock once between them instead of three system calls each.
#[derive(Debug, Default)]
struct SharedLock(Mutex<Held>);

#[derive(Debug, Default)]
struct Held {
    guards: usize,
    file: Option<fs::File>,
}

impl SharedLock {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        Self::open_with(root, StoreOptions::default())
    }

    /// Opens (creating if needed) the store at `root` with `options`.
    pub fn open_with(root: impl Into<PathBuf>, options: StoreOptions) -> Result<Self> {
        let layout = Layout::new(root.into());
        layout.create()?;
        Ok(Self {
            layout,
            options,
            link_methods: Mutex::new(HashMap::new()),
            shared: Arc::default(),
            blobs: OnceLock::new(),
        })
    }

    /// The store's root directory (the one given to [`Store::open`]).
    pub fn path(&self) -> &Path {
        &self.layout.root
    }

    /// The directory of shared package directories (`<root>/v2/links`), which the linker fills
    /// and `prune` empties of what no kept project uses. It may not exist yet.
    pub fn links_dir(&self) -> &Path {
        &self.layout.links
    }

    /// Holds the store's shared lock until the returned guard is dropped: `prune` (which takes it
    /// exclusively) cannot delete a shared package directory while a link run points at it.
    pub fn hold_shared(&self) -> Result<StoreGuard> {
        let mut held = self.shared.lock();
        if held.file.is_none() {
            held.file = Some(self.layout.lock_shared()?);
        }
        held.guards += 1;
        Ok(StoreGuard {
            shared: Arc::clone(&self.shared),
        })
    }

    /// The `files` directory, open.
    pub(crate) fn blobs_dir(&self) -> io::Result<&sys::Dir> {
        if let Some(dir) = self.blobs.get() {
            return Ok(dir);
        }
        let dir = sys::Dir::open(&self.layout.files)?;
        Ok(self.blobs.get_or_init(|| dir))
    }

    /// Where the blob for `entry` lives.
    pub fn blob_path(&self, entry: &FileEntry) -> PathBuf {
        self.layout.blob_path(&entry.hash, entry.is_executable())
    }

    /// Where the index of the tarball with this SHA-512 lives.
    pub fn index_path(&self, tarball_sha512: &[u8; 64]) -> PathBuf {
        self.layout.index_path(&Sha512Digest(*tarball_sha512))
    }

    /// Verifies that `bytes` (the whole tarball) has SHA-512 `expected_sha512`, then extracts it into
    /// the store and returns its index. On a mismatch nothing at all is written.
    ///
    /// If the store already has this tarball, its existing index is returned.
    pub fn add_tarball(
        &self,
        bytes: &[u8],
        expected_sha512: &[u8; 64],
        limits: &ExtractLimits,
    ) -> Result<PackageIndex> {
        let expected = Sha512Digest(*expected_sha512);
        let actual = Sha512Digest::of(bytes);
        if actual != expected {
            return Err(StoreError::IntegrityMismatch {
                expected: Box::new(expected),
                actual: Box::new(actual),
            });
        }
        self.add_verified(bytes, actual, limits)
    }

    /// Adds a tarball whose integrity could not be checked (sha1-only or missing in the metadata),
    /// after the caller decided to accept that. Computes the SHA-512 (see
    /// [`PackageIndex::tarball`]) so it can be recorded and checked next time.
    pub fn add_tarball_without_integrity(
        &self,
        bytes: &[u8],
        limits: &ExtractLimits,
    ) -> Result<PackageIndex> {
        self.add_verified(bytes, Sha512Digest::of(bytes), limits)
    }

    /// The index of an already added tarball, or `None` if the store does not have it: the fast
    /// path that skips the download.
    pub fn index(&self, tarball_sha512: &[u8; 64]) -> Result<Option<PackageIndex>> {
        let path = self.index_path(tarball_sha512);
        match fs::read(&path) {
            Ok(bytes) => parse_index(&path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::ReadIndex { path, source }),
        }
    }

    fn add_verified(
        &self,
        bytes: &[u8],
        tarball: Sha512Digest,
        limits: &ExtractLimits,
    ) -> Result<PackageIndex> {
        let _lock = self.hold_shared()?;
        // A damaged index is not trusted: extracting again replaces it.
        if let Ok(Some(index)) = self.index(&tarball.0) {
            return Ok(index);
        }
        let extraction = extract(
            bytes,
            tarball,
            limits,
            &self.layout,
            Staging::new(self.layout.tmp.clone()),
            self.options.fsync,
        )?;
        self.commit(extraction, tarball)
    }

    /// Moves the staged blobs into place, then writes the index.
    fn commit(&self, extraction: Extraction, tarball: Sha512Digest) -> Result<PackageIndex> {
        let Extraction {
            package,
            files,
            mut staged,
            staging,
            name,
            version,
            dropped,
            warnings,
        } = extraction;
        // Each staged blob an entry uses, once (duplicate members share one), is renamed into
        // place; blobs written in place are there already. A streamed member replaced by a later
        // one of the same path leaves its blob in staging (an archive in memory writes only the
        // members it keeps). A rename over a blob that a concurrent add put there first replaces
        // identical content. The shard directory is created only when the first rename into it
        // finds it missing.
        let mut shards = BTreeSet::new();
        for (path, entry) in &files {
            // Nearly every archive is read in memory and stages nothing: no name to make per file.
            if staged.is_empty() {
                break;
            }
            let name = Layout::blob_name(&entry.hash, entry.is_executable());
            if !staged.remove(&name) {
                continue;
            }
            // Anything staged means the staging directory exists.
            let Some(staging) = staging.path() else {
                continue;
            };
            let target = self.layout.blob_path_of(&name);
            let shard = target.parent().unwrap_or(&self.layout.files).to_path_buf();
            let source = staging.join(&name);
            let write_err = |source, at: &Path| StoreError::Write {
                package: package.clone(),
                entry: Some(path.clone()),
                path: at.to_path_buf(),
                source,
            };
            match fs::rename(&source, &target) {
                Ok(()) => {}
                // The shard is missing (or was, until a concurrent add created it): create it
                // (idempotent) and try once more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir_all(&shard).map_err(|e| write_err(e, &shard))?;
                    fs::rename(&source, &target).map_err(|e| write_err(e, &target))?;
                }
                Err(e) => return Err(write_err(e, &target)),
            }
            if self.options.fsync {
                shards.insert(shard);
            }
        }
        if self.options.fsync {
            for shard in &shards {
                sys::sync_dir(shard).map_err(|source| StoreError::Write {
                    package: package.clone(),
                    entry: None,
                    path: shard.clone(),
                    source,
                })?;
            }
        }

        let index = PackageIndex {
            tarball,
            name,
            version,
            files,
            dropped,
            warnings,
        };
        self.write_index(&index)?;
        Ok(index)
    }

    fn write_index(&self, index: &PackageIndex) -> Result<()> {
        let path = self.layout.index_path(&index.tarball);
        let write_err = |source, at: &Path| StoreError::Write {
            package: index.package_ref(),
            entry: None,
            path: at.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(index).map_err(|e| write_err(io::Error::other(e), &path))?;
        let mut temp = tempfile::Builder::new()
            .prefix("index-")
            .tempfile_in(&self.layout.tmp)
            .map_err(|e| write_err(e, &self.layout.tmp))?;
        temp.write_all(&json)
            .map_err(|e| write_err(e, temp.path()))?;
        if self.options.fsync {
            temp.as_file()
                .sync_all()
                .map_err(|e| write_err(e, temp.path()))?;
        }
        temp.persist(&path).map_err(|e| write_err(e.error, &path))?;
        if self.options.fsync {
            sys::sync_dir(&self.layout.index).map_err(|e| write_err(e, &self.layout.index))?;
        }
        Ok(())
    }
}

pub(crate) fn parse_index(path: &Path, bytes: &[u8]) -> Result<PackageIndex> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::ParseIndex {
        path: path.to_path_buf(),
        source,
    })
}
