//! `.sandboxpmrc`: sandboxpm's own settings, JSON, in the project and in the user's home.
//!
//! ```json
//! {
//!   "policies": { "onWarn": "prompt", "onBlock": "abort" },
//!   "whitelist": ["esbuild", "sharp@0.33.2", "@swc/core@^1.4"],
//!   "blacklist": ["evil-pkg"],
//!   "envPassthrough": ["CI"],
//!   "sandbox": {
//!     "backend": "auto",
//!     "packages": { "puppeteer": { "network": ["*.example.org:443"], "write": ["~/.cache/puppeteer"] } }
//!   },
//!   "storeDir": "~/.sandboxpm/store",
//!   "sharePackages": true
//! }
//! ```
//!
//! Validation is strict: an unknown key is an error naming its path (`policies.onWran: unknown
//! key`), because a misspelled security setting silently ignored is a setting the user believes
//! in and does not have. Values are checked for shape here; package ranges in rules are checked by
//! whoever matches them (this crate depends on nothing of sandboxpm), which is why every rule
//! remembers its file and key path.
//!
//! Merging (project over user): scalar settings from the project win; lists (whitelist, blacklist,
//! envPassthrough) are combined, user entries first; per-package sandbox grants from the project
//! replace the user's for the same package. One exception: `storeDir` is only honoured from the
//! user file. The store is trusted content addressed by hash; a repository that could point it at
//! a directory it ships could pre-seed "verified" files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The file name, in the project directory and in the home directory.
pub const SANDBOXPMRC_NAME: &str = ".sandboxpmrc";

/// A `.sandboxpmrc` that cannot be read, parsed, validated or written.
#[derive(Debug, thiserror::Error)]
pub enum SandboxpmrcError {
    /// The file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: invalid JSON", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where and why.
        #[source]
        source: serde_json::Error,
    },
    /// A key is unknown or a value has the wrong form.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key path, like `policies.onWarn` or `whitelist[2]`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What to do about a warning or a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyAction {
    /// Stop the install.
    Abort,
    /// Ask (without a terminal: abort).
    Prompt,
    /// Go on.
    Continue,
}

impl PolicyAction {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "abort" => Some(PolicyAction::Abort),
            "prompt" => Some(PolicyAction::Prompt),
            "continue" => Some(PolicyAction::Continue),
            _ => None,
        }
    }
}

/// Which sandbox backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxBackend {
    /// The best this machine offers.
    Auto,
    /// Namespaces + Landlock + seccomp (Linux).
    Native,
    /// Landlock + seccomp only (Linux, no user namespaces).
    Landlock,
    /// bubblewrap.
    Bwrap,
    /// A Docker container.
    Docker,
    /// macOS Seatbelt.
    Seatbelt,
}

impl SandboxBackend {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(SandboxBackend::Auto),
            "native" => Some(SandboxBackend::Native),
            "landlock" => Some(SandboxBackend::Landlock),
            "bwrap" => Some(SandboxBackend::Bwrap),
            "docker" => Some(SandboxBackend::Docker),
            "seatbelt" => Some(SandboxBackend::Seatbelt),
            _ => None,
        }
    }
}

/// Where a setting was written, for messages and for policy decisions that care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// The key path inside it.
    pub key: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.key)
    }
}

/// A whitelist or blacklist entry: `name`, `name@version` or `name@range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRule {
    /// The package name.
    pub name: String,
    /// The version or range after `@`, unparsed (`None`: every version).
    pub version: Option<String>,
    /// Where it was written.
    pub origin: Origin,
}

impl PackageRule {
    /// The entry as written.
    pub fn text(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Extra grants for one package's scripts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageGrants {
    /// Hosts (`host`, `host:port`, `*.domain`) reachable through the proxy.
    pub network: Vec<String>,
    /// Extra writable paths (may start with `~`).
    pub write: Vec<String>,
    /// Where the grants were written.
    pub origin: Option<Origin>,
}

/// One `.sandboxpmrc`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxpmrcFile {
    /// The file.
    pub path: PathBuf,
    /// `policies.onWarn`
    pub on_warn: Option<PolicyAction>,
    /// `policies.onBlock`
    pub on_block: Option<PolicyAction>,
    /// `whitelist`
    pub whitelist: Vec<PackageRule>,
    /// `blacklist`
    pub blacklist: Vec<PackageRule>,
    /// `envPassthrough`
    pub env_passthrough: Vec<String>,
    /// `sandbox.backend`
    pub backend: Option<SandboxBackend>,
    /// `sandbox.packages`
    pub packages: BTreeMap<String, PackageGrants>,
    /// `storeDir`, resolved (`~/` expanded, relative to the file's directory).
    pub store_dir: Option<PathBuf>,
    /// `sharePackages`
    pub share_packages: Option<bool>,
}

impl SandboxpmrcFile {
    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn read(path: &Path, home: Option<&Path>) -> Result<Option<Self>, SandboxpmrcError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SandboxpmrcError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse(&text, path, home).map(Some)
    }

    /// Parses and validates `.sandboxpmrc` text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path, home: Option<&Path>) -> Result<Self, SandboxpmrcError> {
        let value: Value =
            serde_json::from_str(text).map_err(|source| SandboxpmrcError::Syntax {
                path: path.to_owned(),
                source,
            })?;
        Validator { path, home }.file(&value)
    }
}

struct Validator<'a> {
    path: &'a Path,
    home: Option<&'a Path>,
}

impl Validator<'_> {
    fn error(&self, key: &str, message: impl Into<String>) -> SandboxpmrcError {
        SandboxpmrcError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn origin(&self, key: String) -> Origin {
        Origin {
            file: self.path.to_owned(),
            key,
        }
    }

    fn object<'v>(
        &self,
        value: &'v Value,
        key: &str,
        allowed: &[&str],
    ) -> Result<&'v Map<String, Value>, SandboxpmrcError> {
        let Value::Object(map) = value else {
            let shown = if key.is_empty() { "(root)" } else { key };
            return Err(self.error(shown, format!("expected an object, found {}", kind(value))));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(self.error(&join(key, unknown), "unknown key"));
        }
        Ok(map)
    }

    fn string<'v>(&self, value: &'v Value, key: &str) -> Result<&'v str, SandboxpmrcError> {
        match value {
            Value::String(s) if !s.trim().is_empty() => Ok(s),
            Value::String(_) => Err(self.error(key, "must not be empty")),
            other => Err(self.error(key, format!("expected a string, found {}", kind(other)))),
        }
    }

    fn strings<'v>(
        &self,
        value: &'v Value,
        key: &str,
    ) -> Result<Vec<(String, &'v str)>, SandboxpmrcError> {
        let Value::Array(items) = value else {
            return Err(self.error(
                key,
                format!("expected an array of strings, found {}", kind(value)),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_key = format!("{key}[{i}]");
                let text = self.string(item, &item_key)?;
                Ok((item_key, text))
            })
            .collect()
    }

    fn action(&self, value: &Value, key: &str) -> Result<PolicyAction, SandboxpmrcError> {
        let text = self.string(value, key)?;
        PolicyAction::parse(text).ok_or_else(|| {
            self.error(
                key,
                format!("expected one of abort, prompt, continue, found {text:?}"),
            )
        })
    }

    fn file(&self, value: &Value) -> Result<SandboxpmrcFile, SandboxpmrcError> {
        let root = self.object(
            value,
            "",
            &[
                "$schema",
                "policies",
                "whitelist",
                "blacklist",
                "envPassthrough",
                "sandbox",
                "storeDir",
                "sharePackages",
            ],
        )?;
        let mut file = SandboxpmrcFile {
            path: self.path.to_owned(),
            ..SandboxpmrcFile::default()
        };
        if let Some(policies) = root.get("policies") {
            let policies = self.object(policies, "policies", &["onWarn", "onBlock"])?;
            if let Some(v) = policies.get("onWarn") {
                file.on_warn = Some(self.action(v, "policies.onWarn")?);
            }
            if let Some(v) = policies.get("onBlock") {
                file.on_block = Some(self.action(v, "policies.onBlock")?);
            }
        }
        for (list, out) in [
            ("whitelist", &mut file.whitelist),
            ("blacklist", &mut file.blacklist),
        ] {
            if let Some(value) = root.get(list) {
                for (key, text) in self.strings(value, list)? {
                    let (name, version) = split_rule(text).map_err(|m| self.error(&key, m))?;
                    out.push(PackageRule {
                        name,
                        version,
                        origin: self.origin(key),
                    });
                }
            }
        }
        if let Some(value) = root.get("envPassthrough") {
            for (key, name) in self.strings(value, "envPassthrough")? {
                if !is_env_name(name) {
                    return Err(self.error(
                        &key,
                        format!("{name:?} is not an environment variable name"),
                    ));
                }
                file.env_passthrough.push(name.to_owned());
            }
        }
        if let Some(sandbox) = root.get("sandbox") {
            let sandbox = self.object(sandbox, "sandbox", &["backend", "packages"])?;
            if let Some(v) = sandbox.get("backend") {
                let text = self.string(v, "sandbox.backend")?;
                file.backend = Some(SandboxBackend::parse(text).ok_or_else(|| {
                    self.error(
                        "sandbox.backend",
                        format!("expected one of auto, native, landlock, bwrap, docker, seatbelt, found {text:?}"),
                    )
                })?);
            }
            if let Some(packages) = sandbox.get("packages") {
                let Value::Object(packages) = packages else {
                    return Err(self.error(
                        "sandbox.packages",
                        format!("expected an object, found {}", kind(packages)),
                    ));
                };
                for (name, grants) in packages {
                    let key = format!("sandbox.packages.{name}");
                    if !is_package_name(name) {
                        return Err(self.error(&key, format!("{name:?} is not a package name")));
                    }
                    file.packages
                        .insert(name.clone(), self.grants(grants, &key)?);
                }
            }
        }
        if let Some(v) = root.get("storeDir") {
            let text = self.string(v, "storeDir")?;
            let base = self.path.parent().unwrap_or(Path::new("."));
            file.store_dir = Some(match (text.strip_prefix("~/"), self.home) {
                (Some(rest), Some(home)) => home.join(rest),
                _ => base.join(text),
            });
        }
        if let Some(v) = root.get("sharePackages") {
            let Value::Bool(share) = v else {
                return Err(self.error(
                    "sharePackages",
                    format!("expected true or false, found {}", kind(v)),
                ));
            };
            file.share_packages = Some(*share);
        }
        Ok(file)
    }

    fn grants(&self, value: &Value, key: &str) -> Result<PackageGrants, SandboxpmrcError> {
        let map = self.object(value, key, &["network", "write"])?;
        let mut grants = PackageGrants {
            origin: Some(self.origin(key.to_owned())),
            ..PackageGrants::default()
        };
        if let Some(v) = map.get("network") {
            for (item_key, host) in self.strings(v, &format!("{key}.network"))? {
                check_host(host).map_err(|m| self.error(&item_key, m))?;
                grants.network.push(host.to_owned());
            }
        }
        if let Some(v) = map.get("write") {
            for (_, path) in self.strings(v, &format!("{key}.write"))? {
                grants.write.push(path.to_owned());
            }
        }
        Ok(grants)
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// npm's name rules, loosely: URL-safe characters, optionally `@scope/`, no leading `.`/`_`.
pub(crate) fn is_package_name(name: &str) -> bool {
    let part_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && !s.starts_with('_')
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, '-' | '_' | '.' | '!' | '~' | '*' | '\'' | '(' | ')')
            })
    };
    match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, bare)| part_ok(scope) && part_ok(bare) && !bare.contains('/')),
        None => part_ok(name),
    }
}

/// Splits `name[@version-or-range]`.
pub(crate) fn split_rule(text: &str) -> Result<(String, Option<String>), String> {
    let text = text.trim();
    let from = usize::from(text.starts_with('@'));
    let (name, version) = match text[from..].find('@') {
        Some(at) => (&text[..at + from], Some(text[at + from + 1..].trim())),
        None => (text, None),
    };
    if !is_package_name(name) {
        return Err(format!(
            "{name:?} is not a package name (expected name, name@version or name@range)"
        ));
    }
    match version {
        Some("") => Err(format!("{text:?} has an empty version after @")),
        Some(v) => Ok((name.to_owned(), Some(v.to_owned()))),
        None => Ok((name.to_owned(), None)),
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.contains("://") || host.contains('/') {
        return Err(format!("{host:?} should be a host or host:port, not a URL"));
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !host.starts_with('[') => (name, Some(port)),
        _ => (host, None),
    };
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("{host:?} has an invalid port"));
    }
    let name = name.strip_prefix("*.").unwrap_or(name);
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'));
    if valid {
        Ok(())
    } else {
        Err(format!("{host:?} is not a host name"))
    }
}

/// The effective `.sandboxpmrc` settings: the user file, then the project file on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxpmSettings {
    /// `policies.onWarn` (default `prompt`).
    pub on_warn: PolicyAction,
    /// `policies.onBlock` (default `prompt`).
    pub on_block: PolicyAction,
    /// Combined whitelist, user entries first.
    pub whitelist: Vec<PackageRule>,
    /// Combined blacklist, user entries first.
    pub blacklist: Vec<PackageRule>,
    /// Combined, de-duplicated variable names.
    pub env_passthrough: Vec<String>,
    /// `sandbox.backend` (default `auto`).
    pub backend: SandboxBackend,
    /// Per-package grants; the project's entry replaces the user's for the same package.
    pub packages: BTreeMap<String, PackageGrants>,
    /// `storeDir` from the user file.
    pub store_dir: Option<PathBuf>,
    /// `sharePackages` (default true): packages whose closure runs no install script live in the
    /// store's shared directory instead of each project's `node_modules/.sandboxpm`.
    pub share_packages: bool,
    /// The files that were read: project, then user.
    pub project: Option<SandboxpmrcFile>,
    /// The user file.
    pub user: Option<SandboxpmrcFile>,
    /// Things the user should know (a project `storeDir` that was ignored).
    pub warnings: Vec<String>,
}

impl SandboxpmSettings {
    /// Reads `<project_dir>/.sandboxpmrc` and `<home>/.sandboxpmrc` and merges them.
    pub fn load(project_dir: Option<&Path>, home: Option<&Path>) -> Result<Self, SandboxpmrcError> {
        let project_path = project_dir.map(|d| d.join(SANDBOXPMRC_NAME));
        let user_path = home.map(|h| h.join(SANDBOXPMRC_NAME));
        let user = match &user_path {
            Some(p) => SandboxpmrcFile::read(p, home)?,
            None => None,
        };
        let project = match &project_path {
            // A project in the home directory: its file is the user file.
            Some(p) if Some(p) != user_path.as_ref() => SandboxpmrcFile::read(p, home)?,
            _ => None,
        };
        Ok(Self::merge(project, user))
    }

    /// Merges a project file over a user file.
    pub fn merge(project: Option<SandboxpmrcFile>, user: Option<SandboxpmrcFile>) -> Self {
        let layers: Vec<&SandboxpmrcFile> = user.iter().chain(project.iter()).collect();
        let last = |f: fn(&SandboxpmrcFile) -> Option<PolicyAction>| {
            layers.iter().rev().find_map(|l| f(l))
        };
        let mut env_passthrough: Vec<String> = Vec::new();
        for name in layers.iter().flat_map(|l| &l.env_passthrough) {
            if !env_passthrough.contains(name) {
                env_passthrough.push(name.clone());
            }
        }
        let mut packages = BTreeMap::new();
        for layer in &layers {
            packages.extend(layer.packages.clone());
        }
        let mut warnings = Vec::new();
        if let Some(p) = project.as_ref().filter(|p| p.store_dir.is_some()) {
            warnings.push(format!(
                "{}: storeDir: ignored in a project file; set it in your user {SANDBOXPMRC_NAME} \
                 (a repository must not choose where trusted store content comes from)",
                p.path.display()
            ));
        }
        SandboxpmSettings {
            on_warn: last(|l| l.on_warn).unwrap_or(PolicyAction::Prompt),
            on_block: last(|l| l.on_block).unwrap_or(PolicyAction::Prompt),
            whitelist: layers.iter().flat_map(|l| l.whitelist.clone()).collect(),
            blacklist: layers.iter().flat_map(|l| l.blacklist.clone()).collect(),
            env_passthrough,
            backend: layers
                .iter()
                .rev()
                .find_map(|l| l.backend)
                .unwrap_or(SandboxBackend::Auto),
            packages,
            store_dir: user.as_ref().and_then(|u| u.store_dir.clone()),
            share_packages: layers
                .iter()
                .rev()
                .find_map(|l| l.share_packages)
                .unwrap_or(true),
            project,
            user,
            warnings,
        }
    }
}
