//! The layout the linker writes, and that Node and a shell actually resolve through it.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::process::Command;

use sandboxpm_linker::{
    LinkError, LinkPlan, LinkWarning, PackageContents, PlannedPackage, package_path,
};
use sandboxpm_store::Sha512Digest;
use support::{Fixture, ino, link_text, node_available};

#[test]
fn layout_has_virtual_store_dependency_links_and_root_links_for_direct_deps_only() {
    let fx = Fixture::new();
    let a = fx
        .package("a", "1.0.0", &[("index.js", "a")])
        .with_dependency("b", "b@1.0.0")
        .with_dependency("cee", "@s/c@2.0.0");
    let b = fx.package("b", "1.0.0", &[("index.js", "b")]);
    let c = fx
        .package("@s/c", "2.0.0", &[("lib/c.js", "c")])
        .with_dependency("@t/b-alias", "b@1.0.0");
    let plan = fx.plan(
        vec![a, b, c],
        &[("a", "a@1.0.0"), ("@my/alias", "@s/c@2.0.0")],
    );
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.linked, ["@s/c@2.0.0", "a@1.0.0", "b@1.0.0"]);
    assert_eq!(report.unchanged, 0);

    let m = fx.modules();
    // Package files under their flattened key.
    assert_eq!(
        fs::read_to_string(fx.internal("@s+c@2.0.0/node_modules/@s/c/lib/c.js")).unwrap(),
        "c"
    );
    assert_eq!(
        package_path(&fx.root, "@s/c@2.0.0", "@s/c"),
        fx.internal("@s+c@2.0.0/node_modules/@s/c")
    );
    // Dependency edges, an alias among them, one more `../` below a scope.
    assert_eq!(
        link_text(&fx.internal("a@1.0.0/node_modules/b")),
        "../../b@1.0.0/node_modules/b"
    );
    assert_eq!(
        link_text(&fx.internal("a@1.0.0/node_modules/cee")),
        "../../@s+c@2.0.0/node_modules/@s/c"
    );
    assert_eq!(
        link_text(&fx.internal("@s+c@2.0.0/node_modules/@t/b-alias")),
        "../../../b@1.0.0/node_modules/b"
    );
    assert_eq!(
        fs::read_to_string(fx.internal("a@1.0.0/node_modules/cee/lib/c.js")).unwrap(),
        "c"
    );
    // Root: direct dependencies only.
    assert_eq!(link_text(&m.join("a")), ".sandboxpm/a@1.0.0/node_modules/a");
    assert_eq!(
        link_text(&m.join("@my/alias")),
        "../.sandboxpm/@s+c@2.0.0/node_modules/@s/c"
    );
    assert_eq!(
        fs::read_to_string(m.join("@my/alias/lib/c.js")).unwrap(),
        "c"
    );
    assert!(
        fs::symlink_metadata(m.join("b")).is_err(),
        "b is not direct"
    );
    assert!(
        fs::symlink_metadata(m.join("@s")).is_err(),
        "@s/c only via alias"
    );
    // Real directories, not links, for package contents.
    assert!(
        fs::symlink_metadata(fx.internal("a@1.0.0/node_modules/a"))
            .unwrap()
            .is_dir()
    );
    let lock: serde_json::Value =
        serde_json::from_slice(&fs::read(fx.internal("lock.json")).unwrap()).unwrap();
    assert_eq!(lock["lockVersion"], 1);
    assert_eq!(lock["complete"], true);
    assert_eq!(lock["direct"]["@my/alias"], "@s/c@2.0.0");
    assert_eq!(
        lock["packages"]["a@1.0.0"]["dependencies"]["cee"],
        "@s/c@2.0.0"
    );
}

#[test]
fn node_resolves_declared_dependencies_and_no_phantom_ones() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let a = fx
        .package(
            "a",
            "1.0.0",
            &[("index.js", "module.exports = 'a sees ' + require('b');")],
        )
        .with_dependency("b", "b@1.0.0");
    let b = fx.package("b", "1.0.0", &[("index.js", "module.exports = 'b';")]);
    fx.link(&fx.plan(vec![a, b], &[("a", "a@1.0.0")])).unwrap();

    let node = |script: &str| {
        Command::new("node")
            .args(["-e", script])
            .current_dir(&fx.root)
            .output()
            .unwrap()
    };
    let ok = node("process.stdout.write(require('a'))");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "a sees b");

    let phantom = node("require('b')");
    assert!(
        !phantom.status.success(),
        "b must not be reachable from the root"
    );
    assert!(
        String::from_utf8_lossy(&phantom.stderr).contains("Cannot find module 'b'"),
        "{}",
        String::from_utf8_lossy(&phantom.stderr)
    );
}

#[test]
fn bins_run_through_dot_bin_and_a_missing_exec_bit_never_touches_the_store() {
    let fx = Fixture::new();
    // `cli.sh` is not executable in the tarball; `other.txt` is an ordinary file.
    let tool_index = fx.index(
        "tool",
        "1.0.0",
        &[
            ("cli.sh", "#!/bin/sh\necho tool-ran \"$@\"\n"),
            ("other.txt", "x"),
        ],
    );
    let tool =
        PlannedPackage::new("tool", "1.0.0", tool_index.clone()).with_bin("tool", "./cli.sh");
    let user = fx
        .package("user", "1.0.0", &[("index.js", "")])
        .with_dependency("tool", "tool@1.0.0");
    let plan = fx.plan(
        vec![tool, user],
        &[("tool", "tool@1.0.0"), ("user", "user@1.0.0")],
    );
    let report = fx.link(&plan).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let bin = fx.modules().join(".bin/tool");
    assert_eq!(link_text(&bin), "../tool/cli.sh");
    let out = Command::new(&bin).arg("hi").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool-ran hi\n");

    // The package's own dependencies' bins, for its scripts.
    let dep_bin = fx.internal("user@1.0.0/node_modules/.bin/tool");
    assert_eq!(link_text(&dep_bin), "../tool/cli.sh");
    assert_eq!(
        String::from_utf8_lossy(&Command::new(&dep_bin).output().unwrap().stdout),
        "tool-ran\n"
    );

    // The store blob kept its read-only, non-executable mode; the project got a private copy.
    let blob = fx.blob(&tool_index, "cli.sh");
    let blob_meta = fs::metadata(&blob).unwrap();
    assert_eq!(blob_meta.permissions().mode() & 0o777, 0o444);
    let file = fx.internal("tool@1.0.0/node_modules/tool/cli.sh");
    let file_meta = fs::metadata(&file).unwrap();
    assert_ne!(file_meta.ino(), blob_meta.ino());
    assert_eq!(file_meta.nlink(), 1);
    assert_eq!(file_meta.permissions().mode() & 0o111, 0o111);
    // Its other files are still hard links.
    assert_eq!(
        ino(&fx.internal("tool@1.0.0/node_modules/tool/other.txt")),
        ino(&fx.blob(&tool_index, "other.txt"))
    );
}

#[test]
fn hard_links_share_inodes_with_store_blobs_and_private_copies_do_not() {
    let fx = Fixture::new();
    let shared_index = fx.index(
        "shared",
        "1.0.0",
        &[("a.js", "same"), ("run*", "#!/bin/sh\n")],
    );
    let private_index = fx.index("scripted", "1.0.0", &[("a.js", "same"), ("b.js", "b")]);
    let shared = PlannedPackage::new("shared", "1.0.0", shared_index.clone());
    let scripted =
        PlannedPackage::new("scripted", "1.0.0", private_index.clone()).with_private_copy(true);
    let report = fx
        .link(&fx.plan(
            vec![shared, scripted],
            &[("shared", "shared@1.0.0"), ("scripted", "scripted@1.0.0")],
        ))
        .unwrap();
    // package.json + a.js + run hard-linked; the private package's three files copied or cloned.
    assert_eq!(report.files.hard_linked, 3);
    assert_eq!(report.files.reflinked + report.files.copied, 3);

    for file in ["a.js", "run"] {
        let linked =
            fs::metadata(fx.internal(&format!("shared@1.0.0/node_modules/shared/{file}"))).unwrap();
        let blob = fs::metadata(fx.blob(&shared_index, file)).unwrap();
        assert_eq!(linked.ino(), blob.ino(), "{file}");
        assert!(linked.nlink() >= 2);
    }
    for file in ["a.js", "b.js", "package.json"] {
        let copy =
            fs::metadata(fx.internal(&format!("scripted@1.0.0/node_modules/scripted/{file}")))
                .unwrap();
        let blob = fs::metadata(fx.blob(&private_index, file)).unwrap();
        assert_ne!(copy.ino(), blob.ino(), "{file}");
        assert_eq!(copy.nlink(), 1, "{file}");
        assert_ne!(copy.permissions().mode() & 0o200, 0, "{file} is writable");
    }
}

#[test]
fn bin_paths_escaping_the_package_and_bad_command_names_are_rejected() {
    let fx = Fixture::new();
    let evil = fx
        .package("evil", "1.0.0", &[("cli.js", "")])
        .with_bin("steal", "../../../../etc/passwd")
        .with_bin("abs", "/bin/sh")
        .with_bin("../../outside", "cli.js")
        .with_bin("fine", "cli.js");
    let report = fx
        .link(&fx.plan(vec![evil], &[("evil", "evil@1.0.0")]))
        .unwrap();
    let bin_dir = fx.modules().join(".bin");
    let names: Vec<String> = fs::read_dir(&bin_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["fine"]);
    assert!(fs::symlink_metadata(fx.root.join("outside")).is_err());
    assert!(report.warnings.iter().any(|w| matches!(
        w,
        LinkWarning::BinRejected { command, .. } if command == "steal"
    )));
    assert!(report.warnings.iter().any(|w| matches!(
        w,
        LinkWarning::BinRejected { command, .. } if command == "abs"
    )));
    assert!(report.warnings.iter().any(|w| matches!(
        w,
        LinkWarning::InvalidBinName { command, .. } if command == "../../outside"
    )));
    let text = report
        .warnings
        .iter()
        .find(|w| matches!(w, LinkWarning::BinRejected { command, .. } if command == "steal"))
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "evil@1.0.0: bin `steal` not linked: bin.steal: path \"../../../../etc/passwd\" escapes \
         the package directory"
    );
}

#[test]
fn missing_bin_target_is_a_warning_and_bin_conflicts_prefer_the_namesake() {
    let fx = Fixture::new();
    let x = fx
        .package("x", "1.0.0", &[("x.js", "")])
        .with_bin("x", "x.js")
        .with_bin("gone", "nope.js");
    let y = fx
        .package("aaa", "1.0.0", &[("y.js", "")])
        .with_bin("x", "y.js");
    let report = fx
        .link(&fx.plan(vec![x, y], &[("x", "x@1.0.0"), ("aaa", "aaa@1.0.0")]))
        .unwrap();
    assert_eq!(link_text(&fx.modules().join(".bin/x")), "../x/x.js");
    assert!(report.warnings.contains(&LinkWarning::BinConflict {
        command: "x".into(),
        kept: "x@1.0.0".into(),
        skipped: "aaa@1.0.0".into(),
    }));
    assert!(report.warnings.contains(&LinkWarning::BinTargetMissing {
        key: "x@1.0.0".into(),
        command: "gone".into(),
        path: "nope.js".into(),
    }));
}

#[test]
fn packages_can_be_linked_from_the_store_by_digest() {
    let fx = Fixture::new();
    let index = fx.index("a", "1.0.0", &[("index.js", "a")]);
    let a = PlannedPackage::new("a", "1.0.0", PackageContents::Stored(index.tarball));
    fx.link(&fx.plan(vec![a], &[("a", "a@1.0.0")])).unwrap();
    assert_eq!(
        fs::read_to_string(fx.modules().join("a/index.js")).unwrap(),
        "a"
    );

    let missing = PlannedPackage::new(
        "m",
        "1.0.0",
        PackageContents::Stored(Sha512Digest::of(b"?")),
    );
    let err = fx
        .link(&fx.plan(vec![missing], &[("m", "m@1.0.0")]))
        .unwrap_err();
    assert!(matches!(err, LinkError::MissingIndex { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("m@1.0.0: the store has no index")
    );
}

#[test]
fn invalid_plans_are_refused_before_touching_the_disk() {
    let fx = Fixture::new();
    let a = fx
        .package("a", "1.0.0", &[])
        .with_dependency("b", "b@9.9.9");
    let err = fx.link(&fx.plan(vec![a], &[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a@1.0.0: dependency `b` points to b@9.9.9, which is not in the link plan"
    );

    let a = fx
        .package("a", "1.0.0", &[])
        .with_dependency("../x", "a@1.0.0");
    let err = fx.link(&fx.plan(vec![a], &[])).unwrap_err();
    assert!(matches!(err, LinkError::InvalidEdge { .. }), "{err:?}");

    let mut a = fx.package("a", "1.0.0", &[]);
    a.key = "other@1.0.0".into();
    let err = fx.link(&fx.plan(vec![a], &[])).unwrap_err();
    assert!(matches!(err, LinkError::InvalidKey { .. }), "{err:?}");

    let a = fx.package("a", "1.0.0", &[]);
    let err = fx.link(&fx.plan(vec![a.clone(), a], &[])).unwrap_err();
    assert!(matches!(err, LinkError::DuplicateKey { .. }), "{err:?}");
    assert!(!fx.modules().exists(), "nothing was created");
}

#[test]
fn self_references_are_skipped_and_peer_suffixed_keys_get_their_own_directory() {
    let fx = Fixture::new();
    let index = fx.index("p", "1.0.0", &[("index.js", "")]);
    let plain = PlannedPackage::new("p", "1.0.0", index.clone()).with_dependency("p", "p@1.0.0");
    let mut peer = PlannedPackage::new("p", "1.0.0", index).with_dependency("p", "p@1.0.0");
    peer.key = "p@1.0.0(@types/q@2.0.0)".into();
    let plan = LinkPlan {
        root: fx.root.clone(),
        packages: vec![plain, peer],
        direct: [("p".to_owned(), "p@1.0.0(@types/q@2.0.0)".to_owned())].into(),
    };
    let report = fx.link(&plan).unwrap();
    // The plain package's self edge is silently redundant; the variant's edge named `p` points
    // to another key, which Node could never reach.
    assert_eq!(
        report.warnings,
        [LinkWarning::ShadowedBySelf {
            key: "p@1.0.0(@types/q@2.0.0)".into(),
            edge: "p".into(),
            target: "p@1.0.0".into(),
        }]
    );
    assert_eq!(
        link_text(&fx.modules().join("p")),
        ".sandboxpm/p@1.0.0(@types+q@2.0.0)/node_modules/p"
    );
    assert!(fx.internal("p@1.0.0/node_modules/p/index.js").is_file());
    // No link named like the package next to it.
    let entries: Vec<String> = fs::read_dir(fx.internal("p@1.0.0/node_modules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, ["p"]);
}
