//! Materialising packages: hard links, private copies, cross-filesystem fallback.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use common::store;
use sandboxpm_store::testing::{TarballBuilder, sha512};
use sandboxpm_store::{ExtractLimits, LinkMode, LinkStats, PackageIndex, Store, StoreError};

fn add(store: &Store, builder: &TarballBuilder) -> PackageIndex {
    let tgz = builder.tgz();
    store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap()
}

fn sample() -> TarballBuilder {
    TarballBuilder::new()
        .file("index.js", "index")
        .file("lib/deep/util.js", "util")
        .executable("bin/cli", "#!/bin/sh\n")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn hard_links_share_inodes_with_blobs() {
    let (dir, store) = store();
    let index = add(&store, &sample());
    let dest = dir.path().join("nm/pkg");
    let stats = store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    assert_eq!(
        stats,
        LinkStats {
            hard_linked: 3,
            reflinked: 0,
            copied: 0
        }
    );
    for (path, entry) in &index.files {
        let linked = fs::metadata(dest.join(path)).unwrap();
        let blob = fs::metadata(store.blob_path(entry)).unwrap();
        assert_eq!(linked.ino(), blob.ino(), "{path}");
        assert_eq!(linked.dev(), blob.dev(), "{path}");
        assert!(linked.nlink() >= 2);
    }
    // Shared inodes stay read-only.
    assert_eq!(mode(&dest.join("index.js")), 0o444);
    assert_eq!(mode(&dest.join("bin/cli")), 0o555);

    // A second project shares the same inodes.
    let other = dir.path().join("other/pkg");
    store.link_package(&index, &other, LinkMode::Auto).unwrap();
    assert_eq!(
        fs::metadata(other.join("index.js")).unwrap().ino(),
        fs::metadata(dest.join("index.js")).unwrap().ino()
    );
}

#[test]
fn copy_mode_gives_distinct_writable_files() {
    let (dir, store) = store();
    let index = add(&store, &sample());
    let dest = dir.path().join("scripted/pkg");
    let stats = store.link_package(&index, &dest, LinkMode::Copy).unwrap();
    assert_eq!(stats.hard_linked, 0);
    assert_eq!(stats.total(), 3);
    for (path, entry) in &index.files {
        let copy = fs::metadata(dest.join(path)).unwrap();
        let blob = fs::metadata(store.blob_path(entry)).unwrap();
        assert_ne!(copy.ino(), blob.ino(), "{path}");
        assert_ne!(copy.permissions().mode() & 0o200, 0, "{path} not writable");
    }
    assert_ne!(mode(&dest.join("bin/cli")) & 0o100, 0);

    // What a script writes stays private: the blob and other projects keep the original.
    fs::write(dest.join("index.js"), "changed by a script").unwrap();
    let blob = store.blob_path(&index.files["index.js"]);
    assert_eq!(fs::read_to_string(blob).unwrap(), "index");
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn relinking_replaces_existing_files() {
    let (dir, store) = store();
    let index = add(&store, &sample());
    let dest = dir.path().join("pkg");
    fs::create_dir_all(dest.join("lib/deep")).unwrap();
    fs::write(dest.join("index.js"), "stale").unwrap();
    store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    assert_eq!(fs::read_to_string(dest.join("index.js")).unwrap(), "index");
    // Twice in a row is fine too, in both modes.
    store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    store.link_package(&index, &dest, LinkMode::Copy).unwrap();
    assert_eq!(fs::read_to_string(dest.join("index.js")).unwrap(), "index");
}

#[test]
fn other_filesystem_falls_back_to_copies() {
    // /dev/shm is a tmpfs on Linux: a different filesystem from the temp dir, unless it isn't.
    let shm = Path::new("/dev/shm");
    let (_dir, store) = store();
    if !shm.is_dir()
        || fs::metadata(shm).unwrap().dev() == fs::metadata(store.path()).unwrap().dev()
    {
        eprintln!("skipped: no second filesystem at /dev/shm");
        return;
    }
    let index = add(&store, &sample());
    let dest_root = tempfile::tempdir_in(shm).unwrap();
    let dest = dest_root.path().join("pkg");
    let stats = store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    assert_eq!(stats.hard_linked, 0);
    assert_eq!(stats.reflinked + stats.copied, 3);
    assert_eq!(
        fs::read_to_string(dest.join("lib/deep/util.js")).unwrap(),
        "util"
    );
    assert_ne!(mode(&dest.join("bin/cli")) & 0o100, 0);
    // Remembered per destination filesystem: the next package starts with the working method.
    let again = store
        .link_package(&index, &dest_root.path().join("again"), LinkMode::Auto)
        .unwrap();
    assert_eq!(again.hard_linked, 0);
    assert_eq!(again.total(), 3);
}

#[test]
fn large_packages_link_in_parallel() {
    let (dir, store) = store();
    let mut builder = TarballBuilder::new();
    for n in 0..500 {
        builder = builder.file(&format!("dir{}/file{n}.js", n % 7), format!("content {n}"));
    }
    let index = add(&store, &builder);
    let dest = dir.path().join("pkg");
    let stats = store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    assert_eq!(stats.hard_linked, 500);
    for n in [0, 123, 499] {
        let path = dest.join(format!("dir{}/file{n}.js", n % 7));
        assert_eq!(fs::read_to_string(path).unwrap(), format!("content {n}"));
    }
}

#[test]
fn missing_blob_is_named_in_the_error() {
    let (dir, store) = store();
    let index = add(&store, &sample().package_json("gone", "1.0.0"));
    let blob = store.blob_path(&index.files["lib/deep/util.js"]);
    fs::remove_file(&blob).unwrap();
    let err = store
        .link_package(&index, &dir.path().join("pkg"), LinkMode::Auto)
        .unwrap_err();
    let StoreError::MissingBlob {
        ref entry,
        ref path,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(entry, "lib/deep/util.js");
    assert_eq!(path, &blob);
    let message = err.to_string();
    assert!(message.starts_with("gone@1.0.0: blob "), "{message}");
}

#[test]
fn index_with_escaping_path_is_refused() {
    let (dir, store) = store();
    let mut index = add(&store, &sample());
    let entry = index.files["index.js"];
    index.files.insert("../../escaped.js".into(), entry);
    let work = dir.path().join("work");
    let err = store
        .link_package(&index, &work.join("pkg"), LinkMode::Auto)
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsafeIndexPath { .. }), "{err:?}");
    assert!(!work.exists(), "nothing may be created for a refused index");
}
