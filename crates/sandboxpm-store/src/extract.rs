//! Safe extraction: our own loop over the members of an (already verified) tarball.
//!
//! The `tar` crate only parses headers here (in raw mode); every decision is ours, per member:
//!
//! - **Kept:** regular files, written as blobs: a new small file straight at its place in the
//!   store, read-only from its creation; a large file, or one whose blob another add is writing
//!   (or left cut short), into a private staging directory, renamed into place at the commit.
//!   Nothing is ever written at a path derived from the archive: blobs are named by content hash,
//!   so `../x` or `/etc/x` cannot place a file anywhere. Paths only matter when linking, and they
//!   are normalised (or refused) here, before they reach the index.
//! - **Ignored:** directories (implied by file paths).
//! - **Dropped and counted:** symlinks, hard links, devices, fifos, pax global headers, unknown
//!   types; refused paths also get a warning.
//! - **Refused outright:** GNU sparse members, whose maps may extend into blocks the header's size
//!   does not count (we could not tell where the next member starts).
//! - **Extension headers** (GNU long names, pax `x`) are read by us with a size cap, rather than by
//!   the crate without one. A pax `size` that disagrees with the header is refused: two parsers
//!   would see two different archives.
//!
//! Limits are enforced twice: on declared sizes before any content is read (fail fast), and on the
//! decompressed stream itself by [`GuardedStream`] (no accounting mistake can let a bomb through).
//! A duplicate path replaces the earlier file (last wins, like npm).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::GzDecoder;
use serde::Deserialize;
use tar::EntryType;

use crate::digest::{BlobHash, BlobHasher, Sha512Digest};
use crate::entry_path::normalize_entry_path;
use crate::error::{Result, StoreError};
use crate::index::{
    DroppedCounts, ExtractWarning, FileEntry, MAX_WARNINGS, PackageRef, WarningReason,
};
use crate::inflate;
use crate::layout::Layout;
use crate::limits::{ExtractLimits, Limit};
use crate::sys;

/// Files up to this size are hashed in memory first, so a blob already in the store costs no write.
const SMALL_FILE: u64 = 1 << 20;
/// Cap on a GNU long-name member; longer names are refused (the path limit is 4 KiB anyway).
const MAX_LONG_NAME: u64 = 16 << 10;
/// Cap on a pax extended header.
const MAX_PAX_HEADER: u64 = 1 << 20;

/// What a successful extraction produced: the index's contents and the blobs staged for it.
#[derive(Debug)]
pub(crate) struct Extraction {
    pub(crate) package: PackageRef,
    pub(crate) files: BTreeMap<String, FileEntry>,
    /// Blob names (`<hex>[-exec]`) written into the staging directory.
    pub(crate) staged: HashSet<String>,
    /// Where the `staged` blobs are.
    pub(crate) staging: Staging,
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) dropped: DroppedCounts,
    pub(crate) warnings: Vec<ExtractWarning>,
}

/// Extracts `bytes` (gzip or plain tar) into blobs, in place or in `staging`. The caller verified
/// the digest.
///
/// An archive in memory (a plain tar, or a gzip decompressed in one call within every limit the
/// guard enforces) is read in place: members' contents are slices of it, and skipping one is a
/// seek. Its headers are read first, which finds every reason to refuse it, and only then are
/// the contents of the files it keeps written (a path given twice keeps its last member), so a
/// refused archive writes no blob. Blobs are written straight at their place in the store,
/// read-only from their creation. A streamed archive is refused only as it is read: its blobs
/// are staged, and moved into place at the commit.
pub(crate) fn extract(
    bytes: &[u8],
    tarball: Sha512Digest,
    limits: &ExtractLimits,
    layout: &Layout,
    staging: Staging,
    fsync: bool,
) -> Result<Extraction> {
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let inflated = if gzip {
        inflate::whole(bytes, limits)
    } else {
        None
    };
    let in_memory = match &inflated {
        Some(whole) => Some(&**whole),
        None if !gzip => Some(bytes),
        None => None,
    };
    let mut extractor = Extractor {
        limits,
        layout,
        fsync,
        tarball,
        gzip,
        breach: Rc::new(Cell::new(None)),
        in_memory,
        offsets: HashMap::new(),
        created: HashSet::new(),
        scratch: Vec::new(),
        total_size: 0,
        members: 0,
        partials: 0,
        out: Extraction {
            package: PackageRef::new(tarball, None, None),
            files: BTreeMap::new(),
            staged: HashSet::new(),
            staging,
            name: None,
            version: None,
            dropped: DroppedCounts::default(),
            warnings: Vec::new(),
        },
    };
    match in_memory {
        Some(archive) => {
            extractor.read_in_memory(archive, bytes.len() as u64)?;
            extractor.write_members(archive)?;
        }
        None => extractor.read_stream(bytes)?,
    }
    Ok(extractor.out)
}

struct Extractor<'a> {
    limits: &'a ExtractLimits,
    layout: &'a Layout,
    fsync: bool,
    tarball: Sha512Digest,
    gzip: bool,
    breach: Rc<Cell<Option<Limit>>>,
    /// The whole archive, when it is in memory: its headers are read first, and the contents of
    /// the files it keeps are written once it is accepted ([`Extractor::write_members`]), sliced
    /// from it, never copied.
    in_memory: Option<&'a [u8]>,
    /// Where, in an archive in memory, each path's (last) member's contents are.
    offsets: HashMap<String, u64>,
    /// Blob names (`<hex>[-exec]`) written in place.
    created: HashSet<String>,
    /// Reused for each small member's content when the archive is streamed.
    scratch: Vec<u8>,
    total_size: u64,
    members: u64,
    partials: u64,
    out: Extraction,
}

/// Extension headers waiting for the member they describe.
#[derive(Default)]
struct Pending {
    /// `Some(None)`: a long name longer than we accept.
    long_name: Option<Option<Vec<u8>>>,
    long_link: bool,
    pax: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && !self.long_link && self.pax.is_none()
    }
}

enum ContentError {
    Read(io::Error),
    Write(PathBuf, io::Error),
}

impl Extractor<'_> {
    fn guard(&self, consumed: Rc<Cell<u64>>) -> Guard {
        Guard {
            produced: 0,
            consumed,
            breach: Rc::clone(&self.breach),
            max_stream: self.limits.max_stream_bytes(),
            max_ratio: if self.gzip {
                self.limits.max_compression_ratio
            } else {
                u64::MAX
            },
            grace: self.limits.ratio_grace_bytes,
        }
    }

    /// Reads `archive`, decompressed from `compressed` bytes (the guard sees them all consumed,
    /// and the archive as it is).
    fn read_in_memory(&mut self, archive: &[u8], compressed: u64) -> Result<()> {
        let stream = GuardedStream {
            inner: io::Cursor::new(archive),
            guard: self.guard(Rc::new(Cell::new(compressed))),
        };
        let mut archive = tar::Archive::new(stream);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| self.read_failure(e, None))?;
        self.run(entries)
    }

    /// Reads the gzip stream `bytes` as it decompresses.
    fn read_stream(&mut self, bytes: &[u8]) -> Result<()> {
        let consumed = Rc::new(Cell::new(0u64));
        let counting = CountingReader {
            inner: bytes,
            consumed: Rc::clone(&consumed),
        };
        let stream = GuardedStream {
            inner: GzDecoder::new(counting),
            guard: self.guard(consumed),
        };
        let mut archive = tar::Archive::new(stream);
        let entries = archive.entries().map_err(|e| self.read_failure(e, None))?;
        self.run(entries)
    }

    fn run<R: Read>(&mut self, entries: tar::Entries<'_, R>) -> Result<()> {
        let entries = entries.raw(true);
        let mut pending = Pending::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| self.read_failure(e, None))?;
            let kind = entry.header().entry_type();
            let size = entry.size();
            // In memory, the crate seeks past contents: one cut short is found here, as reading
            // it would find it when streaming.
            if let Some(archive) = self.in_memory
                && member_slice(archive, entry.raw_file_position(), size).is_none()
            {
                return Err(self.read_failure(io::ErrorKind::UnexpectedEof.into(), None));
            }
            match kind {
                EntryType::GNULongName => {
                    if pending.long_name.is_some() {
                        return Err(self.ambiguous(None, "two long names for one member"));
                    }
                    let name = self.read_extension(&mut entry, size, MAX_LONG_NAME)?;
                    pending.long_name = Some(name.map(|mut name| {
                        while name.last() == Some(&0) {
                            name.pop();
                        }
                        name
                    }));
                    continue;
                }
                EntryType::GNULongLink => {
                    if pending.long_link {
                        return Err(self.ambiguous(None, "two long link names for one member"));
                    }
                    // Link targets are never used: links are dropped. The crate skips the data.
                    pending.long_link = true;
                    continue;
                }
                EntryType::GNUSparse => {
                    // Sparse maps can extend past the header into blocks its size does not count;
                    // without parsing them, we would not know where the next member starts. npm
                    // never writes sparse files.
                    return Err(self.ambiguous(None, "GNU sparse files are not supported"));
                }
                EntryType::XHeader => {
                    if pending.pax.is_some() {
                        return Err(self.ambiguous(None, "two pax headers for one member"));
                    }
                    match self.read_extension(&mut entry, size, MAX_PAX_HEADER)? {
                        Some(pax) => pending.pax = Some(pax),
                        None => return Err(self.ambiguous(None, "pax header too large")),
                    }
                    continue;
                }
                _ => {}
            }

            self.members += 1;
            if self.members > self.limits.max_entries {
                return Err(self.limit(Limit::Entries, None));
            }
            let pending_now = std::mem::take(&mut pending);
            let mut raw_path = None;
            if let Some(pax) = &pending_now.pax {
                let (pax_path, pax_size) =
                    parse_pax(pax).ok_or_else(|| self.ambiguous(None, "malformed pax header"))?;
                if pax_size.is_some_and(|pax_size| pax_size != size) {
                    return Err(self.ambiguous(
                        pax_path.map(|p| String::from_utf8_lossy(&p).into_owned()),
                        "pax size differs from the header size",
                    ));
                }
                raw_path = pax_path;
            }
            // `None`: a GNU long name over the cap.
            let raw_path = match (raw_path, pending_now.long_name) {
                (Some(path), _) => Some(path),
                (None, Some(long_name)) => long_name,
                (None, None) => Some(entry.header().path_bytes().into_owned()),
            };

            let dropped = &mut self.out.dropped;
            match kind {
                EntryType::Regular | EntryType::Continuous
                    if !raw_path.as_ref().is_some_and(|p| p.ends_with(b"/")) => {}
                // Old tars mark directories as regular files with a trailing slash.
                EntryType::Regular | EntryType::Continuous | EntryType::Directory => continue,
                EntryType::Symlink => {
                    dropped.symlinks += 1;
                    continue;
                }
                EntryType::Link => {
                    dropped.hard_links += 1;
                    continue;
                }
                EntryType::Char | EntryType::Block => {
                    dropped.devices += 1;
                    continue;
                }
                EntryType::Fifo => {
                    dropped.fifos += 1;
                    continue;
                }
                EntryType::XGlobalHeader => {
                    dropped.pax_global_headers += 1;
                    continue;
                }
                _ => {
                    dropped.other += 1;
                    continue;
                }
            }

            let Some(raw_path) = raw_path else {
                self.refuse("<GNU long name>".to_owned(), WarningReason::PathTooLong);
                continue;
            };
            let path = match normalize_entry_path(&raw_path) {
                Ok(Some(path)) => path,
                Ok(None) => {
                    let shown = String::from_utf8_lossy(&raw_path).into_owned();
                    self.refuse(shown, WarningReason::TopLevelFile);
                    continue;
                }
                Err(reason) => {
                    let shown = String::from_utf8_lossy(&raw_path).into_owned();
                    self.refuse(shown, reason);
                    continue;
                }
            };

            if size > self.limits.max_file_size {
                return Err(self.limit(Limit::FileSize, Some(path)));
            }
            self.total_size = self.total_size.saturating_add(size);
            if self.total_size > self.limits.max_total_size {
                return Err(self.limit(Limit::TotalSize, Some(path)));
            }
            // Setuid, setgid and sticky bits never survive; an unreadable mode means a plain file.
            let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
            let exec = mode & 0o111 != 0;

            let identity = path == "package.json";
            let hash = match self.in_memory {
                // Written once the whole archive is accepted; for now, where its contents are,
                // and the package's identity, which errors name.
                Some(archive) => {
                    let at = entry.raw_file_position();
                    if identity {
                        let content =
                            member_slice(archive, at, size).filter(|_| size <= SMALL_FILE);
                        self.read_identity(content);
                    }
                    self.offsets.insert(path.clone(), at);
                    BlobHash::of(&[])
                }
                None => match self.stream_content(&mut entry, size, exec, identity) {
                    Ok(hash) => hash,
                    Err(e) => return Err(self.content_error(e, path)),
                },
            };
            self.insert(path, FileEntry { hash, mode, size });
        }
        if !pending.is_empty() {
            return Err(self.ambiguous(None, "extension header not followed by a member"));
        }
        Ok(())
    }

    /// Writes the blob of each file of an archive in memory read by [`Extractor::run`] without
    /// writing (only the member that last gave each path), and puts its hash in the index.
    fn write_members(&mut self, archive: &[u8]) -> Result<()> {
        let mut files = std::mem::take(&mut self.out.files);
        for (path, entry) in &mut files {
            let at = self.offsets.get(path).copied().unwrap_or(u64::MAX);
            let Some(data) = member_slice(archive, at, entry.size) else {
                let eof = io::ErrorKind::UnexpectedEof.into();
                return Err(self.read_failure(eof, Some(path.clone())));
            };
            let exec = entry.is_executable();
            let stored = if entry.size <= SMALL_FILE {
                self.store_small(data, exec)
            } else {
                self.store_large(&mut &data[..], entry.size, exec)
            };
            entry.hash = stored.map_err(|e| self.content_error(e, path.clone()))?;
        }
        self.out.files = files;
        Ok(())
    }

    fn content_error(&self, error: ContentError, entry: String) -> StoreError {
        match error {
            ContentError::Read(e) => self.read_failure(e, Some(entry)),
            ContentError::Write(path, source) => StoreError::Write {
                package: self.out.package.clone(),
                entry: Some(entry),
                path,
                source,
            },
        }
    }

    /// Reads an extension member's data, or `None` when it is larger than `cap` (its data is then
    /// skipped by the crate, still through the guarded stream).
    fn read_extension(
        &self,
        entry: &mut impl Read,
        size: u64,
        cap: u64,
    ) -> Result<Option<Vec<u8>>> {
        if size > cap {
            return Ok(None);
        }
        let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
        entry
            .read_exact(&mut data)
            .map_err(|e| self.read_failure(e, None))?;
        Ok(Some(data))
    }

    /// Stores one streamed member's content as a blob, unless the store already has it; with
    /// `identity`, the root `package.json`'s name and version are read from it.
    fn stream_content(
        &mut self,
        entry: &mut impl Read,
        size: u64,
        exec: bool,
        identity: bool,
    ) -> Result<BlobHash, ContentError> {
        if size > SMALL_FILE {
            if identity {
                self.read_identity(None);
            }
            return self.store_large(entry, size, exec);
        }
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        data.reserve(usize::try_from(size).unwrap_or(0));
        entry
            .take(size)
            .read_to_end(&mut data)
            .map_err(ContentError::Read)?;
        if data.len() as u64 != size {
            return Err(ContentError::Read(io::ErrorKind::UnexpectedEof.into()));
        }
        let stored = self.store_small(&data, exec);
        if identity {
            self.read_identity(Some(&data));
        }
        self.scratch = data;
        stored
    }

    /// A small file's blob: hashed in memory first, so a blob already in the store costs no
    /// write.
    fn store_small(&mut self, data: &[u8], exec: bool) -> Result<BlobHash, ContentError> {
        let hash = BlobHash::of(data);
        let name = Layout::blob_name(&hash, exec);
        if self.written(&name) {
            return Ok(hash);
        }
        let path = self.layout.blob_path_of(&name);
        // A blob is written in place only when the archive was checked whole first (in memory),
        // and without fsync: with it, a blob is staged and synced before it is renamed into
        // place (written in place, it would not be durable before its index is). There is no
        // lookup first: the exclusive create finds a blob that is there, and every blob of a
        // cold install is new (its failed lookup cost as much as the create).
        let reused = if self.fsync || self.in_memory.is_none() {
            sys::holds_blob(&path, data, exec)
        } else {
            match write_in_place(&path, data, exec) {
                Ok(()) => {
                    self.created.insert(name);
                    return Ok(hash);
                }
                // Another add's blob: whole (reused), or still being written, or cut short by a
                // crash (a staged copy of our own replaces it).
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    sys::holds_blob(&path, data, exec)
                }
                Err(e) => return Err(ContentError::Write(path, e)),
            }
        };
        if reused {
            return Ok(hash);
        }
        let staged = self.staged_path(&name)?;
        self.write_staged(&staged, data, exec)
            .map_err(|e| ContentError::Write(staged, e))?;
        self.out.staged.insert(name);
        Ok(hash)
    }

    /// A large file's blob: streamed into a staged file while it is hashed.
    fn store_large(
        &mut self,
        source: &mut impl Read,
        size: u64,
        exec: bool,
    ) -> Result<BlobHash, ContentError> {
        self.partials += 1;
        let partial = self.staged_path(&format!("partial-{}", self.partials))?;
        let write_err = |e| ContentError::Write(partial.clone(), e);
        let mut file = File::create_new(&partial).map_err(write_err)?;
        let mut hasher = BlobHasher::default();
        let mut buf = vec![0u8; 256 << 10];
        let mut remaining = size;
        while remaining > 0 {
            let want = usize::try_from(remaining.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = match source.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(ContentError::Read(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ContentError::Read(e)),
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(write_err)?;
            remaining -= n as u64;
        }
        sys::make_read_only(&file, exec).map_err(write_err)?;
        if self.fsync {
            file.sync_all().map_err(write_err)?;
        }
        drop(file);
        let hash = hasher.finish();
        let name = Layout::blob_name(&hash, exec);
        // A copy already in the store is not read back to be checked: ours replaces it at the
        // commit (same contents, or a copy cut short by a crash).
        if self.written(&name) {
            fs::remove_file(&partial).map_err(write_err)?;
        } else {
            let staged = self.staged_path(&name)?;
            fs::rename(&partial, &staged).map_err(|e| ContentError::Write(staged, e))?;
            self.out.staged.insert(name);
        }
        Ok(hash)
    }

    /// `name` in the staging directory, which is created on first use.
    fn staged_path(&mut self, name: &str) -> Result<PathBuf, ContentError> {
        let tmp = self.out.staging.tmp.clone();
        let dir = self
            .out
            .staging
            .dir()
            .map_err(|e| ContentError::Write(tmp, e))?;
        Ok(dir.join(name))
    }

    /// Already written by this extraction.
    fn written(&self, name: &str) -> bool {
        self.out.staged.contains(name) || self.created.contains(name)
    }

    fn write_staged(&self, path: &Path, data: &[u8], exec: bool) -> io::Result<()> {
        let mut file = File::create_new(path)?;
        file.write_all(data)?;
        sys::make_read_only(&file, exec)?;
        if self.fsync {
            file.sync_all()?;
        }
        Ok(())
    }

    /// Picks `name` and `version` out of the root `package.json`, for messages only.
    fn read_identity(&mut self, content: Option<&[u8]>) {
        #[derive(Deserialize)]
        struct Identity {
            name: Option<String>,
            version: Option<String>,
        }
        let identity = content.and_then(|c| serde_json::from_slice::<Identity>(c).ok());
        let (name, version) = identity.map_or((None, None), |i| (i.name, i.version));
        self.out.package = PackageRef::new(self.tarball, name.as_deref(), version.as_deref());
        self.out.name = name;
        self.out.version = version;
    }

    /// Adds a file; a later member wins over an earlier one at the same path, and over files whose
    /// paths it needs as directories (or that need its path as a directory).
    fn insert(&mut self, path: String, entry: FileEntry) {
        let files = &mut self.out.files;
        let mut replaced = Vec::new();
        for (at, _) in path.match_indices('/') {
            let ancestor = &path[..at];
            if files.remove(ancestor).is_some() {
                replaced.push((ancestor.to_owned(), WarningReason::FileReplacedByDirectory));
            }
        }
        let prefix = format!("{path}/");
        let below: Vec<String> = files
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, _)| key.clone())
            .collect();
        if !below.is_empty() {
            for key in below {
                files.remove(&key);
            }
            replaced.push((path.clone(), WarningReason::DirectoryReplacedByFile));
        }
        files.insert(path, entry);
        for (path, reason) in replaced {
            self.warn(path, reason);
        }
    }

    fn refuse(&mut self, path: String, reason: WarningReason) {
        self.out.dropped.refused_paths += 1;
        self.warn(path, reason);
    }

    fn warn(&mut self, path: String, reason: WarningReason) {
        if self.out.warnings.len() < MAX_WARNINGS {
            self.out.warnings.push(ExtractWarning { path, reason });
        }
    }

    fn limit(&self, limit: Limit, entry: Option<String>) -> StoreError {
        let max = match limit {
            Limit::TotalSize => self.limits.max_total_size,
            Limit::Entries => self.limits.max_entries,
            Limit::FileSize => self.limits.max_file_size,
            Limit::CompressionRatio => self.limits.max_compression_ratio,
        };
        StoreError::LimitExceeded {
            package: self.out.package.clone(),
            limit,
            max,
            entry,
        }
    }

    /// A read error is a limit breach when the guard said so, else a corrupt archive.
    fn read_failure(&self, source: io::Error, entry: Option<String>) -> StoreError {
        match self.breach.get() {
            Some(limit) => self.limit(limit, entry),
            None => StoreError::CorruptArchive {
                package: self.out.package.clone(),
                entry,
                source,
            },
        }
    }

    fn ambiguous(&self, entry: Option<String>, reason: &'static str) -> StoreError {
        StoreError::AmbiguousArchive {
            package: self.out.package.clone(),
            entry,
            reason,
        }
    }
}

/// The private staging directory of one add (`tmp/add-<unique>`): created on first use (most
/// tarballs need none), and removed with whatever was not moved out of it when dropped, on every
/// path.
#[derive(Debug)]
pub(crate) struct Staging {
    tmp: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Staging {
    pub(crate) fn new(tmp: PathBuf) -> Self {
        Staging { tmp, dir: None }
    }

    fn dir(&mut self) -> io::Result<&Path> {
        let dir = match self.dir.take() {
            Some(dir) => dir,
            None => tempfile::Builder::new()
                .prefix("add-")
                .tempdir_in(&self.tmp)?,
        };
        Ok(self.dir.insert(dir).path())
    }

    /// The directory, if anything was staged.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

/// Writes a new blob at its final path. The shard directory is created when it is missing.
fn write_in_place(path: &Path, data: &[u8], exec: bool) -> io::Result<()> {
    match sys::write_blob(path, data, exec) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(shard) = path.parent() {
                fs::create_dir_all(shard)?;
            }
            sys::write_blob(path, data, exec)
        }
        other => other,
    }
}

/// The `path` and `size` records of a pax header; `None` when it is malformed.
fn parse_pax(data: &[u8]) -> Option<(Option<Vec<u8>>, Option<u64>)> {
    let mut path = None;
    let mut size = None;
    for record in tar::PaxExtensions::new(data) {
        let record = record.ok()?;
        match record.key_bytes() {
            b"path" => path = Some(record.value_bytes().to_vec()),
            b"size" => size = Some(record.value().ok()?.parse::<u64>().ok()?),
            _ => {}
        }
    }
    Some((path, size))
}

/// Counts the compressed bytes the decoder has pulled.
struct CountingReader<'a> {
    inner: &'a [u8],
    consumed: Rc<Cell<u64>>,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

/// The `size` bytes at `at` in `archive`, if they are all there.
fn member_slice(archive: &[u8], at: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(at).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    archive.get(start..end)
}

/// The decompressed stream, cut off (with the breached limit recorded) as soon as it is larger than
/// any acceptable archive could be, or expands too much relative to its compressed input.
struct GuardedStream<R> {
    inner: R,
    guard: Guard,
}

/// The limits on a stream, and how far it has gone.
struct Guard {
    /// The furthest position reached.
    produced: u64,
    consumed: Rc<Cell<u64>>,
    breach: Rc<Cell<Option<Limit>>>,
    max_stream: u64,
    max_ratio: u64,
    grace: u64,
}

impl Guard {
    fn refuse_if_breached(&self) -> io::Result<()> {
        match self.breach.get() {
            Some(limit) => Err(io::Error::other(format!("{limit} exceeded"))),
            None => Ok(()),
        }
    }

    /// Records that the stream reached `position`, and fails if that crosses a limit.
    fn reached(&mut self, position: u64) -> io::Result<()> {
        self.produced = self.produced.max(position);
        let limit = if self.produced > self.max_stream {
            Some(Limit::TotalSize)
        } else if self.produced > self.grace
            && self.produced / self.max_ratio.max(1) > self.consumed.get()
        {
            Some(Limit::CompressionRatio)
        } else {
            None
        };
        if let Some(limit) = limit {
            self.breach.set(Some(limit));
        }
        self.refuse_if_breached()
    }
}

impl<R: Read> Read for GuardedStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.guard.refuse_if_breached()?;
        let n = self.inner.read(buf)?;
        self.guard.reached(self.guard.produced + n as u64)?;
        Ok(n)
    }
}

/// Skipping a member's contents moves through the stream as reading them would.
impl<R: io::Seek> io::Seek for GuardedStream<R> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        self.guard.refuse_if_breached()?;
        let position = self.inner.seek(to)?;
        self.guard.reached(position)?;
        Ok(position)
    }
}
