//! The on-disk packument cache.
//!
//! One file per registry and package, under `<cache_dir>/metadata/v2/<registry-key>/`. A file is
//! a one-line JSON header (format version, package name, URL, `ETag`, `Last-Modified`) followed
//! by the packument in the compact encoding of [`Packument::encode`]: what the client kept of the
//! registry's document, about a quarter of its size for the packages of a typical app. A cache
//! hit is one read and no JSON parse (each version's manifest is decoded only if it is picked);
//! a write is a quarter of the bytes. Entries of another format read as missing.
//!
//! Writes go to a temporary file in the same directory and are renamed into place, so a crash
//! or a concurrent install never leaves a half-written entry; the last writer wins, and every
//! version a reader can see is complete. An unreadable or foreign entry is treated as missing.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::packument::Packument;
use crate::redact::redact;

const FORMAT: u32 = 2;

/// A cached packument and the validators of the response it came from.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
    pub(crate) packument: Arc<Packument>,
    /// When the file was last written or revalidated (read entries only).
    pub(crate) modified: Option<SystemTime>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    format: u32,
    name: String,
    url: String,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
}

/// The packument cache rooted at `<cache_dir>/metadata/v2`. What earlier versions left is
/// removed by the writer thread when it starts ([`LEGACY`]).
///
/// Entries are written by a thread of their own, off the path of the fetch that asked (see
/// [`MetadataCache::write_later`]); dropping the cache waits for that thread to finish them.
#[derive(Debug)]
pub(crate) struct MetadataCache {
    cache_dir: PathBuf,
    root: PathBuf,
    /// Registry directories looked for, and whether they existed: a cold cache costs one look
    /// per registry, not a failed open per package.
    directories: Mutex<HashMap<PathBuf, bool>>,
    writer: Mutex<Option<Writer>>,
}

/// Directories under `<cache_dir>` that earlier versions wrote and nothing reads: `metadata/v1`
/// held the registry's documents as they were sent, and `metadata/metadata` is where the
/// install command put the whole cache (`metadata/v1` and `v2` one level too deep) before
/// it passed the cache's root.
const LEGACY: [&str; 2] = ["metadata/v1", "metadata/metadata"];

/// An entry to write: path, package name, URL, entry.
type Job = (PathBuf, String, Url, Entry);

/// The thread writing entries, and its queue.
#[derive(Debug)]
struct Writer {
    queue: mpsc::Sender<Job>,
    thread: std::thread::JoinHandle<()>,
}

impl MetadataCache {
    pub(crate) fn new(cache_dir: &Path) -> Self {
        Self {
            cache_dir: cache_dir.to_path_buf(),
            root: cache_dir.join("metadata").join("v2"),
            directories: Mutex::new(HashMap::new()),
            writer: Mutex::new(None),
        }
    }

    /// Whether an entry at `path` may exist: false when its registry's directory did not exist
    /// the first time this cache looked (entries this process writes come after its reads).
    pub(crate) fn may_hold(&self, path: &Path) -> bool {
        let Some(dir) = path.parent() else {
            return true;
        };
        let mut directories = self
            .directories
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&exists) = directories.get(dir) {
            return exists;
        }
        let exists = !matches!(fs::metadata(dir), Err(e) if e.kind() == io::ErrorKind::NotFound);
        directories.insert(dir.to_path_buf(), exists);
        exists
    }

    /// Writes `entry` for `name` at `path` on the cache's writer thread; a failure is logged.
    /// Without a thread (none can be started), the entry is written now.
    pub(crate) fn write_later(&self, path: PathBuf, name: String, url: Url, entry: Entry) {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if writer.is_none() {
            let (queue, jobs) = mpsc::channel::<Job>();
            let cache_dir = self.cache_dir.clone();
            let spawned = std::thread::Builder::new()
                .name("sandboxpm-metadata-cache".to_owned())
                .spawn(move || {
                    remove_legacy(&cache_dir);
                    for (path, name, url, entry) in jobs {
                        write_logged(&path, &name, &url, &entry);
                    }
                });
            if let Ok(thread) = spawned {
                *writer = Some(Writer { queue, thread });
            }
        }
        let job = (path, name, url, entry);
        let unsent = match writer.as_ref() {
            Some(w) => w.queue.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        drop(writer);
        if let Some((path, name, url, entry)) = unsent {
            write_logged(&path, &name, &url, &entry);
        }
    }

    /// Where the packument of `name` from `registry` lives.
    ///
    /// The directory keeps the host readable for a human looking at the cache, and adds a hash
    /// of the full registry URL so two registries on one host (or `http` and `https`) never
    /// share entries. Names were validated by `escape_package_name`, so they are safe file
    /// names once the scope separator is replaced.
    pub(crate) fn path_for(&self, registry: &Url, name: &str) -> PathBuf {
        let host: String = registry
            .host_str()
            .unwrap_or("local")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let digest = Sha256::digest(redact(registry).as_bytes());
        let tag: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        self.root
            .join(format!("{host}-{tag}"))
            .join(format!("{}.bin", name.replace('/', "+")))
    }

    /// The entry at `path` if it exists, is intact, and belongs to `name`. The name check
    /// matters on case-insensitive file systems, where `JSONStream` and `jsonstream` (two
    /// different packages) share a file.
    pub(crate) fn read(path: &Path, name: &str) -> Option<Entry> {
        let read = || -> io::Result<(Vec<u8>, Option<SystemTime>)> {
            let mut file = fs::File::open(path)?;
            let metadata = file.metadata()?;
            let mut data = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
            file.read_to_end(&mut data)?;
            Ok((data, metadata.modified().ok()))
        };
        let (data, modified) = match read() {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read cached metadata");
                return None;
            }
        };
        let newline = data.iter().position(|&b| b == b'\n')?;
        let header: Header = match serde_json::from_slice(&data[..newline]) {
            Ok(header) => header,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "ignoring corrupt cache entry");
                return None;
            }
        };
        if header.format != FORMAT || header.name != name {
            return None;
        }
        let Some(packument) = Packument::decode(name, Bytes::from(data).slice(newline + 1..))
        else {
            tracing::debug!(path = %path.display(), "ignoring corrupt cache entry");
            return None;
        };
        Some(Entry {
            etag: header.etag,
            last_modified: header.last_modified,
            packument: Arc::new(packument),
            modified,
        })
    }

    /// Store `entry` for `name` at `path`, atomically.
    pub(crate) fn write(path: &Path, name: &str, url: &Url, entry: &Entry) -> io::Result<()> {
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("cache path has no parent directory"))?;
        let header = Header {
            format: FORMAT,
            name: name.to_owned(),
            url: redact(url),
            etag: entry.etag.clone(),
            last_modified: entry.last_modified.clone(),
        };
        // One write for the header line (the file is unbuffered).
        let mut line = serde_json::to_vec(&header)?;
        line.push(b'\n');
        let temporary = || tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir);
        // The directory exists after the first entry: create it only when it is missing.
        let mut file = match temporary() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                temporary()?
            }
            other => other?,
        };
        file.write_all(&line)?;
        file.write_all(&entry.packument.encode())?;
        // No fsync: the cache can always be refetched, a torn entry reads as missing (the
        // header does not parse, or the encoding does not end where the file does), and an
        // fsync per packument would dominate a cold install on slow disks.
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Drop for MetadataCache {
    fn drop(&mut self) {
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Writer { queue, thread }) = writer {
            // The thread ends once the queue is closed and empty.
            drop(queue);
            let _ = thread.join();
        }
    }
}

/// Removes the [`LEGACY`] directories under `cache_dir`; a failure is logged.
fn remove_legacy(cache_dir: &Path) {
    for legacy in LEGACY {
        let path = cache_dir.join(legacy);
        match fs::remove_dir_all(&path) {
            Ok(()) => tracing::debug!(path = %path.display(), "removed an old metadata cache"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove an old metadata cache");
            }
        }
    }
}

fn write_logged(path: &Path, name: &str, url: &Url, entry: &Entry) {
    if let Err(e) = MetadataCache::write(path, name, url, entry) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write metadata cache");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn entries_written_later_are_there_once_the_cache_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MetadataCache::new(dir.path());
        let reg = Url::parse("http://127.0.0.1:9/").unwrap();
        let paths: Vec<PathBuf> = (0..20)
            .map(|i| cache.path_for(&reg, &format!("p{i}")))
            .collect();
        // A cold cache: its registry directory is looked for once, and holds nothing.
        assert!(!cache.may_hold(&paths[0]));
        for (i, path) in paths.iter().enumerate() {
            let name = format!("p{i}");
            let packument: Packument = serde_json::from_str(&format!(
                r#"{{"name": "{name}", "versions": {{"1.0.{i}": {{}}}}}}"#
            ))
            .unwrap();
            let entry = Entry {
                etag: None,
                last_modified: None,
                packument: Arc::new(packument),
                modified: None,
            };
            cache.write_later(path.clone(), name, reg.clone(), entry);
        }
        drop(cache);
        for (i, path) in paths.iter().enumerate() {
            let back = MetadataCache::read(path, &format!("p{i}")).unwrap();
            assert!(back.modified.is_some());
            assert_eq!(back.packument.versions.len(), 1);
        }
        // A new cache sees the directory.
        assert!(MetadataCache::new(dir.path()).may_hold(&paths[0]));
    }

    #[test]
    fn directories_of_earlier_versions_go_when_entries_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let old = [
            dir.path().join("metadata/v1/host-0a1b2c"),
            dir.path().join("metadata/metadata/v2/host-0a1b2c"),
        ];
        for path in &old {
            fs::create_dir_all(path).unwrap();
            fs::write(path.join("x.bin"), "old").unwrap();
        }
        // Beside them, what is not the cache's own stays.
        fs::write(dir.path().join("metadata/notes"), "mine").unwrap();
        let cache = MetadataCache::new(dir.path());
        let reg = Url::parse("http://127.0.0.1:9/").unwrap();
        let path = cache.path_for(&reg, "p");
        let packument: Packument =
            serde_json::from_str(r#"{"name": "p", "versions": {"1.0.0": {}}}"#).unwrap();
        let entry = Entry {
            etag: None,
            last_modified: None,
            packument: Arc::new(packument),
            modified: None,
        };
        cache.write_later(path.clone(), "p".into(), reg, entry);
        drop(cache);
        assert!(MetadataCache::read(&path, "p").is_some());
        assert!(!dir.path().join("metadata/v1").exists());
        assert!(!dir.path().join("metadata/metadata").exists());
        assert_eq!(
            fs::read_to_string(dir.path().join("metadata/notes")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn round_trip_and_name_check() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MetadataCache::new(dir.path());
        let reg = Url::parse("http://127.0.0.1:9/").unwrap();
        let path = cache.path_for(&reg, "@s/pkg");
        assert!(path.starts_with(dir.path().join("metadata/v2")));
        assert!(path.ends_with("@s+pkg.bin"));
        assert!(MetadataCache::read(&path, "@s/pkg").is_none());
        let packument: Packument = serde_json::from_str(
            r#"{"name": "@s/pkg", "dist-tags": {"latest": "1.0.0"},
                "versions": {"1.0.0": {"dependencies": {"a": "^1"}}}}"#,
        )
        .unwrap();
        let entry = Entry {
            etag: Some("\"e1\"".into()),
            last_modified: None,
            packument: Arc::new(packument),
            modified: None,
        };
        MetadataCache::write(&path, "@s/pkg", &reg, &entry).unwrap();
        let back = MetadataCache::read(&path, "@s/pkg").unwrap();
        assert_eq!(back.etag.as_deref(), Some("\"e1\""));
        assert_eq!(back.packument, entry.packument);
        assert!(MetadataCache::read(&path, "@S/PKG").is_none());
        // An entry of the first format (the registry's JSON after the header) is not used.
        let old = fs::read(&path).unwrap();
        let newline = old.iter().position(|&b| b == b'\n').unwrap();
        let header = String::from_utf8(old[..newline].to_vec()).unwrap();
        let v1 = format!(
            "{}\n{{\"name\":\"@s/pkg\",\"versions\":{{}}}}",
            header.replace("\"format\":2", "\"format\":1")
        );
        fs::write(&path, v1).unwrap();
        assert!(MetadataCache::read(&path, "@s/pkg").is_none());
    }

    #[test]
    fn registries_on_one_host_do_not_share_entries() {
        let cache = MetadataCache::new(Path::new("/c"));
        let a = cache.path_for(&Url::parse("https://h.test/a/").unwrap(), "x");
        let b = cache.path_for(&Url::parse("https://h.test/b/").unwrap(), "x");
        let c = cache.path_for(&Url::parse("http://h.test/a/").unwrap(), "x");
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn corrupt_entry_reads_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        fs::write(&path, b"not json\n{}").unwrap();
        assert!(MetadataCache::read(&path, "x").is_none());
        fs::write(&path, b"no newline at all").unwrap();
        assert!(MetadataCache::read(&path, "x").is_none());
    }
}
