//! Shared package directories: built once in the store, linked from every project.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sandboxpm_linker::{LinkOptions, LinkPlan, PlannedPackage, link};
use support::{Fixture, link_text, node_available, snapshot};

/// a -> b -> c, with a bin in c; `a` is the direct dependency.
fn packages(fx: &Fixture) -> Vec<PlannedPackage> {
    vec![
        fx.package(
            "a",
            "1.0.0",
            &[("index.js", "module.exports = 'a sees ' + require('b');")],
        )
        .with_dependency("b", "b@1.0.0"),
        fx.package(
            "b",
            "1.0.0",
            &[("index.js", "module.exports = 'b sees ' + require('c');")],
        )
        .with_dependency("c", "c@1.0.0"),
        fx.package(
            "c",
            "1.0.0",
            &[
                ("index.js", "module.exports = 'c';"),
                ("cli.js", "#!/bin/sh\n"),
            ],
        )
        .with_bin("c", "cli.js"),
    ]
}

/// [`packages`] with b (same key, same files) over c@2.0.0 instead of c@1.0.0.
fn with_c2(fx: &Fixture) -> Vec<PlannedPackage> {
    let mut changed = packages(fx);
    changed[1].dependencies = [("c".to_owned(), "c@2.0.0".to_owned())].into();
    changed[2] = fx.package("c", "2.0.0", &[("index.js", "module.exports = 'c2';")]);
    changed
}

fn plan_at(root: &Path, packages: Vec<PlannedPackage>) -> LinkPlan {
    LinkPlan {
        root: root.to_path_buf(),
        packages,
        direct: [("a".to_owned(), "a@1.0.0".to_owned())].into(),
    }
}

/// Where `.sandboxpm/<dir>` of `root` points, if it is a link.
fn shared_target(root: &Path, dir: &str) -> Option<PathBuf> {
    fs::read_link(root.join("node_modules").join(".sandboxpm").join(dir)).ok()
}

fn node(root: &Path, script: &str) -> std::process::Output {
    Command::new("node")
        .args(["-e", script])
        .current_dir(root)
        .output()
        .unwrap()
}

#[test]
fn packages_live_in_the_store_and_node_resolves_them_without_phantoms() {
    let fx = Fixture::new();
    let report = fx.link_shared(&plan_at(&fx.root, packages(&fx))).unwrap();
    assert_eq!(report.linked, ["a@1.0.0", "b@1.0.0", "c@1.0.0"]);

    let links = fs::canonicalize(fx.store.links_dir()).unwrap();
    for dir in ["a@1.0.0", "b@1.0.0", "c@1.0.0"] {
        let target = shared_target(&fx.root, dir).unwrap_or_else(|| panic!("{dir} is no link"));
        assert!(target.is_absolute(), "{}", target.display());
        assert_eq!(fs::canonicalize(target.parent().unwrap()).unwrap(), links);
        let name = target.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with(&format!("{dir}-")), "{name}");
    }
    // Inside the store, links are relative and stay beside each other.
    let b = shared_target(&fx.root, "b@1.0.0").unwrap();
    let c = shared_target(&fx.root, "c@1.0.0").unwrap();
    assert_eq!(
        link_text(&b.join("node_modules/c")),
        format!(
            "../../{}/node_modules/c",
            c.file_name().unwrap().to_str().unwrap()
        )
    );
    assert!(b.join("node_modules/.bin/c").exists());
    // The root is unchanged: a relative link through `.sandboxpm`.
    assert_eq!(
        link_text(&fx.modules().join("a")),
        ".sandboxpm/a@1.0.0/node_modules/a"
    );

    if node_available() {
        let ok = node(&fx.root, "process.stdout.write(require('a'))");
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&ok.stdout), "a sees b sees c");
        let phantom = node(&fx.root, "require('b')");
        assert!(
            !phantom.status.success(),
            "b must not be reachable from the root"
        );
    }
}

#[test]
fn a_second_project_links_the_same_directories_without_building() {
    let fx = Fixture::new();
    fx.link_shared(&plan_at(&fx.root, packages(&fx))).unwrap();
    let store_before = snapshot(fx.store.links_dir());

    let other = fx.other_project("other");
    let report = fx.link_shared(&plan_at(&other, packages(&fx))).unwrap();
    assert_eq!(report.linked, ["a@1.0.0", "b@1.0.0", "c@1.0.0"]);
    assert_eq!(report.files.hard_linked + report.files.copied, 0);
    assert_eq!(snapshot(fx.store.links_dir()), store_before);
    for dir in ["a@1.0.0", "b@1.0.0", "c@1.0.0"] {
        assert_eq!(shared_target(&other, dir), shared_target(&fx.root, dir));
    }

    // Nothing changed: the second run is a no-op.
    assert!(
        fx.link_shared(&plan_at(&other, packages(&fx)))
            .unwrap()
            .is_noop()
    );
}

#[test]
fn a_different_dependency_below_gives_a_different_directory() {
    let fx = Fixture::new();
    fx.link_shared(&plan_at(&fx.root, packages(&fx))).unwrap();

    let changed = with_c2(&fx);
    let other = fx.other_project("other");
    fx.link_shared(&plan_at(&other, changed)).unwrap();

    // b's files are the same, its closure is not: its directory (and a's) differ.
    assert_ne!(
        shared_target(&other, "b@1.0.0"),
        shared_target(&fx.root, "b@1.0.0")
    );
    assert_ne!(
        shared_target(&other, "a@1.0.0"),
        shared_target(&fx.root, "a@1.0.0")
    );
    if node_available() {
        let first = node(&fx.root, "process.stdout.write(require('a'))");
        let second = node(&other, "process.stdout.write(require('a'))");
        assert_eq!(String::from_utf8_lossy(&first.stdout), "a sees b sees c");
        assert_eq!(String::from_utf8_lossy(&second.stdout), "a sees b sees c2");
    }
}

#[test]
fn a_package_whose_scripts_run_and_its_dependents_stay_in_the_project() {
    let fx = Fixture::new();
    let mut scripted = packages(&fx);
    scripted[1] = scripted[1].clone().with_private_copy(true);
    fx.link_shared(&plan_at(&fx.root, scripted)).unwrap();

    // b runs scripts: b and a (which reaches it) are real directories; c is shared.
    for dir in ["a@1.0.0", "b@1.0.0"] {
        let path = fx.internal(dir);
        assert!(
            fs::symlink_metadata(&path).unwrap().is_dir(),
            "{}",
            path.display()
        );
    }
    let c = shared_target(&fx.root, "c@1.0.0").expect("c is shared");
    // The project's copy of b links straight into the store, with an absolute link.
    let text = link_text(&fx.internal("b@1.0.0/node_modules/c"));
    assert_eq!(Path::new(&text), c.join("node_modules/c"));
    if node_available() {
        let ok = node(&fx.root, "process.stdout.write(require('a'))");
        assert_eq!(String::from_utf8_lossy(&ok.stdout), "a sees b sees c");
    }

    // Scripts no longer run: b and a become shared, their directories are replaced by links.
    fx.link_shared(&plan_at(&fx.root, packages(&fx))).unwrap();
    for dir in ["a@1.0.0", "b@1.0.0", "c@1.0.0"] {
        assert!(shared_target(&fx.root, dir).is_some(), "{dir}");
    }
    assert!(
        !fs::read_dir(fx.internal("")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.')),
        "leftovers in .sandboxpm"
    );
    // And back.
    let mut scripted = packages(&fx);
    scripted[1] = scripted[1].clone().with_private_copy(true);
    fx.link_shared(&plan_at(&fx.root, scripted)).unwrap();
    assert!(
        fs::symlink_metadata(fx.internal("a@1.0.0"))
            .unwrap()
            .is_dir()
    );
    if node_available() {
        let ok = node(&fx.root, "process.stdout.write(require('a'))");
        assert_eq!(String::from_utf8_lossy(&ok.stdout), "a sees b sees c");
    }
}

#[test]
fn a_shared_directory_deleted_from_the_store_is_rebuilt_despite_a_valid_lock() {
    let fx = Fixture::new();
    let plan = plan_at(&fx.root, packages(&fx));
    fx.link_shared(&plan).unwrap();
    let b = shared_target(&fx.root, "b@1.0.0").unwrap();
    fs::remove_dir_all(&b).unwrap();

    let report = fx.link_shared(&plan).unwrap();
    assert_eq!(report.linked, ["b@1.0.0"]);
    assert!(b.join("node_modules/b/index.js").is_file());
    assert!(b.join("node_modules/c").exists());
}

#[test]
fn verify_repairs_a_damaged_shared_directory() {
    let fx = Fixture::new();
    let plan = plan_at(&fx.root, packages(&fx));
    fx.link_shared(&plan).unwrap();
    let b = shared_target(&fx.root, "b@1.0.0").unwrap();
    fs::remove_file(b.join("node_modules/b/index.js")).unwrap();
    fs::remove_file(b.join("node_modules/c")).unwrap();

    // The lock vouches for the project, so an ordinary run sees nothing wrong.
    assert!(fx.link_shared(&plan).unwrap().is_noop());
    let options = LinkOptions {
        shared: true,
        verify: true,
        ..LinkOptions::default()
    };
    let report = link(&fx.store, &plan, &options).unwrap();
    assert_eq!(report.linked, ["b@1.0.0"]);
    assert!(b.join("node_modules/b/index.js").is_file());
    assert!(b.join("node_modules/c").exists());
    let leftovers: Vec<_> = fs::read_dir(fx.store.links_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn turning_sharing_off_puts_the_files_back_in_the_project() {
    let fx = Fixture::new();
    let plan = plan_at(&fx.root, packages(&fx));
    fx.link_shared(&plan).unwrap();
    let report = fx.link(&plan).unwrap();
    assert_eq!(report.linked, ["a@1.0.0", "b@1.0.0", "c@1.0.0"]);
    for dir in ["a@1.0.0", "b@1.0.0", "c@1.0.0"] {
        assert!(fs::symlink_metadata(fx.internal(dir)).unwrap().is_dir());
    }
    // The store's directories stay for other projects.
    assert_eq!(fs::read_dir(fx.store.links_dir()).unwrap().count(), 3);
}

#[test]
fn a_project_copy_follows_its_shared_dependency_when_that_ones_closure_changes() {
    let fx = Fixture::new();
    let mut scripted = packages(&fx);
    scripted[0] = scripted[0].clone().with_private_copy(true);
    fx.link_shared(&plan_at(&fx.root, scripted)).unwrap();
    let before = link_text(&fx.internal("a@1.0.0/node_modules/b"));

    // b keeps its key, but its c changes: b's shared directory is another one.
    let mut changed = with_c2(&fx);
    changed[0] = changed[0].clone().with_private_copy(true);
    let report = fx.link_shared(&plan_at(&fx.root, changed)).unwrap();
    assert_eq!(report.relinked, ["a@1.0.0"]);
    let after = link_text(&fx.internal("a@1.0.0/node_modules/b"));
    assert_ne!(before, after);
    assert_eq!(
        Path::new(&after),
        shared_target(&fx.root, "b@1.0.0")
            .unwrap()
            .join("node_modules/b")
    );
    if node_available() {
        let ok = node(&fx.root, "process.stdout.write(require('a'))");
        assert_eq!(String::from_utf8_lossy(&ok.stdout), "a sees b sees c2");
    }
}

#[test]
fn turning_sharing_on_replaces_the_projects_directories_with_links() {
    let fx = Fixture::new();
    let other = fx.other_project("other");
    // First in a project whose directories are its own: the shared ones are built, then linked
    // in their place. Then in another such project: the shared ones are there, only linked.
    for root in [&fx.root, &other] {
        let plan = plan_at(root, packages(&fx));
        fx.link(&plan).unwrap();
        let internal = root.join("node_modules/.sandboxpm");
        assert!(
            fs::symlink_metadata(internal.join("b@1.0.0"))
                .unwrap()
                .is_dir()
        );

        let report = fx.link_shared(&plan).unwrap();
        assert_eq!(report.linked, ["a@1.0.0", "b@1.0.0", "c@1.0.0"]);
        for dir in ["a@1.0.0", "b@1.0.0", "c@1.0.0"] {
            let target = shared_target(root, dir).unwrap_or_else(|| panic!("{dir} is no link"));
            assert!(target.join("node_modules").is_dir());
        }
        let leftovers: Vec<_> = fs::read_dir(&internal)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        if node_available() {
            let ok = node(root, "process.stdout.write(require('a'))");
            assert_eq!(String::from_utf8_lossy(&ok.stdout), "a sees b sees c");
        }
    }
    assert_eq!(fs::read_dir(fx.store.links_dir()).unwrap().count(), 3);
}
