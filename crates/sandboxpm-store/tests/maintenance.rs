//! verify, repair, prune and status.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use common::store;
use sandboxpm_store::testing::{TarballBuilder, sha512};
use sandboxpm_store::{ExtractLimits, LinkMode, PackageIndex, Store};

fn add(store: &Store, builder: &TarballBuilder) -> (PackageIndex, [u8; 64]) {
    let tgz = builder.tgz();
    let hash = sha512(&tgz);
    let index = store
        .add_tarball(&tgz, &hash, &ExtractLimits::default())
        .unwrap();
    (index, hash)
}

fn package_a() -> TarballBuilder {
    TarballBuilder::new()
        .package_json("a", "1.0.0")
        .file("LICENSE", "MIT")
        .file("a.js", "a only")
}

fn package_b() -> TarballBuilder {
    TarballBuilder::new()
        .package_json("b", "1.0.0")
        .file("LICENSE", "MIT")
        .executable("b.js", "b only")
}

#[test]
fn verify_passes_on_a_healthy_store() {
    let (_dir, store) = store();
    add(&store, &package_a());
    add(&store, &package_b());
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.blobs_checked, 5);
    assert_eq!(report.indexes_checked, 2);
    assert!(report.stray_files.is_empty());
}

#[test]
fn verify_detects_a_corrupted_blob_and_repair_removes_it() {
    let (_dir, store) = store();
    let (a, a_hash) = add(&store, &package_a());
    let (_b, b_hash) = add(&store, &package_b());
    let blob = store.blob_path(&a.files["a.js"]);
    fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&blob, "tampered").unwrap();

    let report = store.verify().unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].path, blob);
    assert_eq!(report.corrupt[0].expected, a.files["a.js"].hash);
    assert_eq!(
        report.corrupt[0].actual,
        Some(sandboxpm_store::BlobHash::of(b"tampered"))
    );

    let repaired = store.repair(&report).unwrap();
    assert_eq!(repaired.removed_blobs, 1);
    assert_eq!(repaired.removed_indexes, 1, "only a relied on the blob");
    assert!(!blob.exists());
    assert_eq!(store.index(&a_hash).unwrap(), None);
    assert!(store.index(&b_hash).unwrap().is_some());
    assert!(store.verify().unwrap().is_clean());

    // Adding the tarball again restores it.
    let (again, _) = add(&store, &package_a());
    assert_eq!(again, a);
    assert_eq!(fs::read_to_string(&blob).unwrap(), "a only");
}

#[test]
fn verify_reports_missing_blobs_and_damaged_indexes() {
    let (_dir, store) = store();
    let (a, a_hash) = add(&store, &package_a());
    let (_b, b_hash) = add(&store, &package_b());
    fs::remove_file(store.blob_path(&a.files["a.js"])).unwrap();
    fs::write(store.index_path(&b_hash), "{not json").unwrap();

    let report = store.verify().unwrap();
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].entry, "a.js");
    assert_eq!(report.missing[0].package.to_string(), "a@1.0.0");
    assert_eq!(report.damaged_indexes.len(), 1);
    assert_eq!(report.damaged_indexes[0].path, store.index_path(&b_hash));

    let repaired = store.repair(&report).unwrap();
    assert_eq!(repaired.removed_indexes, 2);
    assert_eq!(store.index(&a_hash).unwrap(), None);
}

#[test]
fn prune_removes_unreferenced_blobs_and_indexes() {
    let (dir, store) = store();
    let (a, a_hash) = add(&store, &package_a());
    let (b, b_hash) = add(&store, &package_b());
    assert_eq!(store.status().unwrap().blobs, 5);
    // Leftovers of an interrupted add.
    fs::create_dir(store.path().join("v2/tmp/add-crashed")).unwrap();

    let report = store.prune([a_hash], &HashSet::new()).unwrap();
    assert_eq!(report.removed_indexes, 1);
    assert_eq!(report.removed_blobs, 2, "b's package.json and b.js");
    assert_eq!(report.removed_tmp_entries, 1);
    assert!(report.freed_bytes > 0);
    assert_eq!(store.index(&b_hash).unwrap(), None);
    assert!(!store.blob_path(&b.files["b.js"]).exists());
    // Shared and kept blobs survive; a is still linkable.
    assert!(store.blob_path(&a.files["LICENSE"]).exists());
    store
        .link_package(&a, &dir.path().join("pkg"), LinkMode::Auto)
        .unwrap();
    assert!(store.verify().unwrap().is_clean());

    let status = store.status().unwrap();
    assert_eq!(
        (status.indexes, status.blobs, status.tmp_entries),
        (1, 3, 0)
    );

    let report = store.prune([], &HashSet::new()).unwrap();
    assert_eq!((report.removed_indexes, report.removed_blobs), (1, 3));
    let status = store.status().unwrap();
    assert_eq!((status.indexes, status.blobs, status.blob_bytes), (0, 0, 0));
    // Empty shard directories go too.
    assert_eq!(
        fs::read_dir(store.path().join("v2/files")).unwrap().count(),
        0
    );
}

#[test]
fn status_counts_blobs_once() {
    let (_dir, store) = store();
    add(&store, &package_a());
    add(&store, &package_b());
    let status = store.status().unwrap();
    assert_eq!(status.indexes, 2);
    assert_eq!(status.blobs, 5);
    let json_a = r#"{"name":"a","version":"1.0.0"}"#.len() as u64;
    let json_b = r#"{"name":"b","version":"1.0.0"}"#.len() as u64;
    assert_eq!(status.blob_bytes, json_a + json_b + 3 + 6 + 6);
    assert_eq!(status.tmp_entries, 0);
}

#[test]
fn prune_keeps_only_the_named_shared_directories() {
    let (_dir, store) = store();
    let (a, a_hash) = add(&store, &package_a());
    let links = store.links_dir().to_path_buf();
    for name in ["a@1.0.0-kept", "a@1.0.0-gone"] {
        store
            .link_package(&a, &links.join(name).join("node_modules/a"), LinkMode::Auto)
            .unwrap();
    }
    fs::create_dir_all(links.join(".tmp-1-2-3")).unwrap();
    assert_eq!(store.status().unwrap().shared, 2);

    let keep = HashSet::from(["a@1.0.0-kept".to_owned()]);
    let report = store.prune([a_hash], &keep).unwrap();
    assert_eq!(report.removed_shared, 1);
    assert_eq!(report.removed_tmp_entries, 1);
    assert!(links.join("a@1.0.0-kept/node_modules/a/LICENSE").is_file());
    assert!(!links.join("a@1.0.0-gone").exists());
    assert!(!links.join(".tmp-1-2-3").exists());
    assert_eq!(store.status().unwrap().shared, 1);

    // Nothing kept: the directory goes, and with it the last link to the blobs.
    let report = store.prune([], &HashSet::new()).unwrap();
    assert_eq!(report.removed_shared, 1);
    assert_eq!(store.status().unwrap().blobs, 0);
    assert_eq!(fs::read_dir(&links).unwrap().count(), 0);
}
