//! Several installs sharing one store at once: threads, and separate processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};
use std::{fs, thread};

use common::store;
use sandboxpm_store::testing::{TarballBuilder, sha512};
use sandboxpm_store::{ExtractLimits, LinkMode, Store};

const ROOT_VAR: &str = "SANDBOXPM_STORE_TEST_ROOT";
const GO_VAR: &str = "SANDBOXPM_STORE_TEST_GO";

/// Many small files, some shared, and one large (streamed) file: plenty of renames to race on.
fn fixture(variant: u32) -> Vec<u8> {
    let mut builder = TarballBuilder::new().package_json(&format!("pkg{variant}"), "1.0.0");
    for n in 0..200 {
        builder = builder.file(&format!("shared/{n}.js"), format!("shared {n}"));
    }
    for n in 0..20 {
        builder = builder.file(
            &format!("own/{n}.js"),
            format!("variant {variant} file {n}"),
        );
    }
    builder
        .file("big.bin", vec![42u8; 3 << 20])
        .executable("bin/cli", "#!/bin/sh\n")
        .tgz()
}

fn assert_complete(store: &Store, tgz: &[u8]) {
    let index = store.index(&sha512(tgz)).unwrap().expect("index written");
    for entry in index.files.values() {
        assert!(store.blob_path(entry).is_file());
    }
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.stray_files.is_empty(), "{report:?}");
    assert_eq!(
        store.status().unwrap().tmp_entries,
        0,
        "staging left behind"
    );
}

/// Adds each tarball from a thread of its own, all released at once.
fn add_at_once(store: &Store, tarballs: &[Vec<u8>]) {
    let barrier = Barrier::new(tarballs.len());
    thread::scope(|scope| {
        for tgz in tarballs {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                store
                    .add_tarball(tgz, &sha512(tgz), &ExtractLimits::default())
                    .unwrap();
            });
        }
    });
}

#[test]
fn eight_threads_add_the_same_tarball() {
    let (dir, store) = store();
    let tgz = fixture(0);
    let barrier = Barrier::new(8);
    let indexes: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    store.add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = indexes[0].as_ref().unwrap();
    for index in &indexes {
        assert_eq!(index.as_ref().unwrap(), first);
    }
    assert_complete(&store, &tgz);
    // And it links.
    store
        .link_package(first, &dir.path().join("pkg"), LinkMode::Auto)
        .unwrap();
}

#[test]
fn threads_adding_packages_with_shared_files_all_succeed() {
    let (_dir, store) = store();
    let tarballs: Vec<Vec<u8>> = (0..6).map(fixture).collect();
    add_at_once(&store, &tarballs);
    for tgz in &tarballs {
        assert_complete(&store, tgz);
    }
    // 200 shared + 1 big + 1 cli, plus 20 own files and a package.json per package.
    assert_eq!(store.status().unwrap().blobs, 202 + 6 * 21);
}

#[test]
fn two_processes_add_the_same_tarball() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let go = dir.path().join("go");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["child_adds_fixture", "--exact", "--ignored", "--nocapture"])
                .env(ROOT_VAR, &root)
                .env(GO_VAR, &go)
                // The child's own "test … ok" lines would only confuse the parent's output;
                // failures still show on stderr.
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Both processes are up (or about to be) before either starts adding.
    fs::write(&go, "").unwrap();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child failed");
    }
    let store = Store::open(&root).unwrap();
    assert_complete(&store, &fixture(0));
}

/// The child side of `two_processes_add_the_same_tarball`; does nothing when run directly.
#[test]
#[ignore = "run by two_processes_add_the_same_tarball in a child process"]
fn child_adds_fixture() {
    let (Some(root), Some(go)) = (std::env::var_os(ROOT_VAR), std::env::var_os(GO_VAR)) else {
        return;
    };
    let tgz = fixture(0);
    // Open first (also racing on directory creation), then wait for the signal.
    let store = Store::open(PathBuf::from(root)).unwrap();
    wait_for(Path::new(&go));
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert_eq!(index.files.len(), 223);
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "never got the go signal");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Adds into a new store create its shard directories as they go: two adds renaming into the
/// same missing shard at once must both succeed (the loser of the mkdir race retries).
#[test]
fn threads_filling_a_new_store_race_on_its_shard_directories() {
    for round in 0..20 {
        let (_dir, store) = store();
        let tarballs: Vec<Vec<u8>> = (0..8)
            .map(|variant| {
                let mut builder =
                    TarballBuilder::new().package_json(&format!("p{variant}"), "1.0.0");
                for n in 0..256 {
                    builder = builder.file(&format!("{n}.js"), format!("{round} {variant} {n}"));
                }
                builder.tgz()
            })
            .collect();
        add_at_once(&store, &tarballs);
        for tgz in &tarballs {
            assert_complete(&store, tgz);
        }
    }
}

/// Whether another process could take the store's lock exclusively now (as `prune` does).
fn exclusive_is_free(root: &Path) -> bool {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(root.join("v2/lock"))
        .unwrap();
    match file.try_lock() {
        Ok(()) => true,
        Err(fs::TryLockError::WouldBlock) => false,
        Err(fs::TryLockError::Error(e)) => panic!("{e}"),
    }
}

#[test]
fn the_shared_lock_is_held_while_any_guard_of_a_handle_is() {
    let (_dir, store) = store();
    let root = store.path().to_path_buf();
    assert!(exclusive_is_free(&root));
    let first = store.hold_shared().unwrap();
    let second = store.hold_shared().unwrap();
    assert!(!exclusive_is_free(&root));
    drop(first);
    assert!(!exclusive_is_free(&root), "released with a guard left");
    // An add takes and gives back a guard of its own.
    let tgz = fixture(0);
    store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert!(!exclusive_is_free(&root), "released by the add");
    drop(second);
    assert!(exclusive_is_free(&root), "kept after the last guard");
    // And taken again by the next one.
    let third = store.hold_shared().unwrap();
    assert!(!exclusive_is_free(&root));
    drop(third);
    assert!(exclusive_is_free(&root));
}
