//! Adding tarballs: integrity, round trip, deduplication, modes, duplicates.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::{store, store_contents};
use sandboxpm_store::testing::{self, TarballBuilder, sha512};
use sandboxpm_store::{BlobHash, ExtractLimits, Limit, LinkMode, Sha512Digest, Store, StoreError};

fn sample() -> TarballBuilder {
    TarballBuilder::new()
        .package_json("left-pad", "1.3.0")
        .file("index.js", "module.exports = leftPad;\n")
        .file("lib/util.js", "exports.pad = 1;\n")
        .executable("bin/cli.js", "#!/usr/bin/env node\n")
}

#[test]
fn good_package_round_trip() {
    let (dir, store) = store();
    let tgz = sample().tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();

    assert_eq!(index.name.as_deref(), Some("left-pad"));
    assert_eq!(index.version.as_deref(), Some("1.3.0"));
    assert_eq!(index.tarball, Sha512Digest(sha512(&tgz)));
    let names: Vec<&str> = index.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["bin/cli.js", "index.js", "lib/util.js", "package.json"]
    );
    assert!(index.dropped.is_empty());
    assert!(index.warnings.is_empty());

    let util = &index.files["lib/util.js"];
    assert_eq!(util.size, 17);
    assert_eq!(util.hash, BlobHash::of(b"exports.pad = 1;\n"));
    assert_eq!(
        fs::read(store.blob_path(util)).unwrap(),
        b"exports.pad = 1;\n"
    );

    // The index is on disk and reads back identical (the warm-install fast path).
    assert!(store.index_path(&sha512(&tgz)).is_file());
    assert_eq!(store.index(&sha512(&tgz)).unwrap(), Some(index.clone()));
    assert_eq!(store.index(&sha512(b"something else")).unwrap(), None);

    let dest = dir.path().join("project/node_modules/left-pad");
    store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    assert_eq!(
        fs::read_to_string(dest.join("index.js")).unwrap(),
        "module.exports = leftPad;\n"
    );
    assert_eq!(
        fs::read_to_string(dest.join("bin/cli.js")).unwrap(),
        "#!/usr/bin/env node\n"
    );
    // Staging was cleaned up.
    assert_eq!(
        fs::read_dir(store.path().join("v2/tmp")).unwrap().count(),
        0
    );
}

#[test]
fn tampered_tarball_is_refused_and_nothing_written() {
    let (_dir, store) = store();
    let tgz = sample().tgz();
    let expected = sha512(&tgz);
    let mut tampered = tgz.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let before = store_contents(&store);

    let err = store
        .add_tarball(&tampered, &expected, &ExtractLimits::default())
        .unwrap_err();

    let StoreError::IntegrityMismatch {
        expected: e,
        actual: a,
    } = &err
    else {
        panic!("expected an integrity error, got {err:?}");
    };
    assert_eq!(**e, Sha512Digest(expected));
    assert_eq!(**a, Sha512Digest::of(&tampered));
    let message = err.to_string();
    assert!(message.contains(&e.to_sri()), "{message}");
    assert!(message.contains(&a.to_sri()), "{message}");
    assert_eq!(store_contents(&store), before, "the store changed");
    assert!(before.is_empty());
}

#[test]
fn weak_integrity_variant_computes_the_hash() {
    let (_dir, store) = store();
    let tgz = sample().tgz();
    let index = store
        .add_tarball_without_integrity(&tgz, &ExtractLimits::default())
        .unwrap();
    assert_eq!(index.tarball.0, sha512(&tgz));
    assert_eq!(store.index(&sha512(&tgz)).unwrap(), Some(index));
}

#[test]
fn adding_twice_reuses_the_index_and_blobs() {
    let (_dir, store) = store();
    let tgz = sample().tgz();
    let first = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    let blob = store.blob_path(&first.files["index.js"]);
    let inode = fs::metadata(&blob).unwrap();
    let second = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert_eq!(first, second);
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(fs::metadata(&blob).unwrap().ino(), inode.ino());
}

#[test]
fn identical_contents_share_one_blob_across_packages() {
    let (_dir, store) = store();
    let a = TarballBuilder::new()
        .file("LICENSE", "MIT")
        .file("copy", "MIT")
        .tgz();
    let b = TarballBuilder::new()
        .file("LICENSE", "MIT")
        .file("b.js", "b")
        .tgz();
    let limits = ExtractLimits::default();
    let a = store.add_tarball(&a, &sha512(&a), &limits).unwrap();
    let b = store.add_tarball(&b, &sha512(&b), &limits).unwrap();
    assert_eq!(a.files["LICENSE"].hash, b.files["LICENSE"].hash);
    assert_eq!(a.files["LICENSE"].hash, a.files["copy"].hash);
    let status = store.status().unwrap();
    assert_eq!(status.blobs, 2, "MIT and b");
    assert_eq!(status.indexes, 2);
    assert_eq!(status.blob_bytes, 4);
}

#[test]
fn blobs_are_read_only_and_executable_bit_is_preserved() {
    let (dir, store) = store();
    let tgz = sample().tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    let cli = &index.files["bin/cli.js"];
    let js = &index.files["index.js"];
    assert_eq!(cli.mode, 0o755);
    assert!(cli.is_executable());
    assert_eq!(js.mode, 0o644);

    let cli_blob = store.blob_path(cli);
    assert!(cli_blob.to_str().unwrap().ends_with("-exec"));
    assert!(!store.blob_path(js).to_str().unwrap().ends_with("-exec"));
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&cli_blob), 0o555);
    assert_eq!(mode(&store.blob_path(js)), 0o444);

    let dest = dir.path().join("pkg");
    store.link_package(&index, &dest, LinkMode::Copy).unwrap();
    assert_ne!(mode(&dest.join("bin/cli.js")) & 0o100, 0);
    assert_eq!(mode(&dest.join("index.js")) & 0o111, 0);
}

#[test]
fn same_content_with_and_without_exec_bit_are_two_blobs() {
    let (_dir, store) = store();
    let tgz = TarballBuilder::new()
        .file("a", "same")
        .executable("b", "same")
        .tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert_ne!(
        store.blob_path(&index.files["a"]),
        store.blob_path(&index.files["b"])
    );
    assert_eq!(store.status().unwrap().blobs, 2);
}

#[test]
fn setuid_and_sticky_bits_are_dropped() {
    let (_dir, store) = store();
    let tgz = TarballBuilder::new()
        .file_with_mode("suid", "x", 0o4755)
        .file_with_mode("sticky", "y", 0o1644)
        .tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert_eq!(index.files["suid"].mode, 0o755);
    assert_eq!(index.files["sticky"].mode, 0o644);
    let blob_mode = fs::metadata(store.blob_path(&index.files["suid"]))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(blob_mode & 0o7777, 0o555);
}

#[test]
fn duplicate_entries_last_wins() {
    let (_dir, store) = store();
    let tgz = TarballBuilder::new()
        .file("index.js", "first")
        .file("index.js", "second")
        .tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert_eq!(index.files.len(), 1);
    assert_eq!(index.files["index.js"].hash, BlobHash::of(b"second"));
    // The overridden content was staged but never committed.
    assert_eq!(store.status().unwrap().blobs, 1);
}

#[test]
fn file_and_directory_conflicts_resolve_to_the_later_member() {
    let (dir, store) = store();
    let tgz = TarballBuilder::new()
        .file("a", "file a")
        .file("a/b", "file under a")
        .file("c/d", "under c")
        .file("c", "file c")
        .tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    let names: Vec<&str> = index.files.keys().map(String::as_str).collect();
    assert_eq!(names, ["a/b", "c"]);
    assert_eq!(index.warnings.len(), 2);
    // And the result can actually be linked.
    store
        .link_package(&index, &dir.path().join("pkg"), LinkMode::Auto)
        .unwrap();
}

#[test]
fn first_component_is_stripped_whatever_its_name() {
    let (_dir, store) = store();
    let tgz = TarballBuilder::with_prefix("node-v20.0.0/")
        .file("lib/x.js", "x")
        .tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert!(index.files.contains_key("lib/x.js"));
}

#[test]
fn uncompressed_tar_is_accepted() {
    let (_dir, store) = store();
    let tar = sample().tar();
    let index = store
        .add_tarball(&tar, &sha512(&tar), &ExtractLimits::default())
        .unwrap();
    assert_eq!(index.files.len(), 4);
}

#[test]
fn large_files_stream_through_staging() {
    let (dir, store) = store();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let tgz = TarballBuilder::new()
        .file("big.bin", &big)
        .file("copy.bin", &big)
        .tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert_eq!(index.files["big.bin"].size, 3_000_000);
    assert_eq!(index.files["big.bin"].hash, BlobHash::of(&big));
    assert_eq!(store.status().unwrap().blobs, 1);
    let dest = dir.path().join("pkg");
    store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    assert_eq!(fs::read(dest.join("copy.bin")).unwrap(), big);
    assert_eq!(
        fs::read_dir(store.path().join("v2/tmp")).unwrap().count(),
        0
    );
}

#[test]
fn truncated_tarball_is_a_clean_corrupt_archive_error() {
    let (_dir, store) = store();
    let tgz = sample().tgz();
    let truncated = &tgz[..tgz.len() / 2];
    let err = store
        .add_tarball_without_integrity(truncated, &ExtractLimits::default())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::CorruptArchive { .. }),
        "got {err:?}"
    );
    assert!(store_contents(&store).is_empty());
}

/// A tar whose last member's contents are cut short, read whole from memory (plain, or gzipped in
/// one piece): the member is refused as it would be when streamed, and nothing is stored. The
/// control is the same archive before the cut.
#[test]
fn a_member_cut_short_in_an_archive_read_from_memory_is_a_corrupt_archive_error() {
    let big = vec![7u8; 10_000];
    let builder = TarballBuilder::new()
        .package_json("cut", "1.0.0")
        .file("big.bin", &big);
    let tar = builder.tar();
    // Cut 4,000 bytes into big.bin's contents: its header (just before them) says 10,000.
    let contents_at = tar
        .windows(big.len().min(512))
        .position(|w| w.iter().all(|b| *b == 7));
    let cut = &tar[..contents_at.unwrap() + 4_000];
    for archive in [cut.to_vec(), testing::gzip(cut)] {
        let (_dir, store) = store();
        let err = store
            .add_tarball_without_integrity(&archive, &ExtractLimits::default())
            .unwrap_err();
        assert!(
            matches!(err, StoreError::CorruptArchive { .. }),
            "got {err:?}"
        );
        assert!(store_contents(&store).is_empty());
    }
    for archive in [tar.clone(), testing::gzip(&tar)] {
        let (dir, store) = store();
        let index = store
            .add_tarball_without_integrity(&archive, &ExtractLimits::default())
            .unwrap();
        assert_eq!(index.files["big.bin"].size, 10_000);
        let dest = dir.path().join("pkg");
        store.link_package(&index, &dest, LinkMode::Auto).unwrap();
        assert_eq!(fs::read(dest.join("big.bin")).unwrap(), big);
    }
}

#[test]
fn errors_name_the_package_and_entry_once_known() {
    let (_dir, store) = store();
    let tgz = TarballBuilder::new()
        .package_json("fat", "2.0.0")
        .file("data.bin", vec![7u8; 4096])
        .tgz();
    let limits = ExtractLimits {
        max_file_size: 1024,
        ..ExtractLimits::default()
    };
    let err = store.add_tarball(&tgz, &sha512(&tgz), &limits).unwrap_err();
    assert!(matches!(
        err,
        StoreError::LimitExceeded {
            limit: Limit::FileSize,
            max: 1024,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "fat@2.0.0: tarball exceeds max_file_size (1024) at entry `data.bin`; refused, nothing was stored"
    );
    // Before package.json is read, the tarball hash names the package.
    let tgz = TarballBuilder::new()
        .file("data.bin", vec![7u8; 4096])
        .tgz();
    let err = store.add_tarball(&tgz, &sha512(&tgz), &limits).unwrap_err();
    let hex = Sha512Digest(sha512(&tgz)).to_hex();
    assert!(
        err.to_string()
            .starts_with(&format!("tarball sha512:{hex}:")),
        "{err}"
    );
    assert!(store_contents(&store).is_empty());
}

#[test]
fn fsync_option_round_trips_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let options = sandboxpm_store::StoreOptions { fsync: true };
    let store = sandboxpm_store::Store::open_with(dir.path().join("store"), options).unwrap();
    let big = vec![9u8; 2 << 20];
    let tgz = sample().file("big.bin", &big).tgz();
    let index = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap();
    assert_eq!(store.index(&sha512(&tgz)).unwrap(), Some(index.clone()));
    assert_eq!(
        fs::read(store.blob_path(&index.files["big.bin"])).unwrap(),
        big
    );
    assert!(store.verify().unwrap().is_clean());
}

/// [`sample`] added to `store`: its tarball, the tarball's digest, and its `index.js` blob.
fn add_sample(store: &Store) -> (Vec<u8>, [u8; 64], PathBuf) {
    let tgz = sample().tgz();
    let digest = sha512(&tgz);
    let index = store
        .add_tarball(&tgz, &digest, &ExtractLimits::default())
        .unwrap();
    let blob = store.blob_path(&index.files["index.js"]);
    (tgz, digest, blob)
}

/// What an add stopped in the middle of writing `blob` leaves: its first bytes, with `mode`.
fn cut_short(blob: &Path, mode: u32) {
    fs::set_permissions(blob, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(blob, "module.exp").unwrap();
    fs::set_permissions(blob, fs::Permissions::from_mode(mode)).unwrap();
}

/// A blob is written read-only from its creation, so what a crash in the middle of its write
/// leaves looks finished: a short file with a blob's permissions. The next add that needs it reads
/// it, finds it short, and replaces it; one with the whole content is used as it is (the control).
#[test]
fn a_blob_cut_short_by_a_crash_is_replaced_by_the_next_add_that_needs_it() {
    let (_dir, store) = store();
    let (tgz, digest, blob) = add_sample(&store);
    let ino = |path: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).unwrap());
    let whole = ino(&blob);

    // The control: the blob is whole, so an add that needs it again uses it.
    fs::remove_file(store.index_path(&digest)).unwrap();
    store
        .add_tarball(&tgz, &digest, &ExtractLimits::default())
        .unwrap();
    assert_eq!(ino(&blob), whole, "a whole blob is reused, not rewritten");

    cut_short(&blob, 0o444);
    assert!(!store.verify().unwrap().is_clean());
    fs::remove_file(store.index_path(&digest)).unwrap();

    store
        .add_tarball(&tgz, &digest, &ExtractLimits::default())
        .unwrap();
    assert_eq!(fs::read(&blob).unwrap(), b"module.exports = leftPad;\n");
    assert_eq!(
        fs::metadata(&blob).unwrap().permissions().mode() & 0o7777,
        0o444
    );
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(store.status().unwrap().tmp_entries, 0);
}

/// An archive refused for a reason its headers show (here: more members than allowed) is refused
/// before any blob is written, even where its first members are acceptable.
#[test]
fn an_archive_refused_by_its_headers_writes_no_blob() {
    let (_dir, store) = store();
    let mut builder = TarballBuilder::new().package_json("many", "1.0.0");
    for i in 0..20 {
        builder = builder.file(&format!("f{i}.js"), format!("module.exports = {i};"));
    }
    let tgz = builder.tgz();
    let limits = ExtractLimits {
        max_entries: 10,
        ..ExtractLimits::default()
    };
    let err = store
        .add_tarball_without_integrity(&tgz, &limits)
        .unwrap_err();
    assert!(matches!(err, StoreError::LimitExceeded { .. }), "{err:?}");
    assert_eq!(store.status().unwrap().blobs, 0);
    assert!(store_contents(&store).is_empty());

    // The control: within the limit, every member is stored.
    let index = store
        .add_tarball_without_integrity(&tgz, &ExtractLimits::default())
        .unwrap();
    assert_eq!(index.files.len(), 21);
    assert_eq!(store.status().unwrap().blobs, 21);
}

/// Earlier versions of the store wrote a blob in place write-only and made it read-only only when
/// its tarball was committed. One left write-only (an add that stopped midway) is never taken for
/// a stored blob: the next add writes its own copy over it, and verify reports it.
#[test]
fn an_unfinished_blob_is_not_reused_and_verify_reports_it() {
    let (_dir, store) = store();
    let (tgz, digest, blob) = add_sample(&store);
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&blob), 0o444);

    cut_short(&blob, 0o200);
    let report = store.verify().unwrap();
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert_eq!(report.corrupt[0].path, blob);
    fs::remove_file(store.index_path(&digest)).unwrap();

    store
        .add_tarball(&tgz, &digest, &ExtractLimits::default())
        .unwrap();
    assert_eq!(mode(&blob), 0o444);
    assert_eq!(fs::read(&blob).unwrap(), b"module.exports = leftPad;\n");
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(store.status().unwrap().tmp_entries, 0);
}
