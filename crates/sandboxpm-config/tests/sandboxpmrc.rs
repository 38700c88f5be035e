//! `.sandboxpmrc`: validation and its error texts, merging, the rule writer, and directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use sandboxpm_config::{
    Environment, Paths, PolicyAction, RuleList, SandboxBackend, SandboxpmSettings,
    SandboxpmrcError, SandboxpmrcFile, add_rule,
};

fn parse(text: &str) -> Result<SandboxpmrcFile, SandboxpmrcError> {
    SandboxpmrcFile::parse(
        text,
        Path::new("/p/.sandboxpmrc"),
        Some(Path::new("/home/u")),
    )
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn full_file_is_read() {
    let f = parse(
        r#"{
          "$schema": "ignored",
          "policies": {"onWarn": "continue", "onBlock": "abort"},
          "whitelist": ["esbuild", "sharp@0.33.2", "@swc/core@^1.4"],
          "blacklist": ["evil"],
          "envPassthrough": ["CI", "_X1"],
          "sandbox": {"backend": "bwrap", "packages": {"puppeteer": {"network": ["*.example.org:443", "127.0.0.1"], "write": ["~/.cache/puppeteer"]}}},
          "storeDir": "../store"
        }"#,
    )
    .unwrap();
    assert_eq!(f.on_warn, Some(PolicyAction::Continue));
    assert_eq!(f.on_block, Some(PolicyAction::Abort));
    let rules: Vec<(String, Option<String>)> = f
        .whitelist
        .iter()
        .map(|r| (r.name.clone(), r.version.clone()))
        .collect();
    assert_eq!(
        rules,
        [
            ("esbuild".to_owned(), None),
            ("sharp".to_owned(), Some("0.33.2".to_owned())),
            ("@swc/core".to_owned(), Some("^1.4".to_owned())),
        ]
    );
    assert_eq!(
        f.whitelist[2].origin.to_string(),
        "/p/.sandboxpmrc: whitelist[2]"
    );
    assert_eq!(f.whitelist[2].text(), "@swc/core@^1.4");
    assert_eq!(f.blacklist[0].name, "evil");
    assert_eq!(f.env_passthrough, ["CI", "_X1"]);
    assert_eq!(f.backend, Some(SandboxBackend::Bwrap));
    let grants = &f.packages["puppeteer"];
    assert_eq!(grants.network, ["*.example.org:443", "127.0.0.1"]);
    assert_eq!(grants.write, ["~/.cache/puppeteer"]);
    assert_eq!(f.store_dir.as_deref(), Some(Path::new("/p/../store")));
    let f = parse(r#"{"storeDir": "~/store"}"#).unwrap();
    assert_eq!(f.store_dir.as_deref(), Some(Path::new("/home/u/store")));
}

#[test]
fn unknown_keys_name_their_path() {
    assert_eq!(
        error(r#"{"policies": {"onWran": "abort"}}"#),
        "/p/.sandboxpmrc: policies.onWran: unknown key"
    );
    assert_eq!(
        error(r#"{"whitelsit": []}"#),
        "/p/.sandboxpmrc: whitelsit: unknown key"
    );
    assert_eq!(
        error(r#"{"sandbox": {"backend": "auto", "network": []}}"#),
        "/p/.sandboxpmrc: sandbox.network: unknown key"
    );
    assert_eq!(
        error(r#"{"sandbox": {"packages": {"x": {"network": [], "read": []}}}}"#),
        "/p/.sandboxpmrc: sandbox.packages.x.read: unknown key"
    );
}

#[test]
fn bad_values_name_their_path() {
    let cases = [
        (
            r#"{"policies": {"onWarn": "stop"}}"#,
            "policies.onWarn: expected one of abort, prompt, continue, found \"stop\"",
        ),
        (
            r#"{"policies": {"onBlock": 1}}"#,
            "policies.onBlock: expected a string, found a number",
        ),
        (
            r#"{"policies": []}"#,
            "policies: expected an object, found an array",
        ),
        (
            r#"{"whitelist": "esbuild"}"#,
            "whitelist: expected an array of strings, found a string",
        ),
        (
            r#"{"whitelist": ["ok", 3]}"#,
            "whitelist[1]: expected a string, found a number",
        ),
        (r#"{"blacklist": [""]}"#, "blacklist[0]: must not be empty"),
        (
            r#"{"blacklist": ["a b"]}"#,
            "blacklist[0]: \"a b\" is not a package name (expected name, name@version or name@range)",
        ),
        (
            r#"{"whitelist": ["x@"]}"#,
            "whitelist[0]: \"x@\" has an empty version after @",
        ),
        (
            r#"{"envPassthrough": ["1BAD"]}"#,
            "envPassthrough[0]: \"1BAD\" is not an environment variable name",
        ),
        (
            r#"{"sandbox": {"backend": "chroot"}}"#,
            "sandbox.backend: expected one of auto, native, landlock, bwrap, docker, seatbelt, found \"chroot\"",
        ),
        (
            r#"{"sandbox": {"packages": {"../x": {}}}}"#,
            "sandbox.packages.../x: \"../x\" is not a package name",
        ),
        (
            r#"{"sandbox": {"packages": {"x": {"network": ["https://h/"]}}}}"#,
            "sandbox.packages.x.network[0]: \"https://h/\" should be a host or host:port, not a URL",
        ),
        (
            r#"{"sandbox": {"packages": {"x": {"network": ["h:99999"]}}}}"#,
            "sandbox.packages.x.network[0]: \"h:99999\" has an invalid port",
        ),
        (
            r#"{"storeDir": false}"#,
            "storeDir: expected a string, found a boolean",
        ),
        (
            r#"{"sharePackages": "no"}"#,
            "sharePackages: expected true or false, found a string",
        ),
        ("[]", "(root): expected an object, found an array"),
    ];
    for (text, expected) in cases {
        assert_eq!(
            error(text),
            format!("/p/.sandboxpmrc: {expected}"),
            "{text}"
        );
    }
    assert_eq!(error("{,}"), "/p/.sandboxpmrc: invalid JSON");
}

fn file(text: &str, path: &str) -> SandboxpmrcFile {
    SandboxpmrcFile::parse(text, Path::new(path), Some(Path::new("/home/u"))).unwrap()
}

#[test]
fn project_wins_lists_combine() {
    let user = file(
        r#"{"policies": {"onWarn": "continue", "onBlock": "continue"}, "whitelist": ["a"], "blacklist": ["b"],
            "envPassthrough": ["CI", "LANG"], "sandbox": {"backend": "docker", "packages": {"p": {"network": ["u.test"]}, "q": {"write": ["/q"]}}},
            "storeDir": "/store"}"#,
        "/home/u/.sandboxpmrc",
    );
    let project = file(
        r#"{"policies": {"onWarn": "abort"}, "whitelist": ["c"], "envPassthrough": ["CI", "TZ"],
            "sandbox": {"packages": {"p": {"network": ["proj.test"]}}}}"#,
        "/p/.sandboxpmrc",
    );
    let s = SandboxpmSettings::merge(Some(project), Some(user));
    assert_eq!(s.on_warn, PolicyAction::Abort, "project wins");
    assert_eq!(
        s.on_block,
        PolicyAction::Continue,
        "user applies where the project is silent"
    );
    assert_eq!(s.backend, SandboxBackend::Docker);
    let names: Vec<&str> = s.whitelist.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(s.whitelist[1].origin.file, PathBuf::from("/p/.sandboxpmrc"));
    assert_eq!(s.blacklist.len(), 1);
    assert_eq!(s.env_passthrough, ["CI", "LANG", "TZ"]);
    assert_eq!(
        s.packages["p"].network,
        ["proj.test"],
        "project entry replaces the user's"
    );
    assert_eq!(s.packages["q"].write, ["/q"]);
    assert_eq!(s.store_dir.as_deref(), Some(Path::new("/store")));
    assert!(s.warnings.is_empty());
    assert!(s.share_packages, "shared by default");
}

#[test]
fn share_packages_project_over_user() {
    let user = file(r#"{"sharePackages": false}"#, "/home/u/.sandboxpmrc");
    assert!(!SandboxpmSettings::merge(None, Some(user.clone())).share_packages);
    let project = file(r#"{"sharePackages": true}"#, "/p/.sandboxpmrc");
    assert!(SandboxpmSettings::merge(Some(project), Some(user)).share_packages);
}

#[test]
fn defaults_without_files() {
    let s = SandboxpmSettings::merge(None, None);
    assert_eq!(
        (s.on_warn, s.on_block),
        (PolicyAction::Prompt, PolicyAction::Prompt)
    );
    assert_eq!(s.backend, SandboxBackend::Auto);
    assert!(s.whitelist.is_empty() && s.store_dir.is_none());
}

#[test]
fn project_cannot_choose_the_store() {
    let project = file(r#"{"storeDir": "./.shipped-store"}"#, "/repo/.sandboxpmrc");
    let s = SandboxpmSettings::merge(Some(project), None);
    assert_eq!(s.store_dir, None);
    assert_eq!(
        s.warnings,
        [
            "/repo/.sandboxpmrc: storeDir: ignored in a project file; set it in your user .sandboxpmrc \
          (a repository must not choose where trusted store content comes from)"
        ]
    );
}

#[test]
fn load_reads_project_then_user() {
    let dir = tempfile::tempdir().unwrap();
    let (project, home) = (dir.path().join("p"), dir.path().join("h"));
    fs::create_dir_all(&project).unwrap();
    fs::create_dir_all(&home).unwrap();
    fs::write(
        project.join(".sandboxpmrc"),
        r#"{"policies": {"onBlock": "abort"}}"#,
    )
    .unwrap();
    fs::write(
        home.join(".sandboxpmrc"),
        r#"{"policies": {"onBlock": "continue", "onWarn": "continue"}}"#,
    )
    .unwrap();
    let s = SandboxpmSettings::load(Some(&project), Some(&home)).unwrap();
    assert_eq!(
        (s.on_warn, s.on_block),
        (PolicyAction::Continue, PolicyAction::Abort)
    );

    fs::write(
        home.join(".sandboxpmrc"),
        r#"{"policies": {"onWran": "x"}}"#,
    )
    .unwrap();
    let err = SandboxpmSettings::load(Some(&project), Some(&home)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: policies.onWran: unknown key",
            home.join(".sandboxpmrc").display()
        )
    );
}

#[test]
fn add_rule_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(add_rule(dir.path(), RuleList::Whitelist, "esbuild@0.19.4").unwrap());
    assert_eq!(
        fs::read_to_string(dir.path().join(".sandboxpmrc")).unwrap(),
        "{\n  \"whitelist\": [\n    \"esbuild@0.19.4\"\n  ]\n}\n"
    );
    assert!(
        !add_rule(dir.path(), RuleList::Whitelist, "esbuild@0.19.4").unwrap(),
        "already there"
    );
}

#[test]
fn add_rule_preserves_the_rest_and_moves_between_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".sandboxpmrc");
    fs::write(
        &path,
        "{\n    \"policies\": {\n        \"onWarn\": \"abort\"\n    },\n    \"blacklist\": [\n        \"x\",\n        \"sharp\"\n    ],\n    \"envPassthrough\": []\n}",
    )
    .unwrap();
    assert!(add_rule(dir.path(), RuleList::Whitelist, "sharp").unwrap());
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\n    \"policies\": {\n        \"onWarn\": \"abort\"\n    },\n    \"blacklist\": [\n        \"x\"\n    ],\n    \"envPassthrough\": [],\n    \"whitelist\": [\n        \"sharp\"\n    ]\n}"
    );
    let leftovers = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left behind");
}

#[test]
fn add_rule_refuses_invalid_files_and_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".sandboxpmrc");
    fs::write(&path, r#"{"policies": {"onWran": "abort"}}"#).unwrap();
    let err = add_rule(dir.path(), RuleList::Blacklist, "x").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: policies.onWran: unknown key", path.display())
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        r#"{"policies": {"onWran": "abort"}}"#,
        "untouched"
    );
    let err = add_rule(dir.path(), RuleList::Blacklist, "not a name").unwrap_err();
    assert!(err.to_string().ends_with("blacklist: \"not a name\" is not a package name (expected name, name@version or name@range)"), "{err}");
}

#[test]
fn sandboxpm_home_overrides_the_default() {
    let env = Environment::from_pairs([("SANDBOXPM_HOME", "/opt/spm")]);
    let p = Paths::resolve(&env, Some(Path::new("/home/u")), Path::new("/w"), None).unwrap();
    assert_eq!(p.home, PathBuf::from("/opt/spm"));
    assert_eq!(p.store_dir, PathBuf::from("/opt/spm/store"));
    assert_eq!(p.cache_dir, PathBuf::from("/opt/spm/cache"));
    let p = Paths::resolve(
        &Environment::default(),
        Some(Path::new("/home/u")),
        Path::new("/w"),
        None,
    )
    .unwrap();
    assert_eq!(p.home, PathBuf::from("/home/u/.sandboxpm"));
    let p = Paths::resolve(
        &Environment::default(),
        Some(Path::new("/home/u")),
        Path::new("/w"),
        Some(Path::new("/s")),
    )
    .unwrap();
    assert_eq!(p.store_dir, PathBuf::from("/s"));
    let env = Environment::from_pairs([("SANDBOXPM_HOME", "rel")]);
    assert_eq!(
        Paths::resolve(&env, None, Path::new("/w"), None)
            .unwrap()
            .home,
        PathBuf::from("/w/rel")
    );
    let err = Paths::resolve(&Environment::default(), None, Path::new("/w"), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot find the home directory: set HOME or SANDBOXPM_HOME"
    );
}
