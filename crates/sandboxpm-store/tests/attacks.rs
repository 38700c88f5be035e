//! Malicious tarballs, one attack per test. Each asserts the attack member was dropped (or the
//! tarball refused), that nothing was written outside the store and the destination, and — as the
//! control — that the ordinary files of the same tarball still arrive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::io::Write as _;
use std::path::Path;

use common::{paths, store, store_contents, tree};
use flate2::Compression;
use flate2::write::GzEncoder;
use sandboxpm_store::testing::{TarballBuilder, gzip, gzip_zero_bomb, sha512};
use sandboxpm_store::{
    ExtractLimits, Limit, LinkMode, PackageIndex, Store, StoreError, WarningReason,
};
use tempfile::TempDir;

/// Adds `tgz` and links it into `<work>/project/node_modules/pkg`, returning the index and the
/// work directory (which holds nothing but the project).
fn add_and_link(tgz: &[u8]) -> (TempDir, TempDir, Store, PackageIndex) {
    let (store_dir, store) = store();
    let work = tempfile::tempdir().unwrap();
    let index = store
        .add_tarball(tgz, &sha512(tgz), &ExtractLimits::default())
        .unwrap();
    let dest = work.path().join("project/node_modules/pkg");
    store.link_package(&index, &dest, LinkMode::Auto).unwrap();
    (store_dir, work, store, index)
}

/// The work dir holds exactly the control file, under the package directory.
fn assert_only_control(work: &Path) {
    assert_eq!(
        tree(work),
        paths(&[
            "project",
            "project/node_modules",
            "project/node_modules/pkg",
            "project/node_modules/pkg/ok.js",
        ])
    );
    assert_eq!(
        fs::read_to_string(work.join("project/node_modules/pkg/ok.js")).unwrap(),
        "ok"
    );
}

fn reasons(index: &PackageIndex) -> Vec<WarningReason> {
    index.warnings.iter().map(|w| w.reason).collect()
}

#[test]
fn parent_dir_entries_are_dropped() {
    let tgz = TarballBuilder::new()
        .raw_file(b"package/../escaped.js", "pwned")
        .raw_file(b"../escaped.js", "pwned")
        .raw_file(b"package/a/../../escaped.js", "pwned")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(index.dropped.refused_paths, 3);
    assert_eq!(reasons(&index), [WarningReason::ParentComponent; 3]);
    assert_eq!(index.warnings[0].path, "package/../escaped.js");
    assert_only_control(work.path());
}

#[test]
fn absolute_path_entry_is_dropped() {
    let target = format!("/etc/sandboxpm-store-attack-{}", std::process::id());
    let tmp_target = format!("/tmp/sandboxpm-store-attack-{}", std::process::id());
    let tgz = TarballBuilder::new()
        .raw_file(target.as_bytes(), "pwned")
        .raw_file(tmp_target.as_bytes(), "pwned")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(reasons(&index), [WarningReason::AbsolutePath; 2]);
    assert!(!Path::new(&target).exists());
    assert!(!Path::new(&tmp_target).exists());
    assert_only_control(work.path());
}

#[test]
fn backslash_traversal_is_dropped() {
    let tgz = TarballBuilder::new()
        .raw_file(b"package\\..\\..\\escaped.js", "pwned")
        .raw_file(b"\\escaped.js", "pwned")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(
        reasons(&index),
        [WarningReason::ParentComponent, WarningReason::AbsolutePath]
    );
    assert_only_control(work.path());
}

#[test]
fn pax_path_traversal_is_dropped() {
    // The header name is harmless; the pax `path` record, which wins, is not.
    let tgz = TarballBuilder::new()
        .pax_path_file(b"package/../../escaped.js", "pwned")
        .pax_path_file(b"package/nul\0name.js", "pwned")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(
        reasons(&index),
        [WarningReason::ParentComponent, WarningReason::NulByte]
    );
    assert_only_control(work.path());
}

#[test]
fn gnu_long_name_traversal_is_dropped() {
    let deep = format!("{}/../../../escaped.js", "d".repeat(120));
    let tgz = TarballBuilder::new()
        .long_name_file(&deep, "pwned")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(reasons(&index), [WarningReason::ParentComponent]);
    assert_only_control(work.path());
}

#[test]
fn gnu_long_name_control_is_kept() {
    let deep = format!("{}/long.js", "d".repeat(150));
    let tgz = TarballBuilder::new().long_name_file(&deep, "long").tgz();
    let (_s, _work, _store, index) = add_and_link(&tgz);
    assert!(index.files.contains_key(&deep), "{:?}", index.files.keys());
}

#[test]
fn symlink_to_etc_passwd_is_dropped() {
    let tgz = TarballBuilder::new()
        .symlink("passwd", "/etc/passwd")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(index.dropped.symlinks, 1);
    assert!(!index.files.contains_key("passwd"));
    assert_only_control(work.path());
}

#[test]
fn file_through_symlinked_directory_lands_inside_the_package() {
    // Classic two-step: `lib -> /etc`, then `lib/cron.d/evil`. The link is dropped, so the file
    // is a real file under a real `lib/` in the package.
    let target = tempfile::tempdir().unwrap();
    let tgz = TarballBuilder::new()
        .symlink("lib", target.path().to_str().unwrap())
        .file("lib/evil", "pwned")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(index.dropped.symlinks, 1);
    assert!(tree(target.path()).is_empty(), "wrote through the link");
    let lib = work.path().join("project/node_modules/pkg/lib");
    assert!(fs::symlink_metadata(&lib).unwrap().is_dir());
    assert_eq!(fs::read_to_string(lib.join("evil")).unwrap(), "pwned");
}

#[test]
fn hard_link_is_dropped() {
    let tgz = TarballBuilder::new()
        .hard_link("passwd", "/etc/passwd")
        .hard_link("copy.js", "package/ok.js")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(index.dropped.hard_links, 2);
    assert_only_control(work.path());
}

#[test]
fn char_and_block_devices_are_dropped() {
    let tgz = TarballBuilder::new()
        .char_device("null")
        .block_device("sda")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(index.dropped.devices, 2);
    assert_only_control(work.path());
}

#[test]
fn fifo_is_dropped() {
    let tgz = TarballBuilder::new().fifo("pipe").file("ok.js", "ok").tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(index.dropped.fifos, 1);
    assert_only_control(work.path());
}

#[test]
fn pax_global_header_is_dropped_and_counted() {
    let tgz = TarballBuilder::new()
        .pax_global_header()
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(index.dropped.pax_global_headers, 1);
    assert_only_control(work.path());
}

#[test]
fn directories_and_top_level_files_are_not_files() {
    let tgz = TarballBuilder::new()
        .dir("")
        .dir("empty")
        .raw_file(b"top-level.js", "outside the package dir")
        .file("ok.js", "ok")
        .tgz();
    let (_s, work, _store, index) = add_and_link(&tgz);
    assert_eq!(reasons(&index), [WarningReason::TopLevelFile]);
    assert_only_control(work.path());
}

#[test]
fn pax_size_disagreeing_with_header_is_refused() {
    // Two parsers, two archives: the crate would skip 5 bytes, a naive one 3.
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_pax_extensions([("size", &b"5"[..])])
        .unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_path("package/a.js").unwrap();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append(&header, &b"abc"[..]).unwrap();
    let tgz = gzip(&builder.into_inner().unwrap());
    let (_dir, store) = store();
    let err = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AmbiguousArchive { .. }),
        "{err:?}"
    );
    assert!(store_contents(&store).is_empty());
}

#[test]
fn gnu_sparse_member_is_refused() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_path("package/sparse").unwrap();
    header.set_entry_type(tar::EntryType::GNUSparse);
    header.set_size(0);
    header.set_cksum();
    builder.append(&header, std::io::empty()).unwrap();
    let tgz = gzip(&builder.into_inner().unwrap());
    let (_dir, store) = store();
    let err = store
        .add_tarball(&tgz, &sha512(&tgz), &ExtractLimits::default())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AmbiguousArchive { .. }),
        "{err:?}"
    );
    assert!(store_contents(&store).is_empty());
}

#[test]
fn gzip_bomb_single_huge_file_fails_on_file_size() {
    // 2 GiB of zeros in ~2 MiB of gzip.
    let bomb = gzip_zero_bomb(1, 2 << 30);
    assert!(bomb.len() < 8 << 20);
    let (_dir, store) = store();
    let err = store
        .add_tarball(&bomb, &sha512(&bomb), &ExtractLimits::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                limit: Limit::FileSize,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_file_size"), "{err}");
    assert!(store_contents(&store).is_empty());
}

#[test]
fn gzip_bomb_of_many_files_fails_on_compression_ratio() {
    // 16 files of 128 MiB: each below the file limit, together 2 GiB.
    let bomb = gzip_zero_bomb(16, 128 << 20);
    let (_dir, store) = store();
    let err = store
        .add_tarball(&bomb, &sha512(&bomb), &ExtractLimits::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                limit: Limit::CompressionRatio,
                entry: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_compression_ratio"), "{err}");
    assert!(store_contents(&store).is_empty());
}

#[test]
fn gzip_bomb_without_ratio_guard_fails_on_total_size() {
    let bomb = gzip_zero_bomb(8, 4 << 20);
    let limits = ExtractLimits {
        max_total_size: 10 << 20,
        max_compression_ratio: u64::MAX,
        ..ExtractLimits::default()
    };
    let (_dir, store) = store();
    let err = store
        .add_tarball(&bomb, &sha512(&bomb), &limits)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                limit: Limit::TotalSize,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_total_size"), "{err}");
    assert!(store_contents(&store).is_empty());

    // Control: the same archive within generous limits is accepted (and deduplicated to one blob).
    let limits = ExtractLimits {
        max_compression_ratio: u64::MAX,
        ..ExtractLimits::default()
    };
    let index = store.add_tarball(&bomb, &sha512(&bomb), &limits).unwrap();
    assert_eq!(index.files.len(), 8);
    assert_eq!(store.status().unwrap().blobs, 1);
}

#[test]
fn entry_count_bomb_fails_on_max_entries() {
    // 300k tiny files, streamed straight into the gzip encoder.
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for n in 0..300_000u32 {
        let mut header = tar::Header::new_ustar();
        header.set_path(format!("package/f{n}")).unwrap();
        header.set_size(0);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, std::io::empty()).unwrap();
    }
    let tgz = builder.into_inner().unwrap().finish().unwrap();
    let limits = ExtractLimits {
        max_entries: 1000,
        ..ExtractLimits::default()
    };
    let (_dir, store) = store();
    let err = store.add_tarball(&tgz, &sha512(&tgz), &limits).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                limit: Limit::Entries,
                max: 1000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_entries (1000)"), "{err}");
    assert!(store_contents(&store).is_empty());
}

#[test]
fn hostile_tarball_leaves_nothing_when_refused_midway() {
    // Good files first (staged), then a limit breach: none of the good blobs may stay.
    let mut tgz = GzEncoder::new(Vec::new(), Compression::default());
    let tar = TarballBuilder::new()
        .file("a.js", "a")
        .file("b.js", vec![1u8; 2 << 20])
        .file("c.js", vec![2u8; 8 << 20])
        .tar();
    tgz.write_all(&tar).unwrap();
    let tgz = tgz.finish().unwrap();
    let limits = ExtractLimits {
        max_file_size: 4 << 20,
        ..ExtractLimits::default()
    };
    let (_dir, store) = store();
    let err = store.add_tarball(&tgz, &sha512(&tgz), &limits).unwrap_err();
    assert!(matches!(err, StoreError::LimitExceeded { .. }), "{err:?}");
    assert!(
        store_contents(&store).is_empty(),
        "{:?}",
        store_contents(&store)
    );
}
