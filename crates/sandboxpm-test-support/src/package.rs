//! Package tarballs built in the test, byte for byte reproducible.
//!
//! A tarball is what `npm pack` makes: a gzip-compressed tar whose entries sit under one top
//! directory (`package/`), starting with `package/package.json`. Timestamps, owners and the
//! gzip header are fixed, so the same builder always yields the same bytes and the same
//! integrity string, and tests can assert on hashes.
//!
//! [`RawEntry`] writes the tar header fields directly, bypassing the checks of the `tar`
//! crate's writer: store tests need exactly the entries a well-behaved writer refuses
//! (`../` components, absolute paths, links out of the package, device nodes).

use std::io::{self, Write};

use flate2::Compression;
use flate2::GzBuilder;
use serde_json::{Map, Value, json};

use crate::integrity::{sha1_hex, sri_sha512};

/// The mtime npm writes into every tarball entry (1985-10-26T08:15:00Z).
const NPM_MTIME: u64 = 499_162_500;

/// The type of a raw tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link to `link_target`.
    Symlink,
    /// A hard link to `link_target` (a path inside the archive, or not).
    HardLink,
    /// A character device (major 1, minor 3: `/dev/null`'s numbers).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
}

/// A tar entry written exactly as given: the path is not prefixed, normalised or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The entry's name in the archive (at most 100 bytes), e.g. `package/../../evil.sh`.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Link target for symlinks and hard links (at most 100 bytes).
    pub link_target: Option<String>,
    /// Contents (regular files only).
    pub data: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

impl RawEntry {
    fn new(path: &str, kind: EntryKind, mode: u32) -> Self {
        Self {
            path: path.to_owned(),
            kind,
            link_target: None,
            data: Vec::new(),
            mode,
        }
    }

    /// A regular file at `path` (e.g. `package/../../escape.txt` or `/etc/evil`).
    pub fn file(path: &str, data: &[u8]) -> Self {
        Self {
            data: data.to_vec(),
            ..Self::new(path, EntryKind::File, 0o644)
        }
    }

    /// A directory at `path`.
    pub fn directory(path: &str) -> Self {
        Self::new(path, EntryKind::Directory, 0o755)
    }

    /// A symbolic link at `path` pointing to `target` (e.g. `/home/user/.ssh/id_rsa`).
    pub fn symlink(path: &str, target: &str) -> Self {
        Self {
            link_target: Some(target.to_owned()),
            ..Self::new(path, EntryKind::Symlink, 0o777)
        }
    }

    /// A hard link at `path` to `target`.
    pub fn hard_link(path: &str, target: &str) -> Self {
        Self {
            link_target: Some(target.to_owned()),
            ..Self::new(path, EntryKind::HardLink, 0o644)
        }
    }

    /// A character device node at `path`.
    pub fn char_device(path: &str) -> Self {
        Self::new(path, EntryKind::CharDevice, 0o666)
    }

    /// A block device node at `path`.
    pub fn block_device(path: &str) -> Self {
        Self::new(path, EntryKind::BlockDevice, 0o660)
    }

    /// A named pipe at `path`.
    pub fn fifo(path: &str) -> Self {
        Self::new(path, EntryKind::Fifo, 0o644)
    }

    /// The same entry with other permission bits (e.g. setuid `0o4755`).
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    fn header(&self) -> io::Result<tar::Header> {
        let mut header = tar::Header::new_gnu();
        put_raw(&mut header.as_old_mut().name, &self.path, "path")?;
        if let Some(target) = &self.link_target {
            put_raw(&mut header.as_old_mut().linkname, target, "link target")?;
        }
        header.set_entry_type(match self.kind {
            EntryKind::File => tar::EntryType::Regular,
            EntryKind::Directory => tar::EntryType::Directory,
            EntryKind::Symlink => tar::EntryType::Symlink,
            EntryKind::HardLink => tar::EntryType::Link,
            EntryKind::CharDevice => tar::EntryType::Char,
            EntryKind::BlockDevice => tar::EntryType::Block,
            EntryKind::Fifo => tar::EntryType::Fifo,
        });
        if matches!(self.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            header.set_device_major(1)?;
            header.set_device_minor(3)?;
        }
        header.set_size(self.data.len() as u64);
        fill_common(&mut header, self.mode);
        Ok(header)
    }
}

/// Copy `value` into a fixed-size, NUL-padded header field.
fn put_raw(field: &mut [u8], value: &str, what: &str) -> io::Result<()> {
    let bytes = value.as_bytes();
    if bytes.len() > field.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "raw tar {what} `{value}` is longer than {} bytes",
                field.len()
            ),
        ));
    }
    field.fill(0);
    field[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn fill_common(header: &mut tar::Header, mode: u32) {
    header.set_mode(mode);
    header.set_mtime(NPM_MTIME);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
}

/// A package tarball and what a packument says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPackage {
    /// The package name.
    pub name: String,
    /// The version.
    pub version: String,
    /// The `package.json` written into the tarball.
    pub manifest: Value,
    /// The `.tgz` bytes.
    pub tarball: Vec<u8>,
    /// `sha512-…` of `tarball`.
    pub integrity: String,
    /// Hex SHA-1 of `tarball`.
    pub shasum: String,
}

impl BuiltPackage {
    /// The tarball's file name as registries name it: `<name without scope>-<version>.tgz`.
    pub fn file_name(&self) -> String {
        let bare = self.name.rsplit('/').next().unwrap_or(&self.name);
        format!("{bare}-{}.tgz", self.version)
    }
}

enum Item {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Raw(RawEntry),
}

/// Builds a package tarball.
///
/// ```
/// use sandboxpm_test_support::PackageBuilder;
/// let pkg = PackageBuilder::new("left-pad", "1.0.0")
///     .dependency("dep", "^2.0.0")
///     .script("postinstall", "node install.js")
///     .file("index.js", "module.exports = 1;\n")
///     .executable("cli.js", "#!/usr/bin/env node\n")
///     .build()
///     .unwrap();
/// assert!(pkg.integrity.starts_with("sha512-"));
/// ```
#[derive(Debug)]
pub struct PackageBuilder {
    manifest: Map<String, Value>,
    root: String,
    items: Vec<Item>,
    with_manifest: bool,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path, mode, data } => {
                write!(f, "File({path}, {mode:o}, {} bytes)", data.len())
            }
            Self::Raw(raw) => write!(f, "Raw({raw:?})"),
        }
    }
}

impl PackageBuilder {
    /// A package with `package.json` = `{"name": name, "version": version}`.
    pub fn new(name: &str, version: &str) -> Self {
        let mut manifest = Map::new();
        manifest.insert("name".into(), json!(name));
        manifest.insert("version".into(), json!(version));
        Self {
            manifest,
            root: "package".into(),
            items: Vec::new(),
            with_manifest: true,
        }
    }

    /// Set a top-level `package.json` field (replacing it).
    pub fn field(mut self, key: &str, value: Value) -> Self {
        self.manifest.insert(key.to_owned(), value);
        self
    }

    fn add_to(mut self, section: &str, key: &str, value: &str) -> Self {
        let entry = self
            .manifest
            .entry(section.to_owned())
            .or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        if let Value::Object(map) = entry {
            map.insert(key.to_owned(), json!(value));
        }
        self
    }

    /// Add `name: range` to `dependencies`.
    pub fn dependency(self, name: &str, range: &str) -> Self {
        self.add_to("dependencies", name, range)
    }

    /// Add `name: range` to `optionalDependencies`.
    pub fn optional_dependency(self, name: &str, range: &str) -> Self {
        self.add_to("optionalDependencies", name, range)
    }

    /// Add `name: range` to `peerDependencies`.
    pub fn peer_dependency(self, name: &str, range: &str) -> Self {
        self.add_to("peerDependencies", name, range)
    }

    /// Add a lifecycle script (`preinstall`, `install`, `postinstall`, …).
    pub fn script(self, event: &str, command: &str) -> Self {
        self.add_to("scripts", event, command)
    }

    /// Add a `bin` entry.
    pub fn bin(self, command: &str, path: &str) -> Self {
        self.add_to("bin", command, path)
    }

    /// A file under the package root with mode `0o644`.
    pub fn file(self, path: &str, data: impl AsRef<[u8]>) -> Self {
        self.file_with_mode(path, data, 0o644)
    }

    /// An executable file under the package root (`0o755`).
    pub fn executable(self, path: &str, data: impl AsRef<[u8]>) -> Self {
        self.file_with_mode(path, data, 0o755)
    }

    /// A file under the package root with the given mode.
    pub fn file_with_mode(mut self, path: &str, data: impl AsRef<[u8]>, mode: u32) -> Self {
        self.items.push(Item::File {
            path: path.to_owned(),
            data: data.as_ref().to_vec(),
            mode,
        });
        self
    }

    /// A raw entry, written as is (not under the package root).
    pub fn raw_entry(mut self, entry: RawEntry) -> Self {
        self.items.push(Item::Raw(entry));
        self
    }

    /// Use another top directory than `package` (some real tarballs do).
    pub fn root_dir(mut self, root: &str) -> Self {
        self.root = root.to_owned();
        self
    }

    /// Leave `package.json` out of the tarball (the packument still lists the manifest).
    pub fn without_package_json(mut self) -> Self {
        self.with_manifest = false;
        self
    }

    /// Write the tarball.
    ///
    /// # Errors
    ///
    /// A raw path or link target longer than a tar header field, or a normal file path the
    /// `tar` crate rejects.
    pub fn build(self) -> io::Result<BuiltPackage> {
        let manifest = Value::Object(self.manifest);
        let mut tar = tar::Builder::new(Vec::new());
        if self.with_manifest {
            let text = serde_json::to_vec_pretty(&manifest)?;
            append_file(
                &mut tar,
                &format!("{}/package.json", self.root),
                &text,
                0o644,
            )?;
        }
        for item in &self.items {
            match item {
                Item::File { path, data, mode } => {
                    append_file(&mut tar, &format!("{}/{path}", self.root), data, *mode)?;
                }
                Item::Raw(raw) => {
                    let header = raw.header()?;
                    tar.append(&header, raw.data.as_slice())?;
                }
            }
        }
        let tar_bytes = tar.into_inner()?;
        // A fixed gzip header (no name, mtime 0) keeps the bytes reproducible.
        let mut gz = GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::default());
        gz.write_all(&tar_bytes)?;
        let tarball = gz.finish()?;
        let text = |key: &str| {
            manifest
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(BuiltPackage {
            name: text("name"),
            version: text("version"),
            integrity: sri_sha512(&tarball),
            shasum: sha1_hex(&tarball),
            manifest,
            tarball,
        })
    }
}

fn append_file(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
    mode: u32,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(data.len() as u64);
    fill_common(&mut header, mode);
    // `append_data` writes a GNU long-name entry for paths over 100 bytes and sets the path
    // and checksum itself.
    tar.append_data(&mut header, path, data)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Read;

    use super::*;

    /// Path, type, link target, mode, contents.
    type Listed = (String, tar::EntryType, Option<String>, u32, Vec<u8>);

    fn entries(tgz: &[u8]) -> Vec<Listed> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap());
                let kind = e.header().entry_type();
                let mode = e.header().mode().unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, kind, link, mode, data)
            })
            .collect()
    }

    #[test]
    fn builds_an_npm_shaped_tarball() {
        let pkg = PackageBuilder::new("@s/p", "1.2.3")
            .dependency("a", "^1")
            .file("index.js", "x")
            .executable("bin/cli.js", "#!")
            .file(&format!("deep/{}.txt", "n".repeat(120)), "long")
            .build()
            .unwrap();
        assert_eq!(pkg.file_name(), "p-1.2.3.tgz");
        assert_eq!(pkg.integrity, sri_sha512(&pkg.tarball));
        let list = entries(&pkg.tarball);
        assert_eq!(list[0].0, "package/package.json");
        let manifest: Value = serde_json::from_slice(&list[0].4).unwrap();
        assert_eq!(manifest["dependencies"]["a"], "^1");
        assert_eq!(list[1].0, "package/index.js");
        assert_eq!(
            (list[2].0.as_str(), list[2].3),
            ("package/bin/cli.js", 0o755)
        );
        assert_eq!(list[3].0, format!("package/deep/{}.txt", "n".repeat(120)));
    }

    #[test]
    fn same_input_same_bytes() {
        let a = PackageBuilder::new("x", "1.0.0")
            .file("a", "1")
            .build()
            .unwrap();
        let b = PackageBuilder::new("x", "1.0.0")
            .file("a", "1")
            .build()
            .unwrap();
        assert_eq!(a.tarball, b.tarball);
        let c = PackageBuilder::new("x", "1.0.0")
            .file("a", "2")
            .build()
            .unwrap();
        assert_ne!(a.integrity, c.integrity);
    }

    #[test]
    fn hostile_entries_are_written_verbatim() {
        let pkg = PackageBuilder::new("evil", "1.0.0")
            .raw_entry(RawEntry::file("package/../../escape.txt", b"pwned"))
            .raw_entry(RawEntry::file("/etc/evil", b"x"))
            .raw_entry(RawEntry::symlink("package/key", "/root/.ssh/id_rsa"))
            .raw_entry(RawEntry::hard_link("package/hl", "../../outside"))
            .raw_entry(RawEntry::char_device("package/null"))
            .raw_entry(RawEntry::block_device("package/sda"))
            .raw_entry(RawEntry::fifo("package/pipe"))
            .raw_entry(RawEntry::file("package/suid", b"x").with_mode(0o4755))
            .build()
            .unwrap();
        let list = entries(&pkg.tarball);
        let find = |p: &str| {
            list.iter()
                .find(|e| e.0 == p)
                .unwrap_or_else(|| panic!("{p} missing"))
        };
        assert_eq!(find("package/../../escape.txt").4, b"pwned");
        assert_eq!(find("/etc/evil").1, tar::EntryType::Regular);
        let link = find("package/key");
        assert_eq!(
            (link.1, link.2.as_deref()),
            (tar::EntryType::Symlink, Some("/root/.ssh/id_rsa"))
        );
        assert_eq!(find("package/hl").1, tar::EntryType::Link);
        assert_eq!(find("package/null").1, tar::EntryType::Char);
        assert_eq!(find("package/sda").1, tar::EntryType::Block);
        assert_eq!(find("package/pipe").1, tar::EntryType::Fifo);
        assert_eq!(find("package/suid").3, 0o4755);
    }

    #[test]
    fn raw_path_too_long_is_an_error() {
        let err = PackageBuilder::new("x", "1.0.0")
            .raw_entry(RawEntry::file(&"a".repeat(101), b""))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("longer than 100 bytes"), "{err}");
    }
}
