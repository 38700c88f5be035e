//! Layering of `.npmrc` files and `npm_config_*` variables, and the project-file security rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use sandboxpm_config::{
    Config, ConfigSource, Environment, LoadOptions, NpmConfig, NpmConfigInputs, RegistryFallback,
};

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["home", "project/sub/deeper", "prefix/etc", "empty-path"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("project/package.json"), "{}").unwrap();
        World { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        fs::write(self.path(rel), text).unwrap();
    }

    /// An environment with no node on PATH and the prefix in our tree.
    fn env(&self, extra: &[(&str, &str)]) -> Environment {
        let mut pairs: Vec<(String, String)> = vec![
            ("PATH".into(), self.path("empty-path").display().to_string()),
            (
                "npm_config_prefix".into(),
                self.path("prefix").display().to_string(),
            ),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Environment::from_pairs(pairs)
    }

    fn load(&self, cwd: &str, env: &Environment) -> NpmConfig {
        self.load_with_cli(cwd, env, &[])
    }

    fn load_with_cli(&self, cwd: &str, env: &Environment, cli: &[(String, String)]) -> NpmConfig {
        NpmConfig::load(&NpmConfigInputs {
            cwd: &self.path(cwd),
            home: Some(&self.path("home")),
            env,
            cli,
        })
        .unwrap()
    }
}

#[test]
fn precedence_cli_env_project_user_global() {
    let w = World::new();
    w.write(
        "prefix/etc/npmrc",
        "a=global\nb=global\nc=global\nd=global\ne=global\n",
    );
    w.write("home/.npmrc", "a=user\nb=user\nc=user\nd=user\n");
    w.write("project/.npmrc", "a=project\nb=project\nc=project\n");
    let env = w.env(&[("npm_config_a", "env"), ("NPM_CONFIG_B", "env")]);
    let cli = [("a".to_owned(), "cli".to_owned())];
    let config = w.load_with_cli("project/sub/deeper", &env, &cli);
    assert_eq!(config.get("a"), Some("cli"));
    assert_eq!(config.get("b"), Some("env"));
    assert_eq!(config.get("c"), Some("project"));
    assert_eq!(config.get("d"), Some("user"));
    assert_eq!(config.get("e"), Some("global"));
    assert_eq!(config.entry("a").unwrap().source, ConfigSource::CommandLine);
    assert_eq!(config.entry("b").unwrap().source, ConfigSource::Environment);
    assert_eq!(
        config.entry("c").unwrap().source,
        ConfigSource::Project(w.path("project/.npmrc"))
    );
    assert_eq!(
        config.entry("d").unwrap().source,
        ConfigSource::User(w.path("home/.npmrc"))
    );
    assert_eq!(
        config.entry("e").unwrap().source,
        ConfigSource::Global(w.path("prefix/etc/npmrc"))
    );
    assert_eq!(
        config.project_dir.as_deref(),
        Some(w.path("project").as_path())
    );
    assert_eq!(
        config.files,
        [
            w.path("home/.npmrc"),
            w.path("prefix/etc/npmrc"),
            w.path("project/.npmrc")
        ]
    );
}

#[test]
fn user_config_from_env_var() {
    let w = World::new();
    w.write("home/.npmrc", "x=default-user\n");
    w.write("home/other.npmrc", "x=custom-user\n");
    let env = w.env(&[(
        "NPM_CONFIG_USERCONFIG",
        &w.path("home/other.npmrc").display().to_string(),
    )]);
    assert_eq!(w.load("home", &env).get("x"), Some("custom-user"));
}

#[test]
fn global_config_from_globalconfig_and_from_node_install() {
    let w = World::new();
    w.write("home/g.npmrc", "x=from-globalconfig\n");
    let env = w.env(&[(
        "npm_config_globalconfig",
        &w.path("home/g.npmrc").display().to_string(),
    )]);
    assert_eq!(w.load("home", &env).get("x"), Some("from-globalconfig"));

    // No prefix configured: two levels above the node binary found on PATH.
    fs::create_dir_all(w.path("nodeinst/bin")).unwrap();
    fs::create_dir_all(w.path("nodeinst/etc")).unwrap();
    fs::write(w.path("nodeinst/bin/node"), "").unwrap();
    w.write("nodeinst/etc/npmrc", "x=from-node-prefix\n");
    let env = Environment::from_pairs([("PATH", w.path("nodeinst/bin").display().to_string())]);
    assert_eq!(w.load("home", &env).get("x"), Some("from-node-prefix"));

    // $PREFIX comes before the node install.
    let env = Environment::from_pairs([
        ("PATH", w.path("nodeinst/bin").display().to_string()),
        ("PREFIX", w.path("prefix").display().to_string()),
    ]);
    w.write("prefix/etc/npmrc", "x=from-PREFIX\n");
    assert_eq!(w.load("home", &env).get("x"), Some("from-PREFIX"));
}

#[test]
fn no_project_without_package_json() {
    let w = World::new();
    fs::create_dir_all(w.path("loose")).unwrap();
    w.write("loose/.npmrc", "x=loose\n");
    let config = w.load("loose", &w.env(&[]));
    assert_eq!(config.project_dir, None);
    assert_eq!(config.get("x"), None);
}

#[test]
fn a_project_in_home_reads_its_npmrc_once_as_user_config() {
    let w = World::new();
    w.write("home/package.json", "{}");
    w.write("home/.npmrc", "//127.0.0.1:4873/:_authToken=${TOKEN}\n");
    let config = w.load("home", &w.env(&[("TOKEN", "s3cret")]));
    assert_eq!(config.get("//127.0.0.1:4873/:_authToken"), Some("s3cret"));
    assert_eq!(config.files.len(), 1);
}

#[test]
fn project_npmrc_cannot_redirect_the_users_token() {
    let w = World::new();
    w.write(
        "project/.npmrc",
        "registry=http://127.0.0.9:9/\n//127.0.0.9:9/:_authToken=${NPM_TOKEN}\n",
    );
    let env = w.env(&[("NPM_TOKEN", "npm_s3cret")]);
    let config = Config::load(&LoadOptions {
        cwd: w.path("project"),
        env,
        home: Some(w.path("home")),
        cli: Vec::new(),
        registry_fallback: RegistryFallback::Fixed("http://127.0.0.1:1/".into()),
    })
    .unwrap();
    let auth = config.settings.auth_for("http://127.0.0.9:9/pkg").unwrap();
    assert_eq!(
        auth.credential.authorization_header(),
        "Bearer ${NPM_TOKEN}"
    );
    assert!(!format!("{config:?}").contains("npm_s3cret"));
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("not expanding environment variables")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn user_npmrc_may_use_env_tokens() {
    // Control for the attack above: the same line in the user's own file works.
    let w = World::new();
    w.write(
        "home/.npmrc",
        "registry=http://127.0.0.9:9/\n//127.0.0.9:9/:_authToken=${NPM_TOKEN}\n",
    );
    let env = w.env(&[("NPM_TOKEN", "npm_s3cret")]);
    let config = Config::load(&LoadOptions {
        cwd: w.path("project"),
        env,
        home: Some(w.path("home")),
        cli: Vec::new(),
        registry_fallback: RegistryFallback::Fixed("http://127.0.0.1:1/".into()),
    })
    .unwrap();
    let auth = config.settings.auth_for("http://127.0.0.9:9/pkg").unwrap();
    assert_eq!(auth.credential.authorization_header(), "Bearer npm_s3cret");
    assert!(
        !format!("{:?}", auth.credential).contains("npm_s3cret"),
        "Debug redacts"
    );
}

#[test]
fn unreadable_npmrc_is_an_error_naming_the_file() {
    let w = World::new();
    // A directory where a file is expected cannot be read as text.
    fs::create_dir_all(w.path("home/.npmrc")).unwrap();
    let err = NpmConfig::load(&NpmConfigInputs {
        cwd: &w.path("home"),
        home: Some(&w.path("home")),
        env: &w.env(&[]),
        cli: &[],
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot read {}", w.path("home/.npmrc").display())
    );
}

#[test]
fn project_discovery_walks_up() {
    let w = World::new();
    assert_eq!(
        sandboxpm_config::find_project_dir(&w.path("project/sub/deeper")).as_deref(),
        Some(w.path("project").as_path())
    );
    assert_eq!(sandboxpm_config::find_project_dir(Path::new("/")), None);
}
