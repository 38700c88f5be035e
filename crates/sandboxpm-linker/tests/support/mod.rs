//! A temporary store and project, packages built as tarballs and added to the store, and a
//! snapshot of `node_modules` to prove a run touched nothing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use sandboxpm_linker::{LinkOptions, LinkPlan, LinkReport, PlannedPackage, Result, link};
use sandboxpm_store::testing::{TarballBuilder, sha512};
use sandboxpm_store::{ExtractLimits, PackageIndex, Store};

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub store: Store,
    pub root: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let root = dir.path().join("project");
        fs::create_dir(&root).unwrap();
        Self {
            _dir: dir,
            store,
            root,
        }
    }

    /// Adds a tarball with `package.json` and `files` (paths ending in `*` are executable).
    pub fn index(&self, name: &str, version: &str, files: &[(&str, &str)]) -> PackageIndex {
        let mut builder = TarballBuilder::new().package_json(name, version);
        for (path, data) in files {
            builder = match path.strip_suffix('*') {
                Some(path) => builder.executable(path, data),
                None => builder.file(path, data),
            };
        }
        let tgz = builder.tgz();
        self.store
            .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
            .unwrap()
    }

    pub fn package(&self, name: &str, version: &str, files: &[(&str, &str)]) -> PlannedPackage {
        PlannedPackage::new(name, version, self.index(name, version, files))
    }

    pub fn plan(&self, packages: Vec<PlannedPackage>, direct: &[(&str, &str)]) -> LinkPlan {
        LinkPlan {
            root: self.root.clone(),
            packages,
            direct: direct
                .iter()
                .map(|(e, k)| ((*e).to_owned(), (*k).to_owned()))
                .collect(),
        }
    }

    pub fn link(&self, plan: &LinkPlan) -> Result<LinkReport> {
        link(&self.store, plan, &LinkOptions::default())
    }

    /// Links with shared package directories in the store.
    pub fn link_shared(&self, plan: &LinkPlan) -> Result<LinkReport> {
        let options = LinkOptions {
            shared: true,
            ..LinkOptions::default()
        };
        link(&self.store, plan, &options)
    }

    /// Another project directory next to the first one.
    pub fn other_project(&self, name: &str) -> PathBuf {
        let root = self.root.with_file_name(name);
        fs::create_dir_all(&root).unwrap();
        root
    }

    pub fn modules(&self) -> PathBuf {
        self.root.join("node_modules")
    }

    pub fn internal(&self, rel: &str) -> PathBuf {
        let mut path = self.modules().join(".sandboxpm");
        path.extend(rel.split('/'));
        path
    }

    /// The store blob behind `path` of `index`.
    pub fn blob(&self, index: &PackageIndex, path: &str) -> PathBuf {
        self.store.blob_path(&index.files[path])
    }
}

pub fn link_text(path: &Path) -> String {
    fs::read_link(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Identity and change times of every entry below `dir` (not following symlinks): a run that
/// rewrites, relinks or re-creates anything changes some inode, mtime or ctime.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i64, i64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let m = fs::symlink_metadata(&path).unwrap();
        out.insert(
            path.clone(),
            (
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            ),
        );
        if m.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
    }
    out
}

pub fn ino(path: &Path) -> u64 {
    fs::symlink_metadata(path).unwrap().ino()
}

/// Whether `node` can be run; otherwise skips (returns false) or, with
/// `SANDBOXPM_SANDBOX_MUST_WORK=1`, fails.
pub fn node_available() -> bool {
    let works = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        if std::env::var_os("SANDBOXPM_SANDBOX_MUST_WORK").is_some_and(|v| v == "1") {
            panic!("SANDBOXPM_SANDBOX_MUST_WORK=1 but `node` cannot be run");
        }
        eprintln!("skipping: `node` is not installed (set SANDBOXPM_SANDBOX_MUST_WORK=1 to fail)");
    }
    works
}
