//! What a script is given: its environment and its sandbox policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sandboxpm_config::{ConfigEntry, ConfigSource, NpmConfig, NpmrcValue, PackageGrants};
use sandboxpm_npm::InstallEvent;
use sandboxpm_sandbox::resolve::Access;
use sandboxpm_sandbox::{Network, ResolveContext};
use sandboxpm_scripts::{
    DEFAULT_TIMEOUT_SECS, PackageScripts, ScriptEnvInputs, ScriptPolicyInputs, Toolchain,
    dependency_dirs, discover, resolve_script_policy, script_env, script_policy,
};
use support::Project;

fn npm_config(entries: &[(&str, &str)]) -> NpmConfig {
    NpmConfig::from_entries(entries.iter().map(|(k, v)| {
        (
            (*k).to_owned(),
            ConfigEntry {
                value: NpmrcValue::Scalar((*v).to_owned()),
                source: ConfigSource::User(PathBuf::from("/home/u/.npmrc")),
            },
        )
    }))
}

fn toolchain() -> Toolchain {
    Toolchain {
        node: Some("/usr/bin/node".into()),
        node_root: Some("/usr".into()),
        npm_execpath: Some("/usr/lib/node_modules/npm/bin/npm-cli.js".into()),
        npm_root: Some("/usr/lib/node_modules/npm".into()),
        node_gyp_bin: Some(
            "/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin".into(),
        ),
        build_tool_dirs: vec!["/usr/bin".into()],
        node_headers: None,
        nodedir: None,
    }
}

/// esbuild -> (dep -> deeper), (@scope/s); plus a link planted to point outside the store.
fn project_with_deps() -> (Project, PackageScripts) {
    let p = Project::new();
    p.package("deeper@3.0.0", "deeper", "{}", &[("index.js", "")], &[]);
    p.package(
        "dep@1.0.0",
        "dep",
        "{}",
        &[("index.js", "")],
        &[("deeper@3.0.0", "deeper")],
    );
    p.package("@scope/s@2.0.0", "@scope/s", "{}", &[("index.js", "")], &[]);
    p.package(
        "esbuild@0.19.4",
        "esbuild",
        r#"{"name":"esbuild","scripts":{"postinstall":"node install.js"}}"#,
        &[("install.js", "")],
        &[("dep@1.0.0", "dep"), ("@scope/s@2.0.0", "@scope/s")],
    );
    let links = sandboxpm_scripts::dependency_links_dir(&p.root, "esbuild@0.19.4");
    std::os::unix::fs::symlink(&p.root, links.join("rogue")).unwrap();
    let pkg = discover(&p.installed("esbuild@0.19.4", "esbuild", "0.19.4"))
        .unwrap()
        .unwrap();
    (p, pkg)
}

#[test]
fn environment_is_npms_variables_without_secrets_and_nothing_else() {
    let (p, pkg) = project_with_deps();
    let config = npm_config(&[
        ("cache", "/home/u/.npm"),
        ("node-gyp", "/opt/node-gyp/bin/node-gyp.js"),
        ("_authToken", "SECRET1"),
        ("//registry.invalid/:_authToken", "SECRET2"),
        ("@corp:_auth", "SECRET3"),
        ("certfile", "/home/u/cert.pem"),
        ("keyfile", "/home/u/key.pem"),
        ("my-secret", "SECRET4"),
        ("https-proxy", "http://user:SECRET5@proxy.invalid:8080"),
        ("registry", "https://user:SECRET6@mirror.invalid/"),
        ("loglevel", "warn"),
    ]);
    let caller_env: BTreeMap<String, String> = [
        ("PATH", "/usr/local/bin:/usr/bin"),
        ("NPM_TOKEN", "SECRET7"),
        ("GITHUB_TOKEN", "SECRET8"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET9"),
        ("CI", "true"),
        ("npm_lifecycle_event", "spoofed"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let tools = toolchain();
    let env = script_env(&ScriptEnvInputs {
        project_dir: &p.root,
        package: &pkg,
        event: InstallEvent::Postinstall,
        command: "node install.js",
        toolchain: &tools,
        npm_config: &config,
        caller_env: &caller_env,
        passthrough: &[
            "CI".to_owned(),
            "npm_lifecycle_event".to_owned(),
            "UNSET".to_owned(),
        ],
    });
    let vstore = p
        .root
        .join("node_modules/.sandboxpm/esbuild@0.19.4/node_modules");
    let expected: BTreeMap<String, String> = [
        ("CI", "true".to_owned()),
        ("INIT_CWD", p.root.display().to_string()),
        (
            "PATH",
            format!(
                "{}:{}:{}:/usr/local/bin:/usr/bin",
                vstore.join(".bin").display(),
                pkg.dir.join("node_modules/.bin").display(),
                tools.node_gyp_bin.as_ref().unwrap().display()
            ),
        ),
        ("npm_config_cache", "/home/u/.npm".to_owned()),
        ("npm_config_loglevel", "warn".to_owned()),
        (
            "npm_config_node_gyp",
            "/opt/node-gyp/bin/node-gyp.js".to_owned(),
        ),
        (
            "npm_execpath",
            "/usr/lib/node_modules/npm/bin/npm-cli.js".to_owned(),
        ),
        ("npm_lifecycle_event", "postinstall".to_owned()),
        ("npm_lifecycle_script", "node install.js".to_owned()),
        ("npm_node_execpath", "/usr/bin/node".to_owned()),
        (
            "npm_package_json",
            pkg.dir.join("package.json").display().to_string(),
        ),
        ("npm_package_name", "esbuild".to_owned()),
        ("npm_package_version", "0.19.4".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(env, expected);
    let all: String = env.values().cloned().collect();
    assert!(!all.contains("SECRET"), "{env:?}");
}

fn policy_inputs<'a>(
    p: &'a Project,
    pkg: &'a PackageScripts,
    tools: &'a Toolchain,
    grants: Option<&'a PackageGrants>,
) -> ScriptPolicyInputs<'a> {
    ScriptPolicyInputs {
        project_dir: &p.root,
        package: pkg,
        toolchain: tools,
        caller_path: Some("/usr/local/bin:/usr/bin:relative/bin"),
        grants,
        timeout_secs: None,
        npm_config_files: &[],
        shared_dir: None,
    }
}

#[test]
fn dependencies_are_followed_to_their_real_directories_inside_the_store_only() {
    let (p, _) = project_with_deps();
    let store = p.root.join("node_modules/.sandboxpm");
    let deps = dependency_dirs(&p.root, "esbuild@0.19.4", None);
    assert_eq!(
        deps.package_dirs,
        vec![
            store.join("@scope+s@2.0.0/node_modules/@scope/s"),
            store.join("deeper@3.0.0/node_modules/deeper"),
            store.join("dep@1.0.0/node_modules/dep"),
        ]
    );
    assert_eq!(
        deps.link_dirs,
        vec![
            store.join("@scope+s@2.0.0/node_modules"),
            store.join("deeper@3.0.0/node_modules"),
            store.join("dep@1.0.0/node_modules"),
        ]
    );
}

#[test]
fn policy_grants_the_package_its_dependencies_and_the_tools_only() {
    let (p, pkg) = project_with_deps();
    let tools = toolchain();
    let policy = script_policy(&policy_inputs(&p, &pkg, &tools, None));
    let store = p.root.join("node_modules/.sandboxpm");
    let s = |p: &Path| p.display().to_string();
    for read in [
        "/usr".to_owned(),
        "/etc/ssl".to_owned(),
        "/usr/local/bin".to_owned(),
        "/usr/lib/node_modules/npm".to_owned(),
        s(&store.join("esbuild@0.19.4/node_modules")),
        s(&store.join("dep@1.0.0/node_modules/dep")),
        s(&store.join("deeper@3.0.0/node_modules")),
        s(&store.join("@scope+s@2.0.0/node_modules/@scope/s")),
    ] {
        assert!(
            policy.read.contains(&read),
            "{read} not in {:?}",
            policy.read
        );
    }
    // Nothing of the project itself, and no relative PATH entries.
    assert!(
        !policy.read.iter().any(|r| r == &s(&p.root)),
        "{:?}",
        policy.read
    );
    assert!(!policy.read.iter().any(|r| r.starts_with("relative")));
    assert_eq!(policy.write, vec![s(&pkg.dir)]);
    assert_eq!(policy.network, Network::None);
    assert_eq!(policy.limits.timeout_secs, Some(DEFAULT_TIMEOUT_SECS));
    assert_eq!(DEFAULT_TIMEOUT_SECS, 600);
    assert!(
        policy.env.is_empty(),
        "the environment comes from script_env"
    );
    for deny in ["~/.ssh", "~/.npmrc", "~/.aws", "**/.env*"] {
        assert!(policy.deny_read.iter().any(|d| d == deny), "{deny}");
    }
    for deny in [".git/hooks", "~/.bashrc"] {
        assert!(policy.deny_write.iter().any(|d| d == deny), "{deny}");
    }
}

#[test]
fn sandboxpmrc_grants_network_hosts_extra_writes_and_node_gyp_headers() {
    let (p, pkg) = project_with_deps();
    let mut tools = toolchain();
    tools.node_headers = Some("/home/u/.cache/node-gyp".into());
    let grants = PackageGrants {
        network: vec!["*.example.org:443".into()],
        write: vec!["~/.cache/esbuild".into()],
        origin: None,
    };
    let mut inputs = policy_inputs(&p, &pkg, &tools, Some(&grants));
    inputs.timeout_secs = Some(30);
    let policy = script_policy(&inputs);
    assert_eq!(
        policy.network,
        Network::Allow(vec!["*.example.org:443".into()])
    );
    assert_eq!(
        policy.write,
        vec![pkg.dir.display().to_string(), "~/.cache/esbuild".to_owned()]
    );
    assert!(policy.read.contains(&"/home/u/.cache/node-gyp".to_owned()));
    assert_eq!(policy.limits.timeout_secs, Some(30));
}

#[test]
fn resolved_policy_runs_in_the_package_with_exactly_the_script_environment() {
    let (p, pkg) = project_with_deps();
    let home = p.outer().join("home");
    std::fs::create_dir_all(home.join(".cache/node-gyp/20.0.0")).unwrap();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "KEY").unwrap();
    // No node on this PATH (a node that ships its headers would be preferred to the cache).
    let no_node = p.outer().join("empty-bin");
    std::fs::create_dir_all(&no_node).unwrap();
    let mut tools = Toolchain::detect(no_node.to_str(), Some(&home), None);
    tools.build_tool_dirs.clear();
    assert_eq!(tools.node_headers, Some(home.join(".cache/node-gyp")));
    let policy = script_policy(&policy_inputs(&p, &pkg, &tools, None));
    let env: BTreeMap<String, String> =
        [("PATH", "/usr/bin"), ("npm_lifecycle_event", "postinstall")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let base = ResolveContext {
        cwd: p.root.clone(),
        home: Some(home.clone()),
        passwd_home: None,
        env: [("NPM_TOKEN".to_owned(), "SECRET".to_owned())].into(),
        glob_limit: 64,
    };
    let resolved = resolve_script_policy(&policy, &base, &pkg.dir, &env).unwrap();
    assert_eq!(resolved.cwd, pkg.dir);
    let access = |path: &Path| resolved.covering_grant(path).map(|g| g.access);
    assert_eq!(access(&pkg.dir.join("out.bin")), Some(Access::Write));
    let store = p.root.join("node_modules/.sandboxpm");
    assert_eq!(
        access(&store.join("dep@1.0.0/node_modules/dep/index.js")),
        Some(Access::Read)
    );
    assert_eq!(
        access(&home.join(".cache/node-gyp/20.0.0")),
        Some(Access::Read)
    );
    assert_eq!(access(&p.root.join("package.json")), None);
    assert_eq!(access(&home.join(".ssh/id_rsa")), None);
    assert_eq!(access(&store.join("other@1.0.0/node_modules/other")), None);
    let mut keys: Vec<&str> = resolved.env.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["HOME", "PATH", "TMPDIR", "npm_lifecycle_event"]);
    assert_eq!(resolved.env["HOME"], home.display().to_string());
}

#[test]
fn npm_configuration_files_are_never_readable() {
    // node installed by a version manager in the home: its installation is granted (scripts run
    // node from it), the global `etc/npmrc` inside it, where tokens are kept, is not; nor are
    // the other configuration files sandboxpm read, wherever they are.
    let (p, pkg) = project_with_deps();
    let home = tempfile::tempdir().unwrap();
    let home = std::fs::canonicalize(home.path()).unwrap();
    let node_root = home.join(".nvm/versions/node/v20.0.0");
    let npm_root = node_root.join("lib/node_modules/npm");
    // A CI image's `NPM_CONFIG_USERCONFIG`, kept next to node.
    let userconfig = node_root.join("ci.npmrc");
    for file in [
        node_root.join("bin/node"),
        node_root.join("etc/npmrc"),
        npm_root.join("npmrc"),
        userconfig.clone(),
    ] {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "//registry.invalid/:_authToken=SECRET\n").unwrap();
    }
    let tools = Toolchain {
        node: Some(node_root.join("bin/node")),
        node_root: Some(node_root.clone()),
        npm_root: Some(npm_root.clone()),
        ..Toolchain::default()
    };
    let files = vec![userconfig.clone()];
    let mut inputs = policy_inputs(&p, &pkg, &tools, None);
    inputs.npm_config_files = &files;
    let policy = script_policy(&inputs);
    let base = ResolveContext {
        cwd: p.root.clone(),
        home: Some(home.clone()),
        passwd_home: None,
        env: BTreeMap::new(),
        glob_limit: 64,
    };
    let resolved = resolve_script_policy(&policy, &base, &pkg.dir, &BTreeMap::new()).unwrap();
    let access = |path: &Path| resolved.covering_grant(path).map(|g| g.access);
    assert_eq!(access(&node_root.join("bin/node")), Some(Access::Read));
    for secret in [
        node_root.join("etc/npmrc"),
        npm_root.join("npmrc"),
        userconfig,
    ] {
        assert!(
            resolved.deny_read.iter().any(|d| d.path == secret),
            "{} is not denied: {:?}",
            secret.display(),
            resolved.deny_read
        );
    }
}
