//! Typed network settings from the merged npm configuration: registries, credentials, proxies
//! and TLS.
//!
//! Credentials are matched like npm's `npm-registry-fetch`: a request URL becomes
//! `//host[:port]/path`, and the longest prefix (walking up one path segment, then the slash, at a
//! time) that has `:_authToken`, `:_auth` or `:username` + `:_password` wins. Top-level
//! `_authToken` & co. are not used (npm 9 refuses them too): a credential is always tied to a host,
//! so it never goes to a host it was not meant for, including tarball hosts other than the
//! registry.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::env_vars::{self, Environment};
use crate::error::ConfigError;
use crate::npm_cli::ask_npm_registry;
use crate::npm_config::{ConfigSource, NpmConfig, expand_home};
use crate::url::{HttpUrl, normalize_registry};

/// How to find the registry when no configuration layer sets `registry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryFallback {
    /// Run `<program> config get registry` with a timeout.
    AskNpm {
        /// The npm executable (looked up on `PATH` when not a path).
        program: PathBuf,
        /// How long npm may take.
        timeout: Duration,
    },
    /// Use this URL (tests, embedders).
    Fixed(String),
}

impl Default for RegistryFallback {
    fn default() -> Self {
        RegistryFallback::AskNpm {
            program: PathBuf::from("npm"),
            timeout: crate::npm_cli::NPM_TIMEOUT,
        }
    }
}

/// A credential for a registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `_authToken`: sent as `Authorization: Bearer <token>`.
    Bearer(String),
    /// `_auth`, or `username` + `_password`: base64 of `user:password`, sent as `Basic`.
    Basic(String),
}

impl Credential {
    /// The value of the `Authorization` header.
    pub fn authorization_header(&self) -> String {
        match self {
            Credential::Bearer(token) => format!("Bearer {token}"),
            Credential::Basic(encoded) => format!("Basic {encoded}"),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credential::Basic(_) => f.write_str("Basic(<redacted>)"),
        }
    }
}

/// The credential that applies to a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    /// The credential.
    pub credential: Credential,
    /// `always-auth` for the matched prefix (or at top level): send it on every request, not only
    /// when challenged.
    pub always_auth: bool,
    /// The `//host/path/` prefix whose keys matched.
    pub matched: String,
}

/// Registry, credentials, proxies and TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    registry: String,
    registry_source: ConfigSource,
    scoped_registries: BTreeMap<String, String>,
    credentials: BTreeMap<String, RegistryAuth>,
    proxy: Option<String>,
    https_proxy: Option<String>,
    noproxy: Vec<String>,
    cafile: Option<PathBuf>,
    strict_ssl: bool,
}

/// Where `Settings` may look besides the configuration.
#[derive(Debug, Clone)]
pub struct SettingsInputs<'a> {
    /// The environment (proxy variables, and for running npm).
    pub env: &'a Environment,
    /// The working directory (relative `cafile`).
    pub cwd: &'a Path,
    /// The home directory (`~/` in `cafile`).
    pub home: Option<&'a Path>,
    /// How to find the registry if nothing sets it.
    pub registry_fallback: &'a RegistryFallback,
}

impl Settings {
    /// Builds the settings; asks npm for the registry only when no layer sets one.
    pub fn from_config(
        config: &NpmConfig,
        inputs: &SettingsInputs<'_>,
    ) -> Result<Self, ConfigError> {
        let (registry, registry_source) = match config.entry("registry") {
            Some(entry) => {
                let raw = entry.value.as_scalar().unwrap_or_default();
                let url = normalize_registry(raw)
                    .ok_or_else(|| invalid(config, "registry", raw, "an http(s) URL"))?;
                (url, entry.source.clone())
            }
            None => (fallback_registry(inputs)?, ConfigSource::NpmDefault),
        };

        let mut scoped_registries = BTreeMap::new();
        for (key, entry) in config.iter() {
            if let Some(scope) = key.strip_suffix(":registry").filter(|s| s.starts_with('@')) {
                let raw = entry.value.as_scalar().unwrap_or_default();
                let url = normalize_registry(raw)
                    .ok_or_else(|| invalid(config, key, raw, "an http(s) URL"))?;
                scoped_registries.insert(scope.to_owned(), url);
            }
        }

        let proxy = proxy_setting(
            config,
            "proxy",
            inputs.env,
            &[env_vars::HTTP_PROXY, "http_proxy"],
        )?;
        let https_proxy = proxy_setting(
            config,
            "https-proxy",
            inputs.env,
            &[env_vars::HTTPS_PROXY, "https_proxy"],
        )?;
        let noproxy = match config.entry("noproxy") {
            Some(entry) => entry
                .value
                .as_list()
                .iter()
                .flat_map(|v| split_hosts(v))
                .collect(),
            None => inputs
                .env
                .first_of(&[env_vars::NO_PROXY, "no_proxy"])
                .map(split_hosts)
                .unwrap_or_default(),
        };

        let cafile = config
            .get("cafile")
            .filter(|v| !v.is_empty() && *v != "null")
            .map(|v| expand_home(v, inputs.home, inputs.cwd));
        let strict_ssl = match config.get("strict-ssl") {
            None => true,
            Some(value) => parse_bool(value)
                .ok_or_else(|| invalid(config, "strict-ssl", value, "true or false"))?,
        };

        Ok(Settings {
            registry,
            registry_source,
            scoped_registries,
            credentials: credentials(config)?,
            proxy,
            https_proxy,
            noproxy,
            cafile,
            strict_ssl,
        })
    }

    /// The default registry URL, with a trailing slash.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Which layer set the registry.
    pub fn registry_source(&self) -> &ConfigSource {
        &self.registry_source
    }

    /// Registries set per scope (`@scope:registry`), by scope.
    pub fn scoped_registries(&self) -> &BTreeMap<String, String> {
        &self.scoped_registries
    }

    /// The registry for a package: its scope's registry, or the default one.
    pub fn registry_for(&self, package_name: &str) -> &str {
        package_name
            .split_once('/')
            .filter(|(scope, _)| scope.starts_with('@'))
            .and_then(|(scope, _)| self.scoped_registries.get(scope))
            .map_or(self.registry.as_str(), String::as_str)
    }

    /// The credential to send to `url`, if one is configured for it.
    pub fn auth_for(&self, url: &str) -> Option<&RegistryAuth> {
        let url = HttpUrl::parse(url)?;
        let mut key = url.nerf_dart();
        while key.len() > 2 {
            if let Some(auth) = self.credentials.get(&key) {
                return Some(auth);
            }
            // Walk up: drop the last segment, or the trailing slash.
            if key.ends_with('/') {
                key.pop();
            } else {
                let cut = key.rfind('/').map_or(0, |i| i + 1);
                key.truncate(cut);
            }
        }
        None
    }

    /// The proxy for `url`: `https-proxy` (then `proxy`) for https, `proxy` for http, unless the
    /// host is in `noproxy`. Unset settings fall back to `$HTTPS_PROXY`/`$HTTP_PROXY`/`$NO_PROXY`.
    pub fn proxy_for(&self, url: &str) -> Option<&str> {
        let url = HttpUrl::parse(url)?;
        if self.bypasses_proxy(&url) {
            return None;
        }
        if url.https {
            self.https_proxy.as_deref().or(self.proxy.as_deref())
        } else {
            self.proxy.as_deref()
        }
    }

    /// `proxy`
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// `https-proxy`
    pub fn https_proxy(&self) -> Option<&str> {
        self.https_proxy.as_deref()
    }

    /// `noproxy` hosts.
    pub fn noproxy(&self) -> &[String] {
        &self.noproxy
    }

    /// `cafile`: extra CA certificates (PEM), resolved against the home and working directories.
    pub fn cafile(&self) -> Option<&Path> {
        self.cafile.as_deref()
    }

    /// `strict-ssl` (default true).
    pub fn strict_ssl(&self) -> bool {
        self.strict_ssl
    }

    fn bypasses_proxy(&self, url: &HttpUrl) -> bool {
        let host = url.host.trim_start_matches('[').trim_end_matches(']');
        self.noproxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            if entry.contains(':') && !entry.starts_with('[') && entry.matches(':').count() == 1 {
                return *entry == url.host_port;
            }
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            host == entry || host.ends_with(&format!(".{entry}"))
        })
    }
}

fn invalid(config: &NpmConfig, key: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        source_name: config
            .entry(key)
            .map_or_else(|| "the configuration".to_owned(), |e| e.source.to_string()),
        expected: expected.to_owned(),
    }
}

fn fallback_registry(inputs: &SettingsInputs<'_>) -> Result<String, ConfigError> {
    match inputs.registry_fallback {
        RegistryFallback::Fixed(url) => {
            normalize_registry(url).ok_or_else(|| ConfigError::NoRegistry {
                reason: format!("the fallback {url:?} is not an http(s) URL"),
            })
        }
        RegistryFallback::AskNpm { program, timeout } => {
            ask_npm_registry(program, *timeout, inputs.env)
                .map_err(|reason| ConfigError::NoRegistry { reason })
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn split_hosts(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// A proxy key: explicitly off with `false`/`null`/empty, else the configured URL, else the
/// environment variables.
fn proxy_setting(
    config: &NpmConfig,
    key: &str,
    env: &Environment,
    env_names: &[&str],
) -> Result<Option<String>, ConfigError> {
    match config.get(key) {
        Some("" | "false" | "null") => Ok(None),
        Some(value) if value.contains("://") => Ok(Some(value.to_owned())),
        Some(value) => Err(invalid(
            config,
            key,
            value,
            "a proxy URL like http://host:port",
        )),
        None => Ok(env.first_of(env_names).map(str::to_owned)),
    }
}

/// Every `//prefix:field` credential, grouped by prefix.
fn credentials(config: &NpmConfig) -> Result<BTreeMap<String, RegistryAuth>, ConfigError> {
    let mut fields: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (key, entry) in config.iter() {
        if !key.starts_with("//") {
            continue;
        }
        if let Some((prefix, field)) = key.rsplit_once(':')
            && let Some(value) = entry.value.as_scalar()
        {
            fields.entry(prefix).or_default().insert(field, value);
        }
    }
    let top_always = config
        .get("always-auth")
        .and_then(parse_bool)
        .unwrap_or(false);
    let mut out = BTreeMap::new();
    for (prefix, f) in fields {
        let credential = if let Some(token) = f.get("_authToken") {
            Credential::Bearer((*token).to_owned())
        } else if let Some(auth) = f.get("_auth") {
            Credential::Basic((*auth).to_owned())
        } else if let (Some(user), Some(password)) = (f.get("username"), f.get("_password")) {
            let key = format!("{prefix}:_password");
            let decoded =
                STANDARD
                    .decode(password.trim())
                    .map_err(|_| ConfigError::InvalidValue {
                        key: key.clone(),
                        value: "<redacted>".to_owned(),
                        source_name: config
                            .entry(&key)
                            .map_or_else(String::new, |e| e.source.to_string()),
                        expected: "a base64-encoded password".to_owned(),
                    })?;
            let password = String::from_utf8_lossy(&decoded);
            Credential::Basic(STANDARD.encode(format!("{user}:{password}")))
        } else {
            continue;
        };
        let always_auth = f
            .get("always-auth")
            .and_then(|v| parse_bool(v))
            .unwrap_or(top_always);
        out.insert(
            prefix.to_owned(),
            RegistryAuth {
                credential,
                always_auth,
                matched: prefix.to_owned(),
            },
        );
    }
    Ok(out)
}
