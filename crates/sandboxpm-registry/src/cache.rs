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

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The packument cache rooted at `<cache_dir>/metadata/v2` (`v1` held the registry's documents
/// as they were sent; nothing reads it any more).
#[derive(Debug, Clone)]
pub(crate) struct MetadataCache {
    root: PathBuf,
}

impl MetadataCache {
    pub(crate) fn new(cache_dir: &Path) -> Self {
        Self {
            root: cache_dir.join("metadata").join("v2"),
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
        let data = match fs::read(path) {
            Ok(data) => data,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

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
