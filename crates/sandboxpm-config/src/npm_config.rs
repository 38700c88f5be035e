//! npm's configuration layers, merged: command line > `npm_config_*` environment > project
//! `.npmrc` > user `.npmrc` > global `npmrc`.
//!
//! The files are found the way npm finds them: the project is the nearest directory (from the
//! working directory up) holding a `package.json`; the user file is `$NPM_CONFIG_USERCONFIG` or
//! `~/.npmrc`; the global file is `globalconfig` or `<prefix>/etc/npmrc`, where the prefix is
//! `prefix` (`npm_config_prefix`), then `$PREFIX`, then the installation of the `node` found on
//! `PATH` (`/usr/bin/node` gives `/usr`). A project `.npmrc` that *is* the user file (a project in
//! the home directory) is read once, as the user file. Where these files live is only taken from
//! the command line, the environment and the user file, never from a project.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::env_vars::{self, Environment};
use crate::error::ConfigError;
use crate::npmrc::{FileTrust, NpmrcValue, parse_npmrc};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A command-line flag.
    CommandLine,
    /// An `npm_config_*` environment variable.
    Environment,
    /// The project's `.npmrc`.
    Project(PathBuf),
    /// The user's `.npmrc`.
    User(PathBuf),
    /// The global `npmrc`.
    Global(PathBuf),
    /// The answer of `npm config get` (npm's own default).
    NpmDefault,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::CommandLine => f.write_str("the command line"),
            ConfigSource::Environment => f.write_str("the environment"),
            ConfigSource::Project(p) | ConfigSource::User(p) | ConfigSource::Global(p) => {
                write!(f, "{}", p.display())
            }
            ConfigSource::NpmDefault => f.write_str("npm's default"),
        }
    }
}

/// One merged value and the layer that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The value.
    pub value: NpmrcValue,
    /// Where it came from.
    pub source: ConfigSource,
}

/// The merged npm configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NpmConfig {
    entries: BTreeMap<String, ConfigEntry>,
    /// The project directory (nearest `package.json`), if any.
    pub project_dir: Option<PathBuf>,
    /// The files that were read, in the order they were read (user, global, project).
    pub files: Vec<PathBuf>,
    /// Warnings from reading the files.
    pub warnings: Vec<String>,
}

/// What [`NpmConfig::load`] needs to know about the world.
#[derive(Debug, Clone)]
pub struct NpmConfigInputs<'a> {
    /// The working directory.
    pub cwd: &'a Path,
    /// The user's home directory.
    pub home: Option<&'a Path>,
    /// The environment.
    pub env: &'a Environment,
    /// Command-line settings, already split into key and value.
    pub cli: &'a [(String, String)],
}

impl NpmConfig {
    /// Reads and merges every layer.
    pub fn load(inputs: &NpmConfigInputs<'_>) -> Result<Self, ConfigError> {
        let mut config = NpmConfig {
            project_dir: find_project_dir(inputs.cwd),
            ..NpmConfig::default()
        };
        let cli: BTreeMap<String, NpmrcValue> = inputs
            .cli
            .iter()
            .map(|(k, v)| (k.clone(), NpmrcValue::Scalar(v.clone())))
            .collect();
        let env = env_layer(inputs.env);
        let from_top = |key: &str| {
            cli.get(key)
                .or_else(|| env.get(key))
                .and_then(NpmrcValue::as_scalar)
                .map(str::to_owned)
        };

        let user_path = from_top("userconfig")
            .map(|p| expand_home(&p, inputs.home, inputs.cwd))
            .or_else(|| inputs.home.map(|h| h.join(".npmrc")));
        let user = match &user_path {
            Some(path) => read_layer(path, FileTrust::Trusted, inputs.env, &mut config)?,
            None => BTreeMap::new(),
        };
        let from_user = |key: &str| {
            from_top(key).or_else(|| {
                user.get(key)
                    .and_then(NpmrcValue::as_scalar)
                    .map(str::to_owned)
            })
        };
        let global_path = from_user("globalconfig")
            .map(|p| expand_home(&p, inputs.home, inputs.cwd))
            .or_else(|| {
                let prefix = from_user("prefix")
                    .map(|p| expand_home(&p, inputs.home, inputs.cwd))
                    .or_else(|| inputs.env.get(env_vars::PREFIX).map(PathBuf::from))
                    .or_else(|| node_prefix(inputs.env))?;
                Some(prefix.join("etc").join("npmrc"))
            });
        let global = match &global_path {
            Some(path) => read_layer(path, FileTrust::Trusted, inputs.env, &mut config)?,
            None => BTreeMap::new(),
        };
        let project_path = config.project_dir.as_ref().map(|d| d.join(".npmrc"));
        let project = match &project_path {
            Some(path)
                if Some(path) != user_path.as_ref() && !same_file(path, user_path.as_deref()) =>
            {
                read_layer(path, FileTrust::Project, inputs.env, &mut config)?
            }
            _ => BTreeMap::new(),
        };

        let layers = [
            (global, global_path.map(ConfigSource::Global)),
            (user, user_path.map(ConfigSource::User)),
            (project, project_path.map(ConfigSource::Project)),
            (env, Some(ConfigSource::Environment)),
            (cli, Some(ConfigSource::CommandLine)),
        ];
        for (values, source) in layers {
            let Some(source) = source else { continue };
            for (key, value) in values {
                config.entries.insert(
                    key,
                    ConfigEntry {
                        value,
                        source: source.clone(),
                    },
                );
            }
        }
        Ok(config)
    }

    /// A configuration made of given entries (for tests and for callers that build one).
    pub fn from_entries<I>(entries: I) -> Self
    where
        I: IntoIterator<Item = (String, ConfigEntry)>,
    {
        NpmConfig {
            entries: entries.into_iter().collect(),
            ..NpmConfig::default()
        }
    }

    /// The entry for `key`.
    pub fn entry(&self, key: &str) -> Option<&ConfigEntry> {
        self.entries.get(key)
    }

    /// The value of `key` as one string.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).and_then(|e| e.value.as_scalar())
    }

    /// Every entry, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ConfigEntry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// `npm_config_*` variables as configuration keys (`npm_config_https_proxy` -> `https-proxy`).
fn env_layer(env: &Environment) -> BTreeMap<String, NpmrcValue> {
    let prefix_len = env_vars::NPM_CONFIG_PREFIX.len();
    env.iter()
        .filter(|(name, value)| {
            !value.is_empty()
                && name.len() > prefix_len
                && name.is_char_boundary(prefix_len)
                && name[..prefix_len].eq_ignore_ascii_case(env_vars::NPM_CONFIG_PREFIX)
        })
        .map(|(name, value)| {
            let key = &name[prefix_len..];
            let key = if key.starts_with("//") {
                key.to_owned()
            } else {
                // `_` becomes `-`, except a leading one (`npm_config__auth` is `_auth`).
                let mut out = String::with_capacity(key.len());
                for (i, c) in key.chars().enumerate() {
                    out.push(if c == '_' && i > 0 {
                        '-'
                    } else {
                        c.to_ascii_lowercase()
                    });
                }
                out
            };
            (key, NpmrcValue::Scalar(value.to_owned()))
        })
        .collect()
}

fn read_layer(
    path: &Path,
    trust: FileTrust,
    env: &Environment,
    config: &mut NpmConfig,
) -> Result<BTreeMap<String, NpmrcValue>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let parsed = parse_npmrc(&text, &path.display().to_string(), trust, env);
    config.files.push(path.to_owned());
    config.warnings.extend(parsed.warnings);
    Ok(parsed.entries)
}

/// The nearest directory from `cwd` upwards that holds a `package.json`.
pub fn find_project_dir(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .find(|dir| dir.join("package.json").is_file())
        .map(Path::to_path_buf)
}

fn same_file(a: &Path, b: Option<&Path>) -> bool {
    let Some(b) = b else { return false };
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `~/x` -> `<home>/x`; a relative path is taken from `cwd`.
pub(crate) fn expand_home(text: &str, home: Option<&Path>, cwd: &Path) -> PathBuf {
    if let (Some(rest), Some(home)) = (text.strip_prefix("~/"), home) {
        return home.join(rest);
    }
    if let (Some(home), "~") = (home, text) {
        return home.to_owned();
    }
    cwd.join(text)
}

/// npm's default prefix: two levels above the real path of the `node` on `PATH`.
fn node_prefix(env: &Environment) -> Option<PathBuf> {
    let path = env.get(env_vars::PATH)?;
    let node = std::env::split_paths(path)
        .map(|dir| dir.join("node"))
        .find(|candidate| candidate.is_file())?;
    let real = node.canonicalize().unwrap_or(node);
    real.parent()?.parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn env_keys_are_normalised() {
        let env = Environment::from_pairs([
            ("npm_config_https_proxy", "http://127.0.0.1:3128/"),
            ("NPM_CONFIG_STRICT_SSL", "false"),
            ("npm_config__auth", "abc"),
            ("npm_config_//127.0.0.1:4873/:_authToken", "tok"),
            ("npm_config_empty", ""),
            ("npm_configx", "no"),
            ("OTHER", "x"),
        ]);
        let layer = env_layer(&env);
        let keys: Vec<&str> = layer.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "//127.0.0.1:4873/:_authToken",
                "_auth",
                "https-proxy",
                "strict-ssl"
            ]
        );
    }

    #[test]
    fn home_expansion() {
        let home = Path::new("/home/u");
        assert_eq!(
            expand_home("~/.npmrc", Some(home), Path::new("/w")),
            PathBuf::from("/home/u/.npmrc")
        );
        assert_eq!(
            expand_home("rc", Some(home), Path::new("/w")),
            PathBuf::from("/w/rc")
        );
        assert_eq!(
            expand_home("/abs", Some(home), Path::new("/w")),
            PathBuf::from("/abs")
        );
    }
}
