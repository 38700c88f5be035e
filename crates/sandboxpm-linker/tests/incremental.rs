//! Incremental relinking: what a second run touches, removes, repairs, and refuses to touch.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};

use sandboxpm_linker::{
    ForeignEntries, LinkError, LinkOptions, LinkPlan, LockStatus, PackageContents, PlannedPackage,
    link,
};
use sandboxpm_store::Sha512Digest;
use support::{Fixture, ino, link_text, snapshot};

/// a -> b, a has a bin; c on its own. Direct: a, c.
fn graph(fx: &Fixture, b_version: &str) -> LinkPlan {
    let a = fx
        .package("a", "1.0.0", &[("index.js", "a"), ("cli.js", "")])
        .with_dependency("b", &format!("b@{b_version}"))
        .with_bin("a", "cli.js");
    let b = fx
        .package("b", b_version, &[("index.js", b_version)])
        .with_bin("b", "index.js");
    let c = fx.package("@s/c", "1.0.0", &[("index.js", "c")]);
    fx.plan(vec![a, b, c], &[("a", "a@1.0.0"), ("@s/c", "@s/c@1.0.0")])
}

#[test]
fn a_second_run_with_nothing_changed_touches_nothing() {
    let fx = Fixture::new();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    let before = snapshot(&fx.modules());
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.lock, LockStatus::Valid);
    assert!(report.is_noop(), "{report:?}");
    assert_eq!(report.unchanged, 3);
    assert_eq!(snapshot(&fx.modules()), before);
}

#[test]
fn removing_a_direct_dependency_unlinks_it_and_its_unreferenced_dependencies() {
    let fx = Fixture::new();
    let mut plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    let c_dir = ino(&fx.internal("@s+c@1.0.0"));

    plan.packages.retain(|p| p.name == "@s/c");
    plan.direct.remove("a");
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.removed, ["a@1.0.0", "b@1.0.0"]);
    assert_eq!(report.unchanged, 1);
    let m = fx.modules();
    for gone in [
        m.join("a"),
        m.join(".bin/a"),
        fx.internal("a@1.0.0"),
        fx.internal("b@1.0.0"),
    ] {
        assert!(fs::symlink_metadata(&gone).is_err(), "{}", gone.display());
    }
    assert!(
        fs::symlink_metadata(m.join(".bin")).is_err(),
        "empty .bin removed"
    );
    assert_eq!(ino(&fx.internal("@s+c@1.0.0")), c_dir, "c untouched");
    assert_eq!(fs::read_to_string(m.join("@s/c/index.js")).unwrap(), "c");
    let lock = fs::read_to_string(fx.internal("lock.json")).unwrap();
    assert!(
        !lock.contains("a@1.0.0") && !lock.contains("b@1.0.0"),
        "{lock}"
    );
}

#[test]
fn a_dependency_no_longer_direct_but_still_needed_stays_linked_inside() {
    let fx = Fixture::new();
    let mut plan = graph(&fx, "1.0.0");
    plan.direct.insert("b".into(), "b@1.0.0".into());
    fx.link(&plan).unwrap();
    assert!(fx.modules().join("b").exists());
    plan.direct.remove("b");
    let report = fx.link(&plan).unwrap();
    assert!(report.removed.is_empty());
    assert!(fs::symlink_metadata(fx.modules().join("b")).is_err());
    assert!(fs::symlink_metadata(fx.modules().join(".bin/b")).is_err());
    assert_eq!(
        fs::read_to_string(fx.internal("a@1.0.0/node_modules/b/index.js")).unwrap(),
        "1.0.0"
    );
}

#[test]
fn changing_a_version_relinks_only_what_depends_on_it() {
    let fx = Fixture::new();
    fx.link(&graph(&fx, "1.0.0")).unwrap();
    let a_dir = ino(&fx.internal("a@1.0.0"));
    let a_file = ino(&fx.internal("a@1.0.0/node_modules/a/index.js"));
    let c_before = snapshot(&fx.internal("@s+c@1.0.0"));

    let report = fx.link(&graph(&fx, "2.0.0")).unwrap();
    assert_eq!(report.linked, ["b@2.0.0"]);
    assert_eq!(report.relinked, ["a@1.0.0"]);
    assert_eq!(report.removed, ["b@1.0.0"]);
    assert_eq!(report.unchanged, 1);
    assert_eq!(
        link_text(&fx.internal("a@1.0.0/node_modules/b")),
        "../../b@2.0.0/node_modules/b"
    );
    assert_eq!(
        fs::read_to_string(fx.internal("a@1.0.0/node_modules/b/index.js")).unwrap(),
        "2.0.0"
    );
    assert_eq!(ino(&fx.internal("a@1.0.0")), a_dir, "a's files kept");
    assert_eq!(ino(&fx.internal("a@1.0.0/node_modules/a/index.js")), a_file);
    assert_eq!(snapshot(&fx.internal("@s+c@1.0.0")), c_before);
    assert!(fs::symlink_metadata(fx.internal("b@1.0.0")).is_err());
    // And back again, then nothing.
    fx.link(&graph(&fx, "1.0.0")).unwrap();
    assert!(fx.link(&graph(&fx, "1.0.0")).unwrap().is_noop());
}

#[test]
fn turning_on_private_copies_rebuilds_the_package() {
    let fx = Fixture::new();
    let mut plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    // Not index.js: as a bin target without an exec bit it is a private copy already.
    let file = fx.internal("b@1.0.0/node_modules/b/package.json");
    assert!(fs::metadata(&file).unwrap().nlink() >= 2);
    for p in &mut plan.packages {
        if p.name == "b" {
            p.private_copy = true;
        }
    }
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.linked, ["b@1.0.0"]);
    assert_eq!(fs::metadata(&file).unwrap().nlink(), 1);
}

#[test]
fn without_lock_json_existing_directories_are_verified_and_kept() {
    let fx = Fixture::new();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    let a_dir = ino(&fx.internal("a@1.0.0"));
    let b_dir = ino(&fx.internal("b@1.0.0"));
    // A damaged package: one file gone.
    fs::remove_file(fx.internal("b@1.0.0/node_modules/b/index.js")).unwrap();
    // A stale package and the leftovers of an interrupted run.
    fs::create_dir_all(fx.internal("old@1.0.0/node_modules/old")).unwrap();
    fs::create_dir_all(fx.internal(".tmp-123/node_modules")).unwrap();
    fs::remove_file(fx.internal("lock.json")).unwrap();
    // A stale root link of ours and a dangling edge inside a.
    symlink(
        ".sandboxpm/old@1.0.0/node_modules/old",
        fx.modules().join("old"),
    )
    .unwrap();
    symlink(
        "../../old@1.0.0/node_modules/old",
        fx.internal("a@1.0.0/node_modules/old"),
    )
    .unwrap();

    let report = fx.link(&plan).unwrap();
    assert_eq!(report.lock, LockStatus::Missing);
    assert_eq!(report.linked, ["b@1.0.0"]);
    assert_eq!(report.removed, ["old@1.0.0"]);
    assert_eq!(ino(&fx.internal("a@1.0.0")), a_dir, "a verified, kept");
    assert_ne!(ino(&fx.internal("b@1.0.0")), b_dir, "b rebuilt");
    assert_eq!(
        fs::read_to_string(fx.internal("a@1.0.0/node_modules/b/index.js")).unwrap(),
        "1.0.0"
    );
    for gone in [
        fx.internal("old@1.0.0"),
        fx.internal(".tmp-123"),
        fx.modules().join("old"),
        fx.internal("a@1.0.0/node_modules/old"),
    ] {
        assert!(fs::symlink_metadata(&gone).is_err(), "{}", gone.display());
    }
    assert!(fx.link(&plan).unwrap().is_noop());
}

#[test]
fn a_corrupt_or_interrupted_lock_is_not_trusted() {
    let fx = Fixture::new();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    fs::remove_dir_all(fx.internal("b@1.0.0")).unwrap();

    fs::write(fx.internal("lock.json"), "{ not json").unwrap();
    let report = fx.link(&plan).unwrap();
    assert!(matches!(report.lock, LockStatus::Unreadable { .. }));
    assert_eq!(report.linked, ["b@1.0.0"]);

    let text = fs::read_to_string(fx.internal("lock.json")).unwrap();
    let interrupted = text.replace("\"complete\": true", "\"complete\": false");
    assert_ne!(text, interrupted);
    fs::write(fx.internal("lock.json"), interrupted).unwrap();
    fs::create_dir(fx.internal(".trash-1")).unwrap();
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.lock, LockStatus::Interrupted);
    assert!(report.linked.is_empty());
    assert!(!fx.internal(".trash-1").exists());
}

#[test]
fn a_user_directory_in_the_way_is_never_silently_destroyed() {
    let fx = Fixture::new();
    let user_dir = fx.modules().join("a");
    fs::create_dir_all(&user_dir).unwrap();
    fs::write(user_dir.join("precious.txt"), "mine").unwrap();
    let plan = graph(&fx, "1.0.0");

    let err = fx.link(&plan).unwrap_err();
    match &err {
        LinkError::ForeignEntries { entries } => {
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].path, user_dir);
            assert_eq!(entries[0].kind, "directory");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{} (a directory) was not created by sandboxpm and is in the way of dependency links; \
             sandboxpm never deletes what it did not create: move or remove it, or let sandboxpm \
             move it aside into node_modules/.sandboxpm/displaced",
            user_dir.display()
        )
    );
    assert_eq!(
        fs::read_to_string(user_dir.join("precious.txt")).unwrap(),
        "mine"
    );
    assert!(!fx.internal("").exists(), "nothing was linked");

    let options = LinkOptions {
        foreign: ForeignEntries::MoveAside,
        ..LinkOptions::default()
    };
    let report = link(&fx.store, &plan, &options).unwrap();
    assert_eq!(report.displaced.len(), 1);
    assert_eq!(report.displaced[0].to, fx.internal("displaced/a"));
    assert_eq!(
        fs::read_to_string(fx.internal("displaced/a/precious.txt")).unwrap(),
        "mine"
    );
    assert_eq!(link_text(&user_dir), ".sandboxpm/a@1.0.0/node_modules/a");
    // A later run without a lock keeps the displaced directory.
    fs::remove_file(fx.internal("lock.json")).unwrap();
    fx.link(&plan).unwrap();
    assert!(fx.internal("displaced/a/precious.txt").exists());
}

#[test]
fn user_links_and_files_elsewhere_in_node_modules_are_left_alone() {
    let fx = Fixture::new();
    fs::create_dir_all(fx.modules().join(".bin")).unwrap();
    symlink("/somewhere/else", fx.modules().join("linked-by-user")).unwrap();
    fs::write(fx.modules().join(".bin/user-script"), "#!/bin/sh\n").unwrap();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    fs::remove_file(fx.internal("lock.json")).unwrap();
    fx.link(&plan).unwrap();
    assert_eq!(
        link_text(&fx.modules().join("linked-by-user")),
        "/somewhere/else"
    );
    assert!(fx.modules().join(".bin/user-script").is_file());

    // A foreign symlink where a direct dependency goes is refused too.
    let mut plan = plan;
    plan.direct
        .insert("linked-by-user".into(), "b@1.0.0".into());
    let err = fx.link(&plan).unwrap_err();
    assert!(
        err.to_string()
            .contains("a symbolic link to /somewhere/else"),
        "{err}"
    );
}

#[test]
fn a_root_link_deleted_by_hand_is_restored() {
    let fx = Fixture::new();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    fs::remove_file(fx.modules().join("a")).unwrap();
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.unchanged, 3);
    assert_eq!(
        link_text(&fx.modules().join("a")),
        ".sandboxpm/a@1.0.0/node_modules/a"
    );
}

#[test]
fn verify_option_repairs_a_damaged_package_despite_a_valid_lock() {
    let fx = Fixture::new();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    fs::remove_file(fx.internal("a@1.0.0/node_modules/a/cli.js")).unwrap();
    assert!(fx.link(&plan).unwrap().is_noop(), "the lock is trusted");
    let options = LinkOptions {
        verify: true,
        ..LinkOptions::default()
    };
    let report = link(&fx.store, &plan, &options).unwrap();
    assert_eq!(report.lock, LockStatus::Ignored);
    assert_eq!(report.linked, ["a@1.0.0"]);
    assert!(fx.internal("a@1.0.0/node_modules/a/cli.js").is_file());
}

#[test]
fn read_only_directories_left_by_a_script_are_still_removed() {
    let fx = Fixture::new();
    let mut plan = graph(&fx, "1.0.0");
    for p in &mut plan.packages {
        if p.name == "@s/c" {
            *p = PlannedPackage::new("@s/c", "1.0.0", p.contents.clone()).with_private_copy(true);
        }
    }
    fx.link(&plan).unwrap();
    let build = fx.internal("@s+c@1.0.0/node_modules/@s/c/build");
    fs::create_dir(&build).unwrap();
    fs::write(build.join("out.node"), "x").unwrap();
    fs::set_permissions(&build, fs::Permissions::from_mode(0o500)).unwrap();
    plan.packages.retain(|p| p.name != "@s/c");
    plan.direct.remove("@s/c");
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.removed, ["@s+c@1.0.0"]);
    assert!(!fx.internal("@s+c@1.0.0").exists());
    assert!(fs::symlink_metadata(fx.modules().join("@s")).is_err());
}

#[test]
fn a_run_that_fails_midway_never_leaves_lock_json_claiming_unfinished_work() {
    let fx = Fixture::new();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();

    // `a` gets new contents (to be rebuilt) and a new package's tarball is missing from the
    // store, which is only found out while building.
    let mut broken = plan.clone();
    for p in &mut broken.packages {
        if p.name == "a" {
            p.contents = fx.index("a", "1.0.0", &[("index.js", "a v2")]).into();
        }
    }
    broken.packages.push(PlannedPackage::new(
        "m",
        "1.0.0",
        PackageContents::Stored(Sha512Digest::of(b"not in the store")),
    ));
    broken.direct.insert("m".into(), "m@1.0.0".into());
    let err = fx.link(&broken).unwrap_err();
    assert!(matches!(err, LinkError::MissingIndex { .. }), "{err:?}");

    let lock: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.internal("lock.json")).unwrap()).unwrap();
    assert_eq!(lock["complete"], false);
    let listed: Vec<&String> = lock["packages"].as_object().unwrap().keys().collect();
    assert_eq!(listed, ["@s/c@1.0.0", "b@1.0.0"], "only untouched packages");

    // The next run (back to the first plan) trusts what is listed, checks the rest on disk.
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.lock, LockStatus::Interrupted);
    assert_eq!(
        fs::read_to_string(fx.modules().join("a/index.js")).unwrap(),
        "a"
    );
    assert!(fs::symlink_metadata(fx.modules().join("m")).is_err());
    let leftovers: Vec<String> = fs::read_dir(fx.internal(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(fx.link(&plan).unwrap().is_noop());
}

#[test]
fn verification_catches_a_hard_link_to_other_content_of_the_same_size() {
    let fx = Fixture::new();
    let plan = graph(&fx, "1.0.0");
    fx.link(&plan).unwrap();
    // a's index.js ("a") becomes another name of c's index.js ("c"): same size, other content.
    let a_index = fx.internal("a@1.0.0/node_modules/a/index.js");
    fs::remove_file(&a_index).unwrap();
    fs::hard_link(
        fx.internal("@s+c@1.0.0/node_modules/@s/c/index.js"),
        &a_index,
    )
    .unwrap();
    fs::remove_file(fx.internal("lock.json")).unwrap();

    let report = fx.link(&plan).unwrap();
    assert_eq!(report.linked, ["a@1.0.0"]);
    assert_eq!(
        fs::read_to_string(fx.modules().join("a/index.js")).unwrap(),
        "a"
    );
}
