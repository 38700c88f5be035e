//! Tarball builders for tests, hostile ones included (enabled by the `testing` feature).
//!
//! Fixtures are written header by header, bypassing the `tar` crate's own path checks (which refuse
//! to *create* `..` or absolute names), because the point is to produce what an attacker would.
//! Everything is deterministic (mtime 0, uid 0), so two builds of one fixture hash the same.
//! Panicking on a malformed fixture is the right failure for test support, hence the `expect`s.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::{Compress, Compression, Crc, FlushCompress};
use tar::{EntryType, Header};

use crate::digest::Sha512Digest;

/// Builds a tarball member by member. Paths given to the `file`-like methods get the prefix
/// (`package/` by default); `raw_*` methods write the name exactly as given.
#[derive(Debug, Clone)]
pub struct TarballBuilder {
    prefix: String,
    members: Vec<Member>,
}

#[derive(Debug, Clone)]
enum Member {
    Plain {
        kind: EntryType,
        path: Vec<u8>,
        link: Vec<u8>,
        data: Vec<u8>,
        mode: u32,
    },
    PaxPath {
        pax_path: Vec<u8>,
        data: Vec<u8>,
    },
    GnuLongName {
        path: Vec<u8>,
        data: Vec<u8>,
    },
    PaxGlobal,
}

impl Default for TarballBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarballBuilder {
    /// An empty tarball whose members live under `package/`, like npm's.
    pub fn new() -> Self {
        Self::with_prefix("package/")
    }

    /// An empty tarball whose members live under `prefix` (include the trailing `/`).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            members: Vec::new(),
        }
    }

    fn prefixed(&self, path: &str) -> Vec<u8> {
        format!("{}{path}", self.prefix).into_bytes()
    }

    fn push(mut self, kind: EntryType, path: Vec<u8>, link: &[u8], data: &[u8], mode: u32) -> Self {
        self.members.push(Member::Plain {
            kind,
            path,
            link: link.to_vec(),
            data: data.to_vec(),
            mode,
        });
        self
    }

    /// A regular file, mode 0644.
    pub fn file(self, path: &str, data: impl AsRef<[u8]>) -> Self {
        self.file_with_mode(path, data, 0o644)
    }

    /// A regular file, mode 0755.
    pub fn executable(self, path: &str, data: impl AsRef<[u8]>) -> Self {
        self.file_with_mode(path, data, 0o755)
    }

    /// A regular file with the given mode.
    pub fn file_with_mode(self, path: &str, data: impl AsRef<[u8]>, mode: u32) -> Self {
        let path = self.prefixed(path);
        self.push(EntryType::Regular, path, b"", data.as_ref(), mode)
    }

    /// `package.json` with a name and a version.
    pub fn package_json(self, name: &str, version: &str) -> Self {
        let json = format!(r#"{{"name":"{name}","version":"{version}"}}"#);
        self.file("package.json", json)
    }

    /// A regular file whose header name is exactly `raw` (no prefix, no checks; at most 100 bytes).
    pub fn raw_file(self, raw: &[u8], data: impl AsRef<[u8]>) -> Self {
        self.push(EntryType::Regular, raw.to_vec(), b"", data.as_ref(), 0o644)
    }

    /// A regular file whose name is only in a pax `path` record (no prefix, no checks).
    pub fn pax_path_file(mut self, raw: &[u8], data: impl AsRef<[u8]>) -> Self {
        self.members.push(Member::PaxPath {
            pax_path: raw.to_vec(),
            data: data.as_ref().to_vec(),
        });
        self
    }

    /// A regular file whose name is in a GNU long-name member (prefixed; any length).
    pub fn long_name_file(mut self, path: &str, data: impl AsRef<[u8]>) -> Self {
        let path = self.prefixed(path);
        self.members.push(Member::GnuLongName {
            path,
            data: data.as_ref().to_vec(),
        });
        self
    }

    /// A directory member.
    pub fn dir(self, path: &str) -> Self {
        let path = self.prefixed(path);
        self.push(EntryType::Directory, path, b"", b"", 0o755)
    }

    /// A symbolic link to `target` (written verbatim, e.g. `/etc/passwd`).
    pub fn symlink(self, path: &str, target: &str) -> Self {
        let path = self.prefixed(path);
        self.push(EntryType::Symlink, path, target.as_bytes(), b"", 0o777)
    }

    /// A hard link to `target` (written verbatim).
    pub fn hard_link(self, path: &str, target: &str) -> Self {
        let path = self.prefixed(path);
        self.push(EntryType::Link, path, target.as_bytes(), b"", 0o644)
    }

    /// A character device (1:3, `/dev/null`'s numbers).
    pub fn char_device(self, path: &str) -> Self {
        let path = self.prefixed(path);
        self.push(EntryType::Char, path, b"", b"", 0o666)
    }

    /// A block device.
    pub fn block_device(self, path: &str) -> Self {
        let path = self.prefixed(path);
        self.push(EntryType::Block, path, b"", b"", 0o660)
    }

    /// A named pipe.
    pub fn fifo(self, path: &str) -> Self {
        let path = self.prefixed(path);
        self.push(EntryType::Fifo, path, b"", b"", 0o644)
    }

    /// A pax global extended header (`g`), as `git archive` writes.
    pub fn pax_global_header(mut self) -> Self {
        self.members.push(Member::PaxGlobal);
        self
    }

    /// The uncompressed tar archive.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for member in &self.members {
            match member {
                Member::Plain {
                    kind,
                    path,
                    link,
                    data,
                    mode,
                } => {
                    let mut header = header(*kind, path, data.len() as u64, *mode);
                    if !link.is_empty() {
                        let field = &mut header.as_old_mut().linkname;
                        assert!(
                            link.len() <= field.len(),
                            "link target too long for a fixture"
                        );
                        field[..link.len()].copy_from_slice(link);
                    }
                    if matches!(kind, EntryType::Char | EntryType::Block) {
                        header.set_device_major(1).expect("ustar header");
                        header.set_device_minor(3).expect("ustar header");
                    }
                    header.set_cksum();
                    builder.append(&header, data.as_slice()).expect("append");
                }
                Member::PaxPath { pax_path, data } => {
                    builder
                        .append_pax_extensions([("path", pax_path.as_slice())])
                        .expect("append pax");
                    let header =
                        header(EntryType::Regular, b"placeholder", data.len() as u64, 0o644);
                    builder.append(&header, data.as_slice()).expect("append");
                }
                Member::GnuLongName { path, data } => {
                    let mut name = path.clone();
                    name.push(0);
                    let mut long = Header::new_gnu();
                    long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                    long.set_entry_type(EntryType::GNULongName);
                    long.set_size(name.len() as u64);
                    long.set_mode(0o644);
                    long.set_cksum();
                    builder.append(&long, name.as_slice()).expect("append");
                    let mut header = header(EntryType::Regular, b"x", data.len() as u64, 0o644);
                    header.set_cksum();
                    builder.append(&header, data.as_slice()).expect("append");
                }
                Member::PaxGlobal => {
                    let record = pax_record("comment", "fixture");
                    let header = header(
                        EntryType::XGlobalHeader,
                        b"pax_global_header",
                        record.len() as u64,
                        0o644,
                    );
                    builder.append(&header, record.as_slice()).expect("append");
                }
            }
        }
        builder.into_inner().expect("finish tar")
    }

    /// The gzipped tarball, as a registry serves it.
    pub fn tgz(&self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

/// A ustar header with a raw name (at most 100 bytes), deterministic metadata and its checksum.
fn header(kind: EntryType, path: &[u8], size: u64, mode: u32) -> Header {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    let name = &mut header.as_old_mut().name;
    assert!(
        path.len() <= name.len(),
        "raw fixture names are at most 100 bytes"
    );
    name[..path.len()].copy_from_slice(path);
    header.set_cksum();
    header
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    // The length counts itself; find the fixed point.
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

/// Gzips `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("write to Vec");
    encoder.finish().expect("finish gzip")
}

/// The SHA-512 of `bytes`, as [`crate::Store::add_tarball`] expects it.
pub fn sha512(bytes: &[u8]) -> [u8; 64] {
    Sha512Digest::of(bytes).0
}

/// A valid `.tgz` holding `files` members `package/bomb-<n>` of `file_size` zero bytes each (a
/// multiple of 512), built without ever materialising the zeros: a megabyte of zeros is deflated
/// once and its compressed form repeated, so a 2 GiB bomb costs ~2 MiB and milliseconds.
pub fn gzip_zero_bomb(files: u32, file_size: u64) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    assert_eq!(
        file_size % 512,
        0,
        "bomb file size must be a multiple of 512"
    );
    let zeros = vec![0u8; CHUNK];
    let chunk = deflate_piece(&zeros, false);
    let mut chunk_crc = Crc::new();
    chunk_crc.update(&zeros);

    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut crc = Crc::new();
    for n in 0..files {
        let header = header(
            EntryType::Regular,
            format!("package/bomb-{n}").as_bytes(),
            file_size,
            0o644,
        );
        out.extend(deflate_piece(header.as_bytes(), false));
        crc.update(header.as_bytes());
        for _ in 0..file_size / CHUNK as u64 {
            out.extend_from_slice(&chunk);
            crc.combine(&chunk_crc);
        }
        let rest = usize::try_from(file_size % CHUNK as u64).expect("below CHUNK");
        if rest > 0 {
            out.extend(deflate_piece(&zeros[..rest], false));
            crc.update(&zeros[..rest]);
        }
    }
    // End of archive: two zero blocks, in the final deflate block.
    out.extend(deflate_piece(&zeros[..1024], true));
    crc.update(&zeros[..1024]);
    out.extend(crc.sum().to_le_bytes());
    out.extend(crc.amount().to_le_bytes());
    out
}

/// Raw deflate of `data` by a fresh compressor: non-final and byte-aligned (sync flush) unless
/// `last`. Such pieces concatenate into one valid stream, since none refers to another's bytes.
fn deflate_piece(data: &[u8], last: bool) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    compress
        .compress_vec(data, &mut out, flush)
        .expect("deflate");
    assert_eq!(
        compress.total_in(),
        data.len() as u64,
        "deflate consumed everything"
    );
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn zero_bomb_is_valid_gzip_of_a_valid_tar() {
        // Small enough to decompress fully in a test, built exactly like the big ones.
        let bomb = gzip_zero_bomb(2, (3 << 20) + 512);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(bomb.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(tar.len(), 2 * (512 + (3 << 20) + 512) + 1024);
        let mut archive = tar::Archive::new(tar.as_slice());
        let sizes: Vec<u64> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().size())
            .collect();
        assert_eq!(sizes, [(3 << 20) + 512, (3 << 20) + 512]);
    }

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record("comment", "fixture"), b"19 comment=fixture\n");
        assert_eq!(pax_record("k", "v"), b"6 k=v\n");
    }
}
