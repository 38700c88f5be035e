//! Materialising a package directory from blobs.
//!
//! Hard links are the default: one inode shared by every project, so a warm install costs one
//! `link(2)` per file. Blobs are read-only, so a shared inode cannot be changed through a project.
//! When hard links are impossible (another filesystem: `EXDEV`; a filesystem without them) a
//! copy-on-write clone is tried, then a plain copy. Which of these works depends only on the pair
//! (store filesystem, destination filesystem), so it is found with the first file and remembered per
//! destination device in the [`Store`]; every file still falls back on its own if its method fails,
//! for example when a popular blob reaches the filesystem's link-count limit (`EMLINK`).
//!
//! [`LinkMode::Copy`] is for packages whose install scripts will run: the script gets private,
//! writable files (a clone or a copy, never a hard link), so it cannot change a file other projects
//! share.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::entry_path::is_normal_relative;
use crate::error::{Result, StoreError};
use crate::index::{FileEntry, PackageIndex, PackageRef};
use crate::layout::Layout;
use crate::store::Store;
use crate::sys;

/// Below this many files a package is linked on the calling thread; above, on rayon's pool.
const PARALLEL_THRESHOLD: usize = 32;

/// How [`Store::link_package`] materialises files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkMode {
    /// Hard links, falling back to clones, then copies, when hard links are impossible.
    #[default]
    Auto,
    /// Private, writable files: clones where the filesystem supports them, else copies.
    Copy,
}

/// How one file was materialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMethod {
    /// A hard link to the blob (shares its inode; read-only).
    HardLink,
    /// A copy-on-write clone (`FICLONE`, `clonefile`): a private, writable file.
    Reflink,
    /// A byte copy: a private, writable file.
    Copy,
}

/// How many files each method materialised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Files hard-linked.
    pub hard_linked: u64,
    /// Files cloned.
    pub reflinked: u64,
    /// Files copied.
    pub copied: u64,
}

impl LinkStats {
    /// Total files materialised.
    pub fn total(&self) -> u64 {
        self.hard_linked + self.reflinked + self.copied
    }
}

#[derive(Default)]
struct Counters {
    hard_linked: AtomicU64,
    reflinked: AtomicU64,
    copied: AtomicU64,
}

struct Placed {
    method: LinkMethod,
    /// False when a per-file condition (`EMLINK`) forced the fallback: not a property of the
    /// filesystem, so not remembered.
    cacheable: bool,
}

impl Store {
    /// Materialises the package described by `index` in `dest_dir` (created if needed; files
    /// already there are replaced). `dest_dir` should be a directory the caller owns: symlinks
    /// inside it are followed.
    pub fn link_package(
        &self,
        index: &PackageIndex,
        dest_dir: &Path,
        mode: LinkMode,
    ) -> Result<LinkStats> {
        let package = index.package_ref();
        // The index was read from disk: re-check every path before joining it to `dest_dir`.
        if let Some(bad) = index.files.keys().find(|p| !is_normal_relative(p)) {
            return Err(StoreError::UnsafeIndexPath {
                package,
                entry: bad.clone(),
            });
        }
        let _lock = self.hold_shared()?;
        let dir_err = |source, path: PathBuf, entry: &str| StoreError::Link {
            package: package.clone(),
            entry: entry.to_owned(),
            path,
            source,
        };
        fs::create_dir_all(dest_dir).map_err(|e| dir_err(e, dest_dir.to_path_buf(), ""))?;
        let dest = sys::Dir::open(dest_dir).map_err(|e| dir_err(e, dest_dir.to_path_buf(), ""))?;
        let blobs = self
            .blobs_dir()
            .map_err(|e| dir_err(e, self.layout.files.clone(), ""))?;
        // Sorted, so every directory comes after its parent.
        let dirs: BTreeSet<&str> = index
            .files
            .keys()
            .flat_map(|path| path.match_indices('/').map(move |(at, _)| &path[..at]))
            .collect();
        for dir in dirs {
            match dest.create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(dir_err(e, join_relative(dest_dir, dir), dir)),
            }
        }

        let private = mode == LinkMode::Copy;
        let device = sys::filesystem_id(dest_dir).map_err(|e| dir_err(e, dest_dir.into(), ""))?;
        let key = (device, private);
        let job = Job {
            store: self,
            package: &package,
            dest_dir,
            dest: &dest,
            blobs,
            private,
            counters: Counters::default(),
        };
        let files: Vec<(&String, &FileEntry)> = index.files.iter().collect();
        let cached = self
            .link_methods
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .copied();
        let mut start = cached.unwrap_or(candidates(private)[0]);
        let mut rest = &files[..];
        if cached.is_none()
            && let Some(((path, entry), tail)) = files.split_first()
        {
            let placed = job.place(path, entry, start)?;
            if placed.cacheable {
                start = placed.method;
                self.link_methods
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(key, placed.method);
            }
            rest = tail;
        }
        let place = |(path, entry): &(&String, &FileEntry)| job.place(path, entry, start).map(drop);
        if rest.len() >= PARALLEL_THRESHOLD {
            rest.par_iter().try_for_each(place)?;
        } else {
            rest.iter().try_for_each(place)?;
        }
        let counters = job.counters;
        Ok(LinkStats {
            hard_linked: counters.hard_linked.into_inner(),
            reflinked: counters.reflinked.into_inner(),
            copied: counters.copied.into_inner(),
        })
    }
}

/// One `link_package` call, shared by the threads that place its files.
struct Job<'a> {
    store: &'a Store,
    package: &'a PackageRef,
    dest_dir: &'a Path,
    /// `dest_dir` and the store's `files`, open: hard links are made relative to them.
    dest: &'a sys::Dir,
    blobs: &'a sys::Dir,
    private: bool,
    counters: Counters,
}

impl Job<'_> {
    /// Materialises one file, starting with `start` and falling back along the candidate list.
    fn place(&self, path: &str, entry: &FileEntry, start: LinkMethod) -> Result<Placed> {
        let exec = entry.is_executable();
        let blob = Layout::blob_relative(&entry.hash, exec);
        let methods = candidates(self.private);
        let first = methods.iter().position(|m| *m == start).unwrap_or(0);
        let mut cacheable = true;
        let mut last_error = None;
        for &method in &methods[first..] {
            match self.attempt(method, &blob, path, exec) {
                Ok(()) => {
                    let counter = match method {
                        LinkMethod::HardLink => &self.counters.hard_linked,
                        LinkMethod::Reflink => &self.counters.reflinked,
                        LinkMethod::Copy => &self.counters.copied,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    return Ok(Placed { method, cacheable });
                }
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound && !self.blob_path(&blob).exists() =>
                {
                    return Err(StoreError::MissingBlob {
                        package: self.package.clone(),
                        entry: path.to_owned(),
                        path: self.blob_path(&blob),
                    });
                }
                Err(e) if can_fall_back(method, &e) => {
                    if e.kind() == io::ErrorKind::TooManyLinks {
                        cacheable = false;
                    }
                    last_error = Some(e);
                }
                Err(e) => {
                    last_error = Some(e);
                    break;
                }
            }
        }
        Err(StoreError::Link {
            package: self.package.clone(),
            entry: path.to_owned(),
            path: join_relative(self.dest_dir, path),
            source: last_error.unwrap_or_else(|| io::ErrorKind::Unsupported.into()),
        })
    }

    /// One method, from `blob` (relative to the store's `files`) to `path` in the package,
    /// replacing a file already there.
    fn attempt(&self, method: LinkMethod, blob: &str, path: &str, exec: bool) -> io::Result<()> {
        match self.attempt_once(method, blob, path, exec) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(join_relative(self.dest_dir, path))?;
                self.attempt_once(method, blob, path, exec)
            }
            result => result,
        }
    }

    fn attempt_once(
        &self,
        method: LinkMethod,
        blob: &str,
        path: &str,
        exec: bool,
    ) -> io::Result<()> {
        match method {
            LinkMethod::HardLink => sys::hard_link_at(self.blobs, blob, self.dest, path),
            LinkMethod::Reflink => sys::reflink(
                &self.blob_path(blob),
                &join_relative(self.dest_dir, path),
                exec,
            ),
            LinkMethod::Copy => {
                // Open the blob first, so a missing blob never leaves an empty file behind.
                let mut source = File::open(self.blob_path(blob))?;
                let mut file = sys::create_private(&join_relative(self.dest_dir, path), exec)?;
                io::copy(&mut source, &mut file).map(drop)
            }
        }
    }

    fn blob_path(&self, blob: &str) -> PathBuf {
        self.store.layout.files.join(blob)
    }
}

fn candidates(private: bool) -> &'static [LinkMethod] {
    if private {
        &[LinkMethod::Reflink, LinkMethod::Copy]
    } else {
        &[LinkMethod::HardLink, LinkMethod::Reflink, LinkMethod::Copy]
    }
}

/// Whether a failure of `method` says "not possible here" rather than "something is wrong".
fn can_fall_back(method: LinkMethod, error: &io::Error) -> bool {
    match method {
        LinkMethod::HardLink => matches!(
            error.kind(),
            io::ErrorKind::CrossesDevices
                | io::ErrorKind::PermissionDenied
                | io::ErrorKind::Unsupported
                | io::ErrorKind::TooManyLinks
        ),
        // Clones fail with a zoo of errors (EXDEV, EOPNOTSUPP, EINVAL, ENOTTY) where unsupported;
        // a copy is always a correct answer.
        LinkMethod::Reflink => true,
        LinkMethod::Copy => false,
    }
}

fn join_relative(base: &Path, relative: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    path.extend(relative.split('/'));
    path
}
