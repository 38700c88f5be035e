//! `sandboxpm add`, `remove` and `store …` end to end, against a loopback fixture registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sandboxpm_test_support::{FixtureRegistry, PackageBuilder};

/// A temporary directory holding a sandboxpm home and any number of projects sharing its store.
struct Sandbox {
    _dir: tempfile::TempDir,
    base: PathBuf,
    home: PathBuf,
    registry: FixtureRegistry,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        let registry = FixtureRegistry::start().unwrap();
        for (name, version) in [("left", "1.0.0"), ("left", "1.1.0"), ("right", "1.0.0")] {
            let package = PackageBuilder::new(name, version)
                .file(
                    "index.js",
                    format!("module.exports = '{name}@{version}';\n"),
                )
                .build()
                .unwrap();
            registry.add(&package);
        }
        let scoped = PackageBuilder::new("@scope/real", "2.3.0")
            .file("index.js", "module.exports = 'real';\n")
            .build()
            .unwrap();
        registry.add(&scoped);
        registry.set_dist_tag("left", "beta", "1.0.0");
        Sandbox {
            home: base.join("sandboxpm-home"),
            base,
            _dir: dir,
            registry,
        }
    }

    fn project(&self, name: &str, package_json: &str) -> PathBuf {
        let root = self.base.join(name);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("package.json"), package_json).unwrap();
        root
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sandboxpm"))
            .args(args)
            .current_dir(dir)
            .env("SANDBOXPM_HOME", &self.home)
            .env("npm_config_registry", self.registry.url())
            .env("npm_config_userconfig", self.home.join("no-user-npmrc"))
            .output()
            .unwrap()
    }

    /// Runs and asserts success.
    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(out.status.success(), "{args:?} failed:\n{}", text(&out));
        text(&out)
    }

    fn store(&self) -> PathBuf {
        self.home.join("store").join("v2")
    }

    fn indexes(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.store().join("index"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names
    }

    fn blobs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(self.store().join("files"))
            .unwrap()
            .flatten()
        {
            for blob in std::fs::read_dir(shard.path()).unwrap().flatten() {
                out.push(blob.path());
            }
        }
        out.sort();
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn add_saves_a_caret_range_of_latest_and_installs() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    let out = s.ok(&app, &["add", "left"]);
    assert!(out.contains("dependencies: + left ^1.1.0"), "{out}");
    assert_eq!(
        read(&app.join("package.json")),
        "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"left\": \"^1.1.0\"\n  }\n}\n"
    );
    assert_eq!(
        read(&app.join("node_modules/left/index.js")),
        "module.exports = 'left@1.1.0';\n"
    );
    assert!(read(&app.join("sandboxpm-lock.json")).contains("left@1.1.0"));
}

#[test]
fn add_ranges_tags_aliases_and_scoped_names() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    s.ok(&app, &["add", "left@~1.0.0", "my-real@npm:@scope/real"]);
    assert_eq!(
        read(&app.join("package.json")),
        "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"left\": \"~1.0.0\",\n    \"my-real\": \"npm:@scope/real@^2.3.0\"\n  }\n}\n"
    );
    assert_eq!(
        read(&app.join("node_modules/left/index.js")),
        "module.exports = 'left@1.0.0';\n"
    );
    assert!(app.join("node_modules/my-real/index.js").exists());
    // A tag is resolved and saved as a caret range of its version.
    s.ok(&app, &["add", "left@beta"]);
    assert!(
        read(&app.join("package.json")).contains("\"left\": \"^1.0.0\""),
        "{}",
        read(&app.join("package.json"))
    );
}

#[test]
fn add_dev_and_exact_moves_the_entry_between_sections() {
    let s = Sandbox::new();
    let app = s.project(
        "app",
        "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"right\": \"^1.0.0\"\n  }\n}\n",
    );
    s.ok(&app, &["add", "-D", "-E", "right"]);
    assert_eq!(
        read(&app.join("package.json")),
        "{\n  \"name\": \"app\",\n  \"dependencies\": {},\n  \"devDependencies\": {\n    \"right\": \"1.0.0\"\n  }\n}\n"
    );
    assert!(app.join("node_modules/right/index.js").exists());
    s.ok(&app, &["add", "--save-optional", "right"]);
    assert_eq!(
        read(&app.join("package.json")),
        "{\n  \"name\": \"app\",\n  \"dependencies\": {},\n  \"devDependencies\": {},\n  \"optionalDependencies\": {\n    \"right\": \"^1.0.0\"\n  }\n}\n"
    );
}

#[test]
fn add_of_an_unknown_package_names_it_and_leaves_package_json_byte_identical() {
    let s = Sandbox::new();
    // Formatting ManifestEditor would not reproduce on its own: any rewrite would show.
    let original = "{ \"name\" : \"app\",\n\t\"dependencies\":{\"left\":\"1.0.0\"} }";
    let app = s.project("app", original);
    let out = s.run(&app, &["add", "right", "no-such-package"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("no-such-package"), "{t}");
    assert!(t.contains("does not exist"), "{t}");
    assert_eq!(read(&app.join("package.json")), original);
    assert!(!app.join("node_modules").exists());
    assert!(!app.join("sandboxpm-lock.json").exists());

    let out = s.run(&app, &["add", "left@^9"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no version of `left` matches `^9`"),
        "{}",
        text(&out)
    );
    let out = s.run(&app, &["add", "right@beta"]);
    assert!(
        text(&out).contains("`right` has no dist-tag `beta`"),
        "{}",
        text(&out)
    );
    assert_eq!(read(&app.join("package.json")), original);
}

#[test]
fn add_with_a_failing_install_restores_package_json_and_the_lockfile() {
    let s = Sandbox::new();
    let original =
        "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"left\": \"^1.0.0\"\n  }\n}\n";
    let app = s.project("app", original);
    s.ok(&app, &["install"]);
    let lock = read(&app.join("sandboxpm-lock.json"));
    // The packument still announces the original integrity, so the install must refuse it.
    s.registry.tamper_tarball("right", "1.0.0");
    let out = s.run(&app, &["add", "right"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("is back as it was"), "{t}");
    assert!(t.contains("right@1.0.0"), "{t}");
    assert_eq!(read(&app.join("package.json")), original);
    assert_eq!(read(&app.join("sandboxpm-lock.json")), lock);
    assert!(!app.join("node_modules/right").exists());
    let leftovers: Vec<String> = std::fs::read_dir(&app)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn remove_edits_package_json_and_unlinks() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    s.ok(&app, &["add", "left", "right"]);
    s.ok(&app, &["add", "-D", "my-real@npm:@scope/real@^2.0.0"]);
    assert!(app.join("node_modules/right").exists());
    assert!(app.join("node_modules/my-real/index.js").exists());

    let out = s.ok(&app, &["remove", "right"]);
    assert!(out.contains("dependencies: - right"), "{out}");
    assert_eq!(
        read(&app.join("package.json")),
        "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"left\": \"^1.1.0\"\n  },\n  \"devDependencies\": {\n    \"my-real\": \"npm:@scope/real@^2.0.0\"\n  }\n}\n"
    );
    assert!(std::fs::symlink_metadata(app.join("node_modules/right")).is_err());
    assert!(!app.join("node_modules/.sandboxpm/right@1.0.0").exists());
    assert!(app.join("node_modules/left/index.js").exists());

    s.ok(&app, &["uninstall", "my-real"]);
    assert!(std::fs::symlink_metadata(app.join("node_modules/my-real")).is_err());
    s.ok(&app, &["rm", "left"]);
    assert!(std::fs::symlink_metadata(app.join("node_modules/left")).is_err());
    assert_eq!(
        read(&app.join("package.json")),
        "{\n  \"name\": \"app\",\n  \"dependencies\": {},\n  \"devDependencies\": {}\n}\n"
    );
}

#[test]
fn remove_of_an_unknown_name_errors_and_changes_nothing() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    s.ok(&app, &["add", "left"]);
    let before = read(&app.join("package.json"));
    let lock = read(&app.join("sandboxpm-lock.json"));
    let out = s.run(&app, &["remove", "left", "ghost"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("`ghost`") && !t.contains("`left`"), "{t}");
    assert_eq!(read(&app.join("package.json")), before);
    assert_eq!(read(&app.join("sandboxpm-lock.json")), lock);
    assert!(app.join("node_modules/left/index.js").exists());
}

#[test]
fn add_keeps_four_space_indentation_and_key_order() {
    let s = Sandbox::new();
    let app = s.project(
        "app",
        "{\n    \"name\": \"app\",\n    \"dependencies\": {\n        \"right\": \"^1.0.0\"\n    },\n    \"private\": true\n}\n",
    );
    s.ok(&app, &["add", "left"]);
    assert_eq!(
        read(&app.join("package.json")),
        "{\n    \"name\": \"app\",\n    \"dependencies\": {\n        \"left\": \"^1.1.0\",\n        \"right\": \"^1.0.0\"\n    },\n    \"private\": true\n}\n"
    );
}

#[test]
fn store_path_and_status_describe_the_store() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    let out = s.run(&app, &["store", "path"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        s.store().to_string_lossy()
    );

    s.ok(&app, &["add", "left", "right"]);
    let status = s.ok(&app, &["store", "status"]);
    let bytes: u64 = s
        .blobs()
        .iter()
        .map(|b| std::fs::metadata(b).unwrap().len())
        .sum();
    assert!(status.contains("packages: 2\n"), "{status}");
    assert!(
        status.contains(&format!("files:    {}\n", s.blobs().len())),
        "{status}"
    );
    assert!(
        status.contains(&format!("size:     {bytes} bytes")),
        "{status}"
    );
}

#[test]
fn store_verify_finds_a_corrupted_file_and_repair_removes_it() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    s.ok(&app, &["add", "left", "right"]);
    let clean = s.ok(&app, &["store", "verify"]);
    assert!(clean.contains("the store is intact"), "{clean}");

    let blob = s
        .blobs()
        .into_iter()
        .find(|b| read(b).contains("right@1.0.0"))
        .expect("right's index.js blob");
    let mut permissions = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&blob, permissions).unwrap();
    std::fs::write(&blob, "tampered").unwrap();

    let out = s.run(&app, &["store", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("corrupt file: {}", blob.display())),
        "{t}"
    );
    assert!(t.contains("1 problem(s) found"), "{t}");
    assert_eq!(s.indexes().len(), 2, "verify alone changed the store");

    let out = s.ok(&app, &["store", "verify", "--repair"]);
    // left and right were shared package directories holding the blobs' inodes: gone too.
    assert!(
        out.contains("removed 1 corrupt file(s), 1 package index(es) and 2 shared package"),
        "{out}"
    );
    assert!(!blob.exists());
    assert_eq!(s.indexes().len(), 1);
    assert!(
        s.ok(&app, &["store", "verify"])
            .contains("the store is intact")
    );

    // The next install notices and downloads right again: its files are the registry's.
    s.ok(&app, &["install"]);
    let index = read(&app.join("node_modules/right/index.js"));
    assert!(index.contains("right@1.0.0"), "{index}");
    assert!(
        s.ok(&app, &["store", "verify"])
            .contains("the store is intact")
    );
}

#[test]
fn prune_after_remove_deletes_the_unreferenced_index_unless_another_project_keeps_it() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    let other = s.project("other", "{\n  \"name\": \"other\"\n}\n");
    s.ok(&app, &["add", "left", "right"]);
    s.ok(&other, &["add", "right"]);
    s.ok(&app, &["remove", "right"]);
    assert_eq!(s.indexes().len(), 2);

    // `other` still uses right: kept, with its shared directory.
    let out = s.ok(&app, &["store", "prune", "--keep-project", "../other"]);
    assert!(
        out.contains("removed 0 package(s), 0 file(s) and 0 shared"),
        "{out}"
    );
    assert_eq!(s.indexes().len(), 2);
    assert!(read(&other.join("node_modules/right/index.js")).contains("right@1.0.0"));

    let files_before = s.blobs().len();
    let out = s.ok(&app, &["store", "prune"]);
    assert!(out.contains("removed right@1.0.0\n"), "{out}");
    assert!(
        out.contains("removed 1 package(s)") && out.contains("and 1 shared package"),
        "{out}"
    );
    assert!(!out.contains("removed left"), "{out}");
    // `other`'s next install rebuilds what prune took: right comes back from the registry.
    s.ok(&other, &["install"]);
    assert!(read(&other.join("node_modules/right/index.js")).contains("right@1.0.0"));
    std::fs::remove_dir_all(other.join("node_modules")).unwrap();
    s.ok(&app, &["store", "prune"]);
    assert_eq!(s.indexes().len(), 1);
    assert!(s.blobs().len() < files_before);
    // What is left is exactly what app uses, and it still installs from the store alone.
    assert!(
        s.ok(&app, &["store", "verify"])
            .contains("the store is intact")
    );
    std::fs::remove_dir_all(app.join("node_modules")).unwrap();
    let requests = s.registry.total_requests();
    s.ok(&app, &["install", "--frozen-lockfile"]);
    assert_eq!(s.registry.total_requests(), requests);

    // A named project with nothing installed is refused, not taken as "keep nothing".
    let empty = s.project("empty", "{}\n");
    let out = s.run(&app, &["store", "prune", "--keep-project", "../empty"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("neither sandboxpm-lock.json"),
        "{}",
        text(&out)
    );
    let _ = empty;
}

#[test]
fn exec_in_a_project_can_load_its_shared_dependencies() {
    let s = Sandbox::new();
    let app = s.project("app", "{\n  \"name\": \"app\"\n}\n");
    s.ok(&app, &["add", "left"]);
    let shared = std::fs::read_link(app.join("node_modules/.sandboxpm/left@1.1.0")).unwrap();
    assert!(shared.starts_with(&s.home), "{}", shared.display());

    let out = s.ok(
        &app,
        &[
            "exec",
            "--",
            "node",
            "-e",
            "process.stdout.write(require('left'))",
        ],
    );
    assert!(out.contains("left@1.1.0"), "{out}");
    // The grant is the shared directories, not the rest of the store.
    let out = s.run(
        &app,
        &[
            "exec",
            "--",
            "ls",
            &s.store().join("index").to_string_lossy(),
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
}
